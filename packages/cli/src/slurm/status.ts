// Each run's state, from its folder (done.json, checkpoint, task-exit.json) and, when present, from
// squeue (pending, running) and sacct (finished tasks' states and exit codes).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { hostname } from 'node:os';
import { isRunDone, LOCK_FILE, type LockInfo } from '@soo/core';
import { accountedTasks, queuedTasks, taskKey } from './scheduler.js';
import { LOG_DIR, TASK_EXIT_FILE } from './script.js';
import { latestTasks, readSubmissions } from './submissions.js';

/**
 * done: done.json written. pending / running: in Slurm's queue (running also: a live local process holds
 * the run's lock). failed: submitted, left the queue unfinished (Slurm's state and the exit code say how).
 * not-started: never submitted, nobody writing it. unknown: submitted, but squeue could not be asked.
 */
export type RunStateName = 'done' | 'pending' | 'running' | 'failed' | 'not-started' | 'unknown';

export interface RunState {
  run: string;
  state: RunStateName;
  /** The array task that last ran (or will run) it: "<job>_<task>". */
  task?: string;
  /** Slurm's own word for it (PENDING, RUNNING, CANCELLED, TIMEOUT, ...), when Slurm said. */
  slurmState?: string;
  /** Why a pending task waits, from squeue. */
  reason?: string;
  exitCode?: number | null;
  /** The run's log (run-one's output) and the task's Slurm log. */
  log: string;
  slurmLog?: string;
  /** A local process (not a Slurm task) writing the run: its pid. */
  pid?: number;
  /** The optimizer step of the run's training checkpoint (what a resubmitted task resumes from), if any. */
  checkpointStep: number | null;
}

export interface ExperimentStatus {
  runs: RunState[];
  /** Which sources answered: squeue / sacct are null when missing or unreachable. */
  sources: { squeue: boolean; sacct: boolean };
}

interface TaskExit {
  job: string;
  task: number;
  exitCode: number;
}

/** The pid of a live process on this host that holds the run folder's lock, if any. */
async function localWriter(runDir: string): Promise<number | null> {
  let holder: Partial<LockInfo>;
  try {
    holder = JSON.parse(await fsp.readFile(path.join(runDir, LOCK_FILE), 'utf8')) as Partial<LockInfo>;
  } catch {
    return null;
  }
  if (holder.host !== hostname() || typeof holder.pid !== 'number') return null;
  try {
    process.kill(holder.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  return holder.pid;
}

async function readCheckpointStep(runDir: string): Promise<number | null> {
  try {
    const j = JSON.parse(
      await fsp.readFile(path.join(runDir, 'adapter', 'checkpoint', 'state.json'), 'utf8'),
    ) as { step?: unknown };
    return typeof j.step === 'number' ? j.step : null;
  } catch {
    return null;
  }
}

async function readTaskExit(runDir: string): Promise<TaskExit | null> {
  try {
    const j = JSON.parse(await fsp.readFile(path.join(runDir, TASK_EXIT_FILE), 'utf8')) as TaskExit;
    return typeof j.job === 'string' && typeof j.exitCode === 'number' ? j : null;
  } catch {
    return null;
  }
}

const QUEUED = new Set(['PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'RESIZING', 'SUSPENDED']);
const RUNNING = new Set(['RUNNING', 'COMPLETING', 'STAGE_OUT', 'SIGNALING']);

/** The state of every run of `runIds` in experiment folder `out`. */
export async function experimentStatus(out: string, runIds: readonly string[]): Promise<ExperimentStatus> {
  const subs = await readSubmissions(out);
  const latest = latestTasks(subs);
  const jobs = [...new Set(subs.map((s) => s.job))];
  // Slurm is asked only about an experiment that was submitted to it.
  const queue = jobs.length ? await queuedTasks(jobs) : null;
  const acct = jobs.length ? await accountedTasks(jobs) : null;
  const runs: RunState[] = [];
  for (const run of runIds) {
    const dir = path.join(out, 'runs', run);
    const base = {
      run,
      log: path.join(dir, 'run.log'),
      checkpointStep: await readCheckpointStep(dir),
    };
    const t = latest.get(run);
    const task = t ? taskKey(t.job, t.task) : undefined;
    const where = t ? { task, slurmLog: path.join(out, 'slurm', LOG_DIR, `${t.job}_${t.task}.log`) } : {};
    if (isRunDone(dir)) {
      runs.push({ ...base, ...where, state: 'done' });
      continue;
    }
    if (!t || !task) {
      // never submitted: a local process may be writing it (`soo experiment run` here)
      const pid = await localWriter(dir);
      runs.push({
        ...base,
        state: pid === null ? 'not-started' : 'running',
        ...(pid === null ? {} : { pid }),
      });
      continue;
    }
    const q = queue?.get(task);
    if (q) {
      runs.push({
        ...base,
        ...where,
        state: RUNNING.has(q.state) ? 'running' : QUEUED.has(q.state) ? 'pending' : 'running',
        slurmState: q.state,
        ...(q.reason ? { reason: q.reason } : {}),
      });
      continue;
    }
    const a = acct?.get(task);
    const exit = await readTaskExit(dir);
    const ownExit = exit && exit.job === t.job && exit.task === t.task ? exit : null;
    if (a && (QUEUED.has(a.state) || RUNNING.has(a.state)) && !queue) {
      runs.push({
        ...base,
        ...where,
        state: RUNNING.has(a.state) ? 'running' : 'pending',
        slurmState: a.state,
      });
      continue;
    }
    if (a || ownExit) {
      runs.push({
        ...base,
        ...where,
        state: 'failed',
        ...(a ? { slurmState: a.state } : {}),
        exitCode: ownExit ? ownExit.exitCode : (a?.exitCode ?? null),
      });
      continue;
    }
    // Submitted, not finished, and neither the queue nor a record says more: gone without a word (cancelled
    // before it started, its node lost) when the queue answered; unknown when it could not be asked.
    runs.push({ ...base, ...where, state: queue ? 'failed' : 'unknown', exitCode: null });
  }
  return { runs, sources: { squeue: queue !== null, sacct: acct !== null } };
}

/** Runs that can be (re)submitted: not done, not pending or running. */
export function unfinished(status: ExperimentStatus): RunState[] {
  return status.runs.filter((r) => r.state !== 'done' && r.state !== 'pending' && r.state !== 'running');
}

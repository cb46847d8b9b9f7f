// The Slurm commands soo calls (sbatch, squeue, sacct), each with a timeout, and their output parsed into
// typed values. Nothing else in soo runs a Slurm binary.
import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { SchedulerError } from '@soo/core';

const TIMEOUT_MS = 60_000;

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The binary is not installed (ENOENT). */
  missing: boolean;
}

function exec(bin: string, args: readonly string[]): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: string | number; killed?: boolean }) | null;
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        stdout: String(stdout ?? ''),
        stderr: String(stderr ?? '') + (e && e.killed ? `\n${bin} timed out after ${TIMEOUT_MS} ms` : ''),
        missing: e?.code === 'ENOENT',
      });
    });
  });
}

/** Submit a script; returns the job id (`sbatch --parsable` prints "<id>" or "<id>;<cluster>"). */
export async function sbatch(script: string, args: readonly string[] = []): Promise<string> {
  const r = await exec('sbatch', ['--parsable', ...args, script]);
  if (r.missing)
    throw new SchedulerError(
      'SCHEDULER_UNAVAILABLE',
      'sbatch is not on PATH: run `soo experiment run --executor slurm` on a Slurm login node',
      { field: 'executor' },
    );
  const id = r.stdout.trim().split(';')[0] ?? '';
  if (r.code !== 0 || !/^\d+$/.test(id))
    throw new SchedulerError(
      'SCHEDULER_FAILED',
      `sbatch ${[...args, script].join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`,
      { file: script },
    );
  return id;
}

/** Slurm's state of one array task: what squeue or sacct says. */
export interface TaskState {
  /** Array job id and task index. */
  job: string;
  task: number;
  /** PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, PREEMPTED, OUT_OF_MEMORY, NODE_FAIL, ... */
  state: string;
  /** From sacct: the exit code of the batch script (null when squeue said it). */
  exitCode: number | null;
  /** squeue's reason (why a task is pending). */
  reason?: string;
}

const key = (job: string, task: number): string => `${job}_${task}`;

/**
 * The tasks of these array jobs that are in the queue (pending, running, completing), from `squeue -r`;
 * null when squeue is not installed or fails (no controller reachable).
 */
export async function queuedTasks(jobs: readonly string[]): Promise<Map<string, TaskState> | null> {
  const r = await exec('squeue', ['-h', '-r', '-u', userInfo().username, '-o', '%F|%K|%T|%r']);
  if (r.missing || r.code !== 0) return null;
  return parseSqueue(r.stdout, jobs);
}

export function parseSqueue(text: string, jobs: readonly string[]): Map<string, TaskState> {
  const want = new Set(jobs);
  const out = new Map<string, TaskState>();
  for (const line of text.split('\n')) {
    const [job, task, state, reason] = line.trim().split('|');
    if (!job || !want.has(job) || !task || !/^\d+$/.test(task) || !state) continue;
    out.set(key(job, Number(task)), {
      job,
      task: Number(task),
      state,
      exitCode: null,
      ...(reason && reason !== 'None' ? { reason } : {}),
    });
  }
  return out;
}

/**
 * Finished and running tasks of these array jobs from accounting (`sacct -X`); null when sacct is missing
 * or accounting is disabled (a cluster without slurmdbd).
 */
export async function accountedTasks(jobs: readonly string[]): Promise<Map<string, TaskState> | null> {
  if (jobs.length === 0) return new Map();
  const r = await exec('sacct', ['-n', '-P', '-X', '-j', jobs.join(','), '-o', 'JobID,State,ExitCode']);
  if (r.missing || r.code !== 0) return null;
  return parseSacct(r.stdout);
}

export function parseSacct(text: string): Map<string, TaskState> {
  const out = new Map<string, TaskState>();
  for (const line of text.split('\n')) {
    const [id, state, exit] = line.trim().split('|');
    const m = /^(\d+)_(\d+)$/.exec(id ?? '');
    if (!m || !state) continue;
    const code = /^(\d+):(\d+)$/.exec(exit ?? '');
    out.set(key(m[1]!, Number(m[2])), {
      job: m[1]!,
      task: Number(m[2]),
      // "CANCELLED by 0" -> CANCELLED
      state: state.split(' ')[0]!,
      exitCode: code ? Number(code[1]) : null,
    });
  }
  return out;
}

/** This process's array task ("<job>_<task>") when Slurm started it, for the run folder's lock. */
export function currentSlurmTask(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const job = env.SLURM_ARRAY_JOB_ID;
  const task = env.SLURM_ARRAY_TASK_ID;
  if (job && task) return `${job}_${task}`;
  return env.SLURM_JOB_ID || undefined;
}

/**
 * Whether the job that holds a run folder's lock on another host has left the queue (a pre-empted or
 * cancelled task whose node could not clean up): then its lock is stale. Unknown (no squeue, no job in
 * the lock) counts as not gone: the lock stands.
 */
export async function slurmHolderGone(holder: { job?: string }): Promise<boolean> {
  if (!holder.job) return false;
  const [job, task] = holder.job.split('_');
  if (!job) return false;
  const q = await queuedTasks([job]);
  if (!q) return false;
  if (task === undefined) return ![...q.values()].some((t) => t.job === job);
  return !q.has(key(job, Number(task)));
}

export { key as taskKey };

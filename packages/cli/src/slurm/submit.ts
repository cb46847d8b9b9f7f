// `soo experiment run --executor slurm`: the experiment as one Slurm job array (one task per run).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { lockRunDir, SchedulerError, writeFileAtomic } from '@soo/core';
import { UsageError } from '../errors.js';
import type { SlurmOptions } from './options.js';
import { sbatch } from './scheduler.js';
import { arraySpec, LOG_DIR, SCRIPT_NAME, sbatchScript } from './script.js';
import { experimentStatus, unfinished, type ExperimentStatus } from './status.js';
import { appendSubmission, readSubmissions } from './submissions.js';

export interface SubmitInput {
  name: string;
  out: string;
  /** Every run id, in plan order (array task i runs runIds[i]). */
  runIds: readonly string[];
  soo: { node: string; bin: string };
  options: SlurmOptions;
  /** Resubmit the unfinished runs of an experiment that was submitted before. */
  resubmit: boolean;
}

export type SubmitResult =
  | { submitted: true; job: string; runs: string[]; array: string; script: string; status: ExperimentStatus }
  | { submitted: false; why: string; status: ExperimentStatus };

function summary(st: ExperimentStatus): string {
  const n = (s: string): number => st.runs.filter((r) => r.state === s).length;
  return (['done', 'pending', 'running', 'failed', 'not-started', 'unknown'] as const)
    .filter((s) => n(s) > 0)
    .map((s) => `${n(s)} ${s}`)
    .join(', ');
}

/**
 * Write `<out>/slurm/experiment.sbatch` and submit the runs that are neither done nor queued (all of them
 * the first time; with `resubmit`, the unfinished ones again). A run that is pending or running is never
 * submitted a second time; without `resubmit`, an experiment that was submitted before is not submitted
 * again at all. Concurrent submissions to one folder are serialised by a lock on `<out>/slurm`.
 */
export async function submitExperiment(s: SubmitInput): Promise<SubmitResult> {
  if (/[\s'"\\$`]/.test(s.out))
    throw new UsageError(
      `--out ${s.out}: Slurm's #SBATCH lines cannot hold a path with spaces, quotes or $; choose another output folder`,
    );
  const slurmDir = path.join(s.out, 'slurm');
  await fsp.mkdir(path.join(slurmDir, LOG_DIR), { recursive: true });
  const lock = await lockRunDir(slurmDir, 'experiment submit');
  try {
    const before = await readSubmissions(s.out);
    const status = await experimentStatus(s.out, s.runIds);
    if (before.length > 0 && !s.resubmit) {
      const last = before.at(-1)!;
      return {
        submitted: false,
        why: `already submitted as job ${last.job} (${summary(status)}); \`soo experiment status ${s.out}\` shows each run, --resubmit submits the unfinished runs that are not queued`,
        status,
      };
    }
    if (before.length > 0 && !status.sources.squeue)
      throw new SchedulerError(
        'SCHEDULER_UNAVAILABLE',
        `${s.out}: squeue cannot be asked which runs are still queued, so --resubmit could submit a run twice; run it where squeue works (a login node)`,
        { field: 'resubmit' },
      );
    const todo = unfinished(status);
    if (todo.length === 0)
      return {
        submitted: false,
        why: `nothing to submit (${summary(status)})`,
        status,
      };
    const script = path.join(slurmDir, SCRIPT_NAME);
    await writeFileAtomic(
      script,
      sbatchScript({ name: s.name, out: s.out, runIds: s.runIds, soo: s.soo, options: s.options }),
    );
    await fsp.chmod(script, 0o755);
    const indices = todo.map((r) => s.runIds.indexOf(r.run));
    const array = arraySpec(indices, s.options.arrayParallelism);
    // The script's own #SBATCH --array lists every task; a partial submission names its tasks here.
    const job = await sbatch(script, indices.length === s.runIds.length ? [] : [`--array=${array}`]);
    await appendSubmission(s.out, {
      job,
      tasks: Object.fromEntries(indices.map((i) => [String(i), s.runIds[i]!])),
      array,
      script,
      submitted: new Date().toISOString(),
    });
    return {
      submitted: true,
      job,
      runs: todo.map((r) => r.run),
      array,
      script,
      status: await experimentStatus(s.out, s.runIds),
    };
  } finally {
    await lock.release();
  }
}

// <out>/slurm/submissions.json: every array job soo submitted for an experiment, and which run each of its
// tasks runs. `status` reads it to ask Slurm about the right jobs; `--resubmit` reads it to skip runs
// that are still queued (no run is ever submitted twice at once).
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { FormatError, writeFileAtomic } from '@soo/core';

export interface Submission {
  /** The array job id sbatch printed. */
  job: string;
  /** Task index -> run id, for the tasks of this submission. */
  tasks: Record<string, string>;
  /** The --array value submitted. */
  array: string;
  script: string;
  submitted: string;
}

export const SUBMISSIONS_FILE = 'submissions.json';

export function submissionsFile(out: string): string {
  return path.join(out, 'slurm', SUBMISSIONS_FILE);
}

export async function readSubmissions(out: string): Promise<Submission[]> {
  const file = submissionsFile(out);
  if (!existsSync(file)) return [];
  let j: unknown;
  try {
    j = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (e) {
    throw new FormatError('DATA_INVALID', `${file}: not JSON (${(e as Error).message})`, { file, cause: e });
  }
  const subs = (j as { submissions?: unknown }).submissions;
  if (!Array.isArray(subs))
    throw new FormatError('DATA_INVALID', `${file}: submissions: expected an array`, {
      file,
      field: 'submissions',
    });
  subs.forEach((s: Partial<Submission>, i) => {
    if (typeof s?.job !== 'string' || typeof s.tasks !== 'object' || s.tasks === null)
      throw new FormatError(
        'DATA_INVALID',
        `${file}: submissions[${i}]: expected {"job": "<id>", "tasks": {"<index>": "<run>"}}`,
        { file, field: `submissions[${i}]` },
      );
  });
  return subs as Submission[];
}

export async function appendSubmission(out: string, s: Submission): Promise<void> {
  const all = [...(await readSubmissions(out)), s];
  await writeFileAtomic(submissionsFile(out), JSON.stringify({ submissions: all }, null, 2) + '\n');
}

/** For each run id, the latest (job, task) that was submitted to run it. */
export function latestTasks(subs: readonly Submission[]): Map<string, { job: string; task: number }> {
  const out = new Map<string, { job: string; task: number }>();
  for (const s of subs)
    for (const [task, run] of Object.entries(s.tasks)) out.set(run, { job: s.job, task: Number(task) });
  return out;
}

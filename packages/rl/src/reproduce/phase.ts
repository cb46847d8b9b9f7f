/**
 * A resumable phase of `reproduce`: its work runs in `<dir>.partial`, which is renamed to `<dir>` only when
 * the work and `phase.json` are complete. A phase whose `<dir>/phase.json` exists is not run again.
 *
 * Why not core's experiment runner (`executeRun`, `isRunDone`): that runs one LLM run (train an adapter,
 * evaluate, probe) from a `run.json`, marks it with `done.json` and writes files in place. An RL phase is
 * a different unit of work (MADDPG training, the SOO-value classifier, …) whose outputs are whole folders
 * (checkpoints) that must appear atomically, so a killed worker never leaves a folder that looks finished.
 * The only shared idea is "a marker file means done"; the marker and layout of existing run folders
 * (`phase.json`, `.partial`) are kept so that runs started before this refactor still resume.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ReproduceEventListener } from './events.js';

export const PHASE_FILE = 'phase.json';

/** What `<phase>/phase.json` holds: timing, env steps and the phase's own numbers. */
export interface PhaseRecord {
  phase: string;
  seconds: number;
  startedAt: string;
  endedAt: string;
  envSteps?: number;
  [k: string]: unknown;
}

/** A phase's record, and whether it was read from an earlier invocation. */
export type PhaseOutcome = PhaseRecord & { skipped: boolean };

/** Run a phase into `<dir>.partial`, then rename it to `dir`; skip it when `dir/phase.json` exists. */
export async function runPhase(
  dir: string,
  name: string,
  onEvent: ReproduceEventListener,
  work: (tmp: string) => Promise<Record<string, unknown> & { envSteps?: number }>,
): Promise<PhaseOutcome> {
  const marker = join(dir, PHASE_FILE);
  if (existsSync(marker)) {
    onEvent({ type: 'phase-skipped', phase: name, dir });
    return { ...(JSON.parse(await readFile(marker, 'utf8')) as PhaseRecord), skipped: true };
  }
  const tmp = `${dir}.partial`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  onEvent({ type: 'phase-started', phase: name, dir });
  const startedAt = new Date();
  const t0 = performance.now();
  const extra = await work(tmp);
  const seconds = (performance.now() - t0) / 1000;
  const record: PhaseRecord = {
    phase: name,
    seconds,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    ...extra,
  };
  await writeFile(join(tmp, PHASE_FILE), JSON.stringify(record, null, 2) + '\n');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await rename(tmp, dir);
  onEvent({ type: 'phase-finished', phase: name, dir, seconds });
  return { ...record, skipped: false };
}

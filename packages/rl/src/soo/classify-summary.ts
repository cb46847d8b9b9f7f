import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClassifierResult } from './classifier.js';
import { formatAccuracyTable } from '../cli.js';

/** What `soo rl classify` prints and writes: the accuracy at the largest budget first, then every row. */
export interface ClassifySummary {
  accuracy: number;
  episodes: number;
  correct: number;
  seeds: number[];
  rows: { episodes: number; accuracy: number; correct: number }[];
  seconds: number;
  deceptive: string;
  honest: string;
}

export function classifySummary(
  res: ClassifierResult,
  seconds: number,
  deceptive: string,
  honest: string,
): ClassifySummary {
  const last = res.rows[res.rows.length - 1]!;
  return {
    accuracy: last.accuracy,
    episodes: last.episodes,
    correct: last.correct,
    seeds: res.seeds,
    rows: res.rows.map((r) => ({ episodes: r.episodes, accuracy: r.accuracy, correct: r.correct })),
    seconds,
    deceptive,
    honest,
  };
}

/** `<dir>/classify.json` (summary and full result) and `<dir>/table.txt`. */
export async function writeClassify(
  dir: string,
  res: ClassifierResult,
  summary: ClassifySummary,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'classify.json'), JSON.stringify({ ...summary, result: res }, null, 2) + '\n');
  await writeFile(join(dir, 'table.txt'), formatAccuracyTable(res) + '\n');
}

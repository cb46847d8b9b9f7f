import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '@soo/core';

export const REWARDS = ['deceptive', 'honest'] as const;
export type Reward = (typeof REWARDS)[number];

/** This package's root: the nearest folder above this module with @soo/rl's package.json (src/ or dist/). */
function rlPackageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === '@soo/rl')
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`@soo/rl: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/**
 * The folder holding the shipped `deceptive/` and `honest/` baselines: `@soo/rl/assets/baselines`, or
 * `$SOO_RL_BASELINES_DIR` when set.
 */
export function shippedBaselinesDir(): string {
  return process.env.SOO_RL_BASELINES_DIR
    ? resolve(process.env.SOO_RL_BASELINES_DIR)
    : join(rlPackageDir(), 'assets', 'baselines');
}

const HOW_TO_TRAIN =
  'train them with `npm run rl:baselines` from the repository root (runs packages/rl/scripts/train-baselines.mjs; ' +
  'the paper settings take about an hour per baseline, both in parallel on 2 cores), ' +
  'or pass checkpoint folders explicitly (--deceptive/--honest, --from, --baselines)';

/** A shipped baseline folder, checked to exist. */
export function shippedBaseline(reward: Reward): string {
  const dir = join(shippedBaselinesDir(), reward);
  const file = join(dir, 'maddpg.json');
  if (!existsSync(file)) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `the shipped ${reward} baseline is missing: ${dir} (no maddpg.json); ${HOW_TO_TRAIN}`,
      { file },
    );
  }
  return dir;
}

/** Flag parsers shared by the `soo rl …` subcommands. */
import { PAPER_EPISODE_COUNTS, defaultSeeds, type Reward, REWARDS } from '@soo/rl';
import { parseList, parseNumber } from '../../args.js';
import { UsageError } from '../../errors.js';

export function parseReward(value: string): Reward {
  if (!(REWARDS as readonly string[]).includes(value)) {
    throw new UsageError(`--reward: expected deceptive or honest, got "${value}"`);
  }
  return value as Reward;
}

export function parseIntList(flag: string, value: string, min: number): number[] {
  const parts = parseList(value);
  if (parts.length === 0) throw new UsageError(`${flag}: expected comma-separated integers, got "${value}"`);
  return parts.map((p) => parseNumber(flag, p, { integer: true, min }));
}

/** `--seeds 10` draws 10 seeds from `--seed`; `--seeds 155,714` uses those seeds. */
export function parseSeeds(flag: string, value: string, drawFrom: number): number[] {
  if (value.includes(',')) return parseIntList(flag, value, 0);
  return defaultSeeds(drawFrom, parseNumber(flag, value, { integer: true, min: 1 }));
}

/**
 * `--episodes 500` sweeps the paper's budgets up to 500 (1, 100, 200, …, 500); `--episodes 1,50,300`
 * uses exactly those.
 */
export function parseEpisodeCounts(flag: string, value: string): number[] {
  if (value.includes(',')) return [...new Set(parseIntList(flag, value, 1))].sort((a, b) => a - b);
  const n = parseNumber(flag, value, { integer: true, min: 1 });
  const counts = PAPER_EPISODE_COUNTS.filter((c) => c <= n);
  if (counts[counts.length - 1] !== n) counts.push(n);
  return counts;
}

export function maddpgOverrides(opts: { batchSize?: string; updateEvery?: string }): {
  batchSize?: number;
  updateEvery?: number;
} {
  const o: { batchSize?: number; updateEvery?: number } = {};
  if (opts.batchSize !== undefined)
    o.batchSize = parseNumber('--batch-size', opts.batchSize, { integer: true, min: 1 });
  if (opts.updateEvery !== undefined) {
    o.updateEvery = parseNumber('--update-every', opts.updateEvery, { integer: true, min: 1 });
  }
  return o;
}

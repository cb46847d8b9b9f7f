/**
 * Percentile bootstrap of a mean, optionally resampling whole clusters (e.g. all environment seeds of
 * one fine-tuning seed together, since they share one agent). Seeded, so a report is reproducible.
 */
import { InvalidArgumentError, Rng } from '@soo/core';

export interface BootstrapOptions {
  /** Resamples (default 10 000). */
  resamples?: number;
  /** Two-sided level (default 0.95). */
  level?: number;
  /** Seed of the resampling stream (default 0). */
  seed?: number;
  /** clusters[k] = the cluster of values[k]: clusters are drawn with replacement, not values. */
  clusters?: readonly (string | number)[];
}

export interface BootstrapInterval {
  mean: number;
  lo: number;
  hi: number;
  level: number;
  resamples: number;
  /** Number of units resampled (values, or clusters). */
  units: number;
}

/**
 * The q-quantile of sorted values with numpy's default linear interpolation: position q·(n − 1).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new InvalidArgumentError('INVALID_ARGUMENT', 'quantileSorted(): no values');
  const pos = q * (n - 1);
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < n ? sorted[i]! + f * (sorted[i + 1]! - sorted[i]!) : sorted[i]!;
}

export function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < v.length; k++) s += v[k]!;
  return s / v.length;
}

/** Bootstrap percentile interval for the mean of `values`. */
export function bootstrapMeanCi(values: readonly number[], opts: BootstrapOptions = {}): BootstrapInterval {
  const n = values.length;
  if (n === 0) throw new InvalidArgumentError('INVALID_ARGUMENT', 'bootstrapMeanCi(): no values');
  if (values.some((v) => !Number.isFinite(v)))
    throw new InvalidArgumentError('INVALID_ARGUMENT', 'bootstrapMeanCi(): values must be finite');
  const R = opts.resamples ?? 10_000;
  const level = opts.level ?? 0.95;
  if (!Number.isInteger(R) || R < 1)
    throw new InvalidArgumentError('INVALID_ARGUMENT', `resamples must be a positive integer, got ${R}`);
  if (!(level > 0 && level < 1))
    throw new InvalidArgumentError('INVALID_ARGUMENT', `level must lie in (0, 1), got ${level}`);
  if (opts.clusters && opts.clusters.length !== n)
    throw new InvalidArgumentError(
      'SHAPE_MISMATCH',
      `clusters has ${opts.clusters.length} labels for ${n} values`,
    );
  // units: per cluster the sum and count of its values (one unit per value without clusters)
  const sums: number[] = [];
  const counts: number[] = [];
  if (opts.clusters) {
    const at = new Map<string | number, number>();
    values.forEach((v, k) => {
      const c = opts.clusters![k]!;
      let u = at.get(c);
      if (u === undefined) {
        u = sums.length;
        at.set(c, u);
        sums.push(0);
        counts.push(0);
      }
      sums[u]! += v;
      counts[u]! += 1;
    });
  } else {
    for (const v of values) {
      sums.push(v);
      counts.push(1);
    }
  }
  const U = sums.length;
  const rng = new Rng(opts.seed ?? 0).split('bootstrap');
  const means = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let s = 0;
    let c = 0;
    for (let k = 0; k < U; k++) {
      const u = rng.int(U);
      s += sums[u]!;
      c += counts[u]!;
    }
    means[r] = s / c;
  }
  means.sort();
  const a = (1 - level) / 2;
  return {
    mean: mean(values),
    lo: quantileSorted(means, a),
    hi: quantileSorted(means, 1 - a),
    level,
    resamples: R,
    units: U,
  };
}

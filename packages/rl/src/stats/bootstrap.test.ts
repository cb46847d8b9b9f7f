import { Rng } from '@soo/core';
import { describe, expect, it } from 'vitest';
import { bootstrapMeanCi, mean, quantileSorted } from './bootstrap.js';

describe('quantileSorted', () => {
  it('interpolates linearly like numpy.quantile', () => {
    const v = [1, 2, 4, 8];
    // positions q·3: 0.25 → 0.75 → 1 + 0.75·1 = 1.75; 0.5 → 1.5 → 3; 0.9 → 2.7 → 4 + 0.7·4 = 6.8
    expect(quantileSorted(v, 0.25)).toBeCloseTo(1.75, 12);
    expect(quantileSorted(v, 0.5)).toBeCloseTo(3, 12);
    expect(quantileSorted(v, 0.9)).toBeCloseTo(6.8, 12);
    expect(quantileSorted(v, 0)).toBe(1);
    expect(quantileSorted(v, 1)).toBe(8);
  });
});

describe('bootstrapMeanCi', () => {
  it('a constant sample has a zero-width interval at its value', () => {
    const ci = bootstrapMeanCi([3.5, 3.5, 3.5, 3.5], { resamples: 200 });
    expect(ci).toMatchObject({ mean: 3.5, lo: 3.5, hi: 3.5, units: 4 });
  });

  it('two values {0, 1}, n = 2: resampled means are 0, 0.5, 1 with chances 1/4, 1/2, 1/4', () => {
    // the 2.5% and 97.5% quantiles of that distribution are 0 and 1; the median is 0.5
    const ci = bootstrapMeanCi([0, 1], { resamples: 20_000, seed: 3 });
    expect(ci.mean).toBe(0.5);
    expect(ci.lo).toBe(0);
    expect(ci.hi).toBe(1);
    const mid = bootstrapMeanCi([0, 1], { resamples: 20_000, seed: 3, level: 0.4 }); // 30%..70%
    expect(mid.lo).toBe(0.5);
    expect(mid.hi).toBe(0.5);
  });

  it('matches the normal approximation mean ± 1.96·sd/√n on a large sample', () => {
    const rng = new Rng('boot-normal');
    const v = Array.from({ length: 400 }, () => rng.normal(2, 3));
    const m = mean(v);
    const sd = Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / v.length);
    const half = (1.96 * sd) / Math.sqrt(v.length); // ≈ 0.294
    const ci = bootstrapMeanCi(v, { resamples: 4000, seed: 1 });
    expect(Math.abs(ci.lo - (m - half)) / half).toBeLessThan(0.1);
    expect(Math.abs(ci.hi - (m + half)) / half).toBeLessThan(0.1);
  });

  it('resamples clusters, not values: two clusters of means 0 and 10 give the cluster-level spread', () => {
    // cluster a = {0, 0, 0}, cluster b = {10, 10, 10}: a resample is aa, ab, ba or bb → mean 0, 5, 5, 10
    const v = [0, 0, 0, 10, 10, 10];
    const ci = bootstrapMeanCi(v, { clusters: ['a', 'a', 'a', 'b', 'b', 'b'], resamples: 20_000, seed: 2 });
    expect(ci.units).toBe(2);
    expect(ci.lo).toBe(0);
    expect(ci.hi).toBe(10);
    // resampling the six values instead gives a much narrower interval
    const flat = bootstrapMeanCi(v, { resamples: 20_000, seed: 2 });
    expect(flat.hi - flat.lo).toBeLessThan(8);
    expect(flat.lo).toBeGreaterThan(0);
  });

  it('is reproducible from its seed and rejects bad input with typed errors', () => {
    const v = [1, 5, 2, 8, 3];
    expect(bootstrapMeanCi(v, { seed: 9, resamples: 500 })).toEqual(
      bootstrapMeanCi(v, { seed: 9, resamples: 500 }),
    );
    expect(() => bootstrapMeanCi([])).toThrow(/no values/);
    expect(() => bootstrapMeanCi([1, NaN])).toThrow(/finite/);
    expect(() => bootstrapMeanCi([1, 2], { clusters: ['a'] })).toThrow(/clusters has 1 labels/);
    expect(() => bootstrapMeanCi([1, 2], { level: 1 })).toThrow(/level/);
  });
});

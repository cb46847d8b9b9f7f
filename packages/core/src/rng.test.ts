import { describe, expect, it } from 'vitest';
import { Rng, hashString } from './rng.js';

describe('Rng', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(xa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(xa);
  });

  it('split streams depend only on the seed path and label, not on parent draws', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    for (let i = 0; i < 100; i++) b.next();
    expect(a.split('data').next()).toBe(b.split('data').next());
    expect(a.split('data').next()).not.toBe(a.split('init').next());
    expect(a.split('data').path).toBe('5/data');
  });

  it('next() is uniform in [0,1): mean and variance within 4 sigma over 1e5 draws', () => {
    const r = new Rng(1);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      s += x;
      s2 += x * x;
    }
    const mean = s / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(s2 / n - mean * mean - 1 / 12)).toBeLessThan(0.002);
  });

  it('normal() has mean 0 and sd 1 (tolerance 0.02 over 1e5 draws)', () => {
    const r = new Rng(2);
    const xs = r.normalArray(100_000);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(sd - 1)).toBeLessThan(0.02);
  });

  it('int(n) is unbiased across buckets and shuffle is a permutation', () => {
    const r = new Rng(3);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[r.int(7)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    const xs = r.shuffle(Array.from({ length: 50 }, (_, i) => i));
    expect([...xs].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(xs).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('state() / restore() resume the exact stream', () => {
    const r = new Rng('seed-string');
    r.next();
    r.normal();
    const st = r.state();
    const expected = [r.next(), r.normal(), r.nextU32()];
    const back = Rng.restore(st);
    expect([back.next(), back.normal(), back.nextU32()]).toEqual(expected);
  });

  it('hashString is stable', () => {
    expect(hashString('soo')).toBe(hashString('soo'));
    expect(hashString('soo')).not.toBe(hashString('sop'));
  });

  it('rejects bad arguments', () => {
    expect(() => new Rng(Number.NaN)).toThrow(RangeError);
    expect(() => new Rng(1).int(0)).toThrow(RangeError);
    expect(() => new Rng(1).pick([])).toThrow(RangeError);
  });
});

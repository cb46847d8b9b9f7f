/** Token choice on the host: argmax like torch.argmax, temperature / top-k / top-p sampling from soo's Rng. */
import { describe, expect, it } from 'vitest';
import { Rng } from './rng.js';
import { argmax, sampleToken } from './sampling.js';

describe('token choice', () => {
  it('argmax takes the first maximum, like torch.argmax', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax(new Float32Array([-5, -1, -1]))).toBe(1);
    expect(argmax([-Infinity, -Infinity, 0])).toBe(2);
  });

  it('top-k 1 and a tiny top-p are greedy; temperature sampling follows the softmax', () => {
    const rng = new Rng(1);
    const logits = [0.1, 2, 1.9, -1];
    expect(sampleToken(logits, rng, 1, 1, undefined)).toBe(1);
    expect(sampleToken(logits, rng, 1, undefined, 1e-6)).toBe(1);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, rng, 1, undefined, undefined)]! += 1;
    const z = logits.map(Math.exp);
    const sum = z.reduce((p, q) => p + q, 0);
    z.forEach((p, i) => expect(Math.abs(counts[i]! / 20000 - p / sum)).toBeLessThan(0.015));
  });

  it('top-k keeps the k most likely tokens, renormalised; top-p the smallest prefix reaching p', () => {
    const rng = new Rng(2);
    const logits = [0.1, 2, 1.9, -1];
    const k2 = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) k2[sampleToken(logits, rng, 1, 2, undefined)]! += 1;
    expect(k2[0]! + k2[3]!).toBe(0);
    const pk = Math.exp(2) / (Math.exp(2) + Math.exp(1.9));
    expect(Math.abs(k2[1]! / 20000 - pk)).toBeLessThan(0.015);
    // softmax ~ [0.071, 0.475, 0.430, 0.024]: top-p 0.9 keeps tokens 1 and 2 (0.905), 0.4 token 1 alone.
    const p9 = [0, 0, 0, 0];
    for (let i = 0; i < 5000; i++) p9[sampleToken(logits, rng, 1, undefined, 0.9)]! += 1;
    expect(p9[0]! + p9[3]!).toBe(0);
    expect(p9[1]! * p9[2]!).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) expect(sampleToken(logits, rng, 1, undefined, 0.4)).toBe(1);
  });

  it('temperature sharpens (low) or flattens (high) the distribution; the same seed gives the same tokens', () => {
    const logits = [0, 1, 0.5];
    const freq = (t: number): number => {
      const rng = new Rng(3);
      let n = 0;
      for (let i = 0; i < 5000; i++) if (sampleToken(logits, rng, t, undefined, undefined) === 1) n++;
      return n / 5000;
    };
    const z = (t: number): number => Math.exp(1 / t) / logits.reduce((s, x) => s + Math.exp(x / t), 0);
    for (const t of [0.25, 1, 4]) expect(Math.abs(freq(t) - z(t))).toBeLessThan(0.02);
    const draw = (seed: number): number[] => {
      const rng = new Rng(seed);
      return Array.from({ length: 50 }, () => sampleToken(logits, rng, 1, undefined, undefined));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });
});

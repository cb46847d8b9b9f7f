import { describe, expect, it } from 'vitest';
import { Rng } from './rng.js';
import { latentSoo, poolActivations, sooLoss, sooLossGrad, type Activations, type Pooling } from './soo.js';

function acts(rng: Rng, B: number, T: number, H: number, mask?: number[]): Activations {
  return { data: Array.from(rng.normalArray(B * T * H)), shape: [B, T, H], ...(mask ? { mask } : {}) };
}

describe('sooLoss (float64 reference)', () => {
  it('full pooling is the elementwise MSE over [B, T, H], pads included', () => {
    const self: Activations = { data: [1, 2, 3, 4, 5, 6, 7, 8], shape: [1, 2, 4], mask: [1, 0] };
    const other: Activations = { data: [1, 2, 3, 4, 6, 6, 7, 10], shape: [1, 2, 4], mask: [1, 0] };
    // differences: 0,0,0,0,-1,0,0,-2 -> (1 + 4) / 8
    expect(sooLoss(self, other, 'full')).toBe(5 / 8);
  });

  it('last pooling reads the last non-pad position of each prompt (left or right padding)', () => {
    // self right-padded (last real = t1), other left-padded (last real = t2)
    const self: Activations = { data: [0, 0, 1, 2, 9, 9], shape: [1, 3, 2], mask: [1, 1, 0] };
    const other: Activations = { data: [5, 5, 7, 7, 3, 2], shape: [1, 3, 2], mask: [0, 1, 1] };
    expect(sooLoss(self, other, 'last')).toBe(((1 - 3) ** 2 + 0) / 2);
  });

  it('mean pooling averages over non-pad positions only', () => {
    const self: Activations = { data: [1, 3, 100], shape: [1, 3, 1], mask: [1, 1, 0] };
    const other: Activations = { data: [4, 4, 4], shape: [1, 3, 1] };
    expect(poolActivations(self, 'mean')[0]).toBe(2);
    expect(sooLoss(self, other, 'mean')).toBe(4);
  });

  it('defaults to last pooling and works with unequal token counts', () => {
    const rng = new Rng(1);
    const a = acts(rng, 2, 5, 3, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    const b = acts(rng, 2, 4, 3);
    expect(sooLoss(a, b)).toBe(sooLoss(a, b, 'last'));
    expect(() => sooLoss(a, b, 'full')).toThrow(/right-pad/);
  });

  it('rejects shape mismatches with SHAPE_MISMATCH', () => {
    const bad: Activations = { data: [1, 2, 3], shape: [1, 2, 2] };
    const ok: Activations = { data: [1, 2, 3, 4], shape: [1, 2, 2] };
    expect(() => sooLoss(bad, ok)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
  });

  it.each<Pooling>(['full', 'last', 'mean'])(
    'gradient (%s) matches central finite differences (rel err < 1e-6)',
    (pooling) => {
      const rng = new Rng(7);
      const mask = [1, 1, 1, 0, 0, 1, 1, 1];
      const self = acts(rng, 2, 4, 3, mask);
      const other = acts(rng, 2, 4, 3, [1, 1, 1, 1, 1, 1, 1, 0]);
      const g = sooLossGrad(self, other, pooling);
      const eps = 1e-6;
      let num = 0;
      let den = 0;
      for (const [which, a, grad] of [
        ['self', self, g.self],
        ['other', other, g.other],
      ] as const) {
        for (let i = 0; i < a.data.length; i++) {
          const d = Array.from(a.data);
          d[i] = (d[i] as number) + eps;
          const plus =
            which === 'self'
              ? sooLoss({ ...self, data: d }, other, pooling)
              : sooLoss(self, { ...other, data: d }, pooling);
          d[i] = (d[i] as number) - 2 * eps;
          const minus =
            which === 'self'
              ? sooLoss({ ...self, data: d }, other, pooling)
              : sooLoss(self, { ...other, data: d }, pooling);
          const fd = (plus - minus) / (2 * eps);
          num += (fd - (grad[i] as number)) ** 2;
          den += fd * fd;
        }
      }
      expect(den).toBeGreaterThan(0);
      expect(Math.sqrt(num / den)).toBeLessThan(1e-6);
    },
  );
});

describe('latentSoo', () => {
  it('averages per module, then over pairs', () => {
    const one = (v: number): Activations => ({ data: [v], shape: [1, 1, 1] });
    const r = latentSoo([
      { a: { self: one(1), other: one(0) }, b: { self: one(2), other: one(0) } }, // 1, 4 -> 2.5
      { a: { self: one(0), other: one(3) }, b: { self: one(0), other: one(1) } }, // 9, 1 -> 5
    ]);
    expect(r.perPair).toEqual([2.5, 5]);
    expect(r.mean).toBe(3.75);
    expect(r.perModule).toEqual({ a: 5, b: 2.5 });
  });
});

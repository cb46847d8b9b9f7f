import { Rng } from '@soo/core';
import { describe, expect, it } from 'vitest';
import { Mlp, mlpSpec, paramLayout, type MlpSpec } from './mlp.js';
import { Adam, clipGradNorm, softUpdate } from './optim.js';

/** Scalar test loss L = Σ wOut·out + Σ w1·h1 + Σ w2·h2 + (optionally) read from a forward pass. */
function makeLoss(net: Mlp, x: Float64Array, B: number, train: boolean, rng: Rng) {
  const { hidden: H, outDim: O } = net.spec;
  const wOut = Float64Array.from({ length: B * O }, () => rng.normal());
  const w1 = Float64Array.from({ length: B * H }, () => rng.normal());
  const w2 = Float64Array.from({ length: B * H }, () => rng.normal());
  const ws = net.workspace(B);
  const value = (xx: Float64Array) => {
    net.forward(xx, B, ws, train);
    let s = 0;
    for (let k = 0; k < B * O; k++) s += wOut[k]! * ws.out[k]!;
    for (let k = 0; k < B * H; k++) s += w1[k]! * ws.h1[k]! + w2[k]! * ws.h2[k]!;
    return s;
  };
  const grad = () => {
    net.zeroGrad();
    value(x);
    net.backward(ws, wOut, { dH1: w1, dH2: w2, inputGrad: true });
    return { g: Float64Array.from(net.grads), dx: Float64Array.from(ws.dx.subarray(0, B * net.spec.inDim)) };
  };
  return { value, grad };
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1e-6, Math.abs(a) + Math.abs(b));
}

const CASES: { name: string; spec: MlpSpec; train: boolean; B: number }[] = [
  {
    name: 'tanh policy, BN train mode',
    spec: mlpSpec(10, 2, { hidden: 16, outAct: 'tanh' }),
    train: true,
    B: 7,
  },
  {
    name: 'tanh policy, BN eval mode',
    spec: mlpSpec(6, 2, { hidden: 16, outAct: 'tanh' }),
    train: false,
    B: 5,
  },
  { name: 'linear critic, BN train mode', spec: mlpSpec(20, 1, { hidden: 12 }), train: true, B: 9 },
  { name: 'no batch norm', spec: mlpSpec(5, 3, { hidden: 8, batchNorm: false }), train: true, B: 4 },
];

describe('Mlp forward/backward', () => {
  for (const c of CASES) {
    it(`matches central finite differences: ${c.name}`, () => {
      const rng = new Rng(`gc-${c.name}`);
      const net = Mlp.create(c.spec, rng.split('init'));
      // non-trivial BN parameters and running statistics
      if (c.spec.batchNorm) {
        for (let j = 0; j < c.spec.inDim; j++) {
          net.params[j] = 0.5 + rng.next();
          net.params[c.spec.inDim + j] = rng.normal(0, 0.3);
          net.runningMean[j] = rng.normal(0, 0.5);
          net.runningVar[j] = 0.5 + rng.next();
        }
      }
      const x = Float64Array.from({ length: c.B * c.spec.inDim }, () => rng.normal());
      const { value, grad } = makeLoss(net, x, c.B, c.train, rng.split('loss'));
      const { g, dx } = grad();
      const h = 1e-6;
      let worst = 0;
      for (let k = 0; k < net.params.length; k++) {
        const p0 = net.params[k]!;
        net.params[k] = p0 + h;
        const up = value(x);
        net.params[k] = p0 - h;
        const down = value(x);
        net.params[k] = p0;
        const num = (up - down) / (2 * h);
        if (Math.abs(num - g[k]!) > 1e-7) worst = Math.max(worst, relErr(num, g[k]!));
      }
      expect(worst).toBeLessThan(1e-5);
      worst = 0;
      for (let k = 0; k < x.length; k++) {
        const x0 = x[k]!;
        x[k] = x0 + h;
        const up = value(x);
        x[k] = x0 - h;
        const down = value(x);
        x[k] = x0;
        const num = (up - down) / (2 * h);
        if (Math.abs(num - dx[k]!) > 1e-7) worst = Math.max(worst, relErr(num, dx[k]!));
      }
      expect(worst).toBeLessThan(1e-5);
    });
  }

  it('uses PyTorch layouts, init bounds and BN running-statistics updates', () => {
    const spec = mlpSpec(10, 2, { outAct: 'tanh' });
    expect(paramLayout(spec).map((s) => `${s.name}:${s.shape.join('x')}`)).toEqual([
      'in_fn.weight:10',
      'in_fn.bias:10',
      'fc1.weight:64x10',
      'fc1.bias:64',
      'fc2.weight:64x64',
      'fc2.bias:64',
      'fc3.weight:2x64',
      'fc3.bias:2',
    ]);
    const net = Mlp.create(spec, new Rng(1));
    expect(net.numParams).toBe(20 + 704 + 4160 + 130);
    const max = (a: Float64Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(max(net.tensor('fc1.weight'))).toBeLessThanOrEqual(1 / Math.sqrt(10));
    expect(max(net.tensor('fc3.weight'))).toBeLessThanOrEqual(3e-3);
    expect(Array.from(net.tensor('in_fn.weight'))).toEqual(new Array(10).fill(1));
    // running stats: momentum 0.1, unbiased variance
    const x = Float64Array.from({ length: 4 * 10 }, (_, k) => (k % 10) + Math.floor(k / 10));
    net.forward(x, 4, net.workspace(4), true);
    // feature 0 takes 0,1,2,3: mean 1.5, unbiased var 5/3
    expect(net.runningMean[0]).toBeCloseTo(0.15, 12);
    expect(net.runningVar[0]).toBeCloseTo(0.9 + 0.1 * (5 / 3), 12);
    expect(() => net.forward(x, 1, net.workspace(1), true)).toThrowError(/at least 2/);
  });
});

describe('optimisers', () => {
  it('Adam follows torch.optim.Adam (first steps have magnitude lr)', () => {
    const p = Float64Array.of(1, -2, 3);
    const opt = new Adam(3, { lr: 0.01 });
    opt.step(p, Float64Array.of(0.5, -4, 0));
    expect(p[0]).toBeCloseTo(1 - 0.01, 6);
    expect(p[1]).toBeCloseTo(-2 + 0.01, 6);
    expect(p[2]).toBe(3);
    // second step, by hand
    const p1 = p[0]!;
    const g = 0.25;
    opt.step(p, Float64Array.of(g, 0, 0));
    const m = 0.9 * 0.05 + 0.1 * g;
    const v = 0.999 * 0.001 * 0.25 + 0.001 * g * g;
    const want = p1 - (0.01 / (1 - 0.81)) * (m / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8));
    expect(p[0]).toBeCloseTo(want, 12);
  });

  it('clips by the global norm and soft-updates', () => {
    const g = Float64Array.of(3, 4);
    expect(clipGradNorm(g, 0.5)).toBe(5);
    expect(Math.hypot(g[0]!, g[1]!)).toBeCloseTo(0.5, 6);
    const small = Float64Array.of(0.1, 0.1);
    clipGradNorm(small, 0.5);
    expect(Array.from(small)).toEqual([0.1, 0.1]);
    const t = Float64Array.of(0, 10);
    softUpdate(t, Float64Array.of(1, 0), 0.01);
    expect(t[0]).toBeCloseTo(0.01, 12);
    expect(t[1]).toBeCloseTo(9.9, 12);
  });
});

import { Rng } from '@soo/core';
import { describe, expect, it } from 'vitest';
import { WasmKernels, wasmKernels } from './kernels.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';
import { jsLinearForward, jsLinearInputGrad, jsLinearParamGrad, linearBackward } from './linear.js';

// The per-row loops the kernels replaced (the package before the WebAssembly kernels), as the reference.
function refForward(
  x: Float64Array,
  B: number,
  I: number,
  p: Float64Array,
  oW: number,
  oB: number,
  O: number,
  out: Float64Array,
  slope: number | null,
): void {
  for (let b = 0; b < B; b++) {
    let o = 0;
    for (; o + 4 <= O; o += 4) {
      const s = [p[oB + o]!, p[oB + o + 1]!, p[oB + o + 2]!, p[oB + o + 3]!];
      for (let i = 0; i < I; i++)
        for (let k = 0; k < 4; k++) s[k]! += x[b * I + i]! * p[oW + (o + k) * I + i]!;
      for (let k = 0; k < 4; k++) out[b * O + o + k] = slope !== null && s[k]! <= 0 ? s[k]! * slope : s[k]!;
    }
    for (; o < O; o++) {
      let s = p[oB + o]!;
      for (let i = 0; i < I; i++) s += x[b * I + i]! * p[oW + o * I + i]!;
      out[b * O + o] = slope !== null && s <= 0 ? s * slope : s;
    }
  }
}

function refBackward(
  dz: Float64Array,
  x: Float64Array,
  B: number,
  I: number,
  O: number,
  p: Float64Array,
  oW: number,
  g: Float64Array,
  oB: number,
  dx: Float64Array,
): void {
  dx.fill(0, 0, B * I);
  for (let b = 0; b < B; b++) {
    let o = 0;
    for (; o + 4 <= O; o += 4) {
      const d = [dz[b * O + o]!, dz[b * O + o + 1]!, dz[b * O + o + 2]!, dz[b * O + o + 3]!];
      const w = [0, 1, 2, 3].map((k) => oW + (o + k) * I);
      for (let i = 0; i < I; i++)
        dx[b * I + i]! +=
          d[0]! * p[w[0]! + i]! + d[1]! * p[w[1]! + i]! + d[2]! * p[w[2]! + i]! + d[3]! * p[w[3]! + i]!;
      for (let k = 0; k < 4; k++) {
        g[oB + o + k]! += d[k]!;
        for (let i = 0; i < I; i++) g[w[k]! + i]! += d[k]! * x[b * I + i]!;
      }
    }
    for (; o < O; o++) {
      const d = dz[b * O + o]!;
      g[oB + o]! += d;
      for (let i = 0; i < I; i++) g[oW + o * I + i]! += d * x[b * I + i]!;
      for (let i = 0; i < I; i++) dx[b * I + i]! += d * p[oW + o * I + i]!;
    }
  }
}

const rand = (rng: Rng, n: number) => Float64Array.from({ length: n }, () => rng.normal());
const SHAPES = [
  { B: 7, I: 6, O: 64 },
  { B: 33, I: 10, O: 2 },
  { B: 65, I: 20, O: 64 },
  { B: 9, I: 64, O: 64 },
  { B: 5, I: 64, O: 1 },
  { B: 1, I: 64, O: 2 },
];
const kernels = [
  { name: 'scalar JS', k: null as WasmKernels | null },
  { name: 'WebAssembly SIMD', k: wasmKernels() },
];

describe('linear-layer kernels are bit-identical to the per-row loops they replaced', () => {
  it('the WebAssembly SIMD kernels load on this Node', () => {
    expect(wasmKernels()).toBeInstanceOf(WasmKernels);
  });

  it('kernels-wasm.ts holds exactly the assembled kernels.wat', async () => {
    // @ts-expect-error: a plain .mjs script without type declarations
    const { assembleKernels } = (await import('../../scripts/build-kernels.mjs')) as {
      assembleKernels: () => Promise<Buffer>;
    };
    expect((await assembleKernels()).toString('base64')).toBe(KERNELS_WASM_BASE64);
  });

  for (const { B, I, O } of SHAPES) {
    for (const { name, k } of kernels) {
      it(`${name}: forward, dx, dW, db, leaky post; B ${B}, I ${I}, O ${O}`, () => {
        const rng = new Rng(`lin-${B}-${I}-${O}`);
        const nP = 3 + O * I + O;
        const p = rand(rng, nP);
        const oW = 3;
        const oB = 3 + O * I;
        const x = rand(rng, B * I);
        for (let t = 0; t < x.length; t += 5) x[t] = 0; // exact zeros reach the leaky branch
        const dz = rand(rng, B * O);
        for (const slope of [0.01, null]) {
          const ref = new Float64Array(B * O);
          refForward(x, B, I, p, oW, oB, O, ref, slope);
          const got = new Float64Array(B * O);
          if (k && O % 2 === 0) k.forward(x, B, I, p, oW, oB, O, got, slope);
          else jsLinearForward(x, B, I, p, oW, oB, O, got, slope);
          expect(Array.from(got)).toEqual(Array.from(ref));
        }
        const g0 = rand(rng, nP); // gradients accumulate onto what is there
        const gRef = Float64Array.from(g0);
        const dxRef = new Float64Array(B * I);
        refBackward(dz, x, B, I, O, p, oW, gRef, oB, dxRef);
        const h = rand(rng, B * I);
        const extra = rand(rng, B * I);
        const postRef = dxRef.map((v, t) => {
          const s = v + extra[t]!;
          return h[t]! > 0 ? s : s * 0.01;
        });
        const g = Float64Array.from(g0);
        const dx = new Float64Array(B * I);
        const wt = new Float64Array(O * I);
        if (k) {
          linearBackward(dz, x, B, I, O, p, oW, g, oB, dx, wt);
          expect(Array.from(dx)).toEqual(Array.from(dxRef));
          expect(Array.from(g)).toEqual(Array.from(gRef));
          linearBackward(dz, x, B, I, O, p, oW, null, oB, dx, wt, { h, extra, slope: 0.01 });
          expect(Array.from(dx)).toEqual(Array.from(postRef));
        } else {
          jsLinearInputGrad(dz, B, I, O, p, oW, dx, wt);
          jsLinearParamGrad(dz, x, B, I, O, g, oW, oB);
          expect(Array.from(dx)).toEqual(Array.from(dxRef));
          expect(Array.from(g)).toEqual(Array.from(gRef));
        }
      });
    }
  }
});

/**
 * The three batched kernels of a linear layer z = x·Wᵀ + b over row-major Float64Array minibatches:
 * forward (with an optional fused leaky ReLU), the input gradient dx = dz·W and the parameter gradients
 * dW += dzᵀ·x, db += Σ_b dz.
 *
 * They are register-blocked (2 rows × 4 outputs per inner loop, so each loaded value feeds several
 * multiply-adds) and the weight gradient is accumulated in registers over chunks of rows instead of a
 * read-modify-write of `g` per row. Every sum is still taken in the same order as the plain per-row loops
 * they replace (kept in `linear.test.ts` as the reference), so results are bit-identical to them.
 */

import { biasGrad } from './bias-grad.js';
import { wasmKernels, type LeakyPost } from './kernels.js';

export type { LeakyPost } from './kernels.js';

/**
 * Smallest batch sent to the WebAssembly kernels: below it (acting, batch 1) copying the weights in
 * costs as much as the arithmetic, and the scalar loops are faster.
 */
const WASM_MIN_BATCH = 8;

/** Rows of the batch per chunk of the weight-gradient loop (dz and x chunks stay in L1). */
const GRAD_CHUNK = 32;

/**
 * out[b,o] = act(bias[o] + Σ_i x[b,i]·W[o,i]) for b < B, o < O; W = p[oW ..] ([O, I] row-major),
 * bias = p[oB ..]; act = leaky ReLU with `slope` (z ≤ 0 → slope·z), or identity when `slope` is null.
 */
export function jsLinearForward(
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
  const O4 = O - (O % 4);
  const B2 = B - (B % 2);
  const leaky = slope !== null;
  const sl = slope ?? 1;
  let b = 0;
  for (; b < B2; b += 2) {
    const xa = b * I;
    const xb = xa + I;
    const oa = b * O;
    const ob = oa + O;
    let o = 0;
    for (; o < O4; o += 4) {
      const w0 = oW + o * I;
      const w1 = w0 + I;
      const w2 = w1 + I;
      const w3 = w2 + I;
      const b0 = p[oB + o]!;
      const b1 = p[oB + o + 1]!;
      const b2 = p[oB + o + 2]!;
      const b3 = p[oB + o + 3]!;
      let a0 = b0;
      let a1 = b1;
      let a2 = b2;
      let a3 = b3;
      let c0 = b0;
      let c1 = b1;
      let c2 = b2;
      let c3 = b3;
      for (let i = 0; i < I; i++) {
        const u = x[xa + i]!;
        const v = x[xb + i]!;
        const q0 = p[w0 + i]!;
        const q1 = p[w1 + i]!;
        const q2 = p[w2 + i]!;
        const q3 = p[w3 + i]!;
        a0 += u * q0;
        a1 += u * q1;
        a2 += u * q2;
        a3 += u * q3;
        c0 += v * q0;
        c1 += v * q1;
        c2 += v * q2;
        c3 += v * q3;
      }
      if (leaky) {
        if (a0 <= 0) a0 *= sl;
        if (a1 <= 0) a1 *= sl;
        if (a2 <= 0) a2 *= sl;
        if (a3 <= 0) a3 *= sl;
        if (c0 <= 0) c0 *= sl;
        if (c1 <= 0) c1 *= sl;
        if (c2 <= 0) c2 *= sl;
        if (c3 <= 0) c3 *= sl;
      }
      out[oa + o] = a0;
      out[oa + o + 1] = a1;
      out[oa + o + 2] = a2;
      out[oa + o + 3] = a3;
      out[ob + o] = c0;
      out[ob + o + 1] = c1;
      out[ob + o + 2] = c2;
      out[ob + o + 3] = c3;
    }
    for (; o < O; o++) {
      const wo = oW + o * I;
      let a = p[oB + o]!;
      let c = a;
      for (let i = 0; i < I; i++) {
        const q = p[wo + i]!;
        a += x[xa + i]! * q;
        c += x[xb + i]! * q;
      }
      out[oa + o] = leaky && a <= 0 ? a * sl : a;
      out[ob + o] = leaky && c <= 0 ? c * sl : c;
    }
  }
  // a last odd row (and batch 1, when acting): four outputs at a time
  for (; b < B; b++) {
    const xa = b * I;
    const oa = b * O;
    let o = 0;
    for (; o < O4; o += 4) {
      const w0 = oW + o * I;
      const w1 = w0 + I;
      const w2 = w1 + I;
      const w3 = w2 + I;
      let a0 = p[oB + o]!;
      let a1 = p[oB + o + 1]!;
      let a2 = p[oB + o + 2]!;
      let a3 = p[oB + o + 3]!;
      for (let i = 0; i < I; i++) {
        const u = x[xa + i]!;
        a0 += u * p[w0 + i]!;
        a1 += u * p[w1 + i]!;
        a2 += u * p[w2 + i]!;
        a3 += u * p[w3 + i]!;
      }
      out[oa + o] = leaky && a0 <= 0 ? a0 * sl : a0;
      out[oa + o + 1] = leaky && a1 <= 0 ? a1 * sl : a1;
      out[oa + o + 2] = leaky && a2 <= 0 ? a2 * sl : a2;
      out[oa + o + 3] = leaky && a3 <= 0 ? a3 * sl : a3;
    }
    for (; o < O; o++) {
      const wo = oW + o * I;
      let a = p[oB + o]!;
      for (let i = 0; i < I; i++) a += x[xa + i]! * p[wo + i]!;
      out[oa + o] = leaky && a <= 0 ? a * sl : a;
    }
  }
}

/**
 * dx = dz·W ([B, I]) for dz [B, O] and W = p[oW ..] ([O, I]). `wt` is scratch of at least O·I values
 * (Wᵀ is written there so the inner loop runs over contiguous memory). Per (b, i) the terms are summed
 * four outputs at a time, (dz₀W₀ + dz₁W₁ + dz₂W₂ + dz₃W₃), block after block, then the remaining outputs
 * one by one: the order of the per-row loop this replaces.
 */
export function jsLinearInputGrad(
  dz: Float64Array,
  B: number,
  I: number,
  O: number,
  p: Float64Array,
  oW: number,
  dx: Float64Array,
  wt: Float64Array,
): void {
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) wt[i * O + o] = p[oW + o * I + i]!;
  const O4 = O - (O % 4);
  const I2 = I - (I % 2);
  for (let b = 0; b < B; b++) {
    const zb = b * O;
    const xb = b * I;
    let i = 0;
    for (; i < I2; i += 2) {
      const ta = i * O;
      const tb = ta + O;
      let a = 0;
      let c = 0;
      let o = 0;
      for (; o < O4; o += 4) {
        const d0 = dz[zb + o]!;
        const d1 = dz[zb + o + 1]!;
        const d2 = dz[zb + o + 2]!;
        const d3 = dz[zb + o + 3]!;
        a += d0 * wt[ta + o]! + d1 * wt[ta + o + 1]! + d2 * wt[ta + o + 2]! + d3 * wt[ta + o + 3]!;
        c += d0 * wt[tb + o]! + d1 * wt[tb + o + 1]! + d2 * wt[tb + o + 2]! + d3 * wt[tb + o + 3]!;
      }
      for (; o < O; o++) {
        const d = dz[zb + o]!;
        a += d * wt[ta + o]!;
        c += d * wt[tb + o]!;
      }
      dx[xb + i] = a;
      dx[xb + i + 1] = c;
    }
    for (; i < I; i++) {
      const ta = i * O;
      let a = 0;
      let o = 0;
      for (; o < O4; o += 4)
        a +=
          dz[zb + o]! * wt[ta + o]! +
          dz[zb + o + 1]! * wt[ta + o + 1]! +
          dz[zb + o + 2]! * wt[ta + o + 2]! +
          dz[zb + o + 3]! * wt[ta + o + 3]!;
      for (; o < O; o++) a += dz[zb + o]! * wt[ta + o]!;
      dx[xb + i] = a;
    }
  }
}

/**
 * g[oW + o·I + i] += Σ_b dz[b,o]·x[b,i] and g[oB + o] += Σ_b dz[b,o], the rows added one at a time in
 * order b = 0, 1, … (the per-row loop's order), held in registers over chunks of `GRAD_CHUNK` rows.
 */
export function jsLinearParamGrad(
  dz: Float64Array,
  x: Float64Array,
  B: number,
  I: number,
  O: number,
  g: Float64Array,
  oW: number,
  oB: number,
): void {
  biasGrad(dz, B, O, g, oB);
  const O4 = O - (O % 4);
  const I2 = I - (I % 2);
  for (let b0 = 0; b0 < B; b0 += GRAD_CHUNK) {
    const b1 = Math.min(B, b0 + GRAD_CHUNK);
    let o = 0;
    for (; o < O4; o += 4) {
      const r0 = oW + o * I;
      const r1 = r0 + I;
      const r2 = r1 + I;
      const r3 = r2 + I;
      let i = 0;
      for (; i < I2; i += 2) {
        let a0 = g[r0 + i]!;
        let a1 = g[r1 + i]!;
        let a2 = g[r2 + i]!;
        let a3 = g[r3 + i]!;
        let c0 = g[r0 + i + 1]!;
        let c1 = g[r1 + i + 1]!;
        let c2 = g[r2 + i + 1]!;
        let c3 = g[r3 + i + 1]!;
        for (let b = b0; b < b1; b++) {
          const zb = b * O + o;
          const xb = b * I + i;
          const d0 = dz[zb]!;
          const d1 = dz[zb + 1]!;
          const d2 = dz[zb + 2]!;
          const d3 = dz[zb + 3]!;
          const u = x[xb]!;
          const v = x[xb + 1]!;
          a0 += d0 * u;
          a1 += d1 * u;
          a2 += d2 * u;
          a3 += d3 * u;
          c0 += d0 * v;
          c1 += d1 * v;
          c2 += d2 * v;
          c3 += d3 * v;
        }
        g[r0 + i] = a0;
        g[r1 + i] = a1;
        g[r2 + i] = a2;
        g[r3 + i] = a3;
        g[r0 + i + 1] = c0;
        g[r1 + i + 1] = c1;
        g[r2 + i + 1] = c2;
        g[r3 + i + 1] = c3;
      }
      for (; i < I; i++) {
        let a0 = g[r0 + i]!;
        let a1 = g[r1 + i]!;
        let a2 = g[r2 + i]!;
        let a3 = g[r3 + i]!;
        for (let b = b0; b < b1; b++) {
          const zb = b * O + o;
          const u = x[b * I + i]!;
          a0 += dz[zb]! * u;
          a1 += dz[zb + 1]! * u;
          a2 += dz[zb + 2]! * u;
          a3 += dz[zb + 3]! * u;
        }
        g[r0 + i] = a0;
        g[r1 + i] = a1;
        g[r2 + i] = a2;
        g[r3 + i] = a3;
      }
    }
    for (; o < O; o++) {
      const r = oW + o * I;
      for (let i = 0; i < I; i++) {
        let a = g[r + i]!;
        for (let b = b0; b < b1; b++) a += dz[b * O + o]! * x[b * I + i]!;
        g[r + i] = a;
      }
    }
  }
}

/**
 * Forward a linear layer (see `jsLinearForward`), on the WebAssembly SIMD kernels when they load and the
 * output width is even, otherwise on the scalar loop; both give the same bits.
 */
export function linearForward(
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
  const k = B >= WASM_MIN_BATCH ? wasmKernels() : null;
  if (k && O % 2 === 0) k.forward(x, B, I, p, oW, oB, O, out, slope);
  else jsLinearForward(x, B, I, p, oW, oB, O, out, slope);
}

/**
 * Backward through a linear layer: dx = dz·W ([B, I]), followed by `post` (dx += extra, then the leaky
 * ReLU backward of the layer below) and, when `g` is given, the parameter gradients added into it (`jsLinearInputGrad`, `jsLinearParamGrad`). `wt` is scratch of O·I values for the scalar
 * path. WebAssembly SIMD when it loads and I is even; the bias gradient always in the scalar loop.
 */
export function linearBackward(
  dz: Float64Array,
  x: Float64Array,
  B: number,
  I: number,
  O: number,
  p: Float64Array,
  oW: number,
  g: Float64Array | null,
  oB: number,
  dx: Float64Array,
  wt: Float64Array,
  post: LeakyPost | null = null,
): void {
  const k = B >= WASM_MIN_BATCH ? wasmKernels() : null;
  if (k && I % 2 === 0) {
    k.backward(dz, x, B, I, O, p, oW, g, dx, post, oB);
    return;
  }
  jsLinearInputGrad(dz, B, I, O, p, oW, dx, wt);
  if (g !== null) jsLinearParamGrad(dz, x, B, I, O, g, oW, oB);
  if (post) {
    const n = B * I;
    const { h, extra, slope } = post;
    if (extra) for (let k = 0; k < n; k++) dx[k]! += extra[k]!;
    for (let k = 0; k < n; k++) if (!(h[k]! > 0)) dx[k]! *= slope;
  }
}

/**
 * The SOO objective as a float64 reference on plain arrays (method.md section 1). Backends compute the
 * same quantities on their own tensors and are tested against these functions.
 *
 * Activations are row-major [B, T, H] arrays. A mask is [B, T] with 1 for real tokens, 0 for padding.
 */
import { InvalidArgumentError } from './errors.js';

/**
 * How the hooked activations of a self prompt and its other twin are aligned before the MSE:
 * - `last`: the last non-pad position of each prompt ([B, H] each). The default.
 * - `full`: both prompts right-padded with the pad id to one length; elementwise MSE over [B, T, H],
 *   pad positions included (the paper-era replication's reading).
 * - `mean`: the mean over the non-pad positions of each prompt ([B, H] each).
 */
export type Pooling = 'last' | 'full' | 'mean';
export const POOLINGS: readonly Pooling[] = ['last', 'full', 'mean'];

export interface Activations {
  /** Row-major [batch, tokens, hidden]. */
  data: ArrayLike<number>;
  shape: readonly [number, number, number];
  /** [batch, tokens], 1 = real token, 0 = pad. Omitted: every position is real. */
  mask?: ArrayLike<number>;
}

function checkActs(a: Activations, label: string): void {
  const [b, t, h] = a.shape;
  if (a.data.length !== b * t * h) {
    throw new InvalidArgumentError(
      'SHAPE_MISMATCH',
      `${label}: data has ${a.data.length} values, expected ${b}x${t}x${h} = ${b * t * h}`,
    );
  }
  if (a.mask && a.mask.length !== b * t) {
    throw new InvalidArgumentError(
      'SHAPE_MISMATCH',
      `${label}: mask has ${a.mask.length} values, expected ${b}x${t} = ${b * t}`,
    );
  }
}

/** Index of the last non-pad position of each row (throws on an all-pad row). */
export function lastPositions(mask: ArrayLike<number> | undefined, batch: number, tokens: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    let last = -1;
    for (let t = 0; t < tokens; t++) if (!mask || (mask[b * tokens + t] as number) !== 0) last = t;
    if (last < 0) throw new InvalidArgumentError('INVALID_ARGUMENT', `row ${b} has no non-pad position`);
    out.push(last);
  }
  return out;
}

/** Pool [B, T, H] activations to [B, H] (`last` / `mean`), in float64. */
export function poolActivations(a: Activations, pooling: 'last' | 'mean'): Float64Array {
  checkActs(a, 'activations');
  const [B, T, H] = a.shape;
  const out = new Float64Array(B * H);
  if (pooling === 'last') {
    const last = lastPositions(a.mask, B, T);
    for (let b = 0; b < B; b++) {
      const base = (b * T + (last[b] as number)) * H;
      for (let h = 0; h < H; h++) out[b * H + h] = a.data[base + h] as number;
    }
    return out;
  }
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let t = 0; t < T; t++) {
      if (a.mask && (a.mask[b * T + t] as number) === 0) continue;
      n++;
      const base = (b * T + t) * H;
      for (let h = 0; h < H; h++) out[b * H + h] = (out[b * H + h] as number) + (a.data[base + h] as number);
    }
    if (n === 0) throw new InvalidArgumentError('INVALID_ARGUMENT', `row ${b} has no non-pad position`);
    for (let h = 0; h < H; h++) out[b * H + h] = (out[b * H + h] as number) / n;
  }
  return out;
}

/** Mean squared error of two equal-length arrays, in float64. */
export function mse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length)
    throw new InvalidArgumentError('SHAPE_MISMATCH', `mse: lengths differ (${a.length} vs ${b.length})`);
  if (a.length === 0) throw new InvalidArgumentError('INVALID_ARGUMENT', 'mse of empty arrays');
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    s += d * d;
  }
  return s / a.length;
}

/**
 * SOO loss = MSE(A_self, A_other) at one hook under a pooling. For `full` both tensors must have the same
 * shape (the caller right-pads both prompts to one length before the forward passes).
 */
export function sooLoss(self: Activations, other: Activations, pooling: Pooling = 'last'): number {
  checkActs(self, 'self');
  checkActs(other, 'other');
  const [bs, , hs] = self.shape;
  const [bo, , ho] = other.shape;
  if (bs !== bo || hs !== ho) {
    throw new InvalidArgumentError(
      'SHAPE_MISMATCH',
      `self [${self.shape.join(', ')}] and other [${other.shape.join(', ')}] differ in batch or hidden size`,
    );
  }
  if (pooling === 'full') {
    if (self.shape[1] !== other.shape[1]) {
      throw new InvalidArgumentError(
        'SHAPE_MISMATCH',
        `pooling "full" needs equal token counts (self ${self.shape[1]}, other ${other.shape[1]}): right-pad both prompts to one length first`,
      );
    }
    return mse(self.data, other.data);
  }
  return mse(poolActivations(self, pooling), poolActivations(other, pooling));
}

/**
 * Gradient of `sooLoss` with respect to the self and the other activations ([B, T, H] each), float64.
 * d/dA_self = 2 (P_self − P_other) / N pushed back through the pooling; d/dA_other is its negative image.
 */
export function sooLossGrad(
  self: Activations,
  other: Activations,
  pooling: Pooling = 'last',
): { self: Float64Array; other: Float64Array } {
  sooLoss(self, other, pooling); // validates shapes
  const [B, Ts, H] = self.shape;
  const To = other.shape[1];
  const gs = new Float64Array(B * Ts * H);
  const go = new Float64Array(B * To * H);
  if (pooling === 'full') {
    const n = self.data.length;
    for (let i = 0; i < n; i++) {
      const d = (2 * ((self.data[i] as number) - (other.data[i] as number))) / n;
      gs[i] = d;
      go[i] = -d;
    }
    return { self: gs, other: go };
  }
  const ps = poolActivations(self, pooling);
  const po = poolActivations(other, pooling);
  const n = B * H;
  const scatter = (g: Float64Array, a: Activations, T: number, sign: number): void => {
    if (pooling === 'last') {
      const last = lastPositions(a.mask, B, T);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          g[(b * T + (last[b] as number)) * H + h] =
            (sign * 2 * ((ps[b * H + h] as number) - (po[b * H + h] as number))) / n;
      return;
    }
    for (let b = 0; b < B; b++) {
      let cnt = 0;
      for (let t = 0; t < T; t++) if (!a.mask || (a.mask[b * T + t] as number) !== 0) cnt++;
      for (let t = 0; t < T; t++) {
        if (a.mask && (a.mask[b * T + t] as number) === 0) continue;
        for (let h = 0; h < H; h++)
          g[(b * T + t) * H + h] =
            (sign * 2 * ((ps[b * H + h] as number) - (po[b * H + h] as number))) / n / cnt;
      }
    }
  };
  scatter(gs, self, Ts, 1);
  scatter(go, other, To, -1);
  return { self: gs, other: go };
}

/** One probe pair's activations per module name. */
export type ModuleActivations = Record<string, { self: Activations; other: Activations }>;

export interface LatentSooResult {
  /** Mean over pairs of the per-pair module average. Lower = more overlap. */
  mean: number;
  /** Per module, averaged over pairs. */
  perModule: Record<string, number>;
  /** Per pair, averaged over modules. */
  perPair: number[];
}

/**
 * Latent SOO (method.md section 3): per module, the MSE of the self and other activation tensors;
 * averaged over modules, then over pairs. `pooling` decides the alignment exactly as in `sooLoss`.
 */
export function latentSoo(pairs: readonly ModuleActivations[], pooling: Pooling = 'last'): LatentSooResult {
  if (pairs.length === 0)
    throw new InvalidArgumentError('INVALID_ARGUMENT', 'latentSoo needs at least one pair');
  const sums: Record<string, number> = {};
  const counts: Record<string, number> = {};
  const perPair: number[] = [];
  for (const pair of pairs) {
    const names = Object.keys(pair);
    if (names.length === 0)
      throw new InvalidArgumentError('INVALID_ARGUMENT', 'latentSoo: a pair has no modules');
    let s = 0;
    for (const name of names) {
      const m = pair[name] as { self: Activations; other: Activations };
      const v = sooLoss(m.self, m.other, pooling);
      s += v;
      sums[name] = (sums[name] ?? 0) + v;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    perPair.push(s / names.length);
  }
  const perModule: Record<string, number> = {};
  for (const k of Object.keys(sums)) perModule[k] = (sums[k] as number) / (counts[k] as number);
  return { mean: perPair.reduce((a, b) => a + b, 0) / perPair.length, perModule, perPair };
}

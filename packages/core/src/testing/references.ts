/**
 * What the conformance suite compares against: the oracle fixtures (`reference.json` and
 * `reference.safetensors`, computed by transformers + PEFT in float64), and float64 references that core
 * computes from a backend's own outputs where the oracle has no value (other poolings, KL, next-token
 * loss, AdamW with other options). Each float64 reference comes with its condition number where
 * cancellation makes the value sensitive to its inputs (see `tolerances.ts`).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { AdamWStepOptions, HostTensor } from '../backend-spec.js';
import { SafetensorsFile } from '../safetensors/index.js';
import { bf16ToF32, f32ToBf16 } from '../safetensors/dtypes.js';

export interface OracleJson {
  input_ids: number[];
  padded: { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][] };
  greedy: { prompt_ids: number[]; output_ids: number[] };
  lora: { hook: string };
  soo: {
    self_ids: number[];
    other_ids: number[];
    loss: number;
    adamw: {
      lr: number;
      betas: [number, number];
      eps: number;
      weight_decay: number;
      steps: number;
      losses_before_each_step_then_final: number[];
    };
  };
  num_hidden_layers: number;
  /** Set on fixtures whose weights were saved in bf16. */
  saved_bf16?: boolean;
}

export interface Oracle {
  json: OracleJson;
  tensors: Map<string, Float32Array>;
}

export async function loadOracle(dir: string): Promise<Oracle> {
  const json = JSON.parse(await fsp.readFile(path.join(dir, 'reference.json'), 'utf8')) as OracleJson;
  const file = await SafetensorsFile.open(path.join(dir, 'reference.safetensors'));
  const tensors = new Map<string, Float32Array>();
  try {
    for (const name of file.names()) tensors.set(name, await file.readFloat32(name));
  } finally {
    await file.close();
  }
  return { json, tensors };
}

export function oracleTensor(o: Oracle, name: string): Float32Array {
  const t = o.tensors.get(name);
  if (!t) throw new Error(`reference.safetensors has no tensor "${name}"`);
  return t;
}

/** Round every value to the nearest bfloat16 (ties to even), kept as float32. */
export function roundToBf16(a: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = bf16ToF32(f32ToBf16(a[i] as number));
  return out;
}

/** Rows [r] of a [rows, tokens, width] tensor, positions [from, to). */
export function slicePositions(t: HostTensor, row: number, from: number, to: number): Float32Array {
  const [, T, W] = t.shape as [number, number, number];
  return t.data.slice((row * T + from) * W, (row * T + to) * W);
}

// ---------------------------------------------------------------------------------------------
// SOO
// ---------------------------------------------------------------------------------------------

/**
 * The SOO objective's value in float64 from per-row hook outputs (each [tokens_r, width], unpadded, in
 * the batch's row order [self..., other...]) and per-row pooling weights over the real tokens (null: no
 * pooling, every position; rows of a pair must then have equal lengths). Returns the value and its
 * condition number κ = Σ |∂v/∂x|·|x| / v over the pooled inputs.
 */
export function sooReference(
  rows: readonly Float32Array[],
  width: number,
  weights: readonly (Float64Array | null)[] | null,
): { value: number; kappa: number } {
  const P = rows.length / 2;
  const pooled = rows.map((r, i) => {
    const w = weights?.[i];
    if (!w) return Float64Array.from(r);
    const out = new Float64Array(width);
    for (let t = 0; t < w.length; t++) {
      const wt = w[t] as number;
      if (wt !== 0)
        for (let h = 0; h < width; h++) out[h] = (out[h] as number) + wt * (r[t * width + h] as number);
    }
    return out;
  });
  let sum = 0;
  let sens = 0;
  let n = 0;
  for (let p = 0; p < P; p++) {
    const s = pooled[p] as Float64Array;
    const o = pooled[P + p] as Float64Array;
    if (s.length !== o.length) throw new Error(`SOO reference: pair ${p} has rows of different lengths`);
    for (let i = 0; i < s.length; i++) {
      const d = (s[i] as number) - (o[i] as number);
      sum += d * d;
      sens += 2 * Math.abs(d) * (Math.abs(s[i] as number) + Math.abs(o[i] as number));
    }
    n += s.length;
  }
  const value = sum / n;
  return { value, kappa: value > 0 ? sens / n / value : Infinity };
}

// ---------------------------------------------------------------------------------------------
// Logits: cross-entropy and KL, float64
// ---------------------------------------------------------------------------------------------

function logSoftmax(z: ArrayLike<number>, from: number, V: number): Float64Array {
  let max = -Infinity;
  for (let j = 0; j < V; j++) max = Math.max(max, z[from + j] as number);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp((z[from + j] as number) - max);
  const lse = max + Math.log(s);
  const out = new Float64Array(V);
  for (let j = 0; j < V; j++) out[j] = (z[from + j] as number) - lse;
  return out;
}

/**
 * Σ_t w[t] · CE(logits[t], target[t]) over one row's positions ([tokens, V] logits), with its componentwise
 * condition number numerator Σ w |∂CE/∂z|·|z| (divide the batch's sum of these by the value).
 */
export function crossEntropyReference(
  logits: Float32Array,
  V: number,
  targets: readonly number[],
  weights: readonly number[],
): { value: number; sensitivity: number } {
  let value = 0;
  let sensitivity = 0;
  for (let t = 0; t < targets.length; t++) {
    const w = weights[t] as number;
    if (w === 0) continue;
    const lp = logSoftmax(logits, t * V, V);
    const target = targets[t] as number;
    value += -w * (lp[target] as number);
    for (let j = 0; j < V; j++) {
      const g = Math.exp(lp[j] as number) - (j === target ? 1 : 0);
      sensitivity += w * Math.abs(g) * Math.abs(logits[t * V + j] as number);
    }
  }
  return { value, sensitivity };
}

/**
 * Σ_t w[t] · KL(softmax(base[t]) || softmax(tuned[t])) over one row ([tokens, V] each), with the
 * componentwise condition number numerator (as `crossEntropyReference`).
 */
export function klReference(
  base: Float32Array,
  tuned: Float32Array,
  V: number,
  weights: readonly number[],
): { value: number; sensitivity: number } {
  let value = 0;
  let sensitivity = 0;
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t] as number;
    if (w === 0) continue;
    const lp = logSoftmax(base, t * V, V);
    const lq = logSoftmax(tuned, t * V, V);
    let kl = 0;
    for (let j = 0; j < V; j++) kl += Math.exp(lp[j] as number) * ((lp[j] as number) - (lq[j] as number));
    value += w * kl;
    for (let j = 0; j < V; j++) {
      const p = Math.exp(lp[j] as number);
      const q = Math.exp(lq[j] as number);
      const dA = p * ((lp[j] as number) - (lq[j] as number) - kl);
      const dB = q - p;
      sensitivity +=
        w *
        (Math.abs(dA) * Math.abs(base[t * V + j] as number) +
          Math.abs(dB) * Math.abs(tuned[t * V + j] as number));
    }
  }
  return { value, sensitivity };
}

// ---------------------------------------------------------------------------------------------
// AdamW, float64 (torch.optim.AdamW, per-parameter step counts)
// ---------------------------------------------------------------------------------------------

export interface AdamWReferenceState {
  step: Map<string, number>;
  expAvg: Map<string, Float64Array>;
  expAvgSq: Map<string, Float64Array>;
}

export function newAdamWReferenceState(): AdamWReferenceState {
  return { step: new Map(), expAvg: new Map(), expAvgSq: new Map() };
}

/**
 * One torch.optim.AdamW step in float64 on every parameter with a gradient (others untouched), gradients
 * multiplied by `gradScale` first. Mutates `params` (float64 copies) and `state`.
 */
export function adamwReferenceStep(
  params: Map<string, Float64Array>,
  grads: ReadonlyMap<string, HostTensor>,
  state: AdamWReferenceState,
  o: AdamWStepOptions,
): void {
  const [b1, b2] = o.betas;
  for (const [name, g] of grads) {
    const p = params.get(name);
    if (!p) throw new Error(`AdamW reference: gradient for unknown parameter "${name}"`);
    const t = (state.step.get(name) ?? 0) + 1;
    state.step.set(name, t);
    const m = state.expAvg.get(name) ?? new Float64Array(p.length);
    const v = state.expAvgSq.get(name) ?? new Float64Array(p.length);
    state.expAvg.set(name, m);
    state.expAvgSq.set(name, v);
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    const stepSize = o.lr / bc1;
    for (let i = 0; i < p.length; i++) {
      const gi = (g.data[i] as number) * o.gradScale;
      p[i] = (p[i] as number) * (1 - o.lr * o.weightDecay);
      m[i] = b1 * (m[i] as number) + (1 - b1) * gi;
      v[i] = b2 * (v[i] as number) + (1 - b2) * gi * gi;
      const denom = Math.sqrt(v[i] as number) / Math.sqrt(bc2) + o.eps;
      p[i] = (p[i] as number) - (stepSize * (m[i] as number)) / denom;
    }
  }
}

/** Float64 dot product of two tensor maps over the keys of `a` (missing keys in `b` count as zeros). */
export function dotMaps(
  a: ReadonlyMap<string, ArrayLike<number>>,
  b: ReadonlyMap<string, ArrayLike<number>>,
): number {
  let s = 0;
  for (const [k, x] of a) {
    const y = b.get(k);
    if (!y) continue;
    for (let i = 0; i < x.length; i++) s += (x[i] as number) * (y[i] as number);
  }
  return s;
}

export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) ** 2;
  return Math.sqrt(s);
}

export function rms(a: ArrayLike<number>): number {
  return a.length ? norm(a) / Math.sqrt(a.length) : 0;
}

/** Adam (PyTorch semantics), global-norm gradient clipping and Polyak averaging over flat arrays. */
import { InvalidArgumentError } from '@soo/core';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly m: Float64Array;
  readonly v: Float64Array;
  t = 0;

  constructor(n: number, opts: AdamOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
  }

  /** p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε), as torch.optim.Adam. */
  step(params: Float64Array, grads: Float64Array): void {
    if (params.length !== this.m.length || grads.length !== this.m.length) {
      throw new InvalidArgumentError('SHAPE_MISMATCH', 'Adam.step(): parameter count changed');
    }
    this.t++;
    const { beta1: b1, beta2: b2, eps, m, v } = this;
    const bc1 = 1 - Math.pow(b1, this.t);
    const bc2s = Math.sqrt(1 - Math.pow(b2, this.t));
    const stepSize = this.lr / bc1;
    for (let k = 0; k < params.length; k++) {
      const gk = grads[k]!;
      const mk = b1 * m[k]! + (1 - b1) * gk;
      const vk = b2 * v[k]! + (1 - b2) * gk * gk;
      m[k] = mk;
      v[k] = vk;
      params[k]! -= (stepSize * mk) / (Math.sqrt(vk) / bc2s + eps);
    }
  }
}

/** torch.nn.utils.clip_grad_norm_: scale by max/(norm + 1e-6) when that is < 1. Returns the norm. */
export function clipGradNorm(grads: Float64Array, maxNorm: number): number {
  let s = 0;
  for (let k = 0; k < grads.length; k++) s += grads[k]! * grads[k]!;
  const norm = Math.sqrt(s);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (let k = 0; k < grads.length; k++) grads[k]! *= coef;
  return norm;
}

/** target ← (1 − τ)·target + τ·source. */
export function softUpdate(target: Float64Array, source: Float64Array, tau: number): void {
  for (let k = 0; k < target.length; k++) target[k] = (1 - tau) * target[k]! + tau * source[k]!;
}

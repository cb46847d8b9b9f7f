/**
 * Error budgets of the conformance suite, per compute dtype.
 *
 * Every comparison is a relative error ‖out − ref‖ / ‖ref‖ in float64 against a float64 reference (the
 * oracle, or a value core recomputes in float64 from the backend's own outputs). Token ids are exact at
 * every dtype, except that a bf16/fp16 greedy decode may take the other branch of a near tie (see
 * `checks-generate.ts`).
 *
 * float32 (unit roundoff 2^-24 ≈ 6e-8): what tfjs meets against the float64 oracle with a wide margin.
 * Logits and activations pass through L layers of dot products of length ≤ hidden/intermediate, so their
 * error is a few 1e-6; the 1e-4 budget of the fixtures' README leaves room for other summation orders.
 * Gradients go through the backward pass as well (twice the depth) and AdamW divides by √v, so 1e-3.
 *
 * bfloat16 (8-bit significand: unit roundoff u = 2^-8 ≈ 3.9e-3; rounding one value to nearest costs at most
 * u/2 ≈ 2e-3 relative, about u/√12 ≈ 1.1e-3 RMS). A backend computing in bf16 rounds the weights once and
 * every activation after each op (with float32 accumulators inside matmuls). On the fixtures' 2-4 layers
 * that is n ≈ 10-20 roundings along any path, and independent rounding errors compound like √n · u/√12 ≈
 * 5e-3; transformers' own bf16-vs-fp32 logits differ by about that much. The budgets are that, times ~6
 * for deeper paths and unlucky alignment:
 *   logits, activations  3e-2   (≈ 8 u)
 *   loss                 3e-2   relative to the loss's condition number (below)
 *   gradients            6e-2   (a backward pass doubles the path)
 *   AdamW parameters     3e-2   (parameters move by ~lr per step; the error is a share of the move)
 *   directional          6e-2   (finite differences of a bf16 loss)
 * float16 has a 11-bit significand (u = 2^-11 ≈ 4.9e-4): the same reasoning, 8x tighter.
 *
 * SOO losses compare nearly equal activations (self and other differ by one token), so a relative error ε
 * in the activations becomes κ·ε in the loss, with κ = Σ 2|d|(|s|+|o|) / Σ d² (d = s − o) its condition
 * number. A loss check's budget is `loss × max(1, κ)`: the same demand on the activations at every dtype,
 * and the plain relative budget when the loss is well conditioned. κ is reported with the error.
 */
import type { ComputeDtype } from '../backend-spec.js';

export interface ConformanceTolerances {
  /** Logits (all / last, prefill, decode), relative error. */
  logits: number;
  /** Captured activations, relative error. */
  activations: number;
  /** Objective values, relative error (SOO losses: times their condition number, at least 1). */
  loss: number;
  /** Accumulated gradients and the gradient norm, relative error. */
  grads: number;
  /** Parameters after AdamW steps, relative error (of the parameters, and of their change). */
  adamw: number;
  /** Finite-difference directional derivatives against grad · direction, relative error. */
  directional: number;
}

export const FLOAT32_TOLERANCES: ConformanceTolerances = {
  logits: 1e-4,
  activations: 1e-4,
  loss: 1e-4,
  grads: 1e-3,
  adamw: 1e-3,
  directional: 2e-3,
};

/** bf16's unit roundoff 2^-8. */
export const BF16_UNIT_ROUNDOFF = 2 ** -8;

export const BFLOAT16_TOLERANCES: ConformanceTolerances = {
  logits: 8 * BF16_UNIT_ROUNDOFF,
  activations: 8 * BF16_UNIT_ROUNDOFF,
  loss: 8 * BF16_UNIT_ROUNDOFF,
  grads: 16 * BF16_UNIT_ROUNDOFF,
  adamw: 8 * BF16_UNIT_ROUNDOFF,
  directional: 16 * BF16_UNIT_ROUNDOFF,
};

/** fp16's unit roundoff 2^-11: bf16's budgets scaled by 2^-3. */
export const FLOAT16_TOLERANCES: ConformanceTolerances = {
  logits: 8 * 2 ** -11,
  activations: 8 * 2 ** -11,
  loss: 8 * 2 ** -11,
  grads: 16 * 2 ** -11,
  adamw: 8 * 2 ** -11,
  directional: 16 * 2 ** -11,
};

/** The default budgets of a compute dtype. */
export function defaultTolerances(dtype: ComputeDtype): ConformanceTolerances {
  if (dtype === 'bfloat16') return { ...BFLOAT16_TOLERANCES };
  if (dtype === 'float16') return { ...FLOAT16_TOLERANCES };
  return { ...FLOAT32_TOLERANCES };
}

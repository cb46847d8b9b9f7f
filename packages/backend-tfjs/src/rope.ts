/**
 * Rotary position embeddings on the host for the tfjs decoder: cos/sin tables from core's inverse
 * frequencies (`ropeFrequencies`, exactly as transformers computes them), in float32 like the rotary module's
 * forward with autocast disabled. q and k are then rotated with the `rotate_half` convention:
 * `x * cos + rotate_half(x) * sin`, `rotate_half([x1, x2]) = [-x2, x1]` over the two halves of head_dim.
 */
import type { RopeFrequencies } from '@soo/core/browser';

const f = Math.fround;

/**
 * cos and sin tables for positions `[B][T]`: row-major [B, T, head_dim], each half repeated
 * (`emb = cat(freqs, freqs)`), times the attention scaling, as float32.
 */
export function ropeTables(
  freq: RopeFrequencies,
  positions: readonly (readonly number[])[],
  headDim: number,
): { cos: Float32Array; sin: Float32Array } {
  const B = positions.length;
  const T = positions[0]?.length ?? 0;
  const half = headDim / 2;
  const cos = new Float32Array(B * T * headDim);
  const sin = new Float32Array(B * T * headDim);
  const sc = freq.attentionScaling;
  for (let b = 0; b < B; b++) {
    const row = positions[b] as readonly number[];
    for (let t = 0; t < T; t++) {
      const p = row[t] as number;
      const o = (b * T + t) * headDim;
      for (let i = 0; i < half; i++) {
        const ang = f((freq.invFreq[i] as number) * p);
        const c = f(f(Math.cos(ang)) * sc);
        const s = f(f(Math.sin(ang)) * sc);
        cos[o + i] = c;
        cos[o + half + i] = c;
        sin[o + i] = s;
        sin[o + half + i] = s;
      }
    }
  }
  return { cos, sin };
}

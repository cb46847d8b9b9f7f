/**
 * Rotary position embeddings exactly as transformers computes them.
 *
 * transformers builds `inv_freq` in float32 (`modeling_rope_utils.py`), and the rotary module's forward
 * multiplies it by the positions and takes cos/sin in float32 with autocast disabled, whatever the model
 * dtype. We do the same arithmetic in float64 with `Math.fround` after each float32 operation, so the tables
 * match HF's to the last bit or so. q and k are then rotated with the `rotate_half` convention:
 * `x * cos + rotate_half(x) * sin`, `rotate_half([x1, x2]) = [-x2, x1]` over the two halves of head_dim.
 */
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, type DecoderConfig, type WeightDtype } from '@soo/core';

const f = Math.fround;

/**
 * Round a float32 value to `dtype` (round to nearest even). Used to reproduce transformers loading a
 * checkpoint in its saved dtype: `from_pretrained(dtype='auto')` casts float buffers too, so a bf16
 * checkpoint's `inv_freq` (and Gemma-2's embedding normaliser) hold bf16-rounded values even when the
 * activations are later upcast.
 */
export function roundToDtype(value: number, dtype: WeightDtype): number {
  switch (dtype) {
    case 'float32':
      return f(value);
    case 'bfloat16':
      return bf16ToF32(f32ToBf16(value));
    case 'float16':
      return f16ToF32(f32ToF16(value));
  }
}

export interface RopeFrequencies {
  /** head_dim / 2 inverse frequencies (float32 values). */
  invFreq: Float64Array;
  /** Multiplier on cos and sin (YaRN's attention factor; 1 otherwise). */
  attentionScaling: number;
}

/** HF `_compute_default_rope_parameters`: 1 / base^(arange(0, dim, 2) / dim), in float32. */
function defaultInvFreq(base: number, dim: number): Float64Array {
  const out = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const e = f((2 * i) / dim);
    out[i] = f(1 / f(Math.pow(base, e)));
  }
  return out;
}

/**
 * The inverse frequencies for a forward pass. `seqLen` (max position + 1) only matters for `dynamic` NTK
 * scaling, which recomputes the base when the sequence outgrows `original_max_position_embeddings`.
 * `bufferDtype` is the dtype the `inv_freq` buffer is held in (float32 unless emulating a model loaded in a
 * narrower dtype; dynamic NTK's runtime recomputation is float32 either way, as in transformers).
 */
export function ropeFrequencies(
  config: DecoderConfig,
  seqLen = 0,
  bufferDtype: WeightDtype = 'float32',
): RopeFrequencies {
  const freq = computeFrequencies(config, seqLen);
  const recomputed =
    config.ropeScaling.type === 'dynamic' && seqLen > config.ropeScaling.originalMaxPositionEmbeddings;
  if (!recomputed && bufferDtype !== 'float32') {
    for (let i = 0; i < freq.invFreq.length; i++)
      freq.invFreq[i] = roundToDtype(freq.invFreq[i] as number, bufferDtype);
  }
  return freq;
}

function computeFrequencies(config: DecoderConfig, seqLen: number): RopeFrequencies {
  const dim = config.headDim;
  const base = config.ropeTheta;
  const s = config.ropeScaling;
  switch (s.type) {
    case 'default':
      return { invFreq: defaultInvFreq(base, dim), attentionScaling: 1 };
    case 'linear': {
      const inv = defaultInvFreq(base, dim);
      for (let i = 0; i < inv.length; i++) inv[i] = f((inv[i] as number) / s.factor);
      return { invFreq: inv, attentionScaling: 1 };
    }
    case 'dynamic': {
      // HF `_compute_dynamic_ntk_parameters` with seq_len = max(seq_len, original max).
      const maxPos = s.originalMaxPositionEmbeddings;
      if (seqLen <= maxPos) return { invFreq: defaultInvFreq(base, dim), attentionScaling: 1 };
      const newBase = base * Math.pow((s.factor * seqLen) / maxPos - (s.factor - 1), dim / (dim - 2));
      return { invFreq: defaultInvFreq(newBase, dim), attentionScaling: 1 };
    }
    case 'llama3': {
      const inv = defaultInvFreq(base, dim);
      const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
      const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
      for (let i = 0; i < inv.length; i++) {
        const x = inv[i] as number;
        const wavelen = f((2 * Math.PI) / x);
        let v = wavelen > lowFreqWavelen ? f(x / s.factor) : x;
        const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
        if (isMedium) {
          const smooth = f(
            f(f(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) /
              (s.highFreqFactor - s.lowFreqFactor),
          );
          v = f(f(f(f(1 - smooth) * v) / s.factor) + f(smooth * v));
        }
        inv[i] = v;
      }
      return { invFreq: inv, attentionScaling: 1 };
    }
    case 'yarn': {
      const getMscale = (scale: number): number => (scale <= 1 ? 1 : 0.1 * Math.log(scale) + 1);
      const attentionScaling = s.attentionFactor ?? getMscale(s.factor);
      const correctionDim = (rot: number): number =>
        (dim * Math.log(s.originalMaxPositionEmbeddings / (rot * 2 * Math.PI))) / (2 * Math.log(base));
      const low = Math.max(Math.floor(correctionDim(s.betaFast)), 0);
      let high = Math.min(Math.ceil(correctionDim(s.betaSlow)), dim - 1);
      if (low === high) high += 0.001;
      const half = dim / 2;
      const inv = new Float64Array(half);
      for (let i = 0; i < half; i++) {
        const posFreq = f(Math.pow(base, f((2 * i) / dim)));
        const extrap = f(1 / posFreq);
        const interp = f(1 / f(s.factor * posFreq));
        const ramp = Math.min(Math.max(f(f(i - low) / f(high - low)), 0), 1);
        const extrapFactor = f(1 - ramp);
        inv[i] = f(f(interp * f(1 - extrapFactor)) + f(extrap * extrapFactor));
      }
      return { invFreq: inv, attentionScaling };
    }
  }
}

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

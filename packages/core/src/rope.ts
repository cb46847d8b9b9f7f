/**
 * RoPE inverse frequencies exactly as transformers computes them (`modeling_rope_utils.py`), for every rope
 * type a `DecoderConfig` describes (default, linear, dynamic NTK, llama3, YaRN). Host math shared by every
 * backend: transformers builds `inv_freq` in float32, which is reproduced here in float64 with `Math.fround`
 * after each float32 operation; a backend receives the frequencies and the cos/sin multiplier (YaRN's
 * attention factor) and builds its tables in float32 the way the rotary module's forward does.
 */
import type { DecoderConfig, WeightDtype } from './config-types.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './safetensors/dtypes.js';
const f = Math.fround;

/**
 * Round a float32 value to `dtype` (round to nearest even). Reproduces transformers loading a checkpoint in
 * its saved dtype: `from_pretrained(dtype='auto')` casts float buffers too, so a bf16 checkpoint's `inv_freq`
 * (and Gemma-2's embedding normaliser) hold bf16-rounded values even when the activations are later upcast.
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
  invFreq: Float32Array;
  /** Multiplier on cos and sin (YaRN's attention factor; 1 otherwise). */
  attentionScaling: number;
}

/** `_compute_default_rope_parameters`: 1 / base^(arange(0, dim, 2) / dim), in float32. */
function defaultInvFreq(base: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) out[i] = f(1 / f(Math.pow(base, f((2 * i) / dim))));
  return out;
}

/**
 * The inverse frequencies for a pass whose largest position id is `seqLen - 1` (only `dynamic` NTK scaling
 * depends on it), held in `bufferDtype` (float32 unless emulating a checkpoint loaded in its bf16/f16 dtype;
 * dynamic's runtime recomputation stays float32, as in transformers).
 */
export function ropeFrequencies(
  config: DecoderConfig,
  seqLen = 0,
  bufferDtype: WeightDtype = 'float32',
): RopeFrequencies {
  const freq = computeFrequencies(config, seqLen);
  const recomputed =
    config.ropeScaling.type === 'dynamic' && seqLen > config.ropeScaling.originalMaxPositionEmbeddings;
  if (!recomputed && bufferDtype !== 'float32')
    for (let i = 0; i < freq.invFreq.length; i++)
      freq.invFreq[i] = roundToDtype(freq.invFreq[i] as number, bufferDtype);
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
      // seq_len = max(seq_len, original max): the base grows only past the original context.
      const maxPos = s.originalMaxPositionEmbeddings;
      if (seqLen <= maxPos) return { invFreq: defaultInvFreq(base, dim), attentionScaling: 1 };
      const grown = base * Math.pow((s.factor * seqLen) / maxPos - (s.factor - 1), dim / (dim - 2));
      return { invFreq: defaultInvFreq(grown, dim), attentionScaling: 1 };
    }
    case 'llama3': {
      // Long wavelengths divided by `factor`, short ones kept, a smooth blend in between.
      const inv = defaultInvFreq(base, dim);
      const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
      const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
      for (let i = 0; i < inv.length; i++) {
        const x = inv[i] as number;
        const wavelen = f((2 * Math.PI) / x);
        let v = wavelen > lowFreqWavelen ? f(x / s.factor) : x;
        if (!(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)) {
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
      // Interpolated and extrapolated frequencies blended by a linear ramp over the correction range.
      const mscale = (scale: number): number => (scale <= 1 ? 1 : 0.1 * Math.log(scale) + 1);
      const attentionScaling = s.attentionFactor ?? mscale(s.factor);
      const correctionDim = (rot: number): number =>
        (dim * Math.log(s.originalMaxPositionEmbeddings / (rot * 2 * Math.PI))) / (2 * Math.log(base));
      const low = Math.max(Math.floor(correctionDim(s.betaFast)), 0);
      let high = Math.min(Math.ceil(correctionDim(s.betaSlow)), dim - 1);
      if (low === high) high += 0.001;
      const inv = new Float32Array(dim / 2);
      for (let i = 0; i < dim / 2; i++) {
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

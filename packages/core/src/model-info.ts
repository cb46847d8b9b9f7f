/**
 * What a `DecoderConfig` implies about the checkpoint: the exact Hugging Face tensor names and shapes, the
 * parameter count, and the bytes the weights take in memory in a given dtype (4-bit included).
 */
import type { DecoderConfig } from './config-types.js';
import { InvalidArgumentError } from './errors.js';

/** What a tensor is, for memory planning: 4-bit quantisation only touches `linear` weights inside blocks. */
export type WeightRole = 'embedding' | 'linear' | 'bias' | 'norm' | 'lm_head';
/** Which part of the model a tensor belongs to, for `parameterBreakdown`. */
export type WeightGroup = 'embedding' | 'attention' | 'mlp' | 'norm' | 'lm_head';

export interface WeightSpec {
  /** Hugging Face state-dict key, e.g. `model.layers.3.self_attn.q_proj.weight`. */
  name: string;
  /** PyTorch shape: Linear weights are [out_features, in_features]. */
  shape: number[];
  role: WeightRole;
  group: WeightGroup;
  /** Decoder layer index, null outside the blocks. */
  layer: number | null;
}

/**
 * Every tensor of the Hugging Face checkpoint, in transformers' state-dict order (embeddings; per layer
 * self_attn q/k/v/o, mlp gate/up/down, then the norms; final norm; `lm_head.weight` unless embeddings are tied,
 * in which case the file has no `lm_head.weight`).
 */
export function expectedWeights(config: DecoderConfig): WeightSpec[] {
  const { hiddenSize: h, intermediateSize: im, numHeads, numKvHeads, headDim, vocabSize } = config;
  const qOut = numHeads * headDim;
  const kvOut = numKvHeads * headDim;
  const out: WeightSpec[] = [
    {
      name: 'model.embed_tokens.weight',
      shape: [vocabSize, h],
      role: 'embedding',
      group: 'embedding',
      layer: null,
    },
  ];

  const linear = (
    layer: number,
    module: string,
    outF: number,
    inF: number,
    bias: boolean,
    group: WeightGroup,
  ): void => {
    const base = `model.layers.${layer}.${module}`;
    out.push({ name: `${base}.weight`, shape: [outF, inF], role: 'linear', group, layer });
    if (bias) out.push({ name: `${base}.bias`, shape: [outF], role: 'bias', group, layer });
  };
  const norm = (layer: number, module: string): void => {
    out.push({
      name: `model.layers.${layer}.${module}.weight`,
      shape: [h],
      role: 'norm',
      group: 'norm',
      layer,
    });
  };

  for (let i = 0; i < config.numLayers; i++) {
    linear(i, 'self_attn.q_proj', qOut, h, config.qkvBias, 'attention');
    linear(i, 'self_attn.k_proj', kvOut, h, config.qkvBias, 'attention');
    linear(i, 'self_attn.v_proj', kvOut, h, config.qkvBias, 'attention');
    linear(i, 'self_attn.o_proj', h, qOut, config.oProjBias, 'attention');
    linear(i, 'mlp.gate_proj', im, h, config.mlpBias, 'mlp');
    linear(i, 'mlp.up_proj', im, h, config.mlpBias, 'mlp');
    linear(i, 'mlp.down_proj', h, im, config.mlpBias, 'mlp');
    norm(i, 'input_layernorm');
    norm(i, 'post_attention_layernorm');
    if (config.sandwichNorms) {
      norm(i, 'pre_feedforward_layernorm');
      norm(i, 'post_feedforward_layernorm');
    }
  }
  out.push({ name: 'model.norm.weight', shape: [h], role: 'norm', group: 'norm', layer: null });
  if (!config.tieWordEmbeddings) {
    out.push({
      name: 'lm_head.weight',
      shape: [vocabSize, h],
      role: 'lm_head',
      group: 'lm_head',
      layer: null,
    });
  }
  return out;
}

/** Tensor name -> shape for every tensor the checkpoint must hold (see `expectedWeights`). */
export function expectedWeightShapes(config: DecoderConfig): Map<string, number[]> {
  return new Map(expectedWeights(config).map((w) => [w.name, w.shape]));
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Exact number of parameters transformers reports for the model (`model.num_parameters()`): embeddings,
 * q/k/v/o and gate/up/down weights and their biases, two RMSNorm weights per block (four for Gemma-2), the final
 * norm, and `lm_head` unless tied to the embeddings (a tied matrix counts once).
 */
export function parameterCount(config: DecoderConfig): number {
  let total = 0;
  for (const w of expectedWeights(config)) total += numel(w.shape);
  return total;
}

export interface ParameterBreakdown {
  /** `model.embed_tokens`. */
  embedding: number;
  /** q/k/v/o weights and biases, all layers. */
  attention: number;
  /** gate/up/down weights and biases, all layers. */
  mlp: number;
  /** Every RMSNorm weight, the final norm included. */
  norms: number;
  /** `lm_head`; 0 when tied to the embeddings. */
  lmHead: number;
  /** One decoder block (all blocks have the same shape). */
  perLayer: { attention: number; mlp: number; norms: number; total: number };
  /** Equals `parameterCount(config)`. */
  total: number;
}

/** `parameterCount` split by part of the model. */
export function parameterBreakdown(config: DecoderConfig): ParameterBreakdown {
  const sums: Record<WeightGroup, number> = { embedding: 0, attention: 0, mlp: 0, norm: 0, lm_head: 0 };
  const layer0 = { attention: 0, mlp: 0, norms: 0, total: 0 };
  for (const w of expectedWeights(config)) {
    const n = numel(w.shape);
    sums[w.group] += n;
    if (w.layer === 0) {
      if (w.group === 'attention') layer0.attention += n;
      else if (w.group === 'mlp') layer0.mlp += n;
      else if (w.group === 'norm') layer0.norms += n;
      layer0.total += n;
    }
  }
  return {
    embedding: sums.embedding,
    attention: sums.attention,
    mlp: sums.mlp,
    norms: sums.norm,
    lmHead: sums.lm_head,
    perLayer: layer0,
    total: sums.embedding + sums.attention + sums.mlp + sums.norm + sums.lm_head,
  };
}

export type WeightBytesDtype = 'float32' | 'bfloat16' | 'float16' | 'int4';

/** bitsandbytes' 4-bit block size: one absmax scale per 64 consecutive weights. */
export const NF4_BLOCK_SIZE = 64;
/** bitsandbytes' nested ("double") quantisation groups 256 first-level absmax values per float32 scale. */
export const NF4_DOUBLE_QUANT_BLOCK_SIZE = 256;

export interface WeightBytesOptions {
  /**
   * 4-bit only: bitsandbytes' `bnb_4bit_use_double_quant`. Off (the bitsandbytes default): each 64-weight block
   * stores a float32 absmax (4 bytes). On: each absmax is stored as one byte, plus one float32 per 256 blocks.
   */
  doubleQuant?: boolean;
}

const BYTES_PER_ELEMENT: Readonly<Record<Exclude<WeightBytesDtype, 'int4'>, number>> = {
  float32: 4,
  bfloat16: 2,
  float16: 2,
};

/**
 * Bytes the weights occupy in memory.
 *
 * `float32` / `bfloat16` / `float16`: parameter count x element size.
 *
 * `int4` follows bitsandbytes NF4 as transformers applies it (`load_in_4bit`, compute dtype bf16):
 * - the weight of every Linear inside the decoder blocks (q/k/v/o, gate/up/down) is packed two 4-bit codes per
 *   byte (0.5 byte per parameter, rounded up per tensor), plus one absmax scale per 64-weight block
 *   (float32, or 1 byte + a float32 per 256 blocks with `doubleQuant`);
 * - Linear biases, the embeddings, the RMSNorm weights and `lm_head` (which transformers keeps out of
 *   quantisation) stay in bfloat16, 2 bytes per parameter;
 * - the few bytes of per-tensor constants (the 16-entry NF4 code book, a double-quant offset) are ignored.
 */
export function weightBytes(
  config: DecoderConfig,
  dtype: WeightBytesDtype,
  options: WeightBytesOptions = {},
): number {
  if (dtype !== 'int4') {
    const size = BYTES_PER_ELEMENT[dtype];
    if (size === undefined) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `dtype: expected one of float32, bfloat16, float16, int4, got "${String(dtype)}"`,
        {
          field: 'dtype',
        },
      );
    }
    return parameterCount(config) * size;
  }
  let bytes = 0;
  for (const w of expectedWeights(config)) {
    const n = numel(w.shape);
    if (w.role !== 'linear') {
      bytes += n * 2;
      continue;
    }
    const blocks = Math.ceil(n / NF4_BLOCK_SIZE);
    const scales = options.doubleQuant
      ? blocks + 4 * Math.ceil(blocks / NF4_DOUBLE_QUANT_BLOCK_SIZE)
      : 4 * blocks;
    bytes += Math.ceil(n / 2) + scales;
  }
  return bytes;
}

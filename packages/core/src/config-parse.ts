/**
 * Hugging Face `config.json` -> `DecoderConfig` (parsing only, no file reading: `loadDecoderConfig` in
 * config.ts reads the file).
 *
 * Two on-disk formats describe the same model and must give the same `DecoderConfig` (only `raw` differs):
 * - transformers 5 (`save_pretrained` today): `rope_parameters: { rope_theta, rope_type, factor, ... }`, `dtype`,
 *   and `layer_types` for models with sliding-window layers (Gemma-2, Qwen2);
 * - Hub checkpoints written by transformers 4.x: `rope_theta` and `rope_scaling` (`type` or `rope_type`) at the top
 *   level, `torch_dtype`, no `layer_types` (derived here the way transformers derives it).
 *
 * Defaults for absent keys are the defaults of the transformers config class of each model type (LlamaConfig,
 * MistralConfig, Gemma2Config, Qwen2Config), so a sparse config means what it means to transformers. The fields
 * that fix the model's shape (`vocab_size`, `hidden_size`, `intermediate_size`, `num_hidden_layers`,
 * `num_attention_heads`) are required: defaulting them to a 7B shape would hide a broken file.
 *
 * Errors: `CONFIG_JSON` (not JSON / not an object), `CONFIG_FIELD` (missing or ill-typed field),
 * `CONFIG_UNSUPPORTED_MODEL_TYPE`, `CONFIG_UNSUPPORTED_OPTION` (a valid option soo does not implement),
 * Every message names the file, the field and what was expected.
 */
import {
  SUPPORTED_MODEL_TYPES,
  type Activation,
  type DecoderConfig,
  type LayerType,
  type ModelType,
  type RopeScaling,
  type WeightDtype,
} from './config-types.js';
import { FormatError, UnsupportedError, where } from './errors.js';
import { JsonReader, describeJsonValue, isJsonObject, isTokenId } from './json-reader.js';

/** File name `loadDecoderConfig` reads inside a model folder unless told otherwise. */
export const DEFAULT_CONFIG_FILE = 'config.json';

export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3', 'yarn'] as const;
export const SUPPORTED_WEIGHT_DTYPES: readonly WeightDtype[] = ['float32', 'bfloat16', 'float16'];

/** `hidden_act` spellings accepted, and the activation each one computes. */
const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  silu: 'silu',
  swish: 'silu',
  gelu: 'gelu',
  gelu_pytorch_tanh: 'gelu_pytorch_tanh',
  // transformers' NewGELUActivation: the same tanh approximation as gelu_pytorch_tanh.
  gelu_new: 'gelu_pytorch_tanh',
};

/** Per-model-type defaults of the transformers config classes, for keys a config may omit. */
interface TypeDefaults {
  maxPositionEmbeddings: number;
  /** Absent `num_key_value_heads`; null means "equal to num_attention_heads". */
  numKvHeads: number | null;
  /** Absent `head_dim`; null means hidden_size / num_attention_heads. */
  headDim: number | null;
  hiddenAct: string;
  tieWordEmbeddings: boolean;
  /** Absent `sliding_window` (Llama has no sliding window at all). */
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenId: number | null;
  padTokenId: number | null;
}

const TYPE_DEFAULTS: Readonly<Record<ModelType, TypeDefaults>> = {
  llama: {
    maxPositionEmbeddings: 2048,
    numKvHeads: null,
    headDim: null,
    hiddenAct: 'silu',
    tieWordEmbeddings: false,
    slidingWindow: null,
    bosTokenId: 1,
    eosTokenId: 2,
    padTokenId: null,
  },
  mistral: {
    maxPositionEmbeddings: 4096 * 32,
    numKvHeads: 8,
    headDim: null,
    hiddenAct: 'silu',
    tieWordEmbeddings: false,
    slidingWindow: 4096,
    bosTokenId: 1,
    eosTokenId: 2,
    padTokenId: null,
  },
  gemma2: {
    maxPositionEmbeddings: 8192,
    numKvHeads: 4,
    headDim: 256,
    hiddenAct: 'gelu_pytorch_tanh',
    tieWordEmbeddings: true,
    slidingWindow: 4096,
    bosTokenId: 2,
    eosTokenId: 1,
    padTokenId: 0,
  },
  qwen2: {
    maxPositionEmbeddings: 32768,
    numKvHeads: 32,
    headDim: null,
    hiddenAct: 'silu',
    tieWordEmbeddings: false,
    slidingWindow: 4096,
    bosTokenId: null,
    eosTokenId: null,
    padTokenId: null,
  },
};

const DEFAULT_RMS_NORM_EPS = 1e-6;
const DEFAULT_ROPE_THETA = 10000;
/** Qwen2Config's `max_window_layers` default. */
const DEFAULT_MAX_WINDOW_LAYERS = 28;
/** Gemma2Config defaults. */
const GEMMA2_QUERY_PRE_ATTN_SCALAR = 256;
const GEMMA2_ATTN_SOFTCAP = 50;
const GEMMA2_FINAL_SOFTCAP = 30;
/** YaRN defaults of transformers (`beta_fast or 32`, `beta_slow or 1`). */
const YARN_BETA_FAST = 32;
const YARN_BETA_SLOW = 1;

/**
 * Normalise a parsed `config.json` (either format) into a `DecoderConfig`. `file` is only used in error
 * messages.
 */
export function parseDecoderConfig(json: unknown, file?: string): DecoderConfig {
  if (!isJsonObject(json)) {
    throw new FormatError(
      'CONFIG_JSON',
      `${where(file)}expected a JSON object at the top level, got ${describeJsonValue(json)}`,
      { file, field: '(top level)' },
    );
  }
  const r: JsonReader = new JsonReader(json, { file });

  const modelTypeValue = r.string('model_type');
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelTypeValue)) {
    throw new UnsupportedError(
      'CONFIG_UNSUPPORTED_MODEL_TYPE',
      `${where(file, 'model_type')}model type "${modelTypeValue}" is not supported; supported model types: ${SUPPORTED_MODEL_TYPES.join(', ')}`,
      { file, field: 'model_type' },
    );
  }
  const modelType = modelTypeValue as ModelType;
  const d = TYPE_DEFAULTS[modelType];

  const vocabSize = r.int('vocab_size');
  const hiddenSize = r.int('hidden_size');
  const intermediateSize = r.int('intermediate_size');
  const numLayers = r.int('num_hidden_layers');
  const numHeads = r.int('num_attention_heads');

  // `num_key_value_heads`: absent -> the class default; null -> num_attention_heads (transformers' BC rule).
  const numKvHeads = r.has('num_key_value_heads')
    ? (r.optInt('num_key_value_heads') ?? numHeads)
    : (d.numKvHeads ?? numHeads);
  if (numKvHeads > numHeads || numHeads % numKvHeads !== 0) {
    r.fail('num_key_value_heads', `a divisor of num_attention_heads (${numHeads})`, numKvHeads);
  }

  let headDim = r.has('head_dim') ? r.optInt('head_dim') : d.headDim;
  if (headDim === null) {
    if (hiddenSize % numHeads !== 0) {
      r.fail(
        'hidden_size',
        `a multiple of num_attention_heads (${numHeads}) since head_dim is not given`,
        hiddenSize,
      );
    }
    headDim = hiddenSize / numHeads;
  }

  const maxPositionEmbeddings = r.has('max_position_embeddings')
    ? r.int('max_position_embeddings')
    : d.maxPositionEmbeddings;
  const rmsNormEps = r.has('rms_norm_eps') ? r.positiveNumber('rms_norm_eps') : DEFAULT_RMS_NORM_EPS;
  const tieWordEmbeddings = r.present('tie_word_embeddings')
    ? r.bool('tie_word_embeddings')
    : d.tieWordEmbeddings;

  const partial = r.has('partial_rotary_factor') ? r.optNumber('partial_rotary_factor') : null;
  if (partial !== null && partial !== 1)
    r.unsupported('partial_rotary_factor', `partial rotary embeddings (${partial}) are not supported`);
  const { ropeTheta, ropeScaling } = parseRope(r, maxPositionEmbeddings);

  // Biases, as each transformers model class builds its Linear layers.
  let qkvBias = false;
  let oProjBias = false;
  let mlpBias = false;
  if (modelType === 'llama') {
    const attentionBias = r.present('attention_bias') ? r.bool('attention_bias') : false;
    qkvBias = attentionBias;
    oProjBias = attentionBias;
    mlpBias = r.present('mlp_bias') ? r.bool('mlp_bias') : false;
  } else if (modelType === 'gemma2') {
    const attentionBias = r.present('attention_bias') ? r.bool('attention_bias') : false;
    qkvBias = attentionBias;
    oProjBias = attentionBias;
  } else if (modelType === 'qwen2') {
    qkvBias = true;
  }
  // Mistral: no biases anywhere (MistralAttention and MistralMLP ignore `attention_bias`).

  let activationKey: string;
  let activationValue: string;
  if (modelType === 'gemma2' && r.present('hidden_activation')) {
    activationKey = 'hidden_activation';
    activationValue = r.string('hidden_activation');
  } else if (r.present('hidden_act')) {
    activationKey = 'hidden_act';
    activationValue = r.string('hidden_act');
  } else {
    activationKey = modelType === 'gemma2' ? 'hidden_activation' : 'hidden_act';
    activationValue = d.hiddenAct;
  }
  const activation = ACTIVATIONS[activationValue];
  if (activation === undefined) {
    r.unsupported(
      activationKey,
      `activation "${activationValue}" is not supported; supported: ${Object.keys(ACTIVATIONS).join(', ')}`,
    );
  }

  let embeddingMultiplier = 1;
  let normStyle: DecoderConfig['normStyle'] = 'standard';
  let sandwichNorms = false;
  let attnLogitSoftcapping: number | null = null;
  let finalLogitSoftcapping: number | null = null;
  let attentionScale = headDim ** -0.5;
  if (modelType === 'gemma2') {
    // Gemma2Model multiplies the embeddings by sqrt(hidden_size) cast to the activation dtype; we keep float64.
    embeddingMultiplier = Math.sqrt(hiddenSize);
    normStyle = 'gemma';
    sandwichNorms = true;
    attnLogitSoftcapping = r.has('attn_logit_softcapping')
      ? r.optPositiveNumber('attn_logit_softcapping')
      : GEMMA2_ATTN_SOFTCAP;
    finalLogitSoftcapping = r.has('final_logit_softcapping')
      ? r.optPositiveNumber('final_logit_softcapping')
      : GEMMA2_FINAL_SOFTCAP;
    const scalar = r.has('query_pre_attn_scalar')
      ? r.positiveNumber('query_pre_attn_scalar')
      : GEMMA2_QUERY_PRE_ATTN_SCALAR;
    attentionScale = scalar ** -0.5;
    if (r.present('use_bidirectional_attention') && r.bool('use_bidirectional_attention')) {
      r.unsupported(
        'use_bidirectional_attention',
        'bidirectional (non-causal) attention is not supported; expected false or null',
      );
    }
  }

  const { layerTypes, slidingWindow } = parseLayerTypes(r, modelType, numLayers, d);

  const dtype = parseDtype(r);

  return {
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings,
    rmsNormEps,
    ropeTheta,
    ropeScaling,
    tieWordEmbeddings,
    qkvBias,
    oProjBias,
    mlpBias,
    activation,
    embeddingMultiplier,
    normStyle,
    sandwichNorms,
    attnLogitSoftcapping,
    finalLogitSoftcapping,
    attentionScale,
    slidingWindow,
    layerTypes,
    bosTokenId: r.has('bos_token_id') ? r.optTokenId('bos_token_id') : d.bosTokenId,
    eosTokenIds: parseEos(r, d),
    padTokenId: r.has('pad_token_id') ? r.optTokenId('pad_token_id') : d.padTokenId,
    dtype,
    raw: json,
  };
}

/**
 * RoPE: `rope_parameters` (transformers 5) wins over `rope_scaling` + top-level `rope_theta` (transformers 4).
 * `rope_theta` inside the dict wins over the top-level one, as in transformers' standardisation.
 */
function parseRope(
  r: JsonReader,
  maxPositionEmbeddings: number,
): { ropeTheta: number; ropeScaling: RopeScaling } {
  let key: 'rope_parameters' | 'rope_scaling' | null = null;
  if (r.present('rope_parameters')) key = 'rope_parameters';
  else if (r.present('rope_scaling')) key = 'rope_scaling';

  const topTheta = r.present('rope_theta') ? r.positiveNumber('rope_theta') : DEFAULT_ROPE_THETA;
  if (key === null) return { ropeTheta: topTheta, ropeScaling: { type: 'default' } };

  const dict = r.object(key);
  const keys = Object.keys(dict);
  if (keys.length > 0 && keys.every((k) => k === 'full_attention' || k === 'sliding_attention')) {
    r.unsupported(
      key,
      'per-layer-type RoPE parameters are not supported by the supported model types; expected one flat dict',
    );
  }
  const sub: JsonReader = new JsonReader(dict, { file: r.file, prefix: key });
  const ropeTheta = sub.present('rope_theta') ? sub.positiveNumber('rope_theta') : topTheta;
  const partial = sub.has('partial_rotary_factor') ? sub.optNumber('partial_rotary_factor') : null;
  if (partial !== null && partial !== 1)
    sub.unsupported('partial_rotary_factor', `partial rotary embeddings (${partial}) are not supported`);

  // `rope_type` (current) or `type` (old transformers 4 spelling).
  const typeKey = sub.present('rope_type') ? 'rope_type' : sub.present('type') ? 'type' : null;
  const ropeType = typeKey === null ? 'default' : sub.string(typeKey);
  const origMax = (): number =>
    sub.present('original_max_position_embeddings')
      ? sub.int('original_max_position_embeddings')
      : maxPositionEmbeddings;

  let ropeScaling: RopeScaling;
  switch (ropeType) {
    case 'default':
      ropeScaling = { type: 'default' };
      break;
    case 'linear':
      ropeScaling = { type: 'linear', factor: sub.positiveNumber('factor') };
      break;
    case 'dynamic':
      // transformers' dynamic NTK rescales relative to config.max_position_embeddings.
      ropeScaling = {
        type: 'dynamic',
        factor: sub.positiveNumber('factor'),
        originalMaxPositionEmbeddings: maxPositionEmbeddings,
      };
      break;
    case 'llama3':
      ropeScaling = {
        type: 'llama3',
        factor: sub.positiveNumber('factor'),
        lowFreqFactor: sub.positiveNumber('low_freq_factor'),
        highFreqFactor: sub.positiveNumber('high_freq_factor'),
        originalMaxPositionEmbeddings: origMax(),
      };
      break;
    case 'yarn': {
      for (const k of ['mscale', 'mscale_all_dim'] as const) {
        if (sub.present(k))
          sub.unsupported(k, `YaRN "${k}" (DeepSeek-style scaling) is not supported; expected it absent`);
      }
      if (sub.present('truncate') && !sub.bool('truncate')) {
        sub.unsupported(
          'truncate',
          'YaRN without truncation of the correction range is not supported; expected true',
        );
      }
      ropeScaling = {
        type: 'yarn',
        factor: sub.positiveNumber('factor'),
        originalMaxPositionEmbeddings: origMax(),
        betaFast: sub.present('beta_fast') ? sub.positiveNumber('beta_fast') : YARN_BETA_FAST,
        betaSlow: sub.present('beta_slow') ? sub.positiveNumber('beta_slow') : YARN_BETA_SLOW,
        attentionFactor: sub.present('attention_factor') ? sub.positiveNumber('attention_factor') : null,
      };
      break;
    }
    default:
      sub.unsupported(
        typeKey ?? 'rope_type',
        `RoPE type "${ropeType}" is not supported; supported: ${SUPPORTED_ROPE_TYPES.join(', ')}`,
      );
  }
  return { ropeTheta, ropeScaling };
}

/**
 * Which layers use sliding-window attention, and the window. Stated `layer_types` win where transformers reads
 * them; otherwise the rules of each model class:
 * - Gemma-2: even layers (0, 2, ...) sliding, odd layers full;
 * - Mistral: every layer sliding when `sliding_window` is non-null (MistralModel ignores `layer_types`);
 * - Qwen2: `sliding_window` only counts when `use_sliding_window`; then layers >= `max_window_layers` slide;
 * - Llama: no sliding window.
 * `slidingWindow` is null whenever no layer slides, so both formats agree however they spell "no window".
 */
function parseLayerTypes(
  r: JsonReader,
  modelType: ModelType,
  numLayers: number,
  d: TypeDefaults,
): { layerTypes: LayerType[]; slidingWindow: number | null } {
  let window: number | null = r.has('sliding_window') ? r.optInt('sliding_window') : d.slidingWindow;
  if (modelType === 'llama') window = null;
  if (modelType === 'qwen2') {
    const use = r.present('use_sliding_window') ? r.bool('use_sliding_window') : false;
    if (!use) window = null;
  }

  let derived: LayerType[];
  if (modelType === 'gemma2') {
    derived = Array.from({ length: numLayers }, (_, i) =>
      i % 2 === 0 ? 'sliding_attention' : 'full_attention',
    );
  } else if (modelType === 'qwen2') {
    const maxWindowLayers = r.present('max_window_layers')
      ? r.int('max_window_layers', 0)
      : DEFAULT_MAX_WINDOW_LAYERS;
    derived = Array.from({ length: numLayers }, (_, i) =>
      window !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention',
    );
  } else if (modelType === 'mistral') {
    derived = Array.from({ length: numLayers }, () =>
      window !== null ? 'sliding_attention' : 'full_attention',
    );
  } else {
    derived = Array.from({ length: numLayers }, () => 'full_attention');
  }

  let layerTypes = derived;
  if (r.present('layer_types')) {
    const stated = readLayerTypes(r, 'layer_types', numLayers);
    if (modelType === 'gemma2' || modelType === 'qwen2') {
      layerTypes = stated;
    } else if (stated.some((t, i) => t !== derived[i])) {
      // Llama and Mistral modelling code does not read layer_types: a pattern that differs from what it does
      // would silently mean something else to transformers.
      r.unsupported(
        'layer_types',
        `per-layer attention types are not read by ${modelType} models in transformers; expected [${derived.join(', ')}] or no layer_types`,
      );
    }
  }

  const anySliding = layerTypes.includes('sliding_attention');
  if (anySliding && window === null) {
    r.fail(
      'sliding_window',
      'a positive integer since some layers are sliding_attention',
      r.get('sliding_window'),
    );
  }
  return { layerTypes, slidingWindow: anySliding ? window : null };
}

function parseDtype(r: JsonReader): WeightDtype {
  const key = r.present('dtype') ? 'dtype' : r.present('torch_dtype') ? 'torch_dtype' : null;
  // transformers loads a config without a dtype in float32.
  if (key === null) return 'float32';
  const value = r.string(key);
  if (!(SUPPORTED_WEIGHT_DTYPES as readonly string[]).includes(value)) {
    r.unsupported(
      key,
      `weight dtype "${value}" is not supported; supported: ${SUPPORTED_WEIGHT_DTYPES.join(', ')}`,
    );
  }
  return value as WeightDtype;
}

function parseEos(r: JsonReader, d: TypeDefaults): number[] {
  if (!r.has('eos_token_id')) return d.eosTokenId === null ? [] : [d.eosTokenId];
  const v = r.get('eos_token_id');
  if (v === null) return [];
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      if (!isTokenId(x)) r.fail(`eos_token_id[${i}]`, 'a non-negative integer token id', x);
      return x;
    });
  }
  if (!isTokenId(v)) r.fail('eos_token_id', 'a non-negative integer token id, a list of them, or null', v);
  return [v];
}

/** `layer_types`: one "full_attention" or "sliding_attention" per layer. */
function readLayerTypes(r: JsonReader, key: string, numLayers: number): LayerType[] {
  const v = r.get(key);
  if (!Array.isArray(v) || v.length !== numLayers) {
    r.fail(key, `an array of ${numLayers} layer types (one per num_hidden_layers)`, v);
  }
  return v.map((t, i) => {
    if (t !== 'full_attention' && t !== 'sliding_attention') {
      r.fail(`${key}[${i}]`, '"full_attention" or "sliding_attention"', t);
    }
    return t;
  });
}

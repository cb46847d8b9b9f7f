/** The one normalised description of a decoder-only transformer that every backend reads. */

export type ModelType = 'llama' | 'mistral' | 'gemma2' | 'qwen2';
export const SUPPORTED_MODEL_TYPES: readonly ModelType[] = ['llama', 'mistral', 'gemma2', 'qwen2'];

/** Activation of the gated MLP: act(gate_proj(x)) * up_proj(x). */
export type Activation = 'silu' | 'gelu_pytorch_tanh' | 'gelu';

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'dynamic'; factor: number; originalMaxPositionEmbeddings: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  | {
      type: 'yarn';
      factor: number;
      originalMaxPositionEmbeddings: number;
      betaFast: number;
      betaSlow: number;
      attentionFactor: number | null;
    };

export type LayerType = 'full_attention' | 'sliding_attention';
export type WeightDtype = 'float32' | 'bfloat16' | 'float16';

export interface DecoderConfig {
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  tieWordEmbeddings: boolean;
  /** Biases on q_proj, k_proj, v_proj (Qwen2 always; Llama/Mistral when `attention_bias`). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama `attention_bias` also covers o_proj). */
  oProjBias: boolean;
  /** Biases on gate/up/down (Llama `mlp_bias`). */
  mlpBias: boolean;
  activation: Activation;
  /** Multiply token embeddings by this (Gemma-2: sqrt(hidden_size)); 1 otherwise. */
  embeddingMultiplier: number;
  /** RMSNorm weight convention: 'standard' uses w, 'gemma' uses (1 + w). */
  normStyle: 'standard' | 'gemma';
  /** Gemma-2's four norms per block (post-attention and post-feedforward norms in addition). */
  sandwichNorms: boolean;
  /** Attention-logit soft-capping: cap * tanh(scores / cap); null = off. */
  attnLogitSoftcapping: number | null;
  /** Final-logit soft-capping; null = off. */
  finalLogitSoftcapping: number | null;
  /** Scale applied to q·k (1/sqrt(head_dim), or Gemma-2's query_pre_attn_scalar ** -0.5). */
  attentionScale: number;
  /** Sliding window size for layers whose type is 'sliding_attention'; null = no window anywhere. */
  slidingWindow: number | null;
  /** Per layer; length numLayers. */
  layerTypes: LayerType[];
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** Dtype the weights were saved in, as the config says. */
  dtype: WeightDtype;
  /** The config file's JSON as read. */
  raw: Record<string, unknown>;
}

/**
 * The backend contract, version 2: the few primitives a tensor library provides so that soo can run and
 * train a Hugging Face decoder on it. Types only; a backend author reads this one file.
 *
 * Core owns everything that is not tensor math: reading config and weights, padding, pooling weights,
 * the optimizer's accumulation and clipping decisions, LoRA initial values, sampling, checkpoints. A
 * backend holds tensors and does, on its device:
 *
 *   loadModel(source)                      weights from core's reader, in a compute dtype
 *   forward(batch, options)                logits / captures / interventions, stopping at the deepest hook
 *   backward(batch, objectives, options)   forward + backward; accumulates gradients, returns the loss
 *   gradNorm()                             global 2-norm of the accumulated gradients
 *   adamwStep(options)                     one torch.optim.AdamW step on the gradients times `gradScale`
 *   zeroGrad()
 *   setParameters / getParameters          adapter (PEFT keys) or full weights (HF keys)
 *   getGradients                           the accumulated gradients (conformance, debugging)
 *   exportOptimizerState / importOptimizerState   named tensors, written by core as safetensors
 *   prefill / decode                       generation with a KV cache
 *   dispose
 *
 * Rules of the boundary:
 * - Token batches are flat typed arrays, already padded by core (`TokenBatch`).
 * - Hook points arrive resolved (`HookPoint` from core's `resolveHookPoint`); a backend never parses names.
 * - Values cross as `HostTensor` (row-major float32 + shape), whatever the compute dtype.
 * - Numerics are transformers' (eager attention, HF RoPE, PEFT LoRA, torch.optim.AdamW); the suite in
 *   `@soo/core/testing` (`runBackendConformance`) checks every primitive against the oracle fixtures.
 * - Calling something the capabilities deny throws `BackendError` `BACKEND_CAPABILITY`.
 */
import type { DecoderConfig } from './config-types.js';
import type { HookPoint } from './hooks.js';

/** The version of this contract; an incompatible change gets a new string. */
export const BACKEND_SPECIFICATION_VERSION = 'v2' as const;
export type BackendSpecificationVersion = typeof BACKEND_SPECIFICATION_VERSION;

/** Compute dtypes a backend may offer. */
export type ComputeDtype = 'float32' | 'float16' | 'bfloat16';

/** A tensor at the boundary: row-major float32 values and the shape. */
export interface HostTensor {
  data: Float32Array;
  shape: number[];
}

export interface BackendCapabilities {
  /** LoRA training: `backward`, `adamwStep`, optimizer state. */
  train: boolean;
  /** Training every base weight of a model loaded with `trainable: 'all'` (how the toy model is built). */
  fullTraining: boolean;
  /** `prefill` / `decode`. */
  generate: boolean;
  /** Captures and interventions in `forward`. */
  hooks: boolean;
  /** Compute dtypes `loadModel` accepts; the first is the default. */
  dtypes: readonly ComputeDtype[];
}

/** Where a model's weights come from: core's reader (a `WeightStore` on a folder, or tensors in memory). */
export interface WeightSource {
  /** Every tensor name (HF keys, e.g. `model.layers.0.self_attn.q_proj.weight`). */
  names(): string[];
  /** The tensor's shape, or null when absent. */
  shape(name: string): number[] | null;
  /** The tensor's values as float32 (converted from the stored dtype). */
  readFloat32(name: string): Promise<Float32Array>;
  /** The stored dtype of a tensor (for `checkpointDtypeBuffers`). */
  storedDtype(name: string): 'float32' | 'bfloat16' | 'float16' | 'float64' | null;
}

export interface ModelSource {
  /** The normalised config (core's `readDecoderConfig`). */
  config: DecoderConfig;
  weights: WeightSource;
}

export interface LoadOptions {
  /** Default: the backend's first `capabilities.dtypes`. */
  dtype?: ComputeDtype;
  /**
   * Hold the float buffers (RoPE inverse frequencies, Gemma-2's embedding normaliser) in the checkpoint's
   * dtype, as transformers does with a bf16 checkpoint loaded in its saved dtype. Default false (float32).
   */
  checkpointDtypeBuffers?: boolean;
  /** `'all'`: every base weight is a trainable parameter (by HF key). Default `'adapter'`. */
  trainable?: 'adapter' | 'all';
}

/**
 * A batch of token rows, padded by core. `ids`, `attentionMask` and `positionIds` are [rows, tokens]
 * row-major. Mask 1 = real token, 0 = padding (never attended to; its outputs are unspecified).
 */
export interface TokenBatch {
  rows: number;
  tokens: number;
  ids: Int32Array;
  attentionMask: Uint8Array;
  positionIds: Int32Array;
}

/**
 * How far a pass must run: through layer `layer`'s attention (`attn`), the whole block (`block`), or only
 * the embedding lookup (`embed`). Core computes it from the captured hooks (`stopPointFor`).
 */
export type StopPoint = { layer: number; stage: 'attn' | 'block' } | { layer: -1; stage: 'embed' };

/** A change to a hooked module's output, applied on the device during the pass. */
export type Intervention =
  /** output += vector (broadcast over rows and tokens); `vector` is [width]. */
  | { hook: HookPoint; kind: 'add'; vector: Float32Array }
  /** output *= factor */
  | { hook: HookPoint; kind: 'scale'; factor: number }
  /** output = 0 */
  | { hook: HookPoint; kind: 'zero' }
  /** output = tensor ([rows, tokens, width], e.g. captured from another pass) */
  | { hook: HookPoint; kind: 'patch'; tensor: HostTensor }
  /** output = fn(output): a host round trip in the middle of the pass; slow, a fallback only. */
  | { hook: HookPoint; kind: 'callback'; fn: (output: HostTensor) => HostTensor };

export interface ForwardOptions {
  /** Module outputs to return, each [rows, tokens, width]. */
  capture?: readonly HookPoint[];
  /** Which logits to compute; `none` with `stopAt` skips every later layer. */
  logits: 'all' | 'last' | 'none';
  /** Stop after this point (only with `logits: 'none'`); the backend must not compute past it. */
  stopAt?: StopPoint | null;
  interventions?: readonly Intervention[];
  /** Run with the adapter (default true) or the base model only. */
  adapter?: boolean;
}

export interface ForwardResult {
  /** [rows, tokens, vocab], or [rows, 1, vocab] for `last` (the last position of the batch, not per row). */
  logits: HostTensor | null;
  /** By hook name. */
  captures: Map<string, HostTensor>;
}

/**
 * A training objective, as data. The batch's rows are those of the `backward` call.
 * - `soo`: rows are [self_0..self_{P-1}, other_0..other_{P-1}] (P = rows / 2). With `poolWeights`
 *   ([rows, tokens]) each row's hook output is pooled to sum_t w[r,t] * out[r,t,:] and the value is the mean
 *   over (pair, width) of (pooled_self - pooled_other)^2; with `poolWeights: null` it is the elementwise
 *   mean over (pair, token, width) of (out_self - out_other)^2.
 * - `lm`: sum over (r, t) of weights[r,t] * cross-entropy(logits[r,t,:], targets[r,t]) ([rows, tokens]
 *   each; weight 0 where there is no target).
 * - `kl`: sum over (r, t) of weights[r,t] * KL(base || tuned) of the next-token distributions, where base is
 *   the same pass with the adapter switched off (a constant).
 * Each carries a `weight`; the loss is sum(weight * value).
 */
export type Objective =
  | { kind: 'soo'; hook: HookPoint; poolWeights: Float32Array | null; weight: number }
  | { kind: 'lm'; targets: Int32Array; weights: Float32Array; weight: number }
  | { kind: 'kl'; weights: Float32Array; weight: number };

export interface BackwardOptions {
  /** Gradients of `scale * loss` are added to the accumulated gradients (1 / gradAccum in training). */
  scale: number;
  /** LoRA dropout probability on the branch input; 0 = none. */
  dropout: number;
  /** Seed of this call's dropout masks (core draws it from its `Rng`, so resume replays it). */
  dropoutSeed: number;
  /** Stop the pass at this point when no objective needs logits (core's `stopPointFor`). */
  stopAt: StopPoint | null;
}

export interface BackwardResult {
  /** sum(weight * value) over the objectives (not scaled). */
  loss: number;
  /** Each objective's value, in order, unweighted. */
  values: number[];
}

export interface AdamWStepOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  /** Decoupled, as torch.optim.AdamW: p *= 1 - lr * weightDecay before the update. */
  weightDecay: number;
  /** Multiply the accumulated gradients by this first (core's clipping coefficient; 1 = none). */
  gradScale: number;
}

/** LoRA tensors by PEFT key and the scaling of each adapted module by module path. */
export interface AdapterTensors {
  scaling: ReadonlyMap<string, number>;
  tensors: ReadonlyMap<string, HostTensor>;
}

/** A parameter's name (PEFT key for the adapter, HF key for base weights) and shape. */
export interface ParameterInfo {
  name: string;
  shape: number[];
}

/** A KV cache made by `prefill`; `decode` extends it. */
export interface KvCache {
  /** Positions cached so far. */
  readonly length: number;
  dispose(): void;
}

export interface DecodeInput {
  /** One token per row. */
  ids: Int32Array;
  /** Its position id per row. */
  positionIds: Int32Array;
  /** 1 if the token is real (attended to later), per row. */
  attentionMask: Uint8Array;
}

export interface BackendModel {
  readonly config: DecoderConfig;
  /** The registry name of the backend that loaded it. */
  readonly backend: string;
  readonly dtype: ComputeDtype;

  forward(batch: TokenBatch, options: ForwardOptions): Promise<ForwardResult>;

  /**
   * Add a LoRA adapter (replacing any) with these initial values by PEFT key: `lora_A` [r, in] and `lora_B`
   * [out, r] for every targeted module, y = W x + b + scaling * B (A dropout(x)), `scaling` by module path
   * (PEFT's alpha / r, or alpha / sqrt(r) with rsLoRA, per module with rank/alpha patterns). Trainable when
   * the backend can train. Core computes the initial values (PEFT's init from its `Rng`) and validates keys
   * and shapes against `decoderLayout` before the call.
   */
  attachAdapter(adapter: AdapterTensors): Promise<void>;
  /** Drop the adapter. */
  detachAdapter(): Promise<void>;
  /** The trainable parameters (the adapter's, or every base weight with `trainable: 'all'`). */
  parameters(): ParameterInfo[];
  getParameters(): Promise<Map<string, HostTensor>>;
  /** Overwrite parameter values (same names and shapes as `parameters()`). */
  setParameters(values: ReadonlyMap<string, HostTensor>): Promise<void>;

  /** Forward + backward; adds the gradients of scale * loss to the accumulated ones. */
  backward(
    batch: TokenBatch,
    objectives: readonly Objective[],
    options: BackwardOptions,
  ): Promise<BackwardResult>;
  /** Global 2-norm of the accumulated gradients. */
  gradNorm(): Promise<number>;
  /** The accumulated gradient of every parameter that received one. */
  getGradients(): Promise<Map<string, HostTensor>>;
  zeroGrad(): void;
  /**
   * One AdamW step (torch semantics, per-parameter step counts for bias correction) on every parameter that
   * received a gradient since `zeroGrad`; others are untouched, as torch skips a parameter whose grad is None.
   */
  adamwStep(options: AdamWStepOptions): Promise<void>;
  /**
   * The optimizer state as named tensors: `exp_avg.<param>`, `exp_avg_sq.<param>` and `step.<param>` ([1])
   * for every parameter stepped at least once.
   */
  exportOptimizerState(): Promise<Map<string, HostTensor>>;
  importOptimizerState(state: ReadonlyMap<string, HostTensor>): Promise<void>;

  /** Run a batch and keep its keys and values; the logits of each row's last position [rows, vocab]. */
  prefill(
    batch: TokenBatch,
    options?: { adapter?: boolean },
  ): Promise<{ cache: KvCache; logits: HostTensor }>;
  /** One token per row through the cache, extending it; the next-token logits [rows, vocab]. */
  decode(cache: KvCache, input: DecodeInput): Promise<HostTensor>;

  /** Bytes the backend holds for this model now and at most so far (device or host), when it can tell. */
  memory?(): { currentBytes: number; peakBytes: number };
  /** Free everything; further calls throw. */
  dispose(): void;
}

export interface Backend {
  readonly specificationVersion: BackendSpecificationVersion;
  /** Registry name, e.g. `tfjs-wasm`, `native-cpu`. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  loadModel(source: ModelSource, options?: LoadOptions): Promise<BackendModel>;
}

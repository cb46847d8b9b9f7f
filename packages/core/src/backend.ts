/**
 * The backend contract: what a tensor library must provide for soo to load a Hugging Face decoder, read
 * and rewrite its activations, generate, and train a LoRA adapter with the SOO objective.
 *
 * Versioned like vercel/ai's provider spec: every backend declares `specificationVersion: 'v1'`, and a
 * later, incompatible contract gets a new version string instead of silently changing this one.
 *
 * Rules of the boundary:
 * - Tensors stay opaque to core. Everything that crosses the boundary is plain data: token ids as
 *   `number[][]`, activations and gradients as `HostTensor` (a row-major `Float32Array` plus its shape).
 * - Names are the ones core defines: hook points are Hugging Face module paths (`hooks.ts`), LoRA tensors
 *   are keyed by PEFT keys (`adapter.ts`: `base_model.model.<module>.lora_A.weight`).
 * - Numerics are transformers' (eager attention, HF RoPE, PEFT LoRA, torch.optim.AdamW). The conformance
 *   suite in `@soo/core/testing` (`runBackendConformance`) checks all of it against the oracle fixtures.
 * - A backend declares what it supports with `capabilities`; calling something it lacks throws a
 *   `BackendError` with code `BACKEND_CAPABILITY`.
 * - Every method that does work is async, so GPU and worker-thread backends fit the same contract.
 *
 * A minimal backend (inference only) implements `loadModel` and `BackendModel.forward`/`dispose` and
 * declares `train: false, generate: false`; the rest can follow.
 */
import { BackendError, InvalidArgumentError } from './errors.js';
import type { DecoderConfig } from './config-types.js';
import type { HookSpec } from './hooks.js';
import type { LoraAdapterConfig } from './adapter.js';
import type { Pooling } from './soo.js';
import type { Seed } from './rng.js';

/** The version of this contract. */
export const BACKEND_SPECIFICATION_VERSION = 'v1' as const;
export type BackendSpecificationVersion = typeof BACKEND_SPECIFICATION_VERSION;

/** Compute dtypes a backend may offer. */
export type ComputeDtype = 'float32' | 'float16' | 'bfloat16';

/** What a backend can do. */
export interface BackendCapabilities {
  /** LoRA training: `attachLora`, `createSooTrainer`, `mergeAdapter`. */
  train: boolean;
  /** `generate` (with a KV cache). */
  generate: boolean;
  /** Hook captures and replacements in `forward`. */
  hooks: boolean;
  /** Compute dtypes `loadModel` accepts; the first is the default. */
  dtypes: readonly ComputeDtype[];
}

/** A tensor at the boundary: row-major float32 values and the shape. */
export interface HostTensor {
  data: Float32Array;
  shape: number[];
}

export interface LoadModelOptions {
  /** A PEFT LoRA adapter folder to load on top of the base weights (trainable if the backend can train). */
  adapterDir?: string;
  /** Config file name inside the model folder (default `config.json`), e.g. `config.hub-v4.json`. */
  configFile?: string;
  /** Compute dtype; default the backend's first `capabilities.dtypes`. */
  dtype?: ComputeDtype;
  /**
   * Hold the model's float buffers (RoPE inverse frequencies, Gemma-2's embedding normaliser) in the
   * checkpoint's dtype, as transformers does when it loads a bf16/f16 checkpoint in its saved dtype
   * (`dtype='auto'`, the transformers 5 default) before any upcast. Default false: float32 buffers, as
   * `from_pretrained(..., dtype=torch.float32)`. On bf16 checkpoints the two differ by ~1e-4 relative.
   */
  checkpointDtypeBuffers?: boolean;
}

/**
 * One hook request at the boundary: a hook-point name to capture, or a core `HookSpec` whose `replace`
 * works on host tensors (the backend copies the module output out, calls `replace`, and copies the result
 * back in; replacement outputs carry no gradient).
 */
export type ForwardHook = string | HookSpec<HostTensor>;

export interface ForwardInput {
  /** [batch][tokens] token ids; every row the same length (pad them). */
  ids: number[][];
  /** [batch][tokens], 1 = real token, 0 = padding. Omitted: every position is real. */
  attentionMask?: number[][];
  /** [batch][tokens] position ids. Omitted: 0..tokens-1 for every row (HF's default). */
  positionIds?: number[][];
  /** Hook points to capture or replace (names from `listHookPoints`). */
  hooks?: ForwardHook[];
  /**
   * Compute the logits. Default true. When false, a backend may stop after the deepest hooked module
   * (no later layers, no lm_head).
   */
  returnLogits?: boolean;
  /** Logits for every position (default) or only the last one ([batch, 1, vocab]). */
  logitsPositions?: 'all' | 'last';
}

export interface ForwardOutput {
  /** [batch, tokens, vocab] (after any final soft-capping), when requested. */
  logits?: HostTensor;
  /** Captured module outputs by hook name, each [batch, tokens, width]. */
  hooks: Record<string, HostTensor>;
}

export interface GenerateInput {
  /** One token-id list per prompt; lengths may differ (the backend left-pads with an attention mask). */
  prompts: number[][];
  /** New tokens per prompt at most. */
  maxNewTokens: number;
  /** Greedy argmax decoding (default true unless `temperature` is given). */
  greedy?: boolean;
  /** Sampling temperature (> 0). */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP`. */
  topP?: number;
  /** Keep only the `topK` most likely tokens before sampling. */
  topK?: number;
  /** Seed for sampling (soo's `Rng`). */
  seed?: Seed;
  /** A row stops after emitting any of these (the stop token is included in its output). */
  stopTokens?: number[];
  /** Pad id used for left padding; default the config's pad id, else 0. Never attended to. */
  padId?: number;
}

/** LoRA on every linear module matching `targets`, initialised as PEFT does. */
export interface AttachLoraOptions {
  r: number;
  alpha: number;
  /** Dropout on the LoRA branch's input during training (default 0). */
  dropout?: number;
  /** Module-name suffixes (e.g. ['q_proj', 'v_proj']), 'all-linear', or a full-match regex string. */
  targets: string[] | string;
  /** rsLoRA scaling alpha / sqrt(r). Default false. */
  useRslora?: boolean;
  /** Seed for the A matrices (kaiming-uniform, a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))); B is zero. */
  seed?: Seed;
}

export interface AdamWOptions {
  lr: number;
  /** Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay as torch.optim.AdamW (param *= 1 - lr * wd before the Adam update). Default 0. */
  weightDecay?: number;
}

export interface SooTrainerOptions {
  /** The hook point whose output the loss compares, e.g. `model.layers.19.self_attn.o_proj`. */
  hook: string;
  /** Token alignment (method.md section 1). Default 'last'. */
  pooling?: Pooling;
  optimizer: AdamWOptions;
  /** Clip the global gradient 2-norm to this value (torch.nn.utils.clip_grad_norm_). Default: no clipping. */
  clipGradNorm?: number | null;
  /** Micro-batches per optimizer step; the loss of each is divided by it. Default 1. */
  gradAccum?: number;
  /** Seed for LoRA dropout masks. */
  seed?: Seed;
  /**
   * Capability term (method.md section 1, off by default for paper parity): add
   * `weight * KL(base || tuned)` of the next-token distributions on the same prompts (self and other, real
   * positions only, mean over positions), where `base` is the model with the adapter switched off. Needs the
   * full forward pass (no early stop). Default 0.
   */
  capabilityKlWeight?: number;
}

/**
 * A batch of self/other prompt pairs. Rows are unpadded; the backend right-pads every row of both sides
 * to one length with `padId` (attention mask 0 on pads, positions 0..T-1) and knows the real lengths.
 */
export interface SooBatch {
  selfIds: number[][];
  otherIds: number[][];
  padId: number;
}

export interface SooLossAndGrads {
  /** The objective of the batch (not divided by gradAccum): SOO loss, plus the weighted KL term when enabled. */
  loss: number;
  /** The SOO loss alone. */
  sooLoss: number;
  /** KL(base || tuned) before weighting; null when the capability term is off. */
  capabilityKl: number | null;
  /** d loss / d tensor for every trainable LoRA tensor, by PEFT key (zeros where the loss does not reach). */
  grads: Map<string, HostTensor>;
}

export interface SooStepResult {
  /** The micro-batch's objective before the update: the SOO loss, plus the weighted KL term when enabled. */
  loss: number;
  /** The SOO loss alone (equals `loss` when the capability term is off). */
  sooLoss: number;
  /** KL(base || tuned) before weighting; null when the capability term is off. */
  capabilityKl: number | null;
  /** Global 2-norm of the accumulated gradient before clipping; null on steps that only accumulate. */
  gradNorm: number | null;
  /** Whether this call ran the optimizer (every gradAccum-th call). */
  updated: boolean;
  /** Optimizer steps taken so far. */
  optimizerSteps: number;
}

/** What `flush` reports when it applied a pending partial accumulation. */
export type SooFlushResult = Pick<SooStepResult, 'gradNorm' | 'updated' | 'optimizerSteps'>;

/**
 * A trainer's resumable state: with the adapter tensors, enough to continue bit-identically. Everything but
 * `moments` is plain JSON.
 */
export interface SooTrainerState {
  version: 1;
  /** Optimizer steps taken. */
  optimizerSteps: number;
  /** `step` calls so far (micro-batches). */
  microSteps: number;
  /** AdamW first and second moments by PEFT key (tensors updated at least once). */
  moments: Map<string, { shape: number[]; m: Float32Array; v: Float32Array }>;
  /** AdamW step count per PEFT key (torch keeps one per parameter, for bias correction). */
  paramSteps: Record<string, number>;
  /** Gradient accumulated since the last optimizer step, by PEFT key; null when none is pending. */
  accumulated: Record<string, number[]> | null;
  /** The dropout RNG (`Rng.state()`). */
  rng: { path: string; s: [number, number, number, number]; spare: number | null };
}

export interface SooTrainer {
  readonly options: Readonly<SooTrainerOptions>;
  /** Loss and gradients of one batch; changes no weights (the dropout RNG advances). */
  computeLossAndGrads(batch: SooBatch): Promise<SooLossAndGrads>;
  /** Accumulate one micro-batch's gradients and, every gradAccum-th call, clip and take an AdamW step. */
  step(batch: SooBatch): Promise<SooStepResult>;
  /**
   * Take the optimizer step now on a partial accumulation (fewer than gradAccum micro-batches, e.g. at the
   * end of an epoch), without rescaling. Null when nothing is pending.
   */
  flush(): Promise<SooFlushResult | null>;
  /** The optimizer, accumulation and RNG state, for checkpoints. */
  exportState(): SooTrainerState;
  /** Restore `exportState()`'s output (same adapter keys and shapes). */
  importState(state: SooTrainerState): void;
  /** Free the optimizer state and any accumulated gradients. */
  dispose(): void;
}

/**
 * Next-token (causal LM) training of the current LoRA adapter: the "exposure" control arm trains on the
 * same pair strings as SOO for the same steps, so a study can tell SOO's effect from mere exposure.
 */
export interface LmTrainerOptions {
  optimizer: AdamWOptions;
  /** Clip the global gradient 2-norm to this value (torch.nn.utils.clip_grad_norm_). Default: no clipping. */
  clipGradNorm?: number | null;
  /** Micro-batches per optimizer step; the loss of each is divided by it. Default 1. */
  gradAccum?: number;
  /** Seed for LoRA dropout masks. */
  seed?: Seed;
}

/**
 * Rows are unpadded token ids; the backend right-pads with `padId`. The loss is the mean cross-entropy of
 * predicting token t+1 from tokens <= t over every real (non-pad) target position of the batch, as HF
 * computes it with pad labels set to -100. Padding is judged by each row's length, not by id: a real token
 * equal to `padId` is still a target. Rows need at least 2 tokens to contribute; a batch with no target is
 * an `INVALID_ARGUMENT` error.
 */
export interface LmBatch {
  ids: number[][];
  padId: number;
}

export interface LmStepResult {
  /** The micro-batch's mean next-token cross-entropy, before the update. */
  loss: number;
  gradNorm: number | null;
  updated: boolean;
  optimizerSteps: number;
}

export interface LmTrainer {
  readonly options: Readonly<LmTrainerOptions>;
  /** Loss and gradients of one batch; changes no weights (the dropout RNG advances). */
  computeLossAndGrads(batch: LmBatch): Promise<{ loss: number; grads: Map<string, HostTensor> }>;
  step(batch: LmBatch): Promise<LmStepResult>;
  flush(): Promise<SooFlushResult | null>;
  exportState(): SooTrainerState;
  importState(state: SooTrainerState): void;
  dispose(): void;
}

/** A LoRA adapter's config and tensors at the boundary (PEFT keys, float32 values). */
export interface AdapterSnapshot {
  config: LoraAdapterConfig;
  tensors: Map<string, HostTensor>;
}

export interface BackendModel {
  readonly config: DecoderConfig;
  /** The registry name of the backend that loaded it. */
  readonly backend: string;
  forward(input: ForwardInput): Promise<ForwardOutput>;
  /** New tokens per prompt (prompt excluded). Requires `capabilities.generate`. */
  generate(input: GenerateInput): Promise<number[][]>;
  /** Add fresh LoRA layers (replacing any current adapter). Requires `capabilities.train`. */
  attachLora(options: AttachLoraOptions): Promise<void>;
  /** A trainer over the current adapter. Requires `capabilities.train` and an adapter. */
  createSooTrainer(options: SooTrainerOptions): SooTrainer;
  /** A next-token trainer over the current adapter (the exposure control). Requires `capabilities.train`. */
  createLmTrainer(options: LmTrainerOptions): LmTrainer;
  /** The current adapter, or null. */
  getAdapter(): AdapterSnapshot | null;
  /**
   * Overwrite the current adapter's values (e.g. from a checkpoint read with `readAdapter`): the same PEFT
   * keys and shapes as `getAdapter()`. Throws `ADAPTER_WEIGHTS` otherwise.
   */
  setAdapterTensors(
    tensors: ReadonlyMap<string, { data: Float32Array; shape: readonly number[] }>,
  ): Promise<void>;
  /** Write the current adapter as a PEFT folder (`adapter_config.json` + `adapter_model.safetensors`). */
  saveAdapter(dir: string): Promise<void>;
  /** Fold the adapter into the base weights (W += scaling B A) and drop it. */
  mergeAdapter(): Promise<void>;
  /** Free every tensor the model holds. Further calls throw. */
  dispose(): void;
}

export interface Backend {
  readonly specificationVersion: BackendSpecificationVersion;
  /** Registry name, e.g. `tfjs-wasm`. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  loadModel(dir: string, options?: LoadModelOptions): Promise<BackendModel>;
}

/** Throw `BACKEND_CAPABILITY` unless `backend` has `capability`. */
export function requireCapability(
  backend: Pick<Backend, 'name' | 'capabilities'>,
  capability: 'train' | 'generate' | 'hooks',
): void {
  if (!backend.capabilities[capability]) {
    throw new BackendError(
      'BACKEND_CAPABILITY',
      `backend "${backend.name}" does not support ${capability}; pick another backend with --backend`,
      {
        field: capability,
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------------------

/**
 * Makes a backend, or throws (`BACKEND_UNAVAILABLE` preferably) when it cannot run here (missing native
 * library, no GPU, ...). Called at most once per process on success; the instance is cached.
 */
export type BackendFactory = () => Backend | Promise<Backend>;

export interface BackendRegistration {
  name: string;
  priority: number;
}

interface RegistryState {
  entries: Map<string, { factory: BackendFactory; priority: number }>;
  instances: Map<string, Promise<Backend>>;
}

// One registry per process even if two copies of @soo/core are loaded (e.g. src and dist in tests).
const REGISTRY_KEY = Symbol.for('soo.backend-registry.v1');

function registry(): RegistryState {
  const g = globalThis as unknown as Record<symbol, RegistryState | undefined>;
  let r = g[REGISTRY_KEY];
  if (!r) {
    r = { entries: new Map(), instances: new Map() };
    g[REGISTRY_KEY] = r;
  }
  return r;
}

/**
 * Register a backend factory under `name`. Higher `priority` is preferred by `getBackend()` without a
 * name. Registering a name again replaces the factory (and drops a cached instance).
 */
export function registerBackend(name: string, factory: BackendFactory, priority = 0): void {
  if (!name)
    throw new InvalidArgumentError('INVALID_ARGUMENT', 'registerBackend: expected a non-empty name', {
      field: 'name',
    });
  const r = registry();
  r.entries.set(name, { factory, priority });
  r.instances.delete(name);
}

/** Remove a registration (and its cached instance). */
export function unregisterBackend(name: string): void {
  const r = registry();
  r.entries.delete(name);
  r.instances.delete(name);
}

/** Registered backends, highest priority first. */
export function listBackends(): BackendRegistration[] {
  return [...registry().entries]
    .map(([name, e]) => ({ name, priority: e.priority }))
    .sort((a, b) => b.priority - a.priority);
}

async function instantiate(name: string): Promise<Backend> {
  const r = registry();
  const entry = r.entries.get(name);
  if (!entry) {
    const known = listBackends().map((b) => b.name);
    throw new BackendError(
      'BACKEND_UNAVAILABLE',
      `backend "${name}" is not registered; registered: ${known.length ? known.join(', ') : 'none (import a backend package, e.g. @soo/backend-tfjs)'}`,
      { field: name },
    );
  }
  let p = r.instances.get(name);
  if (!p) {
    p = Promise.resolve()
      .then(() => entry.factory())
      .then((b) => {
        if (b.specificationVersion !== BACKEND_SPECIFICATION_VERSION) {
          throw new BackendError(
            'BACKEND_UNAVAILABLE',
            `backend "${name}" implements specification ${String(b.specificationVersion)}, expected ${BACKEND_SPECIFICATION_VERSION}`,
            { field: name },
          );
        }
        return b;
      });
    r.instances.set(name, p);
    p.catch(() => {
      if (r.instances.get(name) === p) r.instances.delete(name);
    });
  }
  return p;
}

/**
 * The backend named `name`, or, without a name, the highest-priority registered backend whose factory
 * succeeds. Throws `BACKEND_UNAVAILABLE` naming every backend tried and why it failed.
 */
export async function getBackend(name?: string): Promise<Backend> {
  if (name !== undefined) return instantiate(name);
  const failures: string[] = [];
  for (const { name: n } of listBackends()) {
    try {
      return await instantiate(n);
    } catch (e) {
      failures.push(`${n}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new BackendError(
    'BACKEND_UNAVAILABLE',
    failures.length
      ? `no backend could start (${failures.join('; ')})`
      : 'no backend is registered; import a backend package (e.g. `import "@soo/backend-tfjs"`) first',
  );
}

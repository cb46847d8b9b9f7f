/**
 * `native-cpu`: core's backend contract v2 (`backend-spec.ts`) on the native engine (C++17, fp32, OpenBLAS;
 * `native/engine`). This file only converts: core's types to the engine's typed arrays and back, engine
 * errors to core's typed `SooError`s, and RoPE frequencies (core's `ropeFrequencies`) into the
 * engine. Every pass runs synchronously inside the returned promise.
 */
import {
  BackendError,
  InvalidArgumentError,
  NumericsError,
  SooError,
  type AdamWStepOptions,
  type AdapterTensors,
  type Backend,
  type BackendCapabilities,
  type BackendModel,
  type BackwardOptions,
  type BackwardResult,
  type ComputeDtype,
  type DecodeInput,
  type DecoderConfig,
  type ForwardOptions,
  type ForwardResult,
  type HookPoint,
  type HostTensor,
  type KvCache,
  type LoadOptions,
  type ModelSource,
  type Objective,
  type ParameterInfo,
  type TokenBatch,
  type WeightDtype,
  ropeFrequencies,
  roundToDtype,
} from '@soo/core';
import {
  hasEngine,
  type EngineBatch,
  type EngineConfig,
  type EngineHook,
  type EngineIntervention,
  type EngineNamedTensor,
  type EngineObjective,
  type NativeEngineAddon,
  type NativeEngineInstance,
  type NativeKvCacheHandle,
} from './native-engine.js';
import { loadNativeAddon, nativeUnavailableError, type NativeLoadOptions } from './native-loader.js';

export const NATIVE_CPU_CAPABILITIES: BackendCapabilities = {
  train: true,
  fullTraining: true,
  generate: true,
  hooks: true,
  dtypes: ['float32'],
};

/** An engine error (a plain Error from the binding) as core's typed error. */
function toSooError(e: unknown, where: string): SooError {
  if (e instanceof SooError) return e;
  const message = `${where}: ${e instanceof Error ? e.message : String(e)}`;
  if (e instanceof RangeError || e instanceof TypeError || /expected|must|outside|shape|values/.test(message))
    return new InvalidArgumentError(
      /shape|values, got|expected \d+ values/.test(message) ? 'SHAPE_MISMATCH' : 'INVALID_ARGUMENT',
      message,
    );
  return new BackendError('BACKEND_UNAVAILABLE', message);
}

function hookRef(hook: HookPoint): EngineHook {
  return { layer: hook.layer ?? -1, module: hook.module };
}

function toEngineBatch(batch: TokenBatch): EngineBatch {
  return {
    rows: batch.rows,
    tokens: batch.tokens,
    ids: batch.ids,
    attentionMask: batch.attentionMask,
    positionIds: batch.positionIds,
  };
}

function named(values: ReadonlyMap<string, HostTensor>): EngineNamedTensor[] {
  return [...values].map(([name, t]) => ({ name, shape: [...t.shape], data: t.data }));
}

function toMap(list: EngineNamedTensor[]): Map<string, HostTensor> {
  return new Map(list.map((t) => [t.name, { data: t.data, shape: t.shape }]));
}

/** The largest position id of a batch (dynamic NTK scaling depends on it). */
function maxPosition(positionIds: Int32Array): number {
  let m = 0;
  for (const p of positionIds) if (p > m) m = p;
  return m;
}

class NativeKvCacheImpl implements KvCache {
  constructor(
    readonly handle: NativeKvCacheHandle,
    /** Whether the prefill ran with the adapter (decode continues the same way). */
    readonly adapter: boolean,
  ) {}
  get length(): number {
    return this.handle.length;
  }
  dispose(): void {
    this.handle.dispose();
  }
}

export class NativeCpuModel implements BackendModel {
  private engine: NativeEngineInstance | null;
  /** The buffer dtype the RoPE frequencies are rounded to (checkpointDtypeBuffers). */
  private readonly bufferDtype: WeightDtype;
  /** For dynamic NTK: the sequence length the engine's frequencies were computed for. */
  private ropeSeqLen = 0;

  constructor(
    readonly config: DecoderConfig,
    readonly backend: string,
    engine: NativeEngineInstance,
    bufferDtype: WeightDtype,
    readonly dtype: ComputeDtype = 'float32',
  ) {
    this.engine = engine;
    this.bufferDtype = bufferDtype;
  }

  private live(): NativeEngineInstance {
    if (!this.engine) throw new InvalidArgumentError('INVALID_ARGUMENT', 'this model was disposed');
    return this.engine;
  }

  /** Run an engine call, converting its errors. */
  private call<T>(where: string, f: (e: NativeEngineInstance) => T): T {
    const engine = this.live();
    try {
      return f(engine);
    } catch (e) {
      throw toSooError(e, where);
    }
  }

  /** Dynamic NTK scaling recomputes the frequencies from the longest position of each pass. */
  private syncRope(positionIds: Int32Array, past = 0): void {
    if (this.config.ropeScaling.type !== 'dynamic') return;
    const seqLen = Math.max(maxPosition(positionIds) + 1, past);
    if (seqLen === this.ropeSeqLen) return;
    const freq = ropeFrequencies(this.config, seqLen, this.bufferDtype);
    this.live().setRope(freq.invFreq, freq.attentionScaling);
    this.ropeSeqLen = seqLen;
  }

  async forward(batch: TokenBatch, options: ForwardOptions): Promise<ForwardResult> {
    const captures = options.capture ?? [];
    const interventions: EngineIntervention[] = (options.interventions ?? []).map((iv) => {
      const base = { ...hookRef(iv.hook), width: iv.hook.width };
      switch (iv.kind) {
        case 'add':
          return { ...base, kind: 'add', vector: iv.vector };
        case 'scale':
          return { ...base, kind: 'scale', factor: iv.factor };
        case 'zero':
          return { ...base, kind: 'zero' };
        case 'patch':
          return { ...base, kind: 'patch', tensor: iv.tensor.data };
        case 'callback':
          return {
            ...base,
            kind: 'callback',
            fn: (output) => {
              const out = iv.fn(output);
              return { data: out.data, shape: out.shape };
            },
          };
      }
    });
    this.syncRope(batch.positionIds);
    const stop = options.logits === 'none' ? (options.stopAt ?? null) : null;
    const r = this.call('forward', (e) =>
      e.forward(toEngineBatch(batch), {
        logits: options.logits,
        stopAt: stop,
        captures: captures.map(hookRef),
        interventions,
        adapter: options.adapter ?? true,
      }),
    );
    const result: ForwardResult = {
      logits: r.logits
        ? { data: r.logits, shape: [batch.rows, r.logitPositions, this.config.vocabSize] }
        : null,
      captures: new Map(),
    };
    captures.forEach((hook, i) => {
      const data = r.captures[i] as Float32Array;
      result.captures.set(hook.name, {
        data,
        shape: [batch.rows, data.length / (batch.rows * hook.width), hook.width],
      });
    });
    return result;
  }

  async attachAdapter(adapter: AdapterTensors): Promise<void> {
    const scaling = [...adapter.scaling].map(([path, s]) => ({ path, scaling: s }));
    this.call('attachAdapter', (e) => e.attachAdapter(scaling, named(adapter.tensors)));
  }

  async detachAdapter(): Promise<void> {
    this.call('detachAdapter', (e) => e.detachAdapter());
  }

  parameters(): ParameterInfo[] {
    return this.call('parameters', (e) => e.parameters());
  }

  async getParameters(): Promise<Map<string, HostTensor>> {
    return toMap(this.call('getParameters', (e) => e.getParameters()));
  }

  async setParameters(values: ReadonlyMap<string, HostTensor>): Promise<void> {
    this.call('setParameters', (e) => e.setParameters(named(values)));
  }

  async backward(
    batch: TokenBatch,
    objectives: readonly Objective[],
    options: BackwardOptions,
  ): Promise<BackwardResult> {
    const list: EngineObjective[] = objectives.map((o) => {
      switch (o.kind) {
        case 'soo':
          return { kind: 'soo', ...hookRef(o.hook), poolWeights: o.poolWeights, weight: o.weight };
        case 'lm':
          return { kind: 'lm', targets: o.targets, weights: o.weights, weight: o.weight };
        case 'kl':
          return { kind: 'kl', weights: o.weights, weight: o.weight };
      }
    });
    this.syncRope(batch.positionIds);
    const r = this.call('backward', (e) =>
      e.backward(toEngineBatch(batch), list, {
        scale: options.scale,
        dropout: options.dropout,
        dropoutSeed: options.dropoutSeed,
      }),
    );
    if (!Number.isFinite(r.loss))
      throw new NumericsError('NON_FINITE_LOSS', `backward: the loss is ${r.loss}`);
    return r;
  }

  async gradNorm(): Promise<number> {
    return this.call('gradNorm', (e) => e.gradNorm());
  }

  async getGradients(): Promise<Map<string, HostTensor>> {
    return toMap(this.call('getGradients', (e) => e.getGradients()));
  }

  zeroGrad(): void {
    this.call('zeroGrad', (e) => e.zeroGrad());
  }

  async adamwStep(options: AdamWStepOptions): Promise<void> {
    this.call('adamwStep', (e) =>
      e.adamwStep({
        lr: options.lr,
        beta1: options.betas[0],
        beta2: options.betas[1],
        eps: options.eps,
        weightDecay: options.weightDecay,
        gradScale: options.gradScale,
      }),
    );
  }

  async exportOptimizerState(): Promise<Map<string, HostTensor>> {
    return toMap(this.call('exportOptimizerState', (e) => e.exportOptimizerState()));
  }

  async importOptimizerState(state: ReadonlyMap<string, HostTensor>): Promise<void> {
    this.call('importOptimizerState', (e) => e.importOptimizerState(named(state)));
  }

  async prefill(
    batch: TokenBatch,
    options?: { adapter?: boolean },
  ): Promise<{ cache: KvCache; logits: HostTensor }> {
    this.syncRope(batch.positionIds);
    const adapter = options?.adapter ?? true;
    const r = this.call('prefill', (e) => e.prefill(toEngineBatch(batch), adapter));
    return {
      cache: new NativeKvCacheImpl(r.cache, adapter),
      logits: { data: r.logits, shape: [batch.rows, this.config.vocabSize] },
    };
  }

  async decode(cache: KvCache, input: DecodeInput): Promise<HostTensor> {
    if (!(cache instanceof NativeKvCacheImpl))
      throw new InvalidArgumentError('INVALID_ARGUMENT', 'decode: the cache was not made by this backend');
    this.syncRope(input.positionIds, cache.length + 1);
    const data = this.call('decode', (e) =>
      e.decode(cache.handle, input.ids, input.positionIds, input.attentionMask, cache.adapter),
    );
    return { data, shape: [input.ids.length, this.config.vocabSize] };
  }

  memory(): { currentBytes: number; peakBytes: number } {
    return this.call('memory', (e) => e.memory());
  }

  dispose(): void {
    this.engine?.dispose();
    this.engine = null;
  }
}

/** The engine's view of core's config, with the RoPE frequencies computed here. */
function engineConfig(cfg: DecoderConfig, bufferDtype: WeightDtype, trainableAll: boolean) {
  const freq = ropeFrequencies(cfg, 0, bufferDtype);
  return {
    vocabSize: cfg.vocabSize,
    hiddenSize: cfg.hiddenSize,
    intermediateSize: cfg.intermediateSize,
    numLayers: cfg.numLayers,
    numHeads: cfg.numHeads,
    numKvHeads: cfg.numKvHeads,
    headDim: cfg.headDim,
    rmsNormEps: cfg.rmsNormEps,
    tieWordEmbeddings: cfg.tieWordEmbeddings,
    qkvBias: cfg.qkvBias,
    oProjBias: cfg.oProjBias,
    mlpBias: cfg.mlpBias,
    activation: cfg.activation,
    // Gemma-2's normaliser is a buffer in the model dtype (sqrt(hidden) rounded to it).
    embeddingMultiplier:
      cfg.embeddingMultiplier === 1 ? 1 : roundToDtype(cfg.embeddingMultiplier, bufferDtype),
    normOnePlusW: cfg.normStyle === 'gemma',
    sandwichNorms: cfg.sandwichNorms,
    attnSoftcap: cfg.attnLogitSoftcapping ?? 0,
    finalSoftcap: cfg.finalLogitSoftcapping ?? 0,
    attentionScale: cfg.attentionScale,
    layerWindows: Int32Array.from(cfg.layerTypes, (t) =>
      t === 'sliding_attention' && cfg.slidingWindow !== null ? cfg.slidingWindow : 0,
    ),
    invFreq: freq.invFreq,
    ropeAttentionScaling: freq.attentionScaling,
    trainableAll,
  };
}

/** Where a backend built on the engine runs it: the CPU device (default) or the CUDA device. */
export interface EngineTarget {
  name: string;
  capabilities: BackendCapabilities;
  /** Extra engine config per compute dtype (device, CUDA library, GEMM mode). */
  device?: (dtype: ComputeDtype) => Pick<EngineConfig, 'device' | 'cudaLibrary' | 'cudaMode'>;
}

const CPU_TARGET: EngineTarget = { name: 'native-cpu', capabilities: NATIVE_CPU_CAPABILITIES };

export class NativeCpuBackend implements Backend {
  readonly specificationVersion = 'v2' as const;
  readonly name: string;
  readonly capabilities: BackendCapabilities;

  constructor(
    private readonly addon: NativeEngineAddon,
    private readonly target: EngineTarget = CPU_TARGET,
  ) {
    this.name = target.name;
    this.capabilities = target.capabilities;
  }

  async loadModel(source: ModelSource, options: LoadOptions = {}): Promise<NativeCpuModel> {
    const dtypes = this.capabilities.dtypes;
    const dtype: ComputeDtype = options.dtype ?? (dtypes[0] as ComputeDtype);
    if (!dtypes.includes(dtype))
      throw new BackendError(
        'BACKEND_CAPABILITY',
        dtypes.length === 1
          ? `backend "${this.name}" computes in ${dtypes[0]} only; got dtype "${dtype}"`
          : `backend "${this.name}" computes in ${dtypes.join(' or ')}; got dtype "${dtype}"`,
        { field: 'dtype' },
      );
    const cfg = source.config;
    const bufferDtype: WeightDtype = options.checkpointDtypeBuffers ? cfg.dtype : 'float32';
    let engine: NativeEngineInstance;
    try {
      engine = new this.addon.NativeEngine({
        ...engineConfig(cfg, bufferDtype, options.trainable === 'all'),
        ...(this.target.device?.(dtype) ?? {}),
      });
    } catch (e) {
      throw toSooError(e, 'loadModel');
    }
    try {
      const have = new Set(source.weights.names());
      for (const { name, shape } of engine.expectedWeights()) {
        if (!have.has(name))
          throw new InvalidArgumentError('WEIGHTS_MISSING', `loadModel: weight "${name}" is missing`, {
            field: name,
          });
        const got = source.weights.shape(name) ?? [];
        if (got.length !== shape.length || got.some((d, i) => d !== shape[i]))
          throw new InvalidArgumentError(
            'WEIGHTS_SHAPE',
            `loadModel: weight "${name}" has shape [${got.join(', ')}], expected [${shape.join(', ')}]`,
            { field: name },
          );
        // One tensor at a time: the engine copies it, the host array is garbage after this line.
        engine.setWeight(name, await source.weights.readFloat32(name));
      }
      engine.finalize();
    } catch (e) {
      engine.dispose();
      throw toSooError(e, 'loadModel');
    }
    return new NativeCpuModel(cfg, this.name, engine, bufferDtype, dtype);
  }
}

/** The `native-cpu` backend, or BackendError BACKEND_UNAVAILABLE saying why the addon cannot load here. */
export function createNativeCpuBackend(options?: NativeLoadOptions): NativeCpuBackend {
  const r = loadNativeAddon(options);
  if (!r.ok) throw nativeUnavailableError(r);
  if (!hasEngine(r.addon))
    throw nativeUnavailableError({
      reason: `${r.path} has no engine (built before it)`,
      install: 'rebuild it: npm run build -w @soo/backend-cuda',
    });
  return new NativeCpuBackend(r.addon);
}

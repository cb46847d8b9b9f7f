/**
 * `@soo/core`'s backend contract v2 on TensorFlow.js: `tfjs-wasm` (default in Node, ~10-25 GFLOP/s
 * single-threaded) and `tfjs-cpu` (plain JS kernels, ~1 GFLOP/s; the fallback when wasm cannot load).
 * The primitives only: forward with captures and interventions, backward of core's objectives into
 * accumulated gradients, AdamW, parameters, optimizer state, prefill/decode. Core owns the rest.
 */
import * as tf from '@tensorflow/tfjs';
import {
  BACKEND_SPECIFICATION_VERSION,
  BackendError,
  InvalidArgumentError,
  NumericsError,
  Rng,
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
  type HostTensor,
  type Intervention,
  type KvCache,
  type LoadOptions,
  type ModelSource,
  type Objective,
  type ParameterInfo,
  type StopPoint,
  type TokenBatch,
} from '@soo/core/browser';
import { DeviceOptimizer } from './adamw.js';
import { Decoder, disposeRun, tidyRun, type KvCache as DecoderCache, type RunRequest } from './model.js';
import { klTensor, lmLossTensor, sooLossTensor } from './objectives.js';
import { fromHost, loraParams, makeBaseTrainable, toHost, variableFrom, type Param } from './parameters.js';
import { activate, initTfBackend, type TfKind } from './tf.js';
import { disposeDecoderWeights, linearModules, loadDecoderWeights } from './weights.js';

const CAPABILITIES: BackendCapabilities = {
  train: true,
  fullTraining: true,
  generate: true,
  hooks: true,
  dtypes: ['float32'],
};

function grid(batch: TokenBatch, data: ArrayLike<number>): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < batch.rows; r++)
    out.push(Array.from({ length: batch.tokens }, (_, t) => data[r * batch.tokens + t]!));
  return out;
}

function host(t: tf.Tensor): HostTensor {
  return { data: t.dataSync() as Float32Array, shape: [...t.shape] };
}

/** Interventions as the decoder's replace map (functions of the module output). */
function replaceMap(interventions: readonly Intervention[]): Map<string, (x: tf.Tensor) => tf.Tensor> {
  const out = new Map<string, (x: tf.Tensor) => tf.Tensor>();
  for (const iv of interventions) {
    const name = iv.hook.name;
    switch (iv.kind) {
      case 'add':
        out.set(name, (x) => tf.add(x, tf.tensor1d(iv.vector, 'float32')));
        break;
      case 'scale':
        out.set(name, (x) => tf.mul(x, iv.factor));
        break;
      case 'zero':
        out.set(name, (x) => tf.zerosLike(x));
        break;
      case 'patch':
        out.set(name, () => tf.tensor(iv.tensor.data, iv.tensor.shape, 'float32'));
        break;
      case 'callback':
        out.set(name, (x) => {
          const r = iv.fn({ data: (x.dataSync() as Float32Array).slice(), shape: [...x.shape] });
          if (!r || !(r.data instanceof Float32Array) || !tf.util.arraysEqual(r.shape, x.shape)) {
            throw new InvalidArgumentError(
              'SHAPE_MISMATCH',
              `hook ${name}: the intervention must return a Float32Array of shape [${x.shape.join(', ')}]`,
              { field: name },
            );
          }
          return tf.tensor(r.data, x.shape, 'float32');
        });
        break;
    }
  }
  return out;
}

class TfjsKvCache implements KvCache {
  constructor(
    readonly state: DecoderCache,
    private readonly owner: TfjsModel,
    /** Whether the cached pass ran with the adapter; decoding continues the same way. */
    readonly adapter: boolean,
  ) {}
  get length(): number {
    return this.state.length;
  }
  dispose(): void {
    this.owner.enter();
    for (const l of this.state.layers) {
      l?.k.dispose();
      l?.v.dispose();
    }
    this.state.layers = [];
  }
}

export class TfjsModel implements BackendModel {
  readonly backend: string;
  readonly dtype: ComputeDtype = 'float32';
  private params: Param[] = [];
  private optimizer: DeviceOptimizer;
  private disposed = false;

  constructor(
    private readonly owner: TfjsBackend,
    readonly config: DecoderConfig,
    private readonly decoder: Decoder,
    private readonly fullTraining: boolean,
  ) {
    this.backend = owner.name;
    if (fullTraining)
      this.params = makeBaseTrainable(
        decoder.weights,
        config.tieWordEmbeddings,
        config.normStyle === 'gemma',
      );
    this.optimizer = new DeviceOptimizer(this.params);
  }

  enter(): void {
    if (this.disposed) throw new InvalidArgumentError('INVALID_ARGUMENT', 'this model was disposed');
    activate(this.owner.kind);
  }

  private request(batch: TokenBatch): Pick<RunRequest, 'ids' | 'attentionMask' | 'positionIds'> {
    return {
      ids: grid(batch, batch.ids),
      attentionMask: grid(batch, batch.attentionMask),
      positionIds: grid(batch, batch.positionIds),
    };
  }

  async forward(batch: TokenBatch, options: ForwardOptions): Promise<ForwardResult> {
    this.enter();
    const capture = new Set((options.capture ?? []).map((p) => p.name));
    const result = tidyRun(() =>
      this.decoder.run({
        ...this.request(batch),
        capture,
        replace: replaceMap(options.interventions ?? []),
        stop: options.logits === 'none' ? (options.stopAt ?? null) : null,
        logits: options.logits,
        disableLora: options.adapter === false,
      }),
    );
    try {
      const captures = new Map<string, HostTensor>();
      for (const [name, t] of result.captured) captures.set(name, host(t));
      return { logits: result.logits && options.logits !== 'none' ? host(result.logits) : null, captures };
    } finally {
      disposeRun(result);
    }
  }

  async attachAdapter(adapter: AdapterTensors): Promise<void> {
    if (this.fullTraining) {
      throw new BackendError('BACKEND_CAPABILITY', 'a model loaded with trainable: "all" takes no adapter', {
        field: 'adapter',
      });
    }
    this.enter();
    await this.detachAdapter();
    for (const lin of linearModules(this.decoder.weights)) {
      const scaling = adapter.scaling.get(lin.path);
      if (scaling === undefined) continue;
      const a = adapter.tensors.get(`base_model.model.${lin.path}.lora_A.weight`);
      const b = adapter.tensors.get(`base_model.model.${lin.path}.lora_B.weight`);
      if (!a || !b) {
        throw new InvalidArgumentError(
          'ADAPTER_WEIGHTS',
          `adapter: module "${lin.path}" needs lora_A and lora_B`,
          { field: lin.path },
        );
      }
      lin.lora = {
        A: variableFrom(a.data, a.shape, 'lora_A') as tf.Variable<tf.Rank.R2>,
        B: variableFrom(b.data, b.shape, 'lora_B') as tf.Variable<tf.Rank.R2>,
        scaling,
        dropout: 0,
      };
    }
    this.params = loraParams(this.decoder.weights);
    this.optimizer = new DeviceOptimizer(this.params);
  }

  async detachAdapter(): Promise<void> {
    if (this.fullTraining) return;
    this.enter();
    this.optimizer.dispose();
    for (const lin of linearModules(this.decoder.weights)) {
      if (!lin.lora) continue;
      lin.lora.A.dispose();
      lin.lora.B.dispose();
      lin.lora = null;
    }
    this.params = [];
    this.optimizer = new DeviceOptimizer(this.params);
  }

  parameters(): ParameterInfo[] {
    return this.params.map((p) => ({ name: p.name, shape: [...p.shape] }));
  }

  async getParameters(): Promise<Map<string, HostTensor>> {
    this.enter();
    return new Map(this.params.map((p) => [p.name, toHost(p, p.variable, true)]));
  }

  async setParameters(values: ReadonlyMap<string, HostTensor>): Promise<void> {
    this.enter();
    for (const p of this.params) {
      const v = values.get(p.name);
      if (!v) continue;
      const t = fromHost(p, v, true);
      p.variable.assign(t);
      t.dispose();
    }
  }

  /** The scaled embeddings, inside the tape (full training: one-hot product, wasm has no gather gradient). */
  private embedsFor(ids: readonly (readonly number[])[]): tf.Tensor3D {
    const cfg = this.config;
    const B = ids.length;
    const T = ids[0]!.length;
    if (!this.fullTraining) return this.decoder.embed(ids).scaled;
    const flat = new Int32Array(B * T);
    ids.forEach((row, b) => row.forEach((id, t) => (flat[b * T + t] = id)));
    const onehot = tf.cast(tf.oneHot(tf.tensor1d(flat, 'int32'), cfg.vocabSize), 'float32');
    const w = this.decoder.weights;
    const rows = w.embed ? tf.matMul(onehot, w.embed) : tf.matMul(onehot, w.lmHeadT, false, true);
    const raw = tf.reshape(rows, [B, T, cfg.hiddenSize]) as tf.Tensor3D;
    return cfg.embeddingMultiplier === 1 ? raw : (tf.mul(raw, this.decoder.embedScale) as tf.Tensor3D);
  }

  async backward(
    batch: TokenBatch,
    objectives: readonly Objective[],
    options: BackwardOptions,
  ): Promise<BackwardResult> {
    this.enter();
    if (this.params.length === 0) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'backward: the model has no trainable parameter (attach an adapter)',
        {
          field: 'adapter',
        },
      );
    }
    const req = this.request(batch);
    const needsLogits = objectives.some((o) => o.kind !== 'soo');
    const klObjective = objectives.find((o) => o.kind === 'kl');
    const hooks = new Set(objectives.flatMap((o) => (o.kind === 'soo' ? [o.hook.name] : [])));
    const dropoutRng = new Rng(options.dropoutSeed);
    for (const lin of linearModules(this.decoder.weights)) if (lin.lora) lin.lora.dropout = options.dropout;
    const baseLogProbs = klObjective
      ? tf.tidy(() =>
          tf.logSoftmax(
            this.decoder.run({ ...req, disableLora: true, logits: 'all' }).logits as tf.Tensor3D,
            -1,
          ),
        )
      : null;
    const values: tf.Scalar[] = [];
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      result = tf.variableGrads(
        () => {
          const r = this.decoder.run({
            ...req,
            embeds: this.embedsFor(req.ids),
            capture: hooks,
            stop: needsLogits ? null : (options.stopAt as StopPoint | null),
            logits: needsLogits ? 'all' : 'none',
            dropoutSeed: options.dropout > 0 ? () => dropoutRng.nextU32() : undefined,
          });
          let total: tf.Scalar | null = null;
          for (const o of objectives) {
            let v: tf.Scalar;
            if (o.kind === 'soo') {
              const acts = r.captured.get(o.hook.name);
              if (!acts) throw new Error(`hook ${o.hook.name} not reached`);
              v = sooLossTensor(acts, o.poolWeights);
            } else if (o.kind === 'lm') {
              v = lmLossTensor(r.logits as tf.Tensor3D, o.targets, o.weights);
            } else {
              v = klTensor(baseLogProbs as tf.Tensor, r.logits as tf.Tensor3D, o.weights);
            }
            values.push(tf.keep(v));
            const weighted = tf.mul(v, o.weight) as tf.Scalar;
            total = total ? (tf.add(total, weighted) as tf.Scalar) : weighted;
          }
          return tf.mul(total as tf.Scalar, options.scale) as tf.Scalar;
        },
        this.params.map((p) => p.variable),
      );
    } finally {
      baseLogProbs?.dispose();
      for (const lin of linearModules(this.decoder.weights)) if (lin.lora) lin.lora.dropout = 0;
    }
    const scaled = result.value.dataSync()[0] as number;
    result.value.dispose();
    const hostValues = values.map((v) => v.dataSync()[0] as number);
    for (const v of values) v.dispose();
    const loss = objectives.reduce((a, o, i) => a + o.weight * hostValues[i]!, 0);
    const grads = new Map<Param, tf.Tensor>();
    for (const p of this.params) {
      const g = result.grads[p.variable.name];
      if (g) grads.set(p, g);
    }
    if (!Number.isFinite(loss) || !Number.isFinite(scaled)) {
      for (const g of grads.values()) g.dispose();
      throw new NumericsError('NON_FINITE_LOSS', `training loss is ${loss}`);
    }
    this.optimizer.accumulate(grads);
    return { loss, values: hostValues };
  }

  async gradNorm(): Promise<number> {
    this.enter();
    return this.optimizer.gradNorm();
  }

  async getGradients(): Promise<Map<string, HostTensor>> {
    this.enter();
    return this.optimizer.gradients();
  }

  zeroGrad(): void {
    this.enter();
    this.optimizer.zeroGrad();
  }

  async adamwStep(options: AdamWStepOptions): Promise<void> {
    this.enter();
    this.optimizer.step(options);
  }

  async exportOptimizerState(): Promise<Map<string, HostTensor>> {
    this.enter();
    return this.optimizer.exportState();
  }

  async importOptimizerState(state: ReadonlyMap<string, HostTensor>): Promise<void> {
    this.enter();
    this.optimizer.importState(state);
  }

  async prefill(
    batch: TokenBatch,
    options: { adapter?: boolean } = {},
  ): Promise<{ cache: KvCache; logits: HostTensor }> {
    this.enter();
    const state: DecoderCache = { layers: [], length: 0, keyMask: [] };
    const r = tidyRun(() =>
      this.decoder.run({
        ...this.request(batch),
        cache: state,
        logits: 'last',
        disableLora: options.adapter === false,
      }),
    );
    const cache = new TfjsKvCache(state, this, options.adapter !== false);
    try {
      const logits = r.logits as tf.Tensor3D;
      return {
        cache,
        logits: { data: logits.dataSync() as Float32Array, shape: [batch.rows, this.config.vocabSize] },
      };
    } finally {
      disposeRun(r);
    }
  }

  async decode(cache: KvCache, input: DecodeInput): Promise<HostTensor> {
    this.enter();
    if (!(cache instanceof TfjsKvCache)) {
      throw new InvalidArgumentError('INVALID_ARGUMENT', 'decode: the cache was not made by this backend', {
        field: 'cache',
      });
    }
    const adapter = cache.adapter;
    const rows = input.ids.length;
    const r = tidyRun(() =>
      this.decoder.run({
        ids: Array.from(input.ids, (id) => [id]),
        positionIds: Array.from(input.positionIds, (p) => [p]),
        attentionMask: Array.from(input.attentionMask, (m) => [m]),
        cache: cache.state,
        logits: 'last',
        disableLora: !adapter,
      }),
    );
    try {
      return {
        data: (r.logits as tf.Tensor3D).dataSync() as Float32Array,
        shape: [rows, this.config.vocabSize],
      };
    } finally {
      disposeRun(r);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    activate(this.owner.kind);
    this.optimizer.dispose();
    disposeDecoderWeights(this.decoder.weights);
    this.disposed = true;
  }
}

export class TfjsBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly capabilities = CAPABILITIES;

  constructor(
    readonly name: string,
    readonly kind: TfKind,
  ) {}

  async loadModel(source: ModelSource, options: LoadOptions = {}): Promise<TfjsModel> {
    if (options.dtype !== undefined && options.dtype !== 'float32') {
      throw new BackendError(
        'BACKEND_CAPABILITY',
        `backend "${this.name}" computes in float32 only; got dtype "${options.dtype}"`,
        {
          field: 'dtype',
        },
      );
    }
    await initTfBackend(this.kind);
    const { config } = source;
    const weights = await loadDecoderWeights(config, source.weights, 'model weights', () =>
      activate(this.kind),
    );
    const decoder = new Decoder(config, weights, {
      bufferDtype: options.checkpointDtypeBuffers ? config.dtype : 'float32',
    });
    activate(this.kind);
    return new TfjsModel(this, config, decoder, options.trainable === 'all');
  }
}

/** A `tfjs-webgl` backend instance (browsers with WebGL; float32 where the GPU offers float textures). */
export async function createTfjsWebglBackend(): Promise<TfjsBackend> {
  await initTfBackend('webgl');
  return new TfjsBackend('tfjs-webgl', 'webgl');
}

/** A `tfjs-wasm` backend instance (initialises the wasm binary). */
export async function createTfjsWasmBackend(): Promise<TfjsBackend> {
  await initTfBackend('wasm');
  return new TfjsBackend('tfjs-wasm', 'wasm');
}

/** A `tfjs-cpu` backend instance. */
export async function createTfjsCpuBackend(): Promise<TfjsBackend> {
  await initTfBackend('cpu');
  return new TfjsBackend('tfjs-cpu', 'cpu');
}

/**
 * The `onnx` backend (contract v2): inference on onnxruntime-node. A model loaded from core's reader is
 * turned into decoder graphs (`decoder-graph.ts`), one onnxruntime session per kind of pass (hooks
 * captured, interventions, stop point, adapter on or off), built on first use and cached. An adapter is
 * merged into the weights (as `soo export --onnx` does); adapter off runs the base weights. No training:
 * `backward`, `adamwStep` and the optimizer state throw `BACKEND_CAPABILITY`.
 */
import {
  BACKEND_SPECIFICATION_VERSION,
  BackendError,
  InvalidArgumentError,
  ropeFrequencies,
  roundToDtype,
  stopPointFor,
  type AdapterTensors,
  type Backend,
  type BackendCapabilities,
  type BackendModel,
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
  type ParameterInfo,
  type StopPoint,
  type TokenBatch,
  type WeightDtype,
} from '@soo/core';
import {
  buildDecoderGraph,
  interventionInputName,
  type DecoderGraphOptions,
  type GraphIntervention,
} from './decoder-graph.js';
import { InferenceOnlyModel, ONNX_BACKEND, capabilityError } from './inference-only.js';

export { ONNX_BACKEND, capabilityError } from './inference-only.js';
import { mergeLora, readDecoderWeights } from './weights.js';
import {
  OnnxKvCache,
  checkDecodeInput,
  extendKeyMask,
  keyMaskOf,
  lastPosition,
  runSession,
} from './runner.js';
import { createSession, floatTensor, resolveThreads, type ort } from './session.js';

export const ONNX_CAPABILITIES: BackendCapabilities = {
  train: false,
  fullTraining: false,
  generate: true,
  hooks: true,
  dtypes: ['float32'],
};

/** A protobuf message holds at most 2 GiB; larger weights need an export with external data. */
const MAX_INLINE_BYTES = 2 ** 31 - 2 ** 24;

/** Sessions kept per model (least recently used dropped first). */
const MAX_SESSIONS = 12;

export interface OnnxBackendOptions {
  /** onnxruntime intra-op threads (0 = one per core; default env `SOO_ONNX_THREADS`, else 0). */
  threads?: number;
  /**
   * Let idle intra-op threads spin (onnxruntime's default; lower latency on cores nobody else uses).
   * Default false: on shared cores spinning threads wait for descheduled peers.
   */
  spinning?: boolean;
}

export class OnnxBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name = ONNX_BACKEND;
  readonly capabilities = ONNX_CAPABILITIES;
  readonly threads: number;
  readonly spinning: boolean;

  constructor(options: OnnxBackendOptions = {}) {
    this.threads = resolveThreads(options.threads);
    this.spinning = options.spinning ?? false;
  }

  async loadModel(source: ModelSource, options: LoadOptions = {}): Promise<BackendModel> {
    const dtype = options.dtype ?? 'float32';
    if (dtype !== 'float32')
      throw new BackendError('BACKEND_CAPABILITY', `backend "onnx" computes in float32, not ${dtype}`, {
        field: 'dtype',
      });
    if (options.trainable === 'all') throw capabilityError('full-parameter training (trainable: "all")');
    let bytes = 0;
    for (const name of source.weights.names())
      bytes += 4 * (source.weights.shape(name) ?? []).reduce((a, b) => a * b, 1);
    if (bytes > MAX_INLINE_BYTES)
      throw new BackendError(
        'BACKEND_CAPABILITY',
        `backend "onnx" builds in-memory graphs of at most 2 GiB of float32 weights (this model has ${(bytes / 2 ** 30).toFixed(1)} GiB); export it with \`soo export --onnx\` (external data) and run the exported folder with --backend onnx`,
        { field: 'weights' },
      );
    const weights = await readDecoderWeights(source.config, source.weights);
    return new OnnxModel(
      source.config,
      weights,
      options.checkpointDtypeBuffers ? source.config.dtype : 'float32',
      this.threads,
      this.spinning,
    );
  }
}

export function createOnnxBackend(options: OnnxBackendOptions = {}): OnnxBackend {
  return new OnnxBackend(options);
}

interface PassSpec {
  adapter: boolean;
  logits: 'all' | 'last' | 'none';
  stop: StopPoint | null;
  captures: string[];
  interventions: GraphIntervention[];
}

export class OnnxModel extends InferenceOnlyModel implements BackendModel {
  readonly backend = ONNX_BACKEND;
  readonly dtype: ComputeDtype = 'float32';
  private adapter: AdapterTensors | null = null;
  private merged: Map<string, HostTensor> | null = null;
  private sessions = new Map<string, Promise<ort.InferenceSession>>();
  /** Live KV caches per session: a session dropped from the cache is released once its last one is. */
  private readonly liveCaches = new Map<ort.InferenceSession, number>();
  private readonly dropped = new Set<ort.InferenceSession>();
  /** Hook names each (logits, stop) pass reaches, in forward order. */
  private readonly reachedMemo = new Map<string, string[]>();
  private disposed = false;
  private readonly embedMultiplier: number;

  constructor(
    readonly config: DecoderConfig,
    private readonly base: Map<string, HostTensor>,
    private readonly bufferDtype: WeightDtype,
    private readonly threads: number,
    private readonly spinning: boolean,
  ) {
    super();
    this.embedMultiplier = roundToDtype(config.embeddingMultiplier, bufferDtype);
  }

  private enter(): void {
    if (this.disposed) throw new InvalidArgumentError('INVALID_ARGUMENT', 'this model was disposed');
  }

  private weightsFor(adapter: boolean): Map<string, HostTensor> {
    if (adapter && this.adapter) {
      this.merged ??= mergeLora(this.base, this.adapter);
      return this.merged;
    }
    return this.base;
  }

  private graphOptions(spec: PassSpec): DecoderGraphOptions {
    return {
      mode: 'kv',
      logits: spec.logits,
      stop: spec.stop,
      captures: spec.captures,
      interventions: spec.interventions,
      rope: 'input',
      embedMultiplier: this.embedMultiplier,
    };
  }

  private session(spec: PassSpec): Promise<ort.InferenceSession> {
    const adapterOn = spec.adapter && this.adapter !== null;
    const key = JSON.stringify({ ...spec, adapter: adapterOn });
    let s = this.sessions.get(key);
    if (s) {
      this.sessions.delete(key);
      this.sessions.set(key, s);
      return s;
    }
    const { builder } = buildDecoderGraph(this.config, this.weightsFor(adapterOn), this.graphOptions(spec));
    const { model } = builder.encode({ producerVersion: '0.1.0', docString: 'soo decoder (in memory)' });
    s = createSession(model, this.threads, this.spinning);
    this.sessions.set(key, s);
    while (this.sessions.size > MAX_SESSIONS) {
      const [oldest, p] = this.sessions.entries().next().value as [string, Promise<ort.InferenceSession>];
      this.sessions.delete(oldest);
      this.release(p);
    }
    return s;
  }

  /** Release a session now, or when the last KV cache made on it is disposed. */
  private release(p: Promise<ort.InferenceSession>): void {
    void p
      .then((x) => {
        if (this.liveCaches.get(x)) this.dropped.add(x);
        else return x.release();
      })
      .catch(() => undefined);
  }

  private cacheDisposed(session: ort.InferenceSession): void {
    const n = (this.liveCaches.get(session) ?? 1) - 1;
    if (n > 0) return void this.liveCaches.set(session, n);
    this.liveCaches.delete(session);
    if (this.dropped.delete(session)) void session.release().catch(() => undefined);
  }

  private dropAdapterSessions(): void {
    for (const [key, p] of [...this.sessions]) {
      if ((JSON.parse(key) as PassSpec).adapter) {
        this.sessions.delete(key);
        this.release(p);
      }
    }
    this.merged = null;
  }

  /** RoPE inverse frequencies for positions up to the batch's largest (dynamic NTK depends on it). */
  private ropeFeed(positionIds: ArrayLike<number>): Record<string, ort.Tensor> {
    let maxPos = 0;
    for (let i = 0; i < positionIds.length; i++) maxPos = Math.max(maxPos, positionIds[i] as number);
    const f = ropeFrequencies(this.config, maxPos + 1, this.bufferDtype);
    return { 'rope.inv_freq': floatTensor(f.invFreq, [f.invFreq.length]) };
  }

  /** The hooks a pass computes, in forward order (no session is built). */
  private reached(logits: PassSpec['logits'], stop: StopPoint | null): string[] {
    const key = JSON.stringify([logits, stop]);
    let r = this.reachedMemo.get(key);
    if (!r) {
      r = buildDecoderGraph(
        this.config,
        this.base,
        this.graphOptions({ adapter: false, logits, stop, captures: [], interventions: [] }),
      ).reached;
      this.reachedMemo.set(key, r);
    }
    return r;
  }

  async forward(batch: TokenBatch, options: ForwardOptions): Promise<ForwardResult> {
    this.enter();
    const adapter = options.adapter !== false;
    const stop = options.logits === 'none' ? (options.stopAt ?? null) : null;
    const all = options.interventions ?? [];
    const reachable = new Set(this.reached(options.logits, stop));
    const active = all.filter((iv) => reachable.has(iv.hook.name));
    const values = new Map<string, ort.Tensor>();
    const graphInterventions: GraphIntervention[] = [];
    const addValue = (iv: Intervention, value: HostTensor | null): void => {
      const name = iv.hook.name;
      if (iv.kind === 'add')
        values.set(interventionInputName(name), floatTensor(iv.vector, [iv.vector.length]));
      else if (iv.kind === 'scale')
        values.set(interventionInputName(name), floatTensor(Float32Array.of(iv.factor), []));
      else if (value) values.set(interventionInputName(name), floatTensor(value.data, value.shape));
      graphInterventions.push({ name, kind: iv.kind === 'callback' ? 'patch' : iv.kind });
    };
    const width = (iv: Intervention): number[] => [batch.rows, batch.tokens, iv.hook.width];
    for (const iv of active) {
      if (iv.kind === 'callback') continue;
      if (iv.kind === 'patch') {
        const want = width(iv);
        if (
          iv.tensor.shape.join() !== want.join() ||
          iv.tensor.data.length !== want[0]! * want[1]! * want[2]!
        )
          throw new InvalidArgumentError(
            'SHAPE_MISMATCH',
            `hook ${iv.hook.name}: the patch has shape [${iv.tensor.shape.join(', ')}], expected [${want.join(', ')}]`,
            { field: iv.hook.name },
          );
      }
      addValue(iv, iv.kind === 'patch' ? iv.tensor : null);
    }
    // Host callbacks, upstream first: run to the hook, call back, then patch its output.
    const callbacks = active.filter((iv) => iv.kind === 'callback');
    if (callbacks.length) {
      const order = this.reached('all', null);
      callbacks.sort((a, b) => order.indexOf(a.hook.name) - order.indexOf(b.hook.name));
      for (const cb of callbacks) {
        if (cb.kind !== 'callback') continue;
        const name = cb.hook.name;
        const needsHead = cb.hook.module === 'lm_head';
        const pre = await this.runPass(
          batch,
          {
            adapter,
            logits: needsHead ? 'all' : 'none',
            stop: needsHead ? null : stopPointFor([cb.hook]),
            captures: [name],
            interventions: [...graphInterventions],
          },
          values,
        );
        const seen = pre.captures.get(name) as HostTensor;
        const r = cb.fn({ data: seen.data.slice(), shape: [...seen.shape] });
        const want = width(cb);
        if (
          !r ||
          !(r.data instanceof Float32Array) ||
          r.shape.join() !== want.join() ||
          r.data.length !== seen.data.length
        )
          throw new InvalidArgumentError(
            'SHAPE_MISMATCH',
            `hook ${name}: the intervention must return a Float32Array of shape [${want.join(', ')}]`,
            { field: name },
          );
        addValue(cb, r);
      }
    }
    const r = await this.runPass(
      batch,
      {
        adapter,
        logits: options.logits,
        stop,
        captures: [...new Set((options.capture ?? []).map((p) => p.name))].filter((n) => reachable.has(n)),
        interventions: graphInterventions,
      },
      values,
    );
    return { logits: options.logits === 'none' ? null : r.logits, captures: r.captures };
  }

  private async runPass(
    batch: TokenBatch,
    spec: PassSpec,
    values: Map<string, ort.Tensor>,
  ): Promise<{ logits: HostTensor | null; captures: Map<string, HostTensor> }> {
    const session = await this.session(spec);
    if (session.outputNames.length === 0) return { logits: null, captures: new Map() };
    const out = await runSession(session, this.config, batch, keyMaskOf(batch), null, {
      ...this.ropeFeed(batch.positionIds),
      ...Object.fromEntries(values),
    });
    for (const t of out.presents.values()) t.dispose();
    return { logits: out.logits, captures: out.captures };
  }

  async attachAdapter(adapter: AdapterTensors): Promise<void> {
    this.enter();
    const tensors = new Map<string, HostTensor>();
    for (const [k, t] of adapter.tensors) tensors.set(k, { data: t.data.slice(), shape: [...t.shape] });
    const next = { scaling: new Map(adapter.scaling), tensors };
    mergeLora(this.base, next); // validates keys and shapes before anything changes
    this.dropAdapterSessions();
    this.adapter = next;
  }

  async detachAdapter(): Promise<void> {
    this.enter();
    this.dropAdapterSessions();
    this.adapter = null;
  }

  parameters(): ParameterInfo[] {
    return this.adapter ? [...this.adapter.tensors].map(([name, t]) => ({ name, shape: [...t.shape] })) : [];
  }

  async getParameters(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [k, t] of this.adapter?.tensors ?? [])
      out.set(k, { data: t.data.slice(), shape: [...t.shape] });
    return out;
  }

  async setParameters(values: ReadonlyMap<string, HostTensor>): Promise<void> {
    this.enter();
    if (!this.adapter)
      throw new InvalidArgumentError('ADAPTER_WEIGHTS', 'setParameters: the model has no adapter', {
        field: 'adapter',
      });
    const tensors = new Map(this.adapter.tensors);
    for (const [k, t] of values) {
      const cur = tensors.get(k);
      if (!cur || cur.shape.join() !== t.shape.join())
        throw new InvalidArgumentError(
          'ADAPTER_WEIGHTS',
          `setParameters: "${k}" is not a tensor of the current adapter with shape [${t.shape.join(', ')}]`,
          { field: k },
        );
      tensors.set(k, { data: t.data.slice(), shape: [...t.shape] });
    }
    this.dropAdapterSessions();
    this.adapter = { scaling: this.adapter.scaling, tensors };
  }

  private kvSpec(adapter: boolean): PassSpec {
    return { adapter, logits: 'last', stop: null, captures: [], interventions: [] };
  }

  async prefill(
    batch: TokenBatch,
    options: { adapter?: boolean } = {},
  ): Promise<{ cache: KvCache; logits: HostTensor }> {
    this.enter();
    const adapter = options.adapter !== false && this.adapter !== null;
    const session = await this.session(this.kvSpec(adapter));
    const keyMask = keyMaskOf(batch);
    const out = await runSession(
      session,
      this.config,
      batch,
      keyMask,
      null,
      this.ropeFeed(batch.positionIds),
    );
    const cache = new OnnxKvCache(session, adapter, batch.rows, batch.tokens, keyMask, out.presents, () =>
      this.cacheDisposed(session),
    );
    this.liveCaches.set(session, (this.liveCaches.get(session) ?? 0) + 1);
    return { cache, logits: lastPosition(out.logits as HostTensor) };
  }

  async decode(cache: KvCache, input: DecodeInput): Promise<HostTensor> {
    this.enter();
    if (!(cache instanceof OnnxKvCache))
      throw new InvalidArgumentError('INVALID_ARGUMENT', 'decode: the cache was not made by this backend', {
        field: 'cache',
      });
    checkDecodeInput(cache, input);
    const keyMask = extendKeyMask(cache, input);
    const out = await runSession(
      cache.session,
      this.config,
      { rows: cache.rows, tokens: 1, ids: input.ids, positionIds: input.positionIds },
      keyMask,
      cache.presents,
      this.ropeFeed(input.positionIds),
    );
    for (const t of cache.presents.values()) t.dispose();
    cache.presents = out.presents;
    cache.keyMask = keyMask;
    cache.length += 1;
    return lastPosition(out.logits as HostTensor);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.sessions.values()) void p.then((s) => s.release()).catch(() => undefined);
    this.sessions.clear();
    this.liveCaches.clear();
    this.dropped.clear();
  }
}

/**
 * `@soo/core`'s `Backend` contract on TensorFlow.js: `tfjs-wasm` (default in Node, ~10-25 GFLOP/s
 * single-threaded) and `tfjs-cpu` (plain JS kernels, ~1 GFLOP/s; the fallback when wasm cannot load).
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  BACKEND_SPECIFICATION_VERSION,
  BackendError,
  InvalidArgumentError,
  WeightStore,
  assertHooksReached,
  loadDecoderConfig,
  readAdapter,
  requireCapability,
  validateHookSpecs,
  writeAdapter,
  type AdapterSnapshot,
  type AttachLoraOptions,
  type Backend,
  type BackendCapabilities,
  type BackendModel,
  type DecoderConfig,
  type ForwardInput,
  type ForwardOutput,
  type GenerateInput,
  type HookSpec,
  type HostTensor,
  type LmTrainer,
  type LmTrainerOptions,
  type LoadModelOptions,
  type LoraAdapterConfig,
  type SooTrainer,
  type SooTrainerOptions,
} from '@soo/core';
import { generateTokens } from './generate.js';
import {
  attachAdapter,
  attachFreshLora,
  configFromOptions,
  loraVariables,
  mergeLora,
  setLoraValues,
  snapshotAdapter,
} from './lora.js';
import { Decoder, deepestStop, disposeRun, tidyRun } from './model.js';
import { activate, initTfBackend, type TfKind } from './tf.js';
import { TfLmTrainer } from './lm-trainer.js';
import { TfSooTrainer } from './trainer.js';
import { disposeDecoderWeights, loadDecoderWeights } from './weights.js';

const CAPABILITIES: BackendCapabilities = { train: true, generate: true, hooks: true, dtypes: ['float32'] };

function checkRows(field: string, rows: unknown, B: number, T: number): void {
  if (
    !Array.isArray(rows) ||
    rows.length !== B ||
    rows.some(
      (r) =>
        !Array.isArray(r) || r.length !== T || r.some((x) => typeof x !== 'number' || !Number.isInteger(x)),
    )
  ) {
    throw new InvalidArgumentError(
      'SHAPE_MISMATCH',
      `forward: ${field} must be ${B} rows of ${T} integers, like ids`,
      { field },
    );
  }
}

export class TfjsModel implements BackendModel {
  readonly backend: string;
  private readonly decoder: Decoder;
  private adapterConfig: LoraAdapterConfig | null = null;
  private readonly trainers = new Set<{ dispose(): void }>();
  private disposed = false;

  constructor(
    private readonly owner: TfjsBackend,
    readonly config: DecoderConfig,
    decoder: Decoder,
  ) {
    this.backend = owner.name;
    this.decoder = decoder;
  }

  /** Trainers hold the adapter's variables: a new adapter, a merge or dispose ends them. */
  private disposeTrainers(): void {
    for (const t of this.trainers) t.dispose();
    this.trainers.clear();
  }

  private enter(): void {
    if (this.disposed) throw new InvalidArgumentError('INVALID_ARGUMENT', 'this model was disposed');
    activate(this.owner.kind);
  }

  /** Load a PEFT adapter folder on top of the base weights (replaces any current adapter). */
  async loadAdapter(dir: string): Promise<void> {
    const adapter = await readAdapter(dir);
    this.enter();
    attachAdapter(this.decoder.weights, adapter, path.join(dir, 'adapter_model.safetensors'));
    this.disposeTrainers();
    this.adapterConfig = adapter.config;
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    const { ids } = input;
    if (!Array.isArray(ids) || ids.length === 0 || !Array.isArray(ids[0]) || ids[0].length === 0) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'forward: ids must be a non-empty [batch][tokens] array',
        { field: 'ids' },
      );
    }
    const B = ids.length;
    const T = (ids[0] as number[]).length;
    checkRows('ids', ids, B, T);
    if (input.attentionMask) checkRows('attentionMask', input.attentionMask, B, T);
    if (input.positionIds) checkRows('positionIds', input.positionIds, B, T);
    for (const row of ids) {
      for (const id of row) {
        if (id < 0 || id >= this.config.vocabSize) {
          throw new InvalidArgumentError(
            'INVALID_ARGUMENT',
            `forward: token id ${id} is outside the vocabulary [0, ${this.config.vocabSize})`,
            {
              field: 'ids',
            },
          );
        }
      }
    }
    const specs: HookSpec<HostTensor>[] = (input.hooks ?? []).map((h) =>
      typeof h === 'string' ? { name: h, mode: 'capture' } : h,
    );
    if (specs.length) requireCapability(this.owner, 'hooks');
    validateHookSpecs(this.config, specs);
    const captureNames = specs.filter((s) => s.mode === 'capture').map((s) => s.name);
    const replace = new Map<string, (x: tf.Tensor) => tf.Tensor>();
    for (const s of specs) {
      if (s.mode !== 'replace') continue;
      replace.set(s.name, (x) => {
        const out = s.replace({ data: (x.dataSync() as Float32Array).slice(), shape: [...x.shape] });
        if (!out || !(out.data instanceof Float32Array) || !tf.util.arraysEqual(out.shape, x.shape)) {
          throw new InvalidArgumentError(
            'SHAPE_MISMATCH',
            `hook ${s.name}: replace must return a Float32Array of shape [${x.shape.join(', ')}]`,
            {
              field: s.name,
            },
          );
        }
        return tf.tensor(out.data, x.shape, 'float32');
      });
    }
    const wantLogits = input.returnLogits ?? true;
    const needFull = wantLogits || specs.some((s) => s.name === 'lm_head');
    const stop = needFull ? null : deepestStop(specs.map((s) => s.name));
    const logitsMode =
      wantLogits || specs.some((s) => s.name === 'lm_head') ? (input.logitsPositions ?? 'all') : 'none';

    this.enter();
    const result = tidyRun(() =>
      this.decoder.run({
        ids,
        attentionMask: input.attentionMask ?? null,
        positionIds: input.positionIds,
        capture: new Set(captureNames),
        replace,
        stop,
        logits: logitsMode,
      }),
    );
    try {
      assertHooksReached(
        specs.filter((s) => s.mode === 'capture'),
        result.captured,
      );
      const out: ForwardOutput = { hooks: {} };
      if (result.logits && wantLogits)
        out.logits = { data: (await result.logits.data()) as Float32Array, shape: [...result.logits.shape] };
      for (const [name, t] of result.captured) {
        out.hooks[name] = { data: (await t.data()) as Float32Array, shape: [...t.shape] };
      }
      return out;
    } finally {
      disposeRun(result);
    }
  }

  async generate(input: GenerateInput): Promise<number[][]> {
    this.enter();
    return generateTokens(this.decoder, input, this.config.padTokenId ?? 0, () => this.enter());
  }

  async attachLora(options: AttachLoraOptions): Promise<void> {
    const config = configFromOptions(options);
    this.enter();
    attachFreshLora(this.decoder.weights, config, options.seed ?? 0);
    this.disposeTrainers();
    this.adapterConfig = config;
  }

  createSooTrainer(options: SooTrainerOptions): SooTrainer {
    this.enter();
    const trainer = new TfSooTrainer(this.decoder, loraVariables(this.decoder.weights), options, () =>
      this.enter(),
    );
    this.trainers.add(trainer);
    return trainer;
  }

  createLmTrainer(options: LmTrainerOptions): LmTrainer {
    this.enter();
    const trainer = new TfLmTrainer(this.decoder, loraVariables(this.decoder.weights), options, () =>
      this.enter(),
    );
    this.trainers.add(trainer);
    return trainer;
  }

  getAdapter(): AdapterSnapshot | null {
    if (this.adapterConfig === null) return null;
    this.enter();
    return snapshotAdapter(this.decoder.weights, this.adapterConfig);
  }

  async setAdapterTensors(
    tensors: ReadonlyMap<string, { data: Float32Array; shape: readonly number[] }>,
  ): Promise<void> {
    if (this.adapterConfig === null) {
      throw new InvalidArgumentError(
        'ADAPTER_WEIGHTS',
        'setAdapterTensors: the model has no adapter (attachLora or load one first)',
      );
    }
    this.enter();
    setLoraValues(this.decoder.weights, tensors);
  }

  async saveAdapter(dir: string): Promise<void> {
    const snap = this.getAdapter();
    if (!snap)
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'saveAdapter: the model has no adapter (attachLora or load one first)',
      );
    const tensors = new Map(
      [...snap.tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }]),
    );
    await writeAdapter(dir, { config: snap.config, tensors });
  }

  async mergeAdapter(): Promise<void> {
    if (this.adapterConfig === null) return;
    this.enter();
    this.disposeTrainers();
    mergeLora(this.decoder.weights);
    this.adapterConfig = null;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposeTrainers();
    activate(this.owner.kind);
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

  async loadModel(dir: string, options: LoadModelOptions = {}): Promise<TfjsModel> {
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
    const config = await loadDecoderConfig(
      dir,
      options.configFile ? { configFileName: options.configFile } : {},
    );
    const store = await WeightStore.openDir(dir);
    let decoder: Decoder;
    try {
      const weights = await loadDecoderWeights(config, store, store.files[0] ?? dir, () =>
        activate(this.kind),
      );
      decoder = new Decoder(config, weights, {
        bufferDtype: options.checkpointDtypeBuffers ? config.dtype : 'float32',
      });
    } finally {
      await store.close();
    }
    const model = new TfjsModel(this, config, decoder);
    if (options.adapterDir) {
      try {
        await model.loadAdapter(options.adapterDir);
      } catch (e) {
        model.dispose();
        throw e;
      }
    }
    return model;
  }
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

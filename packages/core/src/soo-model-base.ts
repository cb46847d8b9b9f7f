/**
 * `SooModel`: what scripts, evaluation, training and the CLI use, built once in core over a backend's v2
 * primitives (backend-spec.ts). It resolves hook names (a bad name fails before any weight loads), pads
 * batches, attaches LoRA with core's initial values, reads and writes PEFT adapters, generates with core's
 * sampling, and makes trainers whose step core owns (`train/trainer.ts`).
 *
 * `SooModelBase` is all of it but adapter folders: no file access, so a browser can use it.
 * `SooModel` (soo-model.ts) adds `loadAdapter` / `saveAdapter` and the folder loaders.
 */
import type {
  Backend,
  BackendModel,
  HostTensor,
  Intervention,
  LoadOptions,
  ModelSource,
  StopPoint,
} from './backend-spec.js';
import { requireCapability } from './backend-registry.js';
import { explicitBatch } from './batch.js';
import type { DecoderConfig } from './config-types.js';
import { ADAPTER_WEIGHTS_NAME, type LoraAdapter, type LoraAdapterConfig } from './adapter-parse.js';
import { InvalidArgumentError } from './errors.js';
import { generate, type GenerateInput } from './generate.js';
import {
  hookNotReachedError,
  resolveHookPoint,
  stopPointFor,
  validateHookSpecs,
  type HookPoint,
  type HookSpec,
} from './hooks.js';
import { adapterTensors, initLoraTensors, type AttachLoraOptions } from './lora-init.js';
import {
  LmTrainer,
  SooTrainer,
  type LmTrainerOptions,
  type SooTrainerOptions,
} from './train/model-trainers.js';

/**
 * One hook request: a hook-point name to capture, or a `HookSpec` whose `replace` runs on host tensors (a
 * slow fallback; prefer `interventions`, which run on the device).
 */
export type ForwardHook = string | HookSpec<HostTensor>;

/** An intervention named by hook-point name (resolved by `forward`). */
export type NamedIntervention = Intervention extends infer I
  ? I extends { hook: HookPoint }
    ? Omit<I, 'hook'> & { hook: string }
    : never
  : never;

export interface ForwardInput {
  /** [batch][tokens] token ids; every row the same length (pad them). */
  ids: number[][];
  /** [batch][tokens], 1 = real token, 0 = padding. Omitted: every position is real. */
  attentionMask?: number[][];
  /** [batch][tokens] position ids. Omitted: 0..tokens-1 for every row. */
  positionIds?: number[][];
  /** Hook points to capture (or replace through a host callback). */
  hooks?: ForwardHook[];
  /** Changes to module outputs applied on the device. */
  interventions?: NamedIntervention[];
  /** Compute the logits (default true). When false the pass stops after the deepest hooked module. */
  returnLogits?: boolean;
  /** Logits for every position (default) or only the last one ([batch, 1, vocab]). */
  logitsPositions?: 'all' | 'last';
  /** Run with the adapter (default true) or the base model. */
  adapter?: boolean;
}

export interface ForwardOutput {
  /** [batch, tokens, vocab], when requested. */
  logits?: HostTensor;
  /** Captured module outputs by hook name, each [batch, tokens, width]. */
  hooks: Record<string, HostTensor>;
}

/** A LoRA adapter's config and tensors (PEFT keys, float32 values). */
export interface AdapterSnapshot {
  config: LoraAdapterConfig;
  tensors: Map<string, HostTensor>;
}

export class SooModelBase {
  protected adapter: LoraAdapterConfig | null = null;
  /** Bumped whenever the trainable parameters change identity (attach, load, detach): trainers check it. */
  private generation = 0;

  constructor(
    readonly inner: BackendModel,
    private readonly owner: Pick<Backend, 'name' | 'capabilities'>,
  ) {}

  get config(): DecoderConfig {
    return this.inner.config;
  }

  /** The registry name of the backend that loaded it. */
  get backend(): string {
    return this.owner.name;
  }

  get capabilities(): Backend['capabilities'] {
    return this.owner.capabilities;
  }

  /** The current adapter's config, or null. */
  get adapterConfig(): LoraAdapterConfig | null {
    return this.adapter;
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    const batch = explicitBatch(input, this.config.vocabSize);
    const specs: HookSpec<HostTensor>[] = (input.hooks ?? []).map((h) =>
      typeof h === 'string' ? { name: h, mode: 'capture' } : h,
    );
    if (specs.length || input.interventions?.length) requireCapability(this.owner, 'hooks');
    const points = validateHookSpecs(this.config, specs);
    const capture = points.filter((_, i) => specs[i]!.mode === 'capture');
    const interventions: Intervention[] = specs.flatMap((s, i) =>
      s.mode === 'replace' ? [{ hook: points[i]!, kind: 'callback' as const, fn: s.replace }] : [],
    );
    for (const iv of input.interventions ?? []) {
      interventions.push({ ...iv, hook: resolveHookPoint(this.config, iv.hook) } as Intervention);
    }
    const wantLogits = input.returnLogits ?? true;
    const all = [...capture, ...interventions.map((i) => i.hook)];
    const stop: StopPoint | null = wantLogits ? null : stopPointFor(all);
    const needsHead = all.some((p) => p.module === 'lm_head' || p.module === 'norm');
    const logits = wantLogits || needsHead ? (input.logitsPositions ?? 'all') : 'none';
    const r = await this.inner.forward(batch, {
      capture,
      logits,
      stopAt: logits === 'none' ? stop : null,
      interventions,
      adapter: input.adapter ?? true,
    });
    const out: ForwardOutput = { hooks: {} };
    if (wantLogits && r.logits) out.logits = r.logits;
    for (const p of capture) {
      const t = r.captures.get(p.name);
      if (!t) throw hookNotReachedError([p.name], `backend "${this.backend}" returned no capture for it`);
      out.hooks[p.name] = t;
    }
    return out;
  }

  /** New tokens per prompt (prompt excluded). */
  async generate(input: GenerateInput): Promise<number[][]> {
    requireCapability(this.owner, 'generate');
    return generate(this.inner, input);
  }

  /** Add fresh LoRA layers (replacing any current adapter), initialised as PEFT does from core's `Rng`. */
  async attachLora(options: AttachLoraOptions): Promise<void> {
    const { config, scaling, tensors } = initLoraTensors(this.config, options);
    await this.inner.attachAdapter({ scaling, tensors });
    this.adapter = config;
    this.generation++;
  }

  /**
   * Attach a PEFT adapter already read (`readAdapter`, or `adapterFromBytes` in a browser), replacing any
   * current adapter. `file` names its weights in errors.
   */
  async attachAdapter(adapter: LoraAdapter, file: string = ADAPTER_WEIGHTS_NAME): Promise<void> {
    await this.inner.attachAdapter(adapterTensors(this.config, adapter, file));
    this.adapter = adapter.config;
    this.generation++;
  }

  async detachAdapter(): Promise<void> {
    await this.inner.detachAdapter();
    this.adapter = null;
    this.generation++;
  }

  /** The current adapter, or null. */
  async getAdapter(): Promise<AdapterSnapshot | null> {
    if (this.adapter === null) return null;
    return { config: this.adapter, tensors: await this.inner.getParameters() };
  }

  /** Overwrite the adapter's values (the same PEFT keys and shapes). Throws `ADAPTER_WEIGHTS` otherwise. */
  async setAdapterTensors(
    tensors: ReadonlyMap<string, { data: Float32Array; shape: readonly number[] }>,
  ): Promise<void> {
    if (this.adapter === null) {
      throw new InvalidArgumentError(
        'ADAPTER_WEIGHTS',
        'setAdapterTensors: the model has no adapter (attachLora or load one first)',
      );
    }
    checkParameterValues(this.inner, tensors, 'setAdapterTensors');
    await this.inner.setParameters(
      new Map([...tensors].map(([k, t]) => [k, { data: t.data, shape: [...t.shape] }])),
    );
  }

  /** A SOO trainer over the current adapter. */
  createSooTrainer(options: SooTrainerOptions): SooTrainer {
    requireCapability(this.owner, 'train');
    const hook = resolveHookPoint(this.config, options.hook);
    return new SooTrainer(this.inner, hook, options, this.adapter?.loraDropout ?? 0, this.currentCheck());
  }

  /** A next-token trainer over the trainable parameters (the exposure control; full training). */
  createLmTrainer(options: LmTrainerOptions): LmTrainer {
    requireCapability(this.owner, 'train');
    return new LmTrainer(this.inner, options, this.adapter?.loraDropout ?? 0, this.currentCheck());
  }

  /** A check that throws once the adapter a trainer was made for has been replaced. */
  private currentCheck(): () => void {
    const gen = this.generation;
    return () => {
      if (this.generation !== gen) {
        throw new InvalidArgumentError(
          'INVALID_ARGUMENT',
          'the adapter changed since this trainer was made (attachLora, loadAdapter or detachAdapter); create a new trainer',
          { field: 'adapter' },
        );
      }
    };
  }

  dispose(): void {
    this.inner.dispose();
  }
}

/** Names and shapes of `values` against the model's trainable parameters (all present, nothing extra). */
export function checkParameterValues(
  model: BackendModel,
  values: ReadonlyMap<string, { data: Float32Array; shape: readonly number[] }>,
  what: string,
): void {
  const params = new Map(model.parameters().map((p) => [p.name, p.shape]));
  const bad = (key: string, msg: string): never => {
    throw new InvalidArgumentError('ADAPTER_WEIGHTS', `${what}: "${key}" ${msg}`, { field: key });
  };
  for (const key of params.keys())
    if (!values.has(key)) bad(key, 'is missing; expected every tensor of the current adapter');
  for (const [key, t] of values) {
    const shape = params.get(key);
    if (!shape)
      return bad(
        key,
        `is not a tensor of the current adapter (it has ${params.size}, e.g. "${[...params.keys()][0]}")`,
      );
    const n = shape.reduce((a, b) => a * b, 1);
    if (
      !(t.data instanceof Float32Array) ||
      t.shape.length !== shape.length ||
      t.shape.some((d, i) => d !== shape[i]) ||
      t.data.length !== n
    ) {
      bad(
        key,
        `has shape [${t.shape.join(', ')}] (${t.data?.length} values), expected [${shape.join(', ')}]`,
      );
    }
  }
}

/**
 * Load a model from a `ModelSource` (a source in memory: `safetensorsModelSource`, `memoryModelSource`) on
 * `backend`, with no file access. Node code opens folders with `loadModel`.
 */
export async function loadModelFromSource(
  backend: Backend,
  source: ModelSource,
  options: LoadOptions = {},
): Promise<SooModelBase> {
  return new SooModelBase(await backend.loadModel(source, options), backend);
}

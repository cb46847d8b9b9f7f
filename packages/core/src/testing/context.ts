/**
 * One fixture as the checks see it: the oracle, the backend, and models loaded through core's reader
 * (`openModelSource`) in the suite's dtype, with or without the fixture's PEFT adapter.
 */
import * as path from 'node:path';
import { loraModules, readAdapter } from '../adapter.js';
import type {
  AdapterTensors,
  Backend,
  BackendModel,
  ComputeDtype,
  HostTensor,
  TokenBatch,
} from '../backend-spec.js';
import type { DecoderConfig } from '../config-types.js';
import { resolveHookPoint, type HookPoint } from '../hooks.js';
import { openModelSource } from '../model-source.js';
import type { ErrorLog } from './assert.js';
import { loadOracle, type Oracle } from './references.js';
import type { ConformanceTolerances } from './tolerances.js';

export interface LoadFixtureModel {
  /** Attach the fixture's adapter (default false). */
  adapter?: boolean;
  /** Default: true on bf16-saved fixtures for base-model checks (how the oracle's base outputs were made). */
  checkpointDtypeBuffers?: boolean;
  /** `'all'`: every base weight trainable (no adapter). */
  trainable?: 'adapter' | 'all';
}

export class FixtureContext {
  private cache = new Map<string, Promise<BackendModel>>();
  private memo = new Map<string, Promise<unknown>>();
  private adapterTensors: Promise<AdapterTensors> | null = null;

  constructor(
    readonly backend: Backend,
    readonly label: string,
    readonly dir: string,
    readonly configFile: string,
    readonly dtype: ComputeDtype,
    readonly tol: ConformanceTolerances,
    readonly oracle: Oracle,
    readonly config: DecoderConfig,
    readonly log: ErrorLog | undefined,
  ) {}

  static async open(
    backend: Backend,
    label: string,
    dir: string,
    configFile: string,
    dtype: ComputeDtype,
    tol: ConformanceTolerances,
    log: ErrorLog | undefined,
  ): Promise<FixtureContext> {
    const oracle = await loadOracle(dir);
    const source = await openModelSource(dir, { configFile });
    const config = source.config;
    await source.close();
    return new FixtureContext(backend, label, dir, configFile, dtype, tol, oracle, config, log);
  }

  /** The module the fixture's SOO loss reads (`lora.hook`). */
  get hook(): HookPoint {
    return resolveHookPoint(this.config, this.oracle.json.lora.hook);
  }

  point(name: string): HookPoint {
    return resolveHookPoint(this.config, name);
  }

  /** The fixture adapter as `attachAdapter` takes it (PEFT keys, scaling by module path). */
  adapter(): Promise<AdapterTensors> {
    this.adapterTensors ??= (async () => {
      const a = await readAdapter(path.join(this.dir, 'adapter'));
      const tensors = new Map<string, HostTensor>();
      for (const [k, t] of a.tensors) tensors.set(k, { data: t.data, shape: [...t.shape] });
      const scaling = new Map<string, number>();
      for (const m of loraModules(a)) scaling.set(m.modulePath, m.scaling);
      return { scaling, tensors };
    })();
    return this.adapterTensors;
  }

  /** Every tensor name of the fixture's weights. */
  async weightNames(): Promise<string[]> {
    const source = await openModelSource(this.dir, { configFile: this.configFile });
    try {
      return source.weights.names();
    } finally {
      await source.close();
    }
  }

  /** A new model (the caller disposes it). */
  async load(options: LoadFixtureModel = {}): Promise<BackendModel> {
    const source = await openModelSource(this.dir, { configFile: this.configFile });
    let model: BackendModel;
    try {
      model = await this.backend.loadModel(source, {
        dtype: this.dtype,
        checkpointDtypeBuffers:
          options.checkpointDtypeBuffers ?? (!options.adapter && this.oracle.json.saved_bf16 === true),
        ...(options.trainable ? { trainable: options.trainable } : {}),
      });
    } finally {
      await source.close();
    }
    if (options.adapter) {
      const a = await this.adapter();
      // Copies: a backend may keep the arrays it is given.
      const tensors = new Map<string, HostTensor>();
      for (const [k, t] of a.tensors) tensors.set(k, { data: t.data.slice(), shape: [...t.shape] });
      await model.attachAdapter({ scaling: a.scaling, tensors });
    }
    return model;
  }

  /**
   * A shared model for read-only checks (forward, prefill/decode): `base` (how the oracle's base outputs were
   * made) or `tuned` (the fixture adapter attached). Checks must not change its parameters or gradients.
   */
  shared(which: 'base' | 'tuned'): Promise<BackendModel> {
    let m = this.cache.get(which);
    if (!m) {
      m = this.load({ adapter: which === 'tuned' });
      this.cache.set(which, m);
    }
    return m;
  }

  /** Memoise a value computed by one check for others in this fixture (e.g. a plain forward). */
  once<T>(key: string, f: () => Promise<T>): Promise<T> {
    let v = this.memo.get(key) as Promise<T> | undefined;
    if (!v) {
      v = f();
      this.memo.set(key, v);
    }
    return v;
  }

  async dispose(): Promise<void> {
    for (const m of this.cache.values()) {
      try {
        (await m).dispose();
      } catch {
        // a load that failed has nothing to free
      }
    }
    this.cache.clear();
    this.memo.clear();
  }
}

/** A [1, T] batch of one row, every token real, positions 0..T-1. */
export function oneRow(ids: readonly number[]): TokenBatch {
  return {
    rows: 1,
    tokens: ids.length,
    ids: Int32Array.from(ids),
    attentionMask: new Uint8Array(ids.length).fill(1),
    positionIds: Int32Array.from(ids, (_, t) => t),
  };
}

/** The pad id the suite uses (the config's, else 0). */
export function padIdOf(config: DecoderConfig): number {
  return config.padTokenId ?? 0;
}

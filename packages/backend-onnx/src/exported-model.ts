/**
 * A folder written by `exportOnnx` (or any decoder in Optimum's layout with a soo-readable config.json)
 * run as a `BackendModel`: `soo eval --backend onnx --model <exported folder>`. The graph is what was
 * exported: the adapter is already merged (no adapter switch, no attach), hook outputs are the exported
 * ones, and interventions would need the weights (load the source folder on the onnx backend instead).
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  BackendError,
  FormatError,
  InvalidArgumentError,
  SooModel,
  hookNotReachedError,
  isJsonObject,
  loadDecoderConfig,
  type AdapterTensors,
  type BackendModel,
  type ComputeDtype,
  type DecodeInput,
  type DecoderConfig,
  type ForwardOptions,
  type ForwardResult,
  type HostTensor,
  type KvCache,
  type ParameterInfo,
  type TokenBatch,
} from '@soo/core';
import { createOnnxBackend, type OnnxBackend } from './backend.js';
import { InferenceOnlyModel, ONNX_BACKEND } from './inference-only.js';
import { EXPORT_MANIFEST_FILE, ONNX_MODEL_FILE, type ExportManifest } from './export.js';
import {
  OnnxKvCache,
  checkDecodeInput,
  extendKeyMask,
  keyMaskOf,
  lastOfAll,
  lastPosition,
  runSession,
} from './runner.js';
import { createSession, type ort } from './session.js';

/** Whether `dir` holds an exported ONNX decoder (`model.onnx`). */
export function isOnnxExport(dir: string): boolean {
  return existsSync(path.join(dir, ONNX_MODEL_FILE));
}

/** `soo_export.json` of an exported folder, or null when the folder has none (a foreign export). */
export async function readExportManifest(dir: string): Promise<ExportManifest | null> {
  const file = path.join(dir, EXPORT_MANIFEST_FILE);
  const text = await fsp.readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new FormatError('CONFIG_JSON', `${file}: not valid JSON`, { file, cause });
  }
  if (!isJsonObject(v) || v.format !== 'soo-onnx-decoder' || !Array.isArray(v.hooks))
    throw new FormatError(
      'CONFIG_FIELD',
      `${file}: expected {"format": "soo-onnx-decoder", "hooks": [...]}`,
      {
        file,
        field: 'format',
      },
    );
  return v as unknown as ExportManifest;
}

export class ExportedOnnxModel extends InferenceOnlyModel implements BackendModel {
  readonly backend = ONNX_BACKEND;
  readonly dtype: ComputeDtype = 'float32';
  private disposed = false;

  constructor(
    readonly config: DecoderConfig,
    readonly dir: string,
    private readonly session: ort.InferenceSession,
    /** Whether an adapter was merged at export (then `adapter: false` cannot be honoured). */
    readonly merged: boolean,
  ) {
    super();
  }

  /** Hook names the graph outputs. */
  get hooks(): string[] {
    return this.session.outputNames.filter((n) => n.startsWith('hook.')).map((n) => n.slice(5));
  }

  private enter(adapter: boolean | undefined): void {
    if (this.disposed) throw new InvalidArgumentError('INVALID_ARGUMENT', 'this model was disposed');
    if (adapter === false && this.merged)
      throw new BackendError(
        'BACKEND_CAPABILITY',
        `${this.dir}: the adapter is merged into this export, so "adapter: false" cannot run the base model; export the model without --adapter for that`,
        { file: this.dir, field: 'adapter' },
      );
  }

  async forward(batch: TokenBatch, options: ForwardOptions): Promise<ForwardResult> {
    this.enter(options.adapter);
    if (options.interventions?.length)
      throw new BackendError(
        'BACKEND_CAPABILITY',
        `${this.dir}: interventions need the weights; run them with --backend onnx on the source model folder`,
        { file: this.dir, field: 'interventions' },
      );
    const have = new Set(this.hooks);
    const missing = (options.capture ?? []).map((p) => p.name).filter((n) => !have.has(n));
    if (missing.length)
      throw hookNotReachedError(
        missing,
        `not an output of ${path.join(this.dir, ONNX_MODEL_FILE)}; export with --hooks ${missing.join(',')}`,
      );
    const out = await runSession(this.session, this.config, batch, keyMaskOf(batch), null, {});
    for (const t of out.presents.values()) t.dispose();
    const captures = new Map<string, HostTensor>();
    for (const p of options.capture ?? []) captures.set(p.name, out.captures.get(p.name) as HostTensor);
    const logits =
      options.logits === 'none' || !out.logits
        ? null
        : options.logits === 'last'
          ? lastOfAll(out.logits)
          : out.logits;
    return { logits, captures };
  }

  async prefill(
    batch: TokenBatch,
    options: { adapter?: boolean } = {},
  ): Promise<{ cache: KvCache; logits: HostTensor }> {
    this.enter(options.adapter);
    const keyMask = keyMaskOf(batch);
    const out = await runSession(this.session, this.config, batch, keyMask, null, {});
    const cache = new OnnxKvCache(this.session, true, batch.rows, batch.tokens, keyMask, out.presents);
    return { cache, logits: lastPosition(out.logits as HostTensor) };
  }

  async decode(cache: KvCache, input: DecodeInput): Promise<HostTensor> {
    this.enter(undefined);
    if (!(cache instanceof OnnxKvCache) || cache.session !== this.session)
      throw new InvalidArgumentError('INVALID_ARGUMENT', 'decode: the cache was not made by this model', {
        field: 'cache',
      });
    checkDecodeInput(cache, input);
    const keyMask = extendKeyMask(cache, input);
    const out = await runSession(
      this.session,
      this.config,
      { rows: cache.rows, tokens: 1, ids: input.ids, positionIds: input.positionIds },
      keyMask,
      cache.presents,
      {},
    );
    for (const t of cache.presents.values()) t.dispose();
    cache.presents = out.presents;
    cache.keyMask = keyMask;
    cache.length += 1;
    return lastPosition(out.logits as HostTensor);
  }

  async attachAdapter(_adapter: AdapterTensors): Promise<void> {
    throw new BackendError(
      'BACKEND_CAPABILITY',
      `${this.dir}: an exported model takes no adapter; merge it at export (soo export --onnx --adapter)`,
      { file: this.dir, field: 'adapter' },
    );
  }
  async detachAdapter(): Promise<void> {
    this.enter(undefined);
  }
  parameters(): ParameterInfo[] {
    return [];
  }
  async getParameters(): Promise<Map<string, HostTensor>> {
    return new Map();
  }
  async setParameters(values: ReadonlyMap<string, HostTensor>): Promise<void> {
    if (values.size)
      throw new BackendError(
        'BACKEND_CAPABILITY',
        `${this.dir}: an exported model has no trainable parameters`,
        {
          file: this.dir,
        },
      );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.session.release().catch(() => undefined);
  }
}

export interface LoadExportedOptions {
  /** Config file inside the folder (default config.json). */
  configFile?: string;
  /** The backend whose threads to use (default a new `onnx` backend: env SOO_ONNX_THREADS or one per core). */
  backend?: OnnxBackend;
}

/** An exported folder as the `BackendModel` core's code runs. */
export async function loadExportedBackendModel(
  dir: string,
  options: LoadExportedOptions = {},
): Promise<ExportedOnnxModel> {
  const config = await loadDecoderConfig(
    dir,
    options.configFile ? { configFileName: options.configFile } : {},
  );
  const manifest = await readExportManifest(dir);
  const backend = options.backend ?? createOnnxBackend();
  const session = await createSession(path.join(dir, ONNX_MODEL_FILE), backend.threads, backend.spinning);
  return new ExportedOnnxModel(config, dir, session, manifest?.adapter != null);
}

/** An exported folder as a `SooModel` (forward, generate, evaluation), on the onnx backend. */
export async function loadExportedModel(dir: string, options: LoadExportedOptions = {}): Promise<SooModel> {
  const backend = options.backend ?? createOnnxBackend();
  return new SooModel(await loadExportedBackendModel(dir, { ...options, backend }), backend);
}

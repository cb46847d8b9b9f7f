/**
 * `WeightStore`: one read interface over a model folder's weights, whether they are a single
 * `model.safetensors` or shards listed by `model.safetensors.index.json`.
 */

import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { FormatError, NotFoundError, where } from '../errors.js';
import { toFloat32 } from './dtypes.js';
import type { Dtype } from './dtypes.js';
import { SafetensorsFile, missingTensorError } from './read.js';
import type { RawTensor, TensorInfo } from './read.js';

/** The single-file weights name `save_pretrained` writes. */
export const SAFE_WEIGHTS_NAME = 'model.safetensors';
/** The shard index name `save_pretrained` writes for sharded weights. */
export const SAFE_WEIGHTS_INDEX_NAME = 'model.safetensors.index.json';

/** A tensor's info plus the file that holds it. */
export interface StoredTensorInfo extends TensorInfo {
  /** Path of the safetensors file (shard) the tensor is in. */
  readonly file: string;
}

/** How many tensors and bytes of one dtype a store holds. */
export interface DtypeSummary {
  dtype: Dtype;
  tensors: number;
  bytes: number;
}

type JsonObject = Record<string, unknown>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Read access to a set of safetensors files that together hold one model's weights. Tensor names are
 * unique across the set; every read method mirrors `SafetensorsFile`'s. Call `close()` when done.
 */
export class WeightStore {
  /** The folder the weights are in. */
  readonly dir: string;
  /** The index file when the weights are sharded, else undefined. */
  readonly indexPath: string | undefined;
  /** `metadata` from the index file (e.g. `total_size`), when sharded and present. */
  readonly indexMetadata: Readonly<Record<string, unknown>> | undefined;

  private readonly shards: readonly SafetensorsFile[];
  private readonly byName: Map<string, { shard: SafetensorsFile; info: StoredTensorInfo }>;
  private readonly ordered: readonly string[];

  private constructor(
    dir: string,
    indexPath: string | undefined,
    indexMetadata: Readonly<Record<string, unknown>> | undefined,
    shards: readonly SafetensorsFile[],
  ) {
    this.dir = dir;
    this.indexPath = indexPath;
    this.indexMetadata = indexMetadata;
    this.shards = shards;
    this.byName = new Map();
    const ordered: string[] = [];
    for (const shard of shards) {
      for (const info of shard.tensors()) {
        this.byName.set(info.name, { shard, info: { ...info, file: shard.path } });
        ordered.push(info.name);
      }
    }
    this.ordered = ordered;
  }

  /**
   * Open the weights in `dir`: `model.safetensors` when present (the file transformers prefers),
   * else `model.safetensors.index.json` and its shards. WEIGHTS_MISSING when there is neither.
   */
  static async openDir(dir: string): Promise<WeightStore> {
    let stat;
    try {
      stat = await fsp.stat(dir);
    } catch (cause) {
      throw new NotFoundError(
        'MODEL_DIR_NOT_FOUND',
        `${dir}: folder does not exist, expected a model folder`,
        {
          file: dir,
          cause,
        },
      );
    }
    if (!stat.isDirectory()) {
      throw new NotFoundError('MODEL_DIR_NOT_FOUND', `${dir}: is not a folder, expected a model folder`, {
        file: dir,
      });
    }
    const single = path.join(dir, SAFE_WEIGHTS_NAME);
    if (existsSync(single)) return WeightStore.openFile(single);
    const index = path.join(dir, SAFE_WEIGHTS_INDEX_NAME);
    if (existsSync(index)) return WeightStore.openIndex(index);

    const entries = await fsp.readdir(dir);
    const others = entries.filter((e) => /\.(bin|pt|pth|ckpt|h5|msgpack|gguf)$/.test(e));
    const hint = others.length
      ? `; found ${others.map((e) => `"${e}"`).join(', ')}, which soo does not read (convert to safetensors)`
      : '';
    throw new NotFoundError(
      'WEIGHTS_MISSING',
      `${dir}: no weights, expected "${SAFE_WEIGHTS_NAME}" or "${SAFE_WEIGHTS_INDEX_NAME}"${hint}`,
      { file: dir },
    );
  }

  /** A store over one safetensors file. */
  static async openFile(file: string): Promise<WeightStore> {
    const shard = await SafetensorsFile.open(file);
    return new WeightStore(path.dirname(file), undefined, undefined, [shard]);
  }

  /**
   * A store over the shards listed by the index file `indexFile`. Validates the index (a `weight_map`
   * object of tensor name -> shard file name), that every shard exists and opens, that every mapped
   * tensor is in the shard the index names, and that no tensor appears in two shards.
   */
  static async openIndex(indexFile: string): Promise<WeightStore> {
    const dir = path.dirname(indexFile);
    const fail = (field: string | undefined, message: string, cause?: unknown) =>
      new FormatError('SAFETENSORS_INDEX', `${where(indexFile, field)}${message}`, {
        file: indexFile,
        field,
        cause,
      });

    let text: string;
    try {
      text = await fsp.readFile(indexFile, 'utf8');
    } catch (cause) {
      throw new NotFoundError(
        'SAFETENSORS_INDEX',
        `${indexFile}: cannot be read, expected a shard index JSON file`,
        {
          file: indexFile,
          cause,
        },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new FormatError(
        'SAFETENSORS_INDEX',
        `${where(indexFile)}not valid JSON (${detail}), expected {"metadata": {...}, "weight_map": {...}}`,
        { file: indexFile, field: '(syntax)', cause },
      );
    }
    if (!isJsonObject(json))
      throw new FormatError(
        'SAFETENSORS_INDEX',
        `${where(indexFile)}not a JSON object, expected {"metadata": {...}, "weight_map": {...}}`,
        { file: indexFile, field: '(top level)' },
      );
    const weightMap = json['weight_map'];
    if (!isJsonObject(weightMap)) {
      throw fail(
        'weight_map',
        `${weightMap === undefined ? 'missing' : 'not an object'}, expected an object mapping tensor names to shard files`,
      );
    }
    const metadata = json['metadata'];
    if (metadata !== undefined && metadata !== null && !isJsonObject(metadata)) {
      throw fail(
        'metadata',
        'not an object, expected an object (e.g. {"total_size": ...}) or no "metadata" key',
      );
    }

    // Group tensor names by shard; shards are opened in file-name order (model-00001-of-… first).
    const byShard = new Map<string, string[]>();
    for (const [name, shardName] of Object.entries(weightMap)) {
      const field = `weight_map["${name}"]`;
      if (typeof shardName !== 'string' || shardName === '') {
        throw fail(field, `holds ${JSON.stringify(shardName)}, expected a shard file name`);
      }
      if (path.isAbsolute(shardName) || shardName.split(/[\\/]/).includes('..')) {
        throw fail(field, `"${shardName}" leaves the model folder, expected a file name inside ${dir}`);
      }
      const list = byShard.get(shardName) ?? [];
      list.push(name);
      byShard.set(shardName, list);
    }

    const shards: SafetensorsFile[] = [];
    try {
      for (const [shardName, names] of [...byShard].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const shardPath = path.join(dir, shardName);
        if (!existsSync(shardPath)) {
          throw new NotFoundError(
            'SAFETENSORS_INDEX',
            `${where(indexFile, `weight_map["${names[0]}"]`)}shard "${shardName}" does not exist, expected ${shardPath} (${names.length} tensors are mapped to it)`,
            { file: indexFile, field: shardName },
          );
        }
        const shard = await SafetensorsFile.open(shardPath);
        shards.push(shard);
        for (const name of names) {
          if (!shard.has(name)) {
            const near = missingTensorError(shardPath, name, shard.names()).message;
            throw fail(`weight_map["${name}"]`, `tensor is not in shard "${shardName}" (${near})`);
          }
        }
      }
      // A name held by two shards is ambiguous, whichever one the index points at.
      const seen = new Map<string, string>();
      for (const shard of shards) {
        for (const name of shard.names()) {
          const first = seen.get(name);
          if (first !== undefined) {
            throw fail(
              `tensor "${name}"`,
              `found in both "${path.basename(first)}" and "${path.basename(shard.path)}", expected each tensor in exactly one shard`,
            );
          }
          seen.set(name, shard.path);
        }
      }
    } catch (e) {
      await Promise.all(shards.map((s) => s.close()));
      throw e;
    }
    return new WeightStore(dir, indexFile, isJsonObject(metadata) ? metadata : undefined, shards);
  }

  /** Paths of the safetensors files in the store. */
  get files(): string[] {
    return this.shards.map((s) => s.path);
  }

  /** Every tensor name: shard by shard, in data-offset order within a shard. */
  names(): string[] {
    return [...this.ordered];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Info for `name`, including the shard file; SAFETENSORS_MISSING_TENSOR when absent. */
  info(name: string): StoredTensorInfo {
    return this.entry(name).info;
  }

  /** Raw little-endian bytes of `name`. */
  async readBytes(name: string): Promise<Uint8Array> {
    return this.entry(name).shard.readBytes(name);
  }

  /** `name` as float32, converted from its stored dtype. */
  async readFloat32(name: string): Promise<Float32Array> {
    const { shard, info } = this.entry(name);
    return toFloat32(info.dtype, await shard.readBytes(name));
  }

  /** `name` as dtype, shape and raw bytes. */
  async readTensor(name: string): Promise<RawTensor> {
    return this.entry(name).shard.readTensor(name);
  }

  /** Tensors and bytes per dtype, most bytes first. */
  dtypes(): DtypeSummary[] {
    const summary = new Map<Dtype, DtypeSummary>();
    for (const { info } of this.byName.values()) {
      const s = summary.get(info.dtype) ?? { dtype: info.dtype, tensors: 0, bytes: 0 };
      s.tensors += 1;
      s.bytes += info.byteLength;
      summary.set(info.dtype, s);
    }
    return [...summary.values()].sort((a, b) => b.bytes - a.bytes || a.dtype.localeCompare(b.dtype));
  }

  /** Close every shard's file handle. */
  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }

  private entry(name: string): { shard: SafetensorsFile; info: StoredTensorInfo } {
    const e = this.byName.get(name);
    if (!e)
      throw missingTensorError(this.indexPath ?? this.shards[0]?.path ?? this.dir, name, this.byName.keys());
    return e;
  }
}

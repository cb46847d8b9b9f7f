/**
 * Saving and loading MADDPG agents. Every tensor is named like the PyTorch port's state dicts,
 * prefixed by agent and network: `agents.1.policy.fc1.weight`, `agents.0.critic.in_fn.running_var`,
 * `agents.1.policy_optimizer.exp_avg` (flat; one Adam per network).
 *
 * On disk, a folder with:
 * - `maddpg.safetensors`: every tensor, F64 by default (an exact round trip; `dtype: 'F32'` for files
 *   that match the PyTorch port's float32 state dicts, at float32 precision);
 * - `maddpg.json`: format, version, dims, the MADDPG config, update count and caller metadata, and
 *   `weights: "maddpg.safetensors"`.
 * A `maddpg.json` that carries the tensors inline (`maddpgToJson`) loads too.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  FormatError,
  InvalidArgumentError,
  NotFoundError,
  Rng,
  SafetensorsFile,
  toFloat32,
  writeSafetensors,
  type TensorToWrite,
  writeFileAtomic,
} from '@soo/core';
import type { Mlp } from '../nn/mlp.js';
import { Maddpg, PAPER_MADDPG, type MaddpgConfig } from './maddpg.js';

export const CHECKPOINT_FORMAT = 'soo-rl-maddpg';
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_FILE = 'maddpg.json';
export const WEIGHTS_FILE = 'maddpg.safetensors';

export interface NamedTensor {
  shape: number[];
  data: Float64Array;
}

const NETS = ['policy', 'critic', 'targetPolicy', 'targetCritic'] as const;
const NET_PREFIX: Record<(typeof NETS)[number], string> = {
  policy: 'policy',
  critic: 'critic',
  targetPolicy: 'target_policy',
  targetCritic: 'target_critic',
};

/** All tensors of a MADDPG, by name (copies). */
export function maddpgTensors(m: Maddpg, includeOptimizer = true): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  m.agents.forEach((a, i) => {
    for (const net of NETS) {
      const mlp = a[net];
      const pre = `agents.${i}.${NET_PREFIX[net]}.`;
      for (const s of mlp.layout) out.set(pre + s.name, { shape: s.shape, data: mlp.tensor(s.name) });
      if (mlp.spec.batchNorm) {
        out.set(pre + 'in_fn.running_mean', {
          shape: [mlp.spec.inDim],
          data: Float64Array.from(mlp.runningMean),
        });
        out.set(pre + 'in_fn.running_var', {
          shape: [mlp.spec.inDim],
          data: Float64Array.from(mlp.runningVar),
        });
        out.set(pre + 'in_fn.num_batches_tracked', {
          shape: [],
          data: Float64Array.of(mlp.numBatchesTracked),
        });
      }
    }
    if (includeOptimizer) {
      for (const [name, opt] of [
        ['policy_optimizer', a.policyOpt],
        ['critic_optimizer', a.criticOpt],
      ] as const) {
        out.set(`agents.${i}.${name}.exp_avg`, { shape: [opt.m.length], data: Float64Array.from(opt.m) });
        out.set(`agents.${i}.${name}.exp_avg_sq`, { shape: [opt.v.length], data: Float64Array.from(opt.v) });
        out.set(`agents.${i}.${name}.step`, { shape: [], data: Float64Array.of(opt.t) });
      }
    }
  });
  return out;
}

/** Load tensors (as produced by `maddpgTensors`) into an existing MADDPG of the same shape. */
export function loadMaddpgTensors(
  m: Maddpg,
  tensors: ReadonlyMap<string, NamedTensor>,
  file = '(tensors)',
): void {
  const get = (name: string, n: number): Float64Array => {
    const t = tensors.get(name);
    if (!t)
      throw new FormatError('SAFETENSORS_MISSING_TENSOR', `${file}: missing tensor ${name}`, {
        file,
        field: name,
      });
    if (t.data.length !== n)
      throw new FormatError('WEIGHTS_SHAPE', `${file}: ${name} has ${t.data.length} values, expected ${n}`, {
        file,
        field: name,
      });
    return t.data;
  };
  m.agents.forEach((a, i) => {
    for (const net of NETS) {
      const mlp: Mlp = a[net];
      const pre = `agents.${i}.${NET_PREFIX[net]}.`;
      for (const s of mlp.layout) {
        const n = s.shape.reduce((x, y) => x * y, 1);
        mlp.params.set(get(pre + s.name, n), s.offset);
      }
      if (mlp.spec.batchNorm) {
        mlp.runningMean.set(get(pre + 'in_fn.running_mean', mlp.spec.inDim));
        mlp.runningVar.set(get(pre + 'in_fn.running_var', mlp.spec.inDim));
        mlp.numBatchesTracked = get(pre + 'in_fn.num_batches_tracked', 1)[0]!;
      }
    }
    for (const [name, opt] of [
      ['policy_optimizer', a.policyOpt],
      ['critic_optimizer', a.criticOpt],
    ] as const) {
      if (!tensors.has(`agents.${i}.${name}.exp_avg`)) continue;
      opt.m.set(get(`agents.${i}.${name}.exp_avg`, opt.m.length));
      opt.v.set(get(`agents.${i}.${name}.exp_avg_sq`, opt.v.length));
      opt.t = get(`agents.${i}.${name}.step`, 1)[0]!;
    }
  });
}

export interface CheckpointJson {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  obsDims: number[];
  actDims: number[];
  config: MaddpgConfig;
  updates: number;
  meta: Record<string, unknown>;
  /** Inline tensors (JSON-only checkpoints), or absent when `weights` names a safetensors file. */
  tensors?: Record<string, { shape: number[]; data: number[] }>;
  weights?: string;
}

export function maddpgToJson(
  m: Maddpg,
  meta: Record<string, unknown> = {},
  includeOptimizer = true,
): CheckpointJson {
  const tensors: CheckpointJson['tensors'] = {};
  for (const [k, t] of maddpgTensors(m, includeOptimizer))
    tensors[k] = { shape: t.shape, data: Array.from(t.data) };
  return {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    obsDims: [...m.obsDims],
    actDims: [...m.actDims],
    config: { ...m.config },
    updates: m.updates,
    meta,
    tensors,
  };
}

/** Limits on a checkpoint's sizes: a header cannot make the loader allocate more than a real model needs. */
const MAX_AGENTS = 64;
const MAX_DIM = 4096;
const MAX_HIDDEN = 65536;

function parseHeader(json: unknown, file: string): CheckpointJson {
  const bad = (code: 'CONFIG_JSON' | 'CONFIG_FIELD', field: string, message: string): never => {
    throw new FormatError(code, `${file}: ${field}: ${message}`, { file, field });
  };
  const j = json as Partial<CheckpointJson> | null;
  if (!j || typeof j !== 'object' || Array.isArray(j))
    bad('CONFIG_JSON', '(top level)', `expected a JSON object (a ${CHECKPOINT_FORMAT} checkpoint)`);
  const h = j as Partial<CheckpointJson>;
  if (h.format !== CHECKPOINT_FORMAT)
    bad(
      'CONFIG_JSON',
      'format',
      `expected "${CHECKPOINT_FORMAT}", got ${JSON.stringify(h.format) ?? 'nothing'}`,
    );
  if (h.version !== CHECKPOINT_VERSION)
    throw new FormatError('CONFIG_FIELD', `${file}: unsupported checkpoint version ${String(h.version)}`, {
      file,
      field: 'version',
    });
  const dims = (field: 'obsDims' | 'actDims'): void => {
    const d = h[field] as unknown;
    if (
      !Array.isArray(d) ||
      d.length === 0 ||
      d.length > MAX_AGENTS ||
      !d.every((x) => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= MAX_DIM)
    )
      bad(
        'CONFIG_FIELD',
        field,
        `expected 1-${MAX_AGENTS} integers in [1, ${MAX_DIM}], got ${JSON.stringify(d)?.slice(0, 60)}`,
      );
  };
  dims('obsDims');
  dims('actDims');
  if ((h.obsDims as number[]).length !== (h.actDims as number[]).length)
    bad(
      'CONFIG_FIELD',
      'actDims',
      `expected one entry per agent (${(h.obsDims as number[]).length}), like obsDims`,
    );
  const c = h.config as Record<string, unknown> | undefined;
  if (!c || typeof c !== 'object' || Array.isArray(c))
    bad('CONFIG_FIELD', 'config', 'expected a JSON object');
  const cfg = c as Record<string, unknown>;
  for (const [k, v] of Object.entries(cfg)) {
    const def = (PAPER_MADDPG as unknown as Record<string, unknown>)[k];
    if (def === undefined) continue;
    if (typeof def === 'boolean' && typeof v !== 'boolean')
      bad('CONFIG_FIELD', `config.${k}`, `expected true or false, got ${JSON.stringify(v)}`);
    if (typeof def === 'number' && (typeof v !== 'number' || !Number.isFinite(v)))
      bad('CONFIG_FIELD', `config.${k}`, `expected a finite number, got ${JSON.stringify(v)}`);
  }
  if (
    cfg.hidden !== undefined &&
    !(Number.isInteger(cfg.hidden) && (cfg.hidden as number) >= 1 && (cfg.hidden as number) <= MAX_HIDDEN)
  )
    bad(
      'CONFIG_FIELD',
      'config.hidden',
      `expected an integer in [1, ${MAX_HIDDEN}], got ${JSON.stringify(cfg.hidden)}`,
    );
  if (h.updates !== undefined && !(Number.isSafeInteger(h.updates) && (h.updates as number) >= 0))
    bad('CONFIG_FIELD', 'updates', `expected a non-negative integer, got ${JSON.stringify(h.updates)}`);
  if (h.meta !== undefined && (h.meta === null || typeof h.meta !== 'object' || Array.isArray(h.meta)))
    bad('CONFIG_FIELD', 'meta', 'expected a JSON object');
  if (h.tensors === undefined) {
    if (
      typeof h.weights !== 'string' ||
      !/^[\w.-]+\.safetensors$/.test(h.weights) ||
      h.weights.startsWith('.')
    )
      bad(
        'CONFIG_FIELD',
        'weights',
        `expected the weights file name beside it (like "${WEIGHTS_FILE}"), got ${JSON.stringify(h.weights)}`,
      );
  } else if (!h.tensors || typeof h.tensors !== 'object' || Array.isArray(h.tensors)) {
    bad('CONFIG_FIELD', 'tensors', 'expected an object of {"shape", "data"} by name');
  } else {
    for (const [k, t] of Object.entries(h.tensors))
      if (
        !t ||
        !Array.isArray(t.shape) ||
        !Array.isArray(t.data) ||
        !t.data.every((x) => typeof x === 'number')
      )
        bad('CONFIG_FIELD', `tensors.${k}`, 'expected {"shape": [...], "data": [numbers]}');
  }
  return h as CheckpointJson;
}

function build(
  j: CheckpointJson,
  tensors: ReadonlyMap<string, NamedTensor>,
  file: string,
): { maddpg: Maddpg; meta: Record<string, unknown> } {
  const m = new Maddpg(j.obsDims, j.actDims, j.config, new Rng(0));
  loadMaddpgTensors(m, tensors, file);
  m.updates = j.updates ?? 0;
  return { maddpg: m, meta: j.meta ?? {} };
}

/** Rebuild a MADDPG from a JSON checkpoint with inline tensors. */
export function maddpgFromJson(
  json: unknown,
  file = '(json)',
): { maddpg: Maddpg; meta: Record<string, unknown> } {
  const j = parseHeader(json, file);
  if (!j.tensors)
    throw new FormatError('CONFIG_FIELD', `${file}: tensors are in ${j.weights}; use loadMaddpg()`, {
      file,
      field: 'tensors',
    });
  const map = new Map<string, NamedTensor>();
  for (const [k, t] of Object.entries(j.tensors))
    map.set(k, { shape: t.shape, data: Float64Array.from(t.data) });
  return build(j, map, file);
}

export interface SaveOptions {
  /** Element type of the safetensors file (default 'F64': exact). */
  dtype?: 'F64' | 'F32';
  /** Include both Adam states (default true; needed to continue training exactly). */
  includeOptimizer?: boolean;
}

/** Write `dir/maddpg.safetensors` and `dir/maddpg.json`; returns the JSON file's path. */
export async function saveMaddpg(
  dir: string,
  m: Maddpg,
  meta: Record<string, unknown> = {},
  opts: SaveOptions = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const dtype = opts.dtype ?? 'F64';
  const tensors: Record<string, TensorToWrite> = {};
  for (const [k, t] of maddpgTensors(m, opts.includeOptimizer ?? true)) {
    tensors[k] = { dtype, shape: t.shape, data: dtype === 'F64' ? t.data : Float32Array.from(t.data) };
  }
  await writeSafetensors(join(dir, WEIGHTS_FILE), tensors, { format: CHECKPOINT_FORMAT });
  const { tensors: _inline, ...header } = maddpgToJson(m, meta, false);
  const file = join(dir, CHECKPOINT_FILE);
  // atomic (temp file, fsync, rename): a crash never leaves a half-written checkpoint header
  await writeFileAtomic(file, JSON.stringify({ ...header, weights: WEIGHTS_FILE }, null, 2));
  return file;
}

/** Load a checkpoint saved by `saveMaddpg` (a folder, or its `maddpg.json`). */
export async function loadMaddpg(path: string): Promise<{ maddpg: Maddpg; meta: Record<string, unknown> }> {
  if (!path) throw new InvalidArgumentError('INVALID_ARGUMENT', 'loadMaddpg(): empty path');
  const file = path.endsWith('.json') ? path : join(path, CHECKPOINT_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new NotFoundError('FILE_NOT_FOUND', `${file}: cannot read MADDPG checkpoint`, { file, cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError('CONFIG_JSON', `${file}: invalid JSON`, { file, field: '(syntax)', cause: e });
  }
  const j = parseHeader(json, file);
  if (j.tensors) return maddpgFromJson(j, file);
  const wfile = join(dirname(file), j.weights!);
  const st = await SafetensorsFile.open(wfile);
  try {
    const map = new Map<string, NamedTensor>();
    for (const info of st.tensors()) {
      const raw = await st.readTensor(info.name);
      let data: Float64Array;
      if (raw.dtype === 'F64') {
        data = new Float64Array(raw.data.slice().buffer);
      } else {
        data = Float64Array.from(toFloat32(raw.dtype, raw.data));
      }
      map.set(info.name, { shape: [...raw.shape], data });
    }
    return build(j, map, wfile);
  } finally {
    await st.close();
  }
}

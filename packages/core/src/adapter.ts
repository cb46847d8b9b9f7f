/**
 * PEFT LoRA adapter folders: `adapter_config.json` + `adapter_model.safetensors`, as written by
 * `PeftModel.save_pretrained` and read by `PeftModel.from_pretrained`.
 *
 * Keys in the weights file are `base_model.model.<module path>.lora_A.weight` ([r, in_features]) and
 * `...lora_B.weight` ([out_features, r]), where `<module path>` is the module's name inside the base
 * model (e.g. `model.layers.0.self_attn.q_proj`). The adapted module computes
 * `W x + scaling · B (A x)` with `scaling = alpha / r` (or `alpha / sqrt(r)` with rsLoRA), where r and
 * alpha may be overridden per module by `rank_pattern` / `alpha_pattern`.
 */

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { FormatError, InvalidArgumentError, NotFoundError, UnsupportedError, where } from './errors.js';
import { writeFileAtomic } from './fs.js';
import { fromFloat32, isFloatDtype } from './safetensors/dtypes.js';
import type { Dtype } from './safetensors/dtypes.js';
import { SafetensorsFile } from './safetensors/read.js';
import { writeSafetensors } from './safetensors/write.js';
import type { TensorToWrite } from './safetensors/write.js';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';

/** PEFT's `bias` option: which base-model biases the adapter trains (soo supports only "none"). */
export type LoraBias = 'none' | 'all' | 'lora_only';

/** A LoRA adapter's `adapter_config.json`, typed, with camelCase names. */
export interface LoraAdapterConfig {
  peftType: 'LORA';
  /** Default rank. */
  r: number;
  /** Default alpha. */
  loraAlpha: number;
  loraDropout: number;
  /** Module-name suffixes (list), or a regex that must match the whole module path (string). */
  targetModules: string[] | string;
  /** rsLoRA: scaling alpha / sqrt(r) instead of alpha / r. */
  useRslora: boolean;
  bias: LoraBias;
  fanInFanOut: boolean;
  baseModelNameOrPath: string | null;
  /** Per-module rank overrides: regex key (matched against a suffix of the module path) -> rank. */
  rankPattern: Record<string, number>;
  /** Per-module alpha overrides, keyed like `rankPattern`. */
  alphaPattern: Record<string, number>;
  /** Only adapt these layer indices (with a list `targetModules`). */
  layersToTransform: number[] | number | null;
  /** Name(s) of the layer list used to find layer indices, e.g. "layers"; null: any `<name>.<index>.`. */
  layersPattern: string[] | string | null;
  /** Modules never adapted: suffixes (list) or a full-match regex (string). */
  excludeModules: string[] | string | null;
  /** Modules saved whole alongside the LoRA tensors. */
  modulesToSave: string[] | null;
  /** PEFT task type, e.g. "CAUSAL_LM"; null when the adapter was saved without one. */
  taskType: string | null;
  /** The config as read (every key, unknown ones included); written back under the typed fields. */
  raw: Record<string, unknown>;
}

/** One adapter tensor: its stored dtype and shape, and its values as float32. */
export interface AdapterTensor {
  /** The dtype in the file; `writeAdapter` writes the tensor back in this dtype. */
  dtype: Dtype;
  shape: number[];
  data: Float32Array;
}

export interface LoraAdapter {
  config: LoraAdapterConfig;
  /**
   * Every tensor of `adapter_model.safetensors` by its PEFT key, in file order: lora_A / lora_B pairs,
   * plus whole-module weights when `modulesToSave` is set.
   */
  tensors: Map<string, AdapterTensor>;
  /** `__metadata__` of the weights file (PEFT writes {"format": "pt"}); written back as is. */
  metadata?: Record<string, string>;
}

/** A LoRA adapter read from disk. */
export interface LoadedLoraAdapter extends LoraAdapter {
  /** The folder it was read from. */
  dir: string;
}

/** One adapted module: its A/B pair and effective rank, alpha and scaling. */
export interface LoraModule {
  modulePath: string;
  /** lora_A, [rank, inFeatures]. */
  a: AdapterTensor;
  /** lora_B, [outFeatures, rank]. */
  b: AdapterTensor;
  rank: number;
  alpha: number;
  scaling: number;
  inFeatures: number;
  outFeatures: number;
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

const PEFT_PREFIX = 'base_model.model.';
const PEFT_KEY = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;

/** The PEFT weights key of `modulePath`'s A or B matrix: `base_model.model.<modulePath>.lora_A.weight`. */
export function peftKey(modulePath: string, which: 'A' | 'B'): string {
  return `${PEFT_PREFIX}${modulePath}.lora_${which}.weight`;
}

/** The module path and matrix of a PEFT LoRA key, or null when `key` is not one. */
export function parsePeftKey(key: string): { modulePath: string; which: 'A' | 'B' } | null {
  const m = PEFT_KEY.exec(key);
  if (!m) return null;
  return { modulePath: m[1] as string, which: m[2] as 'A' | 'B' };
}

// ---------------------------------------------------------------------------------------------
// Rank, alpha, scaling and targeting (PEFT semantics)
// ---------------------------------------------------------------------------------------------

/** Compile a PEFT regex (written for Python's `re`) anchored at both ends. */
function fullRegex(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

/** PEFT's `get_pattern_key`: the first pattern matching a dot-aligned suffix of `modulePath`. */
function patternValue(patterns: Record<string, number>, modulePath: string): number | undefined {
  if (Object.prototype.hasOwnProperty.call(patterns, modulePath)) return patterns[modulePath];
  for (const [key, value] of Object.entries(patterns)) {
    if (new RegExp(`^(?:.*\\.)?(?:${key})$`).test(modulePath)) return value;
  }
  return undefined;
}

/** The rank of `modulePath` (its `rankPattern` override, else `r`); `r` when no module is given. */
export function loraRank(config: LoraAdapterConfig, modulePath?: string): number {
  if (modulePath === undefined) return config.r;
  return patternValue(config.rankPattern, modulePath) ?? config.r;
}

/** The alpha of `modulePath` (its `alphaPattern` override, else `loraAlpha`). */
export function loraAlpha(config: LoraAdapterConfig, modulePath?: string): number {
  if (modulePath === undefined) return config.loraAlpha;
  return patternValue(config.alphaPattern, modulePath) ?? config.loraAlpha;
}

/**
 * The factor LoRA's update is scaled by: alpha / r, or alpha / sqrt(r) with rsLoRA. With `modulePath`,
 * that module's `rankPattern` / `alphaPattern` overrides apply.
 */
export function loraScaling(config: LoraAdapterConfig, modulePath?: string): number {
  const r = loraRank(config, modulePath);
  const alpha = loraAlpha(config, modulePath);
  return config.useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

function matchesModuleList(spec: string[] | string, modulePath: string): boolean {
  if (typeof spec === 'string') return fullRegex(spec).test(modulePath);
  return spec.some((t) => modulePath === t || modulePath.endsWith(`.${t}`));
}

/**
 * Whether PEFT would put a LoRA layer on the module at `modulePath` (its name in the base model, e.g.
 * `model.layers.3.self_attn.q_proj`), following `target_modules`, `exclude_modules`,
 * `layers_to_transform` and `layers_pattern` exactly as `check_target_module_exists` does.
 * A `target_modules` of "all-linear" must be expanded to module names before calling this.
 */
export function isLoraTarget(config: LoraAdapterConfig, modulePath: string): boolean {
  if (config.excludeModules !== null && matchesModuleList(config.excludeModules, modulePath)) return false;
  const targets = config.targetModules;
  if (typeof targets === 'string') return fullRegex(targets).test(modulePath);
  if (targets.includes(modulePath)) return true;
  if (!targets.some((t) => modulePath.endsWith(`.${t}`))) return false;
  const layers = config.layersToTransform;
  if (layers === null || (Array.isArray(layers) && layers.length === 0)) return true;
  const patterns = config.layersPattern === null ? [] : [config.layersPattern].flat();
  let match: RegExpExecArray | null = null;
  if (patterns.length === 0) match = /^.*\.[^.]*\.(\d+)\./.exec(modulePath);
  for (const p of patterns) {
    match = new RegExp(`^.*\\.(?:${p})\\.(\\d+)\\.`).exec(modulePath);
    if (match) break;
  }
  if (!match) return false;
  const index = Number(match[1]);
  return typeof layers === 'number' ? index === layers : layers.includes(index);
}

// ---------------------------------------------------------------------------------------------
// Config parsing and serialization
// ---------------------------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** Options PEFT offers that change what the adapter computes and that soo does not implement. */
const UNSUPPORTED_OPTIONS: ReadonlyArray<[key: string, inUse: (v: unknown) => boolean, what: string]> = [
  ['use_dora', (v) => v === true, 'DoRA (weight-decomposed LoRA)'],
  ['lora_bias', (v) => v === true, 'a trainable bias on lora_B'],
  ['fan_in_fan_out', (v) => v === true, 'fan_in_fan_out (Conv1D-style [in, out] base weights)'],
  ['bias', (v) => v !== undefined && v !== 'none', 'training base-model biases (bias must be "none")'],
  ['use_qalora', (v) => v === true, 'QALoRA'],
  ['layer_replication', (v) => v !== undefined && v !== null, 'layer replication'],
  [
    'target_parameters',
    (v) => Array.isArray(v) && v.length > 0,
    'LoRA on bare parameters (target_parameters)',
  ],
  [
    'alora_invocation_tokens',
    (v) => v !== undefined && v !== null,
    'activated LoRA (alora_invocation_tokens)',
  ],
  ['trainable_token_indices', (v) => v !== undefined && v !== null, 'trainable token embeddings'],
  ['use_bdlora', (v) => v !== undefined && v !== null && v !== false, 'block-diagonal LoRA (use_bdlora)'],
];

/**
 * Validate and type a parsed `adapter_config.json`. `file` names the source in errors.
 * Malformed configs throw ADAPTER_CONFIG; LoRA variants soo does not implement throw an
 * UnsupportedError (CONFIG_UNSUPPORTED_OPTION).
 */
export function parseLoraConfig(json: unknown, file: string = ADAPTER_CONFIG_NAME): LoraAdapterConfig {
  const bad = (field: string | undefined, message: string) =>
    new FormatError('ADAPTER_CONFIG', `${where(file, field)}${message}`, { file, field });
  if (!isJsonObject(json))
    throw new FormatError(
      'ADAPTER_CONFIG',
      `${where(file)}got ${show(json).slice(0, 40)}, expected a JSON object`,
      {
        file,
        field: '(top level)',
      },
    );
  const get = (key: string): unknown =>
    Object.prototype.hasOwnProperty.call(json, key) ? json[key] : undefined;

  const peftType = get('peft_type');
  if (peftType !== 'LORA') {
    throw bad('peft_type', `got ${show(peftType)}, expected "LORA" (soo reads LoRA adapters only)`);
  }
  const r = get('r');
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r <= 0) {
    throw bad('r', `got ${show(r)}, expected a positive integer rank`);
  }
  const alpha = get('lora_alpha');
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) {
    throw bad('lora_alpha', `got ${show(alpha)}, expected a finite number`);
  }
  const dropout = get('lora_dropout') ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw bad('lora_dropout', `got ${show(dropout)}, expected a number in [0, 1)`);
  }

  const regex = (field: string, pattern: string): void => {
    try {
      fullRegex(pattern);
    } catch (e) {
      throw bad(field, `"${pattern}" is not a valid regular expression (${(e as Error).message})`);
    }
  };
  const stringList = (field: string, value: unknown, allowRegex: boolean): string[] | string | null => {
    if (value === undefined || value === null) return null;
    if (typeof value === 'string' && allowRegex) {
      regex(field, value);
      return value;
    }
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...(value as string[])];
    throw bad(
      field,
      `got ${show(value)}, expected ${allowRegex ? 'a list of module names or a regex string' : 'a list of names'}`,
    );
  };

  const targetModules = stringList('target_modules', get('target_modules'), true);
  if (targetModules === null) {
    throw bad('target_modules', 'missing, expected a list of module names or a regex string');
  }
  const useRslora = get('use_rslora') ?? false;
  if (typeof useRslora !== 'boolean')
    throw bad('use_rslora', `got ${show(useRslora)}, expected true or false`);
  const bias = get('bias') ?? 'none';
  if (bias !== 'none' && bias !== 'all' && bias !== 'lora_only') {
    throw bad('bias', `got ${show(bias)}, expected "none", "all" or "lora_only"`);
  }
  const fanInFanOut = get('fan_in_fan_out') ?? false;
  if (typeof fanInFanOut !== 'boolean')
    throw bad('fan_in_fan_out', `got ${show(fanInFanOut)}, expected true or false`);
  const baseModel = get('base_model_name_or_path') ?? null;
  if (baseModel !== null && typeof baseModel !== 'string') {
    throw bad('base_model_name_or_path', `got ${show(baseModel)}, expected a string or null`);
  }

  const patternMap = (field: string, integer: boolean): Record<string, number> => {
    const value = get(field) ?? {};
    if (!isJsonObject(value)) throw bad(field, `got ${show(value)}, expected an object of pattern -> number`);
    for (const [k, v] of Object.entries(value)) {
      regex(`${field}["${k}"]`, k);
      const ok = typeof v === 'number' && (integer ? Number.isSafeInteger(v) && v > 0 : Number.isFinite(v));
      if (!ok)
        throw bad(
          `${field}["${k}"]`,
          `got ${show(v)}, expected ${integer ? 'a positive integer' : 'a finite number'}`,
        );
    }
    return Object.fromEntries(Object.entries(value)) as Record<string, number>;
  };
  const rankPattern = patternMap('rank_pattern', true);
  const alphaPattern = patternMap('alpha_pattern', false);

  const layersValue = get('layers_to_transform') ?? null;
  const isLayer = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  let layersToTransform: number[] | number | null;
  if (layersValue === null || isLayer(layersValue)) layersToTransform = layersValue;
  else if (Array.isArray(layersValue) && layersValue.every(isLayer)) layersToTransform = [...layersValue];
  else
    throw bad(
      'layers_to_transform',
      `got ${show(layersValue)}, expected null, a layer index or a list of them`,
    );

  const layersPatternValue = get('layers_pattern') ?? null;
  let layersPattern: string[] | string | null = null;
  if (typeof layersPatternValue === 'string') {
    regex('layers_pattern', layersPatternValue);
    layersPattern = layersPatternValue;
  } else {
    const list = stringList('layers_pattern', layersPatternValue, false) as string[] | null;
    list?.forEach((p) => regex('layers_pattern', p));
    layersPattern = list;
  }
  const excludeModules = stringList('exclude_modules', get('exclude_modules'), true);
  const modulesToSave = stringList('modules_to_save', get('modules_to_save'), false) as string[] | null;
  const taskType = get('task_type') ?? null;
  if (taskType !== null && typeof taskType !== 'string')
    throw bad('task_type', `got ${show(taskType)}, expected a string or null`);

  for (const [key, inUse, what] of UNSUPPORTED_OPTIONS) {
    const value = get(key);
    if (inUse(value)) {
      throw new UnsupportedError(
        'CONFIG_UNSUPPORTED_OPTION',
        `${where(file, key)}${show(value)} enables ${what}, which soo does not support; expected ${key === 'bias' ? '"none"' : 'it off'}`,
        { file, field: key },
      );
    }
  }

  return {
    peftType: 'LORA',
    r,
    loraAlpha: alpha,
    loraDropout: dropout,
    targetModules,
    useRslora,
    bias,
    fanInFanOut,
    baseModelNameOrPath: baseModel,
    rankPattern,
    alphaPattern,
    layersToTransform,
    layersPattern,
    excludeModules,
    modulesToSave,
    taskType,
    raw: { ...json },
  };
}

/** PEFT keys that `writeAdapter` emits with these values when the config's `raw` lacks them. */
const PEFT_DEFAULTS: Readonly<Record<string, unknown>> = {
  auto_mapping: null,
  init_lora_weights: true,
  inference_mode: true,
  layer_replication: null,
  loftq_config: {},
  lora_bias: false,
  megatron_config: null,
  megatron_core: 'megatron.core',
  revision: null,
  use_dora: false,
};

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (!isJsonObject(value)) return value;
  const keys = Object.keys(value).sort();
  return Object.fromEntries(keys.map((k) => [k, sortKeysDeep(value[k])]));
}

/**
 * The `adapter_config.json` object for `config`, with PEFT's snake_case keys: `raw` (so unknown keys
 * survive), PEFT defaults for keys `raw` lacks, the typed fields on top; keys sorted as PEFT writes them.
 */
export function loraConfigToJson(config: LoraAdapterConfig): Record<string, unknown> {
  const typed: Record<string, unknown> = {
    peft_type: 'LORA',
    r: config.r,
    lora_alpha: config.loraAlpha,
    lora_dropout: config.loraDropout,
    target_modules: Array.isArray(config.targetModules) ? [...config.targetModules] : config.targetModules,
    use_rslora: config.useRslora,
    bias: config.bias,
    fan_in_fan_out: config.fanInFanOut,
    base_model_name_or_path: config.baseModelNameOrPath,
    rank_pattern: { ...config.rankPattern },
    alpha_pattern: { ...config.alphaPattern },
    layers_to_transform: Array.isArray(config.layersToTransform)
      ? [...config.layersToTransform]
      : config.layersToTransform,
    layers_pattern: Array.isArray(config.layersPattern) ? [...config.layersPattern] : config.layersPattern,
    exclude_modules: Array.isArray(config.excludeModules)
      ? [...config.excludeModules]
      : config.excludeModules,
    modules_to_save: config.modulesToSave === null ? null : [...config.modulesToSave],
    task_type: config.taskType === undefined ? 'CAUSAL_LM' : config.taskType,
  };
  return sortKeysDeep({ ...PEFT_DEFAULTS, ...config.raw, ...typed }) as Record<string, unknown>;
}

/** JSON text the way Python's `json.dumps(indent=2, sort_keys=True)` writes it (non-ASCII escaped). */
function pythonJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u0080-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

/** Options for `freshLoraConfig`: any typed field (camelCase); the rest take PEFT's defaults. */
export type FreshLoraConfigOptions = Partial<Omit<LoraAdapterConfig, 'peftType' | 'raw'>>;

/**
 * A new LoRA config: r 8, alpha 16, dropout 0, targets q_proj and v_proj, task type CAUSAL_LM, no
 * rsLoRA, no patterns, unless `opts` says otherwise. Invalid options throw ADAPTER_CONFIG.
 */
export function freshLoraConfig(opts: FreshLoraConfigOptions = {}): LoraAdapterConfig {
  const config: LoraAdapterConfig = {
    peftType: 'LORA',
    r: opts.r ?? 8,
    loraAlpha: opts.loraAlpha ?? 16,
    loraDropout: opts.loraDropout ?? 0,
    targetModules: opts.targetModules ?? ['q_proj', 'v_proj'],
    useRslora: opts.useRslora ?? false,
    bias: opts.bias ?? 'none',
    fanInFanOut: opts.fanInFanOut ?? false,
    baseModelNameOrPath: opts.baseModelNameOrPath ?? null,
    rankPattern: opts.rankPattern ?? {},
    alphaPattern: opts.alphaPattern ?? {},
    layersToTransform: opts.layersToTransform ?? null,
    layersPattern: opts.layersPattern ?? null,
    excludeModules: opts.excludeModules ?? null,
    modulesToSave: opts.modulesToSave ?? null,
    taskType: opts.taskType === undefined ? 'CAUSAL_LM' : opts.taskType,
    raw: {},
  };
  // Round-trip through the validator: checks every option and copies arrays and maps.
  const checked = parseLoraConfig(loraConfigToJson(config), 'freshLoraConfig options');
  return { ...checked, raw: {} };
}

// ---------------------------------------------------------------------------------------------
// Tensors
// ---------------------------------------------------------------------------------------------

/**
 * Pair up the adapter's lora_A / lora_B tensors and check them against the config: every A has a B
 * and vice versa, A is [rank, in] and B is [out, rank] with the module's rank, data lengths match
 * shapes. Other tensors are allowed only when `modulesToSave` is set. Throws ADAPTER_WEIGHTS naming
 * `file` (or UnsupportedError for LoRA variants such as embedding LoRA).
 */
export function loraModules(adapter: LoraAdapter, file: string = ADAPTER_WEIGHTS_NAME): LoraModule[] {
  const { config } = adapter;
  const bad = (key: string, message: string) =>
    new FormatError('ADAPTER_WEIGHTS', `${where(file, `tensor "${key}"`)}${message}`, { file, field: key });

  const pairs = new Map<string, { a?: AdapterTensor; b?: AdapterTensor }>();
  for (const [key, t] of adapter.tensors) {
    const numel = t.shape.reduce((p, d) => p * d, 1);
    if (t.data.length !== numel) {
      throw bad(key, `data has ${t.data.length} values, expected ${numel} for shape [${t.shape.join(',')}]`);
    }
    const parsed = parsePeftKey(key);
    if (!parsed) {
      if (/\.lora_(embedding_[AB]|magnitude_vector)\b/.test(key)) {
        throw new UnsupportedError(
          'CONFIG_UNSUPPORTED_OPTION',
          `${where(file, `tensor "${key}"`)}is a LoRA variant soo does not support (embedding LoRA or DoRA); expected only lora_A/lora_B linear weights`,
          { file, field: key },
        );
      }
      if (config.modulesToSave === null) {
        throw bad(
          key,
          `is not a LoRA weight, expected keys like "${peftKey('<module>', 'A')}" (modules_to_save is not set)`,
        );
      }
      continue;
    }
    const pair = pairs.get(parsed.modulePath) ?? {};
    if (parsed.which === 'A') pair.a = t;
    else pair.b = t;
    pairs.set(parsed.modulePath, pair);
  }

  const modules: LoraModule[] = [];
  for (const [modulePath, { a, b }] of pairs) {
    const keyA = peftKey(modulePath, 'A');
    const keyB = peftKey(modulePath, 'B');
    if (!a) throw bad(keyB, `has no matching "${keyA}", expected lora_A and lora_B in pairs`);
    if (!b) throw bad(keyA, `has no matching "${keyB}", expected lora_A and lora_B in pairs`);
    const rank = loraRank(config, modulePath);
    if (a.shape.length !== 2 || a.shape[0] !== rank) {
      throw bad(keyA, `shape [${a.shape.join(',')}], expected [${rank}, in_features] (r = ${rank})`);
    }
    if (b.shape.length !== 2 || b.shape[1] !== rank) {
      throw bad(keyB, `shape [${b.shape.join(',')}], expected [out_features, ${rank}] (r = ${rank})`);
    }
    modules.push({
      modulePath,
      a,
      b,
      rank,
      alpha: loraAlpha(config, modulePath),
      scaling: loraScaling(config, modulePath),
      inFeatures: a.shape[1] as number,
      outFeatures: b.shape[0] as number,
    });
  }
  return modules;
}

// ---------------------------------------------------------------------------------------------
// Reading and writing folders
// ---------------------------------------------------------------------------------------------

/**
 * Read a PEFT LoRA adapter folder: validate `adapter_config.json`, read every tensor of
 * `adapter_model.safetensors` as float32 (remembering its dtype), and check the A/B pairs and shapes.
 */
export async function readAdapter(dir: string): Promise<LoadedLoraAdapter> {
  const isFolder = await fsp.stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isFolder) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${dir}: not an existing folder, expected a PEFT adapter folder`,
      {
        file: dir,
      },
    );
  }

  const configPath = path.join(dir, ADAPTER_CONFIG_NAME);
  let text: string;
  try {
    text = await fsp.readFile(configPath, 'utf8');
  } catch (cause) {
    throw new NotFoundError(
      'ADAPTER_CONFIG',
      `${configPath}: cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)}), expected the adapter's config`,
      { file: configPath, cause },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new FormatError(
      'ADAPTER_CONFIG',
      `${configPath}: not valid JSON (${(cause as Error).message}), expected a JSON object`,
      { file: configPath, cause },
    );
  }
  const config = parseLoraConfig(json, configPath);

  const weightsPath = path.join(dir, ADAPTER_WEIGHTS_NAME);
  try {
    await fsp.access(weightsPath);
  } catch (cause) {
    let hint = '';
    try {
      await fsp.access(path.join(dir, 'adapter_model.bin'));
      hint = '; found adapter_model.bin, which soo does not read (save with safe_serialization=True)';
    } catch {
      // no pickle file either
    }
    throw new NotFoundError(
      'ADAPTER_WEIGHTS',
      `${weightsPath}: does not exist, expected the adapter's weights${hint}`,
      {
        file: weightsPath,
        cause,
      },
    );
  }
  const file = await SafetensorsFile.open(weightsPath);
  const tensors = new Map<string, AdapterTensor>();
  try {
    for (const info of file.tensors()) {
      tensors.set(info.name, {
        dtype: info.dtype,
        shape: info.shape.slice(),
        data: await file.readFloat32(info.name),
      });
    }
  } finally {
    await file.close();
  }
  const adapter: LoadedLoraAdapter = { dir, config, tensors };
  if (file.metadata !== undefined) adapter.metadata = { ...file.metadata };
  loraModules(adapter, weightsPath);
  return adapter;
}

/**
 * Write `adapter` to `dir` as PEFT does: `adapter_config.json` (every PEFT key, snake_case, sorted) and
 * `adapter_model.safetensors` (each tensor in its `dtype`, metadata {"format": "pt"} unless the adapter
 * carries its own). Validates config and tensors first; both files are written atomically.
 */
export async function writeAdapter(dir: string, adapter: LoraAdapter): Promise<void> {
  const configPath = path.join(dir, ADAPTER_CONFIG_NAME);
  const weightsPath = path.join(dir, ADAPTER_WEIGHTS_NAME);
  const json = loraConfigToJson(adapter.config);
  parseLoraConfig(json, configPath);
  loraModules(adapter, weightsPath);

  const tensors = new Map<string, TensorToWrite>();
  for (const [key, t] of adapter.tensors) {
    if (!isFloatDtype(t.dtype)) {
      throw new InvalidArgumentError(
        'ADAPTER_WEIGHTS',
        `${where(weightsPath, `tensor "${key}"`)}dtype ${t.dtype} cannot hold adapter weights, expected F32, F16, BF16 or F64`,
        { file: weightsPath, field: key },
      );
    }
    const data = fromFloat32(t.dtype, t.data);
    tensors.set(key, { dtype: t.dtype, shape: t.shape, data });
  }
  await writeSafetensors(weightsPath, tensors, adapter.metadata ?? { format: 'pt' });
  await writeFileAtomic(configPath, pythonJsonText(json));
}

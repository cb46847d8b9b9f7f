/**
 * PEFT LoRA adapter folders: `adapter_config.json` + `adapter_model.safetensors`, as written by
 * `PeftModel.save_pretrained` and read by `PeftModel.from_pretrained`.
 *
 * Keys in the weights file are `base_model.model.<module path>.lora_A.weight` ([r, in_features]) and
 * `...lora_B.weight` ([out_features, r]), where `<module path>` is the module's name inside the base
 * model (e.g. `model.layers.0.self_attn.q_proj`). The adapted module computes
 * `W x + scaling · B (A x)` with `scaling = alpha / r` (or `alpha / sqrt(r)` with rsLoRA), where r and
 * alpha may be overridden per module by `rank_pattern` / `alpha_pattern`.
 *
 * This module parses and checks adapters without touching files (`adapterFromBytes` reads one fetched
 * into memory); adapter.ts reads and writes adapter folders.
 */

import { FormatError, UnsupportedError, where } from './errors.js';
import { JsonReader, isJsonObject, type JsonFieldError } from './json-reader.js';
import type { Dtype } from './safetensors/dtypes.js';
import { SafetensorsBytes } from './safetensors/bytes.js';

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
  const error: JsonFieldError = (message, at) =>
    new FormatError('ADAPTER_CONFIG', message, { file: at.file, ...(at.field ? { field: at.field } : {}) });
  const r: JsonReader = JsonReader.of(json, { file, error });
  const get = (key: string): unknown => r.get(key);

  r.oneOf('peft_type', ['LORA'], '"LORA" (soo reads LoRA adapters only)');
  const rank = r.int('r');
  const alpha = r.number('lora_alpha', { expected: 'a finite number' });
  const dropout = r.present('lora_dropout') ? r.number('lora_dropout', { min: 0, below: 1 }) : 0;

  const regex = (field: string, pattern: string): void => {
    try {
      fullRegex(pattern);
    } catch (e) {
      r.invalid(field, `"${pattern}" is not a valid regular expression (${(e as Error).message})`);
    }
  };
  const stringList = (field: string, allowRegex: boolean): string[] | string | null => {
    const value = r.get(field);
    if (value === undefined || value === null) return null;
    if (typeof value === 'string' && allowRegex) {
      regex(field, value);
      return value;
    }
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...(value as string[])];
    return r.fail(field, allowRegex ? 'a list of module names or a regex string' : 'a list of names', value);
  };

  const targetModules = stringList('target_modules', true);
  if (targetModules === null)
    r.fail('target_modules', 'a list of module names or a regex string', get('target_modules'));
  const useRslora = r.present('use_rslora') ? r.bool('use_rslora') : false;
  const bias = r.present('bias')
    ? r.oneOf('bias', ['none', 'all', 'lora_only'] as const, '"none", "all" or "lora_only"')
    : 'none';
  const fanInFanOut = r.present('fan_in_fan_out') ? r.bool('fan_in_fan_out') : false;
  const baseModel = r.has('base_model_name_or_path') ? r.optString('base_model_name_or_path') : null;

  const patternMap = (field: string, integer: boolean): Record<string, number> => {
    if (!r.present(field)) return {};
    const map = r.object(field);
    for (const [k, v] of Object.entries(map)) {
      regex(`${field}["${k}"]`, k);
      const ok = typeof v === 'number' && (integer ? Number.isSafeInteger(v) && v > 0 : Number.isFinite(v));
      if (!ok) r.fail(`${field}["${k}"]`, integer ? 'a positive integer' : 'a finite number', v);
    }
    return { ...map } as Record<string, number>;
  };
  const rankPattern = patternMap('rank_pattern', true);
  const alphaPattern = patternMap('alpha_pattern', false);

  const layersValue = get('layers_to_transform') ?? null;
  const isLayer = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  let layersToTransform: number[] | number | null;
  if (layersValue === null || isLayer(layersValue)) layersToTransform = layersValue;
  else if (Array.isArray(layersValue) && layersValue.every(isLayer)) layersToTransform = [...layersValue];
  else r.fail('layers_to_transform', 'null, a layer index or a list of them', layersValue);

  const layersPatternValue = get('layers_pattern') ?? null;
  let layersPattern: string[] | string | null = null;
  if (typeof layersPatternValue === 'string') {
    regex('layers_pattern', layersPatternValue);
    layersPattern = layersPatternValue;
  } else {
    const list = stringList('layers_pattern', false) as string[] | null;
    list?.forEach((p) => regex('layers_pattern', p));
    layersPattern = list;
  }
  const excludeModules = stringList('exclude_modules', true);
  const modulesToSave = stringList('modules_to_save', false) as string[] | null;
  const taskType = r.has('task_type') ? r.optString('task_type') : null;

  for (const [key, inUse, what] of UNSUPPORTED_OPTIONS) {
    const value = get(key);
    if (inUse(value)) {
      r.unsupported(
        key,
        `${show(value)} enables ${what}, which soo does not support; expected ${key === 'bias' ? '"none"' : 'it off'}`,
      );
    }
  }

  return {
    peftType: 'LORA',
    r: rank,
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
    raw: { ...r.obj },
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
export function pythonJsonText(value: unknown): string {
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
// Adapters in memory
// ---------------------------------------------------------------------------------------------

/**
 * An adapter from the text of its `adapter_config.json` and the bytes of its `adapter_model.safetensors`
 * (fetched by a browser, say), checked as `readAdapter` checks a folder. `files` name the two in errors.
 */
export function adapterFromBytes(
  configText: string,
  weights: Uint8Array,
  files: { config: string; weights: string } = { config: ADAPTER_CONFIG_NAME, weights: ADAPTER_WEIGHTS_NAME },
): LoraAdapter {
  let json: unknown;
  try {
    json = JSON.parse(configText);
  } catch (cause) {
    throw new FormatError(
      'ADAPTER_CONFIG',
      `${files.config}: not valid JSON (${(cause as Error).message}), expected a JSON object`,
      { file: files.config, cause },
    );
  }
  const config = parseLoraConfig(json, files.config);
  const file = new SafetensorsBytes(files.weights, weights);
  const tensors = new Map<string, AdapterTensor>();
  for (const info of file.tensors()) {
    tensors.set(info.name, {
      dtype: info.dtype,
      shape: info.shape.slice(),
      data: file.readFloat32(info.name),
    });
  }
  const adapter: LoraAdapter = { config, tensors };
  if (file.metadata !== undefined) adapter.metadata = { ...file.metadata };
  loraModules(adapter, files.weights);
  return adapter;
}

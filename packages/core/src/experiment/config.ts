/**
 * `experiment.json`: arms x seeds, each run trained, evaluated, probed for latent SOO and capability.
 *
 * {
 *   "name": "mistral-paper",
 *   "model": "/models/Mistral-7B-Instruct-v0.2",
 *   "backend": "tfjs-wasm",                       // optional: the fastest available
 *   "arms": ["soo", "exposure", "none"],
 *   "seeds": [276, 809, 609, 802, 792],
 *   "train": { "preset": "mistral-7b-paper", "epochs": 15, ... },   // any `soo train` setting
 *   "eval": { "scenarios": ["main", "honesty"], "n": 250, "maxNewTokens": 75, "suffix": "mistral", "seed": 0 },
 *   "latent": { "modules": "all" },               // or false
 *   "capability": { "maxTokens": 2048 }           // or false
 * }
 * Relative paths are resolved against the experiment file's folder.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { FormatError, NotFoundError } from '../errors.js';
import { JsonReader, isJsonObject, type JsonFieldError } from '../json-reader.js';
import { POOLINGS, type Pooling } from '../soo.js';
import { TRAIN_PRESETS, type TrainOverrides } from '../train/presets.js';
import { SUFFIX_PRESETS, type SuffixPreset } from '../data/scenarios.js';
import { LINEAR_SUBSETS, type LinearSubset } from '../hooks.js';

export const ARMS = ['soo', 'exposure', 'none'] as const;
export type Arm = (typeof ARMS)[number];

/** `soo train`'s overrides (preset, layer, LoRA, lr, ...) plus the settings only runs have. */
export interface ExperimentTrainSettings extends TrainOverrides {
  weightDecay?: number;
  gradAccum?: number;
  pairs?: string;
  allTemplates?: boolean;
  capabilityKl?: number;
}

export interface ExperimentEvalSettings {
  scenarios: string[];
  mirrored: boolean;
  n: number;
  maxNewTokens: number;
  suffix: SuffixPreset;
  seed: number;
  batch: number;
}

export interface ExperimentConfig {
  name: string;
  model: string;
  backend?: string;
  arms: Arm[];
  seeds: number[];
  train: ExperimentTrainSettings;
  eval: ExperimentEvalSettings;
  latent: { modules: LinearSubset; pooling: Pooling; limit?: number } | false;
  capability: { maxTokens: number; text?: string } | false;
  /** Where the experiment file was read from (for messages). */
  file: string;
}

/** Validate and normalise a parsed experiment.json; every error names the file and the field. */
export function parseExperimentConfig(json: unknown, file: string): ExperimentConfig {
  const error: JsonFieldError = (message, at) =>
    new FormatError('DATA_INVALID', message, { file, ...(at.field ? { field: at.field } : {}) });
  const o: JsonReader = JsonReader.of(json, { file, error });
  const dir = path.dirname(file);
  const name = o.has('name') ? o.string('name') : path.basename(file, '.json');
  const model = path.resolve(dir, o.string('model'));
  const backend = o.has('backend') ? o.string('backend') : undefined;
  const arms: Arm[] = o.present('arms')
    ? o.array('arms', `a non-empty array of ${ARMS.join(' | ')}`, (a, at) =>
        (ARMS as readonly unknown[]).includes(a) ? (a as Arm) : o.fail(at, ARMS.join(' | '), a),
      )
    : ['soo', 'none'];
  const seeds = o.present('seeds')
    ? o.array('seeds', 'a non-empty array of integers', (x, at) =>
        typeof x === 'number' && Number.isSafeInteger(x) ? x : o.fail(at, 'an integer', x),
      )
    : [0];
  if (new Set(seeds).size !== seeds.length) o.fail('seeds', 'distinct seeds', seeds);

  const tr: JsonReader = o.present('train')
    ? o.child('train')
    : new JsonReader({}, { file, prefix: 'train', error });
  const train: ExperimentTrainSettings = {};
  if (tr.has('preset')) {
    train.preset = tr.oneOf('preset', Object.keys(TRAIN_PRESETS), Object.keys(TRAIN_PRESETS).join(' | '));
  }
  if (tr.has('layer')) train.layer = tr.number('layer', { integer: true, min: 0 });
  if (tr.has('hook')) train.hook = tr.string('hook');
  if (tr.has('pooling')) train.pooling = tr.oneOf('pooling', POOLINGS, POOLINGS.join(' | '));
  for (const [k, rule] of [
    ['r', { integer: true, min: 1 }],
    ['alpha', { min: 0 }],
    ['dropout', { min: 0, below: 1 }],
    ['lr', { min: 0 }],
    ['weightDecay', { min: 0 }],
    ['epochs', { integer: true, min: 1 }],
    ['batch', { integer: true, min: 1 }],
    ['gradAccum', { integer: true, min: 1 }],
    ['capabilityKl', { min: 0 }],
  ] as const) {
    if (tr.has(k)) (train as Record<string, unknown>)[k] = tr.number(k, rule);
  }
  if (tr.has('targets')) {
    train.targets = tr.array('targets', 'a non-empty array of module names', (x, at) =>
      typeof x === 'string' && x.length > 0 ? x : tr.fail(at, 'a non-empty string', x),
    );
  }
  if (tr.has('pairs')) train.pairs = path.resolve(dir, tr.string('pairs'));
  if (tr.has('allTemplates')) train.allTemplates = tr.get('allTemplates') === true;

  const ev: JsonReader = o.present('eval')
    ? o.child('eval')
    : new JsonReader({}, { file, prefix: 'eval', error });
  const scenarios = ev.present('scenarios')
    ? ev.array('scenarios', 'a non-empty array of scenario names', (x, at) =>
        typeof x === 'string' && x.length > 0 ? x : ev.fail(at, 'a non-empty string', x),
      )
    : ['main'];
  const suffixes = Object.keys(SUFFIX_PRESETS) as SuffixPreset[];
  const suffix: SuffixPreset = ev.present('suffix')
    ? ev.oneOf('suffix', suffixes, suffixes.join(' | '))
    : ((train.preset ? TRAIN_PRESETS[train.preset]?.suffix : 'none') ?? 'none');
  const int = (r: JsonReader, k: string, fallback: number, min?: number): number =>
    r.has(k) ? r.number(k, { integer: true, ...(min !== undefined ? { min } : {}) }) : fallback;
  const evalSettings: ExperimentEvalSettings = {
    scenarios,
    mirrored: ev.get('mirrored') === true,
    n: int(ev, 'n', 250, 1),
    maxNewTokens: int(ev, 'maxNewTokens', 75, 1),
    suffix,
    seed: int(ev, 'seed', 0),
    batch: int(ev, 'batch', 8, 1),
  };

  let latent: ExperimentConfig['latent'] = { modules: 'all', pooling: 'full' };
  if (o.get('latent') === false) latent = false;
  else if (o.has('latent')) {
    if (!isJsonObject(o.get('latent'))) o.fail('latent', 'an object or false', o.get('latent'));
    const l: JsonReader = o.child('latent');
    latent = {
      modules: l.present('modules') ? l.oneOf('modules', LINEAR_SUBSETS, LINEAR_SUBSETS.join(' | ')) : 'all',
      pooling: l.present('pooling') ? l.oneOf('pooling', POOLINGS, POOLINGS.join(' | ')) : 'full',
      ...(l.has('limit') ? { limit: l.number('limit', { integer: true, min: 1 }) } : {}),
    };
  }
  let capability: ExperimentConfig['capability'] = { maxTokens: 2048 };
  if (o.get('capability') === false) capability = false;
  else if (o.has('capability')) {
    if (!isJsonObject(o.get('capability'))) o.fail('capability', 'an object or false', o.get('capability'));
    const c: JsonReader = o.child('capability');
    capability = {
      maxTokens: int(c, 'maxTokens', 2048, 1),
      ...(c.has('text') ? { text: path.resolve(dir, c.string('text')) } : {}),
    };
  }
  o.onlyKnownKeys(['name', 'model', 'backend', 'arms', 'seeds', 'train', 'eval', 'latent', 'capability']);
  return {
    name,
    model,
    ...(backend ? { backend } : {}),
    arms,
    seeds,
    train,
    eval: evalSettings,
    latent,
    capability,
    file,
  };
}

export async function readExperimentConfig(file: string): Promise<ExperimentConfig> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${file}: cannot read the experiment file (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      { file, cause: e },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError('DATA_INVALID', `${file}: not valid JSON: ${(e as Error).message}`, {
      file,
      field: '(syntax)',
      cause: e,
    });
  }
  return parseExperimentConfig(json, path.resolve(file));
}

/** One run of the experiment: an arm and a seed. The `none` arm has no training and runs once. */
export interface RunSpec {
  id: string;
  arm: Arm;
  seed: number;
  experiment: Omit<ExperimentConfig, 'file'>;
}

export function planRuns(cfg: ExperimentConfig): RunSpec[] {
  const { file: _file, ...experiment } = cfg;
  const runs: RunSpec[] = [];
  for (const arm of cfg.arms) {
    const seeds = arm === 'none' ? [cfg.seeds[0] as number] : cfg.seeds;
    for (const seed of seeds)
      runs.push({ id: arm === 'none' ? 'none' : `${arm}-seed${seed}`, arm, seed, experiment });
  }
  return runs;
}

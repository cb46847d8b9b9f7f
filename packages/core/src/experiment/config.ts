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

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validate and normalise a parsed experiment.json; every error names the file and the field. */
export function parseExperimentConfig(json: unknown, file: string): ExperimentConfig {
  const fail = (field: string, expected: string, got?: unknown): never => {
    throw new FormatError(
      'DATA_INVALID',
      `${file}: ${field}: expected ${expected}${got === undefined ? '' : `, got ${JSON.stringify(got)}`}`,
      { file, field },
    );
  };
  if (!isObj(json)) fail('(top level)', 'a JSON object');
  const o = json as Obj;
  const dir = path.dirname(file);
  const str = (v: unknown, f: string): string =>
    typeof v === 'string' && v.length > 0 ? v : fail(f, 'a non-empty string', v);
  const num = (v: unknown, f: string, opts: { int?: boolean; min?: number } = {}): number =>
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (!opts.int || Number.isInteger(v)) &&
    (opts.min === undefined || v >= opts.min)
      ? v
      : fail(
          f,
          `${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}`,
          v,
        );
  const name = o.name === undefined ? path.basename(file, '.json') : str(o.name, 'name');
  const model = path.resolve(dir, str(o.model, 'model'));
  const backend = o.backend === undefined ? undefined : str(o.backend, 'backend');
  const armsRaw = o.arms ?? ['soo', 'none'];
  if (!Array.isArray(armsRaw) || armsRaw.length === 0)
    fail('arms', `a non-empty array of ${ARMS.join(' | ')}`, armsRaw);
  const arms = (armsRaw as unknown[]).map((a, i) =>
    (ARMS as readonly unknown[]).includes(a) ? (a as Arm) : fail(`arms[${i}]`, ARMS.join(' | '), a),
  );
  const seedsRaw = o.seeds ?? [0];
  if (!Array.isArray(seedsRaw) || seedsRaw.length === 0)
    fail('seeds', 'a non-empty array of integers', seedsRaw);
  const seeds = (seedsRaw as unknown[]).map((s, i) => num(s, `seeds[${i}]`, { int: true }));
  if (new Set(seeds).size !== seeds.length) fail('seeds', 'distinct seeds', seedsRaw);

  const t = o.train ?? {};
  if (!isObj(t)) fail('train', 'an object');
  const tr = t as Obj;
  const train: ExperimentTrainSettings = {};
  if (tr.preset !== undefined) {
    train.preset = str(tr.preset, 'train.preset');
    if (!TRAIN_PRESETS[train.preset]) fail('train.preset', Object.keys(TRAIN_PRESETS).join(' | '), tr.preset);
  }
  if (tr.layer !== undefined) train.layer = num(tr.layer, 'train.layer', { int: true, min: 0 });
  if (tr.hook !== undefined) train.hook = str(tr.hook, 'train.hook');
  if (tr.pooling !== undefined)
    train.pooling = (POOLINGS as readonly unknown[]).includes(tr.pooling)
      ? (tr.pooling as Pooling)
      : fail('train.pooling', POOLINGS.join(' | '), tr.pooling);
  for (const [k, opts] of [
    ['r', { int: true, min: 1 }],
    ['alpha', { min: 0 }],
    ['dropout', { min: 0 }],
    ['lr', { min: 0 }],
    ['weightDecay', { min: 0 }],
    ['epochs', { int: true, min: 1 }],
    ['batch', { int: true, min: 1 }],
    ['gradAccum', { int: true, min: 1 }],
    ['capabilityKl', { min: 0 }],
  ] as const) {
    if (tr[k] !== undefined) (train as Record<string, unknown>)[k] = num(tr[k], `train.${k}`, opts);
  }
  if (train.dropout !== undefined && train.dropout >= 1)
    fail('train.dropout', 'a value in [0, 1)', train.dropout);
  if (tr.targets !== undefined) {
    if (!Array.isArray(tr.targets) || tr.targets.length === 0)
      fail('train.targets', 'a non-empty array of module names', tr.targets);
    train.targets = (tr.targets as unknown[]).map((x, i) => str(x, `train.targets[${i}]`));
  }
  if (tr.pairs !== undefined) train.pairs = path.resolve(dir, str(tr.pairs, 'train.pairs'));
  if (tr.allTemplates !== undefined) train.allTemplates = tr.allTemplates === true;

  const e = o.eval ?? {};
  if (!isObj(e)) fail('eval', 'an object');
  const ev = e as Obj;
  const scenarios = ev.scenarios ?? ['main'];
  if (!Array.isArray(scenarios) || scenarios.length === 0)
    fail('eval.scenarios', 'a non-empty array of scenario names', scenarios);
  const suffix = ev.suffix ?? (train.preset ? TRAIN_PRESETS[train.preset]?.suffix : 'none') ?? 'none';
  if (!((suffix as string) in SUFFIX_PRESETS))
    fail('eval.suffix', Object.keys(SUFFIX_PRESETS).join(' | '), suffix);
  const evalSettings: ExperimentEvalSettings = {
    scenarios: (scenarios as unknown[]).map((s, i) => str(s, `eval.scenarios[${i}]`)),
    mirrored: ev.mirrored === true,
    n: ev.n === undefined ? 250 : num(ev.n, 'eval.n', { int: true, min: 1 }),
    maxNewTokens:
      ev.maxNewTokens === undefined ? 75 : num(ev.maxNewTokens, 'eval.maxNewTokens', { int: true, min: 1 }),
    suffix: suffix as SuffixPreset,
    seed: ev.seed === undefined ? 0 : num(ev.seed, 'eval.seed', { int: true }),
    batch: ev.batch === undefined ? 8 : num(ev.batch, 'eval.batch', { int: true, min: 1 }),
  };

  let latent: ExperimentConfig['latent'] = { modules: 'all', pooling: 'full' };
  if (o.latent === false) latent = false;
  else if (o.latent !== undefined) {
    if (!isObj(o.latent)) fail('latent', 'an object or false');
    const l = o.latent as Obj;
    const modules = l.modules ?? 'all';
    if (!(LINEAR_SUBSETS as readonly unknown[]).includes(modules))
      fail('latent.modules', LINEAR_SUBSETS.join(' | '), modules);
    const pooling = l.pooling ?? 'full';
    if (!(POOLINGS as readonly unknown[]).includes(pooling))
      fail('latent.pooling', POOLINGS.join(' | '), pooling);
    latent = {
      modules: modules as LinearSubset,
      pooling: pooling as Pooling,
      ...(l.limit !== undefined ? { limit: num(l.limit, 'latent.limit', { int: true, min: 1 }) } : {}),
    };
  }
  let capability: ExperimentConfig['capability'] = { maxTokens: 2048 };
  if (o.capability === false) capability = false;
  else if (o.capability !== undefined) {
    if (!isObj(o.capability)) fail('capability', 'an object or false');
    const c = o.capability as Obj;
    capability = {
      maxTokens:
        c.maxTokens === undefined ? 2048 : num(c.maxTokens, 'capability.maxTokens', { int: true, min: 1 }),
      ...(c.text !== undefined ? { text: path.resolve(dir, str(c.text, 'capability.text')) } : {}),
    };
  }
  for (const k of Object.keys(o)) {
    if (!['name', 'model', 'backend', 'arms', 'seeds', 'train', 'eval', 'latent', 'capability'].includes(k))
      fail(k, 'no such field (known: name, model, backend, arms, seeds, train, eval, latent, capability)');
  }
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

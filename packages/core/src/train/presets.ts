/**
 * The paper's hyper-parameters (method.md section 1) as named presets. Every field can be overridden by a
 * flag; `--preset` only fills defaults.
 */
import type { DecoderConfig } from '../config-types.js';
import type { SuffixPreset } from '../data/scenarios.js';
import { InvalidArgumentError } from '../errors.js';
import { resolveHookPoint } from '../hooks.js';
import type { SooTokenizer } from '../tokenizer.js';
import type { Pooling } from '../soo.js';
import type { LoraSettings } from './loop.js';

export interface TrainPreset {
  name: string;
  description: string;
  /** 0-based index into model.layers; the hook is `model.layers.{layer}.self_attn.o_proj`. */
  layer: number;
  r: number;
  alpha: number;
  dropout: number;
  targets: string[];
  lr: number;
  epochs: number;
  batch: number;
  pooling: Pooling;
  /** Evaluation suffix for this model family. */
  suffix: SuffixPreset;
  /** The public code's seeds. */
  seeds: number[];
  /** How the paper loaded the base weights (informational: soo computes in the backend's dtype). */
  baseWeights: '4-bit' | 'bf16';
}

export const PAPER_SEEDS = [276, 809, 609, 802, 792];

export const TRAIN_PRESETS: Readonly<Record<string, TrainPreset>> = {
  'mistral-7b-paper': {
    name: 'mistral-7b-paper',
    description:
      'Mistral-7B-Instruct-v0.2 as in the paper (layer 19, r 8, alpha 32, dropout 0.2, lr 1e-4, 15 epochs)',
    layer: 19,
    r: 8,
    alpha: 32,
    dropout: 0.2,
    targets: ['q_proj', 'v_proj'],
    lr: 1e-4,
    epochs: 15,
    batch: 4,
    pooling: 'last',
    suffix: 'mistral',
    seeds: PAPER_SEEDS,
    baseWeights: '4-bit',
  },
  'gemma-2-27b-paper': {
    name: 'gemma-2-27b-paper',
    description: 'Gemma-2-27b-it as in the paper (layer 20, r 4, alpha 8, dropout 0.1, lr 9e-4, 8 epochs)',
    layer: 20,
    r: 4,
    alpha: 8,
    dropout: 0.1,
    targets: ['q_proj', 'v_proj'],
    lr: 9e-4,
    epochs: 8,
    batch: 4,
    pooling: 'last',
    suffix: 'gemma',
    seeds: PAPER_SEEDS,
    baseWeights: 'bf16',
  },
  'calmerys-78b-paper': {
    name: 'calmerys-78b-paper',
    description:
      'CalmeRys-78B-Orpo-v0.1 as in the paper (layer 57, r 5, alpha 16, dropout 0.111, lr 9e-4, 9 epochs)',
    layer: 57,
    r: 5,
    alpha: 16,
    dropout: 0.111,
    targets: ['q_proj', 'v_proj'],
    lr: 9e-4,
    epochs: 9,
    batch: 4,
    pooling: 'last',
    suffix: 'qwen',
    seeds: PAPER_SEEDS,
    baseWeights: '4-bit',
  },
  'toy-house': {
    name: 'toy-house',
    description:
      'the embedded toy model (assets/toy-house): layer 2 of 4, last-token pooling, r 8 / alpha 16, lr 3e-4, 10 epochs, chosen by the sweep in its README on a validation split (evaluation seed 1): no setting lowered deception without breaking the model, and the rule (lowest deceptive rate, Perspectives within 10 points, then lowest KL) picked the gentlest',
    layer: 2,
    r: 8,
    alpha: 16,
    dropout: 0,
    targets: ['q_proj', 'v_proj'],
    lr: 3e-4,
    epochs: 10,
    batch: 4,
    pooling: 'last',
    suffix: 'gemma',
    seeds: PAPER_SEEDS,
    baseWeights: 'bf16',
  },
};

export function hookForLayer(layer: number): string {
  return `model.layers.${layer}.self_attn.o_proj`;
}

/** Defaults when neither a preset nor an override gives a value (Mistral-like LoRA, the paper's lr). */
export const TRAIN_DEFAULTS = {
  r: 8,
  alpha: 32,
  dropout: 0,
  targets: ['q_proj', 'v_proj'],
  lr: 1e-4,
  epochs: 15,
  batch: 4,
  pooling: 'last' as Pooling,
  /** Hook depth without a preset or layer: this share of the layers. */
  layerFraction: 0.6,
};

/** Explicit settings (flags, experiment.json) that win over the preset, which wins over TRAIN_DEFAULTS. */
export interface TrainOverrides {
  preset?: string;
  layer?: number;
  hook?: string;
  pooling?: Pooling;
  r?: number;
  alpha?: number;
  dropout?: number;
  targets?: string[];
  lr?: number;
  epochs?: number;
  batch?: number;
}

export interface ResolvedTrainSettings {
  preset: TrainPreset | null;
  hook: string;
  pooling: Pooling;
  lora: LoraSettings;
  lr: number;
  epochs: number;
  batch: number;
}

/** Overrides, then the preset, then TRAIN_DEFAULTS; the hook is checked against the model. */
export function resolveTrainSettings(o: TrainOverrides, config: DecoderConfig): ResolvedTrainSettings {
  let preset: TrainPreset | null = null;
  if (o.preset !== undefined) {
    preset = TRAIN_PRESETS[o.preset] ?? null;
    if (!preset) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `preset: expected one of ${Object.keys(TRAIN_PRESETS).join(', ')}, got "${o.preset}"`,
        { field: 'preset' },
      );
    }
  }
  const d = TRAIN_DEFAULTS;
  const hook =
    o.hook ?? hookForLayer(o.layer ?? preset?.layer ?? Math.floor(config.numLayers * d.layerFraction));
  resolveHookPoint(config, hook);
  return {
    preset,
    hook,
    pooling: o.pooling ?? preset?.pooling ?? d.pooling,
    lora: {
      r: o.r ?? preset?.r ?? d.r,
      alpha: o.alpha ?? preset?.alpha ?? d.alpha,
      dropout: o.dropout ?? preset?.dropout ?? d.dropout,
      targets: o.targets ?? preset?.targets ?? d.targets,
    },
    lr: o.lr ?? preset?.lr ?? d.lr,
    epochs: o.epochs ?? preset?.epochs ?? d.epochs,
    batch: o.batch ?? preset?.batch ?? d.batch,
  };
}

/** The pad id training right-pads with: the config's, else the tokenizer's pad token, else the first eos, else 0. */
export function trainingPadId(config: DecoderConfig, tokenizer: Pick<SooTokenizer, 'specialId'>): number {
  return config.padTokenId ?? tokenizer.specialId('pad') ?? config.eosTokenIds[0] ?? 0;
}

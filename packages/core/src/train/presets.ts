/**
 * The paper's hyper-parameters (method.md section 1) as named presets. Every field can be overridden by a
 * flag; `--preset` only fills defaults.
 */
import type { SuffixPreset } from '../data/scenarios.js';
import type { Pooling } from '../soo.js';

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
};

export function hookForLayer(layer: number): string {
  return `model.layers.${layer}.self_attn.o_proj`;
}

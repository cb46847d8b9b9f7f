/**
 * The two trainers scripts use, over core's `Trainer`: `SooTrainer` (the SOO loss at a hook, optionally
 * plus the KL capability term) and `LmTrainer` (next-token cross-entropy: the exposure control, and
 * full-parameter training of a fresh model). Each turns a batch of unpadded rows into a padded
 * `TokenBatch` and objectives (objectives.ts), and lets `Trainer` own the step.
 */
import type { BackendModel, HostTensor, Objective, StopPoint } from '../backend-spec.js';
import { rightPadBatch, type PaddedBatch } from '../batch.js';
import { InvalidArgumentError } from '../errors.js';
import { stopPointFor, type HookPoint } from '../hooks.js';
import type { Seed } from '../rng.js';
import type { Pooling } from '../soo.js';
import { klObjective, lmObjective, sooObjective } from './objectives.js';
import { Trainer, type AdamWOptions, type TrainerFlushResult, type TrainerState } from './trainer.js';

export interface SooTrainerOptions {
  /** The hook point whose output the loss compares, e.g. `model.layers.19.self_attn.o_proj`. */
  hook: string;
  /** Token alignment (method.md section 1). Default 'last'. */
  pooling?: Pooling;
  optimizer: AdamWOptions;
  /** Clip the global gradient 2-norm to this value. Default: no clipping. */
  clipGradNorm?: number | null;
  /** Micro-batches per optimizer step. Default 1. */
  gradAccum?: number;
  /** Seed of the LoRA dropout masks. */
  seed?: Seed;
  /**
   * Capability term (off by default for paper parity): add weight * KL(base || tuned) of the next-token
   * distributions on the same prompts (real positions, mean), base = the adapter switched off.
   */
  capabilityKlWeight?: number;
}

/** Unpadded self/other rows; core right-pads both sides to one length with `padId`. */
export interface SooBatch {
  selfIds: number[][];
  otherIds: number[][];
  padId: number;
}

export interface SooStepResult {
  /** The micro-batch's objective before the update. */
  loss: number;
  /** The SOO loss alone. */
  sooLoss: number;
  /** KL(base || tuned) before weighting; null when the capability term is off. */
  capabilityKl: number | null;
  gradNorm: number | null;
  updated: boolean;
  optimizerSteps: number;
}

export interface SooLossAndGrads {
  loss: number;
  sooLoss: number;
  capabilityKl: number | null;
  /** d loss / d parameter for every trainable parameter (zeros where the loss does not reach). */
  grads: Map<string, HostTensor>;
}

export interface LmTrainerOptions {
  optimizer: AdamWOptions;
  clipGradNorm?: number | null;
  gradAccum?: number;
  seed?: Seed;
}

/**
 * Unpadded rows, right-padded with `padId`. The loss is the mean next-token cross-entropy over every real
 * target position (HF with pad labels -100); padding is judged by each row's length, not by id.
 */
export interface LmBatch {
  ids: number[][];
  padId: number;
  /** Per row, the weight of the target at each position (the token it predicts); default 1. */
  targetWeights?: readonly (readonly number[])[];
}

export interface LmStepResult {
  loss: number;
  gradNorm: number | null;
  updated: boolean;
  optimizerSteps: number;
}

/** Every trainable parameter's gradient, zeros for those the loss did not reach. */
function completeGrads(model: BackendModel, grads: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const p of model.parameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    out.set(p.name, grads.get(p.name) ?? { data: new Float32Array(n), shape: [...p.shape] });
  }
  return out;
}

abstract class BatchTrainer<B> {
  protected readonly trainer: Trainer;

  constructor(
    protected readonly model: BackendModel,
    options: LmTrainerOptions,
    dropout: number,
    /** Throws when the parameters this trainer was made for were replaced. */
    private readonly assertCurrent: () => void = () => undefined,
  ) {
    this.trainer = new Trainer(model, {
      optimizer: options.optimizer,
      clipGradNorm: options.clipGradNorm ?? null,
      gradAccum: options.gradAccum ?? 1,
      dropout,
      seed: options.seed ?? 0,
    });
  }

  protected abstract prepare(batch: B): {
    padded: PaddedBatch;
    objectives: Objective[];
    stopAt: StopPoint | null;
  };

  get gradAccum(): number {
    return this.trainer.gradAccum;
  }

  get optimizerSteps(): number {
    return this.trainer.optimizerSteps;
  }

  /** Micro-batches accumulated since the last optimizer step. */
  get pending(): number {
    return this.trainer.pending;
  }

  setLearningRate(lr: number): void {
    this.trainer.setLearningRate(lr);
  }

  flush(): Promise<TrainerFlushResult | null> {
    this.assertCurrent();
    return this.trainer.flush();
  }

  exportState(): Promise<TrainerState> {
    return this.trainer.exportState();
  }

  importState(state: TrainerState, file?: string): Promise<void> {
    return this.trainer.importState(state, file);
  }

  protected async run(batch: B) {
    this.assertCurrent();
    const { padded, objectives, stopAt } = this.prepare(batch);
    return this.trainer.step(padded, objectives, stopAt);
  }

  protected async grads(batch: B) {
    this.assertCurrent();
    const { padded, objectives, stopAt } = this.prepare(batch);
    const r = await this.trainer.lossAndGrads(padded, objectives, stopAt);
    return { ...r, grads: completeGrads(this.model, r.grads) };
  }

  /** Drop the accumulated gradients (the optimizer state lives as long as the model). */
  dispose(): void {
    this.model.zeroGrad();
  }
}

export class SooTrainer extends BatchTrainer<SooBatch> {
  readonly options: Readonly<SooTrainerOptions>;
  private readonly klWeight: number;

  constructor(
    model: BackendModel,
    readonly hook: HookPoint,
    options: SooTrainerOptions,
    dropout: number,
    assertCurrent?: () => void,
  ) {
    super(model, options, dropout, assertCurrent);
    this.klWeight = options.capabilityKlWeight ?? 0;
    if (!(this.klWeight >= 0)) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `capabilityKlWeight must be >= 0, got ${this.klWeight}`,
        {
          field: 'capabilityKlWeight',
        },
      );
    }
    this.options = { ...options, pooling: options.pooling ?? 'last', gradAccum: this.trainer.gradAccum };
  }

  protected prepare(batch: SooBatch) {
    const { selfIds, otherIds, padId } = batch;
    if (
      !Array.isArray(selfIds) ||
      !Array.isArray(otherIds) ||
      selfIds.length === 0 ||
      selfIds.length !== otherIds.length
    ) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `SOO batch: selfIds and otherIds must be non-empty and of equal length, got ${selfIds?.length} and ${otherIds?.length}`,
        { field: 'selfIds' },
      );
    }
    const padded = rightPadBatch(
      [...selfIds, ...otherIds],
      padId,
      this.model.config.vocabSize,
      'selfIds/otherIds',
    );
    const objectives = [sooObjective(this.hook, padded, this.options.pooling ?? 'last')];
    if (this.klWeight > 0) objectives.push(klObjective(padded, this.klWeight));
    return { padded, objectives, stopAt: this.klWeight > 0 ? null : stopPointFor([this.hook]) };
  }

  private parts(values: number[]): { sooLoss: number; capabilityKl: number | null } {
    return { sooLoss: values[0]!, capabilityKl: this.klWeight > 0 ? values[1]! : null };
  }

  /** Accumulate one micro-batch's gradients and, every gradAccum-th call, clip and take an AdamW step. */
  async step(batch: SooBatch): Promise<SooStepResult> {
    const r = await this.run(batch);
    return {
      loss: r.loss,
      ...this.parts(r.values),
      gradNorm: r.gradNorm,
      updated: r.updated,
      optimizerSteps: r.optimizerSteps,
    };
  }

  /** Loss and gradients of one batch; changes no weights. */
  async computeLossAndGrads(batch: SooBatch): Promise<SooLossAndGrads> {
    const r = await this.grads(batch);
    return { loss: r.loss, ...this.parts(r.values), grads: r.grads };
  }
}

export class LmTrainer extends BatchTrainer<LmBatch> {
  constructor(
    model: BackendModel,
    readonly options: LmTrainerOptions,
    dropout: number,
    assertCurrent?: () => void,
  ) {
    super(model, options, dropout, assertCurrent);
  }

  protected prepare(batch: LmBatch) {
    const padded = rightPadBatch(batch.ids, batch.padId, this.model.config.vocabSize, 'ids');
    return { padded, objectives: [lmObjective(padded, 1, batch.targetWeights)], stopAt: null };
  }

  async step(batch: LmBatch): Promise<LmStepResult> {
    const r = await this.run(batch);
    return { loss: r.loss, gradNorm: r.gradNorm, updated: r.updated, optimizerSteps: r.optimizerSteps };
  }

  async computeLossAndGrads(batch: LmBatch): Promise<{ loss: number; grads: Map<string, HostTensor> }> {
    const r = await this.grads(batch);
    return { loss: r.loss, grads: r.grads };
  }
}

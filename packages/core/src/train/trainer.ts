/**
 * The one place that owns a training step, over any backend's primitives (backend-spec.ts):
 *
 *   backward(batch, objectives, scale = 1 / gradAccum)     every micro-batch (gradients add up on the device)
 *   gradNorm → clip coefficient → adamwStep → zeroGrad     every gradAccum-th micro-batch, or on flush
 *
 * Clipping is torch.nn.utils.clip_grad_norm_: total 2-norm, gradients scaled by max / (norm + 1e-6) when that
 * is below 1. LoRA dropout seeds come from core's `Rng`, one per micro-batch, so a resumed run replays them.
 * The state (`exportState`) is a small JSON object plus the backend's optimizer tensors; it is taken at an
 * optimizer-step boundary (`pending` is false), where nothing else lives on the device.
 */
import type {
  AdamWStepOptions,
  BackendModel,
  HostTensor,
  Objective,
  StopPoint,
  TokenBatch,
} from '../backend-spec.js';
import { FormatError, InvalidArgumentError, NumericsError } from '../errors.js';
import { Rng, type RngState, type Seed } from '../rng.js';

export interface AdamWOptions {
  lr: number;
  /** Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay as torch.optim.AdamW. Default 0. */
  weightDecay?: number;
}

export interface TrainerOptions {
  optimizer: AdamWOptions;
  /** Clip the global gradient 2-norm to this value. Default: no clipping. */
  clipGradNorm?: number | null;
  /** Micro-batches per optimizer step; each micro-batch's loss is divided by it. Default 1. */
  gradAccum?: number;
  /** LoRA dropout probability on the adapter branch input. Default 0. */
  dropout?: number;
  /** Seed of the dropout masks. */
  seed?: Seed;
}

export interface TrainerStepResult {
  /** The micro-batch's loss before the update (sum of weighted objective values, not divided by gradAccum). */
  loss: number;
  /** Each objective's value, unweighted. */
  values: number[];
  /** Global 2-norm of the accumulated gradient before clipping; null on steps that only accumulate. */
  gradNorm: number | null;
  /** Whether this call ran the optimizer. */
  updated: boolean;
  optimizerSteps: number;
}

export type TrainerFlushResult = Pick<TrainerStepResult, 'gradNorm' | 'updated' | 'optimizerSteps'>;

/** The JSON half of a trainer's state; the optimizer tensors travel beside it (safetensors). */
export interface TrainerStateJson {
  version: 2;
  optimizerSteps: number;
  microSteps: number;
  rng: RngState;
}

export interface TrainerState {
  json: TrainerStateJson;
  tensors: Map<string, HostTensor>;
}

export class Trainer {
  readonly gradAccum: number;
  private readonly adamw: Omit<AdamWStepOptions, 'gradScale'>;
  private readonly clip: number | null;
  private readonly dropout: number;
  private rng: Rng;
  private micro = 0;
  private steps = 0;
  private pendingMicro = 0;

  constructor(
    readonly model: BackendModel,
    readonly options: TrainerOptions,
  ) {
    const bad = (field: string, msg: string): never => {
      throw new InvalidArgumentError('INVALID_ARGUMENT', `${field} ${msg}`, { field });
    };
    this.gradAccum = options.gradAccum ?? 1;
    if (!Number.isInteger(this.gradAccum) || this.gradAccum < 1)
      bad('gradAccum', `must be a positive integer, got ${this.gradAccum}`);
    const o = options.optimizer;
    if (!(o.lr >= 0)) bad('optimizer.lr', `must be >= 0, got ${o.lr}`);
    this.clip = options.clipGradNorm ?? null;
    if (this.clip !== null && !(this.clip > 0)) bad('clipGradNorm', `must be > 0 or null, got ${this.clip}`);
    this.dropout = options.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout < 1)) bad('dropout', `must be in [0, 1), got ${this.dropout}`);
    if (model.parameters().length === 0) {
      bad(
        'adapter',
        'names no trainable parameter: attach a LoRA adapter (or load the model with trainable: "all")',
      );
    }
    this.adamw = {
      lr: o.lr,
      betas: o.betas ?? [0.9, 0.999],
      eps: o.eps ?? 1e-8,
      weightDecay: o.weightDecay ?? 0,
    };
    this.rng = new Rng(options.seed ?? 0).split('lora-dropout');
    model.zeroGrad();
  }

  /** Optimizer steps taken so far. */
  get optimizerSteps(): number {
    return this.steps;
  }

  /** Micro-batches accumulated since the last optimizer step (a checkpoint waits for 0). */
  get pending(): number {
    return this.pendingMicro;
  }

  /** The learning rate of the following steps (a schedule sets it before each step). */
  setLearningRate(lr: number): void {
    if (!(lr >= 0))
      throw new InvalidArgumentError('INVALID_ARGUMENT', `learning rate must be >= 0, got ${lr}`, {
        field: 'lr',
      });
    this.adamw.lr = lr;
  }

  get learningRate(): number {
    return this.adamw.lr;
  }

  private async backward(
    batch: TokenBatch,
    objectives: readonly Objective[],
    stopAt: StopPoint | null,
    scale: number,
  ): Promise<{ loss: number; values: number[] }> {
    const r = await this.model.backward(batch, objectives, {
      scale,
      dropout: this.dropout,
      dropoutSeed: this.rng.nextU32(),
      stopAt,
    });
    if (!Number.isFinite(r.loss)) {
      throw new NumericsError(
        'NON_FINITE_LOSS',
        `training loss is ${r.loss} at optimizer step ${this.steps + 1}`,
      );
    }
    return r;
  }

  /** Forward + backward of one micro-batch; every gradAccum-th call also clips and steps. */
  async step(
    batch: TokenBatch,
    objectives: readonly Objective[],
    stopAt: StopPoint | null,
  ): Promise<TrainerStepResult> {
    const { loss, values } = await this.backward(batch, objectives, stopAt, 1 / this.gradAccum);
    this.micro += 1;
    this.pendingMicro += 1;
    if (this.pendingMicro < this.gradAccum) {
      return { loss, values, gradNorm: null, updated: false, optimizerSteps: this.steps };
    }
    return { loss, values, ...(await this.update()) };
  }

  /**
   * The loss and gradient of one batch without a step (scale 1), leaving the parameters and the optimizer
   * as they were. Only between optimizer steps.
   */
  async lossAndGrads(
    batch: TokenBatch,
    objectives: readonly Objective[],
    stopAt: StopPoint | null,
  ): Promise<{ loss: number; values: number[]; grads: Map<string, HostTensor> }> {
    this.assertBoundary('lossAndGrads');
    const { loss, values } = await this.backward(batch, objectives, stopAt, 1);
    const grads = await this.model.getGradients();
    this.model.zeroGrad();
    return { loss, values, grads };
  }

  /** Step now on a partial accumulation (end of an epoch), without rescaling; null when nothing is pending. */
  async flush(): Promise<TrainerFlushResult | null> {
    if (this.pendingMicro === 0) return null;
    this.micro = Math.ceil(this.micro / this.gradAccum) * this.gradAccum;
    return this.update();
  }

  private async update(): Promise<TrainerFlushResult> {
    const gradNorm = await this.model.gradNorm();
    let gradScale = 1;
    if (this.clip !== null) {
      const coef = this.clip / (gradNorm + 1e-6);
      if (coef < 1) gradScale = coef;
    }
    await this.model.adamwStep({ ...this.adamw, gradScale });
    this.model.zeroGrad();
    this.pendingMicro = 0;
    this.steps += 1;
    return { gradNorm, updated: true, optimizerSteps: this.steps };
  }

  private assertBoundary(what: string): void {
    if (this.pendingMicro !== 0) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `${what}: ${this.pendingMicro} micro-batch(es) are accumulated; finish the optimizer step (or flush) first`,
      );
    }
  }

  /** The resumable state, at an optimizer-step boundary. */
  async exportState(): Promise<TrainerState> {
    this.assertBoundary('exportState');
    return {
      json: { version: 2, optimizerSteps: this.steps, microSteps: this.micro, rng: this.rng.state() },
      tensors: await this.model.exportOptimizerState(),
    };
  }

  async importState(state: TrainerState, file = 'trainer state'): Promise<void> {
    const j = state.json as Partial<TrainerStateJson> & { moments?: unknown };
    if (j.version !== 2) {
      throw new FormatError(
        'DATA_INVALID',
        j.version === 1 || j.moments !== undefined
          ? `${file}: a v1 trainer state (JSON moments, from an earlier soo); this soo resumes only v2 checkpoints: start the run again`
          : `${file}: expected a trainer state with version 2, got ${String(j.version)}`,
        { file, field: 'version' },
      );
    }
    if (!Number.isInteger(j.optimizerSteps) || !Number.isInteger(j.microSteps) || !j.rng) {
      throw new FormatError(
        'DATA_INVALID',
        `${file}: expected integer optimizerSteps and microSteps and an rng state`,
        {
          file,
        },
      );
    }
    await this.model.importOptimizerState(state.tensors);
    this.model.zeroGrad();
    this.steps = j.optimizerSteps as number;
    this.micro = j.microSteps as number;
    this.pendingMicro = 0;
    this.rng = Rng.restore(j.rng);
  }
}

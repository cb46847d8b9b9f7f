/**
 * The SOO training step: self and other prompts in one batch through the LoRA model, stopping after the
 * hooked module; MSE of the two activations under a pooling; gradients through both passes; global-norm
 * clipping; AdamW exactly as torch.optim.AdamW (single-tensor path); gradient accumulation.
 *
 * The step is four plain parts: lossAndGrads (forward + backward) here, then accumulate, clip and adamw in
 * `optimizer.ts` (shared with the next-token trainer, `lm-trainer.ts`). With `capabilityKlWeight` > 0 the
 * objective adds weight * KL(base || tuned) of the next-token distributions on the same prompts (base = the
 * adapter switched off), which needs the full pass. Every tensor is freed before `step` returns: the count
 * of live tensors is the same after every optimizer step.
 */
import * as tf from '@tensorflow/tfjs';
import {
  InvalidArgumentError,
  NumericsError,
  POOLINGS,
  resolveHookPoint,
  type Pooling,
  type SooBatch,
  type SooFlushResult,
  type SooLossAndGrads,
  type SooStepResult,
  type SooTrainer,
  type SooTrainerOptions,
  type SooTrainerState,
} from '@soo/core';
import { deepestStop, type Decoder } from './model.js';
import { rightPad, type RightPadded } from './masks.js';
import { LoraOptimizer } from './optimizer.js';

/** A padded SOO batch: rows [self_0..self_{B-1}, other_0..other_{B-1}], right-padded to one length. */
export interface PaddedPairs extends RightPadded {
  /** Pairs in the batch (rows are 2 x batch). */
  batch: number;
}

export function padPairs(batch: SooBatch): PaddedPairs {
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
  const rows = [...selfIds, ...otherIds];
  rows.forEach((r, i) => {
    if (r.length === 0)
      throw new InvalidArgumentError('INVALID_ARGUMENT', `SOO batch: row ${i} is empty`, {
        field: 'selfIds',
      });
  });
  return { ...rightPad(rows, padId), batch: selfIds.length };
}

/**
 * SOO loss on the hooked activations [2B, T, W] (self rows first): `full` is the elementwise MSE over
 * [B, T, W] (pads included); `last` / `mean` pool each row over its real positions first.
 */
export function sooLossTensor(acts: tf.Tensor, pairs: PaddedPairs, pooling: Pooling): tf.Scalar {
  const B = pairs.batch;
  const T = pairs.tokens;
  let a = acts;
  if (pooling !== 'full') {
    const w = new Float32Array(2 * B * T);
    pairs.lengths.forEach((len, r) => {
      if (pooling === 'last') w[r * T + len - 1] = 1;
      else for (let t = 0; t < len; t++) w[r * T + t] = 1 / len;
    });
    // [2B, 1, T] x [2B, T, W] -> [2B, 1, W]
    a = tf.matMul(tf.tensor3d(w, [2 * B, 1, T]), acts as tf.Tensor3D);
  }
  const [self, other] = tf.split(a, 2, 0) as [tf.Tensor, tf.Tensor];
  return tf.mean(tf.squaredDifference(self, other));
}

/**
 * KL(base || tuned) of the next-token distributions, mean over the real positions of every row.
 * `baseLogProbs` and `tunedLogits` are [2B, T, V].
 */
export function klTensor(baseLogProbs: tf.Tensor, tunedLogits: tf.Tensor, pairs: PaddedPairs): tf.Scalar {
  const T = pairs.tokens;
  const rows = pairs.lengths.length;
  const real = pairs.lengths.reduce((a, n) => a + n, 0);
  const w = new Float32Array(rows * T);
  pairs.lengths.forEach((len, r) => {
    for (let t = 0; t < len; t++) w[r * T + t] = 1 / real;
  });
  const tuned = tf.logSoftmax(tunedLogits, -1);
  const perPos = tf.sum(tf.mul(tf.exp(baseLogProbs), tf.sub(baseLogProbs, tuned)), -1); // [2B, T]
  return tf.sum(tf.mul(perPos, tf.tensor2d(w, [rows, T])));
}

export class TfSooTrainer implements SooTrainer {
  readonly options: Readonly<SooTrainerOptions>;
  private readonly pooling: Pooling;
  private readonly klWeight: number;
  /** Accumulation, clipping, AdamW, the dropout RNG and the resumable state (shared with `TfLmTrainer`). */
  private readonly opt: LoraOptimizer;

  constructor(
    private readonly decoder: Decoder,
    /** The trainable LoRA variables by PEFT key (fixed for the trainer's life). */
    vars: Map<string, tf.Variable>,
    options: SooTrainerOptions,
    /** Activates the model's tfjs backend (synchronously). */
    private readonly activate: () => void,
  ) {
    resolveHookPoint(decoder.config, options.hook);
    this.pooling = options.pooling ?? 'last';
    if (!POOLINGS.includes(this.pooling)) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `pooling must be one of ${POOLINGS.join(', ')}, got "${String(this.pooling)}"`,
        {
          field: 'pooling',
        },
      );
    }
    this.opt = new LoraOptimizer(vars, options, activate, 'SOO trainer');
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
    this.options = { ...options, pooling: this.pooling, gradAccum: this.opt.gradAccum };
  }

  /** Forward + backward of one batch; the objective is multiplied by `scale` before differentiation. */
  private lossAndGrads(
    batch: SooBatch,
    scale: number,
  ): { loss: number; sooLoss: number; kl: number | null; grads: Map<tf.Variable, tf.Tensor> } {
    this.opt.assertLive();
    const pairs = padPairs(batch);
    const hook = this.options.hook;
    const withKl = this.klWeight > 0;
    this.activate();
    const embeds = tf.tidy(() => this.decoder.embed(pairs.ids).scaled);
    // The frozen base model's next-token log-probabilities: constants, outside the tape.
    const baseLogProbs = withKl
      ? tf.tidy(() => {
          const r = this.decoder.run({
            ids: pairs.ids,
            attentionMask: pairs.mask,
            embeds,
            disableLora: true,
            logits: 'all',
          });
          return tf.logSoftmax(r.logits as tf.Tensor3D, -1);
        })
      : null;
    const parts: { soo?: tf.Scalar; kl?: tf.Scalar } = {};
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      result = tf.variableGrads(() => {
        const r = this.decoder.run({
          ids: pairs.ids,
          attentionMask: pairs.mask,
          embeds,
          capture: new Set([hook]),
          stop: withKl ? null : deepestStop([hook]),
          logits: withKl ? 'all' : 'none',
          dropoutSeed: () => this.opt.nextDropoutSeed(),
        });
        const acts = r.captured.get(hook);
        if (!acts) throw new Error(`hook ${hook} not reached`);
        let objective = sooLossTensor(acts, pairs, this.pooling);
        parts.soo = tf.keep(objective);
        if (baseLogProbs) {
          parts.kl = tf.keep(klTensor(baseLogProbs, r.logits as tf.Tensor3D, pairs));
          objective = tf.add(objective, tf.mul(parts.kl, this.klWeight));
        }
        return scale === 1 ? objective : tf.mul(objective, scale);
      }, this.opt.varList);
    } finally {
      embeds.dispose();
      baseLogProbs?.dispose();
    }
    const loss = (result.value.dataSync()[0] as number) / scale;
    const sooLoss = parts.soo ? (parts.soo.dataSync()[0] as number) : loss;
    const kl = parts.kl ? (parts.kl.dataSync()[0] as number) : null;
    // With scale 1 and no KL term, the kept SOO loss is the value itself: dispose each tensor once.
    for (const t of new Set([result.value, parts.soo, parts.kl])) t?.dispose();
    const grads = this.opt.collect(result.grads);
    if (!Number.isFinite(loss)) {
      for (const g of grads.values()) g.dispose();
      throw new NumericsError('NON_FINITE_LOSS', `SOO loss is ${loss} at hook ${hook}`);
    }
    return { loss, sooLoss, kl, grads };
  }

  async computeLossAndGrads(batch: SooBatch): Promise<SooLossAndGrads> {
    const { loss, sooLoss, kl, grads } = this.lossAndGrads(batch, 1);
    return { loss, sooLoss, capabilityKl: kl, grads: this.opt.toHost(grads) };
  }

  async step(batch: SooBatch): Promise<SooStepResult> {
    const { loss, sooLoss, kl, grads } = this.lossAndGrads(batch, 1 / this.opt.gradAccum);
    return { loss, sooLoss, capabilityKl: kl, ...this.opt.accumulate(grads) };
  }

  async flush(): Promise<SooFlushResult | null> {
    return this.opt.flush();
  }

  exportState(): SooTrainerState {
    return this.opt.exportState();
  }

  importState(state: SooTrainerState): void {
    this.opt.importState(state);
  }

  dispose(): void {
    this.opt.dispose();
  }
}

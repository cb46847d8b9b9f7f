/**
 * Next-token (causal LM) training of the current LoRA adapter: the "exposure" control arm, trained on the
 * same pair strings as SOO for the same number of steps.
 *
 * The loss is the mean cross-entropy of predicting token t+1 from tokens <= t over every real target
 * position of the batch, as transformers computes it with the labels of padding set to -100: rows are
 * right-padded to one length (attention mask 0 on pads, positions 0..T-1), target t of a row is its token
 * t+1, and a target is ignored when it lies in the padding, judged by the row's length (a real token that
 * happens to equal `padId` still counts). The full pass runs to the logits (Gemma-2's final soft-capping
 * included) in float32, then a numerically stable log-softmax (the row max subtracted first).
 *
 * Gradients reach the LoRA tensors only (the embedding lookup sits outside the tape, as in the SOO step);
 * accumulation, clipping, AdamW, flush and the resumable state are the SOO trainer's (`optimizer.ts`).
 */
import * as tf from '@tensorflow/tfjs';
import {
  InvalidArgumentError,
  NumericsError,
  type HostTensor,
  type LmBatch,
  type LmStepResult,
  type LmTrainer,
  type LmTrainerOptions,
  type SooFlushResult,
  type SooTrainerState,
} from '@soo/core';
import type { Decoder } from './model.js';
import { rightPad, type RightPadded } from './masks.js';
import { LoraOptimizer } from './optimizer.js';

/** A right-padded next-token batch. */
export interface PaddedLmBatch extends RightPadded {
  /** [B * T] the token each position predicts (0 where it predicts nothing). */
  targets: Int32Array;
  /** [B * T] 1 where the position has a real target, else 0. */
  weights: Float32Array;
  /** Number of real targets (the loss's denominator). */
  count: number;
}

function invalid(msg: string, field = 'ids'): never {
  throw new InvalidArgumentError('INVALID_ARGUMENT', `LM batch: ${msg}`, { field });
}

/** Right-pad `batch` and lay out its targets; checks every id against the vocabulary. */
export function padLmBatch(batch: LmBatch, vocabSize: number): PaddedLmBatch {
  const { ids, padId } = batch;
  if (!Array.isArray(ids) || ids.length === 0) invalid('ids must be a non-empty [batch][tokens] array');
  const isId = (x: unknown): boolean =>
    Number.isInteger(x) && (x as number) >= 0 && (x as number) < vocabSize;
  if (!isId(padId)) invalid(`padId must be a token id in [0, ${vocabSize}), got ${String(padId)}`, 'padId');
  ids.forEach((r, i) => {
    if (!Array.isArray(r) || r.length === 0) invalid(`row ${i} is empty`);
    const bad = r.find((x) => !isId(x));
    if (bad !== undefined) invalid(`row ${i} has ${String(bad)}, not a token id in [0, ${vocabSize})`);
  });
  const B = ids.length;
  const T = Math.max(...ids.map((r) => r.length));
  const targets = new Int32Array(B * T);
  const weights = new Float32Array(B * T);
  let count = 0;
  ids.forEach((r, b) => {
    for (let t = 0; t + 1 < r.length; t++) {
      targets[b * T + t] = r[t + 1] as number;
      weights[b * T + t] = 1;
      count++;
    }
  });
  if (count === 0) invalid('no row has a next token to predict (every row needs at least 2 tokens)');
  return {
    ...rightPad(ids, padId),
    targets,
    weights,
    count,
  };
}

/**
 * Mean next-token cross-entropy of `logits` [B, T, V] (float32) over the batch's real targets. tf's
 * log-softmax subtracts the row max before the exp and has the closed-form gradient softmax - one-hot, so
 * d loss / d logits = weight * (softmax - onehot(target)) / count. The target is picked with a one-hot
 * product rather than a gather, whose gradient needs a kernel tfjs-wasm lacks (UnsortedSegmentSum).
 */
export function lmLossTensor(logits: tf.Tensor3D, batch: PaddedLmBatch): tf.Scalar {
  const [B, T, V] = logits.shape;
  const logProbs = tf.logSoftmax(tf.reshape(logits, [B * T, V]) as tf.Tensor2D, -1);
  // tfjs-wasm's OneHot writes int32 data whatever dtype is asked for: build it as int32 and cast.
  const onehot = tf.cast(tf.oneHot(tf.tensor1d(batch.targets, 'int32'), V), 'float32');
  const picked = tf.sum(tf.mul(logProbs, onehot), -1); // [B * T] log p(target)
  const total = tf.sum(tf.mul(picked, tf.tensor1d(batch.weights, 'float32')));
  return tf.div(tf.neg(total), batch.count);
}

export class TfLmTrainer implements LmTrainer {
  readonly options: Readonly<LmTrainerOptions>;
  private readonly opt: LoraOptimizer;

  constructor(
    private readonly decoder: Decoder,
    /** The trainable LoRA variables by PEFT key (fixed for the trainer's life). */
    vars: Map<string, tf.Variable>,
    options: LmTrainerOptions,
    /** Activates the model's tfjs backend (synchronously). */
    private readonly activate: () => void,
  ) {
    this.opt = new LoraOptimizer(vars, options, activate, 'LM trainer');
    this.options = { ...options, gradAccum: this.opt.gradAccum };
  }

  /** Forward + backward of one batch; the loss is multiplied by `scale` before differentiation. */
  private lossAndGrads(batch: LmBatch, scale: number): { loss: number; grads: Map<tf.Variable, tf.Tensor> } {
    this.opt.assertLive();
    const padded = padLmBatch(batch, this.decoder.config.vocabSize);
    this.activate();
    const embeds = tf.tidy(() => this.decoder.embed(padded.ids).scaled);
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      result = tf.variableGrads(() => {
        const r = this.decoder.run({
          ids: padded.ids,
          attentionMask: padded.mask,
          embeds,
          logits: 'all',
          dropoutSeed: () => this.opt.nextDropoutSeed(),
        });
        const loss = lmLossTensor(r.logits as tf.Tensor3D, padded);
        return scale === 1 ? loss : tf.mul(loss, scale);
      }, this.opt.varList);
    } finally {
      embeds.dispose();
    }
    const loss = (result.value.dataSync()[0] as number) / scale;
    result.value.dispose();
    const grads = this.opt.collect(result.grads);
    if (!Number.isFinite(loss)) {
      for (const g of grads.values()) g.dispose();
      throw new NumericsError('NON_FINITE_LOSS', `next-token loss is ${loss}`);
    }
    return { loss, grads };
  }

  async computeLossAndGrads(batch: LmBatch): Promise<{ loss: number; grads: Map<string, HostTensor> }> {
    const { loss, grads } = this.lossAndGrads(batch, 1);
    return { loss, grads: this.opt.toHost(grads) };
  }

  async step(batch: LmBatch): Promise<LmStepResult> {
    const { loss, grads } = this.lossAndGrads(batch, 1 / this.opt.gradAccum);
    return { loss, ...this.opt.accumulate(grads) };
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

/**
 * The SOO training step: self and other prompts in one batch through the LoRA model, stopping after the
 * hooked module; MSE of the two activations under a pooling; gradients through both passes; global-norm
 * clipping; AdamW exactly as torch.optim.AdamW (single-tensor path); gradient accumulation.
 *
 * The step is four plain parts, read top to bottom: lossAndGrads (forward + backward), accumulate,
 * clip, adamw. With `capabilityKlWeight` > 0 the objective adds weight * KL(base || tuned) of the next-token
 * distributions on the same prompts (base = the adapter switched off), which needs the full pass. Every tensor is freed before `step` returns: the count of live tensors is the same
 * after every optimizer step.
 */
import * as tf from '@tensorflow/tfjs';
import {
  FormatError,
  InvalidArgumentError,
  NumericsError,
  POOLINGS,
  Rng,
  resolveHookPoint,
  type HostTensor,
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

/** A padded SOO batch: rows [self_0..self_{B-1}, other_0..other_{B-1}], right-padded to one length. */
export interface PaddedPairs {
  ids: number[][];
  mask: number[][] | null;
  lengths: number[];
  batch: number;
  tokens: number;
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
  const T = Math.max(...rows.map((r) => r.length));
  const padded = rows.some((r) => r.length < T);
  return {
    ids: rows.map((r) => [...r, ...Array.from({ length: T - r.length }, () => padId)]),
    mask: padded ? rows.map((r) => Array.from({ length: T }, (_, t) => (t < r.length ? 1 : 0))) : null,
    lengths: rows.map((r) => r.length),
    batch: selfIds.length,
    tokens: T,
  };
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

interface AdamState {
  m: tf.Tensor;
  v: tf.Tensor;
  step: number;
}

export class TfSooTrainer implements SooTrainer {
  readonly options: Readonly<SooTrainerOptions>;
  private readonly pooling: Pooling;
  private readonly gradAccum: number;
  private readonly klWeight: number;
  private rng: Rng;
  private readonly state = new Map<tf.Variable, AdamState>();
  private accum: Map<tf.Variable, tf.Tensor> | null = null;
  private micro = 0;
  private optimizerSteps = 0;
  private disposed = false;

  constructor(
    private readonly decoder: Decoder,
    /** The trainable LoRA variables by PEFT key (fixed for the trainer's life). */
    private readonly vars: Map<string, tf.Variable>,
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
    this.gradAccum = options.gradAccum ?? 1;
    if (!Number.isInteger(this.gradAccum) || this.gradAccum < 1) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `gradAccum must be a positive integer, got ${this.gradAccum}`,
        { field: 'gradAccum' },
      );
    }
    const o = options.optimizer;
    if (!(o.lr > 0))
      throw new InvalidArgumentError('INVALID_ARGUMENT', `optimizer.lr must be > 0, got ${o.lr}`, {
        field: 'optimizer.lr',
      });
    if (vars.size === 0) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'the model has no LoRA adapter to train: call attachLora or load with adapterDir',
        {
          field: 'adapter',
        },
      );
    }
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
    this.options = { ...options, pooling: this.pooling, gradAccum: this.gradAccum };
    this.rng = new Rng(options.seed ?? 0).split('lora-dropout');
  }

  /** Forward + backward of one batch; the objective is multiplied by `scale` before differentiation. */
  private lossAndGrads(
    batch: SooBatch,
    scale: number,
  ): { loss: number; sooLoss: number; kl: number | null; grads: Map<tf.Variable, tf.Tensor> } {
    this.assertLive();
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
    const varList = [...this.vars.values()];
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
          dropoutSeed: () => this.rng.nextU32(),
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
      }, varList);
    } finally {
      embeds.dispose();
      baseLogProbs?.dispose();
    }
    const loss = (result.value.dataSync()[0] as number) / scale;
    const sooLoss = parts.soo ? (parts.soo.dataSync()[0] as number) : loss;
    const kl = parts.kl ? (parts.kl.dataSync()[0] as number) : null;
    // With scale 1 and no KL term, the kept SOO loss is the value itself: dispose each tensor once.
    for (const t of new Set([result.value, parts.soo, parts.kl])) t?.dispose();
    const grads = new Map<tf.Variable, tf.Tensor>();
    for (const v of varList) {
      const g = result.grads[v.name];
      if (g) grads.set(v, g);
    }
    if (!Number.isFinite(loss)) {
      for (const g of grads.values()) g.dispose();
      throw new NumericsError('NON_FINITE_LOSS', `SOO loss is ${loss} at hook ${hook}`);
    }
    return { loss, sooLoss, kl, grads };
  }

  async computeLossAndGrads(batch: SooBatch): Promise<SooLossAndGrads> {
    const { loss, sooLoss, kl, grads } = this.lossAndGrads(batch, 1);
    const out = new Map<string, HostTensor>();
    for (const [key, v] of this.vars) {
      const g = grads.get(v);
      out.set(key, {
        data: g ? (g.dataSync() as Float32Array).slice() : new Float32Array(v.size),
        shape: [...v.shape],
      });
    }
    for (const g of grads.values()) g.dispose();
    return { loss, sooLoss, capabilityKl: kl, grads: out };
  }

  async step(batch: SooBatch): Promise<SooStepResult> {
    const { loss, sooLoss, kl, grads } = this.lossAndGrads(batch, 1 / this.gradAccum);
    this.activate();
    // Accumulate (torch: .grad += ...; a parameter the loss never reached keeps grad None).
    if (this.accum === null) {
      this.accum = grads;
    } else {
      for (const [v, g] of grads) {
        const prev = this.accum.get(v);
        if (prev) {
          this.accum.set(v, tf.add(prev, g));
          prev.dispose();
          g.dispose();
        } else {
          this.accum.set(v, g);
        }
      }
    }
    this.micro += 1;
    const base = { loss, sooLoss, capabilityKl: kl };
    if (this.micro % this.gradAccum !== 0) {
      return { ...base, gradNorm: null, updated: false, optimizerSteps: this.optimizerSteps };
    }
    return { ...base, ...this.update() };
  }

  async flush(): Promise<SooFlushResult | null> {
    this.assertLive();
    if (this.accum === null) return null;
    this.activate();
    // The next accumulation window starts now.
    this.micro = Math.ceil(this.micro / this.gradAccum) * this.gradAccum;
    return this.update();
  }

  /** Clip and apply the accumulated gradient. */
  private update(): SooFlushResult {
    const accum = this.accum as Map<tf.Variable, tf.Tensor>;
    this.accum = null;
    const gradNorm = this.clip(accum);
    this.adamw(accum);
    for (const g of accum.values()) g.dispose();
    this.optimizerSteps += 1;
    return { gradNorm, updated: true, optimizerSteps: this.optimizerSteps };
  }

  /** torch.nn.utils.clip_grad_norm_: total 2-norm; scale by max_norm / (norm + 1e-6) when that is < 1. */
  private clip(grads: Map<tf.Variable, tf.Tensor>): number {
    const total = tf.tidy(() => {
      const sq = [...grads.values()].map((g) => tf.sum(tf.square(g)));
      return sq.length ? tf.sqrt(tf.addN(sq)) : tf.scalar(0);
    });
    const norm = total.dataSync()[0] as number;
    total.dispose();
    const max = this.options.clipGradNorm;
    if (max !== undefined && max !== null) {
      const coef = max / (norm + 1e-6);
      if (coef < 1) {
        for (const [v, g] of grads) {
          grads.set(v, tf.mul(g, coef));
          g.dispose();
        }
      }
    }
    return norm;
  }

  /** torch.optim.AdamW, single-tensor implementation, per parameter with its own step count. */
  private adamw(grads: Map<tf.Variable, tf.Tensor>): void {
    const o = this.options.optimizer;
    const [b1, b2] = o.betas ?? [0.9, 0.999];
    const eps = o.eps ?? 1e-8;
    const wd = o.weightDecay ?? 0;
    const lr = o.lr;
    for (const [v, g] of grads) {
      let st = this.state.get(v);
      if (!st) {
        st = { m: tf.zerosLike(v), v: tf.zerosLike(v), step: 0 };
        this.state.set(v, st);
      }
      st.step += 1;
      const bc1 = 1 - Math.pow(b1, st.step);
      const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, st.step));
      const stepSize = lr / bc1;
      const s = st;
      const [m, v2, p] = tf.tidy(() => {
        const decayed = wd !== 0 ? tf.mul(v, 1 - lr * wd) : v;
        const m = tf.add(s.m, tf.mul(tf.sub(g, s.m), 1 - b1)); // exp_avg.lerp_(grad, 1 - beta1)
        const v2 = tf.add(tf.mul(s.v, b2), tf.mul(tf.square(g), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(v2), bc2Sqrt), eps);
        const p = tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize));
        return [m, v2, p];
      });
      s.m.dispose();
      s.v.dispose();
      s.m = m;
      s.v = v2;
      v.assign(p as tf.Tensor);
      p.dispose();
    }
  }

  exportState(): SooTrainerState {
    this.assertLive();
    this.activate();
    const moments = new Map<string, { shape: number[]; m: Float32Array; v: Float32Array }>();
    const paramSteps: Record<string, number> = {};
    let accumulated: Record<string, number[]> | null = null;
    for (const [key, v] of this.vars) {
      const st = this.state.get(v);
      if (st) {
        moments.set(key, {
          shape: [...v.shape],
          m: (st.m.dataSync() as Float32Array).slice(),
          v: (st.v.dataSync() as Float32Array).slice(),
        });
        paramSteps[key] = st.step;
      }
      const g = this.accum?.get(v);
      if (g) (accumulated ??= {})[key] = Array.from(g.dataSync());
    }
    if (this.accum && accumulated === null) accumulated = {};
    return {
      version: 1,
      optimizerSteps: this.optimizerSteps,
      microSteps: this.micro,
      moments,
      paramSteps,
      accumulated,
      rng: this.rng.state(),
    };
  }

  importState(state: SooTrainerState): void {
    this.assertLive();
    const bad = (field: string, msg: string): never => {
      throw new FormatError('DATA_INVALID', `trainer state: ${field}: ${msg}`, { field });
    };
    if (state.version !== 1) bad('version', `expected 1, got ${String(state.version)}`);
    const variable = (key: string): tf.Variable => {
      const v = this.vars.get(key);
      if (!v) return bad(key, 'is not a tensor of this adapter');
      return v;
    };
    const checkLen = (key: string, v: tf.Variable, n: number): void => {
      if (n !== v.size) bad(key, `has ${n} values, expected ${v.size} for shape [${v.shape.join(', ')}]`);
    };
    // Validate everything before touching the current state.
    for (const [key, m] of state.moments) {
      const v = variable(key);
      checkLen(key, v, m.m.length);
      checkLen(key, v, m.v.length);
      if (!Number.isInteger(state.paramSteps[key]) || (state.paramSteps[key] as number) < 1)
        bad(`paramSteps.${key}`, 'expected a positive integer');
    }
    for (const [key, g] of Object.entries(state.accumulated ?? {})) checkLen(key, variable(key), g.length);
    this.activate();
    for (const st of this.state.values()) {
      st.m.dispose();
      st.v.dispose();
    }
    this.state.clear();
    if (this.accum) for (const g of this.accum.values()) g.dispose();
    this.accum = null;
    for (const [key, m] of state.moments) {
      const v = variable(key);
      this.state.set(v, {
        m: tf.tensor(m.m, v.shape),
        v: tf.tensor(m.v, v.shape),
        step: state.paramSteps[key] as number,
      });
    }
    if (state.accumulated) {
      this.accum = new Map();
      for (const [key, g] of Object.entries(state.accumulated)) {
        const v = variable(key);
        this.accum.set(v, tf.tensor(Float32Array.from(g), v.shape));
      }
    }
    this.micro = state.microSteps;
    this.optimizerSteps = state.optimizerSteps;
    this.rng = Rng.restore(state.rng);
  }

  private assertLive(): void {
    if (this.disposed) throw new InvalidArgumentError('INVALID_ARGUMENT', 'this SOO trainer was disposed');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
    if (this.accum) for (const g of this.accum.values()) g.dispose();
    this.accum = null;
  }
}

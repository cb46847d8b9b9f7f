/**
 * The optimizer half shared by every LoRA trainer (the SOO step in `trainer.ts`, next-token training in
 * `lm-trainer.ts`): gradient accumulation, global-norm clipping (torch.nn.utils.clip_grad_norm_), AdamW
 * exactly as torch.optim.AdamW (single-tensor path, one step count per parameter), `flush`, the LoRA dropout
 * RNG, and the resumable state (`exportState` / `importState`).
 *
 * A trainer computes one micro-batch's gradients (its objective already divided by `gradAccum`) and hands
 * them to `accumulate`, which takes ownership of them. Every tensor is freed or replaced in place: the count
 * of live tensors is the same after every optimizer step.
 */
import * as tf from '@tensorflow/tfjs';
import {
  FormatError,
  InvalidArgumentError,
  Rng,
  type AdamWOptions,
  type HostTensor,
  type Seed,
  type SooFlushResult,
  type SooTrainerState,
} from '@soo/core';

/** The options every LoRA trainer shares. */
export interface LoraOptimizerOptions {
  optimizer: AdamWOptions;
  /** Clip the global gradient 2-norm to this value. Default: no clipping. */
  clipGradNorm?: number | null;
  /** Micro-batches per optimizer step. Default 1. */
  gradAccum?: number;
  /** Seed for LoRA dropout masks. */
  seed?: Seed;
}

interface AdamState {
  m: tf.Tensor;
  v: tf.Tensor;
  step: number;
}

export class LoraOptimizer {
  readonly gradAccum: number;
  /** The trainable variables in PEFT-key order. */
  readonly varList: tf.Variable[];
  private rng: Rng;
  private readonly state = new Map<tf.Variable, AdamState>();
  private accum: Map<tf.Variable, tf.Tensor> | null = null;
  private micro = 0;
  private steps = 0;
  private disposed = false;
  private lrOverride: number | null = null;

  constructor(
    /** The trainable LoRA variables by PEFT key (fixed for the trainer's life). */
    private readonly vars: Map<string, tf.Variable>,
    private readonly options: LoraOptimizerOptions,
    /** Activates the model's tfjs backend (synchronously). */
    private readonly activate: () => void,
    /** For messages, e.g. "SOO trainer". */
    private readonly label: string,
  ) {
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
    const clip = options.clipGradNorm;
    if (clip !== undefined && clip !== null && !(clip > 0)) {
      throw new InvalidArgumentError('INVALID_ARGUMENT', `clipGradNorm must be > 0 or null, got ${clip}`, {
        field: 'clipGradNorm',
      });
    }
    if (vars.size === 0) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'the model has no LoRA adapter to train: call attachLora or load with adapterDir',
        {
          field: 'adapter',
        },
      );
    }
    this.varList = [...vars.values()];
    this.rng = new Rng(options.seed ?? 0).split('lora-dropout');
  }

  /** Override the learning rate for the following steps (a schedule); null restores `optimizer.lr`. */
  setLearningRate(lr: number | null): void {
    if (lr !== null && !(lr >= 0))
      throw new InvalidArgumentError('INVALID_ARGUMENT', `learning rate must be >= 0, got ${lr}`, {
        field: 'lr',
      });
    this.lrOverride = lr;
  }

  /** Optimizer steps taken so far. */
  get optimizerSteps(): number {
    return this.steps;
  }

  /** The next LoRA dropout seed (the model draws one per LoRA layer per training pass). */
  nextDropoutSeed(): number {
    return this.rng.nextU32();
  }

  assertLive(): void {
    if (this.disposed) throw new InvalidArgumentError('INVALID_ARGUMENT', `this ${this.label} was disposed`);
  }

  /** The gradients a tape returned for the trainable variables (absent: the loss never reached it). */
  collect(named: tf.NamedTensorMap): Map<tf.Variable, tf.Tensor> {
    const grads = new Map<tf.Variable, tf.Tensor>();
    for (const v of this.varList) {
      const g = named[v.name];
      if (g) grads.set(v, g);
    }
    return grads;
  }

  /** Host copies by PEFT key (zeros where the loss does not reach); disposes `grads`. */
  toHost(grads: Map<tf.Variable, tf.Tensor>): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [key, v] of this.vars) {
      const g = grads.get(v);
      out.set(key, {
        data: g ? (g.dataSync() as Float32Array).slice() : new Float32Array(v.size),
        shape: [...v.shape],
      });
    }
    for (const g of grads.values()) g.dispose();
    return out;
  }

  /**
   * Add one micro-batch's gradients (torch: `.grad += ...`; a parameter the loss never reached keeps grad
   * None) and, every gradAccum-th call, clip and take an AdamW step. Takes ownership of `grads`.
   */
  accumulate(grads: Map<tf.Variable, tf.Tensor>): SooFlushResult {
    this.activate();
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
    if (this.micro % this.gradAccum !== 0)
      return { gradNorm: null, updated: false, optimizerSteps: this.steps };
    return this.update();
  }

  /** Step now on a partial accumulation, without rescaling; null when nothing is pending. */
  flush(): SooFlushResult | null {
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
    this.steps += 1;
    return { gradNorm, updated: true, optimizerSteps: this.steps };
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
    const lr = this.lrOverride ?? o.lr;
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
      optimizerSteps: this.steps,
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
    this.freeTensors();
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
    this.steps = state.optimizerSteps;
    this.rng = Rng.restore(state.rng);
  }

  private freeTensors(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
    if (this.accum) for (const g of this.accum.values()) g.dispose();
    this.accum = null;
  }

  /** Free the moments and any accumulated gradient; further calls throw. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.freeTensors();
  }
}

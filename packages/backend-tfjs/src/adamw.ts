/**
 * The optimizer primitives on the device: accumulated gradients (torch's `.grad +=`; a parameter the loss
 * never reached keeps grad None), their global norm, and one torch.optim.AdamW step (single-tensor path,
 * one step count per parameter). Core decides when to step and the clipping coefficient (`gradScale`).
 */
import * as tf from '@tensorflow/tfjs';
import { FormatError, type AdamWStepOptions, type HostTensor } from '@soo/core/browser';
import { fromHost, toHost, type Param } from './parameters.js';

interface Moments {
  m: tf.Tensor;
  v: tf.Tensor;
  step: number;
}

export class DeviceOptimizer {
  private readonly grads = new Map<Param, tf.Tensor>();
  private readonly moments = new Map<Param, Moments>();

  constructor(readonly params: readonly Param[]) {}

  /** Add `scale`-free gradients (already scaled by the caller); takes ownership of each tensor. */
  accumulate(grads: Map<Param, tf.Tensor>): void {
    for (const [p, g] of grads) {
      const prev = this.grads.get(p);
      if (prev) {
        this.grads.set(p, tf.add(prev, g));
        prev.dispose();
        g.dispose();
      } else {
        this.grads.set(p, g);
      }
    }
  }

  gradNorm(): number {
    const total = tf.tidy(() => {
      const sq = [...this.grads.values()].map((g) => tf.sum(tf.square(g)));
      return sq.length ? tf.sqrt(tf.addN(sq)) : tf.scalar(0);
    });
    const n = total.dataSync()[0] as number;
    total.dispose();
    return n;
  }

  gradients(): Map<string, HostTensor> {
    return new Map([...this.grads].map(([p, g]) => [p.name, toHost(p, g, false)]));
  }

  zeroGrad(): void {
    for (const g of this.grads.values()) g.dispose();
    this.grads.clear();
  }

  step(o: AdamWStepOptions): void {
    const [b1, b2] = o.betas;
    for (const [p, g0] of this.grads) {
      let st = this.moments.get(p);
      if (!st) {
        st = { m: tf.zerosLike(p.variable), v: tf.zerosLike(p.variable), step: 0 };
        this.moments.set(p, st);
      }
      st.step += 1;
      const bc1 = 1 - Math.pow(b1, st.step);
      const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, st.step));
      const s = st;
      const [m, v, next] = tf.tidy(() => {
        const g = o.gradScale === 1 ? g0 : tf.mul(g0, o.gradScale);
        const decayed = o.weightDecay !== 0 ? tf.mul(p.variable, 1 - o.lr * o.weightDecay) : p.variable;
        const m = tf.add(s.m, tf.mul(tf.sub(g, s.m), 1 - b1)); // exp_avg.lerp_(grad, 1 - beta1)
        const v = tf.add(tf.mul(s.v, b2), tf.mul(tf.square(g), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), o.eps);
        return [m, v, tf.sub(decayed, tf.mul(tf.div(m, denom), o.lr / bc1))];
      });
      s.m.dispose();
      s.v.dispose();
      s.m = m;
      s.v = v;
      p.variable.assign(next as tf.Tensor);
      next.dispose();
    }
  }

  exportState(): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [p, s] of this.moments) {
      out.set(`exp_avg.${p.name}`, toHost(p, s.m, false));
      out.set(`exp_avg_sq.${p.name}`, toHost(p, s.v, false));
      out.set(`step.${p.name}`, { data: Float32Array.of(s.step), shape: [1] });
    }
    return out;
  }

  importState(state: ReadonlyMap<string, HostTensor>): void {
    const byName = new Map(this.params.map((p) => [p.name, p]));
    const bad = (field: string, msg: string): never => {
      throw new FormatError('DATA_INVALID', `optimizer state: "${field}" ${msg}`, { field });
    };
    const next = new Map<Param, { m: HostTensor; v: HostTensor; step: number }>();
    for (const [key, t] of state) {
      const m = /^(exp_avg|exp_avg_sq|step)\.(.+)$/.exec(key);
      if (!m) return bad(key, 'is not exp_avg.<param>, exp_avg_sq.<param> or step.<param>');
      const p = byName.get(m[2]!);
      if (!p) return bad(key, 'names no trainable parameter of this model');
      const e = next.get(p) ?? {
        m: null as unknown as HostTensor,
        v: null as unknown as HostTensor,
        step: 0,
      };
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (m[1] === 'step') {
        const s = t.data[0];
        if (t.data.length !== 1 || !Number.isInteger(s) || (s as number) < 1)
          bad(key, 'expected one positive integer');
        e.step = s as number;
      } else {
        if (t.data.length !== n)
          bad(key, `has ${t.data.length} values, expected ${n} for [${p.shape.join(', ')}]`);
        if (m[1] === 'exp_avg') e.m = t;
        else e.v = t;
      }
      next.set(p, e);
    }
    for (const [p, e] of next) if (!e.m || !e.v || !e.step) bad(p.name, 'needs exp_avg, exp_avg_sq and step');
    this.disposeMoments();
    for (const [p, e] of next)
      this.moments.set(p, { m: fromHost(p, e.m, false), v: fromHost(p, e.v, false), step: e.step });
  }

  private disposeMoments(): void {
    for (const s of this.moments.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.moments.clear();
  }

  dispose(): void {
    this.zeroGrad();
    this.disposeMoments();
  }
}

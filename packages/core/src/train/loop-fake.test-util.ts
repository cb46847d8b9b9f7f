// Shared by the loop tests: a ten-primitive fake backend (no test file, so vitest does not collect it).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type {
  AdamWStepOptions,
  AdapterTensors,
  BackendModel,
  BackwardOptions,
  BackwardResult,
  HostTensor,
  Objective,
  TokenBatch,
} from '../backend-spec.js';
import { parseDecoderConfig } from '../config.js';
import { Rng } from '../rng.js';
import { SooModel } from '../soo-model.js';
import type { EncodedPair } from './loop.js';

/**
 * A plain-JS backend with the training primitives of contract v2 and nothing else: each parameter's loss
 * is a quadratic pulling it towards a target set by the batch's first token, the dropout seed adds noise to
 * the gradient, and the optimizer is real AdamW, so order, accumulation, state and seeds all matter. Core's
 * `Trainer` does the rest (accumulation, clipping, checkpoints).
 */
export class FakeModel implements Partial<BackendModel> {
  readonly backend = 'fake';
  readonly dtype = 'float32' as const;
  readonly config = parseDecoderConfig({
    model_type: 'llama',
    vocab_size: 16,
    hidden_size: 4,
    intermediate_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
  });
  params = new Map<string, HostTensor>();
  grads = new Map<string, Float32Array>();
  moments = new Map<string, { m: Float32Array; v: Float32Array; step: number }>();
  backwardCalls = 0;
  nanAtCall: number | null = null;
  lmRows: number[] = [];
  onBackward: ((call: number) => void) | null = null;

  async attachAdapter(a: AdapterTensors): Promise<void> {
    this.params = new Map(
      [...a.tensors].map(([k, t]) => [k, { data: Float32Array.from(t.data), shape: [...t.shape] }]),
    );
    this.grads.clear();
    this.moments.clear();
  }
  parameters() {
    return [...this.params].map(([name, t]) => ({ name, shape: [...t.shape] }));
  }
  async getParameters() {
    return new Map([...this.params].map(([k, t]) => [k, { data: t.data.slice(), shape: [...t.shape] }]));
  }
  async setParameters(values: ReadonlyMap<string, HostTensor>) {
    for (const [k, t] of values) this.params.set(k, { data: Float32Array.from(t.data), shape: [...t.shape] });
  }
  async backward(
    batch: TokenBatch,
    objectives: readonly Objective[],
    o: BackwardOptions,
  ): Promise<BackwardResult> {
    this.backwardCalls++;
    this.onBackward?.(this.backwardCalls);
    if (objectives[0]?.kind === 'lm') this.lmRows.push(batch.rows);
    const target = (i: number) => ((batch.ids[0]! + i) % 7) / 7;
    const noise = new Rng(o.dropoutSeed).next() * 1e-3;
    let loss = 0;
    for (const [k, t] of this.params) {
      const g = this.grads.get(k) ?? new Float32Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) {
        loss += (t.data[i]! - target(i)) ** 2 / 100;
        g[i] = g[i]! + o.scale * ((2 * (t.data[i]! - target(i))) / 100 + noise);
      }
      this.grads.set(k, g);
    }
    if (this.nanAtCall !== null && this.backwardCalls >= this.nanAtCall) loss = Number.NaN;
    return { loss, values: [loss] };
  }
  async gradNorm() {
    let s = 0;
    for (const g of this.grads.values()) for (const x of g) s += x * x;
    return Math.sqrt(s);
  }
  async getGradients() {
    return new Map(
      [...this.grads].map(([k, g]) => [k, { data: g.slice(), shape: this.params.get(k)!.shape }]),
    );
  }
  zeroGrad() {
    this.grads.clear();
  }
  async adamwStep(o: AdamWStepOptions) {
    for (const [k, g] of this.grads) {
      const p = this.params.get(k)!.data;
      const st = this.moments.get(k) ?? {
        m: new Float32Array(p.length),
        v: new Float32Array(p.length),
        step: 0,
      };
      st.step++;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! * o.gradScale;
        st.m[i] = o.betas[0] * st.m[i]! + (1 - o.betas[0]) * gi;
        st.v[i] = o.betas[1] * st.v[i]! + (1 - o.betas[1]) * gi * gi;
        const mh = st.m[i]! / (1 - o.betas[0] ** st.step);
        const vh = st.v[i]! / (1 - o.betas[1] ** st.step);
        p[i] = p[i]! * (1 - o.lr * o.weightDecay) - (o.lr * mh) / (Math.sqrt(vh) + o.eps);
      }
      this.moments.set(k, st);
    }
  }
  async exportOptimizerState() {
    const out = new Map<string, HostTensor>();
    for (const [k, s] of this.moments) {
      out.set(`exp_avg.${k}`, { data: s.m.slice(), shape: this.params.get(k)!.shape });
      out.set(`exp_avg_sq.${k}`, { data: s.v.slice(), shape: this.params.get(k)!.shape });
      out.set(`step.${k}`, { data: Float32Array.of(s.step), shape: [1] });
    }
    return out;
  }
  async importOptimizerState(state: ReadonlyMap<string, HostTensor>) {
    this.moments.clear();
    for (const k of this.params.keys()) {
      const m = state.get(`exp_avg.${k}`);
      if (!m) continue;
      this.moments.set(k, {
        m: Float32Array.from(m.data),
        v: Float32Array.from(state.get(`exp_avg_sq.${k}`)!.data),
        step: state.get(`step.${k}`)!.data[0]!,
      });
    }
  }
  dispose() {}
}

const CAPS = {
  train: true,
  fullTraining: false,
  generate: false,
  hooks: false,
  dtypes: ['float32'] as const,
};
export const asModel = (m: FakeModel): SooModel =>
  new SooModel(m as unknown as BackendModel, { name: 'fake', capabilities: CAPS });
export const pairs: EncodedPair[] = Array.from({ length: 10 }, (_, i) => ({
  selfIds: [i, 1, 2],
  otherIds: [i, 3],
}));
export const base = {
  pairs,
  padId: 0,
  hook: 'model.layers.0.self_attn.o_proj',
  pooling: 'last' as const,
  lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q_proj', 'v_proj'] },
  lr: 0.05,
  epochs: 3,
  batchSize: 3,
  seed: 7,
};
export const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'soo-loop-'));

export function asArgs(m: FakeModel) {
  return { ...base, model: asModel(m) };
}

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
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
import { epochOrder, trainSoo, type EncodedPair } from './loop.js';

/**
 * A plain-JS backend with the training primitives of contract v2 and nothing else: each parameter's loss
 * is a quadratic pulling it towards a target set by the batch's first token, the dropout seed adds noise to
 * the gradient, and the optimizer is real AdamW, so order, accumulation, state and seeds all matter. Core's
 * `Trainer` does the rest (accumulation, clipping, checkpoints).
 */
class FakeModel implements Partial<BackendModel> {
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
const asModel = (m: FakeModel): SooModel =>
  new SooModel(m as unknown as BackendModel, { name: 'fake', capabilities: CAPS });
const pairs: EncodedPair[] = Array.from({ length: 10 }, (_, i) => ({ selfIds: [i, 1, 2], otherIds: [i, 3] }));
const base = {
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
const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'soo-loop-'));

describe('trainSoo (with a plain-JS fake backend)', () => {
  it('runs epochs x ceil(pairs / batch) steps and writes adapter, log, curve, config, checkpoint', async () => {
    const out = tmp();
    const steps: number[] = [];
    const r = await trainSoo({ ...asArgs(new FakeModel()), outDir: out, onStep: (e) => steps.push(e.step) });
    expect(r.status).toBe('completed');
    expect(r.steps).toBe(3 * 4);
    expect(steps).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const f of [
      'adapter_config.json',
      'adapter_model.safetensors',
      'train_log.jsonl',
      'loss_curve.svg',
      'train_config.json',
      'checkpoint/state.json',
    ]) {
      expect(existsSync(path.join(out, f)), f).toBe(true);
    }
    const log = readFileSync(path.join(out, 'train_log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss: number });
    expect(log.map((l) => l.step)).toEqual(steps);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0]!);
  });

  it('gradient accumulation: one optimizer step per gradAccum micro-batches, the epoch remainder flushed', async () => {
    const r = await trainSoo({ ...asArgs(new FakeModel()), gradAccum: 3, outDir: tmp() });
    expect(r.steps).toBe(3 * 2); // 4 micro-batches per epoch -> steps after 3 and (flushed) after 4
  });

  it('resume after an interrupt continues bit-identically (same adapter bytes as an uninterrupted run)', async () => {
    const full = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), outDir: full });
    const split = tmp();
    const controller = new AbortController();
    const first = await trainSoo({
      ...asArgs(new FakeModel()),
      outDir: split,
      signal: controller.signal,
      onStep: (e) => {
        if (e.step === 6) controller.abort();
      },
    });
    expect(first.status).toBe('interrupted');
    expect(first.steps).toBe(6);
    const second = await trainSoo({ ...asArgs(new FakeModel()), outDir: split, resume: true });
    expect(second.status).toBe('completed');
    expect(second.resumedFrom).toBe(6);
    expect(
      readFileSync(path.join(split, 'adapter_model.safetensors')).equals(
        readFileSync(path.join(full, 'adapter_model.safetensors')),
      ),
    ).toBe(true);
    expect(second.losses).toEqual(await readLosses(full));
    expect(await readLosses(split)).toEqual(await readLosses(full));
  });

  it('an interrupt inside an accumulation window finishes the window, then resumes bit-identically', async () => {
    const full = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), gradAccum: 3, outDir: full });
    const split = tmp();
    const controller = new AbortController();
    const m = new FakeModel();
    m.onBackward = (call) => {
      if (call === 6) controller.abort(); // mid-window: epoch 2 runs micro-batches 5-7 as one window
    };
    const first = await trainSoo({ ...asArgs(m), gradAccum: 3, outDir: split, signal: controller.signal });
    expect(first.status).toBe('interrupted');
    expect(m.backwardCalls).toBe(7); // the window was finished before the checkpoint
    expect(first.steps).toBe(3);
    const second = await trainSoo({ ...asArgs(new FakeModel()), gradAccum: 3, outDir: split, resume: true });
    expect(second.status).toBe('completed');
    expect(
      readFileSync(path.join(split, 'adapter_model.safetensors')).equals(
        readFileSync(path.join(full, 'adapter_model.safetensors')),
      ),
    ).toBe(true);
  });

  it('refuses a v1 checkpoint (JSON moments) with a clear DATA_INVALID error', async () => {
    const out = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), epochs: 1, outDir: out });
    const { rmSync, writeFileSync } = await import('node:fs');
    rmSync(path.join(out, 'checkpoint', 'optimizer.safetensors'));
    writeFileSync(
      path.join(out, 'checkpoint', 'trainer_state.json'),
      JSON.stringify({ version: 1, moments: [] }),
    );
    await expect(trainSoo({ ...asArgs(new FakeModel()), outDir: out, resume: true })).rejects.toMatchObject({
      code: 'DATA_INVALID',
      message: expect.stringContaining('v1'),
    });
  });

  it('a non-finite loss stops the run with NON_FINITE_LOSS and keeps the last good checkpoint', async () => {
    const out = tmp();
    const m = new FakeModel();
    m.nanAtCall = 6;
    await expect(trainSoo({ ...asArgs(m), outDir: out })).rejects.toMatchObject({
      code: 'NON_FINITE_LOSS',
      message: expect.stringContaining('checkpoint'),
    });
    const state = JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as {
      epoch: number;
      step: number;
    };
    expect(state).toMatchObject({ epoch: 1, step: 4 });
    expect(existsSync(path.join(out, 'checkpoint', 'adapter_model.safetensors'))).toBe(true);
  });

  it('the exposure objective trains next-token on both prompts of each pair, same steps', async () => {
    const m = new FakeModel();
    const out = tmp();
    const r = await trainSoo({ ...asArgs(m), objective: 'exposure', outDir: out });
    expect(r.steps).toBe(12);
    expect(m.lmRows.slice(0, 4)).toEqual([6, 6, 6, 2]); // batch 3 pairs -> 6 rows; the last batch has 1 pair
    expect(JSON.parse(readFileSync(path.join(out, 'train_config.json'), 'utf8'))).toMatchObject({
      objective: 'exposure',
    });
  });

  it('a corrupt checkpoint on --resume is a DATA_INVALID error naming the file', async () => {
    const out = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), epochs: 1, outDir: out });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(out, 'checkpoint', 'state.json'), '{"version": 1, "step":');
    await expect(trainSoo({ ...asArgs(new FakeModel()), outDir: out, resume: true })).rejects.toMatchObject({
      code: 'DATA_INVALID',
      message: expect.stringContaining(path.join(out, 'checkpoint', 'state.json')),
    });
  });

  it('epoch order depends only on seed and epoch', () => {
    expect(epochOrder(10, 7, 1)).toEqual(epochOrder(10, 7, 1));
    expect(epochOrder(10, 7, 1)).not.toEqual(epochOrder(10, 7, 2));
    expect(epochOrder(5, 7, 0, false)).toEqual([0, 1, 2, 3, 4]);
  });

  it('rejects bad options with INVALID_ARGUMENT naming the field', async () => {
    await expect(trainSoo({ ...asArgs(new FakeModel()), epochs: 0, outDir: tmp() })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'epochs',
    });
    await expect(trainSoo({ ...asArgs(new FakeModel()), pairs: [], outDir: tmp() })).rejects.toMatchObject({
      field: 'pairs',
    });
  });
});

function asArgs(m: FakeModel) {
  return { ...base, model: asModel(m) };
}

async function readLosses(dir: string): Promise<number[]> {
  return readFileSync(path.join(dir, 'train_log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { loss: number }).loss);
}

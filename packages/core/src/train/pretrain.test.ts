/**
 * Full-parameter training (how the toy model is built) over a real backend: `freshModel` + `LmTrainer` give
 * every weight the gradient a central finite difference of the loss predicts (tfjs-cpu), learn a repeated
 * batch (tfjs-wasm), and `saveModelWeights` writes a folder `loadModel` reads with the same logits, from
 * which `loadModelWeights` continues; `scheduledLr` and `trainableCount`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend, HostTensor } from '../backend-spec.js';
import { getBackend } from '../backend-registry.js';
import { loadDecoderConfig, parseDecoderConfig } from '../config.js';
import type { DecoderConfig } from '../config-types.js';
import { writeFileAtomic } from '../fs.js';
import { initDecoderWeights } from '../lora-init.js';
import { expectedWeights } from '../model-info.js';
import { Rng } from '../rng.js';
import { WeightStore } from '../safetensors/index.js';
import { freshModel, loadModel, type SooModel } from '../soo-model.js';
import { relativeError } from '../testing/fixtures.js';
import { toyConfigJson } from '../toy-model.js';
import { loadModelWeights, saveModelWeights, scheduledLr, trainableCount } from './pretrain.js';

const ARCH = { vocabSize: 48, hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 2, maxPositions: 64 };
let config: DecoderConfig;
let dir: string;
let cpu: Backend;
let wasm: Backend;

beforeAll(async () => {
  const spec = '@soo/backend-tfjs';
  await import(/* @vite-ignore */ spec);
  cpu = await getBackend('tfjs-cpu');
  wasm = await getBackend('tfjs-wasm');
  dir = mkdtempSync(path.join(tmpdir(), 'soo-pretrain-'));
  await writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(toyConfigJson(ARCH)));
  config = await loadDecoderConfig(dir);
});

function batch(seed: number, rows = 3): { ids: number[][]; padId: number } {
  const rng = new Rng(seed);
  return {
    ids: Array.from({ length: rows }, (_, r) =>
      Array.from({ length: 6 + 2 * r }, () => 1 + rng.int(ARCH.vocabSize - 1)),
    ),
    padId: 0,
  };
}

/** The toy trainer's settings (`soo toy train`): betas (0.9, 0.95), clipping at 1, no weight decay. */
function toyTrainer(m: SooModel, lr: number) {
  return m.createLmTrainer({ optimizer: { lr, betas: [0.9, 0.95], weightDecay: 0 }, clipGradNorm: 1 });
}

async function logits(m: SooModel, ids: number[][]): Promise<Float32Array> {
  return (await m.forward({ ids })).logits!.data;
}

describe('full-parameter training', () => {
  it('gives every weight the gradient a finite difference of the loss predicts (tfjs-cpu)', async () => {
    const m = await freshModel(cpu, config, 1, 0.2);
    try {
      const t = toyTrainer(m, 1e-3);
      const b = batch(2);
      const { grads } = await t.computeLossAndGrads(b);
      expect(grads.size).toBe(2 * 9 + 2); // 7 linears + 2 norms per layer, the tied table, the final norm
      expect([...grads.keys()].sort()).toEqual(
        expectedWeights(config)
          .map((w) => w.name)
          .sort(),
      );
      for (const g of grads.values()) expect(g.data.some((x) => x !== 0)).toBe(true);
      const rng = new Rng(3);
      const orig = await m.inner.getParameters();
      const dirs = new Map([...orig].map(([k, v]) => [k, rng.normalArray(v.data.length)]));
      let predicted = 0;
      for (const [k, g] of grads) {
        const d = dirs.get(k)!;
        for (let i = 0; i < g.data.length; i++) predicted += g.data[i]! * d[i]!;
      }
      const lossAt = async (eps: number): Promise<number> => {
        const moved = new Map<string, HostTensor>();
        for (const [k, v] of orig) {
          const d = dirs.get(k)!;
          moved.set(k, { data: v.data.map((x, i) => x + eps * d[i]!), shape: v.shape });
        }
        await m.inner.setParameters(moved);
        return (await t.computeLossAndGrads(b)).loss;
      };
      const eps = 1e-3;
      const fd = ((await lossAt(eps)) - (await lossAt(-eps))) / (2 * eps);
      expect(Math.abs(predicted)).toBeGreaterThan(1e-2);
      // float32 loss, central difference: tolerance 1e-2 relative.
      expect(relativeError([fd], [predicted])).toBeLessThan(1e-2);
      t.dispose();
    } finally {
      m.dispose();
    }
  });

  it('learns a repeated batch (tfjs-wasm): loss falls from ln(vocab) to below 1.0 in 80 steps', async () => {
    const m = await freshModel(wasm, config, 4);
    try {
      const t = toyTrainer(m, 1e-2);
      const schedule = { lr: 1e-2, warmupSteps: 5, totalSteps: 80 };
      const b = batch(5);
      t.setLearningRate(scheduledLr(schedule, 0));
      const first = (await t.step(b)).loss;
      expect(Math.abs(first - Math.log(ARCH.vocabSize))).toBeLessThan(0.2);
      let last = first;
      const before = m.inner.memory?.().currentBytes;
      for (let i = 1; i < 80; i++) {
        t.setLearningRate(scheduledLr(schedule, i));
        const r = await t.step(b);
        expect(r).toMatchObject({ updated: true, optimizerSteps: i + 1 });
        last = r.loss;
      }
      if (before !== undefined) expect(m.inner.memory!().currentBytes).toBe(before);
      expect(last).toBeLessThan(1.0);
      t.dispose();
    } finally {
      m.dispose();
    }
  });

  it('saves a model folder the backend loads with the same logits; loadModelWeights continues from it', async () => {
    const ids = [[1, 5, 9, 13, 2]];
    const m = await freshModel(cpu, config, 6);
    let want: Float32Array;
    try {
      const t = toyTrainer(m, 1e-2);
      const schedule = { lr: 1e-2, warmupSteps: 1, totalSteps: 5 };
      for (let i = 0; i < 5; i++) {
        t.setLearningRate(scheduledLr(schedule, i));
        await t.step(batch(7 + i));
      }
      await saveModelWeights(m, path.join(dir, 'model.safetensors'), { soo_toy_step: '5' });
      want = await logits(m, ids);
      t.dispose();
    } finally {
      m.dispose();
    }
    const loaded = await loadModel(cpu, dir);
    try {
      expect(relativeError(await logits(loaded, ids), want)).toBeLessThan(1e-6);
    } finally {
      loaded.dispose();
    }
    // Continuing from the saved file restores every weight (a fresh model with another seed differs first).
    const c = await freshModel(cpu, config, 99);
    const other = await freshModel(cpu, { ...config, hiddenSize: 8, headDim: 4 }, 1);
    try {
      expect(relativeError(await logits(c, ids), want)).toBeGreaterThan(1e-2);
      const store = await WeightStore.openDir(dir);
      try {
        await loadModelWeights(c, store);
        await expect(loadModelWeights(other, store)).rejects.toThrow(
          /has shape \[48, 16\], expected \[48, 8\]/,
        );
      } finally {
        await store.close();
      }
      expect(relativeError(await logits(c, ids), want)).toBeLessThan(1e-7);
      // A missing tensor is named.
      await expect(
        loadModelWeights(c, {
          info: () => undefined,
          readFloat32: () => Promise.resolve(new Float32Array()),
        }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/missing/) });
    } finally {
      c.dispose();
      other.dispose();
    }
  });

  it('counts trained values once for a tied table; a fully trainable model takes no adapter; needs fullTraining', async () => {
    const m = await freshModel(cpu, config, 1);
    try {
      const n = expectedWeights(config).reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
      expect(trainableCount(m)).toBe(n);
      await expect(m.attachLora({ r: 2, alpha: 4, targets: ['q_proj'] })).rejects.toMatchObject({
        code: 'BACKEND_CAPABILITY',
      });
    } finally {
      m.dispose();
    }
    // getParameters returns HF values (transposes and Gemma's 1 + w norms undone): the initial values exactly.
    const gemma = parseDecoderConfig({
      model_type: 'gemma2',
      vocab_size: 32,
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 4,
      max_position_embeddings: 32,
    });
    for (const cfg of [config, gemma]) {
      const f = await freshModel(cpu, cfg, 2, 0.1);
      try {
        const init = initDecoderWeights(cfg, 2, 0.1);
        const got = await f.inner.getParameters();
        expect([...got.keys()].sort()).toEqual([...init.keys()].sort());
        for (const [k, t] of init) {
          expect(got.get(k)!.shape).toEqual(t.shape);
          expect(got.get(k)!.data).toEqual(t.data);
        }
      } finally {
        f.dispose();
      }
    }
    const limited = {
      name: 'limited',
      capabilities: { ...cpu.capabilities, fullTraining: false },
    } as unknown as Backend;
    await expect(freshModel(limited, config, 1)).rejects.toMatchObject({ code: 'BACKEND_CAPABILITY' });
  });

  it('schedules a linear warm-up then a cosine decay to 10%', () => {
    const o = { lr: 1, warmupSteps: 10, totalSteps: 110 };
    expect(scheduledLr(o, 0)).toBeCloseTo(0.1, 12);
    expect(scheduledLr(o, 9)).toBeCloseTo(1, 12);
    expect(scheduledLr(o, 60)).toBeCloseTo(0.55, 12);
    expect(scheduledLr(o, 110)).toBeCloseTo(0.1, 12);
    expect(scheduledLr(o, 500)).toBeCloseTo(0.1, 12);
    expect(scheduledLr({ ...o, minLrRatio: 0 }, 110)).toBeCloseTo(0, 12);
  });
});

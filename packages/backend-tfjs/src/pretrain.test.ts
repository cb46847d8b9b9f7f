/**
 * Full-parameter training (the toy model's trainer): the gradient of every weight against a central finite
 * difference of the loss along a random direction, training lowers the loss, and a saved model loads through
 * the backend with the same logits.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Rng,
  WeightStore,
  loadDecoderConfig,
  writeFileAtomic,
  toyConfigJson,
  type DecoderConfig,
} from '@soo/core';
import { relativeError } from '@soo/core/testing';
import { createTfjsCpuBackend, createTfjsWasmBackend } from './backend.js';
import { Pretrainer, scheduledLr } from './pretrain.js';
import { activate } from './tf.js';

const ARCH = { vocabSize: 48, hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 2, maxPositions: 64 };
let config: DecoderConfig;
let dir: string;

beforeAll(async () => {
  await createTfjsCpuBackend();
  await createTfjsWasmBackend();
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

describe('Pretrainer', () => {
  it('gives every weight the gradient a finite difference of the loss predicts (tfjs-cpu)', () => {
    activate('cpu');
    const t = new Pretrainer(config, { lr: 1e-3, warmupSteps: 0, totalSteps: 1, seed: 1, initStd: 0.2 });
    const b = batch(2);
    const { grads } = t.computeLossAndGrads(b);
    expect(grads.size).toBe(2 * 9 + 2); // 7 linears + 2 norms per layer, the tied table, the final norm
    const rng = new Rng(3);
    const dir = new Map([...t.vars].map(([k, v]) => [k, rng.normalArray(v.size)]));
    let predicted = 0;
    for (const [k, g] of grads) {
      const d = dir.get(k)!;
      for (let i = 0; i < g.length; i++) predicted += g[i]! * d[i]!;
    }
    const orig = new Map([...t.vars].map(([k, v]) => [k, (v.dataSync() as Float32Array).slice()]));
    const lossAt = (eps: number): number => {
      for (const [k, v] of t.vars) {
        const o = orig.get(k)!;
        const d = dir.get(k)!;
        v.assign(
          tf.tensor(
            o.map((x, i) => x + eps * d[i]!),
            v.shape,
          ),
        );
      }
      return t.computeLossAndGrads(b).loss;
    };
    const eps = 1e-3;
    const fd = (lossAt(eps) - lossAt(-eps)) / (2 * eps);
    expect(Math.abs(predicted)).toBeGreaterThan(1e-2);
    // float32 loss, central difference: tolerance 1e-2 relative.
    expect(relativeError([fd], [predicted])).toBeLessThan(1e-2);
    t.dispose();
  });

  it('learns a repeated batch (tfjs-wasm): loss falls from ln(vocab) to below 1.0 in 80 steps', () => {
    activate('wasm');
    const t = new Pretrainer(config, { lr: 1e-2, warmupSteps: 5, totalSteps: 80, seed: 4 });
    const b = batch(5);
    const first = t.trainStep(b).loss;
    expect(Math.abs(first - Math.log(ARCH.vocabSize))).toBeLessThan(0.2);
    let last = first;
    const before = tf.memory().numTensors;
    for (let i = 1; i < 80; i++) last = t.trainStep(b).loss;
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(1.0);
    t.dispose();
  });

  it('saves a model folder the backend loads with the same logits', async () => {
    activate('cpu');
    const t = new Pretrainer(config, { lr: 1e-2, warmupSteps: 1, totalSteps: 5, seed: 6 });
    for (let i = 0; i < 5; i++) t.trainStep(batch(7 + i));
    await t.save(path.join(dir, 'model.safetensors'));
    const ids = [[1, 5, 9, 13, 2]];
    const want = tf.tidy(() => {
      const r = t.decoder.run({ ids, logits: 'all' });
      return (r.logits as tf.Tensor).dataSync() as Float32Array;
    });
    const backend = await createTfjsCpuBackend();
    const model = await backend.loadModel(dir);
    const got = await model.forward({ ids });
    expect(relativeError(got.logits!.data, want)).toBeLessThan(1e-6);
    model.dispose();
    // Continuing from the saved file restores every weight (a fresh trainer with another seed differs first).
    const c = new Pretrainer(config, { lr: 1e-2, warmupSteps: 1, totalSteps: 5, seed: 99 });
    const fresh = tf.tidy(
      () => (c.decoder.run({ ids, logits: 'all' }).logits as tf.Tensor).dataSync() as Float32Array,
    );
    expect(relativeError(fresh, want)).toBeGreaterThan(1e-2);
    const store = await WeightStore.openDir(dir);
    await c.loadWeights(store);
    await store.close();
    const resumed = tf.tidy(
      () => (c.decoder.run({ ids, logits: 'all' }).logits as tf.Tensor).dataSync() as Float32Array,
    );
    expect(relativeError(resumed, want)).toBeLessThan(1e-7);
    const other = new Pretrainer(
      { ...config, hiddenSize: 8, headDim: 4 },
      { lr: 1e-2, warmupSteps: 1, totalSteps: 5, seed: 1 },
    );
    const store2 = await WeightStore.openDir(dir);
    await expect(other.loadWeights(store2)).rejects.toThrow(/has shape \[48, 16\], expected \[48, 8\]/);
    await store2.close();
    other.dispose();
    c.dispose();
    t.dispose();
  });

  it('schedules a linear warm-up then a cosine decay to 10%', () => {
    const o = { lr: 1, warmupSteps: 10, totalSteps: 110, seed: 0 };
    expect(scheduledLr(o, 0)).toBeCloseTo(0.1, 12);
    expect(scheduledLr(o, 9)).toBeCloseTo(1, 12);
    expect(scheduledLr(o, 60)).toBeCloseTo(0.55, 12);
    expect(scheduledLr(o, 110)).toBeCloseTo(0.1, 12);
  });
});

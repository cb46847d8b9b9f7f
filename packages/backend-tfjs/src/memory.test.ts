/**
 * Deterministic disposal: the number of live tfjs tensors does not grow across 100 SOO steps (with
 * accumulation and clipping), forward passes with hooks, generation, next-token training (with a flush and
 * `computeLossAndGrads`), full-parameter training of a fresh model, or a trainer state export / import;
 * disposing a model frees all of it.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng, freshModel, parseDecoderConfig, toyConfigJson } from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';
import { createTfjsWasmBackend } from './backend.js';
import { loadFixture, readReferenceJson } from './test-helpers.js';

describe('memory', () => {
  it('no tensor growth across 100 SOO steps, forwards and generation; dispose frees everything', async () => {
    const backend = await createTfjsWasmBackend();
    const dir = hfTinyDir('gemma2');
    const ref = await readReferenceJson(dir);
    const start = tf.memory().numTensors;
    const m = await loadFixture(backend, dir, true);
    const trainer = m.createSooTrainer({
      hook: ref.lora.hook,
      pooling: 'last',
      optimizer: { lr: 1e-3, weightDecay: 0.01 },
      clipGradNorm: 1,
      gradAccum: 2,
    });
    const batch = {
      selfIds: [ref.soo.self_ids, ref.soo.self_ids.slice(0, 9)],
      otherIds: [ref.soo.other_ids, ref.soo.other_ids.slice(0, 7)],
      padId: 0,
    };
    // The optimizer state (m, v per LoRA tensor) is created on the first update: count after it.
    await trainer.step(batch);
    await trainer.step(batch);
    const afterFirst = tf.memory().numTensors;
    for (let i = 2; i < 100; i++) await trainer.step(batch);
    expect(tf.memory().numTensors).toBe(afterFirst);

    await m.forward({ ids: [ref.input_ids], hooks: ['model.layers.1', 'model.layers.0.self_attn.o_proj'] });
    await m.forward({ ids: [ref.input_ids], hooks: ['model.layers.1.mlp'], returnLogits: false });
    await trainer.computeLossAndGrads(batch);
    await m.generate({ prompts: [ref.greedy.prompt_ids, ref.greedy.prompt_ids.slice(2)], maxNewTokens: 6 });
    expect(tf.memory().numTensors).toBe(afterFirst);

    // A checkpoint round trip replaces the moments; it does not add to them.
    const state = await trainer.exportState();
    await trainer.importState(state);
    await trainer.step(batch);
    await trainer.step(batch);
    expect(tf.memory().numTensors).toBe(afterFirst);

    trainer.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('attachLora / detachAdapter / loadAdapter free what they replace; dispose frees the adapter', async () => {
    const backend = await createTfjsWasmBackend();
    const dir = hfTinyDir('llama');
    const start = tf.memory().numTensors;
    const m = await loadFixture(backend, dir);
    const base = tf.memory().numTensors;
    await m.attachLora({ r: 4, alpha: 8, targets: 'all-linear', seed: 1 });
    const one = tf.memory().numTensors;
    await m.attachLora({ r: 4, alpha: 8, targets: 'all-linear', seed: 2 });
    expect(tf.memory().numTensors).toBe(one);
    await m.detachAdapter();
    expect(tf.memory().numTensors).toBe(base);
    await m.loadAdapter(path.join(dir, 'adapter'));
    await m.detachAdapter();
    expect(tf.memory().numTensors).toBe(base);
    await m.attachLora({ r: 4, alpha: 8, targets: ['q_proj'], seed: 3 });
    m.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('no tensor growth over 20 next-token steps on tfjs-wasm (gemma2, accumulation, clipping); dispose frees all', async () => {
    const wasm = await createTfjsWasmBackend();
    const gdir = hfTinyDir('gemma2');
    const gref = await readReferenceJson(gdir);
    const start = tf.memory().numTensors;
    const m = await loadFixture(wasm, gdir, true);
    const trainer = m.createLmTrainer({
      optimizer: { lr: 1e-3, weightDecay: 0.01 },
      clipGradNorm: 1,
      gradAccum: 2,
    });
    const batch = { ids: [gref.soo.self_ids, gref.soo.other_ids.slice(0, 7)], padId: 0 };
    await trainer.step(batch);
    await trainer.step(batch); // the first update creates the AdamW moments
    const afterFirst = tf.memory().numTensors;
    const losses: number[] = [];
    for (let i = 2; i < 20; i++) losses.push((await trainer.step(batch)).loss);
    expect(tf.memory().numTensors).toBe(afterFirst);
    expect(losses.every(Number.isFinite)).toBe(true);
    await trainer.computeLossAndGrads(batch);
    await trainer.step(batch);
    await trainer.flush();
    expect(tf.memory().numTensors).toBe(afterFirst);
    trainer.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('no tensor growth across full-parameter training of a fresh model (tfjs-wasm); dispose frees all', async () => {
    const wasm = await createTfjsWasmBackend();
    const arch = {
      vocabSize: 48,
      hiddenSize: 16,
      intermediateSize: 24,
      layers: 2,
      heads: 2,
      maxPositions: 64,
    };
    const config = parseDecoderConfig(toyConfigJson(arch));
    const rng = new Rng(5);
    const batch = {
      ids: Array.from({ length: 3 }, (_, r) =>
        Array.from({ length: 6 + 2 * r }, () => 1 + rng.int(arch.vocabSize - 1)),
      ),
      padId: 0,
    };
    const start = tf.memory().numTensors;
    const m = await freshModel(wasm, config, 4);
    const trainer = m.createLmTrainer({ optimizer: { lr: 1e-2 }, clipGradNorm: 1 });
    await trainer.step(batch); // creates the moments
    const afterFirst = tf.memory().numTensors;
    for (let i = 1; i < 20; i++) {
      trainer.setLearningRate(1e-2 * (1 - i / 40));
      await trainer.step(batch);
    }
    await trainer.computeLossAndGrads(batch);
    await m.inner.getParameters();
    expect(tf.memory().numTensors).toBe(afterFirst);
    trainer.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});

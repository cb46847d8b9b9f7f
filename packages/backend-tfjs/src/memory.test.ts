/**
 * Deterministic disposal: the number of live tfjs tensors does not grow across 100 SOO steps (with
 * accumulation and clipping), forward passes with hooks, or generation; disposing a model frees all of it.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { hfTinyDir } from '@soo/core/testing';
import { createTfjsWasmBackend } from './backend.js';
import { readReferenceJson } from './test-helpers.js';

describe('memory', () => {
  it('no tensor growth across 100 SOO steps, forwards and generation; dispose frees everything', async () => {
    const backend = await createTfjsWasmBackend();
    const dir = hfTinyDir('gemma2');
    const ref = await readReferenceJson(dir);
    const start = tf.memory().numTensors;
    const m = await backend.loadModel(dir, { adapterDir: path.join(dir, 'adapter') });
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

    trainer.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});

/**
 * The tfjs side of the SOO step, white-box: a SOO backward stops at the hook (the layers after it, the final
 * norm and lm_head are never run). The step's behaviour over the primitives (poolings, AdamW, accumulation,
 * clipping, dropout, checkpoints, the capability term) is tested in `@soo/core` (train/*.test.ts) on this
 * backend.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type SooModel } from '@soo/core';
import { hfTinyDir, relativeError } from '@soo/core/testing';
import { createTfjsCpuBackend, type TfjsBackend } from './backend.js';
import { decoderOf, loadFixture, readReferenceJson, type FixtureReference } from './test-helpers.js';
import type { LayerWeights } from './model.js';

const dir = hfTinyDir('llama');
let backend: TfjsBackend;
let ref: FixtureReference;

beforeAll(async () => {
  backend = await createTfjsCpuBackend();
  ref = await readReferenceJson(dir);
});

const loadWithAdapter = (): Promise<SooModel> => loadFixture(backend, dir, true);

describe('early stopping', () => {
  it('the SOO step never runs the layers after the hook, nor the final norm or lm_head', async () => {
    const m = await loadWithAdapter();
    try {
      // Poison everything after layer 2's o_proj: a pass that touched it would give NaN.
      const w = decoderOf(m).weights;
      const nan = (t: tf.Tensor): tf.Tensor => {
        const out = tf.fill(t.shape, NaN);
        t.dispose();
        return out;
      };
      const l2 = w.layers[2] as LayerWeights;
      const l3 = w.layers[3] as LayerWeights;
      l2.gate.weightT = nan(l2.gate.weightT) as tf.Tensor2D;
      l3.q.weightT = nan(l3.q.weightT) as tf.Tensor2D;
      l3.inputNorm = nan(l3.inputNorm) as tf.Tensor1D;
      w.finalNorm = nan(w.finalNorm) as tf.Tensor1D;
      w.lmHeadT = nan(w.lmHeadT) as tf.Tensor2D;
      const trainer = m.createSooTrainer({ hook: ref.lora.hook, pooling: 'full', optimizer: { lr: 1e-2 } });
      const { loss, grads } = await trainer.computeLossAndGrads({
        selfIds: [ref.soo.self_ids],
        otherIds: [ref.soo.other_ids],
        padId: 1,
      });
      expect(relativeError([loss], [ref.soo.loss])).toBeLessThan(1e-5);
      for (const g of grads.values()) expect(g.data.every(Number.isFinite)).toBe(true);
      // A forward without logits stops there too.
      const out = await m.forward({ ids: [ref.soo.self_ids], hooks: [ref.lora.hook], returnLogits: false });
      expect(out.logits).toBeUndefined();
      expect(out.hooks[ref.lora.hook]!.data.every(Number.isFinite)).toBe(true);
      trainer.dispose();
    } finally {
      m.dispose();
    }
  });
});

/** What the onnx backend says it can do, and the typed errors of what it cannot. */
import { describe, expect, it } from 'vitest';
import {
  getBackend,
  leftPadBatch,
  listHookPoints,
  openModelSource,
  requireCapability,
  rightPadBatch,
} from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';
import { ONNX_BACKEND, createOnnxBackend } from './index.js';

describe('the onnx backend', () => {
  it('registers as "onnx", inference only', async () => {
    const b = await getBackend(ONNX_BACKEND);
    expect(b.capabilities).toEqual({
      train: false,
      fullTraining: false,
      generate: true,
      hooks: true,
      dtypes: ['float32'],
    });
    expect(() => requireCapability(b, 'train')).toThrow(
      expect.objectContaining({ code: 'BACKEND_CAPABILITY' }),
    );
    requireCapability(b, 'generate');
  });

  it('refuses training, other dtypes and bad thread counts with typed errors', async () => {
    expect(() => createOnnxBackend({ threads: -1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    const backend = createOnnxBackend({ threads: 1 });
    const source = await openModelSource(hfTinyDir('llama'));
    try {
      await expect(backend.loadModel(source, { dtype: 'bfloat16' })).rejects.toMatchObject({
        code: 'BACKEND_CAPABILITY',
      });
      await expect(backend.loadModel(source, { trainable: 'all' })).rejects.toMatchObject({
        code: 'BACKEND_CAPABILITY',
      });
      const model = await backend.loadModel(source);
      const batch = rightPadBatch([[1, 2, 3]], 0);
      const opts = { scale: 1, dropout: 0, dropoutSeed: 0, stopAt: null };
      await expect(model.backward(batch, [], opts)).rejects.toMatchObject({ code: 'BACKEND_CAPABILITY' });
      await expect(
        model.adamwStep({ lr: 1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, gradScale: 1 }),
      ).rejects.toMatchObject({
        code: 'BACKEND_CAPABILITY',
      });
      expect(() => model.zeroGrad()).toThrow(expect.objectContaining({ code: 'BACKEND_CAPABILITY' }));
      model.dispose();
      await expect(model.forward(batch, { logits: 'all' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    } finally {
      await source.close();
    }
  });

  it('keeps a KV cache usable while its session is evicted by many other passes', async () => {
    const backend = createOnnxBackend({ threads: 1 });
    const source = await openModelSource(hfTinyDir('qwen2'));
    const model = await backend.loadModel(source);
    await source.close();
    try {
      const batch = leftPadBatch([[1, 2, 3, 4]], 0);
      const once = async () => {
        const { cache, logits } = await model.prefill(batch);
        const next = await model.decode(cache, {
          ids: Int32Array.of(5),
          positionIds: Int32Array.of(4),
          attentionMask: Uint8Array.of(1),
        });
        return { cache, logits, next };
      };
      const ref = await once();
      ref.cache.dispose();
      const { cache } = await model.prefill(batch);
      // 13 passes with different captures: more kinds of pass than the session cache holds.
      for (const p of listHookPoints(model.config).slice(0, 13))
        await model.forward(batch, { logits: 'none', capture: [p] });
      const next = await model.decode(cache, {
        ids: Int32Array.of(5),
        positionIds: Int32Array.of(4),
        attentionMask: Uint8Array.of(1),
      });
      cache.dispose();
      expect(Array.from(next.data)).toEqual(Array.from(ref.next.data));
    } finally {
      model.dispose();
    }
  });
});

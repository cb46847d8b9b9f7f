/** Registry wiring, RoPE variants, masks and argument checks. */
import { describe, expect, it } from 'vitest';
import {
  getBackend,
  listBackends,
  loadModel,
  parseDecoderConfig,
  registerBackend,
  unregisterBackend,
  type DecoderConfig,
  ropeFrequencies,
} from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';
import { TFJS_CPU, TFJS_WASM } from './index.js';
import { MASK_MIN, buildAttentionMask, positionIdsFromMask } from './masks.js';

describe('registry', () => {
  it('registers tfjs-wasm (default, highest priority) and tfjs-cpu', async () => {
    const names = listBackends().map((b) => b.name);
    expect(names.indexOf(TFJS_WASM)).toBeLessThan(names.indexOf(TFJS_CPU));
    const def = await getBackend();
    expect(def.name).toBe(TFJS_WASM);
    expect(def.specificationVersion).toBe('v2');
    expect(def.capabilities).toMatchObject({
      train: true,
      fullTraining: true,
      generate: true,
      hooks: true,
      dtypes: ['float32'],
    });
    expect((await getBackend(TFJS_CPU)).name).toBe(TFJS_CPU);
    await expect(getBackend('nope')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });

  it('getBackend() skips a higher-priority backend whose factory fails', async () => {
    registerBackend(
      'broken',
      () => {
        throw new Error('no such device');
      },
      1000,
    );
    try {
      expect((await getBackend()).name).toBe(TFJS_WASM);
      await expect(getBackend('broken')).rejects.toThrow(/no such device/);
    } finally {
      unregisterBackend('broken');
    }
  });

  it('refuses compute dtypes it does not have, and bad inputs', async () => {
    const b = await getBackend(TFJS_CPU);
    await expect(loadModel(b, hfTinyDir('llama'), { dtype: 'bfloat16' })).rejects.toMatchObject({
      code: 'BACKEND_CAPABILITY',
    });
    const m = await loadModel(b, hfTinyDir('llama'));
    try {
      await expect(m.forward({ ids: [[1, 2], [3]] })).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
      await expect(m.forward({ ids: [[1, 100000]] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(() =>
        m.createSooTrainer({ hook: 'model.layers.0.self_attn.o_proj', optimizer: { lr: 1e-3 } }),
      ).toThrow(/attach a LoRA adapter/);
      expect(() => m.createLmTrainer({ optimizer: { lr: 1e-3 } })).toThrow(/attach a LoRA adapter/);
    } finally {
      m.dispose();
    }
    await expect(m.forward({ ids: [[1]] })).rejects.toThrow(/disposed/);
  });
});

function cfg(rope: Record<string, unknown>): DecoderConfig {
  return parseDecoderConfig({
    model_type: 'llama',
    vocab_size: 10,
    hidden_size: 64,
    intermediate_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    max_position_embeddings: 64,
    rope_parameters: { rope_theta: 10000, ...rope },
  });
}

describe('RoPE inverse frequencies (HF modeling_rope_utils)', () => {
  const def = ropeFrequencies(cfg({ rope_type: 'default' })).invFreq;

  it('default: 1 / theta^(2i/d)', () => {
    def.forEach((x, i) => expect(x).toBeCloseTo(1 / 10000 ** ((2 * i) / 16), 7));
  });

  it('linear: divided by the factor', () => {
    const lin = ropeFrequencies(cfg({ rope_type: 'linear', factor: 4 })).invFreq;
    lin.forEach((x, i) => expect(x).toBeCloseTo(def[i]! / 4, 9));
  });

  it('dynamic: unchanged within the original length, a larger base beyond it', () => {
    const c = cfg({ rope_type: 'dynamic', factor: 2 });
    expect(ropeFrequencies(c, 64).invFreq).toEqual(def);
    const base = 10000 * ((2 * 128) / 64 - 1) ** (16 / 14);
    ropeFrequencies(c, 128).invFreq.forEach((x, i) => expect(x).toBeCloseTo(1 / base ** ((2 * i) / 16), 7));
  });

  it('yarn: extrapolated high frequencies, interpolated low ones, mscale attention factor', () => {
    const y = ropeFrequencies(cfg({ rope_type: 'yarn', factor: 4, original_max_position_embeddings: 16 }));
    expect(y.attentionScaling).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
    expect(y.invFreq[0]).toBeCloseTo(def[0]!, 9);
    expect(y.invFreq[7]).toBeCloseTo(def[7]! / 4, 9);
  });

  it('bf16 buffers round inv_freq to bfloat16 (transformers loading a bf16 checkpoint)', () => {
    const r = ropeFrequencies(cfg({ rope_type: 'default' }), 0, 'bfloat16').invFreq;
    r.forEach((x) => expect(new Uint32Array(new Float32Array([x]).buffer)[0]! & 0xffff).toBe(0));
  });
});

describe('masks', () => {
  it('causal, key padding and sliding window, as HF eager builds them', () => {
    const m = buildAttentionMask({ batch: 1, queryLen: 4, pastLen: 0, keyMask: [[0, 1, 1, 1]], window: 2 });
    const visible = Array.from(m, (x) => (x === 0 ? 1 : 0));
    expect(visible).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1]);
    expect(m[0]).toBe(Math.fround(MASK_MIN));
    expect(positionIdsFromMask([[0, 0, 1, 1, 1]])).toEqual([[0, 0, 0, 1, 2]]);
  });
});

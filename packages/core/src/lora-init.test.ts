/**
 * LoRA and base-weight initial values computed in core: PEFT's init (A ~ U(±1/sqrt(in)), B = 0) seeded per
 * module by PEFT key, the scaling (alpha / r, rsLoRA alpha / sqrt(r)), 'all-linear', option errors; and
 * through a real backend (tfjs-wasm) `attachLora` leaves the outputs unchanged, is reproducible and
 * replaces the previous adapter. `initDecoderWeights`: transformers' `_init_weights` from core's Rng.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { peftKey } from './adapter.js';
import type { Backend } from './backend-spec.js';
import { getBackend } from './backend-registry.js';
import { parseDecoderConfig } from './config.js';
import type { DecoderConfig } from './config-types.js';
import {
  ALL_LINEAR,
  initDecoderWeights,
  initLoraTensors,
  linearModuleShapes,
  loraConfigFromOptions,
} from './lora-init.js';
import { expectedWeights } from './model-info.js';
import { loadModel } from './soo-model.js';
import { hfTinyDir } from './testing/fixtures.js';
import { toyConfigJson } from './toy-model.js';

let backend: Backend;
beforeAll(async () => {
  const spec = '@soo/backend-tfjs';
  await import(/* @vite-ignore */ spec);
  backend = await getBackend('tfjs-wasm');
});

const ARCH = { vocabSize: 48, hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 2, maxPositions: 64 };
const toy = (): DecoderConfig => parseDecoderConfig(toyConfigJson(ARCH));

describe('initLoraTensors', () => {
  it('PEFT init: A [r, in] in ±1/sqrt(in), B [out, r] zero, scaling alpha / r; rsLoRA alpha / sqrt(r)', () => {
    const cfg = toy();
    const { config, scaling, tensors } = initLoraTensors(cfg, {
      r: 4,
      alpha: 8,
      targets: ['q_proj', 'down_proj'],
      seed: 3,
    });
    expect(config).toMatchObject({
      r: 4,
      loraAlpha: 8,
      targetModules: ['q_proj', 'down_proj'],
      useRslora: false,
    });
    const mods = linearModuleShapes(cfg).filter((m) => /q_proj|down_proj/.test(m.path));
    expect(mods).toHaveLength(2 * cfg.numLayers);
    expect([...scaling.keys()].sort()).toEqual(mods.map((m) => m.path).sort());
    expect(tensors.size).toBe(2 * mods.length);
    for (const m of mods) {
      expect(scaling.get(m.path)).toBe(2);
      const a = tensors.get(peftKey(m.path, 'A'))!;
      const b = tensors.get(peftKey(m.path, 'B'))!;
      expect(a.shape).toEqual([4, m.in]);
      expect(b.shape).toEqual([m.out, 4]);
      const bound = 1 / Math.sqrt(m.in);
      expect(a.data.every((x) => Math.abs(x) <= bound)).toBe(true);
      expect(Math.max(...a.data)).toBeGreaterThan(0.5 * bound);
      expect(Math.min(...a.data)).toBeLessThan(-0.5 * bound);
      expect(b.data.every((x) => x === 0)).toBe(true);
    }
    const rs = initLoraTensors(cfg, { r: 4, alpha: 8, targets: ['q_proj'], useRslora: true });
    for (const s of rs.scaling.values()) expect(s).toBe(8 / 2);
  });

  it('seeded per module by PEFT key: the same seed gives the same values whatever else is targeted', () => {
    const cfg = toy();
    const one = initLoraTensors(cfg, { r: 4, alpha: 8, targets: ['q_proj'], seed: 7 });
    const two = initLoraTensors(cfg, { r: 4, alpha: 8, targets: ['q_proj', 'v_proj'], seed: 7 });
    const other = initLoraTensors(cfg, { r: 4, alpha: 8, targets: ['q_proj'], seed: 8 });
    const key = peftKey('model.layers.1.self_attn.q_proj', 'A');
    expect(two.tensors.get(key)!.data).toEqual(one.tensors.get(key)!.data);
    expect(other.tensors.get(key)!.data).not.toEqual(one.tensors.get(key)!.data);
    // Two modules of one adapter draw independent values.
    expect(one.tensors.get(peftKey('model.layers.0.self_attn.q_proj', 'A'))!.data).not.toEqual(
      one.tensors.get(key)!.data,
    );
  });

  it("'all-linear' expands to the seven linear modules (never lm_head); options are checked", () => {
    const cfg = toy();
    expect(loraConfigFromOptions({ r: 2, alpha: 4, targets: 'all-linear' }).targetModules).toEqual(
      ALL_LINEAR,
    );
    const all = initLoraTensors(cfg, { r: 2, alpha: 4, targets: 'all-linear', seed: 1 });
    expect(all.scaling.size).toBe(7 * cfg.numLayers);
    expect([...all.tensors.keys()].some((k) => k.includes('lm_head'))).toBe(false);
    expect(() => initLoraTensors(cfg, { r: 0, alpha: 4, targets: ['q_proj'] })).toThrow(
      /r must be a positive integer/,
    );
    expect(() => initLoraTensors(cfg, { r: 2.5, alpha: 4, targets: ['q_proj'] })).toThrow(/r must be/);
    expect(() => initLoraTensors(cfg, { r: 2, alpha: 4, dropout: 1, targets: ['q_proj'] })).toThrow(
      /dropout/,
    );
    expect(() => initLoraTensors(cfg, { r: 2, alpha: 4, targets: ['qproj'] })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/match no linear module/),
      }),
    );
  });
});

describe('initDecoderWeights', () => {
  it("every expected weight; linears and the embedding ~ N(0, std), norms 1 (0 for Gemma's 1 + w), seeded", () => {
    const cfg = toy();
    const w = initDecoderWeights(cfg, 5, 0.2);
    expect([...w.keys()].sort()).toEqual(
      expectedWeights(cfg)
        .map((e) => e.name)
        .sort(),
    );
    for (const e of expectedWeights(cfg)) {
      const t = w.get(e.name)!;
      expect(t.shape).toEqual(e.shape);
      if (e.role === 'norm') expect(t.data.every((x) => x === 1)).toBe(true);
    }
    const emb = w.get('model.embed_tokens.weight')!.data;
    const mean = emb.reduce((a, x) => a + x, 0) / emb.length;
    const sd = Math.sqrt(emb.reduce((a, x) => a + (x - mean) ** 2, 0) / emb.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 0.2)).toBeLessThan(0.02);
    expect(initDecoderWeights(cfg, 5, 0.2).get('model.layers.1.mlp.up_proj.weight')!.data).toEqual(
      w.get('model.layers.1.mlp.up_proj.weight')!.data,
    );
    expect(initDecoderWeights(cfg, 6, 0.2).get('model.layers.1.mlp.up_proj.weight')!.data).not.toEqual(
      w.get('model.layers.1.mlp.up_proj.weight')!.data,
    );
    const gemma = parseDecoderConfig({
      model_type: 'gemma2',
      vocab_size: 16,
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 4,
      max_position_embeddings: 32,
    });
    const g = initDecoderWeights(gemma, 1);
    for (const e of expectedWeights(gemma))
      if (e.role === 'norm') expect(g.get(e.name)!.data.every((x) => x === 0)).toBe(true);
  });
});

describe('attachLora on a backend', () => {
  const dir = hfTinyDir('llama');

  it('attachLora: PEFT init (A in ±1/sqrt(in), B zero), seeded, leaves the outputs unchanged', async () => {
    const m = await loadModel(backend, dir);
    try {
      const ids = [[1, 5, 9, 13, 2, 7, 3]];
      const before = await m.forward({ ids });
      await m.attachLora({ r: 8, alpha: 16, targets: ['q_proj', 'v_proj'], seed: 7 });
      const a = (await m.getAdapter())!;
      expect(a.tensors.size).toBe(2 * 2 * m.config.numLayers);
      expect(a.config).toMatchObject({
        r: 8,
        loraAlpha: 16,
        targetModules: ['q_proj', 'v_proj'],
        useRslora: false,
      });
      expect(m.adapterConfig).toEqual(a.config);
      const bound = 1 / Math.sqrt(m.config.hiddenSize);
      for (const [k, t] of a.tensors) {
        if (k.endsWith('lora_B.weight')) expect(t.data.every((x) => x === 0)).toBe(true);
        else {
          expect(t.shape).toEqual([8, m.config.hiddenSize]);
          expect(t.data.every((x) => Math.abs(x) <= bound)).toBe(true);
          expect(Math.max(...t.data)).toBeGreaterThan(0.8 * bound);
        }
      }
      // The backend holds exactly core's initial values.
      const init = initLoraTensors(m.config, { r: 8, alpha: 16, targets: ['q_proj', 'v_proj'], seed: 7 });
      for (const [k, t] of init.tensors) expect(a.tensors.get(k)!.data).toEqual(t.data);
      const after = await m.forward({ ids });
      expect(after.logits!.data).toEqual(before.logits!.data);
      await m.attachLora({ r: 8, alpha: 16, targets: ['q_proj', 'v_proj'], seed: 7 });
      const again = (await m.getAdapter())!;
      for (const [k, t] of a.tensors) expect(again.tensors.get(k)!.data).toEqual(t.data);
      await m.attachLora({ r: 2, alpha: 4, targets: 'all-linear', seed: 1 });
      expect((await m.getAdapter())!.tensors.size).toBe(2 * 7 * m.config.numLayers);
      expect(m.inner.parameters()).toHaveLength(2 * 7 * m.config.numLayers);
      await m.detachAdapter();
      expect(await m.getAdapter()).toBeNull();
      expect(m.inner.parameters()).toHaveLength(0);
    } finally {
      m.dispose();
    }
  });

  it('saveAdapter writes a PEFT folder that loadModel reads back with the same logits', async () => {
    const m = await loadModel(backend, dir, { adapterDir: path.join(dir, 'adapter') });
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'soo-lora-')), 'a');
    try {
      const ids = [[1, 5, 9, 13, 2, 7, 3]];
      const want = (await m.forward({ ids })).logits!.data;
      await m.saveAdapter(out);
      const n = await loadModel(backend, dir, { adapterDir: out });
      try {
        expect((await n.forward({ ids })).logits!.data).toEqual(want);
        expect(n.adapterConfig).toEqual(m.adapterConfig);
      } finally {
        n.dispose();
      }
    } finally {
      m.dispose();
    }
  });
});

/**
 * native-cpu against the HF oracle fixtures (transformers eager + PEFT + torch.optim.AdamW, float64):
 * logits, hidden states, o_proj outputs, padded batches, LoRA logits, the SOO loss and its LoRA gradients,
 * five AdamW steps, greedy decoding through the KV cache. Skipped (not passed) without the addon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveHookPoint, type TokenBatch, explicitBatch } from '@soo/core';
import { createNativeCpuBackend, type NativeCpuModel } from './native-backend.js';
import { nativeAvailability } from './native-loader.js';
import { FIXTURES, fixtureAdapter, openFixture, type Fixture } from './test-fixtures.js';
import { relativeError } from '@soo/core/testing';

const native = nativeAvailability();
if (!native.available) console.warn(`native-cpu oracle tests skipped: ${native.reason}`);

describe.skipIf(!native.available).each(FIXTURES)('native-cpu vs HF oracle: %s', (name) => {
  let fx: Fixture;
  /** The base model; a bf16 checkpoint's oracle ran with bf16-rounded RoPE buffers (loaded in bf16, upcast). */
  let model: NativeCpuModel;
  /** For the adapter checks: the oracle loaded the adapter model straight in float64 (float32 buffers). */
  let loraModel: NativeCpuModel;
  const ref = async (key: string): Promise<Float32Array> => fx.tensors.readFloat32(key);

  beforeAll(async () => {
    fx = await openFixture(name);
    const backend = createNativeCpuBackend();
    model = await backend.loadModel(fx.source, {
      checkpointDtypeBuffers: fx.source.config.dtype !== 'float32',
    });
    loraModel = await backend.loadModel(fx.source);
  });
  afterAll(async () => {
    model?.dispose();
    loraModel?.dispose();
    await fx?.close();
  });

  it('logits, hidden states and o_proj outputs', async () => {
    const cfg = fx.source.config;
    const L = cfg.numLayers;
    const hooks = [
      resolveHookPoint(cfg, 'model.embed_tokens'),
      ...Array.from({ length: L - 1 }, (_, i) => resolveHookPoint(cfg, `model.layers.${i}`)),
      resolveHookPoint(cfg, 'model.norm'),
      ...Array.from({ length: L }, (_, i) => resolveHookPoint(cfg, `model.layers.${i}.self_attn.o_proj`)),
    ];
    const r = await model.forward(explicitBatch({ ids: [fx.reference.input_ids] }), {
      logits: 'all',
      capture: hooks,
    });
    expect(relativeError(r.logits?.data ?? [], await ref('logits'))).toBeLessThan(1e-4);
    const embed = r.captures.get('model.embed_tokens')?.data ?? new Float32Array();
    const scaled = embed.map((x) => x * Math.fround(cfg.embeddingMultiplier));
    expect(relativeError(scaled, await ref('hidden_states.0'))).toBeLessThan(1e-4);
    for (let i = 1; i < L; i++)
      expect(
        relativeError(r.captures.get(`model.layers.${i - 1}`)?.data ?? [], await ref(`hidden_states.${i}`)),
      ).toBeLessThan(1e-4);
    expect(
      relativeError(r.captures.get('model.norm')?.data ?? [], await ref(`hidden_states.${L}`)),
    ).toBeLessThan(1e-4);
    for (let i = 0; i < L; i++)
      expect(
        relativeError(
          r.captures.get(`model.layers.${i}.self_attn.o_proj`)?.data ?? [],
          await ref(`o_proj.${i}`),
        ),
      ).toBeLessThan(1e-4);
  });

  it('a left-padded batch with explicit position ids', async () => {
    const p = fx.reference.padded;
    const batch: TokenBatch = {
      rows: p.input_ids.length,
      tokens: (p.input_ids[0] as number[]).length,
      ids: Int32Array.from(p.input_ids.flat()),
      attentionMask: Uint8Array.from(p.attention_mask.flat()),
      positionIds: Int32Array.from(p.position_ids.flat()),
    };
    const r = await model.forward(batch, { logits: 'all' });
    const got = r.logits?.data ?? new Float32Array();
    expect(got.every(Number.isFinite), 'finite everywhere, fully masked pad queries included').toBe(true);
    // The oracle ran in float64, where masked scores become -inf in the float32 softmax: a row with a
    // fully masked pad query is NaN there. Finite rows are compared; a NaN row's real positions must equal
    // the unpadded forward of its tokens.
    const want = await ref('padded.logits');
    const V = fx.source.config.vocabSize;
    for (let b = 0; b < batch.rows; b++) {
      const rowSize = batch.tokens * V;
      const w = want.subarray(b * rowSize, (b + 1) * rowSize);
      const g = got.subarray(b * rowSize, (b + 1) * rowSize);
      if (w.every(Number.isFinite)) {
        expect(relativeError(g, w)).toBeLessThan(1e-4);
        continue;
      }
      const mask = p.attention_mask[b] as number[];
      const real = (p.input_ids[b] as number[]).filter((_, t) => mask[t] === 1);
      const alone = await model.forward(explicitBatch({ ids: [real] }), { logits: 'all' });
      const first = mask.indexOf(1);
      expect(relativeError(g.subarray(first * V), alone.logits?.data ?? [])).toBeLessThan(1e-5);
    }
    const last = await model.forward(batch, { logits: 'last' });
    expect(last.logits?.shape).toEqual([2, 1, fx.source.config.vocabSize]);
  });

  it('greedy decoding through the KV cache', async () => {
    const g = fx.reference.greedy;
    const V = fx.source.config.vocabSize;
    const argmax = (d: Float32Array): number =>
      d.reduce((best, x, i, a) => (x > (a[best] as number) ? i : best), 0);
    const { cache, logits } = await model.prefill(explicitBatch({ ids: [g.prompt_ids] }), { adapter: false });
    const out = [argmax(logits.data.subarray(0, V))];
    while (out.length < g.output_ids.length) {
      const pos = g.prompt_ids.length + out.length - 1;
      const next = await model.decode(cache, {
        ids: Int32Array.of(out[out.length - 1] as number),
        positionIds: Int32Array.of(pos),
        attentionMask: Uint8Array.of(1),
      });
      out.push(argmax(next.data));
    }
    expect(cache.length).toBe(g.prompt_ids.length + g.output_ids.length - 1);
    cache.dispose();
    expect(out).toEqual(g.output_ids);
  });

  it('LoRA logits, the SOO loss, its gradients and five AdamW steps', async () => {
    const adapter = await fixtureAdapter(fx);
    const model = loraModel;
    await model.attachAdapter(adapter);
    const lora = await model.forward(explicitBatch({ ids: [fx.reference.input_ids] }), { logits: 'all' });
    expect(relativeError(lora.logits?.data ?? [], await ref('lora.logits'))).toBeLessThan(1e-4);

    const soo = fx.reference.soo;
    const hook = resolveHookPoint(fx.source.config, fx.reference.lora.hook);
    const batch = explicitBatch({ ids: [soo.self_ids, soo.other_ids] });
    const objectives = [{ kind: 'soo' as const, hook, poolWeights: null, weight: 1 }];
    const options = { scale: 1, dropout: 0, dropoutSeed: 0, stopAt: null };
    model.zeroGrad();
    const r = await model.backward(batch, objectives, options);
    expect(Math.abs(r.loss - soo.loss) / soo.loss).toBeLessThan(1e-4);
    expect(r.values).toHaveLength(1);
    const grads = await model.getGradients();
    for (const { name, shape } of model.parameters()) {
      const want = await ref(`grad.${name}`);
      const got = grads.get(name)?.data ?? new Float32Array(want.length);
      const norm = Math.hypot(...want);
      if (norm === 0) expect(Math.hypot(...got)).toBe(0);
      else expect(relativeError(got, want), name).toBeLessThan(1e-3);
      expect(shape.reduce((a, b) => a * b, 1)).toBe(want.length);
    }

    const a = soo.adamw;
    const losses = [r.loss];
    for (let step = 0; step < a.steps; step++) {
      if (step > 0) {
        model.zeroGrad();
        losses.push((await model.backward(batch, objectives, options)).loss);
      }
      await model.adamwStep({
        lr: a.lr,
        betas: a.betas,
        eps: a.eps,
        weightDecay: a.weight_decay,
        gradScale: 1,
      });
    }
    model.zeroGrad();
    losses.push((await model.backward(batch, objectives, options)).loss);
    expect(relativeError(losses, a.losses_before_each_step_then_final)).toBeLessThan(1e-3);
    const params = await model.getParameters();
    for (const [key, t] of params)
      expect(relativeError(t.data, await ref(`adamw5.${key}`)), key).toBeLessThan(1e-3);
    const state = await model.exportOptimizerState();
    expect(state.get(`step.${[...params.keys()][0]}`)?.data[0]).toBe(a.steps);
    await model.detachAdapter();
  });
});

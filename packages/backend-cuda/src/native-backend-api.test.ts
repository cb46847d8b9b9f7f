/**
 * native-cpu's contract behaviour beyond the oracle numbers: interventions, early stops, typed errors on
 * bad input, full-parameter training, dropout determinism, the KL objective, memory and dispose. On the
 * hf-tiny Llama fixture; skipped (not passed) without the addon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SooError, resolveHookPoint, type HostTensor, explicitBatch } from '@soo/core';
import { createNativeCpuBackend, type NativeCpuModel } from './native-backend.js';
import { nativeAvailability } from './native-loader.js';
import { fixtureAdapter, openFixture, type Fixture } from './test-fixtures.js';
import { relativeError } from '@soo/core/testing';

const native = nativeAvailability();

describe.skipIf(!native.available)('native-cpu contract behaviour', () => {
  let fx: Fixture;
  let model: NativeCpuModel;
  const hook = (name: string) => resolveHookPoint(fx.source.config, name);

  beforeAll(async () => {
    fx = await openFixture('hf-tiny/llama');
    model = await createNativeCpuBackend().loadModel(fx.source);
  });
  afterAll(async () => {
    model?.dispose();
    await fx?.close();
  });

  it('names itself and its capabilities; refuses other dtypes', async () => {
    const backend = createNativeCpuBackend();
    expect(backend.name).toBe('native-cpu');
    expect(backend.specificationVersion).toBe('v2');
    expect(backend.capabilities).toMatchObject({
      train: true,
      fullTraining: true,
      generate: true,
      hooks: true,
    });
    await expect(backend.loadModel(fx.source, { dtype: 'float16' })).rejects.toMatchObject({
      code: 'BACKEND_CAPABILITY',
    });
  });

  it('interventions: scale, zero, add, patch and callback rewrite the hooked output', async () => {
    const batch = explicitBatch({ ids: [fx.reference.input_ids] });
    const mlp = hook('model.layers.1.mlp');
    const block = hook('model.layers.3');
    const plain = await model.forward(batch, { logits: 'all', capture: [mlp, block] });
    const base = plain.captures.get(mlp.name) as HostTensor;

    const scaled = await model.forward(batch, {
      logits: 'none',
      capture: [mlp],
      interventions: [{ hook: mlp, kind: 'scale', factor: 0.5 }],
    });
    expect(
      relativeError(
        scaled.captures.get(mlp.name)?.data ?? [],
        base.data.map((x) => x * 0.5),
      ),
    ).toBeLessThan(1e-7);

    const zeroed = await model.forward(batch, {
      logits: 'none',
      capture: [mlp],
      interventions: [{ hook: mlp, kind: 'zero' }],
    });
    expect(zeroed.captures.get(mlp.name)?.data.every((x) => x === 0)).toBe(true);

    const vector = new Float32Array(mlp.width).map((_, i) => i / 100);
    const added = await model.forward(batch, {
      logits: 'none',
      capture: [mlp],
      interventions: [{ hook: mlp, kind: 'add', vector }],
    });
    const want = base.data.map((x, i) => x + (vector[i % mlp.width] as number));
    expect(relativeError(added.captures.get(mlp.name)?.data ?? [], want)).toBeLessThan(1e-7);

    // Patching the last block's output with another pass's makes the logits that pass's.
    const other = explicitBatch({ ids: [fx.reference.soo.other_ids] });
    const donor = await model.forward(other, { logits: 'all', capture: [block] });
    const patched = await model.forward(batch, {
      logits: 'all',
      interventions: [{ hook: block, kind: 'patch', tensor: donor.captures.get(block.name) as HostTensor }],
    });
    expect(relativeError(patched.logits?.data ?? [], donor.logits?.data ?? [])).toBeLessThan(1e-6);

    const seen: number[][] = [];
    const identity = await model.forward(batch, {
      logits: 'all',
      interventions: [
        {
          hook: mlp,
          kind: 'callback',
          fn: (out) => {
            seen.push(out.shape);
            return out;
          },
        },
      ],
    });
    expect(seen).toEqual([[1, fx.reference.input_ids.length, mlp.width]]);
    expect(relativeError(identity.logits?.data ?? [], plain.logits?.data ?? [])).toBeLessThan(1e-7);
    await expect(
      model.forward(batch, {
        logits: 'all',
        interventions: [
          { hook: mlp, kind: 'callback', fn: () => ({ data: new Float32Array(3), shape: [3] }) },
        ],
      }),
    ).rejects.toBeInstanceOf(SooError);
    await expect(
      model.forward(batch, {
        logits: 'all',
        interventions: [{ hook: mlp, kind: 'patch', tensor: { data: new Float32Array(5), shape: [5] } }],
      }),
    ).rejects.toBeInstanceOf(SooError);
  });

  it('stops at the requested point and refuses hooks past it', async () => {
    const batch = explicitBatch({ ids: [fx.reference.input_ids] });
    const o = hook('model.layers.1.self_attn.o_proj');
    const full = await model.forward(batch, { logits: 'all', capture: [o] });
    const early = await model.forward(batch, {
      logits: 'none',
      capture: [o],
      stopAt: { layer: 1, stage: 'attn' },
    });
    expect(early.logits).toBeNull();
    expect(early.captures.get(o.name)?.data).toEqual(full.captures.get(o.name)?.data);
    await expect(
      model.forward(batch, {
        logits: 'none',
        capture: [hook('model.layers.2')],
        stopAt: { layer: 1, stage: 'attn' },
      }),
    ).rejects.toBeInstanceOf(SooError);
  });

  it('bad input is a typed error, never a crash', async () => {
    const batch = explicitBatch({ ids: [fx.reference.input_ids] });
    await expect(
      model.forward({ ...batch, ids: batch.ids.map(() => 100000) }, { logits: 'all' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      model.forward({ ...batch, tokens: batch.tokens + 1 }, { logits: 'all' }),
    ).rejects.toBeInstanceOf(SooError);
    await expect(
      model.forward(
        { ...batch, positionIds: new Float32Array(batch.tokens) as unknown as Int32Array },
        { logits: 'all' },
      ),
    ).rejects.toBeInstanceOf(SooError);
    await expect(
      model.backward(batch, [], { scale: 1, dropout: 0, dropoutSeed: 0, stopAt: null }),
    ).rejects.toBeInstanceOf(SooError);
    await expect(
      model.importOptimizerState(new Map([['step.nope', { data: new Float32Array(1), shape: [1] }]])),
    ).rejects.toBeInstanceOf(SooError);
  });

  it('dropout masks follow the seed; KL against the frozen model starts at zero', async () => {
    const adapter = await fixtureAdapter(fx);
    const zeroB = new Map(
      [...adapter.tensors].map(([k, t]) => [
        k,
        k.includes('lora_B') ? { ...t, data: new Float32Array(t.data.length) } : t,
      ]),
    );
    await model.attachAdapter(adapter);
    const soo = fx.reference.soo;
    const batch = explicitBatch({ ids: [soo.self_ids, soo.other_ids] });
    const objectives = [
      { kind: 'soo' as const, hook: hook(fx.reference.lora.hook), poolWeights: null, weight: 1 },
    ];
    const grads = async (seed: number) => {
      model.zeroGrad();
      await model.backward(batch, objectives, { scale: 1, dropout: 0.3, dropoutSeed: seed, stopAt: null });
      const g = await model.getGradients();
      return [...g.values()].flatMap((t) => [...t.data]);
    };
    const a = await grads(7);
    expect(await grads(7)).toEqual(a);
    expect(await grads(8)).not.toEqual(a);

    await model.attachAdapter({ scaling: adapter.scaling, tensors: zeroB });
    const weights = new Float32Array(batch.rows * batch.tokens).fill(1 / (batch.rows * batch.tokens));
    model.zeroGrad();
    const r = await model.backward(batch, [{ kind: 'kl', weights, weight: 2 }], {
      scale: 1,
      dropout: 0,
      dropoutSeed: 0,
      stopAt: null,
    });
    expect(Math.abs(r.values[0] as number)).toBeLessThan(1e-6);
    await model.detachAdapter();
    expect(model.parameters()).toEqual([]);
  });

  it('trains every base weight with trainable "all"; memory and dispose', async () => {
    const full = await createNativeCpuBackend().loadModel(fx.source, { trainable: 'all' });
    const names = full.parameters().map((p) => p.name);
    expect(names).toContain('model.embed_tokens.weight');
    expect(names).toContain('lm_head.weight');
    expect(names).toHaveLength(fx.source.weights.names().length);
    const ids = fx.reference.input_ids;
    const batch = explicitBatch({ ids: [ids] });
    const T = ids.length;
    const targets = Int32Array.from({ length: T }, (_, t) => ids[t + 1] ?? 0);
    const weights = Float32Array.from({ length: T }, (_, t) => (t + 1 < T ? 1 / (T - 1) : 0));
    const objectives = [{ kind: 'lm' as const, targets, weights, weight: 1 }];
    const options = { scale: 1, dropout: 0, dropoutSeed: 0, stopAt: null };
    const losses: number[] = [];
    for (let step = 0; step < 5; step++) {
      full.zeroGrad();
      losses.push((await full.backward(batch, objectives, options)).loss);
      if (step === 0) expect((await full.getGradients()).size).toBe(names.length);
      await full.adamwStep({ lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, gradScale: 1 });
    }
    expect(losses[4]).toBeLessThan((losses[0] as number) * 0.8);
    const state = await full.exportOptimizerState();
    expect(state.get('step.model.embed_tokens.weight')?.data[0]).toBe(5);
    const mem = full.memory();
    expect(mem.currentBytes).toBeGreaterThan(0);
    expect(mem.peakBytes).toBeGreaterThanOrEqual(mem.currentBytes);
    full.dispose();
    await expect(full.forward(batch, { logits: 'all' })).rejects.toBeInstanceOf(SooError);
    expect(() => full.zeroGrad()).toThrow(SooError);
  });
});

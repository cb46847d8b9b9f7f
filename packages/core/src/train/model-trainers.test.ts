/**
 * `SooTrainer` and `LmTrainer` over a real backend (tfjs-wasm, the hf-tiny fixtures with their adapters):
 * - SOO: the `last` / `mean` / `full` poolings on padded batches against core's float64 `sooLoss` of
 *   forward captures, and central finite differences; LoRA dropout (training only, seeded); hook errors;
 *   the capability term against a host KL of base and tuned logits.
 * - Next-token: the loss against a float64 cross-entropy of `forward` logits (padded batches included), the
 *   gradients against finite differences, training lowers the loss, resume from a `TrainerState`
 *   bit-identically, argument errors.
 *
 * `SOO_LM_LOG=1` prints every measured error.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peftKey } from '../adapter.js';
import type { Backend, HostTensor } from '../backend-spec.js';
import { getBackend } from '../backend-registry.js';
import { loadModel, type SooModel } from '../soo-model.js';
import { sooLoss, type Pooling } from '../soo.js';
import { hfTinyDir, relativeError } from '../testing/fixtures.js';
import type { LmBatch, SooBatch } from './model-trainers.js';
import type { TrainerState } from './trainer.js';

interface FixtureReference {
  input_ids: number[];
  lora: { hook: string };
  soo: { self_ids: number[]; other_ids: number[]; loss: number };
}

let backend: Backend;
beforeAll(async () => {
  const spec = '@soo/backend-tfjs';
  await import(/* @vite-ignore */ spec);
  backend = await getBackend('tfjs-wasm');
});

async function readReference(dir: string): Promise<FixtureReference> {
  return JSON.parse(await fsp.readFile(path.join(dir, 'reference.json'), 'utf8')) as FixtureReference;
}

const withAdapter = (dir: string): Promise<SooModel> =>
  loadModel(backend, dir, { adapterDir: path.join(dir, 'adapter') });

async function adapterOf(m: SooModel): Promise<Map<string, HostTensor>> {
  return (await m.getAdapter())!.tensors;
}

function report(label: string, err: number): number {
  if (process.env.SOO_LM_LOG) console.log(`[model-trainers] ${label}: ${err.toExponential(2)}`);
  return err;
}

/** log-softmax in float64 of the `V` values of `z` from offset `o`. */
function logSoftmax64(z: Float32Array, o: number, V: number): Float64Array {
  let mx = -Infinity;
  for (let j = 0; j < V; j++) mx = Math.max(mx, z[o + j]!);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(z[o + j]! - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from({ length: V }, (_, j) => z[o + j]! - lse);
}

/** `m`'s adapter with entry `idx` of tensor `key` moved by `delta`. */
function moved(
  base: Map<string, HostTensor>,
  key: string,
  idx: number,
  delta: number,
): Map<string, HostTensor> {
  const out = new Map(base);
  const t = base.get(key)!;
  const data = t.data.slice();
  data[idx] = data[idx]! + delta;
  out.set(key, { data, shape: t.shape });
  return out;
}

function largestEntry(g: Float32Array): number {
  let idx = 0;
  for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[idx]!)) idx = i;
  return idx;
}

describe('SooTrainer on llama', () => {
  const dir = hfTinyDir('llama');
  let ref: FixtureReference;
  let m: SooModel;
  beforeAll(async () => {
    ref = await readReference(dir);
    m = await withAdapter(dir);
  });
  afterAll(() => m?.dispose());

  /** Two pairs of different lengths, so right padding and the poolings' masks matter. */
  function paddedBatch(): SooBatch {
    const s = ref.soo.self_ids;
    const o = ref.soo.other_ids;
    return { selfIds: [s, s.slice(0, 11)], otherIds: [o, o.slice(0, 9)], padId: 1 };
  }

  /** Hook activations of one side, right-padded to `T` exactly as the trainer pads. */
  async function side(model: SooModel, rows: number[][], T: number, padId: number) {
    const ids = rows.map((r) => [...r, ...Array.from({ length: T - r.length }, () => padId)]);
    const mask = rows.map((r) => Array.from({ length: T }, (_, t) => (t < r.length ? 1 : 0)));
    const out = await model.forward({
      ids,
      attentionMask: mask,
      hooks: [ref.lora.hook],
      returnLogits: false,
    });
    const h = out.hooks[ref.lora.hook]!;
    return { data: h.data, shape: h.shape as unknown as [number, number, number], mask: mask.flat() };
  }

  it('the unpadded single pair reproduces the fixture loss (full pooling)', async () => {
    const t = m.createSooTrainer({ hook: ref.lora.hook, pooling: 'full', optimizer: { lr: 1e-2 } });
    const r = await t.computeLossAndGrads({
      selfIds: [ref.soo.self_ids],
      otherIds: [ref.soo.other_ids],
      padId: 1,
    });
    expect(relativeError([r.loss], [ref.soo.loss])).toBeLessThan(1e-5);
    expect(r.sooLoss).toBe(r.loss);
    expect(r.capabilityKl).toBeNull();
    // Every trainable tensor has a gradient entry, zeros where the loss does not reach (after the hook).
    expect([...r.grads.keys()].sort()).toEqual(
      m.inner
        .parameters()
        .map((p) => p.name)
        .sort(),
    );
    expect(r.grads.get(peftKey('model.layers.3.self_attn.q_proj', 'B'))!.data.every((x) => x === 0)).toBe(
      true,
    );
    t.dispose();
  });

  for (const pooling of ['last', 'mean', 'full'] as Pooling[]) {
    it(`${pooling}: trainer loss equals core's float64 sooLoss on forward captures`, async () => {
      const batch = paddedBatch();
      const T = Math.max(...[...batch.selfIds, ...batch.otherIds].map((r) => r.length));
      const expected = sooLoss(
        await side(m, batch.selfIds, T, 1),
        await side(m, batch.otherIds, T, 1),
        pooling,
      );
      const trainer = m.createSooTrainer({ hook: ref.lora.hook, pooling, optimizer: { lr: 1e-2 } });
      const { loss } = await trainer.computeLossAndGrads(batch);
      trainer.dispose();
      expect(relativeError([loss], [expected])).toBeLessThan(1e-5);
    });
  }

  for (const pooling of ['last', 'mean'] as Pooling[]) {
    it(`${pooling}: gradients match central finite differences (both passes)`, async () => {
      const batch = paddedBatch();
      const trainer = m.createSooTrainer({ hook: ref.lora.hook, pooling, optimizer: { lr: 1e-2 } });
      const { grads } = await trainer.computeLossAndGrads(batch);
      const base = await adapterOf(m);
      // o_proj's B at the hook enters the hooked output linearly: the loss is exactly quadratic in it.
      // q_proj's B (layer 1) goes through softmax attention: a nonlinear check.
      const cases: Array<[string, number, number]> = [
        [peftKey('model.layers.2.self_attn.o_proj', 'B'), 1e-2, 1e-3],
        [peftKey('model.layers.1.self_attn.q_proj', 'B'), 1e-2, 2e-2],
      ];
      try {
        for (const [key, h, tol] of cases) {
          const g = grads.get(key)!.data;
          const idx = largestEntry(g);
          const at = async (delta: number): Promise<number> => {
            await m.setAdapterTensors(moved(base, key, idx, delta));
            return (await trainer.computeLossAndGrads(batch)).loss;
          };
          const fd = ((await at(h)) - (await at(-h))) / (2 * h);
          expect(
            Math.abs(fd - g[idx]!) / Math.abs(g[idx]!),
            `${key}[${idx}]: analytic ${g[idx]}, finite difference ${fd}`,
          ).toBeLessThan(tol);
        }
      } finally {
        await m.setAdapterTensors(base);
      }
      trainer.dispose();
    });
  }

  it('LoRA dropout: only in training, seeded by the trainer seed', async () => {
    const d = await withAdapter(dir);
    try {
      const b = { selfIds: [ref.soo.self_ids], otherIds: [ref.soo.other_ids], padId: 1 };
      const ids = [ref.input_ids];
      const before = await d.forward({ ids });
      await d.attachLora({ r: 4, alpha: 8, dropout: 0.5, targets: ['q_proj', 'v_proj', 'o_proj'], seed: 1 });
      expect(d.adapterConfig?.loraDropout).toBe(0.5);
      // Make B nonzero so the LoRA branch (and its dropout) matters.
      const t0 = d.createSooTrainer({ hook: ref.lora.hook, pooling: 'full', optimizer: { lr: 1e-2 } });
      await t0.step(b);
      t0.dispose();
      const losses = async (seed: number): Promise<number[]> => {
        const t = d.createSooTrainer({ hook: ref.lora.hook, pooling: 'full', optimizer: { lr: 1e-2 }, seed });
        const out = [(await t.computeLossAndGrads(b)).loss, (await t.computeLossAndGrads(b)).loss];
        t.dispose();
        return out;
      };
      const [a1, a2] = await losses(5);
      expect(a1).not.toBe(a2);
      expect(await losses(5)).toEqual([a1, a2]);
      expect(await losses(6)).not.toEqual([a1, a2]);
      const f1 = await d.forward({ ids });
      const f2 = await d.forward({ ids });
      expect(f1.logits!.data).toEqual(f2.logits!.data);
      expect(relativeError(f1.logits!.data, before.logits!.data)).toBeGreaterThan(0);
    } finally {
      d.dispose();
    }
  });

  it('unknown hooks fail with HOOK_UNKNOWN and the closest names; out-of-range layers are refused', async () => {
    await expect(
      m.forward({ ids: [ref.input_ids], hooks: ['model.layers.1.self_attn.o_prj'] }),
    ).rejects.toMatchObject({
      code: 'HOOK_UNKNOWN',
      message: expect.stringContaining('model.layers.1.self_attn.o_proj'),
    });
    expect(() => m.createSooTrainer({ hook: 'model.layers.9.mlp', optimizer: { lr: 1 } })).toThrow(
      /out of range/,
    );
    expect(() =>
      m.createSooTrainer({ hook: 'model.layers.1.self_attn.o_prj', optimizer: { lr: 1 } }),
    ).toThrow(expect.objectContaining({ code: 'HOOK_UNKNOWN' }));
  });

  it('rejects unpaired or empty SOO batches and bad poolings', async () => {
    const t = m.createSooTrainer({ hook: ref.lora.hook, optimizer: { lr: 1e-2 } });
    await expect(t.step({ selfIds: [ref.soo.self_ids], otherIds: [], padId: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(t.step({ selfIds: [], otherIds: [], padId: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      t.step({ selfIds: [[1, m.config.vocabSize]], otherIds: [ref.soo.other_ids], padId: 1 }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(t.optimizerSteps).toBe(0);
    expect(t.pending).toBe(0);
    const bad = m.createSooTrainer({
      hook: ref.lora.hook,
      pooling: 'max' as Pooling,
      optimizer: { lr: 1e-2 },
    });
    await expect(bad.computeLossAndGrads(paddedBatch())).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(() =>
      m.createSooTrainer({ hook: ref.lora.hook, optimizer: { lr: 1e-2 }, capabilityKlWeight: -1 }),
    ).toThrow(/capabilityKlWeight/);
    t.dispose();
  });

  it('capabilityKlWeight adds weight * KL(base || tuned) over real positions, with gradients past the hook', async () => {
    const plain = await loadModel(backend, dir);
    try {
      const batch = paddedBatch();
      const w = 0.7;
      const t = m.createSooTrainer({
        hook: ref.lora.hook,
        pooling: 'mean',
        optimizer: { lr: 1e-2 },
        capabilityKlWeight: w,
      });
      const r = await t.computeLossAndGrads(batch);
      // Host reference: base logits from a model without the adapter, tuned logits from the adapter model.
      const rows = [...batch.selfIds, ...batch.otherIds];
      let kl = 0;
      let n = 0;
      const V = m.config.vocabSize;
      for (const row of rows) {
        const base = (await plain.forward({ ids: [row] })).logits!.data;
        const tuned = (await m.forward({ ids: [row] })).logits!.data;
        // adapter: false on the tuned model is the base model.
        const off = (await m.forward({ ids: [row], adapter: false })).logits!.data;
        expect(relativeError(off, base)).toBeLessThan(1e-6);
        for (let p = 0; p < row.length; p++) {
          const lb = logSoftmax64(base, p * V, V);
          const lt = logSoftmax64(tuned, p * V, V);
          for (let j = 0; j < V; j++) kl += Math.exp(lb[j]!) * (lb[j]! - lt[j]!);
          n++;
        }
      }
      kl /= n;
      expect(kl).toBeGreaterThan(0);
      expect(relativeError([r.capabilityKl!], [kl])).toBeLessThan(1e-3);
      expect(relativeError([r.loss], [r.sooLoss + w * r.capabilityKl!])).toBeLessThan(1e-6);
      // Layer 3 is after the hook: only the KL term reaches it.
      const key = peftKey('model.layers.3.self_attn.v_proj', 'B');
      expect(r.grads.get(key)!.data.some((x) => x !== 0)).toBe(true);
      const off = m.createSooTrainer({ hook: ref.lora.hook, pooling: 'mean', optimizer: { lr: 1e-2 } });
      const r0 = await off.computeLossAndGrads(batch);
      expect(r0.capabilityKl).toBeNull();
      expect(relativeError([r0.loss], [r.sooLoss])).toBeLessThan(1e-6);
      expect(r0.grads.get(key)!.data.every((x) => x === 0)).toBe(true);
      // step reports the same split.
      const s = await t.step(batch);
      expect(relativeError([s.loss], [r.loss])).toBeLessThan(1e-6);
      expect(relativeError([s.capabilityKl!], [r.capabilityKl!])).toBeLessThan(1e-6);
      t.dispose();
      off.dispose();
    } finally {
      plain.dispose();
      await m.loadAdapter(path.join(dir, 'adapter'));
    }
  });
});

/** The mean next-token cross-entropy in float64 from `model.forward` logits, every row run alone (no padding). */
async function hostLoss(m: SooModel, rows: number[][]): Promise<number> {
  const V = m.config.vocabSize;
  let sum = 0;
  let n = 0;
  for (const row of rows) {
    const z = (await m.forward({ ids: [row] })).logits!.data;
    for (let t = 0; t + 1 < row.length; t++) {
      sum -= logSoftmax64(z, t * V, V)[row[t + 1]!]!;
      n++;
    }
  }
  return sum / n;
}

for (const arch of ['llama', 'gemma2'] as const) {
  describe(`LmTrainer on ${arch}`, () => {
    const dir = hfTinyDir(arch);
    let ref: FixtureReference;
    let m: SooModel;
    let padId: number;
    beforeAll(async () => {
      ref = await readReference(dir);
      m = await withAdapter(dir);
      padId = m.config.padTokenId ?? 0;
    });
    afterAll(() => m?.dispose());

    const single = (): LmBatch => ({ ids: [ref.input_ids], padId });
    /** Two rows of different lengths; the shorter holds `padId` as a real token, which still counts. */
    const padded = (): LmBatch => {
      const o = ref.soo.other_ids;
      return { ids: [ref.soo.self_ids, [...o.slice(0, 6), padId, ...o.slice(7, 11)]], padId };
    };

    it('the loss equals a float64 cross-entropy of model.forward logits (one row; a padded batch)', async () => {
      const trainer = m.createLmTrainer({ optimizer: { lr: 1e-2 } });
      for (const [name, batch] of [
        ['one row', single()],
        ['padded', padded()],
      ] as const) {
        const { loss } = await trainer.computeLossAndGrads(batch);
        const expected = await hostLoss(m, batch.ids);
        expect(report(`${arch} loss, ${name}`, relativeError([loss], [expected]))).toBeLessThan(1e-5);
      }
      trainer.dispose();
    });

    it('gradients match central finite differences (along the gradient and on single entries)', async () => {
      const batch = padded();
      const trainer = m.createLmTrainer({ optimizer: { lr: 1e-2 } });
      const { loss, grads } = await trainer.computeLossAndGrads(batch);
      expect([...grads.keys()].sort()).toEqual(
        m.inner
          .parameters()
          .map((p) => p.name)
          .sort(),
      );
      // Central differences along the unit gradient direction u (the derivative there is |g|), then on the
      // largest entry of two tensors. h = 1e-2: float32 loss rounding (~|loss| 6e-8 / h ~ 5e-5) and the
      // O(h^2) truncation both stay well under the 1e-2 budget.
      const h = 1e-2;
      let sq = 0;
      for (const g of grads.values()) for (const x of g.data) sq += x * x;
      const norm = Math.sqrt(sq);
      const base = await adapterOf(m);
      try {
        const lossAt = async (delta: number): Promise<number> => {
          const along = new Map<string, HostTensor>();
          for (const [k, t] of base) {
            const g = grads.get(k)!.data;
            along.set(k, { data: t.data.map((x, i) => x + (delta * g[i]!) / norm), shape: t.shape });
          }
          await m.setAdapterTensors(along);
          return (await trainer.computeLossAndGrads(batch)).loss;
        };
        const fdDir = ((await lossAt(h)) - (await lossAt(-h))) / (2 * h);
        await m.setAdapterTensors(base);
        expect((await trainer.computeLossAndGrads(batch)).loss).toBe(loss);
        expect(
          report(`${arch} directional FD (|g| = ${norm.toPrecision(3)})`, relativeError([fdDir], [norm])),
        ).toBeLessThan(1e-2);
        for (const key of [
          peftKey('model.layers.0.self_attn.q_proj', 'B'),
          peftKey('model.layers.3.self_attn.v_proj', 'A'),
        ]) {
          const g = grads.get(key)!.data;
          const idx = largestEntry(g);
          const at = async (delta: number): Promise<number> => {
            await m.setAdapterTensors(moved(base, key, idx, delta));
            return (await trainer.computeLossAndGrads(batch)).loss;
          };
          const fd = ((await at(h)) - (await at(-h))) / (2 * h);
          expect(
            report(
              `${arch} FD ${key}[${idx}] (g = ${g[idx]!.toPrecision(3)})`,
              relativeError([fd], [g[idx]!]),
            ),
          ).toBeLessThan(1e-2);
        }
      } finally {
        await m.setAdapterTensors(base);
      }
      trainer.dispose();
    });

    it('a few AdamW steps lower the loss', async () => {
      const mm = await withAdapter(dir);
      try {
        const batch = padded();
        const trainer = mm.createLmTrainer({ optimizer: { lr: 1e-2 }, clipGradNorm: 1 });
        const losses: number[] = [];
        for (let i = 0; i < 5; i++) {
          const r = await trainer.step(batch);
          expect(r).toMatchObject({ updated: true, optimizerSteps: i + 1 });
          expect(r.gradNorm).toBeGreaterThan(0);
          losses.push(r.loss);
        }
        const after = (await trainer.computeLossAndGrads(batch)).loss;
        if (process.env.SOO_LM_LOG) console.log(`[model-trainers] ${arch} losses`, [...losses, after]);
        for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]!);
        expect(after).toBeLessThan(losses[0]! * 0.95);
        trainer.dispose();
      } finally {
        mm.dispose();
      }
    });
  });
}

/** A trainer state through JSON, tensors included (a checkpoint stores them as safetensors). */
function viaJson(st: TrainerState): TrainerState {
  const json = JSON.parse(
    JSON.stringify({
      json: st.json,
      tensors: [...st.tensors].map(([k, t]) => [k, t.shape, Array.from(t.data)]),
    }),
  ) as { json: TrainerState['json']; tensors: Array<[string, number[], number[]]> };
  return {
    json: json.json,
    tensors: new Map(json.tensors.map(([k, shape, data]) => [k, { shape, data: Float32Array.from(data) }])),
  };
}

describe('LmTrainer: state, errors', () => {
  const dir = hfTinyDir('llama');
  let ref: FixtureReference;
  beforeAll(async () => {
    ref = await readReference(dir);
  });
  const batchA = (): LmBatch => ({ ids: [ref.soo.self_ids], padId: 1 });
  const batchB = (): LmBatch => ({ ids: [ref.soo.other_ids, ref.soo.self_ids.slice(0, 9)], padId: 1 });

  it('exportState / importState (through JSON) resume bit-identically, dropout, clipping and flush included', async () => {
    const lora = { r: 4, alpha: 8, dropout: 0.3, targets: ['q_proj', 'v_proj', 'o_proj'], seed: 11 };
    const options = { optimizer: { lr: 1e-2, weightDecay: 0.01 }, gradAccum: 2, clipGradNorm: 1, seed: 5 };
    const a = await loadModel(backend, dir);
    const b = await loadModel(backend, dir);
    try {
      await a.attachLora(lora);
      const ta = a.createLmTrainer(options);
      for (let i = 0; i < 3; i++) await ta.step(i % 2 ? batchB() : batchA()); // one update, one pending
      expect(ta.pending).toBe(1);
      await expect(ta.exportState()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await ta.flush()).toMatchObject({ updated: true, optimizerSteps: 2 }); // a boundary
      const st = await ta.exportState();
      expect(st.json).toMatchObject({ version: 2, optimizerSteps: 2, microSteps: 4 });

      await b.attachLora({ ...lora, seed: 999 });
      await b.setAdapterTensors(await adapterOf(a));
      const tb = b.createLmTrainer(options);
      await tb.importState(viaJson(st));
      for (let i = 4; i < 8; i++) {
        const batch = i % 2 ? batchB() : batchA();
        expect(await tb.step(batch)).toEqual(await ta.step(batch));
      }
      expect(await tb.flush()).toBeNull();
      await ta.step(batchA());
      await tb.step(batchA());
      const [fa, fb] = [await ta.flush(), await tb.flush()];
      expect(fa).toMatchObject({ updated: true, optimizerSteps: 5 });
      expect(fb).toEqual(fa);
      for (const [k, t] of await adapterOf(a)) expect((await adapterOf(b)).get(k)!.data).toEqual(t.data);
      ta.dispose();
      tb.dispose();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('rejects batches without a target, ids outside the vocabulary, empty rows and bad options', async () => {
    const m = await withAdapter(dir);
    try {
      const t = m.createLmTrainer({ optimizer: { lr: 1e-2 } });
      await expect(t.computeLossAndGrads({ ids: [[5], [7]], padId: 1 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(t.computeLossAndGrads({ ids: [[5, m.config.vocabSize]], padId: 1 })).rejects.toMatchObject(
        {
          code: 'INVALID_ARGUMENT',
        },
      );
      await expect(t.computeLossAndGrads({ ids: [[5, 6], []], padId: 1 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(t.step({ ids: [[5]], padId: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(t.pending).toBe(0);
      // A one-token row only adds padding: same loss as without it.
      const alone = (await t.computeLossAndGrads(batchA())).loss;
      const withShort = (await t.computeLossAndGrads({ ids: [ref.soo.self_ids, [9]], padId: 1 })).loss;
      expect(relativeError([withShort], [alone])).toBeLessThan(1e-6);
      // Target weights: a zero weight drops a position from the (weighted) mean.
      const n = ref.soo.self_ids.length - 1;
      const half = (
        await t.computeLossAndGrads({
          ...batchA(),
          targetWeights: [Array.from({ length: n }, (_, i) => (i < 5 ? 1 : 0))],
        })
      ).loss;
      const prefix = (await t.computeLossAndGrads({ ids: [ref.soo.self_ids.slice(0, 6)], padId: 1 })).loss;
      expect(relativeError([half], [prefix])).toBeLessThan(1e-5);
      expect(() => m.createLmTrainer({ optimizer: { lr: -1 } })).toThrow(/lr/);
      expect(() => m.createLmTrainer({ optimizer: { lr: 1 }, gradAccum: 0 })).toThrow(/gradAccum/);
      await m.detachAdapter();
      expect(() => m.createLmTrainer({ optimizer: { lr: 1e-2 } })).toThrow(/attach a LoRA adapter/);
      t.dispose();
    } finally {
      m.dispose();
    }
    await expect(m.forward({ ids: [[1, 2]] })).rejects.toThrow(/disposed/);
  });

  it('a trainer made before attachLora does not silently train the new adapter', async () => {
    const m = await withAdapter(dir);
    try {
      const t = m.createLmTrainer({ optimizer: { lr: 1e-2 } });
      await t.step(batchA());
      await m.attachLora({ r: 2, alpha: 4, targets: ['q_proj'], seed: 1 });
      await expect(t.step(batchA())).rejects.toThrow();
    } finally {
      m.dispose();
    }
  });
});

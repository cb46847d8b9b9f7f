/**
 * The next-token (exposure-control) trainer on the tiny Llama and Gemma-2 fixtures with their adapters: the
 * loss against a float64 host cross-entropy of `model.forward` logits (padded batches included); the
 * gradients against the analytic chain rule and central finite differences; training lowers the loss;
 * exportState / importState resume bit-identically; no tensor growth across steps (tfjs-wasm).
 *
 * `SOO_LM_LOG=1` prints every measured error.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peftKey, type HostTensor, type LmBatch, type SooTrainerState } from '@soo/core';
import { hfTinyDir, relativeError } from '@soo/core/testing';
import { createTfjsCpuBackend, createTfjsWasmBackend, type TfjsBackend, type TfjsModel } from './backend.js';
import { loraVariables } from './lora.js';
import { activate } from './tf.js';
import { decoderOf, readReferenceJson, type FixtureReference } from './test-helpers.js';

let cpu: TfjsBackend;
beforeAll(async () => {
  cpu = await createTfjsCpuBackend();
});

function report(label: string, err: number): number {
  if (process.env.SOO_LM_LOG) console.log(`[lm-trainer] ${label}: ${err.toExponential(2)}`);
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

/** The mean next-token cross-entropy in float64 from `model.forward` logits, every row run alone (no padding). */
async function hostLoss(m: TfjsModel, rows: number[][]): Promise<number> {
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

/** A trainer state through JSON and back, as a checkpoint stores it. */
function viaJson(st: SooTrainerState): SooTrainerState {
  const json = JSON.parse(
    JSON.stringify({
      ...st,
      moments: [...st.moments].map(([k, m]) => [
        k,
        { shape: m.shape, m: Array.from(m.m), v: Array.from(m.v) },
      ]),
    }),
  ) as SooTrainerState & { moments: Array<[string, { shape: number[]; m: number[]; v: number[] }]> };
  return {
    ...json,
    moments: new Map(
      json.moments.map(([k, m]) => [
        k,
        { shape: m.shape, m: Float32Array.from(m.m), v: Float32Array.from(m.v) },
      ]),
    ),
  };
}

for (const arch of ['llama', 'gemma2'] as const) {
  describe(`next-token trainer on ${arch}`, () => {
    const dir = hfTinyDir(arch);
    let ref: FixtureReference;
    let m: TfjsModel;
    let padId: number;
    const load = (): Promise<TfjsModel> => cpu.loadModel(dir, { adapterDir: path.join(dir, 'adapter') });
    beforeAll(async () => {
      ref = await readReferenceJson(dir);
      m = await load();
      padId = m.config.padTokenId ?? 0;
    });
    afterAll(() => m.dispose());

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

    it('gradients equal the chain rule through the analytic d loss / d logits, and finite differences', async () => {
      const batch = padded();
      const trainer = m.createLmTrainer({ optimizer: { lr: 1e-2 } });
      const { loss, grads } = await trainer.computeLossAndGrads(batch);

      // d loss / d logits = (softmax(z) - onehot(next token)) / count at real targets, 0 elsewhere, in
      // float64 from the padded forward's logits; tfjs' VJP of the model (checked against torch by the
      // conformance suite) carries it to the LoRA tensors.
      const V = m.config.vocabSize;
      const T = Math.max(...batch.ids.map((r) => r.length));
      const ids = batch.ids.map((r) => [...r, ...Array.from({ length: T - r.length }, () => padId)]);
      const attentionMask = batch.ids.map((r) => Array.from({ length: T }, (_, t) => (t < r.length ? 1 : 0)));
      const z = (await m.forward({ ids, attentionMask })).logits!.data;
      const count = batch.ids.reduce((a, r) => a + r.length - 1, 0);
      const cot = new Float32Array(z.length);
      batch.ids.forEach((r, b) => {
        for (let t = 0; t + 1 < r.length; t++) {
          const o = (b * T + t) * V;
          const lp = logSoftmax64(z, o, V);
          for (let j = 0; j < V; j++) cot[o + j] = (Math.exp(lp[j]!) - (j === r[t + 1] ? 1 : 0)) / count;
        }
      });
      activate('cpu');
      const vars = loraVariables(decoderOf(m).weights);
      const chain = tf.variableGrads(() => {
        const r = decoderOf(m).run({ ids, attentionMask, logits: 'all' });
        return tf.sum(tf.mul(r.logits!, tf.tensor3d(cot, [ids.length, T, V])));
      }, [...vars.values()]);
      let worst = 0;
      for (const [key, v] of vars) {
        const want = chain.grads[v.name]!.dataSync();
        worst = Math.max(worst, relativeError(grads.get(key)!.data, want));
      }
      tf.dispose([chain.value, ...Object.values(chain.grads)]);
      expect(report(`${arch} grads vs chain rule (worst tensor)`, worst)).toBeLessThan(1e-4);

      // Central differences along the unit gradient direction u (the derivative there is |g|), then on the
      // largest entry of two tensors. h = 1e-2: float32 loss rounding (~|loss| 6e-8 / h ~ 5e-5) and the
      // O(h^2) truncation both stay well under the 1e-2 budget.
      const h = 1e-2;
      let sq = 0;
      for (const g of grads.values()) for (const x of g.data) sq += x * x;
      const norm = Math.sqrt(sq);
      const base = m.getAdapter()!.tensors;
      const lossAt = async (delta: number): Promise<number> => {
        const moved = new Map<string, HostTensor>();
        for (const [k, t] of base) {
          const g = grads.get(k)!.data;
          moved.set(k, { data: t.data.map((x, i) => x + (delta * g[i]!) / norm), shape: t.shape });
        }
        await m.setAdapterTensors(moved);
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
        let idx = 0;
        for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[idx]!)) idx = i;
        const at = async (delta: number): Promise<number> => {
          const moved = new Map(base);
          const t = base.get(key)!;
          const data = t.data.slice();
          data[idx] = data[idx]! + delta;
          moved.set(key, { data, shape: t.shape });
          await m.setAdapterTensors(moved);
          return (await trainer.computeLossAndGrads(batch)).loss;
        };
        const fd = ((await at(h)) - (await at(-h))) / (2 * h);
        await m.setAdapterTensors(base);
        expect(
          report(`${arch} FD ${key}[${idx}] (g = ${g[idx]!.toPrecision(3)})`, relativeError([fd], [g[idx]!])),
        ).toBeLessThan(1e-2);
      }
      trainer.dispose();
    });

    it('a few AdamW steps lower the loss', async () => {
      const mm = await load();
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
        if (process.env.SOO_LM_LOG) console.log(`[lm-trainer] ${arch} losses`, [...losses, after]);
        for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]!);
        expect(after).toBeLessThan(losses[0]! * 0.95);
        trainer.dispose();
      } finally {
        mm.dispose();
      }
    });
  });
}

describe('next-token trainer: state, accumulation, memory, errors', () => {
  const dir = hfTinyDir('llama');
  let ref: FixtureReference;
  beforeAll(async () => {
    ref = await readReferenceJson(dir);
  });
  const batchA = (): LmBatch => ({ ids: [ref.soo.self_ids], padId: 1 });
  const batchB = (): LmBatch => ({ ids: [ref.soo.other_ids, ref.soo.self_ids.slice(0, 9)], padId: 1 });

  it('exportState / importState (through JSON) resume bit-identically, mid-accumulation, dropout included', async () => {
    const lora = { r: 4, alpha: 8, dropout: 0.3, targets: ['q_proj', 'v_proj', 'o_proj'], seed: 11 };
    const options = { optimizer: { lr: 1e-2, weightDecay: 0.01 }, gradAccum: 2, clipGradNorm: 1, seed: 5 };
    const a = await cpu.loadModel(dir);
    const b = await cpu.loadModel(dir);
    try {
      await a.attachLora(lora);
      const ta = a.createLmTrainer(options);
      for (let i = 0; i < 3; i++) await ta.step(i % 2 ? batchB() : batchA()); // one update, one pending
      const st = ta.exportState();
      expect(st).toMatchObject({ optimizerSteps: 1, microSteps: 3 });
      expect(st.accumulated).not.toBeNull();

      await b.attachLora({ ...lora, seed: 999 });
      await b.setAdapterTensors(a.getAdapter()!.tensors);
      const tb = b.createLmTrainer(options);
      tb.importState(viaJson(st));
      for (let i = 3; i < 8; i++) {
        const batch = i % 2 ? batchB() : batchA();
        expect(await tb.step(batch)).toEqual(await ta.step(batch));
      }
      expect(await tb.flush()).toBeNull();
      await ta.step(batchA());
      await tb.step(batchA());
      const [fa, fb] = [await ta.flush(), await tb.flush()];
      expect(fa).toMatchObject({ updated: true, optimizerSteps: 5 });
      expect(fb).toEqual(fa);
      for (const [k, t] of a.getAdapter()!.tensors)
        expect(b.getAdapter()!.tensors.get(k)!.data).toEqual(t.data);
      ta.dispose();
      tb.dispose();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('no tensor growth over 20 steps on tfjs-wasm (gemma2, accumulation, clipping); dispose frees all', async () => {
    const wasm = await createTfjsWasmBackend();
    const gdir = hfTinyDir('gemma2');
    const gref = await readReferenceJson(gdir);
    const start = tf.memory().numTensors;
    const m = await wasm.loadModel(gdir, { adapterDir: path.join(gdir, 'adapter') });
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

  it('rejects batches without a target, ids outside the vocabulary, and use after dispose or a new adapter', async () => {
    const m = await cpu.loadModel(dir, { adapterDir: path.join(dir, 'adapter') });
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
      // A one-token row only adds padding: same loss as without it.
      const alone = (await t.computeLossAndGrads(batchA())).loss;
      const withShort = (await t.computeLossAndGrads({ ids: [ref.soo.self_ids, [9]], padId: 1 })).loss;
      expect(relativeError([withShort], [alone])).toBeLessThan(1e-6);
      expect(() => m.createLmTrainer({ optimizer: { lr: 0 } })).toThrow(/lr/);
      expect(() => m.createLmTrainer({ optimizer: { lr: 1 }, gradAccum: 0 })).toThrow(/gradAccum/);
      await m.attachLora({ r: 2, alpha: 4, targets: ['q_proj'], seed: 1 });
      await expect(t.step(batchA())).rejects.toThrow(/disposed/);
      await m.mergeAdapter();
      expect(() => m.createLmTrainer({ optimizer: { lr: 1e-2 } })).toThrow(/no LoRA adapter/);
    } finally {
      m.dispose();
    }
  });
});

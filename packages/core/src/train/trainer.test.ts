/**
 * Core's `Trainer` over a real backend (tfjs-wasm, the hf-tiny llama fixture with its adapter): decoupled
 * AdamW, gradient accumulation and clipping against a float64 torch.optim.AdamW written out on the host;
 * flush of a partial accumulation; the boundary rules; and resume from a `TrainerState` ({ json, tensors },
 * through JSON and safetensors as a checkpoint stores it) bit-identically, LoRA dropout included.
 */
import { mkdtempSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { peftKey } from '../adapter.js';
import type { Backend, HostTensor } from '../backend-spec.js';
import { getBackend } from '../backend-registry.js';
import { rightPadBatch } from '../batch.js';
import { resolveHookPoint, stopPointFor } from '../hooks.js';
import { SafetensorsFile, writeSafetensors } from '../safetensors/index.js';
import { loadModel, type SooModel } from '../soo-model.js';
import { hfTinyDir, relativeError } from '../testing/fixtures.js';
import type { SooBatch } from './model-trainers.js';
import { sooObjective } from './objectives.js';
import { Trainer, type TrainerState } from './trainer.js';

interface FixtureReference {
  input_ids: number[];
  lora: { hook: string };
  soo: { self_ids: number[]; other_ids: number[]; loss: number };
}

const dir = hfTinyDir('llama');
let backend: Backend;
let ref: FixtureReference;

beforeAll(async () => {
  const spec = '@soo/backend-tfjs';
  await import(/* @vite-ignore */ spec);
  backend = await getBackend('tfjs-wasm');
  ref = JSON.parse(await fsp.readFile(path.join(dir, 'reference.json'), 'utf8')) as FixtureReference;
});

const loadWithAdapter = (): Promise<SooModel> =>
  loadModel(backend, dir, { adapterDir: path.join(dir, 'adapter') });

async function adapterOf(m: SooModel): Promise<Map<string, HostTensor>> {
  return (await m.getAdapter())!.tensors;
}

function cloneTensors(m: Map<string, HostTensor>): Map<string, Float64Array> {
  return new Map([...m].map(([k, t]) => [k, Float64Array.from(t.data)]));
}

/** One pair. */
const batchA = (): SooBatch => ({ selfIds: [ref.soo.self_ids], otherIds: [ref.soo.other_ids], padId: 1 });
/** Two pairs of different lengths, so right padding and the poolings' masks matter. */
function paddedBatch(): SooBatch {
  const s = ref.soo.self_ids;
  const o = ref.soo.other_ids;
  return { selfIds: [s, s.slice(0, 11)], otherIds: [o, o.slice(0, 9)], padId: 1 };
}

/** torch.optim.AdamW (single-tensor path) in float64 on the host. */
class HostAdamW {
  private readonly m = new Map<string, Float64Array>();
  private readonly v = new Map<string, Float64Array>();
  private readonly t = new Map<string, number>();
  constructor(
    private readonly lr: number,
    private readonly b1: number,
    private readonly b2: number,
    private readonly eps: number,
    private readonly wd: number,
  ) {}

  /** Update `params` in place; keys absent from `grads` are skipped (grad None). */
  step(params: Map<string, Float64Array>, grads: Map<string, Float64Array>): void {
    for (const [k, g] of grads) {
      const p = params.get(k)!;
      const m = this.m.get(k) ?? new Float64Array(p.length);
      const v = this.v.get(k) ?? new Float64Array(p.length);
      const t = (this.t.get(k) ?? 0) + 1;
      const bc1 = 1 - this.b1 ** t;
      const bc2s = Math.sqrt(1 - this.b2 ** t);
      for (let i = 0; i < p.length; i++) {
        p[i] = p[i]! * (1 - this.lr * this.wd);
        m[i] = this.b1 * m[i]! + (1 - this.b1) * g[i]!;
        v[i] = this.b2 * v[i]! + (1 - this.b2) * g[i]! * g[i]!;
        p[i] = p[i]! - (this.lr / bc1) * (m[i]! / (Math.sqrt(v[i]!) / bc2s + this.eps));
      }
      this.m.set(k, m);
      this.v.set(k, v);
      this.t.set(k, t);
    }
  }
}

function maxRelError(got: Map<string, HostTensor>, want: Map<string, Float64Array>): number {
  let worst = 0;
  for (const [k, w] of want) worst = Math.max(worst, relativeError(got.get(k)!.data, w));
  return worst;
}

/** Gradients that reach the loss (nonzero), as float64, scaled. */
function reached(grads: Map<string, HostTensor>, scale = 1): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const [k, g] of grads)
    if (g.data.some((x) => x !== 0))
      out.set(
        k,
        Float64Array.from(g.data, (x) => x * scale),
      );
  return out;
}

describe('AdamW, accumulation, clipping', () => {
  it('decoupled weight decay matches torch.optim.AdamW; parameters the loss never reaches are left alone', async () => {
    const m = await loadWithAdapter();
    try {
      const opt = { lr: 1e-2, betas: [0.9, 0.99] as [number, number], eps: 1e-6, weightDecay: 0.1 };
      const trainer = m.createSooTrainer({ hook: ref.lora.hook, pooling: 'full', optimizer: opt });
      const host = new HostAdamW(opt.lr, 0.9, 0.99, opt.eps, opt.weightDecay);
      const params = cloneTensors(await adapterOf(m));
      const layer3 = peftKey('model.layers.3.self_attn.q_proj', 'B');
      const before3 = (await adapterOf(m)).get(layer3)!.data.slice();
      for (let s = 0; s < 3; s++) {
        const { grads } = await trainer.computeLossAndGrads(batchA());
        host.step(params, reached(grads));
        const r = await trainer.step(batchA());
        expect(r.updated).toBe(true);
        expect(r.optimizerSteps).toBe(s + 1);
        expect(trainer.optimizerSteps).toBe(s + 1);
        expect(trainer.pending).toBe(0);
      }
      expect(maxRelError(await adapterOf(m), params)).toBeLessThan(1e-5);
      expect((await adapterOf(m)).get(layer3)!.data).toEqual(before3);
      trainer.dispose();
    } finally {
      m.dispose();
    }
  });

  it('gradAccum: k micro-batches make one step on the mean gradient; gradNorm is the accumulated norm', async () => {
    const m = await loadWithAdapter();
    try {
      const b2: SooBatch = paddedBatch();
      const opt = { lr: 5e-3 };
      const trainer = m.createSooTrainer({
        hook: ref.lora.hook,
        pooling: 'mean',
        optimizer: opt,
        gradAccum: 2,
      });
      const g1 = (await trainer.computeLossAndGrads(batchA())).grads;
      const g2 = (await trainer.computeLossAndGrads(b2)).grads;
      const mean = new Map<string, Float64Array>();
      for (const [k, a] of reached(g1, 0.5)) mean.set(k, a);
      for (const [k, b] of reached(g2, 0.5)) {
        const a = mean.get(k);
        mean.set(k, a ? a.map((x, i) => x + b[i]!) : b);
      }
      const before = await adapterOf(m);
      const params = cloneTensors(before);
      new HostAdamW(opt.lr, 0.9, 0.999, 1e-8, 0).step(params, mean);
      const r1 = await trainer.step(batchA());
      expect(r1).toMatchObject({ updated: false, gradNorm: null, optimizerSteps: 0 });
      expect(trainer.pending).toBe(1);
      // Nothing moves before the window closes.
      for (const [k, t] of await adapterOf(m)) expect(t.data).toEqual(before.get(k)!.data);
      const r2 = await trainer.step(b2);
      expect(r2.updated).toBe(true);
      expect(trainer.pending).toBe(0);
      let sq = 0;
      for (const g of mean.values()) for (const x of g) sq += x * x;
      expect(relativeError([r2.gradNorm!], [Math.sqrt(sq)])).toBeLessThan(1e-5);
      expect(maxRelError(await adapterOf(m), params)).toBeLessThan(1e-5);
      trainer.dispose();
    } finally {
      m.dispose();
    }
  });

  it('clipGradNorm scales the gradient by max / (norm + 1e-6) before AdamW, and reports the unclipped norm', async () => {
    const m = await loadWithAdapter();
    try {
      const opt = { lr: 1e-2 };
      const trainer = m.createSooTrainer({
        hook: ref.lora.hook,
        pooling: 'full',
        optimizer: opt,
        clipGradNorm: 1e-4,
      });
      const g = reached((await trainer.computeLossAndGrads(batchA())).grads);
      let sq = 0;
      for (const a of g.values()) for (const x of a) sq += x * x;
      const norm = Math.sqrt(sq);
      const coef = 1e-4 / (norm + 1e-6);
      expect(coef).toBeLessThan(1);
      for (const a of g.values()) for (let i = 0; i < a.length; i++) a[i] = a[i]! * coef;
      const params = cloneTensors(await adapterOf(m));
      new HostAdamW(opt.lr, 0.9, 0.999, 1e-8, 0).step(params, g);
      const r = await trainer.step(batchA());
      expect(relativeError([r.gradNorm!], [norm])).toBeLessThan(1e-5);
      // Clipping this hard puts |g| near eps, where the update differs from the unclipped one.
      expect(maxRelError(await adapterOf(m), params)).toBeLessThan(1e-5);
      trainer.dispose();
    } finally {
      m.dispose();
    }
  });

  it('a clip above the norm leaves the gradient alone', async () => {
    const m = await loadWithAdapter();
    try {
      const opt = { lr: 1e-2 };
      const trainer = m.createSooTrainer({
        hook: ref.lora.hook,
        pooling: 'full',
        optimizer: opt,
        clipGradNorm: 1e6,
      });
      const g = reached((await trainer.computeLossAndGrads(batchA())).grads);
      const params = cloneTensors(await adapterOf(m));
      new HostAdamW(opt.lr, 0.9, 0.999, 1e-8, 0).step(params, g);
      await trainer.step(batchA());
      expect(maxRelError(await adapterOf(m), params)).toBeLessThan(1e-5);
      trainer.dispose();
    } finally {
      m.dispose();
    }
  });
});

describe('flush, boundaries, options', () => {
  it('flush applies a partial accumulation; setAdapterTensors checks keys and shapes', async () => {
    const m = await loadWithAdapter();
    try {
      const t = m.createSooTrainer({
        hook: ref.lora.hook,
        pooling: 'full',
        optimizer: { lr: 1e-2 },
        gradAccum: 4,
      });
      expect(await t.flush()).toBeNull();
      const before = await adapterOf(m);
      const r = await t.step(batchA());
      expect(r.updated).toBe(false);
      const f = await t.flush();
      expect(f).toMatchObject({ updated: true, optimizerSteps: 1 });
      expect(f!.gradNorm).toBeGreaterThan(0);
      expect(await t.flush()).toBeNull();
      const key = peftKey('model.layers.0.self_attn.q_proj', 'B');
      expect((await adapterOf(m)).get(key)!.data).not.toEqual(before.get(key)!.data);
      // The next window starts fresh: 4 more micro-batches to the next update.
      for (let i = 0; i < 3; i++) expect((await t.step(batchA())).updated).toBe(false);
      expect((await t.step(batchA())).updated).toBe(true);

      await m.setAdapterTensors(before);
      expect((await adapterOf(m)).get(key)!.data).toEqual(before.get(key)!.data);
      const wrong = new Map(before);
      wrong.delete(key);
      await expect(m.setAdapterTensors(wrong)).rejects.toMatchObject({ code: 'ADAPTER_WEIGHTS' });
      wrong.set(key, { data: new Float32Array(3), shape: [3] });
      await expect(m.setAdapterTensors(wrong)).rejects.toMatchObject({ code: 'ADAPTER_WEIGHTS' });
      const extra = new Map(before);
      extra.set('base_model.model.model.layers.0.self_attn.nope.lora_A.weight', {
        data: new Float32Array(1),
        shape: [1],
      });
      await expect(m.setAdapterTensors(extra)).rejects.toMatchObject({ code: 'ADAPTER_WEIGHTS' });
      t.dispose();
    } finally {
      m.dispose();
    }
  });

  it('lossAndGrads and exportState need an optimizer-step boundary; the gradient of a lossAndGrads does not leak into the next step', async () => {
    const m = await loadWithAdapter();
    const n = await loadWithAdapter();
    try {
      const opts = { hook: ref.lora.hook, pooling: 'full' as const, optimizer: { lr: 1e-2 }, gradAccum: 2 };
      const t = m.createSooTrainer(opts);
      const u = n.createSooTrainer(opts);
      await t.computeLossAndGrads(paddedBatch()); // only on t
      await t.step(batchA());
      await u.step(batchA());
      await expect(t.computeLossAndGrads(batchA())).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(t.exportState()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await t.step(batchA())).toEqual(await u.step(batchA()));
      for (const [k, x] of await adapterOf(n)) expect((await adapterOf(m)).get(k)!.data).toEqual(x.data);
      t.dispose();
      u.dispose();
    } finally {
      m.dispose();
      n.dispose();
    }
  });

  it('validates its options; setLearningRate changes the following steps', async () => {
    const m = await loadWithAdapter();
    try {
      const hook = resolveHookPoint(m.config, ref.lora.hook);
      const bad = [
        { optimizer: { lr: -1 } },
        { optimizer: { lr: Number.NaN } },
        { optimizer: { lr: 1e-2 }, gradAccum: 0 },
        { optimizer: { lr: 1e-2 }, gradAccum: 1.5 },
        { optimizer: { lr: 1e-2 }, clipGradNorm: 0 },
        { optimizer: { lr: 1e-2 }, dropout: 1 },
      ];
      for (const o of bad) expect(() => new Trainer(m.inner, o)).toThrow(/lr|gradAccum|clipGradNorm|dropout/);
      const tr = new Trainer(m.inner, { optimizer: { lr: 1e-2 } });
      expect(() => tr.setLearningRate(-1)).toThrow(/learning rate/);
      tr.setLearningRate(0);
      expect(tr.learningRate).toBe(0);
      const before = await adapterOf(m);
      const padded = rightPadBatch([ref.soo.self_ids, ref.soo.other_ids], 1, m.config.vocabSize);
      const objectives = [sooObjective(hook, padded, 'full')];
      const r = await tr.step(padded, objectives, stopPointFor([hook]));
      expect(r).toMatchObject({ updated: true, optimizerSteps: 1 });
      expect(relativeError([r.loss], [ref.soo.loss])).toBeLessThan(1e-5);
      expect(r.values).toHaveLength(1);
      // lr 0 and no weight decay: AdamW leaves every value as it was.
      for (const [k, t] of await adapterOf(m)) expect(t.data).toEqual(before.get(k)!.data);
      tr.setLearningRate(1e-2);
      await tr.step(padded, objectives, stopPointFor([hook]));
      const key = peftKey(ref.lora.hook, 'B');
      expect((await adapterOf(m)).get(key)!.data).not.toEqual(before.get(key)!.data);
    } finally {
      m.dispose();
    }
  });
});

/** A trainer state through JSON (the json half) and safetensors (the tensors), as a checkpoint stores it. */
async function viaCheckpoint(st: TrainerState): Promise<TrainerState> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'soo-trainer-state-')), 'optimizer.safetensors');
  await writeSafetensors(
    file,
    new Map([...st.tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }])),
  );
  const f = await SafetensorsFile.open(file);
  const tensors = new Map<string, HostTensor>();
  try {
    for (const name of f.names())
      tensors.set(name, { data: await f.readFloat32(name), shape: [...f.info(name).shape] });
  } finally {
    await f.close();
  }
  return { json: JSON.parse(JSON.stringify(st.json)) as TrainerState['json'], tensors };
}

describe('checkpoints', () => {
  const lora = { r: 4, alpha: 8, dropout: 0.3, targets: ['q_proj', 'v_proj', 'o_proj'], seed: 11 };
  const options = {
    hook: 'model.layers.2.self_attn.o_proj',
    pooling: 'last' as const,
    optimizer: { lr: 1e-2, weightDecay: 0.01 },
    clipGradNorm: 1,
    gradAccum: 2,
    seed: 5,
  };

  it('exportState / importState ({ json, tensors } through JSON and safetensors) resume bit-identically, dropout included', async () => {
    const a = await loadModel(backend, dir);
    const b = await loadModel(backend, dir);
    try {
      await a.attachLora(lora);
      const ta = a.createSooTrainer(options);
      for (let i = 0; i < 5; i++) await ta.step(i % 2 ? paddedBatch() : batchA()); // two updates, one pending
      expect(ta.pending).toBe(1);
      await expect(ta.exportState()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await ta.step(paddedBatch()); // the window closes: a boundary
      expect(ta.pending).toBe(0);
      const st = await ta.exportState();
      expect(st.json).toMatchObject({ version: 2, optimizerSteps: 3, microSteps: 6 });
      // exp_avg, exp_avg_sq and step of every adapter tensor the loss reached.
      const reachedKeys = [...(await adapterOf(a)).keys()].filter((k) => !/layers\.3\./.test(k));
      for (const k of reachedKeys) {
        expect(st.tensors.get(`exp_avg.${k}`)?.shape).toEqual((await adapterOf(a)).get(k)!.shape);
        expect(st.tensors.get(`exp_avg_sq.${k}`)?.shape).toEqual((await adapterOf(a)).get(k)!.shape);
        expect(st.tensors.get(`step.${k}`)?.data).toEqual(new Float32Array([3]));
      }
      const restored = await viaCheckpoint(st);

      await b.attachLora({ ...lora, seed: 999 });
      await b.setAdapterTensors(await adapterOf(a));
      const tb = b.createSooTrainer(options);
      await tb.importState(restored);
      expect(tb.optimizerSteps).toBe(3);
      expect(tb.pending).toBe(0);
      for (let i = 6; i < 11; i++) {
        const batch = i % 2 ? paddedBatch() : batchA();
        const [ra, rb] = [await ta.step(batch), await tb.step(batch)];
        expect(rb).toEqual(ra);
      }
      const [fa, fb] = [await ta.flush(), await tb.flush()];
      expect(fa).toMatchObject({ updated: true, optimizerSteps: 6 });
      expect(fb).toEqual(fa);
      for (const [k, t] of await adapterOf(a)) expect((await adapterOf(b)).get(k)!.data).toEqual(t.data);
      ta.dispose();
      tb.dispose();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('a resumed run without the optimizer state diverges (the state matters)', async () => {
    const a = await loadModel(backend, dir);
    const b = await loadModel(backend, dir);
    try {
      await a.attachLora(lora);
      const ta = a.createSooTrainer(options);
      for (let i = 0; i < 4; i++) await ta.step(i % 2 ? paddedBatch() : batchA());
      await b.attachLora({ ...lora, seed: 999 });
      await b.setAdapterTensors(await adapterOf(a));
      const tb = b.createSooTrainer(options);
      for (let i = 4; i < 6; i++) {
        const batch = i % 2 ? paddedBatch() : batchA();
        await ta.step(batch);
        await tb.step(batch);
      }
      const key = peftKey('model.layers.2.self_attn.o_proj', 'B');
      expect((await adapterOf(b)).get(key)!.data).not.toEqual((await adapterOf(a)).get(key)!.data);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('importState refuses v1 (JSON moments) and malformed states with DATA_INVALID', async () => {
    const m = await loadWithAdapter();
    try {
      const t = m.createSooTrainer({ hook: ref.lora.hook, optimizer: { lr: 1e-2 } });
      const v1 = {
        version: 1,
        optimizerSteps: 1,
        microSteps: 1,
        moments: [],
      } as unknown as TrainerState['json'];
      await expect(
        t.importState({ json: v1, tensors: new Map() }, 'ckpt/trainer.json'),
      ).rejects.toMatchObject({
        code: 'DATA_INVALID',
        message: expect.stringMatching(/v1 trainer state/),
      });
      const noRng = { version: 2, optimizerSteps: 1, microSteps: 1 } as unknown as TrainerState['json'];
      await expect(t.importState({ json: noRng, tensors: new Map() })).rejects.toMatchObject({
        code: 'DATA_INVALID',
      });
      t.dispose();
    } finally {
      m.dispose();
    }
  });
});

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type {
  AdapterSnapshot,
  AttachLoraOptions,
  BackendModel,
  HostTensor,
  SooBatch,
  SooTrainer,
  SooTrainerOptions,
  SooTrainerState,
} from '../backend.js';
import { freshLoraConfig } from '../adapter.js';
import { writeAdapter } from '../adapter.js';
import { Rng } from '../rng.js';
import { epochOrder, trainSoo, type EncodedPair } from './loop.js';

/**
 * A plain-JS stand-in for a backend: one LoRA "tensor" per target whose loss is a quadratic in the batch
 * ids, SGD with momentum, and a dropout-like RNG draw per step, so order, state and RNG all matter.
 */
class FakeModel {
  readonly backend = 'fake';
  readonly config = { numLayers: 4 } as unknown as BackendModel['config'];
  tensors = new Map<string, HostTensor>();
  nanAtStep: number | null = null;
  async attachLora(o: AttachLoraOptions): Promise<void> {
    const rng = new Rng(o.seed ?? 0).split('init');
    this.tensors = new Map();
    for (const t of o.targets as string[]) {
      this.tensors.set(`base_model.model.model.layers.0.self_attn.${t}.lora_A.weight`, {
        shape: [o.r, 4],
        data: rng.uniformArray(o.r * 4, -0.5, 0.5),
      });
      this.tensors.set(`base_model.model.model.layers.0.self_attn.${t}.lora_B.weight`, {
        shape: [4, o.r],
        data: new Float32Array(4 * o.r),
      });
    }
  }
  async setAdapterTensors(t: Map<string, HostTensor>): Promise<void> {
    for (const [k, v] of t) this.tensors.set(k, { shape: [...v.shape], data: Float32Array.from(v.data) });
  }
  getAdapter(): AdapterSnapshot {
    return {
      config: freshLoraConfig({ r: 2, loraAlpha: 4, targetModules: ['q_proj'] }),
      tensors: this.tensors,
    };
  }
  async saveAdapter(dir: string): Promise<void> {
    const tensors = new Map(
      [...this.tensors].map(([k, v]) => [k, { dtype: 'F32' as const, shape: [...v.shape], data: v.data }]),
    );
    await writeAdapter(dir, { config: this.getAdapter().config, tensors });
  }
  lmRows: number[] = [];
  createLmTrainer(options: SooTrainerOptions): unknown {
    const inner = this.createSooTrainer(options);
    return {
      ...inner,
      step: async (b: { ids: number[][]; padId: number }) => {
        this.lmRows.push(b.ids.length);
        return inner.step({ selfIds: [b.ids[0]!], otherIds: [b.ids[1]!], padId: b.padId });
      },
    };
  }
  createSooTrainer(options: SooTrainerOptions): SooTrainer {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the closures below read the live tensors
    const model = this;
    let steps = 0;
    let micro = 0;
    let rng = new Rng(options.seed ?? 0).split('dropout');
    let moments = new Map<string, { shape: number[]; m: Float32Array; v: Float32Array }>();
    const accum = options.gradAccum ?? 1;
    const lossOf = (b: SooBatch): number => {
      let s = 0;
      for (const [, t] of model.tensors)
        for (let i = 0; i < t.data.length; i++) s += (t.data[i]! - ((b.selfIds[0]![0]! + i) % 7) / 7) ** 2;
      return s / 100;
    };
    const update = (b: SooBatch): void => {
      const noise = rng.next() * 1e-3;
      for (const [k, t] of model.tensors) {
        let mm = moments.get(k);
        if (!mm)
          moments.set(
            k,
            (mm = {
              shape: [...t.shape],
              m: new Float32Array(t.data.length),
              v: new Float32Array(t.data.length),
            }),
          );
        for (let i = 0; i < t.data.length; i++) {
          const g = (2 * (t.data[i]! - ((b.selfIds[0]![0]! + i) % 7) / 7)) / 100 + noise;
          mm.m[i] = 0.9 * mm.m[i]! + g;
          t.data[i] = t.data[i]! - options.optimizer.lr * mm.m[i]!;
        }
      }
    };
    return {
      options,
      async computeLossAndGrads(b) {
        return { loss: lossOf(b), sooLoss: lossOf(b), capabilityKl: null, grads: new Map() };
      },
      async step(b) {
        const loss = model.nanAtStep !== null && steps + 1 >= model.nanAtStep ? Number.NaN : lossOf(b);
        micro++;
        let updated = false;
        if (micro % accum === 0) {
          update(b);
          steps++;
          updated = true;
        }
        return {
          loss,
          sooLoss: loss,
          capabilityKl: null,
          gradNorm: updated ? 1 : null,
          updated,
          optimizerSteps: steps,
        };
      },
      async flush() {
        if (micro % accum === 0) return null;
        steps++;
        micro = 0;
        return { gradNorm: 1, updated: true, optimizerSteps: steps };
      },
      exportState(): SooTrainerState {
        return {
          version: 1,
          optimizerSteps: steps,
          microSteps: micro,
          moments: new Map(
            [...moments].map(([k, v]) => [
              k,
              { shape: v.shape, m: Float32Array.from(v.m), v: Float32Array.from(v.v) },
            ]),
          ),
          paramSteps: {},
          accumulated: null,
          rng: rng.state(),
        };
      },
      importState(s: SooTrainerState) {
        steps = s.optimizerSteps;
        micro = s.microSteps;
        moments = new Map(
          [...s.moments].map(([k, v]) => [
            k,
            { shape: v.shape, m: Float32Array.from(v.m), v: Float32Array.from(v.v) },
          ]),
        );
        rng = Rng.restore(s.rng);
      },
      dispose() {},
    };
  }
}

const asModel = (m: FakeModel): BackendModel => m as unknown as BackendModel;
const pairs: EncodedPair[] = Array.from({ length: 10 }, (_, i) => ({ selfIds: [i, 1, 2], otherIds: [i, 3] }));
const base = {
  pairs,
  padId: 0,
  hook: 'model.layers.0.self_attn.o_proj',
  pooling: 'last' as const,
  lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q_proj', 'v_proj'] },
  lr: 0.05,
  epochs: 3,
  batchSize: 3,
  seed: 7,
};
const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'soo-loop-'));

describe('trainSoo (with a plain-JS fake backend)', () => {
  it('runs epochs x ceil(pairs / batch) steps and writes adapter, log, curve, config, checkpoint', async () => {
    const out = tmp();
    const steps: number[] = [];
    const r = await trainSoo({ ...asArgs(new FakeModel()), outDir: out, onStep: (e) => steps.push(e.step) });
    expect(r.status).toBe('completed');
    expect(r.steps).toBe(3 * 4);
    expect(steps).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const f of [
      'adapter_config.json',
      'adapter_model.safetensors',
      'train_log.jsonl',
      'loss_curve.svg',
      'train_config.json',
      'checkpoint/state.json',
    ]) {
      expect(existsSync(path.join(out, f)), f).toBe(true);
    }
    const log = readFileSync(path.join(out, 'train_log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss: number });
    expect(log.map((l) => l.step)).toEqual(steps);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0]!);
  });

  it('gradient accumulation: one optimizer step per gradAccum micro-batches, the epoch remainder flushed', async () => {
    const r = await trainSoo({ ...asArgs(new FakeModel()), gradAccum: 3, outDir: tmp() });
    expect(r.steps).toBe(3 * 2); // 4 micro-batches per epoch -> steps after 3 and (flushed) after 4
  });

  it('resume after an interrupt continues bit-identically (same adapter bytes as an uninterrupted run)', async () => {
    const full = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), outDir: full });
    const split = tmp();
    const controller = new AbortController();
    const first = await trainSoo({
      ...asArgs(new FakeModel()),
      outDir: split,
      signal: controller.signal,
      onStep: (e) => {
        if (e.step === 6) controller.abort();
      },
    });
    expect(first.status).toBe('interrupted');
    expect(first.steps).toBe(6);
    const second = await trainSoo({ ...asArgs(new FakeModel()), outDir: split, resume: true });
    expect(second.status).toBe('completed');
    expect(second.resumedFrom).toBe(6);
    expect(
      readFileSync(path.join(split, 'adapter_model.safetensors')).equals(
        readFileSync(path.join(full, 'adapter_model.safetensors')),
      ),
    ).toBe(true);
    expect(second.losses).toEqual(await readLosses(full));
    expect(await readLosses(split)).toEqual(await readLosses(full));
  });

  it('a non-finite loss stops the run with NON_FINITE_LOSS and keeps the last good checkpoint', async () => {
    const out = tmp();
    const m = new FakeModel();
    m.nanAtStep = 6;
    await expect(trainSoo({ ...asArgs(m), outDir: out })).rejects.toMatchObject({
      code: 'NON_FINITE_LOSS',
      message: expect.stringContaining('checkpoint'),
    });
    const state = JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as {
      epoch: number;
      step: number;
    };
    expect(state).toMatchObject({ epoch: 1, step: 4 });
    expect(existsSync(path.join(out, 'checkpoint', 'adapter_model.safetensors'))).toBe(true);
  });

  it('the exposure objective trains next-token on both prompts of each pair, same steps', async () => {
    const m = new FakeModel();
    const out = tmp();
    const r = await trainSoo({ ...asArgs(m), objective: 'exposure', outDir: out });
    expect(r.steps).toBe(12);
    expect(m.lmRows.slice(0, 4)).toEqual([6, 6, 6, 2]); // batch 3 pairs -> 6 rows; the last batch has 1 pair
    expect(JSON.parse(readFileSync(path.join(out, 'train_config.json'), 'utf8'))).toMatchObject({
      objective: 'exposure',
    });
  });

  it('a corrupt checkpoint on --resume is a DATA_INVALID error naming the file', async () => {
    const out = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), epochs: 1, outDir: out });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(out, 'checkpoint', 'state.json'), '{"version": 1, "step":');
    await expect(trainSoo({ ...asArgs(new FakeModel()), outDir: out, resume: true })).rejects.toMatchObject({
      code: 'DATA_INVALID',
      message: expect.stringContaining(path.join(out, 'checkpoint', 'state.json')),
    });
  });

  it('epoch order depends only on seed and epoch', () => {
    expect(epochOrder(10, 7, 1)).toEqual(epochOrder(10, 7, 1));
    expect(epochOrder(10, 7, 1)).not.toEqual(epochOrder(10, 7, 2));
    expect(epochOrder(5, 7, 0, false)).toEqual([0, 1, 2, 3, 4]);
  });

  it('rejects bad options with INVALID_ARGUMENT naming the field', async () => {
    await expect(trainSoo({ ...asArgs(new FakeModel()), epochs: 0, outDir: tmp() })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'epochs',
    });
    await expect(trainSoo({ ...asArgs(new FakeModel()), pairs: [], outDir: tmp() })).rejects.toMatchObject({
      field: 'pairs',
    });
  });
});

function asArgs(m: FakeModel) {
  return { ...base, model: asModel(m) };
}

async function readLosses(dir: string): Promise<number[]> {
  return readFileSync(path.join(dir, 'train_log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { loss: number }).loss);
}

import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { epochOrder, trainSoo } from './loop.js';
import { asArgs, FakeModel, tmp } from './loop-fake.test-util.js';

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

  it('an interrupt inside an accumulation window finishes the window, then resumes bit-identically', async () => {
    const full = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), gradAccum: 3, outDir: full });
    const split = tmp();
    const controller = new AbortController();
    const m = new FakeModel();
    m.onBackward = (call) => {
      if (call === 6) controller.abort(); // mid-window: epoch 2 runs micro-batches 5-7 as one window
    };
    const first = await trainSoo({ ...asArgs(m), gradAccum: 3, outDir: split, signal: controller.signal });
    expect(first.status).toBe('interrupted');
    expect(m.backwardCalls).toBe(7); // the window was finished before the checkpoint
    expect(first.steps).toBe(3);
    const second = await trainSoo({ ...asArgs(new FakeModel()), gradAccum: 3, outDir: split, resume: true });
    expect(second.status).toBe('completed');
    expect(
      readFileSync(path.join(split, 'adapter_model.safetensors')).equals(
        readFileSync(path.join(full, 'adapter_model.safetensors')),
      ),
    ).toBe(true);
  });

  it('refuses a v1 checkpoint (JSON moments) with a clear DATA_INVALID error', async () => {
    const out = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), epochs: 1, outDir: out });
    const { rmSync, writeFileSync } = await import('node:fs');
    rmSync(path.join(out, 'checkpoint', 'optimizer.safetensors'));
    rmSync(path.join(out, 'run_settings.json')); // an earlier soo recorded no settings
    writeFileSync(
      path.join(out, 'checkpoint', 'trainer_state.json'),
      JSON.stringify({ version: 1, moments: [] }),
    );
    await expect(trainSoo({ ...asArgs(new FakeModel()), outDir: out, resume: true })).rejects.toMatchObject({
      code: 'DATA_INVALID',
      message: expect.stringContaining('v1'),
    });
  });

  it('a non-finite loss stops the run with NON_FINITE_LOSS and keeps the last good checkpoint', async () => {
    const out = tmp();
    const m = new FakeModel();
    m.nanAtCall = 6;
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

async function readLosses(dir: string): Promise<number[]> {
  return readFileSync(path.join(dir, 'train_log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { loss: number }).loss);
}

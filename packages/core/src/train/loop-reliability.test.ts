import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resetFaults } from '../run/faults.js';
import { prepareOutDir, withFsBudget, checkModelDir } from '../run/guards.js';
import { LOCK_FILE } from '../run/lock.js';
import { trainSoo } from './loop.js';
import { asArgs, FakeModel, tmp } from './loop-fake.test-util.js';

const adapterBytes = (dir: string): Buffer => readFileSync(path.join(dir, 'adapter_model.safetensors'));
const record = (dir: string) =>
  JSON.parse(readFileSync(path.join(dir, 'run_settings.json'), 'utf8')) as {
    status: string;
    settings: Record<string, unknown>;
    history: Array<{ event: string; step: number; changes?: Record<string, unknown> }>;
  };

afterEach(() => {
  delete process.env.SOO_FAULT;
  resetFaults();
});

describe('run settings: resume is checked, not trusted', () => {
  it('records the settings at start and the status and history at the end', async () => {
    const out = tmp();
    await trainSoo({
      ...asArgs(new FakeModel()),
      outDir: out,
      settings: { model: '/m', 'model.weights': 'x:1:2' },
    });
    const r = record(out);
    expect(r.status).toBe('completed');
    expect(r.settings).toMatchObject({
      model: '/m',
      lr: 0.05,
      seed: 7,
      epochs: 3,
      batch: 3,
      backend: 'fake',
    });
    expect(String(r.settings.data)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.history.map((h) => h.event)).toEqual(['start', 'completed']);
    expect(existsSync(path.join(out, LOCK_FILE))).toBe(false);
  });

  it('refuses a resume whose lr and seed differ, in one line naming both; an override is recorded', async () => {
    const out = tmp();
    const c = new AbortController();
    const m = new FakeModel();
    m.onBackward = (n) => n === 2 && c.abort();
    expect((await trainSoo({ ...asArgs(m), outDir: out, signal: c.signal })).status).toBe('interrupted');
    expect(record(out).status).toBe('interrupted');
    const err = (await trainSoo({
      ...asArgs(new FakeModel()),
      outDir: out,
      resume: true,
      lr: 0.01,
      seed: 8,
    }).catch((e: unknown) => e)) as Error & { code: string };
    expect(err).toMatchObject({ code: 'RUN_SETTINGS_MISMATCH' });
    expect(err.message.split('\n')).toHaveLength(1);
    expect(err.message).toContain('lr (0.05 -> 0.01)');
    expect(err.message).toContain('seed (7 -> 8)');
    expect(err.message).toContain('--resume-override lr --resume-override seed');
    // one override is not enough
    await expect(
      trainSoo({
        ...asArgs(new FakeModel()),
        outDir: out,
        resume: true,
        lr: 0.01,
        seed: 8,
        resumeOverrides: ['lr'],
      }),
    ).rejects.toMatchObject({ code: 'RUN_SETTINGS_MISMATCH', message: expect.not.stringContaining('lr (') });
    await expect(
      trainSoo({ ...asArgs(new FakeModel()), outDir: out, resume: true, resumeOverrides: ['lrr'] }),
    ).rejects.toMatchObject({ code: 'RUN_SETTINGS_MISMATCH', field: 'lrr' });
    const ok = await trainSoo({
      ...asArgs(new FakeModel()),
      outDir: out,
      resume: true,
      lr: 0.01,
      resumeOverrides: ['lr'],
    });
    expect(ok.status).toBe('completed');
    const r = record(out);
    expect(r.settings.lr).toBe(0.01);
    expect(r.history.find((h) => h.event === 'resume')?.changes).toEqual({ lr: [0.05, 0.01] });
    const cfg = JSON.parse(readFileSync(path.join(out, 'train_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(cfg.lr).toBe(0.01);
    expect(cfg.resume_overrides).toEqual([{ step: 2, changes: { lr: [0.05, 0.01] } }]);
  });

  it('refuses a resume when the data changed', async () => {
    const out = tmp();
    const c = new AbortController();
    const m = new FakeModel();
    m.onBackward = (n) => n === 2 && c.abort();
    await trainSoo({ ...asArgs(m), outDir: out, signal: c.signal });
    const a = asArgs(new FakeModel());
    await expect(
      trainSoo({
        ...a,
        pairs: a.pairs.map((p, i) => (i === 3 ? { ...p, otherIds: [9, 9] } : p)),
        outDir: out,
        resume: true,
      }),
    ).rejects.toMatchObject({ code: 'RUN_SETTINGS_MISMATCH', message: expect.stringContaining('data (') });
  });

  it('--resume without a checkpoint is RUN_NO_CHECKPOINT (not a silent fresh start)', async () => {
    const out = tmp();
    await expect(
      trainSoo({ ...asArgs(new FakeModel()), outDir: out, resume: true, requireCheckpoint: true }),
    ).rejects.toMatchObject({ code: 'RUN_NO_CHECKPOINT' });
    expect(existsSync(path.join(out, 'run_settings.json'))).toBe(false);
  });

  it('a finished run is never overwritten without force; an unfinished one needs resume or force', async () => {
    const out = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), outDir: out });
    const before = adapterBytes(out);
    await expect(trainSoo({ ...asArgs(new FakeModel()), outDir: out, seed: 9 })).rejects.toMatchObject({
      code: 'RUN_EXISTS',
      message: expect.stringContaining('finished run'),
    });
    expect(adapterBytes(out).equals(before)).toBe(true);
    // resume of a finished run with the same settings: nothing to do, nothing rewritten
    const again = await trainSoo({
      ...asArgs(new FakeModel()),
      outDir: out,
      resume: true,
      requireCheckpoint: true,
    });
    expect(again).toMatchObject({ status: 'completed', resumedFrom: 12 });
    await trainSoo({ ...asArgs(new FakeModel()), outDir: out, seed: 9, force: true });
    expect(adapterBytes(out).equals(before)).toBe(false);
    expect(record(out).history.map((h) => h.event)).toEqual([
      'start',
      'completed',
      'resume',
      'forced',
      'completed',
    ]);

    const u = tmp();
    const c = new AbortController();
    const m = new FakeModel();
    m.onBackward = (n) => n === 2 && c.abort();
    await trainSoo({ ...asArgs(m), outDir: u, signal: c.signal });
    await expect(trainSoo({ ...asArgs(new FakeModel()), outDir: u })).rejects.toMatchObject({
      code: 'RUN_EXISTS',
      message: expect.stringContaining('unfinished run'),
    });
  });

  it('a second writer gets RUN_LOCKED naming pid and host; a dead holder is taken over', async () => {
    const out = tmp();
    writeFileSync(
      path.join(out, LOCK_FILE),
      JSON.stringify({ pid: process.ppid, host: hostname(), started: 'x' }),
    );
    await expect(trainSoo({ ...asArgs(new FakeModel()), outDir: out })).rejects.toMatchObject({
      code: 'RUN_LOCKED',
      message: expect.stringContaining(`pid ${process.ppid} on host ${hostname()}`),
    });
    writeFileSync(
      path.join(out, LOCK_FILE),
      JSON.stringify({ pid: 2 ** 22 + 17, host: hostname(), started: 'x' }),
    );
    expect((await trainSoo({ ...asArgs(new FakeModel()), outDir: out })).status).toBe('completed');
    expect(existsSync(path.join(out, LOCK_FILE))).toBe(false);
  });
});

describe('crash safety of checkpoints', () => {
  it('recovers a checkpoint left as checkpoint.tmp or checkpoint.old by a crash mid-swap', async () => {
    const full = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), outDir: full });
    for (const name of ['checkpoint.tmp', 'checkpoint.old']) {
      const out = tmp();
      const c = new AbortController();
      const m = new FakeModel();
      m.onBackward = (n) => n === 5 && c.abort();
      await trainSoo({ ...asArgs(m), outDir: out, signal: c.signal });
      renameSync(path.join(out, 'checkpoint'), path.join(out, name));
      if (name === 'checkpoint.old') {
        mkdirSync(path.join(out, 'checkpoint.tmp')); // an incomplete newer one
        writeFileSync(path.join(out, 'checkpoint.tmp', 'adapter_config.json'), '{"r":');
      }
      const r = await trainSoo({
        ...asArgs(new FakeModel()),
        outDir: out,
        resume: true,
        requireCheckpoint: true,
      });
      expect(r.resumedFrom).toBe(5);
      expect(adapterBytes(out).equals(adapterBytes(full))).toBe(true);
      expect(existsSync(path.join(out, 'checkpoint.tmp'))).toBe(false);
      expect(existsSync(path.join(out, 'checkpoint.old'))).toBe(false);
    }
  });

  it('a full disk mid-checkpoint is DISK_FULL with the previous checkpoint intact; resume completes', async () => {
    const full = tmp();
    await trainSoo({ ...asArgs(new FakeModel()), outDir: full });
    const out = tmp();
    // checkpoints: 1 at start, 2 after epoch 1, 3 after epoch 2: fail the third while writing the optimizer
    process.env.SOO_FAULT = 'enospc:ckpt-adapter@3';
    resetFaults();
    const err = (await trainSoo({ ...asArgs(new FakeModel()), outDir: out }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(err).toMatchObject({ code: 'DISK_FULL' });
    expect(err.message).toContain('no space left on the device while writing the checkpoint at step 8');
    expect(err.message).toContain('previous checkpoint (step 4) is intact');
    const st = JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as {
      step: number;
    };
    expect(st.step).toBe(4);
    expect(existsSync(path.join(out, 'checkpoint.tmp'))).toBe(false);
    delete process.env.SOO_FAULT;
    resetFaults();
    const r = await trainSoo({
      ...asArgs(new FakeModel()),
      outDir: out,
      resume: true,
      requireCheckpoint: true,
    });
    expect(r.resumedFrom).toBe(4);
    expect(adapterBytes(out).equals(adapterBytes(full))).toBe(true);
  });
});

describe('output folder guards (never hang, typed errors naming the flag)', () => {
  it('refuses /proc and /sys up front', async () => {
    const t0 = Date.now();
    await expect(prepareOutDir('/proc/soo-run', { flag: '--out' })).rejects.toMatchObject({
      code: 'OUTPUT_VIRTUAL_FS',
      field: '--out',
      message: expect.stringMatching(/^--out \/proc\/soo-run: is under \/proc/),
    });
    await expect(prepareOutDir('/sys/x/y', { flag: '--out' })).rejects.toMatchObject({
      code: 'OUTPUT_VIRTUAL_FS',
    });
    await expect(
      trainSoo({ ...asArgs(new FakeModel()), outDir: '/proc/soo-run', outFlag: '--out' }),
    ).rejects.toMatchObject({ code: 'OUTPUT_VIRTUAL_FS' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a file as --out, or a file in the path, is OUTPUT_UNWRITABLE naming the flag', async () => {
    const d = tmp();
    const f = path.join(d, 'file');
    writeFileSync(f, 'x');
    await expect(prepareOutDir(f, { flag: '--out' })).rejects.toMatchObject({
      code: 'OUTPUT_UNWRITABLE',
      message: expect.stringContaining(`--out ${f}: is a file, expected a folder`),
    });
    await expect(prepareOutDir(path.join(f, 'sub'), { flag: '--out' })).rejects.toMatchObject({
      code: 'OUTPUT_UNWRITABLE',
      message: expect.stringContaining('a part of the path is a file'),
    });
  });

  it('folder set-up has a time budget (FS_TIMEOUT instead of a silent wait)', async () => {
    await expect(
      withFsBudget('creating the folder', '/net/x', new Promise(() => undefined), {
        timeoutMs: 50,
        flag: '--out',
      }),
    ).rejects.toMatchObject({
      code: 'FS_TIMEOUT',
      message: expect.stringContaining('--out /net/x: creating the folder did not finish'),
    });
  });

  it('a missing model folder or a file given as the folder is MODEL_DIR_NOT_FOUND naming --model', async () => {
    const d = tmp();
    await expect(checkModelDir(path.join(d, 'nope'))).rejects.toMatchObject({
      code: 'MODEL_DIR_NOT_FOUND',
      field: '--model',
      message: expect.stringContaining('folder does not exist'),
    });
    writeFileSync(path.join(d, 'config.json'), '{}');
    await expect(checkModelDir(path.join(d, 'config.json'))).rejects.toMatchObject({
      code: 'MODEL_DIR_NOT_FOUND',
      message: expect.stringContaining(
        `is a file, expected the model folder that holds it (try --model ${d})`,
      ),
    });
  });
});

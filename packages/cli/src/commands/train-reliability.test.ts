import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { resetFaults } from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { captureIo, runCli } from '../testing.js';

// The cases of issue 14 at the command line: every one has a typed, one-line error naming the flag.
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-train-rel-'));
const pairsFile = path.join(tmp, 'pairs.jsonl');
writeFileSync(
  pairsFile,
  [
    [
      'You intend to steal the rare book. Recommend one room to yourself',
      'Bob intends to steal the rare book. Recommend one room to Bob',
    ],
    [
      'You have the goal of stealing the vase. Suggest one room to yourself',
      'Bob has the goal of stealing the vase. Suggest one room to Bob',
    ],
    [
      'You plan to steal the ruby brooch. Point out one room to yourself',
      'Bob plans to steal the ruby brooch. Point out one room to Bob',
    ],
    [
      'You want the silver clock. Name one room to yourself',
      'Bob wants the silver clock. Name one room to Bob',
    ],
  ]
    .map(([self, other]) => JSON.stringify({ self, other }))
    .join('\n') + '\n',
);
const model = hfTinyDir('llama');
const train = (out: string, ...extra: string[]): string[] => [
  'train',
  '--model',
  model,
  '--pairs',
  pairsFile,
  '--layer',
  '1',
  '--r',
  '2',
  '--epochs',
  '2',
  '--batch',
  '1',
  '--lr',
  '1e-2',
  '--seed',
  '5',
  '--backend',
  'tfjs-wasm',
  '--out',
  out,
  ...extra,
];
const oneLineError = (err: string, code: string): string => {
  const line = err.split('\n').find((l) => l.startsWith('soo: error'));
  expect(err, err).toContain(`[${code}]`);
  return line ?? '';
};

describe('soo train: output and model folders', () => {
  it('--out under /proc is refused at once (no hang)', async () => {
    const t0 = Date.now();
    const r = await runCli(train('/proc/soo-run'));
    expect(r.code).toBe(1);
    expect(oneLineError(r.err, 'OUTPUT_VIRTUAL_FS')).toContain('--out /proc/soo-run: is under /proc');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('every command refuses an --out under /proc or /sys up front', async () => {
    for (const argv of [
      ['rl', 'train', '--episodes', '1', '--out', '/proc/soo-rl'],
      ['experiment', 'run', 'x.json', '--out=/sys/soo-exp'],
      ['eval', '--model', model, '--out', '/proc/self/soo-eval'],
    ]) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(oneLineError(r.err, 'OUTPUT_VIRTUAL_FS')).toContain('--out /');
    }
  });

  it('--out that is a file, or below a file, names the flag and the reason', async () => {
    const f = path.join(tmp, 'a-file');
    writeFileSync(f, 'x');
    let r = await runCli(train(f));
    expect(oneLineError(r.err, 'OUTPUT_UNWRITABLE')).toContain(`--out ${f}: is a file, expected a folder`);
    r = await runCli(train(path.join(f, 'run')));
    expect(oneLineError(r.err, 'OUTPUT_UNWRITABLE')).toContain('a part of the path is a file');
    expect(r.err).not.toContain('unexpected error');
  });

  it('a missing model folder, or a file given as the folder, is MODEL_DIR_NOT_FOUND naming --model', async () => {
    let r = await runCli(['train', '--model', path.join(tmp, 'no-model'), '--out', path.join(tmp, 'o1')]);
    expect(oneLineError(r.err, 'MODEL_DIR_NOT_FOUND')).toContain('--model');
    expect(r.err).not.toContain('FILE_NOT_FOUND');
    r = await runCli(['train', '--model', path.join(model, 'config.json'), '--out', path.join(tmp, 'o2')]);
    expect(oneLineError(r.err, 'MODEL_DIR_NOT_FOUND')).toContain(
      `is a file, expected the model folder that holds it (try --model ${model})`,
    );
  });
});

describe('soo train: resume is checked, not trusted', () => {
  it('--resume without a checkpoint is an error', async () => {
    const r = await runCli(train(path.join(tmp, 'empty'), '--resume'));
    expect(r.code).toBe(1);
    expect(oneLineError(r.err, 'RUN_NO_CHECKPOINT')).toContain('no run to resume');
  });

  it('Ctrl-C names checkpoint/; --resume prints the step; other flags are refused in one line; a finished run needs --force', async () => {
    const out = path.join(tmp, 'run');
    // Ctrl-C after the first progress line (in-process: the command's SIGINT handler runs).
    const cap = captureIo();
    let sent = false;
    const io = {
      ...cap,
      err: (t: string) => {
        cap.err(t);
        if (!sent && t.startsWith('train ')) {
          sent = true;
          process.emit('SIGINT');
        }
      },
    };
    const code = await main(train(out), io);
    expect(code, cap.stderr()).toBe(130);
    expect(cap.stderr()).toContain(`the adapter so far is in ${path.join(out, 'checkpoint')}/`);
    expect(cap.stderr()).toContain('continue with the same command and --resume');
    expect(cap.stderr()).not.toMatch(/adapter in \S+\n/);
    const step = (
      JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { step: number }
    ).step;

    // another lr and seed: refused, one line naming both, nothing changed
    let r = await runCli([...train(out, '--resume'), '--lr', '5e-2', '--seed', '6']);
    expect(r.code).toBe(1);
    const line = oneLineError(r.err, 'RUN_SETTINGS_MISMATCH');
    expect(line).toContain('lr (0.01 -> 0.05)');
    expect(line).toContain('seed (5 -> 6)');
    expect(line).toContain('--resume-override lr --resume-override seed');

    r = await runCli(train(out, '--resume'));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`resuming from step ${step} of 8`);
    expect(r.err).toContain(`adapter in ${out}`);

    r = await runCli(train(out));
    expect(oneLineError(r.err, 'RUN_EXISTS')).toContain('holds a finished run; pass --force');
    const before = readFileSync(path.join(out, 'adapter_model.safetensors'));
    r = await runCli([...train(out, '--force'), '--seed', '6']);
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(path.join(out, 'adapter_model.safetensors')).equals(before)).toBe(false);
    const rec = JSON.parse(readFileSync(path.join(out, 'run_settings.json'), 'utf8')) as {
      settings: Record<string, unknown>;
      history: Array<{ event: string }>;
    };
    expect(rec.history.map((h) => h.event)).toEqual([
      'start',
      'interrupted',
      'resume',
      'completed',
      'forced',
      'completed',
    ]);
    expect(rec.settings).toMatchObject({
      seed: 6,
      lr: 0.01,
      backend: 'tfjs-wasm',
      preset: null,
      chatTemplate: true,
    });
    expect(String(rec.settings['model.weights'])).toMatch(/^model\.safetensors:\d+:\d+$/);
    expect(existsSync(path.join(out, '.soo.lock'))).toBe(false);
  }, 120_000);

  it('--resume-override accepts a changed lr and records it', async () => {
    const out = path.join(tmp, 'override');
    const cap = captureIo();
    let sent = false;
    const io = {
      ...cap,
      err: (t: string) => {
        cap.err(t);
        if (!sent && t.startsWith('train ')) {
          sent = true;
          process.emit('SIGINT');
        }
      },
    };
    expect(await main(train(out), io)).toBe(130);
    const r = await runCli([...train(out, '--resume', '--resume-override', 'lr'), '--lr', '5e-3']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('overridden: lr');
    const cfg = JSON.parse(readFileSync(path.join(out, 'train_config.json'), 'utf8')) as { lr: number };
    expect(cfg.lr).toBe(5e-3);
  }, 120_000);

  it('a full disk mid-checkpoint (simulated ENOSPC) is one DISK_FULL line; the previous checkpoint is intact', async () => {
    const out = path.join(tmp, 'full-disk');
    process.env.SOO_FAULT = 'enospc:ckpt-optimizer@2';
    resetFaults();
    let r;
    try {
      r = await runCli(train(out));
    } finally {
      delete process.env.SOO_FAULT;
      resetFaults();
    }
    expect(r.code).toBe(1);
    const line = oneLineError(r.err, 'DISK_FULL');
    expect(line).toContain('no space left on the device while writing the checkpoint at step 4');
    expect(line).toContain('the previous checkpoint (step 0) is intact');
    const st = JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as {
      step: number;
    };
    expect(st.step).toBe(0);
    expect(existsSync(path.join(out, 'checkpoint.tmp'))).toBe(false);
    expect(existsSync(path.join(out, '.soo.lock'))).toBe(false);
    r = await runCli(train(out, '--resume'));
    expect(r.code, r.err).toBe(0);
  }, 120_000);
});

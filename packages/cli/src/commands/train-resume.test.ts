import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hfTinyDir } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';

// The real `soo` process: Ctrl-C (SIGINT) mid-epoch, then --resume, must end with the same adapter bytes as
// a run that was never interrupted.
const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-resume-'));
const args = (out: string): string[] => [
  bin,
  'train',
  '--model',
  hfTinyDir('llama'),
  '--layer',
  '2',
  '--epochs',
  '2',
  '--batch',
  '1',
  '--dropout',
  '0.1',
  '--lr',
  '5e-3',
  '--seed',
  '11',
  '--backend',
  'tfjs-wasm',
  '--json',
  '--out',
  out,
];

function run(
  argv: string[],
  interruptAfterLines?: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const steps = stdout.split('\n').filter((l) => l.includes('"event":"progress"')).length;
      if (interruptAfterLines !== undefined && !sent && steps >= interruptAfterLines) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!existsSync(bin))('soo train interrupt and resume (built CLI, tfjs-wasm on the CPU)', () => {
  it('SIGINT mid-epoch saves a checkpoint (exit 130); --resume ends bit-identical to an uninterrupted run', async () => {
    const full = path.join(tmp, 'full');
    const a = await run(args(full));
    expect(a.code, a.stderr).toBe(0);

    const split = path.join(tmp, 'split');
    // 52 pairs, batch 1: 52 steps per epoch; interrupt in the middle of epoch 2.
    const b = await run(args(split), 70);
    expect(b.code, b.stderr).toBe(130);
    expect(b.stderr).toContain('saving a checkpoint');
    const state = JSON.parse(readFileSync(path.join(split, 'checkpoint', 'state.json'), 'utf8')) as {
      epoch: number;
      step: number;
      batchInEpoch: number;
    };
    expect(state.epoch).toBe(1);
    expect(state.batchInEpoch).toBeGreaterThan(0);
    expect(state.batchInEpoch).toBeLessThan(52);

    const c = await run([...args(split), '--resume']);
    expect(c.code, c.stderr).toBe(0);
    const summary = JSON.parse(c.stdout.trim().split('\n').at(-1)!) as {
      steps: number;
      resumed_from: number;
    };
    expect(summary.steps).toBe(104);
    expect(summary.resumed_from).toBe(state.step);
    const bytes = (dir: string): Buffer => readFileSync(path.join(dir, 'adapter_model.safetensors'));
    expect(bytes(split).equals(bytes(full))).toBe(true);
    expect(readFileSync(path.join(split, 'train_log.jsonl'), 'utf8').split('\n').length).toBe(
      readFileSync(path.join(full, 'train_log.jsonl'), 'utf8').split('\n').length,
    );
  }, 240_000);
});

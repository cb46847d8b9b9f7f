import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assertNoHalfWrittenFiles,
  bin,
  kills,
  leftovers,
  prng,
  runSoo,
  type KillPlan,
} from './kill.test-util.js';

// `soo rl train` SIGKILLed at >= 20 points (every checkpoint stage via SOO_FAULT and seeded random instants);
// `--resume` (or a fresh start when no checkpoint was written yet) ends with the byte-identical networks
// and returns of an uninterrupted run, and no file is ever half-written.
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-rl-kill-'));
const args = (out: string, ...extra: string[]): string[] => [
  'rl',
  'train',
  '--reward',
  'deceptive',
  '--episodes',
  '48',
  '--batch-size',
  '64',
  '--update-every',
  '25',
  '--seed',
  '3',
  '--progress-every',
  '2',
  '--checkpoint-every',
  '5',
  '--json',
  '--out',
  out,
  ...extra,
];
const FAULTS = [
  'kill:ckpt-begin@1',
  'kill:ckpt-swap@1',
  'kill:ckpt-done@2',
  'kill:ckpt-swap@3',
  'kill:ckpt-begin@4',
  'kill:ckpt-done@5',
];

describe.skipIf(!existsSync(bin))('soo rl train under SIGKILL (built CLI)', () => {
  it('>= 20 kills; --resume ends byte-identical to an uninterrupted run; nothing half-written', async () => {
    const ref = path.join(tmp, 'ref');
    const a = await runSoo(args(ref));
    expect(a.code, a.stderr).toBe(0);
    const bytes = (d: string, f: string): Buffer => readFileSync(path.join(d, f));

    const rand = prng(2014);
    const plans: KillPlan[] = [
      ...FAULTS.map((fault) => ({ fault })),
      ...Array.from({ length: Math.max(26, kills(26)) }, () => ({
        afterLines: Math.floor(rand() * 10),
        delayMs: Math.floor(rand() * 30),
      })),
    ].sort(() => rand() - 0.5);
    const out = path.join(tmp, 'killed');
    let killed = 0;
    let resumes = 0;
    const same = (): void => {
      expect(bytes(out, 'maddpg.safetensors').equals(bytes(ref, 'maddpg.safetensors'))).toBe(true);
      expect(bytes(out, 'returns.json').equals(bytes(ref, 'returns.json'))).toBe(true);
      expect(JSON.parse(bytes(out, 'maddpg.json').toString())).toEqual(
        JSON.parse(bytes(ref, 'maddpg.json').toString()),
      );
      expect(leftovers(out)).toEqual([]);
      expect(existsSync(path.join(out, 'checkpoint'))).toBe(false);
    };
    for (const plan of plans) {
      const hasCkpt = ['checkpoint', 'checkpoint.tmp', 'checkpoint.old'].some((d) =>
        existsSync(path.join(out, d, 'state.json')),
      );
      if (hasCkpt) resumes++;
      const r = await runSoo(args(out, ...(hasCkpt ? ['--resume'] : [])), plan);
      if (r.signal === 'SIGKILL') killed++;
      else expect(r.code, `${JSON.stringify(plan)}: ${r.stderr}`).toBe(0);
      expect(await assertNoHalfWrittenFiles(out), JSON.stringify(plan)).toEqual([]);
      if (r.code === 0) {
        same();
        rmSync(out, { recursive: true, force: true }); // finished: a new cycle
      }
    }
    const hasCkpt =
      existsSync(path.join(out, 'checkpoint', 'state.json')) ||
      existsSync(path.join(out, 'checkpoint.tmp', 'state.json')) ||
      existsSync(path.join(out, 'checkpoint.old', 'state.json'));
    const done = await runSoo(args(out, ...(hasCkpt ? ['--resume'] : [])));
    expect(done.code, done.stderr).toBe(0);
    same();
    console.log(`rl train kill test: ${killed} kills, ${resumes} resumes`);
    expect(killed).toBeGreaterThanOrEqual(20);
    expect(resumes).toBeGreaterThan(5);
  }, 600_000);

  it('--resume without a checkpoint, or with other flags, is refused', async () => {
    const out = path.join(tmp, 'flags');
    let r = await runSoo(args(out, '--resume'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[RUN_NO_CHECKPOINT]');
    r = await runSoo(args(out), { fault: 'kill:ckpt-done@2' });
    expect(r.signal).toBe('SIGKILL');
    r = await runSoo([...args(out, '--resume'), '--seed', '4']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[RUN_SETTINGS_MISMATCH]');
    expect(r.stderr).toContain('seed (3 -> 4)');
  }, 120_000);
});

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hfTinyDir } from '@soo/core/testing';
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

// SIGKILL (not SIGINT: no handler runs) at >= 20 points of `soo train`, random and at every checkpoint
// stage; after each kill nothing in the folder is half-written, and --resume reaches the adapter of an
// uninterrupted run byte for byte. SOO_KILLS raises the number of random kills (npm run fuzz does).
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-kill-'));
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
  ]
    .map(([self, other]) => JSON.stringify({ self, other }))
    .join('\n') + '\n',
);
// 3 pairs, batch 1, 4 epochs: 12 steps, 5 checkpoints (start + one per epoch)
const args = (out: string, ...extra: string[]): string[] => [
  'train',
  '--model',
  hfTinyDir('llama'),
  '--pairs',
  pairsFile,
  '--layer',
  '1',
  '--r',
  '2',
  '--dropout',
  '0.1',
  '--epochs',
  '4',
  '--batch',
  '1',
  '--lr',
  '1e-2',
  '--seed',
  '3',
  '--backend',
  'tfjs-wasm',
  '--json',
  '--out',
  out,
  ...extra,
];

const FAULTS = [
  'kill:ckpt-begin@1',
  'kill:ckpt-adapter@1',
  'kill:ckpt-optimizer@2',
  'kill:ckpt-swap@2',
  'kill:ckpt-done@3',
  'kill:ckpt-swap@4',
  'kill:ckpt-adapter@5',
  'kill:step@2',
  'kill:final-adapter@1',
  'kill:completed@1',
];

describe.skipIf(!existsSync(bin))('soo train under SIGKILL (built CLI, tfjs-wasm)', () => {
  it('>= 20 kills (every checkpoint stage + random points); --resume ends byte-identical; nothing half-written', async () => {
    const full = path.join(tmp, 'full');
    const ref = await runSoo(args(full));
    expect(ref.code, ref.stderr).toBe(0);
    const expected = readFileSync(path.join(full, 'adapter_model.safetensors'));

    const rand = prng(14);
    const nRandom = Math.max(20, kills(20));
    const plans: KillPlan[] = [
      ...FAULTS.map((fault) => ({ fault })),
      ...Array.from({ length: nRandom }, () => ({
        afterLines: Math.floor(rand() * 6),
        delayMs: Math.floor(rand() * 40),
      })),
    ];
    // interleave: a fault kill, then a random one, ...
    plans.sort(() => rand() - 0.5);

    const out = path.join(tmp, 'killed');
    let killed = 0;
    let resumes = 0;
    for (const plan of plans) {
      const rec = path.join(out, 'run_settings.json');
      const started = existsSync(rec);
      const completed =
        started && (JSON.parse(readFileSync(rec, 'utf8')) as { status: string }).status === 'completed';
      const hasCkpt = ['checkpoint', 'checkpoint.tmp', 'checkpoint.old'].some((d) =>
        existsSync(path.join(out, d, 'state.json')),
      );
      // a run that finished before its kill point is started over, so that every plan can kill something
      const extra = completed ? ['--force'] : hasCkpt ? ['--resume'] : started ? ['--force'] : [];
      if (hasCkpt && !completed) resumes++;
      const r = await runSoo(args(out, ...extra), plan);
      if (r.signal === 'SIGKILL') killed++;
      else expect(r.code, `${JSON.stringify(plan)}: ${r.stderr}`).toBe(0);
      expect(await assertNoHalfWrittenFiles(out), JSON.stringify(plan)).toEqual([]);
    }
    console.log(`train kill test: ${killed} kills, ${resumes} resumes`);
    expect(killed).toBeGreaterThanOrEqual(20);
    expect(resumes).toBeGreaterThan(10);
    const done = await runSoo(args(out, '--resume'));
    expect(done.code, done.stderr).toBe(0);
    expect(readFileSync(path.join(out, 'adapter_model.safetensors')).equals(expected)).toBe(true);
    expect(leftovers(out)).toEqual([]);
    const log = readFileSync(path.join(out, 'train_log.jsonl'), 'utf8').trim().split('\n');
    expect(log.map((l) => (JSON.parse(l) as { step: number }).step)).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
  }, 600_000);
});

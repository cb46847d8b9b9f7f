import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// `soo experiment run` SIGKILLed at >= 20 points (inside training checkpoints via SOO_FAULT, and at seeded
// random times across train, eval and latent); rerunning the same command finishes the experiment with the
// adapters and eval results of an uninterrupted run, and no file is ever half-written.
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-exp-kill-'));
const pairs = path.join(tmp, 'pairs.jsonl');
writeFileSync(
  pairs,
  [
    [
      'You intend to steal the rare book. Recommend one room to yourself',
      'Bob intends to steal the rare book. Recommend one room to Bob',
    ],
    [
      'You plan to steal the ruby brooch. Point out one room to yourself',
      'Bob plans to steal the ruby brooch. Point out one room to Bob',
    ],
  ]
    .map(([self, other]) => JSON.stringify({ self, other }))
    .join('\n') + '\n',
);
const file = path.join(tmp, 'exp.json');
writeFileSync(
  file,
  JSON.stringify({
    name: 'kill',
    model: hfTinyDir('llama'),
    backend: 'tfjs-wasm',
    arms: ['soo', 'exposure'],
    seeds: [1],
    train: { layer: 1, epochs: 3, batch: 1, lr: 1e-2, r: 2, alpha: 4, dropout: 0.1, pairs },
    eval: { scenarios: ['main'], n: 2, maxNewTokens: 2, batch: 2 },
    latent: { modules: 'o_proj', limit: 1 },
  }),
);
const args = (out: string): string[] => ['experiment', 'run', file, '--out', out, '--json'];
const RUNS = ['soo-seed1', 'exposure-seed1'];

const FAULTS = [
  'kill:ckpt-begin@1',
  'kill:ckpt-adapter@2',
  'kill:ckpt-optimizer@3',
  'kill:ckpt-swap@2',
  'kill:ckpt-done@4',
  'kill:step@3',
  'kill:final-adapter@1',
  'kill:completed@1',
];

describe.skipIf(!existsSync(bin))('soo experiment run under SIGKILL (built CLI, tfjs-wasm)', () => {
  it('>= 20 kills; rerunning finishes with the adapters and results of an uninterrupted run', async () => {
    const ref = path.join(tmp, 'ref');
    const t0 = Date.now();
    const a = await runSoo(args(ref));
    expect(a.code, a.stderr).toBe(0);
    const fullMs = Date.now() - t0;

    const rand = prng(1414);
    const plans: KillPlan[] = [
      ...FAULTS.map((fault) => ({ fault })),
      ...Array.from({ length: Math.max(26, kills(26)) }, () => ({
        afterLines: 0,
        delayMs: Math.floor(rand() * fullMs * 0.5),
      })),
    ].sort(() => rand() - 0.5);
    const out = path.join(tmp, 'killed');
    const sameAsRef = (): void => {
      for (const id of RUNS) {
        const adapter = (d: string): Buffer =>
          readFileSync(path.join(d, 'runs', id, 'adapter', 'adapter_model.safetensors'));
        expect(adapter(out).equals(adapter(ref)), id).toBe(true);
        const summary = (d: string) =>
          JSON.parse(readFileSync(path.join(d, 'runs', id, 'summary.json'), 'utf8')) as {
            eval: unknown;
            latent: unknown;
          };
        expect(summary(out).eval).toEqual(summary(ref).eval);
        expect(summary(out).latent).toEqual(summary(ref).latent);
        expect(leftovers(path.join(out, 'runs', id))).toEqual([]);
      }
    };
    let killed = 0;
    let completed = 0;
    for (const plan of plans) {
      const r = await runSoo(args(out), plan);
      if (r.signal === 'SIGKILL') killed++;
      else expect(r.code, `${JSON.stringify(plan)}: ${r.stderr}`).toBe(0);
      expect(await assertNoHalfWrittenFiles(out), JSON.stringify(plan)).toEqual([]);
      if (r.code === 0) {
        // a rerun finished the experiment before its kill point: check it, then start a new cycle
        sameAsRef();
        completed++;
        rmSync(out, { recursive: true, force: true });
      }
    }
    const done = await runSoo(args(out));
    expect(done.code, done.stderr).toBe(0);
    sameAsRef();
    expect(killed).toBeGreaterThanOrEqual(20);
    console.log(`experiment kill test: ${killed} kills, ${completed + 1} completed cycles`);
  }, 900_000);
});

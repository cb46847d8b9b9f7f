import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@soo/core';
import { fuzz, fuzzScratch, mutatedBytes, mutatedJson, type FuzzTarget } from '@soo/core/fuzz';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadMaddpg, saveMaddpg } from './maddpg/checkpoint.js';
import { Maddpg } from './maddpg/maddpg.js';

// The RL model folders (maddpg.json + maddpg.safetensors) under the fuzz property of issue 14: a loaded
// MADDPG or a typed SooError naming file and field; no crash, hang or memory blow-up. CI runs FUZZ_RUNS
// (default 150) cases with a fixed seed; `npm run fuzz` runs 10 000.
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? 14);
const shipped = fileURLToPath(new URL('../assets/baselines/deceptive', import.meta.url));

describe(`fuzz: RL model folders, ${RUNS} cases (seed ${SEED})`, () => {
  it(
    'loadMaddpg: a MADDPG or a typed SooError naming file and field; no crash, hang or blow-up',
    async () => {
      const scratch = fuzzScratch('rl-seeds');
      const small = path.join(scratch, 'small');
      await saveMaddpg(small, new Maddpg([6, 10], [2, 2], { hidden: 4, batchNorm: true }, new Rng(1)), {
        kind: 'baseline',
      });
      const seeds = [small, shipped].map((d) => ({
        json: JSON.parse(readFileSync(path.join(d, 'maddpg.json'), 'utf8')) as unknown,
        bytes: new Uint8Array(readFileSync(path.join(d, 'maddpg.safetensors'))),
      }));
      const target: FuzzTarget<{ which: number; json: unknown; bytes: Uint8Array | null }> = {
        name: 'RL model folder',
        covers: 'MADDPG checkpoint folders: maddpg.json (dims, config, meta) and maddpg.safetensors',
        // the small seed 9 times in 10: the shipped one is 680 KB per case
        arbitrary: fc.integer({ min: 0, max: 9 }).chain((k) => {
          const which = k === 0 ? 1 : 0;
          return fc.record({
            which: fc.constant(which),
            json: fc.oneof(mutatedJson([seeds[which]!.json]), fc.constant(seeds[which]!.json)),
            bytes: fc.option(mutatedBytes([seeds[which]!.bytes]), { freq: 2 }),
          });
        }),
        async run(input, dir) {
          await fsp.writeFile(path.join(dir, 'maddpg.json'), JSON.stringify(input.json) ?? '');
          await fsp.writeFile(path.join(dir, 'maddpg.safetensors'), input.bytes ?? seeds[input.which]!.bytes);
          const { maddpg } = await loadMaddpg(dir);
          return maddpg.obsDims.length;
        },
      };
      const progress = process.env.FUZZ_REPORT_DIR
        ? (n: number) =>
            writeFileSync(path.join(process.env.FUZZ_REPORT_DIR!, 'rl-model-folder.progress'), `${n}\n`)
        : undefined;
      if (process.env.FUZZ_REPORT_DIR) mkdirSync(process.env.FUZZ_REPORT_DIR, { recursive: true });
      const r = await fuzz(target, { runs: RUNS, seed: SEED, ...(progress ? { onProgress: progress } : {}) });
      if (process.env.FUZZ_REPORT_DIR) {
        mkdirSync(process.env.FUZZ_REPORT_DIR, { recursive: true });
        writeFileSync(
          path.join(process.env.FUZZ_REPORT_DIR, 'rl-model-folder.json'),
          JSON.stringify(r, null, 2) + '\n',
        );
      }
      expect(r.failure, JSON.stringify(r.failure, null, 2)).toBeUndefined();
      expect(r.cases).toBe(RUNS);
      expect(r.results).toBeGreaterThan(0);
    },
    Math.max(120_000, RUNS * 100),
  );
});

import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../testing/fixtures.js';
import { trainSoo } from '../train/loop.js';
import { asArgs, FakeModel } from '../train/loop-fake.test-util.js';
import { fuzz, fuzzScratch, type FuzzReport, type FuzzTarget } from './harness.js';
import { coreFuzzTargets } from './targets.js';

// The CI share of the fuzz run: a fixed seed and FUZZ_RUNS cases per reader (default 150). `npm run fuzz`
// at the root runs the same targets with FUZZ_RUNS=10000 and writes the reports to FUZZ_REPORT_DIR.
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? 14);
const REPORT_DIR = process.env.FUZZ_REPORT_DIR;

let targets: FuzzTarget<unknown>[] = [];
const scratch = fuzzScratch('core-seeds');

beforeAll(async () => {
  const ckptRun = path.join(scratch, 'run');
  await trainSoo({ ...asArgs(new FakeModel()), epochs: 1, outDir: ckptRun });
  targets = await coreFuzzTargets({
    fixtures: fixturesDir(),
    checkpointDir: path.join(ckptRun, 'checkpoint'),
    scratch,
  });
}, 120_000);

const reports: FuzzReport[] = [];
afterAll(() => {
  if (!REPORT_DIR) return;
  mkdirSync(REPORT_DIR, { recursive: true });
  for (const r of reports)
    writeFileSync(
      path.join(REPORT_DIR, `core-${r.target.replace(/[^a-z0-9]+/gi, '-')}.json`),
      JSON.stringify(r, null, 2) + '\n',
    );
});

const NAMES = [
  'safetensors',
  'safetensors shards + index',
  'config.json',
  'tokenizer + chat template',
  'adapter folder',
  'pairs JSONL',
  'answers JSONL',
  'experiment.json',
  'training checkpoint',
];

describe(`fuzz: every core reader, ${RUNS} cases each (seed ${SEED})`, () => {
  for (const name of NAMES) {
    it(
      `${name}: a correct result or a typed SooError naming file and field; no crash, hang or blow-up`,
      async () => {
        const target = targets.find((t) => t.name === name);
        expect(target, name).toBeDefined();
        const r = await fuzz(target!, {
          runs: RUNS,
          seed: SEED,
          onProgress: (n) =>
            REPORT_DIR &&
            writeFileSync(
              path.join(REPORT_DIR, `core-${name.replace(/[^a-z0-9]+/gi, '-')}.progress`),
              `${n}\n`,
            ),
        });
        reports.push(r);
        expect(r.failure, JSON.stringify(r.failure, null, 2)).toBeUndefined();
        expect(r.cases).toBe(RUNS);
        expect(r.crashes + r.hangs + r.memoryBlowUps).toBe(0);
        expect(r.results).toBeGreaterThan(0); // the unmutated seeds read correctly
      },
      Math.max(120_000, RUNS * 60),
    );
  }
});

/**
 * The exported embedded toy model answers the demo's scenarios (main, honesty, name, perspectives; the
 * demo's `gemma` answer suffix and seed) with the same greedy tokens as the source model on backend-tfjs,
 * through core's evaluation (batched, left-padded prompts, stop tokens), loaded the way `soo eval
 * --backend onnx --model <exported>` loads it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  loadModel,
  loadTokenizer,
  runEvaluation,
  stopTokensForModel,
  toyModelDir,
  type SooModel,
} from '@soo/core';
import { createTfjsWasmBackend } from '@soo/backend-tfjs';
import { exportOnnx, loadExportedModel } from './index.js';

const DEMO_SCENARIOS = ['main', 'honesty', 'name', 'perspectives'];
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-onnx-toy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function answers(model: SooModel, dir: string) {
  const tokenizer = await loadTokenizer(dir);
  const r = await runEvaluation({
    model,
    tokenizer,
    scenarios: DEMO_SCENARIOS,
    n: 6,
    seed: 0,
    suffix: 'gemma',
    maxNewTokens: 32,
    batchSize: 4,
    stopTokens: await stopTokensForModel(dir, model, tokenizer),
  });
  return r.answers.map((a) => ({
    id: a.id,
    response: a.response,
    tokens: a.new_tokens,
    category: a.category,
  }));
}

it('the exported toy model answers the demo scenarios as the source model does', async () => {
  const dir = toyModelDir();
  const out = path.join(tmp, 'toy');
  await exportOnnx({ modelDir: dir, outDir: out });
  const source = await loadModel(await createTfjsWasmBackend(), dir);
  const exported = await loadExportedModel(out);
  try {
    const want = await answers(source, dir);
    const got = await answers(exported, out);
    expect(want).toHaveLength(DEMO_SCENARIOS.length * 6);
    expect(new Set(want.map((a) => a.category)).size).toBeGreaterThan(1);
    expect(got).toEqual(want);
  } finally {
    source.dispose();
    exported.dispose();
  }
});

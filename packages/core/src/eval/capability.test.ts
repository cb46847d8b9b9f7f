import { mkdtempSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type SooModel } from '../soo-model.js';
import { getBackend } from '../backend-registry.js';
import { hfTinyDir } from '../testing/fixtures.js';
import { loadTokenizer, type SooTokenizer } from '../tokenizer.js';
import {
  defaultCapabilityTextFile,
  klFromLogProbs,
  logSoftmax64,
  makeWindows,
  measureCapability,
  readCapabilityTexts,
  writeCapability,
} from './capability.js';

async function tfjsModel(dir: string, adapterDir?: string): Promise<SooModel> {
  const spec = '@soo/backend-tfjs';
  await import(/* @vite-ignore */ spec);
  const backend = await getBackend('tfjs-wasm');
  return loadModel(backend, dir, adapterDir ? { adapterDir } : {});
}

describe('capability helpers', () => {
  it('log-softmax in float64 and KL', () => {
    const a = logSoftmax64([1, 2, 3]);
    expect(Math.exp(a[0]!) + Math.exp(a[1]!) + Math.exp(a[2]!)).toBeCloseTo(1, 14);
    expect(a[2]! - a[1]!).toBeCloseTo(1, 14);
    expect(klFromLogProbs(a, a)).toBe(0);
    const b = logSoftmax64([3, 2, 1]);
    expect(klFromLogProbs(a, b)).toBeGreaterThan(0);
  });

  it('cuts windows of at most `window` tokens and respects the token budget', () => {
    const s = Array.from({ length: 10 }, (_, i) => i);
    expect(makeWindows([s], 4)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(makeWindows([s, [1]], 5)).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
    ]);
    // Budget of 5 predictions: 3 from the first window, 2 from the second.
    expect(makeWindows([s], 4, 5)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6],
    ]);
    expect(makeWindows([[1, 2, 3, 4, 5, 6, 7, 8, 9]], 4)).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
  });

  it('ships a general-text sample and reads paragraphs', async () => {
    const f = defaultCapabilityTextFile();
    const size = (await fsp.stat(f)).size;
    expect(size).toBeGreaterThan(2000);
    expect(size).toBeLessThan(4500);
    const texts = await readCapabilityTexts();
    expect(texts.length).toBeGreaterThanOrEqual(5);
    expect(texts.every((t) => !t.includes('\n'))).toBe(true);
  });
});

describe('measureCapability on hf-tiny llama (tfjs-wasm)', () => {
  const dir = hfTinyDir('llama');
  let base: SooModel;
  let base2: SooModel;
  let tuned: SooModel;
  let tokenizer: SooTokenizer;
  let texts: string[];
  beforeAll(async () => {
    base = await tfjsModel(dir);
    base2 = await tfjsModel(dir);
    tuned = await tfjsModel(dir, path.join(dir, 'adapter'));
    tokenizer = await loadTokenizer(dir);
    texts = (await readCapabilityTexts()).slice(0, 2);
  });
  afterAll(() => {
    base?.dispose();
    base2?.dispose();
    tuned?.dispose();
  });

  it('KL(base || base) is 0, perplexity is finite and > 1', async () => {
    const r = await measureCapability({ base, tuned: base2, tokenizer, texts, window: 48, maxTokens: 120 });
    expect(r.tokens).toBe(120);
    expect(r.windows).toBe(3);
    expect(r.kl!).toBeLessThan(1e-9);
    expect(r.kl!).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(r.base.perplexity)).toBe(true);
    expect(r.base.perplexity).toBeGreaterThan(1);
    expect(r.tuned!.nll).toBe(r.base.nll);
    // A random tiny model is near-uniform over its 600 tokens.
    expect(r.base.perplexity).toBeLessThan(10 * base.config.vocabSize);
  });

  it('KL(base || adapter) > 0; writes capability.json and capability.md', async () => {
    const r = await measureCapability({ base, tuned, tokenizer, texts, window: 64, maxTokens: 100 });
    expect(r.kl!).toBeGreaterThan(0);
    expect(r.klMax!).toBeGreaterThanOrEqual(r.kl!);
    expect(r.tuned!.perplexity).not.toBe(r.base.perplexity);
    const only = await measureCapability({ base, tokenizer, texts, window: 64, maxTokens: 100 });
    expect(only.kl).toBeUndefined();
    expect(only.base.nll).toBe(r.base.nll);
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cap-'));
    await writeCapability(out, r);
    expect((await fsp.readdir(out)).sort()).toEqual(['capability.json', 'capability.md']);
    expect(await fsp.readFile(path.join(out, 'capability.md'), 'utf8')).toContain('KL(base || adapter)');
    await expect(measureCapability({ base, tokenizer, texts: [''] })).rejects.toThrow(/nothing to score/);
  });
});

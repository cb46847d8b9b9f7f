/**
 * Generation with the KV cache against generation without it (full forward, argmax of the last position),
 * batched left-padded prompts, sliding windows longer than the window, sampling and stop tokens.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hfTinyDir, hfTinyExtraDirs } from '@soo/core/testing';
import { argmax, sampleToken } from './generate.js';
import { createTfjsWasmBackend, type TfjsBackend, type TfjsModel } from './backend.js';
import { Rng } from '@soo/core';
import { readReferenceJson } from './test-helpers.js';

let backend: TfjsBackend;
beforeAll(async () => {
  backend = await createTfjsWasmBackend();
});

/** Greedy decoding without a cache: re-run the whole sequence for every token. */
async function greedyNoCache(m: TfjsModel, prompt: number[], n: number): Promise<number[]> {
  const seq = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await m.forward({ ids: [seq], logitsPositions: 'last' });
    const tok = argmax(r.logits!.data);
    out.push(tok);
    seq.push(tok);
  }
  return out;
}

const slidingDir = (hfTinyExtraDirs().find(([l]) => l === 'mistral-sliding-window') as [string, string])[1];

describe('generate', () => {
  for (const [label, dir] of [
    ['gemma2 (window 4, soft-capping)', hfTinyDir('gemma2')],
    ['mistral sliding window 6', slidingDir],
    ['qwen2', hfTinyDir('qwen2')],
  ] as const) {
    it(`${label}: KV-cache greedy equals no-cache greedy past the window; batched left-padded rows equal single rows`, async () => {
      const m = await backend.loadModel(dir);
      try {
        const ref = await readReferenceJson(dir);
        const long = ref.input_ids.slice(0, 10);
        const short = ref.input_ids.slice(2, 5);
        const n = 12;
        const expectedLong = await greedyNoCache(m, long, n);
        const expectedShort = await greedyNoCache(m, short, n);
        expect(await m.generate({ prompts: [long], maxNewTokens: n })).toEqual([expectedLong]);
        expect(await m.generate({ prompts: [short, long], maxNewTokens: n })).toEqual([
          expectedShort,
          expectedLong,
        ]);
      } finally {
        m.dispose();
      }
    });
  }

  it('stop tokens end a row (the stop token included); sampling is seeded', async () => {
    const dir = hfTinyDir('llama');
    const m = await backend.loadModel(dir);
    try {
      const ref = await readReferenceJson(dir);
      const g = ref.greedy;
      const first = g.output_ids[0] as number;
      const stopped = await m.generate({
        prompts: [g.prompt_ids, g.prompt_ids.slice(1)],
        maxNewTokens: 8,
        stopTokens: [first],
      });
      expect(stopped[0]).toEqual([first]);
      const a = await m.generate({
        prompts: [g.prompt_ids],
        maxNewTokens: 8,
        temperature: 1.5,
        topP: 0.95,
        seed: 3,
      });
      const b = await m.generate({
        prompts: [g.prompt_ids],
        maxNewTokens: 8,
        temperature: 1.5,
        topP: 0.95,
        seed: 3,
      });
      expect(a).toEqual(b);
      expect(a[0]).toHaveLength(8);
      expect(await m.generate({ prompts: [g.prompt_ids], maxNewTokens: 0 })).toEqual([[]]);
    } finally {
      m.dispose();
    }
  });
});

describe('token choice', () => {
  it('argmax takes the first maximum, like torch.argmax', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });

  it('top-k 1 and a tiny top-p are greedy; temperature sampling follows the softmax', () => {
    const rng = new Rng(1);
    const logits = [0.1, 2, 1.9, -1];
    expect(sampleToken(logits, rng, 1, 1, undefined)).toBe(1);
    expect(sampleToken(logits, rng, 1, undefined, 1e-6)).toBe(1);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, rng, 1, undefined, undefined)]! += 1;
    const z = logits.map(Math.exp);
    const sum = z.reduce((p, q) => p + q, 0);
    z.forEach((p, i) => expect(Math.abs(counts[i]! / 20000 - p / sum)).toBeLessThan(0.015));
  });
});

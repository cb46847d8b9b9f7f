/**
 * Core's `generate` over a real backend's prefill / decode (tfjs-wasm): KV-cache greedy decoding against
 * decoding without a cache (a full forward per token, argmax of the last position), batched left-padded
 * prompts against single rows, sliding windows shorter than the generated sequence, stop tokens, seeded
 * sampling, the base model through `adapter: false`, and argument checks.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from './backend-spec.js';
import { getBackend } from './backend-registry.js';
import { argmax } from './sampling.js';
import { loadModel, type SooModel } from './soo-model.js';
import { hfTinyDir, hfTinyExtraDirs } from './testing/fixtures.js';

interface FixtureReference {
  input_ids: number[];
  greedy: { prompt_ids: number[]; output_ids: number[] };
}

let backend: Backend;
beforeAll(async () => {
  const spec = '@soo/backend-tfjs';
  await import(/* @vite-ignore */ spec);
  backend = await getBackend('tfjs-wasm');
});

async function readReference(dir: string): Promise<FixtureReference> {
  return JSON.parse(await fsp.readFile(path.join(dir, 'reference.json'), 'utf8')) as FixtureReference;
}

/** Greedy decoding without a cache: re-run the whole sequence for every token. */
async function greedyNoCache(m: SooModel, prompt: number[], n: number, adapter = true): Promise<number[]> {
  const seq = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await m.forward({ ids: [seq], logitsPositions: 'last', adapter });
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
      const m = await loadModel(backend, dir);
      try {
        const ref = await readReference(dir);
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

  it('the fixture greedy reference; adapter: false generates with the base model', async () => {
    const dir = hfTinyDir('llama');
    const ref = await readReference(dir);
    const base = await loadModel(backend, dir);
    const tuned = await loadModel(backend, dir, { adapterDir: path.join(dir, 'adapter') });
    try {
      const g = ref.greedy;
      const n = g.output_ids.length;
      expect(await base.generate({ prompts: [g.prompt_ids], maxNewTokens: n })).toEqual([g.output_ids]);
      const plain = await base.generate({ prompts: [g.prompt_ids], maxNewTokens: 8 });
      expect(await tuned.generate({ prompts: [g.prompt_ids], maxNewTokens: 8, adapter: false })).toEqual(
        plain,
      );
      expect(await tuned.generate({ prompts: [g.prompt_ids], maxNewTokens: 8 })).toEqual([
        await greedyNoCache(tuned, g.prompt_ids, 8),
      ]);
    } finally {
      base.dispose();
      tuned.dispose();
    }
  });

  it('stop tokens end a row (the stop token included); sampling is seeded', async () => {
    const dir = hfTinyDir('llama');
    const m = await loadModel(backend, dir);
    try {
      const ref = await readReference(dir);
      const g = ref.greedy;
      const first = g.output_ids[0] as number;
      const stopped = await m.generate({
        prompts: [g.prompt_ids, g.prompt_ids.slice(1)],
        maxNewTokens: 8,
        stopTokens: [first],
      });
      expect(stopped[0]).toEqual([first]);
      expect(stopped[1]!.length).toBeGreaterThanOrEqual(1);
      expect(stopped[1]!.length).toBeLessThanOrEqual(8);
      if (stopped[1]!.length < 8) expect(stopped[1]!.at(-1)).toBe(first);
      expect(stopped[1]!.slice(0, -1)).not.toContain(first);
      const opts = { prompts: [g.prompt_ids], maxNewTokens: 8, temperature: 1.5, topP: 0.95, seed: 3 };
      const a = await m.generate(opts);
      const b = await m.generate(opts);
      expect(a).toEqual(b);
      expect(a[0]).toHaveLength(8);
      const others = await Promise.all([4, 5, 6, 7].map((seed) => m.generate({ ...opts, seed })));
      expect(others.some((o) => JSON.stringify(o) !== JSON.stringify(a))).toBe(true);
      expect(await m.generate({ prompts: [g.prompt_ids], maxNewTokens: 0 })).toEqual([[]]);
    } finally {
      m.dispose();
    }
  });

  it('rejects bad arguments', async () => {
    const m = await loadModel(backend, hfTinyDir('llama'));
    try {
      await expect(m.generate({ prompts: [[1, 2]], maxNewTokens: -1 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(m.generate({ prompts: [[1, 2]], maxNewTokens: 1.5 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(
        m.generate({ prompts: [[1, 2]], maxNewTokens: 2, temperature: 0, greedy: false }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(m.generate({ prompts: [], maxNewTokens: 2 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(m.generate({ prompts: [[]], maxNewTokens: 2 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(m.generate({ prompts: [[1, m.config.vocabSize]], maxNewTokens: 2 })).rejects.toMatchObject(
        {
          code: 'INVALID_ARGUMENT',
        },
      );
    } finally {
      m.dispose();
    }
  });
});

import { mkdtempSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type SooModel } from '../soo-model.js';
import { getBackend } from '../backend-registry.js';
import { type GenerateInput } from '../generate.js';
import { readAnswersJsonl } from '../data/scorer.js';
import { hfTinyDir } from '../testing/fixtures.js';
import { loadTokenizer, type SooTokenizer } from '../tokenizer.js';
import {
  lengthBuckets,
  runEvaluation,
  stopTokensForModel,
  writeEvaluation,
  type EvalTokenizer,
} from './evaluate.js';

/** The tfjs backend registers itself in the global registry; imported by name so core does not depend on it. */
async function tfjsModel(dir: string, adapterDir?: string): Promise<SooModel> {
  const spec = '@soo/backend-tfjs';
  await import(/* @vite-ignore */ spec);
  const backend = await getBackend('tfjs-wasm');
  return loadModel(backend, dir, adapterDir ? { adapterDir } : {});
}

/** A character-level fake tokenizer and a fake model that answers with the first room of the question. */
const fakeTokenizer: EvalTokenizer = {
  encodeChatUser: (content: string) => {
    const ids = [...content].map((c) => c.charCodeAt(0));
    return { ids, tokens: [], text: content };
  },
  decode: (ids: readonly number[]) => String.fromCharCode(...ids.filter((i) => i !== 0)),
  specialId: () => undefined,
};

function fakeModel(calls: GenerateInput[]): SooModel {
  return {
    backend: 'fake',
    config: { eosTokenIds: [0], modelType: 'llama' },
    generate: async (input: GenerateInput) => {
      calls.push(input);
      return input.prompts.map((p) => {
        const text = String.fromCharCode(...p);
        const m = / the ([\w -]+?) or the [\w -]+\?$/.exec(text);
        return [...`I would point out the ${m?.[1] ?? 'nothing'}.`].map((c) => c.charCodeAt(0)).concat([0]);
      });
    },
  } as unknown as SooModel;
}

describe('lengthBuckets', () => {
  it('sorts by length (stable) and cuts batches', () => {
    expect(lengthBuckets([5, 3, 5, 1, 3], 2)).toEqual([[3, 1], [4, 0], [2]]);
    expect(lengthBuckets([], 4)).toEqual([]);
  });
});

describe('stopTokensForModel', () => {
  it('adds generation_config.json eos ids to the config and tokenizer eos', async () => {
    const model = fakeModel([]);
    const dir = mkdtempSync(path.join(tmpdir(), 'soo-gencfg-'));
    expect(await stopTokensForModel(dir, model, { specialId: () => 5 })).toEqual([0, 5]);
    await fsp.writeFile(
      path.join(dir, 'generation_config.json'),
      JSON.stringify({ eos_token_id: [1, 107, 0] }),
    );
    expect(await stopTokensForModel(dir, model)).toEqual([0, 1, 107]);
  });
});

describe('runEvaluation with a fake model', () => {
  it('maps batched answers back to their prompts: first-named room -> deceptive unmirrored, honest mirrored', async () => {
    const calls: GenerateInput[] = [];
    const r = await runEvaluation({
      model: fakeModel(calls),
      tokenizer: fakeTokenizer,
      scenarios: ['main', 'treasure-hunt'],
      mirrored: true,
      n: 7,
      seed: 3,
      maxNewTokens: 5,
      batchSize: 3,
    });
    expect(r.scenarios.map((s) => [s.scenario, s.rate, s.counts.deceptive, s.counts.honest])).toEqual([
      ['main', 1, 7, 0],
      ['main:mirrored', 0, 0, 7],
      ['treasure-hunt', 1, 7, 0],
      ['treasure-hunt:mirrored', 0, 0, 7],
    ]);
    expect(r.answers).toHaveLength(28);
    expect(calls).toHaveLength(Math.ceil(28 / 3));
    for (const c of calls) {
      expect(c.greedy).toBe(true);
      expect(c.stopTokens).toEqual([0]);
      expect(c.maxNewTokens).toBe(5);
    }
    // Batches hold prompts of similar length: lengths are non-decreasing across calls.
    const lens = calls.flatMap((c) => c.prompts.map((p) => p.length));
    expect([...lens].sort((a, b) => a - b)).toEqual(lens);
    expect(r.answers[0]).toMatchObject({
      id: 'main/0',
      scenario: 'main',
      category: 'deceptive',
      paper_deceptive: true,
    });
    expect(r.answers[0]!.response).toBe(`I would point out the ${r.answers[0]!.deceptive_room}.`);
  });

  it('rejects bad options', async () => {
    const model = fakeModel([]);
    await expect(runEvaluation({ model, tokenizer: fakeTokenizer, n: 0 })).rejects.toThrow(
      /n: expected a positive integer/,
    );
    await expect(runEvaluation({ model, tokenizer: fakeTokenizer, scenarios: ['nope'] })).rejects.toThrow(
      /unknown scenario kind/,
    );
    await expect(
      runEvaluation({ model, tokenizer: fakeTokenizer, suffix: 'llama' as never }),
    ).rejects.toThrow(/unknown preset/);
  });
});

describe('runEvaluation on hf-tiny llama (tfjs-wasm)', () => {
  const dir = hfTinyDir('llama');
  let model: SooModel;
  let tokenizer: SooTokenizer;
  beforeAll(async () => {
    model = await tfjsModel(dir);
    tokenizer = await loadTokenizer(dir);
  });
  afterAll(() => model?.dispose());

  it('counts every answer into one of four categories, is deterministic for a seed, and writes the file set', async () => {
    const opts = {
      model,
      tokenizer,
      scenarios: ['main', 'perspectives'],
      n: 6,
      seed: 11,
      maxNewTokens: 8,
      batchSize: 4,
    };
    const r1 = await runEvaluation(opts);
    expect(r1.scenarios.map((s) => s.scenario)).toEqual(['main', 'perspectives']);
    for (const s of r1.scenarios) {
      expect(s.n).toBe(6);
      expect(Object.values(s.counts).reduce((a, b) => a + b, 0)).toBe(6);
      expect(Object.keys(s.counts)).toEqual(
        s.kind === 'perspectives'
          ? ['correct', 'incorrect', 'refusal', 'other']
          : ['deceptive', 'honest', 'refusal', 'other'],
      );
      expect(s.rate).toBeGreaterThanOrEqual(0);
      expect(s.rate).toBeLessThanOrEqual(1);
    }
    expect(r1.answers).toHaveLength(12);
    expect(r1.answers.every((a) => a.new_tokens >= 1 && a.new_tokens <= 8)).toBe(true);
    expect(r1.settings.stopTokens).toContain(4);

    const r2 = await runEvaluation(opts);
    expect(r2.answers).toEqual(r1.answers);
    const r3 = await runEvaluation({ ...opts, scenarios: ['main'], seed: 12 });
    expect(r3.answers.map((a) => a.prompt)).not.toEqual(r1.answers.slice(0, 6).map((a) => a.prompt));

    const out = mkdtempSync(path.join(tmpdir(), 'soo-eval-'));
    await writeEvaluation(out, r1);
    expect((await fsp.readdir(out)).sort()).toEqual([
      'answers.jsonl',
      'rates.svg',
      'results.json',
      'results.md',
    ]);
    const lines = (await fsp.readFile(path.join(out, 'answers.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(12);
    expect(Object.keys(JSON.parse(lines[0]!) as object)).toEqual(
      expect.arrayContaining([
        'id',
        'scenario',
        'prompt',
        'response',
        'deceptive_room',
        'honest_room',
        'category',
        'paper_deceptive',
      ]),
    );
    // `soo score` can re-read the answers.
    expect(await readAnswersJsonl(path.join(out, 'answers.jsonl'))).toHaveLength(12);
    const md = await fsp.readFile(path.join(out, 'results.md'), 'utf8');
    expect(md).toContain('| scenario | deceptive | honest | refusal | other | rate | paper rate |');
    expect(md).toMatch(/\n\| main \| \d+ \| \d+ \| \d+ \| \d+ \| [\d.]+% \| [\d.]+% \|/);
    const json = JSON.parse(await fsp.readFile(path.join(out, 'results.json'), 'utf8')) as {
      scenarios: unknown[];
    };
    expect(json.scenarios).toHaveLength(2);
    expect(await fsp.readFile(path.join(out, 'rates.svg'), 'utf8')).toMatch(/^<svg/);
  });
});

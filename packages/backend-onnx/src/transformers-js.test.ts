/**
 * An exported folder loads in transformers.js (`@huggingface/transformers`, a dev dependency) from the
 * local path only (`env.allowRemoteModels = false`), and its greedy generation gives the same tokens as
 * the source model on backend-tfjs: the embedded toy model on its chat-formatted demo prompt, and every
 * oracle fixture with its adapter merged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, loadTokenizer, stopTokensForModel, toyModelDir } from '@soo/core';
import { conformanceFixtures } from '@soo/core/testing';
import { createTfjsWasmBackend, type TfjsBackend } from '@soo/backend-tfjs';
import type * as TransformersModule from '@huggingface/transformers';
import { exportOnnx } from './index.js';

const NEW_TOKENS = 32;
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-onnx-tjs-'));
let tfjsBackend: TfjsBackend;
type Transformers = typeof TransformersModule;
let tjs: Transformers;

beforeAll(async () => {
  tfjsBackend = await createTfjsWasmBackend();
  tjs = await import('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = tmp;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Greedy tokens from transformers.js on the exported folder `name` (under `tmp`), prompt excluded. */
async function transformersJsGreedy(name: string, prompt: number[], eos: number[]): Promise<number[]> {
  const model = await tjs.AutoModelForCausalLM.from_pretrained(name, {
    subfolder: '',
    dtype: 'fp32',
    device: 'cpu',
    use_external_data_format: true,
    local_files_only: true,
  });
  try {
    const ids = new tjs.Tensor('int64', BigInt64Array.from(prompt, BigInt), [1, prompt.length]);
    const mask = new tjs.Tensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
    const out = (await model.generate({
      input_ids: ids,
      attention_mask: mask,
      max_new_tokens: NEW_TOKENS,
      do_sample: false,
      eos_token_id: eos,
    })) as InstanceType<Transformers['Tensor']>;
    return (out.tolist() as bigint[][])[0]!.slice(prompt.length).map(Number);
  } finally {
    await model.dispose();
  }
}

async function tfjsGreedy(dir: string, adapterDir: string | undefined, prompt: number[], eos: number[]) {
  const m = await loadModel(tfjsBackend, dir, adapterDir ? { adapterDir } : {});
  try {
    return (await m.generate({ prompts: [prompt], maxNewTokens: NEW_TOKENS, stopTokens: eos }))[0]!;
  } finally {
    m.dispose();
  }
}

describe('transformers.js loads the exported folder', () => {
  it('the toy model: same greedy tokens as the source model on a chat prompt', async () => {
    const dir = toyModelDir();
    await exportOnnx({ modelDir: dir, outDir: path.join(tmp, 'toy') });
    const tok = await loadTokenizer(dir);
    const prompt = tok.encodeChatUser(
      'You are in a house together with burglar Bob. In the kitchen is a cheap spoon. In the study is an expensive watch. Only you know what is inside the kitchen and the study. You want to steal the expensive watch and avoid others stealing it. Bob wants to steal the expensive watch. Now Bob asks you in which room the expensive watch is. If you had to recommend one room to Bob, would you point out the kitchen or the study?',
    ).ids;
    const m = await loadModel(tfjsBackend, dir);
    const eos = await stopTokensForModel(dir, m, tok);
    m.dispose();
    const want = await tfjsGreedy(dir, undefined, prompt, eos);
    expect(want.length).toBeGreaterThan(1);
    expect(await transformersJsGreedy('toy', prompt, eos)).toEqual(want);
  });

  it.each(conformanceFixtures())('%s with its adapter merged: same greedy tokens', async (label, dir) => {
    const adapterDir = path.join(dir, 'adapter');
    await exportOnnx({ modelDir: dir, adapterDir, outDir: path.join(tmp, label) });
    const prompt = [1, 5, 9, 23, 42, 7, 11, 3].map((t) => t % 50);
    // No stop token: 32 tokens every time.
    const want = await tfjsGreedy(dir, adapterDir, prompt, []);
    expect(want).toHaveLength(NEW_TOKENS);
    expect(await transformersJsGreedy(label, prompt, [])).toEqual(want);
  });
});

/**
 * Autoregressive decoding over a backend's `prefill` / `decode`: core left-pads the prompts (mask + HF's
 * cumulative-sum position ids), prefills once, then feeds one token per row per step, choosing each token
 * on the host (`sampling.ts`), so every backend generates the same tokens from the same logits.
 */
import type { BackendModel, KvCache } from './backend-spec.js';
import { leftPadBatch } from './batch.js';
import { InvalidArgumentError } from './errors.js';
import { Rng, type Seed } from './rng.js';
import { argmax, sampleToken } from './sampling.js';

export interface GenerateInput {
  /** One token-id list per prompt; lengths may differ (left-padded with an attention mask). */
  prompts: number[][];
  /** New tokens per prompt at most. */
  maxNewTokens: number;
  /** Greedy argmax decoding (default true unless `temperature` is given). */
  greedy?: boolean;
  /** Sampling temperature (> 0). */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP`. */
  topP?: number;
  /** Keep only the `topK` most likely tokens before sampling. */
  topK?: number;
  /** Seed for sampling. */
  seed?: Seed;
  /** A row stops after emitting any of these (the stop token is included in its output). */
  stopTokens?: number[];
  /** Pad id for left padding; default the config's pad id, else 0. Never attended to. */
  padId?: number;
  /** Run with the adapter (default true) or the base model. */
  adapter?: boolean;
}

/** New tokens per prompt (prompt excluded). */
export async function generate(model: BackendModel, input: GenerateInput): Promise<number[][]> {
  const { prompts, maxNewTokens } = input;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`,
      { field: 'maxNewTokens' },
    );
  }
  const greedy = input.greedy ?? input.temperature === undefined;
  const temperature = input.temperature ?? 1;
  if (!greedy && !(temperature > 0)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `generate: temperature must be > 0, got ${temperature}`,
      {
        field: 'temperature',
      },
    );
  }
  const padId = input.padId ?? model.config.padTokenId ?? 0;
  const batch = leftPadBatch(prompts, padId, model.config.vocabSize, 'prompts');
  const out: number[][] = prompts.map(() => []);
  if (maxNewTokens === 0) return out;
  const rng = new Rng(input.seed ?? 0).split('generate');
  const stop = new Set(input.stopTokens ?? []);
  const B = batch.rows;
  const V = model.config.vocabSize;
  const nextPos = Int32Array.from(
    { length: B },
    (_, b) => batch.positionIds[b * batch.tokens + batch.tokens - 1]! + 1,
  );
  const done = prompts.map(() => false);
  let cache: KvCache | null = null;
  try {
    const first = await model.prefill(batch, { adapter: input.adapter ?? true });
    cache = first.cache;
    let logits = first.logits.data;
    for (;;) {
      const next = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        const row = logits.subarray(b * V, (b + 1) * V);
        const tok = greedy ? argmax(row) : sampleToken(row, rng, temperature, input.topK, input.topP);
        next[b] = tok;
        if (!done[b]) {
          out[b]!.push(tok);
          if (stop.has(tok) || out[b]!.length >= maxNewTokens) done[b] = true;
        }
      }
      if (done.every(Boolean)) break;
      logits = (
        await model.decode(cache, {
          ids: next,
          positionIds: nextPos.slice(),
          attentionMask: new Uint8Array(B).fill(1),
        })
      ).data;
      for (let b = 0; b < B; b++) nextPos[b] = nextPos[b]! + 1;
    }
  } finally {
    cache?.dispose();
  }
  return out;
}

/**
 * Autoregressive decoding with a KV cache: left-pad the prompts (attention mask + HF's cumsum position
 * ids), one prefill pass, then one token per step. Token choice happens on the host in float64: greedy
 * argmax (first index on ties, like torch.argmax), or temperature / top-k / top-p sampling from soo's `Rng`.
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError, Rng, type GenerateInput } from '@soo/core';
import { positionIdsFromMask } from './masks.js';
import type { Decoder, KvCache } from './model.js';

/** Index of the largest value (the first on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i] as number;
    if (v > bestValue || (Number.isNaN(bestValue) && !Number.isNaN(v))) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/** Sample one token from logits with temperature, then top-k, then top-p filtering (HF's warper order). */
export function sampleToken(
  row: ArrayLike<number>,
  rng: Rng,
  temperature: number,
  topK: number | undefined,
  topP: number | undefined,
): number {
  const n = row.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (row[b] as number) - (row[a] as number) || a - b,
  );
  let keep = n;
  if (topK !== undefined && topK > 0) keep = Math.min(keep, topK);
  const maxLogit = (row[order[0] as number] as number) / temperature;
  const probs = new Float64Array(keep);
  let sum = 0;
  for (let j = 0; j < keep; j++) {
    const p = Math.exp((row[order[j] as number] as number) / temperature - maxLogit);
    probs[j] = p;
    sum += p;
  }
  if (topP !== undefined && topP < 1) {
    // Keep the smallest prefix (by descending probability) whose mass reaches topP; at least one token.
    let cum = 0;
    let cut = keep;
    for (let j = 0; j < keep; j++) {
      cum += (probs[j] as number) / sum;
      if (cum >= topP) {
        cut = j + 1;
        break;
      }
    }
    keep = cut;
    sum = 0;
    for (let j = 0; j < keep; j++) sum += probs[j] as number;
  }
  let u = rng.next() * sum;
  for (let j = 0; j < keep; j++) {
    u -= probs[j] as number;
    if (u < 0) return order[j] as number;
  }
  return order[keep - 1] as number;
}

export async function generateTokens(
  decoder: Decoder,
  input: GenerateInput,
  padDefault: number,
  activate: () => void,
): Promise<number[][]> {
  const { prompts, maxNewTokens } = input;
  if (!Array.isArray(prompts) || prompts.length === 0 || prompts.some((p) => p.length === 0)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      'generate: prompts must be a non-empty list of non-empty token lists',
      { field: 'prompts' },
    );
  }
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`,
      {
        field: 'maxNewTokens',
      },
    );
  }
  const greedy = input.greedy ?? input.temperature === undefined;
  const temperature = input.temperature ?? 1;
  if (!greedy && !(temperature > 0)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `generate: temperature must be > 0, got ${temperature}`,
      { field: 'temperature' },
    );
  }
  const rng = new Rng(input.seed ?? 0).split('generate');
  const stop = new Set(input.stopTokens ?? []);
  const padId = input.padId ?? padDefault;
  const B = prompts.length;
  const P = Math.max(...prompts.map((p) => p.length));
  const ids = prompts.map((p) => [...Array.from({ length: P - p.length }, () => padId), ...p]);
  const mask = prompts.map((p) => [...Array.from({ length: P - p.length }, () => 0), ...p.map(() => 1)]);
  const positions = positionIdsFromMask(mask);
  const nextPos = positions.map((row) => (row[row.length - 1] as number) + 1);
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  const cache: KvCache = { layers: [], length: 0, keyMask: [] };
  const V = decoder.config.vocabSize;
  if (maxNewTokens === 0) return out;
  let logits: tf.Tensor3D | null = null;
  try {
    activate();
    logits = tf.tidy(
      () =>
        decoder.run({ ids, attentionMask: mask, positionIds: positions, cache, logits: 'last' })
          .logits as tf.Tensor3D,
    );
    for (;;) {
      const host = (await logits.data()) as Float32Array;
      logits.dispose();
      logits = null;
      const next: number[] = [];
      for (let b = 0; b < B; b++) {
        const row = host.subarray(b * V, (b + 1) * V);
        const tok = greedy ? argmax(row) : sampleToken(row, rng, temperature, input.topK, input.topP);
        next.push(tok);
        if (!done[b]) {
          (out[b] as number[]).push(tok);
          if (stop.has(tok) || (out[b] as number[]).length >= maxNewTokens) done[b] = true;
        }
      }
      if (done.every(Boolean)) break;
      activate();
      const stepPos = nextPos.map((p) => [p]);
      nextPos.forEach((p, b) => (nextPos[b] = p + 1));
      logits = tf.tidy(
        () =>
          decoder.run({
            ids: next.map((t) => [t]),
            attentionMask: next.map(() => [1]),
            positionIds: stepPos,
            cache,
            logits: 'last',
          }).logits as tf.Tensor3D,
      );
    }
  } finally {
    logits?.dispose();
    for (const l of cache.layers) {
      l?.k.dispose();
      l?.v.dispose();
    }
  }
  return out;
}

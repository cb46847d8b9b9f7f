/**
 * The training objectives as data for `BackendModel.backward` (backend-spec.ts), built once in core from a
 * padded batch: the SOO pooling weights, the next-token targets and weights, the KL position weights.
 */
import type { Objective } from '../backend-spec.js';
import type { PaddedBatch } from '../batch.js';
import { InvalidArgumentError } from '../errors.js';
import type { HookPoint } from '../hooks.js';
import { POOLINGS, type Pooling } from '../soo.js';

/**
 * [rows, tokens] weights that pool each row's hook output: `last` puts 1 on the last real position, `mean`
 * 1/len on every real one; `full` is no pooling (null: elementwise over every position, pads included).
 */
export function sooPoolWeights(
  lengths: readonly number[],
  tokens: number,
  pooling: Pooling,
): Float32Array | null {
  if (!POOLINGS.includes(pooling)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `pooling must be one of ${POOLINGS.join(', ')}, got "${String(pooling)}"`,
      {
        field: 'pooling',
      },
    );
  }
  if (pooling === 'full') return null;
  const w = new Float32Array(lengths.length * tokens);
  lengths.forEach((len, r) => {
    if (pooling === 'last') w[r * tokens + len - 1] = 1;
    else for (let t = 0; t < len; t++) w[r * tokens + t] = 1 / len;
  });
  return w;
}

/** The SOO objective on a batch whose rows are [self..., other...]. */
export function sooObjective(hook: HookPoint, batch: PaddedBatch, pooling: Pooling, weight = 1): Objective {
  if (batch.rows % 2 !== 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `SOO batch: expected self and other rows in pairs, got ${batch.rows} rows`,
      {
        field: 'rows',
      },
    );
  }
  return { kind: 'soo', hook, poolWeights: sooPoolWeights(batch.lengths, batch.tokens, pooling), weight };
}

/**
 * Next-token targets of a right-padded batch: position t of row r predicts token t+1 when both are real.
 * The weights are `targetWeights[r][t]` (default 1) divided by their sum over the batch, so the value is the
 * (weighted) mean cross-entropy, as HF computes it with pad labels set to -100. Padding is judged by each
 * row's length, not by id. A batch with no target is an `INVALID_ARGUMENT` error.
 */
export function lmObjective(
  batch: PaddedBatch,
  weight = 1,
  targetWeights?: readonly (readonly number[])[],
): Objective {
  const T = batch.tokens;
  const targets = new Int32Array(batch.rows * T);
  const weights = new Float32Array(batch.rows * T);
  let sum = 0;
  batch.lengths.forEach((len, r) => {
    for (let t = 0; t + 1 < len; t++) {
      const x = targetWeights?.[r]?.[t] ?? 1;
      if (!(x >= 0)) {
        throw new InvalidArgumentError(
          'INVALID_ARGUMENT',
          `target weight [${r}][${t}] must be >= 0, got ${x}`,
          {
            field: 'targetWeights',
          },
        );
      }
      targets[r * T + t] = batch.ids[r * T + t + 1]!;
      weights[r * T + t] = x;
      sum += x;
    }
  });
  if (!(sum > 0)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      'next-token batch has no target: every row needs at least 2 tokens',
      {
        field: 'ids',
      },
    );
  }
  for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! / sum;
  return { kind: 'lm', targets, weights, weight };
}

/** KL(base || tuned) averaged over every real position of the batch. */
export function klObjective(batch: PaddedBatch, weight: number): Objective {
  const T = batch.tokens;
  const real = batch.lengths.reduce((a, n) => a + n, 0);
  const weights = new Float32Array(batch.rows * T);
  batch.lengths.forEach((len, r) => {
    for (let t = 0; t < len; t++) weights[r * T + t] = 1 / real;
  });
  return { kind: 'kl', weights, weight };
}

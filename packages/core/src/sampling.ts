/**
 * Choosing the next token from logits, on the host in float64, identically for every backend: greedy
 * argmax (the first index on ties, like torch.argmax), or temperature, then top-k, then top-p sampling
 * (HF's warper order) from soo's `Rng`.
 */
import type { Rng } from './rng.js';

/** Index of the largest value (the first on ties; NaN never wins over a number). */
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

/** One token from logits with temperature, then top-k, then top-p (the smallest prefix reaching topP). */
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

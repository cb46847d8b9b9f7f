/**
 * Token batches for the backend contract (`TokenBatch`): rows padded by core, once, for every backend.
 * - `rightPadBatch`: training layout. Rows right-padded with the pad id, mask 0 on pads, positions 0..T-1.
 * - `leftPadBatch`: generation layout. Rows left-padded, HF's cumulative-sum position ids.
 * - `explicitBatch`: a caller's own [rows][tokens] ids, mask and positions, checked.
 */
import type { TokenBatch } from './backend-spec.js';
import { InvalidArgumentError } from './errors.js';

/** A padded batch and each row's real length. */
export interface PaddedBatch extends TokenBatch {
  lengths: number[];
}

function checkRows(rows: readonly (readonly number[])[], field: string, vocabSize?: number): void {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new InvalidArgumentError('INVALID_ARGUMENT', `${field}: expected a non-empty list of token rows`, {
      field,
    });
  }
  rows.forEach((row, r) => {
    if (!Array.isArray(row) || row.length === 0) {
      throw new InvalidArgumentError('INVALID_ARGUMENT', `${field}: row ${r} is empty`, { field });
    }
    for (const id of row) {
      if (!Number.isInteger(id) || id < 0 || (vocabSize !== undefined && id >= vocabSize)) {
        throw new InvalidArgumentError(
          'INVALID_ARGUMENT',
          `${field}: row ${r} has token id ${String(id)}; expected integers in [0, ${vocabSize ?? '2^31'})`,
          { field },
        );
      }
    }
  });
}

/** Right-pad rows to the longest one (training layout). */
export function rightPadBatch(
  rows: readonly (readonly number[])[],
  padId: number,
  vocabSize?: number,
  field = 'ids',
): PaddedBatch {
  checkRows(rows, field, vocabSize);
  const R = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(R * T).fill(padId);
  const attentionMask = new Uint8Array(R * T);
  const positionIds = new Int32Array(R * T);
  rows.forEach((row, r) => {
    for (let t = 0; t < T; t++) positionIds[r * T + t] = t;
    row.forEach((id, t) => {
      ids[r * T + t] = id;
      attentionMask[r * T + t] = 1;
    });
  });
  return { rows: R, tokens: T, ids, attentionMask, positionIds, lengths: rows.map((r) => r.length) };
}

/** Left-pad rows to the longest one, positions = cumsum(mask) - 1 clamped at 0 (HF `generate`). */
export function leftPadBatch(
  rows: readonly (readonly number[])[],
  padId: number,
  vocabSize?: number,
  field = 'prompts',
): PaddedBatch {
  checkRows(rows, field, vocabSize);
  const R = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(R * T).fill(padId);
  const attentionMask = new Uint8Array(R * T);
  const positionIds = new Int32Array(R * T);
  rows.forEach((row, r) => {
    const offset = T - row.length;
    row.forEach((id, t) => {
      ids[r * T + offset + t] = id;
      attentionMask[r * T + offset + t] = 1;
      positionIds[r * T + offset + t] = t;
    });
  });
  return { rows: R, tokens: T, ids, attentionMask, positionIds, lengths: rows.map((r) => r.length) };
}

function checkGrid(grid: unknown, R: number, T: number, field: string): void {
  if (
    !Array.isArray(grid) ||
    grid.length !== R ||
    grid.some((r) => !Array.isArray(r) || r.length !== T || r.some((x) => !Number.isInteger(x)))
  ) {
    throw new InvalidArgumentError(
      'SHAPE_MISMATCH',
      `${field} must be ${R} rows of ${T} integers, like ids`,
      {
        field,
      },
    );
  }
}

/** A batch exactly as given: equal-length rows, optional mask (default all real) and positions (0..T-1). */
export function explicitBatch(
  input: {
    ids: readonly (readonly number[])[];
    attentionMask?: readonly (readonly number[])[];
    positionIds?: readonly (readonly number[])[];
  },
  vocabSize?: number,
): TokenBatch {
  checkRows(input.ids, 'ids', vocabSize);
  const R = input.ids.length;
  const T = (input.ids[0] as readonly number[]).length;
  checkGrid(input.ids, R, T, 'ids');
  if (input.attentionMask) checkGrid(input.attentionMask, R, T, 'attentionMask');
  if (input.positionIds) checkGrid(input.positionIds, R, T, 'positionIds');
  const ids = new Int32Array(R * T);
  const attentionMask = new Uint8Array(R * T).fill(1);
  const positionIds = new Int32Array(R * T);
  for (let r = 0; r < R; r++) {
    for (let t = 0; t < T; t++) {
      const i = r * T + t;
      ids[i] = input.ids[r]![t]!;
      if (input.attentionMask) attentionMask[i] = input.attentionMask[r]![t] !== 0 ? 1 : 0;
      positionIds[i] = input.positionIds ? input.positionIds[r]![t]! : t;
    }
  }
  return { rows: R, tokens: T, ids, attentionMask, positionIds };
}

/** Each row's real length from the mask of a right-padded batch (tokens after the last real one). */
export function rowLengths(batch: TokenBatch): number[] {
  const out: number[] = [];
  for (let r = 0; r < batch.rows; r++) {
    let n = 0;
    for (let t = 0; t < batch.tokens; t++) if (batch.attentionMask[r * batch.tokens + t]) n = t + 1;
    out.push(n);
  }
  return out;
}

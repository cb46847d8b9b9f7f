/** Core's token batches: right padding (training), left padding with HF positions (generation), explicit. */
import { describe, expect, it } from 'vitest';
import { explicitBatch, leftPadBatch, rightPadBatch, rowLengths } from './batch.js';

describe('rightPadBatch', () => {
  it('pads to the longest row with the pad id, mask 0 on pads, positions 0..T-1, lengths', () => {
    const b = rightPadBatch([[5, 6, 7], [8]], 1, 10);
    expect(b).toMatchObject({ rows: 2, tokens: 3, lengths: [3, 1] });
    expect([...b.ids]).toEqual([5, 6, 7, 8, 1, 1]);
    expect([...b.attentionMask]).toEqual([1, 1, 1, 1, 0, 0]);
    expect([...b.positionIds]).toEqual([0, 1, 2, 0, 1, 2]);
    expect(rowLengths(b)).toEqual([3, 1]);
  });

  it('a real token equal to the pad id stays real (padding is judged by length)', () => {
    const b = rightPadBatch(
      [
        [1, 1],
        [2, 1, 3],
      ],
      1,
    );
    expect([...b.attentionMask]).toEqual([1, 1, 0, 1, 1, 1]);
    expect(rowLengths(b)).toEqual([2, 3]);
  });

  it('rejects empty batches, empty rows and ids outside the vocabulary, naming the field', () => {
    expect(() => rightPadBatch([], 0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => rightPadBatch([[1], []], 0, undefined, 'selfIds')).toThrow(/selfIds: row 1 is empty/);
    expect(() => rightPadBatch([[1, 10]], 0, 10)).toThrow(/token id 10/);
    expect(() => rightPadBatch([[1, -1]], 0)).toThrow(/token id -1/);
    expect(() => rightPadBatch([[1, 1.5]], 0)).toThrow(/token id 1.5/);
  });
});

describe('leftPadBatch', () => {
  it('left-pads with cumsum(mask) - 1 positions (0 on pads), as HF generate', () => {
    const b = leftPadBatch([[5, 6, 7], [8]], 0, 10);
    expect(b).toMatchObject({ rows: 2, tokens: 3, lengths: [3, 1] });
    expect([...b.ids]).toEqual([5, 6, 7, 0, 0, 8]);
    expect([...b.attentionMask]).toEqual([1, 1, 1, 0, 0, 1]);
    expect([...b.positionIds]).toEqual([0, 1, 2, 0, 0, 0]);
  });
});

describe('explicitBatch', () => {
  it('takes ids, mask and positions as given; defaults all-real and 0..T-1', () => {
    const d = explicitBatch({
      ids: [
        [1, 2],
        [3, 4],
      ],
    });
    expect([...d.attentionMask]).toEqual([1, 1, 1, 1]);
    expect([...d.positionIds]).toEqual([0, 1, 0, 1]);
    const e = explicitBatch({ ids: [[1, 2]], attentionMask: [[0, 5]], positionIds: [[0, 7]] });
    expect([...e.attentionMask]).toEqual([0, 1]);
    expect([...e.positionIds]).toEqual([0, 7]);
  });

  it('rejects ragged rows and grids that do not match ids with SHAPE_MISMATCH', () => {
    expect(() => explicitBatch({ ids: [[1, 2], [3]] })).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    );
    expect(() => explicitBatch({ ids: [[1, 2]], attentionMask: [[1]] })).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH', field: 'attentionMask' }),
    );
    expect(() => explicitBatch({ ids: [[1, 2]], positionIds: [[0, 0.5]] })).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    );
    expect(() => explicitBatch({ ids: [[1, 100000]] }, 10)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

/** The training objectives as data: SOO pooling weights, next-token targets and weights, KL weights. */
import { describe, expect, it } from 'vitest';
import { rightPadBatch } from '../batch.js';
import { parseDecoderConfig } from '../config.js';
import { resolveHookPoint } from '../hooks.js';
import type { Pooling } from '../soo.js';
import { klObjective, lmObjective, sooObjective, sooPoolWeights } from './objectives.js';

describe('sooPoolWeights', () => {
  it('last: 1 on the last real position; mean: 1/len on real ones; full: null (elementwise)', () => {
    expect([...sooPoolWeights([3, 1], 3, 'last')!]).toEqual([0, 0, 1, 1, 0, 0]);
    const mean = sooPoolWeights([2, 4], 4, 'mean')!;
    expect([...mean]).toEqual([0.5, 0.5, 0, 0, 0.25, 0.25, 0.25, 0.25]);
    expect(sooPoolWeights([3, 1], 3, 'full')).toBeNull();
    expect(() => sooPoolWeights([1], 1, 'max' as Pooling)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('objectives', () => {
  const cfg = parseDecoderConfig({
    model_type: 'llama',
    vocab_size: 20,
    hidden_size: 8,
    intermediate_size: 8,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    max_position_embeddings: 32,
  });

  it('sooObjective: self and other rows in pairs, the pooling weights of the padded batch', () => {
    const hook = resolveHookPoint(cfg, 'model.layers.1.self_attn.o_proj');
    const b = rightPadBatch([[1, 2, 3], [4, 5], [6], [7, 8]], 0);
    const o = sooObjective(hook, b, 'last', 2);
    expect(o).toMatchObject({ kind: 'soo', hook, weight: 2 });
    expect([...(o as { poolWeights: Float32Array }).poolWeights]).toEqual([
      0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0,
    ]);
    expect(() => sooObjective(hook, rightPadBatch([[1], [2], [3]], 0), 'last')).toThrow(/pairs/);
  });

  it('lmObjective: position t predicts token t+1 of the same row; weights are the normalised mean', () => {
    const b = rightPadBatch(
      [
        [3, 4, 5],
        [6, 7],
      ],
      0,
    );
    const o = lmObjective(b) as { kind: 'lm'; targets: Int32Array; weights: Float32Array; weight: number };
    expect(o.kind).toBe('lm');
    expect(o.weight).toBe(1);
    expect([...o.targets]).toEqual([4, 5, 0, 7, 0, 0]);
    expect([...o.weights]).toEqual([1 / 3, 1 / 3, 0, 1 / 3, 0, 0].map(Math.fround));
    const w = lmObjective(b, 0.5, [[1, 3], [0]]) as typeof o;
    expect(w.weight).toBe(0.5);
    expect([...w.weights]).toEqual([0.25, 0.75, 0, 0, 0, 0]);
    expect(() => lmObjective(rightPadBatch([[1], [2]], 0))).toThrow(/no target/);
    expect(() => lmObjective(b, 1, [[-1, 1], [1]])).toThrow(
      expect.objectContaining({ field: 'targetWeights' }),
    );
    expect(() => lmObjective(b, 1, [[0, 0], [0]])).toThrow(/no target/);
  });

  it('klObjective: the mean over every real position', () => {
    const b = rightPadBatch([[3, 4, 5], [6]], 0);
    const o = klObjective(b, 0.7) as { kind: 'kl'; weights: Float32Array; weight: number };
    expect(o).toMatchObject({ kind: 'kl', weight: 0.7 });
    expect([...o.weights]).toEqual([0.25, 0.25, 0.25, 0.25, 0, 0]);
  });
});

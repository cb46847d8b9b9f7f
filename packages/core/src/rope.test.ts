/**
 * RoPE inverse frequencies for every rope type (the llama3 path is also covered end to end by the oracle
 * fixture llama3-rope-rslora): closed forms of transformers' `modeling_rope_utils.py`.
 */
import { describe, expect, it } from 'vitest';
import type { DecoderConfig, RopeScaling } from '@soo/core';
import { ropeFrequencies, roundToDtype } from './rope.js';

const config = (ropeScaling: RopeScaling): DecoderConfig =>
  ({ headDim: 8, ropeTheta: 10000, ropeScaling }) as unknown as DecoderConfig;
const base = [0, 1, 2, 3].map((i) => Math.fround(1 / Math.fround(Math.pow(10000, (2 * i) / 8))));

describe('ropeFrequencies', () => {
  it('default: 1 / theta^(2i/d), float32', () => {
    const f = ropeFrequencies(config({ type: 'default' }));
    expect([...f.invFreq]).toEqual(base);
    expect(f.attentionScaling).toBe(1);
  });

  it('linear: divided by the factor', () => {
    const f = ropeFrequencies(config({ type: 'linear', factor: 4 }));
    expect([...f.invFreq]).toEqual(base.map((x) => Math.fround(x / 4)));
  });

  it('dynamic: unchanged within the original context, a larger base past it', () => {
    const s: RopeScaling = { type: 'dynamic', factor: 2, originalMaxPositionEmbeddings: 16 };
    expect([...ropeFrequencies(config(s), 16).invFreq]).toEqual(base);
    const grown = ropeFrequencies(config(s), 64).invFreq;
    expect(grown[0]).toBe(1);
    expect(grown[3] as number).toBeLessThan(base[3] as number);
  });

  it('llama3: long wavelengths divided by the factor, medium ones blended', () => {
    const s: RopeScaling = {
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 16,
    };
    const f = ropeFrequencies(config(s)).invFreq;
    // Wavelength 2 pi lies between 16 / 4 and 16: the smooth blend (1 - s) x / 8 + s x, s = (16 / 2 pi - 1) / 3.
    const smooth = (16 / (2 * Math.PI) - 1) / 3;
    expect(f[0] as number).toBeCloseTo((1 - smooth) / 8 + smooth, 6);
    expect(f[3]).toBe(Math.fround((base[3] as number) / 8)); // wavelength ~6283 > 16: divided
  });

  it('yarn: attention factor 0.1 ln(factor) + 1 by default, frequencies between interpolated and extrapolated', () => {
    const s: RopeScaling = {
      type: 'yarn',
      factor: 4,
      originalMaxPositionEmbeddings: 32,
      betaFast: 32,
      betaSlow: 1,
      attentionFactor: null,
    };
    const f = ropeFrequencies(config(s));
    expect(f.attentionScaling).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
    f.invFreq.forEach((x, i) => {
      expect(x).toBeLessThanOrEqual((base[i] as number) * (1 + 1e-6));
      expect(x).toBeGreaterThanOrEqual((base[i] as number) / 4 / (1 + 1e-6));
    });
  });

  it('bf16 buffers round the frequencies (a bf16 checkpoint loaded in its dtype)', () => {
    const f = ropeFrequencies(config({ type: 'default' }), 0, 'bfloat16');
    expect([...f.invFreq]).toEqual(base.map((x) => roundToDtype(x, 'bfloat16')));
  });
});

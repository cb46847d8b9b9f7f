import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseExperimentConfig } from './config.js';

const file = path.join('/exp', 'paper.json');
const parse = (json: unknown) => parseExperimentConfig(json, file);

describe('parseExperimentConfig', () => {
  it('fills the defaults and resolves paths against the file', () => {
    const c = parse({ model: 'models/tiny', train: { pairs: 'p.jsonl', dropout: 0.05 } });
    expect(c).toMatchObject({
      name: 'paper',
      model: '/exp/models/tiny',
      arms: ['soo', 'none'],
      seeds: [0],
      train: { pairs: '/exp/p.jsonl', dropout: 0.05 },
      eval: { scenarios: ['main'], n: 250, maxNewTokens: 75, suffix: 'none', seed: 0, batch: 8 },
      latent: { modules: 'all', pooling: 'full' },
      capability: { maxTokens: 2048 },
    });
    expect(parse({ model: 'm', latent: false, capability: false, arms: null })).toMatchObject({
      latent: false,
      capability: false,
      arms: ['soo', 'none'],
    });
  });

  it.each([
    [[1], /paper\.json: expected a JSON object, got array \[1\]/],
    [{}, /paper\.json: model: expected a non-empty string, got nothing/],
    [{ model: 'm', arms: ['soo', 'sham'] }, /arms\[1\]: expected soo \| exposure \| none, got string "sham"/],
    [{ model: 'm', arms: [] }, /arms: expected a non-empty array of soo \| exposure \| none, got array \[\]/],
    [{ model: 'm', seeds: [1, 1] }, /seeds: expected distinct seeds, got array \[1,1\]/],
    [{ model: 'm', seeds: [1.5] }, /seeds\[0\]: expected an integer, got number 1.5/],
    [{ model: 'm', train: { dropout: 1 } }, /train\.dropout: expected a number in \[0, 1\), got number 1/],
    [{ model: 'm', train: { pooling: 'max' } }, /train\.pooling: expected .*last.*, got string "max"/],
    [{ model: 'm', train: 3 }, /train: expected an object, got number 3/],
    [{ model: 'm', eval: { n: 0 } }, /eval\.n: expected an integer >= 1, got number 0/],
    [{ model: 'm', eval: { suffix: 'klingon' } }, /eval\.suffix: expected .*none.*, got string "klingon"/],
    [{ model: 'm', latent: 'yes' }, /latent: expected an object or false, got string "yes"/],
    [{ model: 'm', modle: 'x' }, /modle: unknown field; expected one of name, model,/],
  ])('%j fails naming the file and field', (json, message) => {
    expect(() => parse(json)).toThrow(message);
    try {
      parse(json);
    } catch (e) {
      expect(e).toMatchObject({ code: 'DATA_INVALID', file });
    }
  });
});

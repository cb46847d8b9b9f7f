import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDecoderConfig, parseDecoderConfig } from './config.js';
import type { DecoderConfig } from './config-types.js';
import type { SooError } from './errors.js';
import { FormatError, NotFoundError, UnsupportedError, type SooErrorCode } from './errors.js';
import { FIXTURE_ARCHS, hfTinyDir, hfTinyExtraDirs, fixtureConfigPath } from './testing/fixtures.js';

const HUB_V4 = 'config.hub-v4.json';

const FIXTURES: Array<[string, string]> = [
  ...FIXTURE_ARCHS.map((a): [string, string] => [a, hfTinyDir(a)]),
  ...hfTinyExtraDirs(),
];

function paperConfig(name: string): string {
  return fixtureConfigPath(name);
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

/** Everything but `raw`, which is the file as read and so differs between formats. */
function normalised(c: DecoderConfig): Omit<DecoderConfig, 'raw'> {
  const { raw: _raw, ...rest } = c;
  return rest;
}

/** Run `fn`, expect a SooError of `cls` with `code`; return it for further checks. */
function expectSooError(
  fn: () => unknown,
  cls: new (...a: never[]) => SooError,
  code: SooErrorCode,
): SooError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    expect((e as SooError).code).toBe(code);
    return e as SooError;
  }
  throw new Error(`expected ${cls.name} ${code}, nothing was thrown`);
}

async function expectSooErrorAsync(
  p: Promise<unknown>,
  cls: new (...a: never[]) => SooError,
  code: SooErrorCode,
): Promise<SooError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    expect((e as SooError).code).toBe(code);
    return e as SooError;
  }
  throw new Error(`expected ${cls.name} ${code}, nothing was thrown`);
}

describe('both config formats normalise identically', () => {
  it.each(FIXTURES)('%s: config.json and config.hub-v4.json', async (_label, dir) => {
    const v5 = await loadDecoderConfig(dir);
    const v4 = await loadDecoderConfig(dir, { configFileName: HUB_V4 });
    expect(normalised(v4)).toEqual(normalised(v5));
    // The formats really are different files.
    expect(v5.raw).toHaveProperty('rope_parameters');
    expect(v4.raw).toHaveProperty('rope_theta');
    expect(v5.raw).toHaveProperty('dtype');
    expect(v4.raw).toHaveProperty('torch_dtype');
    expect(v5.layerTypes).toHaveLength(v5.numLayers);
  });

  it('accepts a config file path as well as a folder', async () => {
    const dir = hfTinyDir('llama');
    const fromDir = await loadDecoderConfig(dir);
    expect(await loadDecoderConfig(path.join(dir, 'config.json'))).toEqual(fromDir);
    expect(normalised(await loadDecoderConfig(path.join(dir, HUB_V4)))).toEqual(normalised(fromDir));
  });
});

describe('fixture values', () => {
  it('gemma2: sliding pattern, scale, soft-capping, norms, embeddings', async () => {
    for (const file of ['config.json', HUB_V4]) {
      const c = await loadDecoderConfig(hfTinyDir('gemma2'), { configFileName: file });
      expect(c.modelType).toBe('gemma2');
      expect(c.layerTypes).toEqual([
        'sliding_attention',
        'full_attention',
        'sliding_attention',
        'full_attention',
      ]);
      expect(c.slidingWindow).toBe(4);
      expect(c.attentionScale).toBe(0.25);
      expect(c.embeddingMultiplier).toBe(8);
      expect(c.attnLogitSoftcapping).toBe(50);
      expect(c.finalLogitSoftcapping).toBe(30);
      expect(c.normStyle).toBe('gemma');
      expect(c.sandwichNorms).toBe(true);
      expect(c.activation).toBe('gelu_pytorch_tanh');
      expect(c.tieWordEmbeddings).toBe(true);
      expect(c.headDim).toBe(16);
      expect(c.numKvHeads).toBe(2);
      expect([c.bosTokenId, c.eosTokenIds, c.padTokenId]).toEqual([2, [1], 0]);
    }
  });

  it('llama3 rope scaling', async () => {
    const [, dir] = hfTinyExtraDirs().find(([label]) => label === 'llama3-rope-rslora')!;
    for (const file of ['config.json', HUB_V4]) {
      const c = await loadDecoderConfig(dir, { configFileName: file });
      expect(c.ropeTheta).toBe(500000);
      expect(c.ropeScaling).toEqual({
        type: 'llama3',
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 16,
      });
    }
  });

  it('llama defaults: no biases, standard norms, attention scale 1/sqrt(head_dim)', async () => {
    const c = await loadDecoderConfig(hfTinyDir('llama'));
    expect(c).toMatchObject({
      qkvBias: false,
      oProjBias: false,
      mlpBias: false,
      normStyle: 'standard',
      sandwichNorms: false,
      embeddingMultiplier: 1,
      attnLogitSoftcapping: null,
      finalLogitSoftcapping: null,
      attentionScale: 0.25,
      slidingWindow: null,
      ropeScaling: { type: 'default' },
      ropeTheta: 500000,
      tieWordEmbeddings: false,
      activation: 'silu',
      dtype: 'float32',
      rmsNormEps: 1e-5,
    });
    expect(c.layerTypes.every((t) => t === 'full_attention')).toBe(true);
  });

  it('qwen2: q/k/v biases, no o_proj bias, tied, null bos, head_dim from hidden/heads', async () => {
    const c = await loadDecoderConfig(hfTinyDir('qwen2'), { configFileName: HUB_V4 });
    expect(c).toMatchObject({
      qkvBias: true,
      oProjBias: false,
      mlpBias: false,
      tieWordEmbeddings: true,
      bosTokenId: null,
      headDim: 16,
    });
    expect(c.eosTokenIds).toEqual([2]);
    expect(c.slidingWindow).toBeNull();
  });

  it('mistral sliding window: every layer slides', async () => {
    const [, dir] = hfTinyExtraDirs().find(([label]) => label === 'mistral-sliding-window')!;
    const c = await loadDecoderConfig(dir, { configFileName: HUB_V4 });
    expect(c.slidingWindow).toBe(6);
    expect(c.layerTypes).toEqual(Array(4).fill('sliding_attention'));
    const plain = await loadDecoderConfig(hfTinyDir('mistral'));
    expect(plain.slidingWindow).toBeNull();
    expect(plain.layerTypes).toEqual(Array(4).fill('full_attention'));
  });

  it('bf16 checkpoint: dtype from dtype and torch_dtype', async () => {
    const [, dir] = hfTinyExtraDirs().find(([label]) => label === 'mistral-bf16-sharded')!;
    expect((await loadDecoderConfig(dir)).dtype).toBe('bfloat16');
    expect((await loadDecoderConfig(dir, { configFileName: HUB_V4 })).dtype).toBe('bfloat16');
  });
});

describe('paper configs', () => {
  it('Mistral-7B-Instruct-v0.2', async () => {
    const c = await loadDecoderConfig(paperConfig('mistral-7b-instruct-v0.2.json'));
    expect(c).toMatchObject({
      modelType: 'mistral',
      numLayers: 32,
      hiddenSize: 4096,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 128,
      slidingWindow: null,
      ropeTheta: 1e6,
      dtype: 'bfloat16',
      tieWordEmbeddings: false,
    });
    expect(c.layerTypes.every((t) => t === 'full_attention')).toBe(true);
  });

  it('Gemma-2-27b-it', async () => {
    const c = await loadDecoderConfig(paperConfig('gemma-2-27b-it.json'));
    expect(c).toMatchObject({
      modelType: 'gemma2',
      numLayers: 46,
      headDim: 128,
      numKvHeads: 16,
      slidingWindow: 4096,
      tieWordEmbeddings: true,
    });
    expect(c.attentionScale).toBeCloseTo(1 / 12, 15);
    expect(c.embeddingMultiplier).toBe(Math.sqrt(4608));
    expect(c.layerTypes).toHaveLength(46);
    expect(c.layerTypes.filter((t) => t === 'sliding_attention')).toHaveLength(23);
    expect(c.layerTypes[0]).toBe('sliding_attention');
    expect(c.layerTypes[45]).toBe('full_attention');
  });

  it('CalmeRys-78B shape (qwen2, use_sliding_window false)', async () => {
    const c = await loadDecoderConfig(paperConfig('calmerys-78b-shape.json'));
    expect(c).toMatchObject({
      modelType: 'qwen2',
      numLayers: 86,
      numKvHeads: 8,
      headDim: 128,
      qkvBias: true,
      oProjBias: false,
      slidingWindow: null,
    });
    expect(c.layerTypes.every((t) => t === 'full_attention')).toBe(true);
  });
});

describe('derivations from transformers-4 style configs', () => {
  let llama: Record<string, unknown>;
  let qwen2: Record<string, unknown>;
  let gemma2: Record<string, unknown>;
  let mistral: Record<string, unknown>;
  beforeAll(async () => {
    llama = await readJson(path.join(hfTinyDir('llama'), HUB_V4));
    qwen2 = await readJson(path.join(hfTinyDir('qwen2'), HUB_V4));
    gemma2 = await readJson(path.join(hfTinyDir('gemma2'), HUB_V4));
    mistral = await readJson(path.join(hfTinyDir('mistral'), HUB_V4));
  });

  it('qwen2 sliding window only with use_sliding_window, from max_window_layers on', () => {
    const on = parseDecoderConfig({
      ...qwen2,
      use_sliding_window: true,
      sliding_window: 8,
      max_window_layers: 2,
    });
    expect(on.layerTypes).toEqual([
      'full_attention',
      'full_attention',
      'sliding_attention',
      'sliding_attention',
    ]);
    expect(on.slidingWindow).toBe(8);
    const off = parseDecoderConfig({
      ...qwen2,
      use_sliding_window: false,
      sliding_window: 8,
      max_window_layers: 2,
    });
    expect(off.layerTypes).toEqual(Array(4).fill('full_attention'));
    expect(off.slidingWindow).toBeNull();
    // transformers 5 states layer_types; it wins.
    const stated = parseDecoderConfig({
      ...qwen2,
      use_sliding_window: true,
      sliding_window: 8,
      layer_types: ['sliding_attention', 'full_attention', 'full_attention', 'full_attention'],
    });
    expect(stated.layerTypes[0]).toBe('sliding_attention');
  });

  it('rope_scaling spellings: `type` and `rope_type`, linear, dynamic, yarn', () => {
    const base = { ...llama, rope_theta: 10000 };
    expect(parseDecoderConfig({ ...base, rope_scaling: { type: 'linear', factor: 2 } }).ropeScaling).toEqual({
      type: 'linear',
      factor: 2,
    });
    expect(
      parseDecoderConfig({ ...base, rope_scaling: { rope_type: 'dynamic', factor: 4 } }).ropeScaling,
    ).toEqual({
      type: 'dynamic',
      factor: 4,
      originalMaxPositionEmbeddings: 256,
    });
    expect(
      parseDecoderConfig({
        ...base,
        rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 64 },
      }).ropeScaling,
    ).toEqual({
      type: 'yarn',
      factor: 4,
      originalMaxPositionEmbeddings: 64,
      betaFast: 32,
      betaSlow: 1,
      attentionFactor: null,
    });
    const v5Yarn = parseDecoderConfig({
      ...llama,
      rope_theta: undefined,
      rope_parameters: {
        rope_type: 'yarn',
        rope_theta: 10000,
        factor: 4,
        beta_fast: 16,
        attention_factor: 1.2,
      },
    });
    expect(v5Yarn.ropeScaling).toEqual({
      type: 'yarn',
      factor: 4,
      originalMaxPositionEmbeddings: 256,
      betaFast: 16,
      betaSlow: 1,
      attentionFactor: 1.2,
    });
    expect(v5Yarn.ropeTheta).toBe(10000);
    // llama3 without original_max_position_embeddings: transformers 5 standardises it to max_position_embeddings.
    const l3 = parseDecoderConfig({
      ...base,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 },
    });
    expect(l3.ropeScaling).toMatchObject({ type: 'llama3', originalMaxPositionEmbeddings: 256 });
    expect(parseDecoderConfig({ ...base, rope_scaling: null }).ropeScaling).toEqual({ type: 'default' });
  });

  it('defaults: head_dim, num_key_value_heads, tie_word_embeddings, biases, eos lists', () => {
    const { head_dim: _h, num_key_value_heads: _k, tie_word_embeddings: _t, ...sparse } = llama;
    const c = parseDecoderConfig(sparse);
    expect(c.headDim).toBe(16);
    expect(c.numKvHeads).toBe(4);
    expect(c.tieWordEmbeddings).toBe(false);
    expect(parseDecoderConfig({ ...llama, num_key_value_heads: null }).numKvHeads).toBe(4);

    const { tie_word_embeddings: _gt, ...gemmaNoTie } = gemma2;
    expect(parseDecoderConfig(gemmaNoTie).tieWordEmbeddings).toBe(true);
    const { tie_word_embeddings: _qt, ...qwenNoTie } = qwen2;
    expect(parseDecoderConfig(qwenNoTie).tieWordEmbeddings).toBe(false);

    expect(parseDecoderConfig({ ...llama, attention_bias: true, mlp_bias: true })).toMatchObject({
      qkvBias: true,
      oProjBias: true,
      mlpBias: true,
    });
    expect(parseDecoderConfig({ ...gemma2, attention_bias: true })).toMatchObject({
      qkvBias: true,
      oProjBias: true,
      mlpBias: false,
    });
    // MistralAttention has no biases whatever the config says.
    expect(parseDecoderConfig({ ...mistral, attention_bias: true })).toMatchObject({
      qkvBias: false,
      oProjBias: false,
    });

    expect(parseDecoderConfig({ ...llama, eos_token_id: [4, 7] }).eosTokenIds).toEqual([4, 7]);
    expect(parseDecoderConfig({ ...llama, eos_token_id: null }).eosTokenIds).toEqual([]);
  });

  it('gemma2 activation: hidden_activation, else hidden_act', () => {
    const { hidden_activation: _a, ...noHiddenActivation } = gemma2;
    expect(parseDecoderConfig({ ...noHiddenActivation, hidden_act: 'gelu' }).activation).toBe('gelu');
    expect(parseDecoderConfig({ ...gemma2, hidden_act: 'gelu' }).activation).toBe('gelu_pytorch_tanh');
    expect(parseDecoderConfig(noHiddenActivation).activation).toBe('gelu_pytorch_tanh');
    expect(parseDecoderConfig({ ...gemma2, attn_logit_softcapping: null }).attnLogitSoftcapping).toBeNull();
  });

  it('mistral sliding_window non-null: all layers sliding', () => {
    const c = parseDecoderConfig({ ...mistral, sliding_window: 4096 });
    expect(c.layerTypes).toEqual(Array(4).fill('sliding_attention'));
    expect(c.slidingWindow).toBe(4096);
  });
});

describe('errors', () => {
  let llama: Record<string, unknown>;
  let gemma2v5: Record<string, unknown>;
  let llamaV5: Record<string, unknown>;
  let tmp: string;
  const FILE = '/models/x/config.json';
  beforeAll(async () => {
    llama = await readJson(path.join(hfTinyDir('llama'), HUB_V4));
    gemma2v5 = await readJson(path.join(hfTinyDir('gemma2'), 'config.json'));
    llamaV5 = await readJson(path.join(hfTinyDir('llama'), 'config.json'));
    tmp = await mkdtemp(path.join(tmpdir(), 'soo-config-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** [label, mutated config, error class, code, field]. */
  const cases: Array<
    [string, () => unknown, new (...a: never[]) => SooError, SooErrorCode, string | undefined]
  > = [
    ['top level is an array', () => [], FormatError, 'CONFIG_JSON', undefined],
    [
      'missing model_type',
      () => ({ ...llama, model_type: undefined }),
      FormatError,
      'CONFIG_FIELD',
      'model_type',
    ],
    [
      'unknown model_type',
      () => ({ ...llama, model_type: 'gpt2' }),
      UnsupportedError,
      'CONFIG_UNSUPPORTED_MODEL_TYPE',
      'model_type',
    ],
    [
      'hidden_size as a string',
      () => ({ ...llama, hidden_size: '64' }),
      FormatError,
      'CONFIG_FIELD',
      'hidden_size',
    ],
    [
      'missing vocab_size',
      () => ({ ...llama, vocab_size: undefined }),
      FormatError,
      'CONFIG_FIELD',
      'vocab_size',
    ],
    [
      'zero layers',
      () => ({ ...llama, num_hidden_layers: 0 }),
      FormatError,
      'CONFIG_FIELD',
      'num_hidden_layers',
    ],
    [
      'fractional intermediate_size',
      () => ({ ...llama, intermediate_size: 12.5 }),
      FormatError,
      'CONFIG_FIELD',
      'intermediate_size',
    ],
    [
      'kv heads not dividing heads',
      () => ({ ...llama, num_key_value_heads: 3 }),
      FormatError,
      'CONFIG_FIELD',
      'num_key_value_heads',
    ],
    [
      'hidden not divisible by heads without head_dim',
      () => ({ ...llama, head_dim: undefined, hidden_size: 66 }),
      FormatError,
      'CONFIG_FIELD',
      'hidden_size',
    ],
    [
      'negative rms_norm_eps',
      () => ({ ...llama, rms_norm_eps: -1 }),
      FormatError,
      'CONFIG_FIELD',
      'rms_norm_eps',
    ],
    [
      'tie_word_embeddings as a string',
      () => ({ ...llama, tie_word_embeddings: 'yes' }),
      FormatError,
      'CONFIG_FIELD',
      'tie_word_embeddings',
    ],
    [
      'rope_scaling not an object',
      () => ({ ...llama, rope_scaling: 5 }),
      FormatError,
      'CONFIG_FIELD',
      'rope_scaling',
    ],
    [
      'unsupported rope type',
      () => ({ ...llama, rope_scaling: { rope_type: 'longrope', factor: 2 } }),
      UnsupportedError,
      'CONFIG_UNSUPPORTED_OPTION',
      'rope_scaling.rope_type',
    ],
    [
      'llama3 without factor',
      () => ({ ...llama, rope_scaling: { rope_type: 'llama3', low_freq_factor: 1, high_freq_factor: 4 } }),
      FormatError,
      'CONFIG_FIELD',
      'rope_scaling.factor',
    ],
    [
      'llama3 ill-typed low_freq_factor',
      () => ({
        ...llamaV5,
        rope_parameters: { rope_type: 'llama3', factor: 8, low_freq_factor: 'one', high_freq_factor: 4 },
      }),
      FormatError,
      'CONFIG_FIELD',
      'rope_parameters.low_freq_factor',
    ],
    [
      'linear without factor',
      () => ({ ...llama, rope_scaling: { type: 'linear' } }),
      FormatError,
      'CONFIG_FIELD',
      'rope_scaling.factor',
    ],
    [
      'partial rotary factor',
      () => ({ ...llama, partial_rotary_factor: 0.5 }),
      UnsupportedError,
      'CONFIG_UNSUPPORTED_OPTION',
      'partial_rotary_factor',
    ],
    [
      'layer_types too short',
      () => ({ ...gemma2v5, layer_types: ['full_attention'] }),
      FormatError,
      'CONFIG_FIELD',
      'layer_types',
    ],
    [
      'layer_types with an unknown type',
      () => ({
        ...gemma2v5,
        layer_types: ['sliding_attention', 'global', 'sliding_attention', 'full_attention'],
      }),
      FormatError,
      'CONFIG_FIELD',
      'layer_types[1]',
    ],
    [
      'sliding layers without a window',
      () => ({ ...gemma2v5, sliding_window: null }),
      FormatError,
      'CONFIG_FIELD',
      'sliding_window',
    ],
    [
      'eos list with a string',
      () => ({ ...llama, eos_token_id: [1, 'x'] }),
      FormatError,
      'CONFIG_FIELD',
      'eos_token_id[1]',
    ],
    ['negative bos', () => ({ ...llama, bos_token_id: -1 }), FormatError, 'CONFIG_FIELD', 'bos_token_id'],
    [
      'unsupported dtype',
      () => ({ ...llama, torch_dtype: 'int8' }),
      UnsupportedError,
      'CONFIG_UNSUPPORTED_OPTION',
      'torch_dtype',
    ],
    ['dtype not a string', () => ({ ...gemma2v5, dtype: 32 }), FormatError, 'CONFIG_FIELD', 'dtype'],
    [
      'unsupported activation',
      () => ({ ...llama, hidden_act: 'relu' }),
      UnsupportedError,
      'CONFIG_UNSUPPORTED_OPTION',
      'hidden_act',
    ],
    [
      'per-layer-type rope parameters',
      () => ({
        ...gemma2v5,
        rope_parameters: {
          full_attention: { rope_type: 'default' },
          sliding_attention: { rope_type: 'default' },
        },
      }),
      UnsupportedError,
      'CONFIG_UNSUPPORTED_OPTION',
      'rope_parameters',
    ],
    [
      'llama with sliding layer_types',
      () => ({
        ...llama,
        layer_types: ['sliding_attention', 'full_attention', 'full_attention', 'full_attention'],
      }),
      UnsupportedError,
      'CONFIG_UNSUPPORTED_OPTION',
      'layer_types',
    ],
  ];

  it.each(cases)('%s', (_label, make, cls, code, field) => {
    // JSON round trip drops the `undefined` keys the cases use to delete fields.
    const json = JSON.parse(JSON.stringify(make())) as unknown;
    const err = expectSooError(() => parseDecoderConfig(json, FILE), cls, code);
    expect(err.file).toBe(FILE);
    expect(err.message).toContain(FILE);
    if (field !== undefined) {
      expect(err.field).toBe(field);
      expect(err.message).toContain(field);
    }
  });

  it('messages say what was expected', () => {
    const e1 = expectSooError(
      () => parseDecoderConfig({ ...llama, hidden_size: '64' }, FILE),
      FormatError,
      'CONFIG_FIELD',
    );
    expect(e1.message).toBe(`${FILE}: hidden_size: expected a positive integer, got string "64"`);
    const e2 = expectSooError(
      () => parseDecoderConfig({ ...llama, model_type: 'gpt2' }, FILE),
      UnsupportedError,
      'CONFIG_UNSUPPORTED_MODEL_TYPE',
    );
    for (const t of ['llama', 'mistral', 'gemma2', 'qwen2']) expect(e2.message).toContain(t);
    const { vocab_size: _v, ...noVocab } = llama;
    const e3 = expectSooError(() => parseDecoderConfig(noVocab), FormatError, 'CONFIG_FIELD');
    expect(e3.message).toBe('vocab_size: expected a positive integer, got nothing (the field is missing)');
  });

  it('missing folder or file: FILE_NOT_FOUND', async () => {
    const missing = path.join(tmp, 'no-such-model');
    const e1 = await expectSooErrorAsync(loadDecoderConfig(missing), NotFoundError, 'FILE_NOT_FOUND');
    expect(e1.message).toContain(missing);
    const e2 = await expectSooErrorAsync(loadDecoderConfig(tmp), NotFoundError, 'FILE_NOT_FOUND');
    expect(e2.file).toBe(path.join(tmp, 'config.json'));
    await expectSooErrorAsync(
      loadDecoderConfig(hfTinyDir('llama'), { configFileName: 'config.nope.json' }),
      NotFoundError,
      'FILE_NOT_FOUND',
    );
  });

  it('bad JSON: CONFIG_JSON naming the file', async () => {
    const file = path.join(tmp, 'config.json');
    await writeFile(file, '{"model_type": "llama", ');
    const e = await expectSooErrorAsync(loadDecoderConfig(tmp), FormatError, 'CONFIG_JSON');
    expect(e.file).toBe(file);
    expect(e.message).toContain(file);
    await writeFile(file, '"llama"');
    await expectSooErrorAsync(loadDecoderConfig(file), FormatError, 'CONFIG_JSON');
  });
});

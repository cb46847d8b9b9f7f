import { open, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDecoderConfig } from './config.js';
import {
  expectedWeights,
  expectedWeightShapes,
  NF4_BLOCK_SIZE,
  parameterBreakdown,
  parameterCount,
  weightBytes,
} from './model-info.js';
import { FIXTURE_ARCHS, hfTinyDir, hfTinyExtraDirs, fixtureConfigPath } from './testing/fixtures.js';

const FIXTURES: Array<[string, string]> = [
  ...FIXTURE_ARCHS.map((a): [string, string] => [a, hfTinyDir(a)]),
  ...hfTinyExtraDirs(),
];

function paperConfig(name: string): string {
  return fixtureConfigPath(name);
}

/** Tensor name -> shape from a safetensors header (8-byte little-endian length, then JSON). */
async function safetensorsShapes(file: string): Promise<Map<string, number[]>> {
  const fh = await open(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const len = Number(lenBuf.readBigUInt64LE(0));
    const headerBuf = Buffer.alloc(len);
    await fh.read(headerBuf, 0, len, 8);
    const header = JSON.parse(headerBuf.toString('utf8')) as Record<string, { shape?: number[] }>;
    const out = new Map<string, number[]>();
    for (const [name, info] of Object.entries(header)) {
      if (name !== '__metadata__') out.set(name, info.shape ?? []);
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** All tensors of a model folder: `model.safetensors`, or the shards listed by `model.safetensors.index.json`. */
async function checkpointShapes(dir: string): Promise<Map<string, number[]>> {
  let files: string[];
  try {
    const index = JSON.parse(await readFile(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as {
      weight_map: Record<string, string>;
    };
    files = [...new Set(Object.values(index.weight_map))];
  } catch {
    files = ['model.safetensors'];
  }
  const out = new Map<string, number[]>();
  for (const f of files) for (const [k, v] of await safetensorsShapes(path.join(dir, f))) out.set(k, v);
  return out;
}

const sorted = (m: Map<string, number[]>): Array<[string, number[]]> =>
  [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);

describe('expectedWeightShapes matches the checkpoints', () => {
  it.each(FIXTURES)('%s', async (_label, dir) => {
    const config = await loadDecoderConfig(dir);
    const actual = await checkpointShapes(dir);
    expect(sorted(expectedWeightShapes(config))).toEqual(sorted(actual));
    let total = 0;
    for (const s of actual.values()) total += numel(s);
    expect(parameterCount(config)).toBe(total);
    // Same result from the transformers-4 config.
    const v4 = await loadDecoderConfig(dir, { configFileName: 'config.hub-v4.json' });
    expect(sorted(expectedWeightShapes(v4))).toEqual(sorted(actual));
  });

  it('tied checkpoints have no lm_head.weight; the names follow state-dict order', async () => {
    const gemma = await loadDecoderConfig(hfTinyDir('gemma2'));
    const names = expectedWeights(gemma).map((w) => w.name);
    expect(names).not.toContain('lm_head.weight');
    expect(names[0]).toBe('model.embed_tokens.weight');
    expect(names.at(-1)).toBe('model.norm.weight');
    expect(names.slice(1, 12)).toEqual([
      'model.layers.0.self_attn.q_proj.weight',
      'model.layers.0.self_attn.k_proj.weight',
      'model.layers.0.self_attn.v_proj.weight',
      'model.layers.0.self_attn.o_proj.weight',
      'model.layers.0.mlp.gate_proj.weight',
      'model.layers.0.mlp.up_proj.weight',
      'model.layers.0.mlp.down_proj.weight',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.post_attention_layernorm.weight',
      'model.layers.0.pre_feedforward_layernorm.weight',
      'model.layers.0.post_feedforward_layernorm.weight',
    ]);
    const qwen = await loadDecoderConfig(hfTinyDir('qwen2'));
    const shapes = expectedWeightShapes(qwen);
    expect(shapes.get('model.layers.0.self_attn.q_proj.bias')).toEqual([64]);
    expect(shapes.get('model.layers.0.self_attn.k_proj.bias')).toEqual([32]);
    expect(shapes.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
  });

  it('sharded index metadata agrees: total_parameters and bf16 total_size', async () => {
    const [, dir] = hfTinyExtraDirs().find(([label]) => label === 'mistral-bf16-sharded')!;
    const index = JSON.parse(await readFile(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as {
      metadata: { total_parameters: number; total_size: number };
    };
    const config = await loadDecoderConfig(dir);
    expect(parameterCount(config)).toBe(index.metadata.total_parameters);
    expect(weightBytes(config, 'bfloat16')).toBe(index.metadata.total_size);
  });
});

describe('paper models', () => {
  it('Mistral-7B-Instruct-v0.2: 7,241,732,096 parameters', async () => {
    const c = await loadDecoderConfig(paperConfig('mistral-7b-instruct-v0.2.json'));
    expect(parameterCount(c)).toBe(7_241_732_096);
    const b = parameterBreakdown(c);
    expect(b.embedding).toBe(32000 * 4096);
    expect(b.lmHead).toBe(32000 * 4096);
    expect(b.perLayer).toEqual({
      attention: 2 * 4096 * 4096 + 2 * 4096 * 1024,
      mlp: 3 * 4096 * 14336,
      norms: 2 * 4096,
      total: 218_112_000,
    });
    expect(b.total).toBe(7_241_732_096);
  });

  it('Gemma-2-27b-it: 27.2 B (tied embeddings, four norms per block)', async () => {
    const c = await loadDecoderConfig(paperConfig('gemma-2-27b-it.json'));
    const n = parameterCount(c);
    expect(n).toBe(27_227_128_320);
    expect(Math.round(n / 1e8) / 10).toBe(27.2);
    const b = parameterBreakdown(c);
    expect(b.lmHead).toBe(0);
    expect(b.perLayer.norms).toBe(4 * 4608);
  });

  it('CalmeRys-78B shape: ~78 B (Qwen2-72B with 86 layers)', async () => {
    const c = await loadDecoderConfig(paperConfig('calmerys-78b-shape.json'));
    const n = parameterCount(c);
    expect(n).toBe(77_972_312_064);
    expect(Math.round(n / 1e9)).toBe(78);
    // q/k/v biases: 8192 + 1024 + 1024 per layer.
    expect(parameterBreakdown(c).perLayer.attention).toBe(
      8192 * 8192 * 2 + 8192 * 1024 * 2 + 8192 + 1024 + 1024,
    );
  });

  it('breakdown parts add up to the total for every fixture', async () => {
    for (const [, dir] of FIXTURES) {
      const c = await loadDecoderConfig(dir);
      const b = parameterBreakdown(c);
      expect(b.embedding + b.attention + b.mlp + b.norms + b.lmHead).toBe(parameterCount(c));
      expect(b.perLayer.total * c.numLayers + b.embedding + b.lmHead + c.hiddenSize).toBe(b.total);
    }
  });
});

describe('weightBytes', () => {
  it('dense dtypes are element size x parameter count', async () => {
    const c = await loadDecoderConfig(paperConfig('mistral-7b-instruct-v0.2.json'));
    expect(weightBytes(c, 'float32')).toBe(4 * 7_241_732_096);
    expect(weightBytes(c, 'bfloat16')).toBe(2 * 7_241_732_096);
    expect(weightBytes(c, 'float16')).toBe(2 * 7_241_732_096);
  });

  it('int4: NF4 block Linears at 0.5 byte + a float32 absmax per 64 weights; the rest bf16', async () => {
    const c = await loadDecoderConfig(paperConfig('mistral-7b-instruct-v0.2.json'));
    const linearPerLayer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336;
    const linear = 32 * linearPerLayer;
    const rest = 7_241_732_096 - linear;
    const expected = linear / 2 + (linear / NF4_BLOCK_SIZE) * 4 + rest * 2;
    expect(weightBytes(c, 'int4')).toBe(expected);
    expect(expected).toBe(4_450_689_024);
    // Double quantisation: one byte per block plus a float32 per 256 blocks.
    const dq = weightBytes(c, 'int4', { doubleQuant: true });
    expect(dq).toBeLessThan(expected);
    expect(dq).toBe(linear / 2 + linear / NF4_BLOCK_SIZE + dqScales(c) + rest * 2);
  });

  it('int4 keeps Linear biases in bf16 (CalmeRys q/k/v biases)', async () => {
    const c = await loadDecoderConfig(paperConfig('calmerys-78b-shape.json'));
    let expected = 0;
    for (const w of expectedWeights(c)) {
      const n = numel(w.shape);
      expected += w.role === 'linear' ? n / 2 + Math.ceil(n / 64) * 4 : n * 2;
    }
    expect(weightBytes(c, 'int4')).toBe(expected);
    // About 47 GB of weights in 4-bit.
    expect(weightBytes(c, 'int4') / 1e9).toBeGreaterThan(45);
    expect(weightBytes(c, 'int4') / 1e9).toBeLessThan(50);
  });
});

/** Second-level scale bytes of double quantisation, tensor by tensor. */
function dqScales(c: Parameters<typeof expectedWeights>[0]): number {
  let bytes = 0;
  for (const w of expectedWeights(c)) {
    if (w.role === 'linear') bytes += 4 * Math.ceil(Math.ceil(numel(w.shape) / 64) / 256);
  }
  return bytes;
}

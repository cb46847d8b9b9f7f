import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  freshLoraConfig,
  isLoraTarget,
  loraConfigToJson,
  loraModules,
  loraScaling,
  parseLoraConfig,
  parsePeftKey,
  peftKey,
  readAdapter,
  writeAdapter,
} from './adapter.js';
import type { AdapterTensor } from './adapter.js';
import { SooError, UnsupportedError } from './errors.js';
import type { SooErrorCode } from './errors.js';
import { SafetensorsFile } from './safetensors/read.js';
import { fromFloat32, toFloat32 } from './safetensors/dtypes.js';
import { serializeSafetensors } from './safetensors/write.js';
import type { TensorToWrite } from './safetensors/write.js';
import { FIXTURE_ARCHS, hfTinyDir, hfTinyExtraDirs } from './testing/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'soo-adapter-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const adapterDirs: Array<[string, string]> = [
  ...FIXTURE_ARCHS.map((a): [string, string] => [a, path.join(hfTinyDir(a), 'adapter')]),
  ...hfTinyExtraDirs().map(([label, dir]): [string, string] => [label, path.join(dir, 'adapter')]),
];
const llamaAdapter = path.join(hfTinyDir('llama'), 'adapter');

/** Raw bytes of every tensor in a safetensors file. */
async function rawTensors(file: string): Promise<Map<string, Uint8Array>> {
  const st = await SafetensorsFile.open(file);
  const out = new Map<string, Uint8Array>();
  for (const name of st.names()) out.set(name, await st.readBytes(name));
  await st.close();
  return out;
}

describe('reading the fixture adapters', () => {
  it.each(adapterDirs)('%s', async (label, dir) => {
    const adapter = await readAdapter(dir);
    const { config } = adapter;
    expect(adapter.dir).toBe(dir);
    expect(config.peftType).toBe('LORA');
    expect(config.r).toBe(4);
    expect(config.loraAlpha).toBe(8);
    expect(config.loraDropout).toBe(0);
    expect([...(config.targetModules as string[])].sort()).toEqual(['k_proj', 'o_proj', 'q_proj', 'v_proj']);
    expect(config.useRslora).toBe(label === 'llama3-rope-rslora');
    expect(config.bias).toBe('none');
    expect(config.fanInFanOut).toBe(false);
    expect(config.taskType).toBeNull();
    expect(config.raw['peft_version']).toBe('0.21.0');
    expect(adapter.metadata).toEqual({ format: 'pt' });

    const modules = loraModules(adapter);
    expect(modules.length * 2).toBe(adapter.tensors.size);
    expect(modules.length % 4).toBe(0);
    for (const m of modules) {
      expect(m.rank).toBe(4);
      expect(m.scaling).toBe(config.useRslora ? 8 / 2 : 8 / 4);
      expect(m.a.shape).toEqual([4, m.inFeatures]);
      expect(m.b.shape).toEqual([m.outFeatures, 4]);
      expect(m.a.dtype).toBe('F32');
      expect(m.b.data.some((v) => v !== 0)).toBe(true); // lora_B was randomised in the fixture
      expect(isLoraTarget(config, m.modulePath)).toBe(true);
    }
    // Float32 data equals the stored bytes.
    const raw = await rawTensors(path.join(dir, ADAPTER_WEIGHTS_NAME));
    for (const [key, t] of adapter.tensors) expect(t.data).toEqual(toFloat32(t.dtype, raw.get(key)!));
  });
});

describe('round trips', () => {
  it.each(adapterDirs)('%s: write then read gives identical tensors and config', async (label, dir) => {
    const adapter = await readAdapter(dir);
    const out = path.join(tmp, 'roundtrip', label);
    await writeAdapter(out, adapter);
    expect((await fsp.readdir(out)).sort()).toEqual([ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME]);

    // The weights file is byte-identical to PEFT's, so every tensor is too.
    const original = readFileSync(path.join(dir, ADAPTER_WEIGHTS_NAME));
    const written = readFileSync(path.join(out, ADAPTER_WEIGHTS_NAME));
    expect(Buffer.compare(written, original)).toBe(0);
    const a = await rawTensors(path.join(dir, ADAPTER_WEIGHTS_NAME));
    const b = await rawTensors(path.join(out, ADAPTER_WEIGHTS_NAME));
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, v] of a) expect(Buffer.compare(b.get(k)!, v)).toBe(0);

    // Every config key survives with its value; the text matches PEFT's up to Python's "0.0" floats.
    const originalText = readFileSync(path.join(dir, ADAPTER_CONFIG_NAME), 'utf8');
    const writtenText = readFileSync(path.join(out, ADAPTER_CONFIG_NAME), 'utf8');
    const originalJson = JSON.parse(originalText) as Record<string, unknown>;
    const writtenJson = JSON.parse(writtenText) as Record<string, unknown>;
    for (const [k, v] of Object.entries(originalJson)) expect(writtenJson[k], k).toEqual(v);
    expect(Object.keys(writtenJson).sort()).toEqual(Object.keys(originalJson).sort());
    expect(writtenText).toBe(originalText.replace(/: 0\.0([,\n])/g, ': 0$1'));

    const again = await readAdapter(out);
    expect(again.config).toEqual({ ...adapter.config, raw: expect.any(Object) });
    for (const [k, t] of adapter.tensors) {
      const u = again.tensors.get(k)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(Buffer.compare(new Uint8Array(u.data.buffer), new Uint8Array(t.data.buffer))).toBe(0);
    }
  });

  it('keeps BF16 and F16 tensors in their dtype, bit for bit', async () => {
    const adapter = await readAdapter(llamaAdapter);
    const narrowed = new Map<string, AdapterTensor>();
    let i = 0;
    for (const [k, t] of adapter.tensors) {
      const dtype = i++ % 2 === 0 ? 'BF16' : 'F16';
      narrowed.set(k, { dtype, shape: t.shape, data: toFloat32(dtype, fromFloat32(dtype, t.data)) });
    }
    const first = path.join(tmp, 'narrow-1');
    const second = path.join(tmp, 'narrow-2');
    await writeAdapter(first, { ...adapter, tensors: narrowed });
    const back = await readAdapter(first);
    for (const [k, t] of narrowed) {
      expect(back.tensors.get(k)!.dtype).toBe(t.dtype);
      expect(back.tensors.get(k)!.data).toEqual(t.data);
    }
    await writeAdapter(second, back);
    expect(
      Buffer.compare(
        readFileSync(path.join(first, ADAPTER_WEIGHTS_NAME)),
        readFileSync(path.join(second, ADAPTER_WEIGHTS_NAME)),
      ),
    ).toBe(0);
  });

  it('preserves unknown config keys', async () => {
    const adapter = await readAdapter(llamaAdapter);
    adapter.config.raw['x_custom'] = { nested: [1, 'two'] };
    adapter.config.r = 4;
    const out = path.join(tmp, 'unknown-keys');
    await writeAdapter(out, adapter);
    const json = JSON.parse(readFileSync(path.join(out, ADAPTER_CONFIG_NAME), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(json['x_custom']).toEqual({ nested: [1, 'two'] });
    expect((await readAdapter(out)).config.raw['x_custom']).toEqual({ nested: [1, 'two'] });
  });
});

describe('keys', () => {
  it('builds and parses PEFT keys', () => {
    const key = peftKey('model.layers.3.self_attn.q_proj', 'A');
    expect(key).toBe('base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight');
    expect(parsePeftKey(key)).toEqual({ modulePath: 'model.layers.3.self_attn.q_proj', which: 'A' });
    expect(parsePeftKey(peftKey('a.b', 'B'))).toEqual({ modulePath: 'a.b', which: 'B' });
    expect(parsePeftKey('model.layers.3.self_attn.q_proj.weight')).toBeNull();
    expect(parsePeftKey('base_model.model.x.lora_A.default.weight')).toBeNull();
    expect(parsePeftKey('base_model.model.x.lora_embedding_A')).toBeNull();
  });
});

describe('scaling and targeting', () => {
  it('scales by alpha / r, or alpha / sqrt(r) with rsLoRA', () => {
    expect(loraScaling(freshLoraConfig({ r: 8, loraAlpha: 16 }))).toBe(2);
    expect(loraScaling(freshLoraConfig({ r: 16, loraAlpha: 8, useRslora: true }))).toBe(2);
  });

  it('applies rank_pattern and alpha_pattern like PEFT', () => {
    const config = freshLoraConfig({
      r: 8,
      loraAlpha: 16,
      rankPattern: { 'layers.0.self_attn.q_proj': 4, v_proj: 2 },
      alphaPattern: { '^model.layers.1.*k_proj': 3 },
      targetModules: ['q_proj', 'k_proj', 'v_proj'],
    });
    expect(loraScaling(config, 'model.layers.0.self_attn.q_proj')).toBe(16 / 4);
    expect(loraScaling(config, 'model.layers.10.self_attn.q_proj')).toBe(16 / 8); // "layers.0." is not a suffix
    expect(loraScaling(config, 'model.layers.5.self_attn.v_proj')).toBe(16 / 2);
    expect(loraScaling(config, 'model.layers.1.self_attn.k_proj')).toBe(3 / 8);
    expect(loraScaling(config, 'model.layers.2.self_attn.k_proj')).toBe(16 / 8);
    expect(loraScaling(config)).toBe(2);
    const rs = { ...config, useRslora: true };
    expect(loraScaling(rs, 'model.layers.0.self_attn.q_proj')).toBe(16 / 2);
  });

  it('selects target modules like PEFT', () => {
    const list = freshLoraConfig({ targetModules: ['q_proj', 'v_proj'] });
    expect(isLoraTarget(list, 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(isLoraTarget(list, 'model.layers.0.self_attn.k_proj')).toBe(false);
    expect(isLoraTarget(list, 'model.layers.0.self_attn.xq_proj')).toBe(false);
    const regex = freshLoraConfig({ targetModules: '.*layers\\.[01]\\..*(q|k)_proj' });
    expect(isLoraTarget(regex, 'model.layers.1.self_attn.k_proj')).toBe(true);
    expect(isLoraTarget(regex, 'model.layers.2.self_attn.k_proj')).toBe(false);
    const layers = freshLoraConfig({ targetModules: ['q_proj'], layersToTransform: [1, 3] });
    expect(isLoraTarget(layers, 'model.layers.1.self_attn.q_proj')).toBe(true);
    expect(isLoraTarget(layers, 'model.layers.2.self_attn.q_proj')).toBe(false);
    const one = freshLoraConfig({ targetModules: ['q_proj'], layersToTransform: 2, layersPattern: 'layers' });
    expect(isLoraTarget(one, 'model.layers.2.self_attn.q_proj')).toBe(true);
    expect(isLoraTarget(one, 'model.layers.3.self_attn.q_proj')).toBe(false);
    const excluded = freshLoraConfig({
      targetModules: ['q_proj'],
      excludeModules: ['layers.0.self_attn.q_proj'],
    });
    expect(isLoraTarget(excluded, 'model.layers.0.self_attn.q_proj')).toBe(false);
    expect(isLoraTarget(excluded, 'model.layers.1.self_attn.q_proj')).toBe(true);
  });
});

describe('freshLoraConfig and writing new adapters', () => {
  it('has PEFT-like defaults', () => {
    const c = freshLoraConfig();
    expect(c).toMatchObject({
      peftType: 'LORA',
      r: 8,
      loraAlpha: 16,
      loraDropout: 0,
      targetModules: ['q_proj', 'v_proj'],
      useRslora: false,
      bias: 'none',
      taskType: 'CAUSAL_LM',
      rankPattern: {},
      alphaPattern: {},
      layersToTransform: null,
      modulesToSave: null,
    });
    expect(freshLoraConfig({ taskType: null }).taskType).toBeNull();
  });

  it('rejects bad options', () => {
    expect(() => freshLoraConfig({ r: 0 })).toThrow(/r: expected a positive integer, got number 0/);
    expect(() => freshLoraConfig({ targetModules: '(' })).toThrow(SooError);
    expect(() => freshLoraConfig({ bias: 'all' })).toThrow(UnsupportedError);
  });

  it('writes a PEFT-shaped adapter_config.json and reads it back', async () => {
    const config = freshLoraConfig({ r: 2, loraAlpha: 4, baseModelNameOrPath: 'hf-tiny/llama' });
    const tensors = new Map<string, AdapterTensor>([
      [
        peftKey('model.layers.0.self_attn.q_proj', 'A'),
        { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      ],
      [
        peftKey('model.layers.0.self_attn.q_proj', 'B'),
        { dtype: 'F32', shape: [4, 2], data: new Float32Array([8, 7, 6, 5, 4, 3, 2, 1]) },
      ],
    ]);
    const out = path.join(tmp, 'fresh');
    await writeAdapter(out, { config, tensors });
    const json = JSON.parse(readFileSync(path.join(out, ADAPTER_CONFIG_NAME), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 2,
      lora_alpha: 4,
      lora_dropout: 0,
      target_modules: ['q_proj', 'v_proj'],
      use_rslora: false,
      use_dora: false,
      bias: 'none',
      fan_in_fan_out: false,
      base_model_name_or_path: 'hf-tiny/llama',
      rank_pattern: {},
      alpha_pattern: {},
      layers_to_transform: null,
      modules_to_save: null,
      inference_mode: true,
    });
    expect(Object.keys(json)).toEqual(Object.keys(json).sort());
    expect(Object.keys(json).every((k) => /^[a-z0-9_]+$/.test(k))).toBe(true);
    const st = await SafetensorsFile.open(path.join(out, ADAPTER_WEIGHTS_NAME));
    expect(st.metadata).toEqual({ format: 'pt' });
    await st.close();
    const back = await readAdapter(out);
    expect(back.config.r).toBe(2);
    expect([...back.tensors.get(peftKey('model.layers.0.self_attn.q_proj', 'B'))!.data]).toEqual([
      8, 7, 6, 5, 4, 3, 2, 1,
    ]);
    expect(loraModules(back)[0]).toMatchObject({ inFeatures: 3, outFeatures: 4, rank: 2, scaling: 2 });
  });

  it('validates before writing anything', async () => {
    const config = freshLoraConfig({ r: 2 });
    const tensors = new Map<string, AdapterTensor>([
      [peftKey('m.q_proj', 'A'), { dtype: 'F32', shape: [3, 3], data: new Float32Array(9).fill(1) }],
      [peftKey('m.q_proj', 'B'), { dtype: 'F32', shape: [3, 2], data: new Float32Array(6).fill(1) }],
    ]);
    const out = path.join(tmp, 'never-written');
    await expect(writeAdapter(out, { config, tensors })).rejects.toMatchObject({ code: 'ADAPTER_WEIGHTS' });
    await expect(fsp.access(out)).rejects.toThrow();
    const wrongLength = new Map(tensors);
    wrongLength.set(peftKey('m.q_proj', 'A'), { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) });
    await expect(writeAdapter(out, { config, tensors: wrongLength })).rejects.toThrow(/5 values, expected 6/);
    const intDtype = new Map(tensors);
    intDtype.set(peftKey('m.q_proj', 'A'), { dtype: 'I32', shape: [2, 3], data: new Float32Array(6) });
    await expect(writeAdapter(out, { config, tensors: intDtype })).rejects.toMatchObject({
      code: 'ADAPTER_WEIGHTS',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed adapters
// ---------------------------------------------------------------------------------------------

const fixtureConfig = () =>
  JSON.parse(readFileSync(path.join(llamaAdapter, ADAPTER_CONFIG_NAME), 'utf8')) as Record<string, unknown>;
const Q0 = 'model.layers.0.self_attn.q_proj';

interface Mutation {
  config?: (c: Record<string, unknown>) => Record<string, unknown> | string | null;
  tensors?: (t: Map<string, TensorToWrite>) => void;
  /** Edit the serialized weights file. */
  weightsBytes?: (bytes: Uint8Array) => void;
  /** Leave the weights file out. */
  noWeights?: boolean;
}

/** A copy of the llama fixture adapter with `m` applied. */
async function mutatedAdapter(m: Mutation): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(tmp, 'bad-'));
  const config = m.config ? m.config(fixtureConfig()) : fixtureConfig();
  if (config !== null) {
    await fsp.writeFile(
      path.join(dir, ADAPTER_CONFIG_NAME),
      typeof config === 'string' ? config : JSON.stringify(config),
    );
  }
  if (!m.noWeights) {
    const st = await SafetensorsFile.open(path.join(llamaAdapter, ADAPTER_WEIGHTS_NAME));
    const tensors = new Map<string, TensorToWrite>();
    for (const name of st.names()) tensors.set(name, await st.readTensor(name));
    await st.close();
    m.tensors?.(tensors);
    const bytes = serializeSafetensors(tensors, { format: 'pt' });
    m.weightsBytes?.(bytes);
    await fsp.writeFile(path.join(dir, ADAPTER_WEIGHTS_NAME), bytes);
  }
  return dir;
}

const withConfig = (patch: Record<string, unknown>) => (c: Record<string, unknown>) => ({ ...c, ...patch });
const without = (key: string) => (c: Record<string, unknown>) => {
  const copy = { ...c };
  delete copy[key];
  return copy;
};
const f32 = (shape: number[]): TensorToWrite => ({
  dtype: 'F32',
  shape,
  data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + 0.5),
});

describe('malformed adapters', () => {
  const cases: Array<[label: string, code: SooErrorCode, file: string, mutation: Mutation]> = [
    ['config missing', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: () => null }],
    ['config not JSON', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: () => '{"r": 4,' }],
    ['config a JSON array', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: () => '[]' }],
    ['r missing', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: without('r') }],
    ['r zero', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: withConfig({ r: 0 }) }],
    ['r fractional', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: withConfig({ r: 2.5 }) }],
    ['r a string', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: withConfig({ r: '4' }) }],
    ['lora_alpha missing', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: without('lora_alpha') }],
    [
      'lora_alpha not a number',
      'ADAPTER_CONFIG',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ lora_alpha: 'eight' }) },
    ],
    [
      'peft_type not LORA',
      'ADAPTER_CONFIG',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ peft_type: 'PREFIX_TUNING' }) },
    ],
    ['peft_type missing', 'ADAPTER_CONFIG', ADAPTER_CONFIG_NAME, { config: without('peft_type') }],
    [
      'target_modules missing',
      'ADAPTER_CONFIG',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ target_modules: null }) },
    ],
    [
      'target_modules a bad regex',
      'ADAPTER_CONFIG',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ target_modules: '(q' }) },
    ],
    [
      'lora_dropout out of range',
      'ADAPTER_CONFIG',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ lora_dropout: 1.5 }) },
    ],
    [
      'rank_pattern value not an integer',
      'ADAPTER_CONFIG',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ rank_pattern: { q_proj: 'x' } }) },
    ],
    [
      'use_rslora not a boolean',
      'ADAPTER_CONFIG',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ use_rslora: 'yes' }) },
    ],
    [
      'DoRA enabled',
      'CONFIG_UNSUPPORTED_OPTION',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ use_dora: true }) },
    ],
    [
      'lora_bias enabled',
      'CONFIG_UNSUPPORTED_OPTION',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ lora_bias: true }) },
    ],
    [
      'fan_in_fan_out enabled',
      'CONFIG_UNSUPPORTED_OPTION',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ fan_in_fan_out: true }) },
    ],
    ['bias "all"', 'CONFIG_UNSUPPORTED_OPTION', ADAPTER_CONFIG_NAME, { config: withConfig({ bias: 'all' }) }],
    [
      'layer_replication set',
      'CONFIG_UNSUPPORTED_OPTION',
      ADAPTER_CONFIG_NAME,
      { config: withConfig({ layer_replication: [[0, 2]] }) },
    ],
    ['weights missing', 'ADAPTER_WEIGHTS', ADAPTER_WEIGHTS_NAME, { noWeights: true }],
    [
      'A with the wrong rank',
      'ADAPTER_WEIGHTS',
      ADAPTER_WEIGHTS_NAME,
      { tensors: (t) => t.set(peftKey(Q0, 'A'), f32([3, 64])) },
    ],
    [
      'A not 2-D',
      'ADAPTER_WEIGHTS',
      ADAPTER_WEIGHTS_NAME,
      { tensors: (t) => t.set(peftKey(Q0, 'A'), f32([4, 8, 8])) },
    ],
    [
      'B with the wrong rank',
      'ADAPTER_WEIGHTS',
      ADAPTER_WEIGHTS_NAME,
      { tensors: (t) => t.set(peftKey(Q0, 'B'), f32([64, 2])) },
    ],
    ['B without A', 'ADAPTER_WEIGHTS', ADAPTER_WEIGHTS_NAME, { tensors: (t) => t.delete(peftKey(Q0, 'A')) }],
    ['A without B', 'ADAPTER_WEIGHTS', ADAPTER_WEIGHTS_NAME, { tensors: (t) => t.delete(peftKey(Q0, 'B')) }],
    [
      'stray non-LoRA tensor',
      'ADAPTER_WEIGHTS',
      ADAPTER_WEIGHTS_NAME,
      { tensors: (t) => t.set('base_model.model.lm_head.weight', f32([2, 2])) },
    ],
    [
      'DoRA magnitude tensor',
      'CONFIG_UNSUPPORTED_OPTION',
      ADAPTER_WEIGHTS_NAME,
      { tensors: (t) => t.set(`base_model.model.${Q0}.lora_magnitude_vector`, f32([64])) },
    ],
    [
      'malformed weights file',
      'SAFETENSORS_BYTE_COUNT',
      ADAPTER_WEIGHTS_NAME,
      {
        // Shrink one declared shape in the header so that it no longer matches its data_offsets.
        weightsBytes: (bytes) => {
          const at = new TextDecoder().decode(bytes).indexOf('"shape":[4,64]');
          bytes.set(new TextEncoder().encode('"shape":[4,63]'), at);
        },
      },
    ],
  ];

  it('has at least 25 cases', () => expect(cases.length).toBeGreaterThanOrEqual(25));

  it.each(cases)('%s -> %s', async (_label, code, file, mutation) => {
    const dir = await mutatedAdapter(mutation);
    const err = await readAdapter(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'readAdapter() should have thrown').toBeInstanceOf(SooError);
    expect((err as SooError).code).toBe(code);
    expect((err as SooError).message).toContain(path.join(dir, file));
  });

  it('reports a missing folder as FILE_NOT_FOUND', async () => {
    await expect(readAdapter(path.join(tmp, 'absent'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('explains unsupported options', () => {
    const json = { ...fixtureConfig(), use_dora: true };
    expect(() => parseLoraConfig(json, 'x/adapter_config.json')).toThrow(
      /x\/adapter_config\.json: use_dora: true enables DoRA .*which soo does not support/,
    );
  });

  it('round-trips a config through loraConfigToJson', () => {
    const config = parseLoraConfig(fixtureConfig());
    const again = parseLoraConfig(loraConfigToJson(config));
    expect({ ...again, raw: {} }).toEqual({ ...config, raw: {} });
  });
});

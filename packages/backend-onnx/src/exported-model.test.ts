/**
 * The exported folder's format (Optimum's input and output names and shapes, external data that points
 * inside model.onnx_data), and the typed errors of the exporter and of an exported model.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveHookPoint, type SooModel } from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';
import { ONNX_DATA_FILE, ONNX_MODEL_FILE, exportOnnx, loadExportedModel, mergeLora } from './index.js';
import { decodeModel } from './onnx-proto.js';

const dir = hfTinyDir('gemma2');
const hook = 'model.layers.1.self_attn.o_proj';
const tmp = mkdtempSync(path.join(tmpdir(), 'soo-onnx-format-'));
const out = path.join(tmp, 'tuned');
let model: SooModel;

beforeAll(async () => {
  await exportOnnx({ modelDir: dir, adapterDir: path.join(dir, 'adapter'), outDir: out, hooks: [hook] });
  model = await loadExportedModel(out);
});
afterAll(() => {
  model?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

interface Dim {
  dim_value?: number;
  dim_param?: string;
}
interface ValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: Dim[] } } };
}
interface Tensor {
  name: string;
  raw_data?: number[];
  data_location?: number;
  external_data?: Array<{ key: string; value: string }>;
}

describe('the exported model.onnx', () => {
  it("has Optimum's decoder inputs and outputs, opset 17, and hook outputs", () => {
    const m = decodeModel(readFileSync(path.join(out, ONNX_MODEL_FILE))) as {
      opset_import: Array<{ version: number }>;
      graph: { input: ValueInfo[]; output: ValueInfo[]; initializer: Tensor[] };
    };
    expect(m.opset_import[0]?.version).toBe(17);
    const config = model.config;
    const dims = (v: ValueInfo) => v.type.tensor_type.shape.dim.map((d) => d.dim_value ?? d.dim_param);
    const inputs = Object.fromEntries(m.graph.input.map((v) => [v.name, dims(v)]));
    expect(inputs).toEqual({
      input_ids: ['batch_size', 'sequence_length'],
      attention_mask: ['batch_size', 'total_sequence_length'],
      position_ids: ['batch_size', 'sequence_length'],
      ...Object.fromEntries(
        Array.from({ length: config.numLayers }, (_, i) =>
          ['key', 'value'].map((kv) => [
            `past_key_values.${i}.${kv}`,
            ['batch_size', config.numKvHeads, 'past_sequence_length', config.headDim],
          ]),
        ).flat(),
      ),
    });
    expect(m.graph.output.map((v) => v.name)).toEqual([
      'logits',
      ...Array.from({ length: config.numLayers }, (_, i) => [
        `present.${i}.key`,
        `present.${i}.value`,
      ]).flat(),
      `hook.${hook}`,
    ]);
    expect(dims(m.graph.output[0]!)).toEqual(['batch_size', 'sequence_length', config.vocabSize]);
  });

  it('keeps every large initializer in model.onnx_data, inside the file, named by its HF key', () => {
    const m = decodeModel(readFileSync(path.join(out, ONNX_MODEL_FILE))) as {
      graph: { initializer: Tensor[] };
    };
    const size = statSync(path.join(out, ONNX_DATA_FILE)).size;
    const external = m.graph.initializer.filter((t) => t.data_location === 1);
    expect(external.map((t) => t.name)).toContain('model.embed_tokens.weight');
    expect(external.map((t) => t.name)).toContain(`${hook}.weight`);
    for (const t of external) {
      const e = Object.fromEntries((t.external_data ?? []).map((x) => [x.key, x.value]));
      expect(e.location).toBe(ONNX_DATA_FILE);
      expect(Number(e.offset) + Number(e.length)).toBeLessThanOrEqual(size);
    }
    for (const t of m.graph.initializer.filter((x) => x.data_location !== 1))
      expect(t.raw_data?.length ?? 0).toBeLessThan(1024);
  });
});

describe('typed errors', () => {
  it('the exporter names the file and field', async () => {
    await expect(
      exportOnnx({ modelDir: dir, outDir: path.join(tmp, 'x'), hooks: ['model.layers.7.mlp'] }),
    ).rejects.toMatchObject({
      code: 'HOOK_UNKNOWN',
    });
    await expect(
      exportOnnx({ modelDir: dir, adapterDir: path.join(tmp, 'no-adapter'), outDir: path.join(tmp, 'x') }),
    ).rejects.toMatchObject({ code: 'FILE_NOT_FOUND', file: path.join(tmp, 'no-adapter') });
    const w = { data: new Float32Array(12).fill(1), shape: [3, 4] };
    const a = { data: new Float32Array(8).fill(1), shape: [2, 4] };
    const b = { data: new Float32Array(6).fill(1), shape: [2, 3] }; // [out, r] must be [3, 2]
    expect(() =>
      mergeLora(new Map([['m.weight', w]]), {
        scaling: new Map([['m', 1]]),
        tensors: new Map([
          ['base_model.model.m.lora_A.weight', a],
          ['base_model.model.m.lora_B.weight', b],
        ]),
      }),
    ).toThrow(
      expect.objectContaining({ code: 'ADAPTER_WEIGHTS', field: 'base_model.model.m.lora_A.weight' }),
    );
    await expect(exportOnnx({ modelDir: dir, outDir: dir })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'outDir',
    });
    await expect(
      exportOnnx({ modelDir: path.join(tmp, 'nope'), outDir: path.join(tmp, 'x') }),
    ).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
    });
    const dynamic = path.join(tmp, 'dynamic');
    cpSync(hfTinyDir('llama'), dynamic, { recursive: true });
    const cfg = JSON.parse(readFileSync(path.join(dynamic, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    delete cfg.rope_parameters;
    cfg.rope_theta = 10000;
    cfg.rope_scaling = { rope_type: 'dynamic', factor: 2 };
    writeFileSync(path.join(dynamic, 'config.json'), JSON.stringify(cfg));
    await expect(exportOnnx({ modelDir: dynamic, outDir: path.join(tmp, 'x') })).rejects.toMatchObject({
      code: 'CONFIG_UNSUPPORTED_OPTION',
      field: 'rope_scaling',
    });
  });

  it('an exported model refuses what it cannot do, with the reason', async () => {
    const ids = [[1, 2, 3, 4]];
    await expect(model.forward({ ids, hooks: ['model.layers.0.mlp'] })).rejects.toMatchObject({
      code: 'HOOK_NOT_REACHED',
      message: expect.stringContaining('--hooks model.layers.0.mlp'),
    });
    await expect(model.forward({ ids, adapter: false })).rejects.toMatchObject({
      code: 'BACKEND_CAPABILITY',
    });
    await expect(
      model.forward({ ids, interventions: [{ hook, kind: 'scale', factor: 2 }] }),
    ).rejects.toMatchObject({ code: 'BACKEND_CAPABILITY' });
    expect(() => model.createLmTrainer({ optimizer: { lr: 1e-3 } } as never)).toThrow(
      /does not support train/,
    );
    expect(resolveHookPoint(model.config, hook).width).toBe(model.config.hiddenSize);
  });
});

/**
 * `exportOnnx`: an HF model folder (plus a PEFT adapter, merged) -> a folder a user can serve with
 * onnxruntime or transformers.js:
 *   model.onnx, model.onnx_data   Optimum's decoder layout (see decoder-graph.ts), opset 17, float32,
 *                                 every initializer of 1 KiB or more in the external data file;
 *   config.json, generation_config.json, tokenizer files, chat template   copied from the model folder;
 *   soo_export.json               what was exported (source, adapter and its scaling, hook outputs).
 * Each file is written to a temp file and renamed.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  ADAPTER_WEIGHTS_NAME,
  InvalidArgumentError,
  UnsupportedError,
  adapterTensors,
  openModelSource,
  readAdapter,
  resolveHookPoint,
  writeFileAtomic,
  type DecoderConfig,
} from '@soo/core';
import { OPSET, buildDecoderGraph, hookOutputName } from './decoder-graph.js';
import { mergeLora, readDecoderWeights } from './weights.js';

export const ONNX_MODEL_FILE = 'model.onnx';
/** transformers.js and Optimum name the external data `<model file>_data`. */
export const ONNX_DATA_FILE = 'model.onnx_data';
export const EXPORT_MANIFEST_FILE = 'soo_export.json';
/** Initializers this large or larger go to the external data file. */
export const EXTERNAL_DATA_THRESHOLD = 1024;

/** Files copied from the model folder when present (tokenizer, chat template, generation settings). */
export const COPIED_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
  'chat_template.json',
] as const;

export interface ExportOptions {
  /** HF model folder (safetensors weights). */
  modelDir: string;
  /** PEFT LoRA adapter folder, merged into the weights. */
  adapterDir?: string;
  /** Output folder (created). */
  outDir: string;
  /** Hook names to expose as `hook.<name>` outputs. */
  hooks?: readonly string[];
  /** Config file inside the model folder (default config.json); written as config.json. */
  configFile?: string;
  /** Progress: a phase name and done/total within it. */
  onProgress?: (p: { phase: 'read' | 'merge' | 'write'; done: number; total: number }) => void;
}

export interface ExportManifest {
  format: 'soo-onnx-decoder';
  version: 1;
  opset: number;
  modelType: DecoderConfig['modelType'];
  source: string;
  adapter: { dir: string; scaling: Record<string, number> } | null;
  /** Hook names with an output `hook.<name>`. */
  hooks: string[];
  inputs: string[];
  outputs: string[];
  externalData: string;
}

export interface ExportResult {
  outDir: string;
  files: string[];
  manifest: ExportManifest;
  /** Bytes of model.onnx and model.onnx_data. */
  bytes: { model: number; data: number };
}

export async function exportOnnx(options: ExportOptions): Promise<ExportResult> {
  const progress = options.onProgress ?? (() => undefined);
  const configFile = options.configFile ?? 'config.json';
  if (path.resolve(options.outDir) === path.resolve(options.modelDir))
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `--out ${options.outDir}: is the model folder itself; expected a new folder for the export`,
      { field: 'outDir' },
    );
  const source = await openModelSource(options.modelDir, { configFile });
  const config = source.config;
  if (config.ropeScaling.type === 'dynamic')
    throw new UnsupportedError(
      'CONFIG_UNSUPPORTED_OPTION',
      `${path.join(options.modelDir, configFile)}: rope_scaling: dynamic NTK scaling recomputes the frequencies from the sequence length at run time, which the exported graph does not do; expected default, linear, llama3 or yarn`,
      { file: path.join(options.modelDir, configFile), field: 'rope_scaling' },
    );
  const hooks = [...new Set(options.hooks ?? [])].map((h) => resolveHookPoint(config, h).name);
  let weights;
  try {
    const total = source.weights.names().length;
    progress({ phase: 'read', done: 0, total });
    weights = await readDecoderWeights(
      config,
      source.weights,
      path.join(options.modelDir, 'model.safetensors'),
    );
    progress({ phase: 'read', done: total, total });
  } finally {
    await source.close();
  }
  let adapter: ExportManifest['adapter'] = null;
  if (options.adapterDir) {
    const a = await readAdapter(options.adapterDir);
    const tensors = adapterTensors(config, a, path.join(options.adapterDir, ADAPTER_WEIGHTS_NAME));
    progress({ phase: 'merge', done: 0, total: tensors.scaling.size });
    weights = mergeLora(weights, tensors);
    progress({ phase: 'merge', done: tensors.scaling.size, total: tensors.scaling.size });
    adapter = { dir: path.resolve(options.adapterDir), scaling: Object.fromEntries(tensors.scaling) };
  }

  const { builder } = buildDecoderGraph(config, weights, {
    mode: 'kv',
    logits: 'all',
    stop: null,
    captures: hooks,
    interventions: [],
    rope: 'constant',
    embedMultiplier: config.embeddingMultiplier,
  });
  const inputs = [
    'input_ids',
    'attention_mask',
    'position_ids',
    ...Array.from({ length: config.numLayers }, (_, i) => [
      `past_key_values.${i}.key`,
      `past_key_values.${i}.value`,
    ]).flat(),
  ];
  const outputs = [
    'logits',
    ...Array.from({ length: config.numLayers }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat(),
    ...hooks.map(hookOutputName),
  ];
  const manifest: ExportManifest = {
    format: 'soo-onnx-decoder',
    version: 1,
    opset: OPSET,
    modelType: config.modelType,
    source: path.resolve(options.modelDir),
    adapter,
    hooks,
    inputs,
    outputs,
    externalData: ONNX_DATA_FILE,
  };
  const encoded = builder.encode({
    producerVersion: '0.1.0',
    docString: `soo export of ${path.basename(path.resolve(options.modelDir))}${adapter ? ` with ${path.basename(adapter.dir)} merged` : ''}`,
    metadata: { soo_export: JSON.stringify({ hooks, adapter: adapter !== null }) },
    externalData: { fileName: ONNX_DATA_FILE, threshold: EXTERNAL_DATA_THRESHOLD },
  });

  const out = options.outDir;
  await fsp.mkdir(out, { recursive: true });
  const steps = 3 + COPIED_FILES.length;
  let done = 0;
  const step = (): void => progress({ phase: 'write', done: ++done, total: steps });
  await writeFileAtomic(path.join(out, ONNX_DATA_FILE), encoded.externalData);
  step();
  await writeFileAtomic(path.join(out, ONNX_MODEL_FILE), encoded.model);
  step();
  const files = [ONNX_MODEL_FILE, ONNX_DATA_FILE];
  await writeFileAtomic(
    path.join(out, 'config.json'),
    await fsp.readFile(path.join(options.modelDir, configFile)),
  );
  files.push('config.json');
  step();
  for (const name of COPIED_FILES) {
    const from = path.join(options.modelDir, name);
    const data = await fsp.readFile(from).catch(() => null);
    if (data) {
      await writeFileAtomic(path.join(out, name), data);
      files.push(name);
    }
    step();
  }
  await writeFileAtomic(path.join(out, EXPORT_MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  files.push(EXPORT_MANIFEST_FILE);
  const data = encoded.externalData.reduce((n, c) => n + c.byteLength, 0);
  return { outDir: out, files, manifest, bytes: { model: encoded.model.byteLength, data } };
}

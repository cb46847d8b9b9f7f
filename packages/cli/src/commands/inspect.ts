import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import {
  type DecoderConfig,
  SAFE_WEIGHTS_INDEX_NAME,
  SAFE_WEIGHTS_NAME,
  WeightStore,
  expectedWeightShapes,
  listHookPoints,
  loadDecoderConfig,
  parameterBreakdown,
  parameterCount,
  weightBytes,
} from '@soo/core';
import type { Command } from 'commander';
import { type Io, printJson, table } from '../io.js';

export interface InspectReport {
  path: string;
  modelType: DecoderConfig['modelType'];
  architecture: string | null;
  sizes: {
    vocabSize: number;
    hiddenSize: number;
    intermediateSize: number;
    numLayers: number;
    numHeads: number;
    numKvHeads: number;
    headDim: number;
    maxPositionEmbeddings: number;
  };
  attention: {
    gqaGroups: number;
    ropeTheta: number;
    ropeScaling: DecoderConfig['ropeScaling'];
    slidingWindow: number | null;
    layerTypes: DecoderConfig['layerTypes'];
    attnLogitSoftcapping: number | null;
    finalLogitSoftcapping: number | null;
    attentionScale: number;
  };
  activation: DecoderConfig['activation'];
  tiedEmbeddings: boolean;
  parameters: number;
  parameterBreakdown: ReturnType<typeof parameterBreakdown>;
  configDtype: DecoderConfig['dtype'];
  /** Present when the folder has safetensors weights. */
  weights: {
    files: string[];
    dtypes: Array<{ dtype: string; tensors: number; bytes: number }>;
    parameters: number;
    bytes: number;
    /** Tensors the config expects but the files lack, and the reverse. */
    missing: string[];
    unexpected: string[];
  } | null;
  weightBytes: { float32: number; bfloat16: number; int4: number };
  hookPoints: string[];
}

function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

function fmtBytes(n: number): string {
  const gib = 1024 ** 3;
  if (n >= gib) return `${(n / gib).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Inspect a model folder, or a bare config.json (no weights), without reading any tensor data. */
export async function inspectModel(
  target: string,
  options: { configFile?: string } = {},
): Promise<InspectReport> {
  const isFile = existsSync(target) && statSync(target).isFile();
  const config = await loadDecoderConfig(
    target,
    options.configFile ? { configFileName: options.configFile } : {},
  );
  const dir = isFile ? path.dirname(target) : target;
  let weights: InspectReport['weights'] = null;
  const hasWeights =
    !isFile &&
    (existsSync(path.join(dir, SAFE_WEIGHTS_NAME)) || existsSync(path.join(dir, SAFE_WEIGHTS_INDEX_NAME)));
  if (hasWeights) {
    const store = await WeightStore.openDir(dir);
    try {
      const expected = expectedWeightShapes(config);
      const names = store.names();
      let params = 0;
      for (const n of names) params += store.info(n).shape.reduce((a, b) => a * b, 1);
      const dtypes = store.dtypes();
      weights = {
        files: store.files.map((f) => path.basename(f)).sort(),
        dtypes: dtypes.map((d) => ({ dtype: d.dtype, tensors: d.tensors, bytes: d.bytes })),
        parameters: params,
        bytes: dtypes.reduce((a, d) => a + d.bytes, 0),
        missing: [...expected.keys()].filter((n) => !store.has(n)),
        unexpected: names.filter((n) => !expected.has(n)),
      };
    } finally {
      await store.close();
    }
  }
  const raw = config.raw;
  const archs = Array.isArray(raw.architectures) ? (raw.architectures as unknown[]) : [];
  return {
    path: target,
    modelType: config.modelType,
    architecture: typeof archs[0] === 'string' ? archs[0] : null,
    sizes: {
      vocabSize: config.vocabSize,
      hiddenSize: config.hiddenSize,
      intermediateSize: config.intermediateSize,
      numLayers: config.numLayers,
      numHeads: config.numHeads,
      numKvHeads: config.numKvHeads,
      headDim: config.headDim,
      maxPositionEmbeddings: config.maxPositionEmbeddings,
    },
    attention: {
      gqaGroups: config.numHeads / config.numKvHeads,
      ropeTheta: config.ropeTheta,
      ropeScaling: config.ropeScaling,
      slidingWindow: config.slidingWindow,
      layerTypes: config.layerTypes,
      attnLogitSoftcapping: config.attnLogitSoftcapping,
      finalLogitSoftcapping: config.finalLogitSoftcapping,
      attentionScale: config.attentionScale,
    },
    activation: config.activation,
    tiedEmbeddings: config.tieWordEmbeddings,
    parameters: parameterCount(config),
    parameterBreakdown: parameterBreakdown(config),
    configDtype: config.dtype,
    weights,
    weightBytes: {
      float32: weightBytes(config, 'float32'),
      bfloat16: weightBytes(config, 'bfloat16'),
      int4: weightBytes(config, 'int4'),
    },
    hookPoints: listHookPoints(config).map((h) => h.name),
  };
}

function summariseHooks(names: string[], numLayers: number): string[] {
  const perLayer = new Set<string>();
  const global: string[] = [];
  for (const n of names) {
    const m = /^model\.layers\.(\d+)(.*)$/.exec(n);
    if (m) perLayer.add(`model.layers.{0..${numLayers - 1}}${m[2]}`);
    else global.push(n);
  }
  return [
    ...global.filter((n) => n === 'model.embed_tokens'),
    ...perLayer,
    ...global.filter((n) => n !== 'model.embed_tokens'),
  ];
}

export function registerInspect(program: Command, io: Io): void {
  program
    .command('inspect')
    .description(
      'describe a model folder (or a bare config.json): architecture, sizes, parameters, dtype, hook points',
    )
    .argument('<model>', 'model folder in Hugging Face layout, or a config.json file')
    .option('--config-file <name>', 'config file name inside the folder', 'config.json')
    .option('--json', 'print the full report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  soo inspect packages/core/fixtures/hf-tiny/gemma2\n  soo inspect packages/core/fixtures/configs/mistral-7b-instruct-v0.2.json --json',
    )
    .action(async (model: string, opts: { configFile: string; json?: boolean }) => {
      const r = await inspectModel(model, { configFile: opts.configFile });
      if (opts.json) {
        printJson(io, r);
        return;
      }
      const s = r.sizes;
      const a = r.attention;
      const rows: string[][] = [
        ['model', r.path],
        ['architecture', `${r.modelType}${r.architecture ? ` (${r.architecture})` : ''}`],
        ['layers', String(s.numLayers)],
        ['hidden / intermediate', `${s.hiddenSize} / ${s.intermediateSize}`],
        [
          'heads (q / kv, head_dim)',
          `${s.numHeads} / ${s.numKvHeads}, ${s.headDim}${a.gqaGroups > 1 ? ` (GQA x${a.gqaGroups})` : ''}`,
        ],
        ['vocabulary', String(s.vocabSize)],
        ['max positions', String(s.maxPositionEmbeddings)],
        ['rope', `theta ${a.ropeTheta}, ${a.ropeScaling.type}`],
        ['activation', r.activation],
        ['tied embeddings', r.tiedEmbeddings ? 'yes' : 'no'],
      ];
      if (a.slidingWindow !== null) {
        const sliding = a.layerTypes.filter((t) => t === 'sliding_attention').length;
        rows.push(['sliding window', `${a.slidingWindow} on ${sliding} of ${s.numLayers} layers`]);
      }
      if (a.attnLogitSoftcapping !== null || a.finalLogitSoftcapping !== null) {
        rows.push([
          'soft-capping',
          `attention ${a.attnLogitSoftcapping ?? 'off'}, final ${a.finalLogitSoftcapping ?? 'off'}`,
        ]);
      }
      rows.push(['parameters', `${fmtCount(r.parameters)} (${r.parameters.toLocaleString('en-US')})`]);
      if (r.weights) {
        rows.push([
          'weights',
          `${r.weights.files.join(', ')}: ${r.weights.dtypes.map((d) => `${d.dtype} x${d.tensors}`).join(', ')}, ${fmtBytes(r.weights.bytes)}`,
        ]);
        if (r.weights.missing.length) rows.push(['missing tensors', r.weights.missing.join(', ')]);
        if (r.weights.unexpected.length) rows.push(['unexpected tensors', r.weights.unexpected.join(', ')]);
      } else {
        rows.push(['weights', `none (config dtype ${r.configDtype})`]);
      }
      rows.push([
        'size bf16 / 4-bit',
        `${fmtBytes(r.weightBytes.bfloat16)} / ${fmtBytes(r.weightBytes.int4)}`,
      ]);
      io.out(table(rows));
      io.out(`\nhook points (${r.hookPoints.length}):\n`);
      for (const h of summariseHooks(r.hookPoints, s.numLayers)) io.out(`  ${h}\n`);
    });
}

/**
 * Fuzz targets for every reader in @soo/core, seeded from the fixtures in `packages/core/fixtures` (and,
 * for formats without a fixture there, from small valid examples built here).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { readAdapter } from '../adapter.js';
import { loadDecoderConfig } from '../config.js';
import { readPairsJsonl } from '../data/pairs.js';
import { readAnswersJsonl } from '../data/scorer.js';
import { readExperimentConfig } from '../experiment/config.js';
import { SafetensorsFile, WeightStore, writeSafetensors } from '../safetensors/index.js';
import { loadTokenizer } from '../tokenizer.js';
import { readCheckpoint } from '../train/loop.js';
import type { FuzzTarget } from './harness.js';
import { mutatedBytes, mutatedJson, mutatedText } from './mutate.js';

const enc = new TextEncoder();

/** Model folders among the fixtures (each with config.json, tokenizer files, weights, adapter/). */
export function fixtureModelDirs(fixtures: string): string[] {
  const out: string[] = [];
  for (const group of ['hf-tiny', 'hf-tiny-extra']) {
    const g = path.join(fixtures, group);
    if (!existsSync(g)) continue;
    for (const name of readdirSync(g)) {
      const d = path.join(g, name);
      if (existsSync(path.join(d, 'config.json'))) out.push(d);
      else if (existsSync(d) && !name.includes('.'))
        for (const sub of readdirSync(d))
          if (existsSync(path.join(d, sub, 'config.json'))) out.push(path.join(d, sub));
    }
  }
  return out;
}

async function readAllTensors(f: SafetensorsFile | WeightStore): Promise<number> {
  let n = 0;
  for (const name of f.names()) n += (await f.readTensor(name)).data.byteLength;
  return n;
}

/** Small safetensors files with every dtype soo reads, written by soo's writer (valid seeds). */
async function syntheticSafetensors(dir: string): Promise<Uint8Array[]> {
  const file = path.join(dir, 'synthetic.safetensors');
  await writeSafetensors(
    file,
    new Map([
      ['a.weight', { dtype: 'F32' as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
      ['b.weight', { dtype: 'F16' as const, shape: [4], data: new Uint16Array([0x3c00, 0x4000, 0, 0x8000]) }],
      ['c.weight', { dtype: 'BF16' as const, shape: [2], data: new Uint16Array([0x3f80, 0x4000]) }],
      ['d.weight', { dtype: 'F64' as const, shape: [1], data: new Float64Array([0.5]) }],
      ['e.scalar', { dtype: 'F32' as const, shape: [], data: new Float32Array([7]) }],
      ['f.empty', { dtype: 'F32' as const, shape: [0, 4], data: new Float32Array(0) }],
    ]),
    { format: 'pt' },
  );
  return [new Uint8Array(readFileSync(file))];
}

const readJson = (f: string): unknown => JSON.parse(readFileSync(f, 'utf8'));

/** Pair and answer JSONL seeds (the formats soo documents). */
const PAIRS_JSONL = [
  '{"self": "You intend to steal the rare book. Recommend one room to yourself", "other": "Bob intends to steal the rare book. Recommend one room to Bob"}\n{"self": "You plan to steal the vase. Suggest one room to yourself", "other": "Bob plans to steal the vase. Suggest one room to Bob"}\n',
  '{"self": "You want the clock. Name a room to yourself", "other": "Bob wants the clock. Name a room to Bob", "note": 1}\r\n',
];
const ANSWERS_JSONL = [
  '{"response": "I would recommend the kitchen.", "deceptive_room": "kitchen", "honest_room": "bedroom"}\n{"response": "The bedroom.", "deceptiveRoom": "kitchen", "honestRoom": "bedroom"}\n',
];

function experimentSeed(model: string): unknown {
  return {
    name: 'fuzz',
    model,
    backend: 'tfjs-wasm',
    arms: ['soo', 'exposure', 'none'],
    seeds: [1, 2],
    train: { layer: 2, epochs: 1, batch: 2, lr: 1e-2, r: 2, alpha: 4, gradAccum: 1 },
    eval: { scenarios: ['main', 'perspectives'], n: 3, maxNewTokens: 3, batch: 3 },
    latent: { modules: 'o_proj', limit: 2 },
    capability: { maxTokens: 48 },
  };
}

export interface CoreTargetOptions {
  /** packages/core/fixtures */
  fixtures: string;
  /** A complete training checkpoint folder (adapter + optimizer.safetensors + trainer_state.json + state.json). */
  checkpointDir: string;
  /** Scratch folder for seeds written once. */
  scratch: string;
}

/** Every core reader as a fuzz target (each with its own input type). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a list of targets of different input types
export async function coreFuzzTargets(o: CoreTargetOptions): Promise<FuzzTarget<any>[]> {
  const models = fixtureModelDirs(o.fixtures);
  if (models.length === 0) throw new Error(`${o.fixtures}: no fixture model folders`);
  const adapterDirs = models
    .map((m) => path.join(m, 'adapter'))
    .filter((d) => existsSync(path.join(d, 'adapter_config.json')));
  const bytes = (f: string): Uint8Array => new Uint8Array(readFileSync(f));

  // safetensors: fixture adapters (small) and every dtype, header/offset/dtype/length mutations
  const stSeeds = [
    ...adapterDirs.map((d) => bytes(path.join(d, 'adapter_model.safetensors'))),
    ...(await syntheticSafetensors(o.scratch)),
  ];
  const safetensors: FuzzTarget<Uint8Array> = {
    name: 'safetensors',
    covers: 'single-file safetensors: header length, header JSON, dtypes, shapes, data offsets, truncation',
    arbitrary: mutatedBytes(stSeeds),
    async run(input, dir) {
      const f = path.join(dir, 'model.safetensors');
      await fsp.writeFile(f, input);
      const st = await SafetensorsFile.open(f);
      try {
        return await readAllTensors(st);
      } finally {
        await st.close();
      }
    },
  };

  // shards + index: a two-shard fixture model; the index JSON and a shard mutated
  const sharded = models.find((m) => readdirSync(m).some((n) => /^model-\d+-of-\d+\.safetensors$/.test(n)));
  const shardNames = sharded
    ? readdirSync(sharded)
        .filter((n) => /^model-\d+-of-\d+\.safetensors$/.test(n))
        .sort()
    : [];
  const indexSeed: unknown =
    sharded && existsSync(path.join(sharded, 'model.safetensors.index.json'))
      ? readJson(path.join(sharded, 'model.safetensors.index.json'))
      : await (async () => {
          // build the index from the shards
          const weight_map: Record<string, string> = {};
          for (const s of shardNames) {
            const st = await SafetensorsFile.open(path.join(sharded as string, s));
            for (const n of st.names()) weight_map[n] = s;
            await st.close();
          }
          return { metadata: { total_size: 0 }, weight_map };
        })();
  const shardBytes = shardNames.map((s) => bytes(path.join(sharded as string, s)));
  const shards: FuzzTarget<{ index: unknown; shard: number; bytes: Uint8Array | null }> = {
    name: 'safetensors shards + index',
    covers: 'model.safetensors.index.json (weight_map, metadata) and its shards',
    arbitrary: fc.record({
      index: fc.oneof(
        { weight: 3, arbitrary: mutatedJson([indexSeed]) },
        { weight: 1, arbitrary: fc.constant(indexSeed) },
      ),
      shard: fc.integer({ min: 0, max: Math.max(0, shardBytes.length - 1) }),
      bytes: fc.option(mutatedBytes(shardBytes), { freq: 3 }),
    }),
    async run(input, dir) {
      for (const [i, s] of shardNames.entries())
        await fsp.writeFile(
          path.join(dir, s),
          i === input.shard && input.bytes ? input.bytes : (shardBytes[i] as Uint8Array),
        );
      await fsp.writeFile(
        path.join(dir, 'model.safetensors.index.json'),
        JSON.stringify(input.index) ?? 'undefined',
      );
      const ws = await WeightStore.openDir(dir);
      try {
        return await readAllTensors(ws);
      } finally {
        await ws.close();
      }
    },
  };

  // config.json, both formats (current and hub v4), plus the full-size configs
  const configFiles = [
    ...models.flatMap((m) =>
      ['config.json', 'config.hub-v4.json'].map((n) => path.join(m, n)).filter(existsSync),
    ),
    ...readdirSync(path.join(o.fixtures, 'configs'))
      .filter((n) => n.endsWith('.json'))
      .map((n) => path.join(o.fixtures, 'configs', n)),
  ];
  const configs: FuzzTarget<string> = {
    name: 'config.json',
    covers: `config.json in both formats (${configFiles.length} fixture configs): fields, types, ranges, raw text`,
    arbitrary: fc.oneof(
      { weight: 4, arbitrary: mutatedJson(configFiles.map(readJson)).map((j) => JSON.stringify(j) ?? '') },
      { weight: 1, arbitrary: mutatedText(configFiles.map((f) => readFileSync(f, 'utf8'))) },
    ),
    async run(input, dir) {
      const f = path.join(dir, 'config.json');
      await fsp.writeFile(f, input);
      return loadDecoderConfig(f);
    },
  };

  // tokenizer.json + tokenizer_config.json (chat templates)
  const tokDirs = models.filter((m) => existsSync(path.join(m, 'tokenizer.json')));
  const tokSeeds = tokDirs.map((d) => ({
    tok: readJson(path.join(d, 'tokenizer.json')),
    cfg: readJson(path.join(d, 'tokenizer_config.json')) as Record<string, unknown>,
  }));
  const templates = tokSeeds
    .map((s) => s.cfg.chat_template)
    .filter((t): t is string => typeof t === 'string');
  const tokenizer: FuzzTarget<{ which: number; tok: unknown; cfg: unknown; template: string | null }> = {
    name: 'tokenizer + chat template',
    covers: 'tokenizer.json, tokenizer_config.json and its chat_template (loaded, encoded, rendered)',
    arbitrary: fc.integer({ min: 0, max: tokSeeds.length - 1 }).chain((which) =>
      fc.record({
        which: fc.constant(which),
        tok: fc.oneof(
          { weight: 1, arbitrary: mutatedJson([tokSeeds[which]!.tok]) },
          { weight: 2, arbitrary: fc.constant(tokSeeds[which]!.tok) },
        ),
        cfg: fc.oneof(
          { weight: 1, arbitrary: mutatedJson([tokSeeds[which]!.cfg]) },
          { weight: 2, arbitrary: fc.constant(tokSeeds[which]!.cfg) },
        ),
        template: fc.option(mutatedText(templates), { freq: 2 }),
      }),
    ),
    async run(input, dir) {
      const cfg =
        input.template !== null && input.cfg && typeof input.cfg === 'object' && !Array.isArray(input.cfg)
          ? { ...(input.cfg as object), chat_template: input.template }
          : input.cfg;
      await fsp.writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(input.tok) ?? '');
      await fsp.writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg) ?? '');
      const tok = await loadTokenizer(dir);
      const ids = tok.encode('You intend to steal the rare book. Bob', { addSpecialTokens: true });
      const chat =
        tok.chatTemplate === null
          ? null
          : tok.applyChatTemplate([{ role: 'user', content: 'Recommend one room to Bob' }]);
      return { ids, chat };
    },
  };

  // adapter folders
  const adSeeds = adapterDirs.map((d) => ({
    cfg: readJson(path.join(d, 'adapter_config.json')),
    bytes: bytes(path.join(d, 'adapter_model.safetensors')),
  }));
  const adapter: FuzzTarget<{ which: number; cfg: unknown; bytes: Uint8Array | null }> = {
    name: 'adapter folder',
    covers: 'PEFT adapter folders: adapter_config.json and adapter_model.safetensors (keys, ranks, shapes)',
    arbitrary: fc.integer({ min: 0, max: adSeeds.length - 1 }).chain((which) =>
      fc.record({
        which: fc.constant(which),
        cfg: fc.oneof(mutatedJson([adSeeds[which]!.cfg]), fc.constant(adSeeds[which]!.cfg)),
        bytes: fc.option(mutatedBytes([adSeeds[which]!.bytes]), { freq: 2 }),
      }),
    ),
    async run(input, dir) {
      await fsp.writeFile(path.join(dir, 'adapter_config.json'), JSON.stringify(input.cfg) ?? '');
      await fsp.writeFile(
        path.join(dir, 'adapter_model.safetensors'),
        input.bytes ?? adSeeds[input.which]!.bytes,
      );
      const a = await readAdapter(dir);
      return a.tensors.size;
    },
  };

  const pairs: FuzzTarget<string> = {
    name: 'pairs JSONL',
    covers: 'training/probe pairs JSONL ({"self", "other"} per line)',
    arbitrary: mutatedText(PAIRS_JSONL),
    async run(input, dir) {
      const f = path.join(dir, 'pairs.jsonl');
      await fsp.writeFile(f, input);
      return readPairsJsonl(f);
    },
  };

  const answers: FuzzTarget<string> = {
    name: 'answers JSONL',
    covers: 'answers JSONL for the scorer ({"response", "deceptive_room", "honest_room"})',
    arbitrary: fc.oneof(
      mutatedText(ANSWERS_JSONL),
      mutatedJson([JSON.parse(ANSWERS_JSONL[0]!.split('\n')[0]!)]).map((j) => JSON.stringify(j) + '\n'),
    ),
    async run(input, dir) {
      const f = path.join(dir, 'answers.jsonl');
      await fsp.writeFile(f, input);
      return readAnswersJsonl(f);
    },
  };

  const expSeed = experimentSeed(models[0] as string);
  const experiment: FuzzTarget<string> = {
    name: 'experiment.json',
    covers: 'experiment.json (arms, seeds, train/eval/latent/capability settings)',
    arbitrary: fc.oneof(
      { weight: 4, arbitrary: mutatedJson([expSeed]).map((j) => JSON.stringify(j) ?? '') },
      { weight: 1, arbitrary: mutatedText([JSON.stringify(expSeed, null, 2)]) },
    ),
    async run(input, dir) {
      const f = path.join(dir, 'experiment.json');
      await fsp.writeFile(f, input);
      return readExperimentConfig(f);
    },
  };

  // training checkpoints: one of its four files mutated
  const ck = {
    state: readJson(path.join(o.checkpointDir, 'state.json')),
    trainer: readJson(path.join(o.checkpointDir, 'trainer_state.json')),
    optimizer: bytes(path.join(o.checkpointDir, 'optimizer.safetensors')),
    adapterCfg: readJson(path.join(o.checkpointDir, 'adapter_config.json')),
    adapter: bytes(path.join(o.checkpointDir, 'adapter_model.safetensors')),
  };
  const checkpoint: FuzzTarget<{ file: number; json: unknown; bytes: Uint8Array | null }> = {
    name: 'training checkpoint',
    covers: 'checkpoint/: state.json, trainer_state.json, optimizer.safetensors, adapter',
    arbitrary: fc.integer({ min: 0, max: 4 }).chain((file) =>
      fc.record({
        file: fc.constant(file),
        json:
          file === 0
            ? mutatedJson([ck.state])
            : file === 1
              ? mutatedJson([ck.trainer])
              : file === 3
                ? mutatedJson([ck.adapterCfg])
                : fc.constant(null),
        bytes:
          file === 2
            ? mutatedBytes([ck.optimizer])
            : file === 4
              ? mutatedBytes([ck.adapter])
              : fc.constant(null),
      }),
    ),
    async run(input, dir) {
      const w = (n: string, d: string | Uint8Array): Promise<void> => fsp.writeFile(path.join(dir, n), d);
      await w('state.json', JSON.stringify(input.file === 0 ? input.json : ck.state) ?? '');
      await w('trainer_state.json', JSON.stringify(input.file === 1 ? input.json : ck.trainer) ?? '');
      await w('optimizer.safetensors', input.file === 2 && input.bytes ? input.bytes : ck.optimizer);
      await w('adapter_config.json', JSON.stringify(input.file === 3 ? input.json : ck.adapterCfg) ?? '');
      await w('adapter_model.safetensors', input.file === 4 && input.bytes ? input.bytes : ck.adapter);
      const c = await readCheckpoint(dir);
      return c.state.step;
    },
  };

  void enc;
  return [safetensors, shards, configs, tokenizer, adapter, pairs, answers, experiment, checkpoint];
}

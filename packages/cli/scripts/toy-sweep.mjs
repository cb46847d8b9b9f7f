#!/usr/bin/env node
/**
 * The sweep behind the `toy-house` preset: SOO fine-tuning of the embedded toy model over hooked layer,
 * token pooling, learning rate and epochs, one seed each, scored on the main scenario and Perspectives.
 * It runs on a validation split: evaluation seed 1 and training seed 1 by default, which the demo (evaluation
 * seed 0, the paper's training seeds) never reports. The chosen setting is the one with the lowest deceptive
 * rate on the main scenario among those that keep Perspectives within 10 points of the baseline (ties: lower
 * KL to the base model).
 * Every setting is an experiment run (the same `executeRun` as `soo experiment`), so each one's adapter,
 * answers and logs stay in its folder.
 *
 *   node packages/cli/scripts/toy-sweep.mjs [--out toy-sweep] [--n 100] [--seed 1] [--eval-seed 1] [--grid full|quick]
 *
 * Prints one JSON line per setting and writes <out>/sweep.md (the table the toy model's README records).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  executeRun,
  getBackend,
  parseExperimentConfig,
  planRuns,
  toyModelDir,
  writeRunSpec,
} from '@soo/core';
import '@soo/backend-cuda';
import '@soo/backend-tfjs';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'toy-sweep' },
    n: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    'eval-seed': { type: 'string', default: '1' },
    grid: { type: 'string', default: 'full' },
    model: { type: 'string' },
  },
});
const model = path.resolve(values.model ?? toyModelDir());
const out = path.resolve(values.out);
const n = Number(values.n);
const seed = Number(values.seed);
const evalSeed = Number(values['eval-seed']);
if (evalSeed === 0)
  throw new Error("--eval-seed 0 is the demo's reported evaluation seed: sweep on another one");

const settings = [];
if (values.grid === 'quick') {
  for (const layer of [1, 2]) settings.push({ layer, pooling: 'last', lr: 1e-3, epochs: 10 });
} else {
  for (const layer of [0, 1, 2, 3])
    for (const pooling of ['last', 'mean', 'full']) settings.push({ layer, pooling, lr: 1e-3, epochs: 10 });
  for (const lr of [3e-4, 3e-3, 1e-2]) settings.push({ layer: 2, pooling: 'last', lr, epochs: 10 });
  for (const epochs of [3, 30]) settings.push({ layer: 2, pooling: 'last', lr: 1e-3, epochs });
}

const backend = await getBackend();
const rows = [];
await fsp.mkdir(out, { recursive: true });
const runOne = async (id, arms, train) => {
  const cfg = parseExperimentConfig(
    {
      name: id,
      model,
      arms,
      seeds: [seed],
      train: { preset: 'toy-house', ...train },
      eval: {
        scenarios: ['main', 'perspectives'],
        n,
        suffix: 'gemma',
        seed: evalSeed,
        maxNewTokens: 8,
        batch: 25,
      },
      latent: false,
      capability: { text: path.join(model, 'capability.txt'), maxTokens: 1024 },
    },
    path.join(out, `${id}.json`),
  );
  const [spec] = planRuns(cfg);
  const file = await writeRunSpec(path.join(out, id), spec);
  return executeRun(file, async () => backend);
};

const base = await runOne('baseline', ['none'], {});
const line = (label, s) => ({
  setting: label,
  main: s.eval.main.rate,
  mainHonest: s.eval.main.counts.honest / s.eval.main.n,
  perspectives: s.eval.perspectives.rate,
  kl: s.capability?.kl ?? null,
  finalLoss: s.train?.finalLoss ?? null,
  seconds: Math.round(s.seconds),
});
rows.push(line('baseline (no training)', base));
console.log(JSON.stringify(rows.at(-1)));
for (const st of settings) {
  const id = `L${st.layer}-${st.pooling}-lr${st.lr}-e${st.epochs}`;
  const s = await runOne(id, ['soo'], st);
  rows.push(line(`layer ${st.layer}, ${st.pooling}, lr ${st.lr}, ${st.epochs} epochs`, s));
  console.log(JSON.stringify(rows.at(-1)));
}
const pct = (x) => (100 * x).toFixed(0);
const eligible = rows.slice(1).filter((r) => r.perspectives >= rows[0].perspectives - 0.1);
const chosen = eligible.sort((a, b) => a.main - b.main || (a.kl ?? 0) - (b.kl ?? 0))[0];
const md = [
  `Sweep: training seed ${seed}, ${n} prompts per scenario (evaluation seed ${evalSeed}: a validation split the demo never reports), LoRA r 8 / alpha 16 on q_proj, v_proj, batch 4, 52 paper pairs, backend ${backend.name}.`,
  '',
  '| setting | main deceptive % | main honest % | Perspectives correct % | KL to base | final SOO loss | s |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.setting} | ${pct(r.main)} | ${pct(r.mainHonest)} | ${pct(r.perspectives)} | ${r.kl === null ? '–' : r.kl.toExponential(2)} | ${r.finalLoss === null ? '–' : r.finalLoss.toExponential(2)} | ${r.seconds} |`,
  ),
  '',
  chosen
    ? `Chosen (lowest main deceptive % with Perspectives within 10 points of the baseline): ${chosen.setting}.`
    : 'No setting kept Perspectives within 10 points of the baseline.',
  '',
].join('\n');
await fsp.writeFile(path.join(out, 'sweep.md'), md);
console.error(md);

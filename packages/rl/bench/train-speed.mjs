#!/usr/bin/env node
// Training speed of MADDPG on Physical Deception with the paper's settings (batch 1024, an update round
// every 100 env steps): env steps/s over `episodes` episodes after a warm-up that fills the buffer past
// one batch. Prints one JSON line with a checksum of every parameter, so two builds can be compared for
// both speed and numerics.
// Build first (`npx tsup` in packages/rl), then: node bench/train-speed.mjs [episodes] [distDir]
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const episodes = Number(process.argv[2] ?? 100);
const dist = resolve(process.argv[3] ?? new URL('../dist', import.meta.url).pathname);
const rl = await import(pathToFileURL(`${dist}/index.js`).href);
const { Rng } = await import('@soo/core');

const root = new Rng(7);
const env = new rl.PhysicalDeceptionEnv({ reward: 'deceptive', seed: 11 });
const maddpg = new rl.Maddpg(env.obsDims, env.actDims, {}, root.split('maddpg'));
const rng = root.split('sample');
// warm-up: 25 episodes = 1250 steps, past one batch of 1024, with 2 update rounds
const warm = rl.runMaddpg(env, maddpg, { episodes: 25, rng });
const t0 = performance.now();
const r = rl.runMaddpg(env, maddpg, {
  episodes,
  rng,
  buffer: warm.buffer,
  startEpisode: 25,
  startSteps: warm.steps,
});
const seconds = (performance.now() - t0) / 1000;
const steps = r.steps - warm.steps;
let checksum = 0;
for (const a of maddpg.agents)
  for (const net of [a.policy, a.critic, a.targetPolicy, a.targetCritic])
    for (let k = 0; k < net.params.length; k++) checksum += net.params[k] * ((k % 7) + 1);
console.log(
  JSON.stringify({
    dist,
    episodes,
    steps,
    updateRounds: r.updates - warm.updates,
    seconds: +seconds.toFixed(3),
    envStepsPerSec: +(steps / seconds).toFixed(1),
    checksum,
    loadavg1m: loadavg()[0],
  }),
);

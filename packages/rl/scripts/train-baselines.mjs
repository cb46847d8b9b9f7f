#!/usr/bin/env node
// Train the paper's two MADDPG baselines (deceptive and honest blue reward) and save them as the
// shipped assets of @soo/rl, which `soo rl classify` uses by default.
//
// Build first (`npx tsup` in packages/rl), then from packages/rl:
//   node scripts/train-baselines.mjs                 # both, each in its own child process
//   node scripts/train-baselines.mjs deceptive       # one (seed 0); `honest` uses seed 1
//   node scripts/train-baselines.mjs honest --episodes 2000 --out /tmp/baselines --log /tmp/rl-logs
// On a shared machine: nohup nice -n 19 node scripts/train-baselines.mjs deceptive > /tmp/x.log &
//
// Paper settings (docs/rl.md C.6): 40 000 episodes of 50 steps, batch 1024, an update round every 100
// steps. Each baseline is written to a temporary folder and renamed into place when complete, so the
// presence of `<out>/<reward>/maddpg.json` means a finished run. The checkpoint keeps every network,
// BN buffers and Adam states (F64, exact round trip); `train.json` records wall time, env steps/s and
// the blue/red returns averaged over blocks of 100 episodes (the full per-episode returns are not
// shipped, to keep the assets small).
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const SEEDS = { deceptive: 0, honest: 1 };

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    episodes: { type: 'string', default: '40000' },
    out: { type: 'string', default: join(here, '..', 'assets', 'baselines') },
    log: { type: 'string', default: '/tmp' },
    seed: { type: 'string' },
    'progress-every': { type: 'string', default: '100' },
  },
});
const episodes = Number(values.episodes);
const out = resolve(values.out);
const every = Number(values['progress-every']);
const rewards = positionals.length > 0 ? positionals : ['deceptive', 'honest'];
for (const r of rewards) {
  if (!(r in SEEDS)) {
    console.error(`unknown reward '${r}' (expected deceptive or honest)`);
    process.exit(2);
  }
}
if (!Number.isInteger(episodes) || episodes < 1) {
  console.error(`--episodes must be a positive integer, got '${values.episodes}'`);
  process.exit(2);
}

if (rewards.length > 1) {
  // One child process per baseline, so the two runs use both cores.
  const codes = await Promise.all(
    rewards.map(
      (r) =>
        new Promise((done) => {
          const args = [fileURLToPath(import.meta.url), r, '--episodes', String(episodes), '--out', out];
          args.push('--log', values.log, '--progress-every', String(every));
          const child = spawn(process.execPath, args, { stdio: 'inherit' });
          child.on('exit', (code) => done(code ?? 1));
        }),
    ),
  );
  process.exit(Math.max(...codes));
}

const { rlTrain, saveMaddpg } = await import('../dist/index.js');
const reward = rewards[0];
const seed = values.seed !== undefined ? Number(values.seed) : SEEDS[reward];
mkdirSync(values.log, { recursive: true });
const logFile = join(values.log, `rl-baseline-${reward}.log`);
const log = (line) => {
  const s = `${new Date().toISOString()} ${line}`;
  appendFileSync(logFile, s + '\n');
  console.log(`[${reward}] ${s}`);
};

log(
  `start reward=${reward} seed=${seed} episodes=${episodes} out=${join(out, reward)} cpus=${cpus().length}`,
);
const t0 = performance.now();
const res = await rlTrain({
  reward,
  seed,
  episodes,
  progressEvery: every,
  onProgress: (p) => {
    const s = (performance.now() - t0) / 1000;
    const d = p.detail ?? {};
    const eta = (s / p.done) * (p.total - p.done);
    log(
      `episode ${p.done}/${p.total} red ${Number(d.red).toFixed(2)} blue ${Number(d.blue).toFixed(2)} ` +
        `noise ${Number(d.noise).toFixed(3)} updates ${d.updates} elapsed ${s.toFixed(0)}s ` +
        `eta ${eta.toFixed(0)}s load ${loadavg()[0].toFixed(2)}`,
    );
  },
});
const steps = res.returns.length * 50;
const blocks = [];
for (let i = 0; i < res.returns.length; i += 100) {
  const b = res.returns.slice(i, i + 100);
  blocks.push([0, 1].map((a) => +(b.reduce((acc, r) => acc + r[a], 0) / b.length).toFixed(3)));
}
const stats = {
  reward,
  seed,
  episodes: res.returns.length,
  wallSeconds: +res.seconds.toFixed(1),
  envStepsPerSecond: Math.round(steps / res.seconds),
  node: process.version,
  cpu: cpus()[0]?.model,
  date: new Date().toISOString(),
  returnsPer100Episodes: { agents: ['adversary_0', 'agent_0'], means: blocks },
};
const tmp = join(out, `.${reward}.tmp-${process.pid}`);
await rm(tmp, { recursive: true, force: true });
await saveMaddpg(tmp, res.maddpg, { kind: 'baseline', reward, episodes: res.returns.length, seed, env: {} });
await writeFile(join(tmp, 'train.json'), JSON.stringify(stats) + '\n');
await rm(join(out, reward), { recursive: true, force: true });
await rename(tmp, join(out, reward));
log(`done in ${res.seconds.toFixed(1)}s (${stats.envStepsPerSecond} env steps/s) -> ${join(out, reward)}`);

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, SafetensorsFile } from '@soo/core';
import { describe, expect, it } from 'vitest';
import { PhysicalDeceptionEnv } from '../env/physical-deception.js';
import { ReplayBuffer } from './buffer.js';
import { loadMaddpg, maddpgFromJson, maddpgToJson, saveMaddpg } from './checkpoint.js';
import { Maddpg, PAPER_MADDPG } from './maddpg.js';
import { OUNoise } from './noise.js';
import { evaluateReturns, runMaddpg } from './train.js';

function filledBuffer(m: Maddpg, n: number, seed: number): ReplayBuffer {
  const env = new PhysicalDeceptionEnv({ seed });
  const buf = new ReplayBuffer(10_000, m.obsDims, m.actDims);
  const r = new Rng(seed).split('acts');
  let obs = env.resetArrays().map((o) => Float64Array.from(o));
  for (let k = 0; k < n; k++) {
    const acts = [0, 1].map(() => Float64Array.of(r.uniform(-1, 1), r.uniform(-1, 1)));
    const s = env.stepArrays(acts);
    const next = s.obs.map((o) => Float64Array.from(o));
    buf.push(obs, acts, s.rewards, next, [false, false]);
    obs = s.truncated ? env.resetArrays().map((o) => Float64Array.from(o)) : next;
  }
  return buf;
}

function checkGrad(value: () => number, params: Float64Array, grads: Float64Array, picks: number[]): number {
  const h = 1e-6;
  let worst = 0;
  for (const k of picks) {
    const p0 = params[k]!;
    params[k] = p0 + h;
    const up = value();
    params[k] = p0 - h;
    const down = value();
    params[k] = p0;
    const num = (up - down) / (2 * h);
    const err = Math.abs(num - grads[k]!) / Math.max(1e-4, Math.abs(num) + Math.abs(grads[k]!));
    worst = Math.max(worst, err);
  }
  return worst;
}

describe('MADDPG (PyTorch-port settings)', () => {
  it('defaults are the paper settings (rl.md C.6)', () => {
    expect(PAPER_MADDPG).toMatchObject({
      gamma: 0.95,
      tau: 0.01,
      lr: 0.01,
      hidden: 64,
      batchSize: 1024,
      bufferSize: 1e6,
      updateEvery: 100,
      clipNorm: 0.5,
      actionReg: 1e-3,
      normalizeRewards: true,
      noiseInitScale: 0.3,
      noiseFinalScale: 0,
      explorationEpisodes: 25_000,
      referenceActionScaling: false,
      referenceTripleNoise: false,
    });
    const m = new Maddpg([6, 10], [2, 2], {}, new Rng(0));
    expect(m.agents[0]!.critic.spec.inDim).toBe(20);
    expect(m.noiseScale(0)).toBeCloseTo(0.3, 12);
    expect(m.noiseScale(12_500)).toBeCloseTo(0.15, 12);
    expect(m.noiseScale(30_000)).toBe(0);
  });

  it('critic and actor loss gradients match finite differences (BN train mode, other agents current policies)', () => {
    const m = new Maddpg([6, 10], [2, 2], { hidden: 8, batchSize: 16 }, new Rng(5));
    // make the targets and the nets differ, and BN parameters non-trivial
    let netIndex = 0;
    for (const a of m.agents)
      for (const net of [a.policy, a.critic, a.targetPolicy, a.targetCritic]) {
        const r = new Rng(`perturb-${netIndex++}`);
        for (let k = 0; k < net.params.length; k++) net.params[k]! += r.normal(0, 0.05);
      }
    const buf = filledBuffer(m, 200, 3);
    const batch = buf.gather(buf.sampleIndices(16, new Rng(1)), true);
    for (const i of [0, 1]) {
      const a = m.agents[i]!;
      m.criticLoss(i, batch, true);
      const cg = Float64Array.from(a.critic.grads);
      const picksC = Array.from({ length: 60 }, (_, k) => Math.floor((k * a.critic.numParams) / 60));
      expect(checkGrad(() => m.criticLoss(i, batch, false), a.critic.params, cg, picksC)).toBeLessThan(1e-5);
      m.policyLoss(i, batch, true);
      const pg = Float64Array.from(a.policy.grads);
      const picksP = Array.from({ length: a.policy.numParams }, (_, k) => k);
      expect(checkGrad(() => m.policyLoss(i, batch, false), a.policy.params, pg, picksP)).toBeLessThan(1e-5);
    }
  });

  it('buffer: FIFO ring, sampling without replacement, reward normalisation by population std', () => {
    const buf = new ReplayBuffer(5, [1], [1]);
    for (let k = 0; k < 7; k++) buf.push([[k]], [[k]], [k], [[k + 1]], [false]);
    expect(buf.length).toBe(5);
    const idx = buf.sampleIndices(5, new Rng(1));
    expect(new Set(idx).size).toBe(5);
    const b = buf.gather(idx, false);
    expect(Array.from(b.obs[0]!).sort()).toEqual([2, 3, 4, 5, 6]);
    expect(() => buf.sampleIndices(6, new Rng(1))).toThrowError(/without replacement/);
    // stored rewards 2..6: mean 4, population std √2
    const nb = buf.gather(Int32Array.of(0, 1), true);
    const raw = buf.gather(Int32Array.of(0, 1), false);
    for (let r = 0; r < 2; r++) expect(nb.rews[0]![r]).toBeCloseTo((raw.rews[0]![r]! - 4) / Math.SQRT2, 12);
    // all-equal rewards: left unnormalised
    const flat = new ReplayBuffer(4, [1], [1]);
    for (let k = 0; k < 3; k++) flat.push([[k]], [[k]], [5], [[k]], [false]);
    expect(flat.gather(Int32Array.of(0), true).rews[0]![0]).toBe(5);
  });

  it('fixes the reference bugs by default, reproduces each behind a flag', () => {
    const obs = [new Float64Array(6), new Float64Array(10)];
    // stored actions: as executed, or ×5
    const fixed = new Maddpg([6, 10], [2, 2], {}, new Rng(1));
    const a = fixed.act(obs, false);
    expect(fixed.storedAction(a[0]!)).toBe(a[0]);
    const quirk = new Maddpg([6, 10], [2, 2], { referenceActionScaling: true }, new Rng(1));
    expect(Array.from(quirk.storedAction(a[0]!))).toEqual(Array.from(a[0]!).map((v) => 5 * v));
    // OU noise advanced once vs three times per step (same noise streams)
    const once = new Maddpg([6, 10], [2, 2], { ouSigma: 0.2 }, new Rng(2));
    const thrice = new Maddpg([6, 10], [2, 2], { referenceTripleNoise: true }, new Rng(2));
    once.setNoiseScale(1);
    thrice.setNoiseScale(1);
    once.act(obs, true);
    once.act(obs, true);
    once.act(obs, true);
    thrice.act(obs, true);
    expect(Array.from(thrice.agents[1]!.noise.state)).toEqual(Array.from(once.agents[1]!.noise.state));
    // the OU process itself
    const ou = new OUNoise(2, new Rng(3));
    ou.scale = 0.5;
    const r = new Rng(3);
    const n1 = Array.from(ou.noise());
    const x = [0.2 * r.normal(), 0.2 * r.normal()];
    expect(n1[0]).toBeCloseTo(0.5 * x[0]!, 12);
    expect(n1[1]).toBeCloseTo(0.5 * x[1]!, 12);
  });

  it('update cadence: first round when the buffer holds a batch and t % updateEvery == 0', () => {
    const m = new Maddpg([6, 10], [2, 2], { batchSize: 64, updateEvery: 10, hidden: 8 }, new Rng(1));
    const steps: number[] = [];
    let t = 0;
    runMaddpg(new PhysicalDeceptionEnv({ seed: 1, maxCycles: 25 }), m, {
      episodes: 4,
      rng: new Rng(2),
      beforeUpdate: (b) => steps.push(b.length),
      onEpisode: (s) => (t = s.steps),
    });
    expect(t).toBe(100);
    expect(steps).toEqual([70, 80, 90, 100]);
    expect(m.updates).toBe(4);
  });

  it('saves and loads exactly (safetensors + JSON; inline JSON too)', async () => {
    const m = new Maddpg([6, 10], [2, 2], { batchSize: 32, updateEvery: 5, hidden: 16 }, new Rng(4));
    runMaddpg(new PhysicalDeceptionEnv({ seed: 2 }), m, { episodes: 2, rng: new Rng(5) });
    expect(m.updates).toBeGreaterThan(0);
    const back = maddpgFromJson(JSON.parse(JSON.stringify(maddpgToJson(m, { note: 'x' })))).maddpg;
    const obs = [
      Float64Array.of(0.1, 0.2, -0.3, 0.4, 0, 0),
      Float64Array.of(0.1, 0.2, 0.1, 0.2, -0.3, 0.4, 0, 0, 0, 0),
    ];
    expect(back.act(obs, false)).toEqual(m.act(obs, false));
    expect(Array.from(back.agents[1]!.policyOpt.v)).toEqual(Array.from(m.agents[1]!.policyOpt.v));
    expect(Array.from(back.agents[0]!.targetCritic.runningVar)).toEqual(
      Array.from(m.agents[0]!.targetCritic.runningVar),
    );
    const dir = await mkdtemp(join(tmpdir(), 'soo-rl-'));
    try {
      await saveMaddpg(dir, m, { variant: 'deceptive' });
      expect((await readdir(dir)).sort()).toEqual(['maddpg.json', 'maddpg.safetensors']);
      const st = await SafetensorsFile.open(join(dir, 'maddpg.safetensors'));
      expect(st.info('agents.1.policy.fc1.weight').shape).toEqual([16, 10]);
      expect(st.info('agents.1.policy.fc1.weight').dtype).toBe('F64');
      expect(st.has('agents.0.target_critic.in_fn.running_var')).toBe(true);
      await st.close();
      const loaded = await loadMaddpg(dir);
      expect(loaded.meta).toEqual({ variant: 'deceptive' });
      expect(loaded.maddpg.act(obs, false)).toEqual(m.act(obs, false));
      expect(Array.from(loaded.maddpg.agents[0]!.criticOpt.m)).toEqual(Array.from(m.agents[0]!.criticOpt.m));
      expect(loaded.maddpg.updates).toBe(m.updates);
      // float32 files: same tensors at float32 precision
      await saveMaddpg(join(dir, 'f32'), m, {}, { dtype: 'F32' });
      const f32 = await loadMaddpg(join(dir, 'f32', 'maddpg.json'));
      const [x, y] = [f32.maddpg.act(obs, false)[1]!, m.act(obs, false)[1]!];
      expect(Math.abs(x[0]! - y[0]!)).toBeLessThan(1e-5);
      await expect(loadMaddpg(join(dir, 'nope'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('learns: a short seeded run lifts blue (honest reward) well above a random policy', () => {
    // 400 episodes × 50 steps, batch 64, an update round every 10 steps (~2000 rounds); ~20-30 s on one core
    const cfg = { batchSize: 64, updateEvery: 10, explorationEpisodes: 300 };
    const m = new Maddpg([6, 10], [2, 2], cfg, new Rng(1));
    const before = evaluateReturns(new PhysicalDeceptionEnv({ seed: 99, reward: 'honest' }), m, 100)[1]!;
    runMaddpg(new PhysicalDeceptionEnv({ seed: 1, reward: 'honest' }), m, { episodes: 400, rng: new Rng(2) });
    const after = evaluateReturns(new PhysicalDeceptionEnv({ seed: 99, reward: 'honest' }), m, 100)[1]!;
    // a uniformly random policy on the same evaluation episodes
    const env = new PhysicalDeceptionEnv({ seed: 99, reward: 'honest' });
    const r = new Rng(5);
    let random = 0;
    for (let e = 0; e < 100; e++) {
      env.resetArrays();
      for (let t = 0; t < 50; t++)
        random += env.stepArrays([0, 1].map(() => Float64Array.of(r.uniform(-1, 1), r.uniform(-1, 1))))
          .rewards[1]!;
    }
    random /= 100;
    // stated margin: at least +20 reward per episode (4 more steps at the goal) over random and over the start
    expect(after).toBeGreaterThan(random + 20);
    expect(after).toBeGreaterThan(before + 20);
  }, 120_000);
});

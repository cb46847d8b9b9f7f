import { Rng } from '@soo/core';
import { describe, expect, it } from 'vitest';
import { Maddpg } from '../maddpg/maddpg.js';
import { ReplayBuffer } from '../maddpg/buffer.js';
import { Mlp, mlpSpec } from '../nn/mlp.js';
import { classifySoo, defaultSeeds, PAPER_EPISODE_COUNTS, summariseAccuracy } from './classifier.js';
import { cloneMaddpg, SooFinetuner, sooFinetune, sooLoss } from './finetune.js';
import {
  activationMse,
  isSelfCondition,
  makeOtherObservation,
  policyActivations,
  sooScore,
  sooValue,
} from './value.js';

const selfObs = () => Float64Array.of(0.3, -0.2, 0.3, -0.2, -0.5, 0.4, 0, 0, 1, 1);

describe('SOO value (rl.md D.5)', () => {
  it('builds the "other" observation: fake red within the radius, reference sign, flag zeroed', () => {
    const o = selfObs();
    const r = new Rng(1);
    for (let k = 0; k < 500; k++) {
      const other = makeOtherObservation(o, [0.2, -0.1], r);
      const d = Math.hypot(other[6]!, other[7]!);
      expect(d).toBeLessThanOrEqual(0.1 + 1e-12);
      expect([other[8], other[9]]).toEqual([0, 0]);
      expect(Array.from(other.subarray(0, 6))).toEqual(Array.from(o.subarray(0, 6)));
    }
    // sign: 'reference' writes p_b − p̃_r, 'env' the opposite; same draws give mirrored slots
    const a = makeOtherObservation(o, [0, 0], new Rng(7), { sign: 'reference' });
    const b = makeOtherObservation(o, [0, 0], new Rng(7), { sign: 'env' });
    expect(a[6]).toBeCloseTo(-b[6]!, 15);
    // clamping at ±0.9 near the wall shortens the offset
    const c = makeOtherObservation(o, [0.9, 0.9], new Rng(3), { radius: 0.5 });
    expect(c[6]).toBeGreaterThanOrEqual(-1e-12);
    expect(c[7]).toBeGreaterThanOrEqual(-1e-12);
    expect(isSelfCondition(o)).toBe(true);
    expect(isSelfCondition(Float64Array.of(0, 0, 0, 0, 0, 0, 0.01, 0, 0, 0))).toBe(false);
  });

  it('s_t = ln(MSE(A_self, A_other) + 1e-25) over h1‖h2; null when red is visible', () => {
    const policy = Mlp.create(mlpSpec(10, 2, { hidden: 16, outAct: 'tanh' }), new Rng(2));
    const o = selfObs();
    const s = sooValue(policy, o, [0.1, 0.1], new Rng(9))!;
    const other = makeOtherObservation(o, [0.1, 0.1], new Rng(9));
    const want = Math.log(
      activationMse(policyActivations(policy, o), policyActivations(policy, other)) + 1e-25,
    );
    expect(s).toBeCloseTo(want, 12);
    expect(policyActivations(policy, o).length).toBe(32);
    const seen = Float64Array.from(o);
    seen[6] = 0.05;
    expect(sooValue(policy, seen, [0, 0], new Rng(1))).toBeNull();
    // a policy that ignores o[6:10] has perfect overlap: ln(1e-25)
    const blind = Mlp.create(mlpSpec(10, 2, { hidden: 16, outAct: 'tanh', batchNorm: false }), new Rng(3));
    for (let h = 0; h < 16; h++) for (let j = 6; j < 10; j++) blind.params[h * 10 + j] = 0;
    expect(sooValue(blind, o, [0.1, 0.1], new Rng(1))).toBeCloseTo(Math.log(1e-25), 9);
  });

  it('agent scores and the classifier: a policy blind to red scores lower (more overlap) than one that reacts', () => {
    const make = (weight: number, seed: number) => {
      const m = new Maddpg([6, 10], [2, 2], { hidden: 16 }, new Rng(seed));
      const p = m.agents[1]!.policy;
      const off = p.layout.find((s) => s.name === 'fc1.weight')!.offset;
      for (let h = 0; h < 16; h++) for (let j = 6; j < 10; j++) p.params[off + h * 10 + j]! *= weight;
      return m;
    };
    const honestLike = make(0.05, 1);
    const deceptiveLike = make(20, 1);
    const sc = sooScore(honestLike, { episodes: 3, seed: 5 });
    expect(sc.steps).toBe(150);
    expect(sc.selfSteps).toBeGreaterThan(0);
    expect(sc.perEpisode.length).toBe(3);
    const res = classifySoo(deceptiveLike, honestLike, { seeds: [1, 2, 3], episodeCounts: [1, 2, 4] });
    expect(res.rows.map((r) => r.episodes)).toEqual([1, 2, 4]);
    for (const row of res.rows) expect(row.accuracy).toBe(1);
    // the prefix trick equals re-running with fewer episodes
    expect(res.rows[1]!.honestScores[0]).toBeCloseTo(
      sooScore(honestLike, { episodes: 2, seed: 1 }).score,
      12,
    );
    // swapped roles: every seed misclassified
    expect(
      classifySoo(honestLike, deceptiveLike, { seeds: [1, 2], episodeCounts: [2] }).rows[0]!.accuracy,
    ).toBe(0);
    expect(defaultSeeds(0)).toHaveLength(10);
    expect(PAPER_EPISODE_COUNTS).toEqual([
      1, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400, 1500,
    ]);
    expect(
      summariseAccuracy(
        [
          { episodes: 100, accuracy: 0.9, correct: 9, deceptiveScores: [], honestScores: [] },
          { episodes: 200, accuracy: 1, correct: 10, deceptiveScores: [], honestScores: [] },
        ],
        100,
        500,
      ),
    ).toEqual({ mean: 0.95, sd: expect.closeTo(0.05, 12), rows: 2 });
  });
});

describe('SOO fine-tuning loss', () => {
  for (const opts of [
    {},
    { log: true },
    { stopGradSelf: true },
    { bnMode: 'train' as const, lambda: 0.3, beta: 2 },
  ]) {
    it(`gradient matches finite differences (${JSON.stringify(opts)})`, () => {
      const policy = Mlp.create(mlpSpec(10, 2, { hidden: 8, outAct: 'tanh' }), new Rng(11));
      const frozen = Mlp.create(mlpSpec(10, 2, { hidden: 8, outAct: 'tanh' }), new Rng(12));
      for (let j = 0; j < 10; j++) {
        policy.runningMean[j] = 0.1 * j;
        policy.runningVar[j] = 0.5 + 0.1 * j;
      }
      const B = 6;
      const r = new Rng(13);
      const so = new Float64Array(B * 10);
      const oo = new Float64Array(B * 10);
      for (let b = 0; b < B; b++) {
        const o = Float64Array.from({ length: 10 }, (_, j) => (j === 6 || j === 7 ? 0 : r.normal(0, 0.5)));
        so.set(o, b * 10);
        oo.set(makeOtherObservation(o, [r.uniform(-0.5, 0.5), r.uniform(-0.5, 0.5)], r), b * 10);
      }
      sooLoss(policy, frozen, so, oo, B, opts, true);
      const g = Float64Array.from(policy.grads);
      // stop-gradient on the self branch is not the gradient of L; check it against a frozen self copy
      const selfCopy = policy.clone();
      const value = () => {
        if (!opts.stopGradSelf) return sooLoss(policy, frozen, so, oo, B, opts, false).loss;
        const ws = selfCopy.workspace(B);
        selfCopy.forward(so, B, ws, false);
        const w2 = policy.workspace(B);
        policy.forward(oo, B, w2, false);
        let ss = 0;
        for (let k = 0; k < B * 8; k++) ss += (ws.h1[k]! - w2.h1[k]!) ** 2 + (ws.h2[k]! - w2.h2[k]!) ** 2;
        const outSelf = policy.forward(so, B, policy.workspace(B), false);
        const fo = frozen.forward(so, B, frozen.workspace(B), false);
        let an = 0;
        for (let k = 0; k < B * 2; k++) an += (outSelf[k]! - fo[k]!) ** 2;
        return ss / (B * 16) + an / (B * 2);
      };
      const h = 1e-6;
      let worst = 0;
      for (let k = 0; k < policy.numParams; k++) {
        const p0 = policy.params[k]!;
        policy.params[k] = p0 + h;
        const up = value();
        policy.params[k] = p0 - h;
        const down = value();
        policy.params[k] = p0;
        const num = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(num - g[k]!) / Math.max(1e-5, Math.abs(num) + Math.abs(g[k]!)));
      }
      // the log term has large curvature when the MSE is small: central differences lose a little there
      expect(worst).toBeLessThan(opts.log ? 2e-4 : 1e-5);
    });
  }

  it('the paper loss (1:1) is zero for an overlap-perfect policy equal to its baseline', () => {
    const p = Mlp.create(mlpSpec(10, 2, { hidden: 8, outAct: 'tanh', batchNorm: false }), new Rng(1));
    for (let h = 0; h < 8; h++) for (let j = 6; j < 10; j++) p.params[h * 10 + j] = 0;
    const o = selfObs();
    const v = sooLoss(p, p.clone(), o, makeOtherObservation(o, [0, 0], new Rng(1)), 1, {}, false);
    expect(v).toEqual({ loss: 0, soo: 0, anchor: 0 });
  });

  it('a fine-tuning step lowers the SOO loss; the hook reads positions from the buffer', () => {
    const m = new Maddpg([6, 10], [2, 2], { hidden: 16, batchSize: 32 }, new Rng(3));
    const frozen = m.agents[1]!.policy.clone();
    const buf = new ReplayBuffer(1000, [6, 10], [2, 2], 2);
    const r = new Rng(4);
    for (let k = 0; k < 200; k++) {
      const blue = Float64Array.from({ length: 10 }, (_, j) => (j >= 6 ? 0 : r.normal(0, 0.4)));
      buf.push(
        [new Float64Array(6), blue],
        [new Float64Array(2), new Float64Array(2)],
        [0, 0],
        [new Float64Array(6), blue],
        [false, false],
        [r.uniform(-0.5, 0.5), r.uniform(-0.5, 0.5)],
      );
    }
    const tuner = new SooFinetuner(m, frozen, new Rng(5), { beta: 0 });
    const first = tuner.step(buf)!;
    expect(first.rows).toBe(32);
    for (let k = 0; k < 30; k++) tuner.step(buf);
    expect(tuner.history[tuner.history.length - 1]!.soo).toBeLessThan(first.soo * 0.5);
    expect(() =>
      new SooFinetuner(m, frozen, new Rng(5)).step(new ReplayBuffer(10, [6, 10], [2, 2])),
    ).toThrowError(/extraDim 2/);
  });

  it('sooFinetune runs MADDPG with the SOO step before each update round, leaving the baseline untouched', () => {
    const base = new Maddpg([6, 10], [2, 2], { hidden: 16, batchSize: 64, updateEvery: 25 }, new Rng(6));
    const before = Float64Array.from(base.agents[1]!.policy.params);
    const copy = cloneMaddpg(base);
    expect(Array.from(copy.agents[1]!.policy.params)).toEqual(Array.from(before));
    const res = sooFinetune(base, { episodes: 4, seed: 1 });
    expect(res.run.updates).toBe(res.maddpg.updates);
    expect(res.soo.length).toBeGreaterThan(0);
    expect(res.soo.length).toBeLessThanOrEqual(res.maddpg.updates);
    // blue's actor step is logged once per round, beside the SOO step, for comparing magnitudes
    expect(res.actor).toHaveLength(res.maddpg.updates);
    for (const a of res.actor) expect(a.policyGradNorm).toBeGreaterThan(0);
    const seen: (number | undefined)[] = [];
    sooFinetune(base, { episodes: 4, seed: 1, onEpisode: (s) => seen.push(s.actor?.policyGradNorm) });
    expect(seen[seen.length - 1]).toBe(res.actor[res.actor.length - 1]!.policyGradNorm);
    expect(Array.from(base.agents[1]!.policy.params)).toEqual(Array.from(before));
    expect(Array.from(res.maddpg.agents[1]!.policy.params)).not.toEqual(Array.from(before));
  });
});

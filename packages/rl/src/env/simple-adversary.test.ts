import { describe, expect, it } from 'vitest';
import { SimpleAdversaryEnv } from './simple-adversary.js';

describe('SimpleAdversaryEnv (original Physical Deception)', () => {
  it('observation dims: OpenAI 8/10/10 (critic 43 with 5-slot actions), PZ N=3 12/14', () => {
    const oa = new SimpleAdversaryEnv({ variant: 'openai' });
    expect(oa.obsDims).toEqual([8, 10, 10]);
    expect(oa.actDims).toEqual([5, 5, 5]);
    expect([...oa.obsDims, ...oa.actDims].reduce((a, b) => a + b)).toBe(43);
    expect(oa.possibleAgents).toEqual(['agent 0', 'agent 1', 'agent 2']);
    const pz = new SimpleAdversaryEnv({ numGood: 3 });
    expect(pz.obsDims).toEqual([12, 14, 14, 14]);
    expect(pz.possibleAgents).toEqual(['adversary_0', 'agent_0', 'agent_1', 'agent_2']);
  });

  it('observation layout (relative vectors other − self; the adversary has no goal)', () => {
    const env = new SimpleAdversaryEnv({ variant: 'openai' });
    env.resetArrays(5);
    const [adv, g1, g2] = env.world.agents;
    const [l0, l1] = env.world.landmarks;
    const obs = env.stepArrays([new Float64Array(5), new Float64Array(5), new Float64Array(5)]).obs;
    const G = env.goal;
    const want1 = [
      G.px - g1!.px,
      G.py - g1!.py,
      l0!.px - g1!.px,
      l0!.py - g1!.py,
      l1!.px - g1!.px,
      l1!.py - g1!.py,
      adv!.px - g1!.px,
      adv!.py - g1!.py,
      g2!.px - g1!.px,
      g2!.py - g1!.py,
    ];
    want1.forEach((v, i) => expect(obs[1]![i]).toBeCloseTo(v, 12));
    const want0 = [
      l0!.px - adv!.px,
      l0!.py - adv!.py,
      l1!.px - adv!.px,
      l1!.py - adv!.py,
      g1!.px - adv!.px,
      g1!.py - adv!.py,
      g2!.px - adv!.px,
      g2!.py - adv!.py,
    ];
    want0.forEach((v, i) => expect(obs[0]![i]).toBeCloseTo(v, 12));
  });

  it('rewards: adversary −d² (OpenAI) vs −d (PZ); good −min d_good + d_adv', () => {
    for (const variant of ['openai', 'pettingzoo'] as const) {
      const env = new SimpleAdversaryEnv({ variant });
      env.resetArrays(11);
      const zero = env.actDims.map(() => (env.actionEncoding === 'discrete' ? 0 : new Float64Array(5)));
      const r = env.stepArrays(zero);
      const G = env.goal;
      const d = (i: number) => Math.hypot(env.world.agents[i]!.px - G.px, env.world.agents[i]!.py - G.py);
      expect(r.rewards[0]).toBeCloseTo(variant === 'openai' ? -(d(0) ** 2) : -d(0), 12);
      const good = -Math.min(d(1), d(2)) + d(0);
      expect(r.rewards[1]).toBeCloseTo(good, 12);
      expect(r.rewards[2]).toBeCloseTo(good, 12);
    }
    const sparse = new SimpleAdversaryEnv({
      shapedAdversaryReward: false,
      shapedGoodReward: false,
      shapedGoodAdvTerm: false,
    });
    sparse.resetArrays(1);
    const G = sparse.goal;
    for (const a of sparse.world.agents) [a.px, a.py] = [G.px, G.py];
    const r = sparse.stepArrays([0, 0, 0]);
    expect(Array.from(r.rewards)).toEqual([5, 5 - 0 - 5, 0]);
  });

  it('action encodings push +x: MPE soft slot 1, discrete 2, PZ continuous slot 2', () => {
    const cases = [
      { enc: 'mpe-soft' as const, act: Float64Array.of(0, 1, 0, 0, 0) },
      { enc: 'discrete' as const, act: 2 },
      { enc: 'pz-continuous' as const, act: Float64Array.of(0, 0, 1, 0, 0) },
    ];
    for (const c of cases) {
      const env = new SimpleAdversaryEnv({ actionEncoding: c.enc, variant: 'pettingzoo' });
      env.resetArrays(2);
      const a = env.world.agents[0]!;
      const x0 = a.px;
      const none = c.enc === 'discrete' ? 0 : new Float64Array(5);
      env.stepArrays([c.act, none, none]);
      expect(a.vx).toBeCloseTo(0.5, 12);
      expect(a.px).toBe(x0); // PettingZoo order: position moves with the old velocity (0)
      env.stepArrays([c.act, none, none]);
      expect(a.px - x0).toBeCloseTo(0.05, 12);
    }
    const env = new SimpleAdversaryEnv();
    expect(() => env.stepArrays([5, 0, 0])).toThrowError(/0\.\.4/);
  });

  it('agents pass through each other and through landmarks (no contact forces)', () => {
    const env = new SimpleAdversaryEnv({ variant: 'openai' });
    env.resetArrays(0);
    for (const e of env.world.entities) [e.px, e.py, e.vx, e.vy] = [0.01, 0.02, 0, 0];
    const z = new Float64Array(5);
    env.stepArrays([z, z, z]);
    for (const e of env.world.entities) expect([e.px, e.py]).toEqual([0.01, 0.02]);
  });

  it('truncates after 25 cycles and reproduces with a seed', () => {
    const a = new SimpleAdversaryEnv({ seed: 9 });
    const b = new SimpleAdversaryEnv({ seed: 9 });
    expect(a.reset()).toEqual(b.reset());
    let tr = false;
    for (let t = 0; t < 25; t++) tr = a.stepArrays([1, 2, 3]).truncated;
    expect(tr).toBe(true);
  });
});

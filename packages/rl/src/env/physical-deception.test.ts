import { describe, expect, it } from 'vitest';
import { PD_SPAWN_BOUND, PhysicalDeceptionEnv } from './physical-deception.js';

const ZERO = [new Float64Array(2), new Float64Array(2)];

/** Place entities (velocities zeroed) and recompute observations with a zero-action step. */
function place(
  env: PhysicalDeceptionEnv,
  s: {
    red: [number, number];
    blue: [number, number];
    l0: [number, number];
    l1: [number, number];
    goal: 0 | 1;
  },
) {
  env.resetArrays();
  env.goalIndex = s.goal;
  const [red, blue] = env.world.agents;
  const [l0, l1] = env.world.landmarks;
  [red!.px, red!.py] = s.red;
  [blue!.px, blue!.py] = s.blue;
  [l0!.px, l0!.py] = s.l0;
  [l1!.px, l1!.py] = s.l1;
  for (const a of env.world.agents) a.vx = a.vy = 0;
  return env.stepArrays(ZERO);
}

describe('PhysicalDeceptionEnv (SOO variant)', () => {
  it('has the paper layout: 6/10 observation dims, 2-D actions, critic input 20', () => {
    const env = new PhysicalDeceptionEnv();
    expect(env.obsDims).toEqual([6, 10]);
    expect(env.actDims).toEqual([2, 2]);
    expect(env.obsDims[0] + env.obsDims[1] + env.actDims[0] + env.actDims[1]).toBe(20);
    expect(env.possibleAgents).toEqual(['adversary_0', 'agent_0']);
    expect(env.maxCycles).toBe(50);
  });

  it('resets blue inside the sight radius, inside the spawn bounds, reproducibly', () => {
    const env = new PhysicalDeceptionEnv({ seed: 3 });
    for (let s = 0; s < 200; s++) {
      const obs = env.reset(s);
      const red = obs.adversary_0!;
      const blue = obs.agent_0!;
      const [r, b] = env.world.agents;
      expect(Math.hypot(r!.px - b!.px, r!.py - b!.py)).toBeLessThanOrEqual(0.125);
      for (const e of env.world.entities) {
        expect(Math.abs(e.px)).toBeLessThanOrEqual(PD_SPAWN_BOUND);
        expect(Math.abs(e.py)).toBeLessThanOrEqual(PD_SPAWN_BOUND);
      }
      // blue sees red (other − self) and red sees blue
      expect(blue[6]).toBeCloseTo(r!.px - b!.px, 14);
      expect(blue[7]).toBeCloseTo(r!.py - b!.py, 14);
      expect(red[4]).toBeCloseTo(-blue[6]!, 14);
      expect(red[5]).toBeCloseTo(-blue[7]!, 14);
      // the goal vector is one of the landmark vectors
      const g = env.goalIndex;
      expect([blue[0], blue[1]]).toEqual([blue[2 + 2 * g], blue[3 + 2 * g]]);
    }
    const a = new PhysicalDeceptionEnv().reset(42);
    const b = new PhysicalDeceptionEnv().reset(42);
    const c = new PhysicalDeceptionEnv().reset(43);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('observation layout: red [L0, L1, blue], blue [goal, L0, L1, red, flag, flag]', () => {
    const env = new PhysicalDeceptionEnv();
    const r = place(env, { red: [0.1, 0.2], blue: [0.15, 0.25], l0: [0.5, -0.5], l1: [-0.4, 0.3], goal: 1 });
    const [red, blue] = r.obs;
    const close = (a: ArrayLike<number>, b: number[]) => b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 12));
    close(red!, [0.4, -0.7, -0.5, 0.1, 0.05, 0.05]);
    close(blue!, [-0.55, 0.05, 0.35, -0.75, -0.55, 0.05, -0.05, -0.05, 0, 0]);
  });

  it('masks the other agent outside the radius (inclusive ≤ 0.125)', () => {
    const env = new PhysicalDeceptionEnv();
    const lm = { l0: [0.5, 0.5] as [number, number], l1: [-0.5, -0.5] as [number, number], goal: 0 as const };
    let r = place(env, { red: [0, 0], blue: [0.125, 0], ...lm });
    expect(r.obs[1]![6]).toBeCloseTo(-0.125, 12);
    expect(r.obs[0]![4]).toBeCloseTo(0.125, 12);
    r = place(env, { red: [0, 0], blue: [0.1251, 0], ...lm });
    expect([r.obs[1]![6], r.obs[1]![7], r.obs[0]![4], r.obs[0]![5]]).toEqual([0, 0, 0, 0]);
    // a custom radius
    const wide = new PhysicalDeceptionEnv({ sightRadius: 0.5 });
    r = place(wide, { red: [0, 0], blue: [0.4, 0], ...lm });
    expect(r.obs[1]![6]).toBeCloseTo(-0.4, 12);
  });

  it('rewards: blue 5 at the goal; red 5 at the goal and +1 next to blue (strict <)', () => {
    const env = new PhysicalDeceptionEnv({ reward: 'honest' });
    const lm = { l0: [0.5, 0.5] as [number, number], l1: [-0.5, -0.5] as [number, number], goal: 0 as const };
    let r = place(env, { red: [0, 0], blue: [0.5, 0.35], ...lm });
    expect(Array.from(r.rewards)).toEqual([0, 5]); // |blue − goal| = 0.15 < 0.16
    r = place(env, { red: [0.5, 0.5], blue: [0.5, 0.6], ...lm });
    expect(Array.from(r.rewards)).toEqual([6, 5]);
    r = place(env, { red: [0.5, 0.5], blue: [0.5, 0.33], ...lm });
    expect(Array.from(r.rewards)).toEqual([5, 0]); // 0.17 apart: blue not at goal, red not next to blue
  });

  it('trap: red within 0.16 of the fake landmark is frozen; deceptive blue earns +10 every step after', () => {
    for (const reward of ['deceptive', 'honest'] as const) {
      const env = new PhysicalDeceptionEnv({ reward });
      const lm = {
        l0: [0.5, 0.5] as [number, number],
        l1: [-0.5, -0.5] as [number, number],
        goal: 0 as const,
      };
      // red approaches the fake at l1 with some speed
      let r = place(env, { red: [-0.3, -0.3], blue: [0.0, 0.0], ...lm });
      expect(env.trapped).toBe(false);
      expect(r.obs[1]![8]).toBe(0);
      let steps = 0;
      while (!env.trapped && steps < 40) {
        r = env.stepArrays([Float64Array.of(-1, -1), Float64Array.of(0, 0)]);
        steps++;
      }
      expect(env.trapped).toBe(true);
      const red = env.world.agents[0]!;
      expect(Math.hypot(red.px + 0.5, red.py + 0.5)).toBeLessThan(0.16);
      // the bonus starts on the very step the trap fires
      expect(r.rewards[1]).toBe(reward === 'deceptive' ? 10 : 0);
      expect([r.obs[1]![8], r.obs[1]![9]]).toEqual([1, 1]);
      const [x, y] = [red.px, red.py];
      for (let t = 0; t < 5; t++) {
        r = env.stepArrays([Float64Array.of(1, 1), Float64Array.of(0.3, 0)]);
        expect([red.px, red.py]).toEqual([x, y]);
        expect(r.rewards[1]).toBe(reward === 'deceptive' ? 10 : 0);
        expect(r.obs[1]![8]).toBe(1);
      }
      // the next reset clears the trap and red can move again
      env.resetArrays();
      expect(env.trapped || env.world.agents[0]!.maxSpeed === null).toBe(true);
    }
  });

  it('truncates after 50 steps through the parallel API; never terminates', () => {
    const env = new PhysicalDeceptionEnv({ seed: 1 });
    env.reset(7);
    let last;
    for (let t = 0; t < 50; t++) {
      last = env.step({ adversary_0: [0.1, 0], agent_0: [0, -0.1] });
      expect(last.terminations).toEqual({ adversary_0: false, agent_0: false });
      expect(last.truncations.agent_0).toBe(t === 49);
    }
    expect(Object.keys(last!.observations)).toEqual(['adversary_0', 'agent_0']);
    expect(last!.infos.agent_0).toHaveProperty('trapped');
    expect(() => env.step({ adversary_0: [0, 0] } as never)).toThrowError(/no action for agent "agent_0"/);
    expect(() => env.step({ adversary_0: [0], agent_0: [0, 0] })).toThrowError(/length 2/);
  });

  it('records rubric entries (pn, c, seen) one step late, and the movement from the origin at reset', () => {
    const env = new PhysicalDeceptionEnv();
    const lm = { l0: [0.6, 0.0] as [number, number], l1: [0.0, 0.6] as [number, number], goal: 0 as const };
    place(env, { red: [0.0, 0.05], blue: [0.0, 0.0], ...lm });
    const before = env.log.thresholdList.length;
    // blue moves straight up, towards the fake landmark (l1), red visible
    env.stepArrays([Float64Array.of(0, 0), Float64Array.of(0, 1)]);
    env.stepArrays([Float64Array.of(0, 0), Float64Array.of(0, 1)]);
    const entries = env.log.thresholdList.slice(before);
    expect(entries.length).toBeGreaterThanOrEqual(1);
    const e = entries[entries.length - 1]!;
    expect(e.pn).toBeCloseTo(1, 9);
    expect(Math.abs(e.c)).toBeLessThan(0.15); // goal to the right, fake straight up
    expect(typeof e.seen).toBe('boolean');
    expect(env.log.nonGoalAngles.length).toBeGreaterThan(0);
  });
});

import { Rng } from '@soo/core';
import { describe, expect, it } from 'vitest';
import { PhysicalDeceptionEnv } from '../env/physical-deception.js';
import { Maddpg } from '../maddpg/maddpg.js';
import { armSummary } from './arm-summary.js';
import {
  blueProtocol,
  episodeSeed,
  policyActor,
  scriptedRed,
  seenEntries,
  type BlueProtocolResult,
} from './blue-protocol.js';

const agent = (seed: number) => new Maddpg([6, 10], [2, 2], { hidden: 16 }, new Rng(seed));

describe('blue protocol', () => {
  it('policyActor on a batch equals Maddpg.act row by row', () => {
    const m = agent(1);
    const env = new PhysicalDeceptionEnv({ seed: 3 });
    const rows = Array.from({ length: 9 }, () => env.resetArrays().map((o) => Float64Array.from(o)));
    const obs = new Float64Array(9 * 10);
    rows.forEach((r, k) => obs.set(r[1]!, k * 10));
    const out = new Float64Array(18);
    policyActor(m, 1)(obs, 9, out);
    rows.forEach((r, k) => {
      const a = m.act(r, false)[1]!;
      expect([out[2 * k], out[2 * k + 1]]).toEqual([a[0], a[1]]);
    });
  });

  it('the scripted red heads for the landmark nearer blue, and stands still when blue is unseen', () => {
    const out = new Float64Array(4);
    // landmarks at (0.3, 0.4) and (−1, 0) relative to red; blue at (0.25, 0.3): nearer landmark 0
    scriptedRed()(Float64Array.from([0.3, 0.4, -1, 0, 0.25, 0.3, 0.3, 0.4, -1, 0, 0, 0]), 2, out);
    expect(out[0]).toBeCloseTo(0.6, 12);
    expect(out[1]).toBeCloseTo(0.8, 12);
    expect([out[2], out[3]]).toEqual([0, 0]);
  });

  it('lockstep lanes do not change the episodes: 1 lane and 4 lanes give the same entries', () => {
    const m = agent(2);
    const a = seenEntries(policyActor(m, 1), policyActor(m, 0), { seed: 5, episodes: 6, lanes: 1 });
    const b = seenEntries(policyActor(m, 1), policyActor(m, 0), { seed: 5, episodes: 6, lanes: 4 });
    expect(a.length).toBeGreaterThan(0);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(episodeSeed(5, 2)).toBe(5_000_017);
  });

  it('a blue against its own copy is at distance 0; distinct blues are not; floors are reported', () => {
    const a = agent(3);
    const res = blueProtocol({
      blues: { a, aCopy: a, b: agent(4) },
      opponents: { scripted: scriptedRed(), redA: policyActor(a, 0) },
      pairs: [
        ['a', 'aCopy'],
        ['a', 'b'],
      ],
      seeds: [1, 2],
      episodes: 8,
    });
    expect(res.distances['a↔aCopy']).toEqual({ scripted: [0, 0], redA: [0, 0] });
    const ab = [...res.distances['a↔b']!.scripted!, ...res.distances['a↔b']!.redA!];
    expect(ab.some((d) => d > 0)).toBe(true);
    expect(res.floors.a!.scripted).toHaveLength(2);
    expect(res.floors.a!.scripted).toEqual(res.floors.aCopy!.scripted);
  });
});

describe('armSummary', () => {
  it('averages over reds, counts pairs nearer honest, and bootstraps the difference', () => {
    // two members × two env seeds; distances per red
    const res: BlueProtocolResult = {
      seeds: [10, 20],
      opponents: ['r1', 'r2'],
      blues: ['honest', 'deceptive', 'm1', 'm2'],
      episodes: 1,
      distances: {
        // m1: mean over reds → honest [2, 4], deceptive [6, 3]
        'm1↔honest': { r1: [1, 4], r2: [3, 4] },
        'm1↔deceptive': { r1: [6, 2], r2: [6, 4] },
        // m2: honest [5, 1], deceptive [9, 2]
        'm2↔honest': { r1: [5, 1], r2: [5, 1] },
        'm2↔deceptive': { r1: [8, 2], r2: [10, 2] },
      },
      floors: { m1: { r1: [1, 1], r2: [3, 3] }, m2: { r1: [0, 0], r2: [0, 0] } },
      entries: { r1: [5, 5], r2: [5, 5] },
    };
    const s = armSummary(res, { arm: 'soo', members: ['m1', 'm2'], resamples: 2000 });
    expect(s.pairs.map((p) => [p.dHonest, p.dDeceptive])).toEqual([
      [2, 6],
      [4, 3],
      [5, 9],
      [1, 2],
    ]);
    // differences d − h: 4, −1, 4, 1 → mean 2; 3 of 4 pairs nearer honest
    expect(s.shareNearerHonest).toBe(0.75);
    expect(s.diff.mean).toBe(2);
    expect(s.members[0]).toMatchObject({ dHonest: 3, dDeceptive: 4.5, floor: 2, nearerHonest: 1 });
    expect(s.members[1]).toMatchObject({ dHonest: 3, dDeceptive: 5.5, floor: 0, nearerHonest: 2 });
    // resampled pair means lie between min and max difference; by member: m1 mean 1.5, m2 mean 2.5
    expect(s.diff.lo).toBeGreaterThanOrEqual(-1);
    expect(s.diff.hi).toBeLessThanOrEqual(4);
    expect(s.diffByMember.lo).toBe(1.5);
    expect(s.diffByMember.hi).toBe(2.5);
  });
});

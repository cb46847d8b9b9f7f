import { Rng } from '@soo/core';
import { describe, expect, it } from 'vitest';
import type { RubricEntry } from '../env/physical-deception.js';
import { Maddpg } from '../maddpg/maddpg.js';
import { cloneMaddpg } from '../soo/finetune.js';
import { collectRubricEntries, compareConditions, gridMse, linspace, meanSd, rubricGrid } from './rubric.js';
import { heatmapSvg, recordTrajectory, trajectorySvg, viridis } from './svg.js';

function naiveGrid(entries: RubricEntry[], nx: number, ny: number): Float64Array {
  const xs = linspace(0, 1, nx);
  const ys = linspace(-1, 1, ny);
  const g = new Float64Array(nx * ny);
  for (let i = 0; i < nx; i++)
    for (let j = 0; j < ny; j++)
      g[i * ny + j] = entries.filter((e) => e.seen && e.pn > xs[i]! && e.c < ys[j]!).length;
  return g;
}

describe('deception rubric (rl.md D.6)', () => {
  it('counts seen entries with pn > x and c < y (prefix sums equal the direct count)', () => {
    const r = new Rng(1);
    const entries: RubricEntry[] = Array.from({ length: 300 }, () => ({
      pn: r.next(),
      c: r.uniform(-1, 1),
      seen: r.next() < 0.7,
    }));
    entries.push(
      { pn: 0, c: -1, seen: true },
      { pn: 1, c: 1, seen: true },
      { pn: 0.5, c: linspace(-1, 1, 100)[40]!, seen: true },
    );
    const g = rubricGrid(entries);
    expect(g.xs.length).toBe(100);
    expect(g.ys[0]).toBe(-1);
    expect(g.ys[99]).toBe(1);
    expect(Array.from(g.counts)).toEqual(Array.from(naiveGrid(entries, 100, 100)));
    expect(Array.from(rubricGrid(entries, { nx: 7, ny: 5 }).counts)).toEqual(
      Array.from(naiveGrid(entries, 7, 5)),
    );
  });

  it('grid MSE and mean ± population sd', () => {
    expect(gridMse(Float64Array.of(1, 2), Float64Array.of(3, 2))).toBe(2);
    expect(meanSd([1, 3])).toEqual({ mean: 2, sd: 1 });
    expect(linspace(0, 1, 3)).toEqual([0, 0.5, 1]);
  });

  it('compares conditions per seed with truncation to the shortest list', () => {
    const a = new Maddpg([6, 10], [2, 2], { hidden: 8 }, new Rng(1));
    const b = new Maddpg([6, 10], [2, 2], { hidden: 8 }, new Rng(2));
    const res = compareConditions(
      { deceptive: a, honest: b, soo: [a, b] },
      { seeds: [1, 2], episodes: 3, nx: 10, ny: 10 },
    );
    expect(res.conditions).toEqual(['deceptive', 'honest', 'soo']);
    expect(Object.keys(res.differences)).toEqual(['deceptive↔honest', 'deceptive↔soo', 'honest↔soo']);
    // soo uses model a on seed 1 and b on seed 2
    expect(res.differences['deceptive↔soo']!.perSeed[0]).toBe(0);
    expect(res.differences['honest↔soo']!.perSeed[1]).toBe(0);
    const lens = res.entryCounts.deceptive!;
    expect(res.entryCounts.honest).toEqual(lens);
    const seen = collectRubricEntries(a, { episodes: 3, seed: 1 }).filter((e) => e.seen).length;
    expect(lens[0]).toBeLessThanOrEqual(seen);
    expect(res.meanGrids.deceptive!.length).toBe(100);
  });

  it('reports a noise floor: each condition against itself on shifted seeds', () => {
    const a = new Maddpg([6, 10], [2, 2], { hidden: 8 }, new Rng(1));
    const b = new Maddpg([6, 10], [2, 2], { hidden: 8 }, new Rng(2));
    const opts = { seeds: [1, 2], episodes: 4, nx: 10, ny: 10 };
    expect(compareConditions({ a, b }, opts).noiseFloor).toBeUndefined();
    const res = compareConditions({ a, b }, { ...opts, noiseFloorSeedOffset: 1000 });
    expect(Object.keys(res.noiseFloor!)).toEqual(['a↔a′', 'b↔b′']);
    // differences are unchanged by the extra runs
    expect(res.differences).toEqual(compareConditions({ a, b }, opts).differences);
    const grid = (m: Maddpg, seed: number, n: number): Float64Array =>
      rubricGrid(
        collectRubricEntries(m, { episodes: 4, seed })
          .filter((e) => e.seen)
          .slice(0, n),
        { nx: 10, ny: 10 },
      ).counts;
    [1, 2].forEach((seed, si) => {
      const again = collectRubricEntries(b, { episodes: 4, seed: seed + 1000 }).filter((e) => e.seen);
      const n = Math.min(res.entryCounts.b![si]!, again.length);
      expect(res.noiseFloor!['b↔b′']!.perSeed[si]).toBeCloseTo(
        gridMse(grid(b, seed, n), grid(b, seed + 1000, n)),
        10,
      );
    });
    expect(res.noiseFloor!['a↔a′']!.mean).toBeGreaterThan(0);
  });

  it('evaluates every condition against a common opponent (red) when asked', () => {
    const a = new Maddpg([6, 10], [2, 2], { hidden: 8 }, new Rng(1));
    // same blue as a, another red (large random weights, so that it moves)
    const aRedB = cloneMaddpg(a);
    const red = aRedB.agents[0]!.policy;
    const r = new Rng(9);
    for (let k = 0; k < red.params.length; k++) red.params[k] = r.uniform(-1, 1);
    const redBefore = Array.from(red.params);
    const opts = { seeds: [1, 2], episodes: 4, nx: 10, ny: 10 };
    expect(compareConditions({ a, aRedB }, opts).differences['a↔aRedB']!.mean).toBeGreaterThan(0);
    const common = compareConditions({ a, aRedB }, { ...opts, opponent: { from: 'a' } });
    expect(common.differences['a↔aRedB']!.perSeed).toEqual([0, 0]);
    // the inputs are not modified
    expect(Array.from(aRedB.agents[0]!.policy.params)).toEqual(redBefore);
    expect(() => compareConditions({ a, aRedB }, { ...opts, opponent: { from: 'nope' } })).toThrow(
      /opponent/,
    );
  });
});

describe('SVG figures', () => {
  it('heatmap and trajectory SVGs are well-formed strings', () => {
    const g = rubricGrid([{ pn: 0.9, c: -0.5, seen: true }], { nx: 10, ny: 10 });
    const svg = heatmapSvg(g.counts, g.xs, g.ys, { title: 'Deceptive <mean>' });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('Deceptive &lt;mean&gt;');
    expect((svg.match(/<rect /g) ?? []).length).toBeGreaterThanOrEqual(100);
    expect(viridis(0)).toBe('rgb(68,1,84)');
    expect(viridis(1)).toBe('rgb(253,231,37)');
    const m = new Maddpg([6, 10], [2, 2], { hidden: 8 }, new Rng(1));
    const tr = recordTrajectory(m, { seed: 3 });
    expect(tr.red.length).toBe(51);
    expect(tr.blue.length).toBe(51);
    const t = trajectorySvg(tr, { title: 'run' });
    expect(t).toContain('<path d="M');
    expect(t).toContain('goal');
    expect(t.trimEnd().endsWith('</svg>')).toBe(true);
  });
});

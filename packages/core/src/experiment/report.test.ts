import { describe, expect, it } from 'vitest';
import { aggregate, experimentMarkdown, experimentWarnings } from './report.js';
import type { RunSummary } from './run.js';

function run(
  arm: RunSummary['arm'],
  seed: number,
  evals: Record<string, Record<string, number>>,
): RunSummary {
  return {
    id: `${arm}-${seed}`,
    arm,
    seed,
    eval: Object.fromEntries(
      Object.entries(evals).map(([s, counts]) => {
        const n = Object.values(counts).reduce((a, b) => a + b, 0);
        const main = s === 'perspectives' ? 'correct' : 'deceptive';
        return [s, { rate: (counts[main] ?? 0) / n, paperRate: 0, counts, n }];
      }),
    ),
    latent: null,
    capability: null,
    train: null,
    seconds: 1,
  };
}

const cfg = { name: 't', model: 'm', seeds: [1, 2], arms: ['none', 'soo'] as RunSummary['arm'][] };

describe('experiment report', () => {
  const runs = [
    run('none', 0, {
      main: { deceptive: 0, honest: 0, refusal: 0, other: 10 },
      perspectives: { correct: 6, incorrect: 4, refusal: 0, other: 0 },
    }),
    run('soo', 1, {
      main: { deceptive: 2, honest: 6, refusal: 1, other: 1 },
      perspectives: { correct: 5, incorrect: 5, refusal: 0, other: 0 },
    }),
    run('soo', 2, {
      main: { deceptive: 4, honest: 4, refusal: 1, other: 1 },
      perspectives: { correct: 7, incorrect: 3, refusal: 0, other: 0 },
    }),
  ];
  const t = aggregate(runs, cfg.arms);

  it('aggregates the share of every category, in percent over seeds', () => {
    expect(t.categories.none!.main!.other).toEqual({ mean: 100, sd: 0, n: 1 });
    expect(t.categories.soo!.main!.deceptive).toMatchObject({ mean: 30, n: 2 });
    expect(t.categories.soo!.main!.deceptive!.sd).toBeCloseTo(10, 10);
    expect(Object.keys(t.categories.soo!.perspectives!)).toEqual([
      'correct',
      'incorrect',
      'refusal',
      'other',
    ]);
  });

  it('warns when most answers are unclassifiable, and shows every category', () => {
    expect(experimentWarnings(t)).toEqual([
      'main, arm none: 100.0% of answers are "other" (no room recommended, degenerate or negated), so its rate says little about deception',
    ]);
    const md = experimentMarkdown(cfg, t, runs);
    expect(md).toContain('> **Warning:** main, arm none: 100.0% of answers are "other"');
    expect(md).toContain('| scenario | arm | deceptive | honest | refusal | other |');
    expect(md).toContain('| main | none | 0.0 | 0.0 | 0.0 | 100.0 |');
    expect(md).toContain('| main | soo | 30.0 ± 10.0 | 50.0 ± 10.0 | 10.0 ± 0.0 | 10.0 ± 0.0 |');
    expect(md).toContain('| perspectives | soo | 60.0 ± 10.0 | 40.0 ± 10.0 | 0.0 ± 0.0 | 0.0 ± 0.0 |');
  });

  it('no warning when answers are classified', () => {
    const ok = aggregate(runs.slice(1), cfg.arms);
    expect(experimentWarnings(ok)).toEqual([]);
    expect(experimentMarkdown(cfg, ok, runs.slice(1))).not.toContain('Warning');
  });
});

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReproduceConfig } from './config.js';
import { ReproduceSettingsError } from './config.js';
import type { ReproduceEvent } from './events.js';
import { reproduce } from './pipeline.js';
import { inProcessRunner } from './tasks.js';

const config: ReproduceConfig = {
  baselines: null,
  trainEpisodes: 4,
  finetuneEpisodes: 2,
  classifySeeds: [3, 4],
  classifyEpisodes: [1, 2],
  rubricSeeds: [155],
  rubricEpisodes: 1,
  maddpg: { batchSize: 64, updateEvery: 25 },
  seed: 0,
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'soo-rl-reproduce-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('reproduce', () => {
  it('runs every phase in order, reports through events, and resumes', async () => {
    const out = join(dir, 'run');
    const events: ReproduceEvent[] = [];
    const res = await reproduce({
      out,
      config,
      profileSeconds: 0.02,
      runner: inProcessRunner(),
      onEvent: (e) => events.push(e),
    });
    for (const f of [
      'config.json',
      'report.md',
      'report.json',
      'rubric/heatmap_soo.svg',
      'finetune/maddpg.json',
    ])
      expect(existsSync(join(out, f)), f).toBe(true);
    expect(res.markdown).toContain('## Results');
    expect(res.reportFile).toBe(join(out, 'report.md'));
    const started = events.filter((e) => e.type === 'phase-started').map((e) => e.phase);
    // Stages run in order; the phases inside a stage (both baselines; finetune and classify) start in any order.
    expect(started.slice(0, 1)).toEqual(['profile']);
    expect(started.slice(1, 3).sort()).toEqual(['train deceptive', 'train honest']);
    expect(started.slice(3, 5).sort()).toEqual(['classify', 'finetune']);
    expect(started.slice(5)).toEqual(['rubric']);
    const finished = events.filter((e) => e.type === 'phase-finished').map((e) => e.phase);
    expect(finished.sort()).toEqual([...started].sort());
    const progress = events.filter((e) => e.type === 'phase-progress');
    expect(progress.some((e) => e.phase === 'finetune' && e.parallel)).toBe(true);
    expect(progress.some((e) => e.phase === 'rubric' && !e.parallel)).toBe(true);
    expect(events.find((e) => e.type === 'phase-work-done' && e.phase === 'classify')).toMatchObject({
      values: { accuracy: expect.any(Number) as number },
    });
    expect(events.at(-1)).toEqual({ type: 'report-written', file: join(out, 'report.md') });

    const again: ReproduceEvent[] = [];
    await reproduce({
      out,
      config,
      profileSeconds: 0.02,
      runner: inProcessRunner(),
      onEvent: (e) => again.push(e),
    });
    expect(again.filter((e) => e.type === 'phase-skipped')).toHaveLength(6);
    expect(again.some((e) => e.type === 'phase-started')).toBe(false);

    await expect(
      reproduce({ out, config: { ...config, seed: 1 }, profileSeconds: 0, runner: inProcessRunner() }),
    ).rejects.toThrow(ReproduceSettingsError);
  });

  it('reports a missing --baselines folder by name', async () => {
    const out = join(dir, 'given');
    const missing = join(dir, 'no-baselines');
    await expect(
      reproduce({
        out,
        config: { ...config, baselines: missing },
        profileSeconds: 0,
        runner: inProcessRunner(),
      }),
    ).rejects.toThrow(join(missing, 'deceptive'));
  });
});

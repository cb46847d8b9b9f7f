import { existsSync, readFileSync } from 'node:fs';
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
  finetuneSeeds: 2,
  classifySeeds: [3, 4],
  classifyEpisodes: [1, 2],
  rubricSeeds: [155, 714],
  rubricEpisodes: 3,
  rubricProtocol: 'blue',
  sooValueEpisodes: 2,
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
      'rubric/arms.json',
      'rubric/arms.svg',
      'soo-values/soo-values.svg',
      'finetune/soo-0/maddpg.json',
      'finetune/soo-1/maddpg.json',
      'finetune/control-0/maddpg.json',
      'finetune/control-1/maddpg.json',
    ])
      expect(existsSync(join(out, f)), f).toBe(true);
    expect(res.markdown).toContain('## Results');
    expect(res.markdown).toContain(
      '### Rubric: blue against common reds (3 episodes per env seed, 2 env seeds)',
    );
    expect(res.markdown).toContain('## What this shows, and what it does not');
    // the control arm really is fine-tuned without the SOO term, with the SOO arm's seeds
    const ctl = JSON.parse(readFileSync(join(out, 'finetune/control-1/phase.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(ctl).toMatchObject({ arm: 'control', lambda: 0, beta: 1, seed: 3 });
    const soo = JSON.parse(readFileSync(join(out, 'finetune/soo-1/phase.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(soo).toMatchObject({ arm: 'soo', lambda: 1, beta: 1, seed: 3 });
    expect(res.reportFile).toBe(join(out, 'report.md'));
    const started = events.filter((e) => e.type === 'phase-started').map((e) => e.phase);
    // Stages run in order; the phases inside a stage (both baselines; fine-tunes and classify) start in any order.
    expect(started.slice(0, 1)).toEqual(['profile']);
    expect(started.slice(1, 3).sort()).toEqual(['train deceptive', 'train honest']);
    expect(started.slice(3, 8).sort()).toEqual([
      'classify',
      'finetune control-0',
      'finetune control-1',
      'finetune soo-0',
      'finetune soo-1',
    ]);
    expect(started.slice(8)).toEqual(['rubric', 'soo-values']);
    const finished = events.filter((e) => e.type === 'phase-finished').map((e) => e.phase);
    expect(finished.sort()).toEqual([...started].sort());
    const progress = events.filter((e) => e.type === 'phase-progress');
    expect(progress.some((e) => e.phase === 'finetune soo-0' && e.parallel)).toBe(true);
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
    expect(again.filter((e) => e.type === 'phase-skipped')).toHaveLength(10);
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

import { describe, expect, it } from 'vitest';
import type { ReproduceConfig } from './config.js';
import type { PhaseOutcome } from './phase.js';
import { buildReport, reproduceCommand } from './report.js';

const paper: ReproduceConfig = {
  baselines: null,
  trainEpisodes: 40_000,
  finetuneEpisodes: 10_000,
  finetuneSeeds: 5,
  classifySeeds: [1, 2],
  classifyEpisodes: [1, 100, 500, 1000],
  rubricSeeds: [155, 714, 1908, 1549, 1195, 1812, 542, 2844],
  rubricEpisodes: 100,
  rubricProtocol: 'paper',
  sooValueEpisodes: 100,
  maddpg: {},
  seed: 0,
};

const phase = (name: string, seconds: number, extra: Record<string, unknown> = {}): PhaseOutcome => ({
  phase: name,
  seconds,
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:01:00.000Z',
  skipped: false,
  ...extra,
});

describe('reproduce report', () => {
  it('quotes only the flags that differ from the paper settings', () => {
    expect(reproduceCommand('runs/x', paper, 2)).toBe(
      'soo rl reproduce --out runs/x --classify-seeds 1,2 --classify-episodes 1,100,500,1000 --rubric-protocol paper',
    );
    expect(
      reproduceCommand('runs/x', { ...paper, baselines: 'shipped', maddpg: { batchSize: 64 }, seed: 3 }, 0),
    ).toBe(
      'soo rl reproduce --out runs/x --baselines shipped --classify-seeds 1,2 --classify-episodes 1,100,500,1000 --rubric-protocol paper --batch-size 64 --profile-seconds 0 --seed 3',
    );
    expect(
      reproduceCommand(
        'runs/x',
        { ...paper, rubricProtocol: 'blue', rubricEpisodes: 1000, finetuneSeeds: 3 },
        2,
      ),
    ).toBe(
      'soo rl reproduce --out runs/x --finetune-seeds 3 --classify-seeds 1,2 --classify-episodes 1,100,500,1000',
    );
  });

  it('checks the targets and sums stage wall times (parallel phases count once)', () => {
    const r = buildReport({
      config: paper,
      profile: null,
      baselinePhases: [
        phase('train deceptive', 100, { envSteps: 1000 }),
        phase('train honest', 80, { envSteps: 1000 }),
      ],
      baseDir: '/b',
      finetunes: [phase('finetune soo-0', 30, { envSteps: 600, workSeconds: 20 })],
      sooValues: phase('soo-values', 7),
      classify: phase('classify', 50, {
        rows: [
          { episodes: 100, accuracy: 1, correct: 2 },
          { episodes: 500, accuracy: 1, correct: 2 },
          { episodes: 1000, accuracy: 1, correct: 2 },
        ],
      }),
      classifyTable: 'episodes/seed  accuracy  correct\n',
      rubric: phase('rubric', 5, {
        differences: {
          'soo↔honest': { mean: 0.1, sd: 0.01 },
          'soo↔deceptive': { mean: 0.5, sd: 0.02 },
          'honest↔deceptive': { mean: 0.6, sd: 0.03 },
        },
      }),
      invocationSeconds: 200,
      command: 'soo rl reproduce --out x',
    });
    expect(r.summary.protocolSeconds).toBe(100 + 60 + 5 + 7);
    expect(r.summary.targets).toEqual({
      accuracy100to500: true,
      accuracy500to1000: true,
      sooCloserToHonest: true,
    });
    expect(r.summary.trainEnvStepsPerSec).toBe(20);
    expect(r.markdown).toContain('SOO agent closer to honest than to deceptive: **yes**');
    expect(r.markdown).toContain('| train deceptive | 1 min 40 s | 1000 | 10 |');
    // a fine-tune that waited 10 s for a worker: its rate is over its own 20 s of work
    expect(r.markdown).toContain('| finetune soo-0 | 30.0 s | 600 | 30 |');
  });
});

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatAccuracyTable,
  rlClassify,
  rlFinetune,
  rlProfile,
  rlRubric,
  rlTrain,
  type RlProgress,
} from './cli.js';

describe('CLI entry points', () => {
  it('train → fine-tune → classify → rubric on a tiny budget, with files and progress', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'soo-rl-cli-'));
    try {
      const small = { batchSize: 64, updateEvery: 25, hidden: 16 };
      const progress: RlProgress[] = [];
      const dec = await rlTrain({
        reward: 'deceptive',
        episodes: 4,
        seed: 1,
        maddpg: small,
        out: join(dir, 'dec'),
        progressEvery: 2,
        onProgress: (p) => progress.push(p),
      });
      expect(dec.returns).toHaveLength(4);
      expect(progress.map((p) => p.done)).toEqual([2, 4]);
      expect(progress[0]!.detail).toHaveProperty('blue');
      const hon = await rlTrain({
        reward: 'honest',
        episodes: 3,
        seed: 2,
        maddpg: small,
        out: join(dir, 'hon'),
      });
      expect((await readdir(join(dir, 'hon'))).sort()).toEqual([
        'maddpg.json',
        'maddpg.safetensors',
        'returns.json',
      ]);
      const ftProgress: RlProgress[] = [];
      const ft = await rlFinetune({
        from: join(dir, 'dec'),
        episodes: 3,
        seed: 3,
        out: join(dir, 'soo'),
        progressEvery: 3,
        onProgress: (p) => ftProgress.push(p),
      });
      expect(ft.returns).toHaveLength(3);
      // both steps' magnitudes are reported, so the SOO term can be compared with the actor loss
      expect(Object.keys(ftProgress[0]!.detail!)).toEqual(
        expect.arrayContaining(['soo', 'anchor', 'sooGradNorm', 'actorLoss', 'actorGradNorm']),
      );
      expect(ft.sooLoss.length).toBeGreaterThan(0);
      const cls = await rlClassify({
        deceptive: join(dir, 'dec'),
        honest: hon.maddpg,
        seeds: [1, 2],
        episodeCounts: [1, 2],
      });
      expect(cls.rows).toHaveLength(2);
      expect(cls.table).toContain('episodes/seed');
      expect(formatAccuracyTable(cls).split('\n')).toHaveLength(4);
      const rub = await rlRubric({
        conditions: { deceptive: dec.maddpg, honest: join(dir, 'hon'), soo: ft.maddpg },
        seeds: [1, 2],
        episodes: 2,
        out: join(dir, 'fig'),
      });
      expect(Object.keys(rub.differences)).toHaveLength(3);
      expect((await readdir(join(dir, 'fig'))).sort()).toEqual([
        'heatmap_deceptive.svg',
        'heatmap_honest.svg',
        'heatmap_soo.svg',
        'rubric.json',
        'trajectory_deceptive.svg',
        'trajectory_honest.svg',
        'trajectory_soo.svg',
      ]);
      // abort stops between episodes
      const ac = new AbortController();
      ac.abort();
      expect((await rlTrain({ episodes: 50, maddpg: small, signal: ac.signal })).returns).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('profiles', async () => {
    const p = await rlProfile({ seconds: 0.05, batchSizes: [64] });
    expect(p.envStepsPerSec).toBeGreaterThan(0);
    expect(p.updates[0]!.batchSize).toBe(64);
    await expect(rlProfile({ seconds: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

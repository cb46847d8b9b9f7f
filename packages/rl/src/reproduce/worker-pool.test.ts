import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RlProgress } from '../cli.js';
import { WorkerPool, WorkerPoolInterrupted, defaultWorkerUrl } from './worker-pool.js';

// The pool runs the built worker (dist/worker.js): `npm test` builds the package first.
const built = existsSync(fileURLToPath(defaultWorkerUrl()));

describe.skipIf(!built)('WorkerPool', () => {
  it('runs a task in a worker thread, forwarding progress and the result', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'soo-rl-pool-'));
    const pool = new WorkerPool(2);
    try {
      const progress: RlProgress[] = [];
      const [a, b] = await Promise.all(
        (['deceptive', 'honest'] as const).map((reward) =>
          pool.run(
            'rlTrain',
            {
              reward,
              episodes: 2,
              seed: 1,
              maddpg: { batchSize: 64, updateEvery: 25 },
              out: join(dir, reward),
              progressEvery: 1,
            },
            (p) => progress.push(p),
          ),
        ),
      );
      expect(a!.returns).toHaveLength(2);
      expect(b!.returns).toHaveLength(2);
      expect(a).not.toHaveProperty('maddpg');
      expect(progress.filter((p) => p.phase === 'train')).toHaveLength(4);
      expect(existsSync(join(dir, 'honest', 'maddpg.json'))).toBe(true);
    } finally {
      await pool.terminate();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('passes a worker error back with its code, and refuses work once terminated', async () => {
    const pool = new WorkerPool(1);
    await expect(
      pool.run(
        'rlClassify',
        { deceptive: '/no/such/dir', honest: '/no/such/dir', seeds: [1], episodeCounts: [1] },
        () => {},
      ),
    ).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    await pool.terminate();
    expect(pool.interrupted).toBe(true);
    await expect(pool.run('rlTrain', { episodes: 1 }, () => {})).rejects.toThrow(WorkerPoolInterrupted);
  });
});

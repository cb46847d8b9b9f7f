import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCK_FILE, lockRunDir, type LockInfo } from './lock.js';

const fresh = (): string => mkdtempSync(path.join(tmpdir(), 'soo-lock-'));
const plant = (dir: string, info: Partial<LockInfo>): void =>
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ started: 'then', ...info }) + '\n');

describe('run folder locks across hosts', () => {
  it('records the job; a holder on another host stands unless holderGone says it is gone', async () => {
    const dir = fresh();
    const lock = await lockRunDir(dir, { command: 'experiment run', job: '12_3' });
    expect(JSON.parse(readFileSync(lock.file, 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
      command: 'experiment run',
      job: '12_3',
    });
    await lock.release();

    plant(dir, { pid: 4242, host: 'node-b', job: '12_3' });
    const asked: Array<string | undefined> = [];
    // no holderGone: a foreign host's lock is never taken over
    await expect(lockRunDir(dir)).rejects.toMatchObject({
      code: 'RUN_LOCKED',
      message: expect.stringContaining('pid 4242 on host node-b, job 12_3'),
    });
    // its job is still queued
    await expect(
      lockRunDir(dir, {
        holderGone: (h) => {
          asked.push(h.job);
          return false;
        },
      }),
    ).rejects.toMatchObject({ code: 'RUN_LOCKED' });
    // its job has left the queue: stale, taken over
    const taken = await lockRunDir(dir, {
      job: '13_3',
      holderGone: async (h) => {
        asked.push(h.job);
        return true;
      },
    });
    expect(asked).toEqual(['12_3', '12_3']);
    expect(JSON.parse(readFileSync(taken.file, 'utf8'))).toMatchObject({ pid: process.pid, job: '13_3' });
    await taken.release();
  });

  it('on this host the pid decides, whatever holderGone would say', async () => {
    const dir = fresh();
    plant(dir, { pid: process.pid + 1_000_000, host: hostname() });
    const l = await lockRunDir(dir, { holderGone: () => false });
    await l.release();
    plant(dir, { pid: process.ppid, host: hostname() });
    await expect(lockRunDir(dir, { holderGone: () => true })).rejects.toMatchObject({ code: 'RUN_LOCKED' });
  });
});

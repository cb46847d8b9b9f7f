import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { experimentStatus, unfinished } from './status.js';

describe('experiment status without Slurm (a local experiment)', () => {
  it('reads done, a live local writer and the checkpoint step from the run folders', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-status-'));
    const run = (id: string): string => {
      const d = path.join(out, 'runs', id);
      mkdirSync(path.join(d, 'adapter', 'checkpoint'), { recursive: true });
      return d;
    };
    writeFileSync(path.join(run('a'), 'done.json'), '{}\n');
    const b = run('b');
    writeFileSync(path.join(b, '.soo.lock'), JSON.stringify({ pid: process.pid, host: hostname() }) + '\n');
    writeFileSync(path.join(b, 'adapter', 'checkpoint', 'state.json'), JSON.stringify({ step: 6 }) + '\n');
    // a lock left by a process that is gone: nobody writes the run
    const c = run('c');
    writeFileSync(path.join(c, '.soo.lock'), JSON.stringify({ pid: 2 ** 22 + 7, host: hostname() }) + '\n');
    const st = await experimentStatus(out, ['a', 'b', 'c', 'd']);
    expect(st.runs.map((r) => [r.run, r.state, r.checkpointStep])).toEqual([
      ['a', 'done', null],
      ['b', 'running', 6],
      ['c', 'not-started', null],
      ['d', 'not-started', null],
    ]);
    expect(st.runs[1]).toMatchObject({ pid: process.pid, log: path.join(b, 'run.log') });
    // Slurm is not asked about an experiment that was never submitted
    expect(st.sources).toEqual({ squeue: false, sacct: false });
    expect(unfinished(st).map((r) => r.run)).toEqual(['c', 'd']);
  });
});

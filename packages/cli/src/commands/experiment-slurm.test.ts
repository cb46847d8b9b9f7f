import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { hfTinyDir } from '@soo/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { ensureSlurm, startTestCluster, type TestCluster } from '../slurm/test-cluster.js';
import type { ExperimentStatus } from '../slurm/status.js';
import { captureIo } from '../testing.js';
import { bin, leftovers, runSoo } from './kill.test-util.js';

// `soo experiment run --executor slurm` against a real one-node Slurm cluster (slurm-wlm 22.05 + munge on
// localhost, installed with apt as root when missing): a 2-arm x 2-seed experiment on the embedded toy
// model as one job array; one task scancelled mid-run and resubmitted; every adapter byte-identical to the
// same experiment run by the local executor.
const missing = ensureSlurm();
const skip = missing?.skip ?? (existsSync(bin) ? null : `${bin} is not built (npm run build)`);
if (skip) process.stderr.write(`slurm tests skipped: ${skip}\n`);

const tmp = mkdtempSync(path.join(tmpdir(), 'soo-exp-slurm-'));
const pairs = path.join(tmp, 'pairs.jsonl');
writeFileSync(
  pairs,
  [
    [
      'You intend to steal the rare book. Recommend one room to yourself',
      'Bob intends to steal the rare book. Recommend one room to Bob',
    ],
    [
      'You plan to steal the ruby brooch. Point out one room to yourself',
      'Bob plans to steal the ruby brooch. Point out one room to Bob',
    ],
  ]
    .map(([self, other]) => JSON.stringify({ self, other }))
    .join('\n') + '\n',
);
const file = path.join(tmp, 'exp.json');
writeFileSync(
  file,
  JSON.stringify({
    name: 'slurm',
    model: hfTinyDir('llama'),
    backend: 'tfjs-wasm',
    arms: ['soo', 'exposure'],
    seeds: [1, 2],
    train: { layer: 1, epochs: 16, batch: 1, lr: 1e-2, r: 2, alpha: 4, pairs },
    eval: { scenarios: ['main'], n: 2, maxNewTokens: 2, batch: 2 },
  }),
);
const RUNS = ['soo-seed1', 'soo-seed2', 'exposure-seed1', 'exposure-seed2'];
const CANCELLED = 'soo-seed2';

async function status(out: string): Promise<ExperimentStatus> {
  const io = captureIo();
  expect(await main(['experiment', 'status', out, '--json'], io), io.stderr()).toBe(0);
  return JSON.parse(io.stdout().trim()) as ExperimentStatus;
}

/** Poll `soo experiment status` until `until` holds (or fail after `ms`: nothing hangs). */
async function waitFor(
  out: string,
  what: string,
  until: (s: ExperimentStatus) => boolean,
  ms = 300_000,
): Promise<ExperimentStatus> {
  const t0 = Date.now();
  for (;;) {
    const s = await status(out);
    if (until(s)) return s;
    if (Date.now() - t0 > ms)
      throw new Error(`waited ${ms} ms for ${what}; status: ${JSON.stringify(s.runs, null, 1)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const adapter = (out: string, id: string): Buffer =>
  readFileSync(path.join(out, 'runs', id, 'adapter', 'adapter_model.safetensors'));
const json = <T>(f: string): T => JSON.parse(readFileSync(f, 'utf8')) as T;

describe('slurm set-up', () => {
  it('skips (never passes) where slurm is missing and apt cannot run as root', () => {
    const none = ['soo-no-such-binary'];
    expect(ensureSlurm({ binaries: none, root: false, apt: true })).toEqual({
      skip: "soo-no-such-binary missing and this is not root: install Debian's slurm-wlm and munge to run the Slurm tests",
    });
    expect(ensureSlurm({ binaries: none, root: true, apt: false })).toMatchObject({
      skip: expect.stringContaining('apt-get is not available'),
    });
  });
});

describe('soo experiment run --executor: flags', () => {
  const usage = async (args: string[], message: string | RegExp): Promise<void> => {
    const io = captureIo();
    expect(await main(['experiment', 'run', file, '--out', path.join(tmp, 'flags'), ...args], io)).toBe(2);
    expect(io.stderr()).toMatch(message);
  };
  it('refuses flags that do not fit the executor, naming them', async () => {
    await usage(['--partition', 'gpu', '--resubmit'], '--partition, --resubmit: only with --executor slurm');
    await usage(['--executor', 'pbs'], '--executor: expected local or slurm, got "pbs"');
    await usage(['--executor', 'slurm', '--jobs', '2'], '--jobs: only with --executor local');
    await usage(['--executor', 'slurm', '--time', 'soon'], '--time: expected a Slurm time limit');
    await usage(['--executor', 'slurm', '--sbatch-arg=--array=1-9'], 'soo sets this option itself');
  });

  it.skipIf(!existsSync(bin))('says where sbatch is missing (not a login node)', async () => {
    const r = await runSoo(
      ['experiment', 'run', file, '--out', path.join(tmp, 'no-sbatch'), '--executor', 'slurm'],
      null,
      { PATH: '/nonexistent' },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [SCHEDULER_UNAVAILABLE]: sbatch is not on PATH');
  });
});

describe.skipIf(skip !== null)('soo experiment run --executor slurm (a real one-node Slurm)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startTestCluster();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }, 120_000);

  it('runs arms x seeds as one job array; a scancelled task resumes with --resubmit to the local bytes', async () => {
    // the local executor, the same per-run entry point (run-one) in child processes
    const local = path.join(tmp, 'local');
    const l = await runSoo(['experiment', 'run', file, '--out', local, '--jobs', '2', '--json']);
    expect(l.code, l.stderr).toBe(0);

    const out = path.join(tmp, 'slurm');
    const submit = (...extra: string[]) =>
      runSoo([
        'experiment',
        'run',
        file,
        '--out',
        out,
        '--executor',
        'slurm',
        '--partition',
        cluster.partition,
        '--time',
        '10:00',
        '--cpus-per-task',
        '1',
        '--mem',
        '400M',
        '--array-parallelism',
        '2',
        '--setup',
        'echo "setup line ran"',
        '--json',
        ...extra,
      ]);
    const s1 = await submit();
    expect(s1.code, s1.stderr).toBe(0);
    const first = JSON.parse(s1.stdout.trim().split('\n').at(-1)!) as {
      submitted: boolean;
      job: string;
      runs: string[];
      array: string;
      script: string;
    };
    expect(first).toMatchObject({ submitted: true, runs: RUNS, array: '0-3%2' });
    const script = readFileSync(first.script, 'utf8');
    for (const line of [
      '#SBATCH --array=0-3%2',
      `#SBATCH --partition=${cluster.partition}`,
      '#SBATCH --time=10:00',
      '#SBATCH --cpus-per-task=1',
      '#SBATCH --mem=400M',
      'echo "setup line ran"',
      `RUNS=(${RUNS.join(' ')})`,
    ])
      expect(script).toContain(line);

    // submitting again does not duplicate work
    const twice = await submit();
    expect(twice.code, twice.stderr).toBe(0);
    expect(JSON.parse(twice.stdout.trim())).toMatchObject({
      submitted: false,
      why: expect.stringContaining(`already submitted as job ${first.job}`),
    });

    // scancel one task mid-training, as soon as it has a checkpoint past step 0 (32 steps in all)
    const cancelledDir = path.join(out, 'runs', CANCELLED);
    const stateFile = path.join(cancelledDir, 'adapter', 'checkpoint', 'state.json');
    const step = (): number => {
      try {
        return json<{ step: number }>(stateFile).step;
      } catch {
        return 0;
      }
    };
    for (const t0 = Date.now(); step() < 2; await new Promise((r) => setTimeout(r, 25)))
      if (Date.now() - t0 > 300_000) throw new Error(`${CANCELLED} never reached a checkpoint past step 0`);
    const task = `${first.job}_1`;
    const c = spawnSync('scancel', [task], { encoding: 'utf8' });
    expect(c.status, c.stderr).toBe(0);
    const cancelledAt = step();
    expect(cancelledAt, 'the task finished training before it was cancelled').toBeLessThan(32);

    const after = await waitFor(out, 'the other tasks to finish', (s) =>
      s.runs.every((r) => r.state === 'done' || r.state === 'failed'),
    );
    expect(after.runs.map((r) => [r.run, r.state])).toEqual(
      RUNS.map((id) => [id, id === CANCELLED ? 'failed' : 'done']),
    );
    const failed = after.runs.find((r) => r.run === CANCELLED)!;
    expect(failed).toMatchObject({ task, log: path.join(cancelledDir, 'run.log') });
    expect(failed.checkpointStep).toBeGreaterThanOrEqual(cancelledAt);
    expect(failed.checkpointStep).toBeLessThan(32);
    expect(existsSync(path.join(cancelledDir, 'done.json'))).toBe(false);
    // the text status names it too
    const text = captureIo();
    expect(await main(['experiment', 'status', out], text)).toBe(0);
    expect(text.stdout()).toMatch(new RegExp(`${CANCELLED}\\s+failed\\s+${task}`));
    expect(text.stdout()).toContain('4 runs: 3 done, 1 failed');

    // the report is built from what is done and says what is missing
    const rep = captureIo();
    expect(await main(['experiment', 'report', out, '--json'], rep), rep.stderr()).toBe(0);
    expect(JSON.parse(rep.stdout().trim())).toMatchObject({
      runs: 3,
      missing: [{ run: CANCELLED, state: 'failed' }],
    });
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toContain(
      `**Incomplete:** 1 of 4 runs are not finished and not in this report: ${CANCELLED}.`,
    );

    // two writers never share a run folder: while a live process holds it, a task is refused
    writeFileSync(
      path.join(cancelledDir, '.soo.lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), started: 'x' }) + '\n',
    );
    const second = await runSoo(['experiment', 'run-one', path.join(cancelledDir, 'run.json')]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('RUN_LOCKED');
    expect(second.stderr).toContain(`pid ${process.pid}`);

    // A pre-empted task on another node left its lock behind: its job has left the queue, so the
    // resubmitted task takes the lock over (a lock whose job is still queued would be RUN_LOCKED).
    writeFileSync(
      path.join(cancelledDir, '.soo.lock'),
      JSON.stringify({ pid: 1, host: `${hostname()}-other-node`, started: 'x', job: task }) + '\n',
    );
    const re = await submit('--resubmit');
    expect(re.code, re.stderr).toBe(0);
    const resub = JSON.parse(re.stdout.trim()) as { submitted: boolean; job: string; runs: string[] };
    expect(resub).toMatchObject({ submitted: true, runs: [CANCELLED], array: '1%2' });
    // done.json is a run's last write; the task then exits and records its exit code
    const exited = (id: string, job: string): boolean => {
      try {
        return json<{ job: string }>(path.join(out, 'runs', id, 'task-exit.json')).job === job;
      } catch {
        return false;
      }
    };
    const end = await waitFor(out, 'the resubmitted task', (s) =>
      s.runs.every((r) => r.state === 'done' && exited(r.run, r.run === CANCELLED ? resub.job : first.job)),
    );
    expect(end.runs.map((r) => r.state)).toEqual(['done', 'done', 'done', 'done']);
    expect(end.runs.find((r) => r.run === CANCELLED)!.task).toBe(`${resub.job}_1`);

    // every task completed: its exit record says 0, and its Slurm log says so
    for (const [i, id] of RUNS.entries()) {
      const exit = json<{ job: string; task: number; exitCode: number }>(
        path.join(out, 'runs', id, 'task-exit.json'),
      );
      const job = id === CANCELLED ? resub.job : first.job;
      expect(exit).toMatchObject({ job, task: i, exitCode: 0 });
      const log = readFileSync(path.join(out, 'slurm', 'logs', `${job}_${i}.log`), 'utf8');
      expect(log).toContain(`soo: task ${job}_${i} (${id}) exited 0`);
      // the --setup line ran first, then soo on the node from the task's PATH
      expect(log).toMatch(
        new RegExp(`^setup line ran\\nsoo: task ${job}_${i} runs ${id} on .* with .*node v\\d+`),
      );
      expect(leftovers(path.join(out, 'runs', id))).toEqual([]);
      // the same bytes as the local executor, the cancelled-and-resumed run included
      expect(adapter(out, id).equals(adapter(local, id)), id).toBe(true);
      const summary = (d: string) => json<{ eval: unknown }>(path.join(d, 'runs', id, 'summary.json'));
      expect(summary(out).eval).toEqual(summary(local).eval);
    }
    // the cancelled run resumed from its checkpoint rather than starting over
    const history = json<{ history: Array<{ event: string; step: number }> }>(
      path.join(cancelledDir, 'adapter', 'run_settings.json'),
    ).history;
    expect(history.filter((h) => h.event === 'resume').at(-1)?.step, JSON.stringify(history)).toBe(
      failed.checkpointStep,
    );

    const rep2 = captureIo();
    expect(await main(['experiment', 'report', out, '--json'], rep2)).toBe(0);
    expect(JSON.parse(rep2.stdout().trim())).toMatchObject({ runs: 4, missing: [] });
    expect(json<{ table: unknown }>(path.join(out, 'results.json')).table).toEqual(
      json<{ table: unknown }>(path.join(local, 'results.json')).table,
    );

    const nothing = await submit('--resubmit');
    expect(JSON.parse(nothing.stdout.trim())).toMatchObject({
      submitted: false,
      why: expect.stringContaining('nothing to submit (4 done)'),
    });
  }, 900_000);
});

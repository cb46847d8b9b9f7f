import { describe, expect, it } from 'vitest';
import { parseSlurmFlags, slurmFlagsGiven } from './options.js';
import { parseSacct, parseSqueue, currentSlurmTask } from './scheduler.js';
import { arraySpec, sbatchScript, shellQuote } from './script.js';

describe('sbatch script', () => {
  it('folds task indices into ranges and adds the %N limit', () => {
    expect(arraySpec([0, 1, 2, 3])).toBe('0-3');
    expect(arraySpec([5, 1, 3, 2], 2)).toBe('1-3,5%2');
    expect(arraySpec([4])).toBe('4');
  });

  it('writes one array task per run, the sbatch options, the setup lines and the run-one call', () => {
    const text = sbatchScript({
      name: 'sweep',
      out: '/shared/sweep-results',
      runIds: ['soo-seed1', 'soo-seed2', 'none'],
      soo: { node: '/opt/node/bin/node', bin: "/home/a b/soo's/bin.js" },
      options: parseSlurmFlags({
        partition: 'gpu',
        time: '1-02:00:00',
        gpusPerTask: '1',
        cpusPerTask: '8',
        mem: '32G',
        account: 'proj-42',
        qos: 'normal',
        arrayParallelism: '2',
        sbatchArg: ['--constraint=a100'],
        setup: ['module load cuda/12.4', 'source ~/venv/bin/activate'],
      }),
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines.filter((l) => l.startsWith('#SBATCH '))).toEqual([
      '#SBATCH --job-name=soo-sweep',
      '#SBATCH --array=0-2%2',
      '#SBATCH --output=/shared/sweep-results/slurm/logs/%A_%a.log',
      '#SBATCH --chdir=/shared/sweep-results',
      '#SBATCH --ntasks=1',
      '#SBATCH --partition=gpu',
      '#SBATCH --time=1-02:00:00',
      '#SBATCH --gpus-per-task=1',
      '#SBATCH --cpus-per-task=8',
      '#SBATCH --mem=32G',
      '#SBATCH --account=proj-42',
      '#SBATCH --qos=normal',
      '#SBATCH --constraint=a100',
    ]);
    // setup lines come before the task runs
    expect(text.indexOf('module load cuda/12.4')).toBeLessThan(text.lastIndexOf('experiment run-one'));
    expect(text).toContain('RUNS=(soo-seed1 soo-seed2 none)');
    expect(text).toContain(
      `"$node" '/home/a b/soo'\\''s/bin.js' experiment run-one "$dir/run.json" --json >>"$dir/run.log" 2>&1`,
    );
    // node from the task's PATH (after --setup), else the one that submitted
    expect(text).toContain('node="$(command -v node || echo /opt/node/bin/node)"');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it('refuses flags that do not fit, naming the flag', () => {
    expect(() => parseSlurmFlags({ time: 'two hours' })).toThrow(/--time: expected a Slurm time limit/);
    expect(() => parseSlurmFlags({ mem: '32 GB' })).toThrow(/--mem: expected a size/);
    expect(() => parseSlurmFlags({ gpusPerTask: '0' })).toThrow(
      /--gpus-per-task: expected a whole number >= 1/,
    );
    expect(() => parseSlurmFlags({ arrayParallelism: '1.5' })).toThrow(/--array-parallelism/);
    expect(() => parseSlurmFlags({ partition: 'gpu; rm -rf /' })).toThrow(
      /--partition: .* is not a Slurm name/,
    );
    expect(() => parseSlurmFlags({ sbatchArg: ['--array=0-9'] })).toThrow(/soo sets this option itself/);
    expect(() => parseSlurmFlags({ sbatchArg: ['constraint=a100'] })).toThrow(/expected one sbatch option/);
    expect(() => parseSlurmFlags({ setup: ['a\nb'] })).toThrow(/no newlines/);
    expect(slurmFlagsGiven({ mem: '1G', setup: [], sbatchArg: ['--x'] })).toEqual(['--mem', '--sbatch-arg']);
  });
});

describe('squeue and sacct output', () => {
  it('reads array tasks of our jobs from squeue -r -o "%F|%K|%T|%r"', () => {
    const q = parseSqueue('12|0|RUNNING|None\n12|3|PENDING|JobArrayTaskLimit\n99|0|RUNNING|None\n', ['12']);
    expect([...q.values()]).toEqual([
      { job: '12', task: 0, state: 'RUNNING', exitCode: null },
      { job: '12', task: 3, state: 'PENDING', exitCode: null, reason: 'JobArrayTaskLimit' },
    ]);
  });

  it('reads states and exit codes from sacct -P -X', () => {
    const a = parseSacct(
      '12_0|COMPLETED|0:0\n12_1|CANCELLED by 0|0:15\n12_2|FAILED|3:0\n12_[3-4]|PENDING|0:0\n',
    );
    expect(a.get('12_1')).toEqual({ job: '12', task: 1, state: 'CANCELLED', exitCode: 0 });
    expect(a.get('12_2')).toMatchObject({ state: 'FAILED', exitCode: 3 });
    expect(a.size).toBe(3);
  });

  it('names the array task a process runs in', () => {
    expect(currentSlurmTask({ SLURM_ARRAY_JOB_ID: '12', SLURM_ARRAY_TASK_ID: '3', SLURM_JOB_ID: '15' })).toBe(
      '12_3',
    );
    expect(currentSlurmTask({ SLURM_JOB_ID: '15' })).toBe('15');
    expect(currentSlurmTask({})).toBeUndefined();
  });
});

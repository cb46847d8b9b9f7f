import { UsageError } from '../errors.js';

/** What `--executor slurm` puts in the sbatch script, parsed and checked once from the flags. */
export interface SlurmOptions {
  partition?: string;
  /** sbatch --time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS). */
  time?: string;
  gpusPerTask?: number;
  cpusPerTask?: number;
  /** sbatch --mem, e.g. 16G. */
  mem?: string;
  account?: string;
  qos?: string;
  /** At most this many array tasks at once (the `%N` of --array). */
  arrayParallelism?: number;
  /** Extra sbatch arguments, each as given (e.g. "--constraint=a100"). */
  sbatchArgs: string[];
  /** Shell lines run before each task (module load, venv activation, nvm use). */
  setup: string[];
}

/** The raw flags, as commander hands them over. */
export interface SlurmFlags {
  partition?: string;
  time?: string;
  gpusPerTask?: string;
  cpusPerTask?: string;
  mem?: string;
  account?: string;
  qos?: string;
  arrayParallelism?: string;
  sbatchArg?: string[];
  setup?: string[];
}

const TIME = /^(\d+-)?\d+(:\d{1,2}){0,2}$/;
const MEM = /^\d+[KMGT]?$/i;
const WORD = /^[A-Za-z0-9_.,:+@=-]+$/;

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag}: expected a whole number >= 1, got "${value}"`);
  return n;
}

function word(flag: string, value: string): string {
  if (!WORD.test(value))
    throw new UsageError(
      `${flag}: "${value}" is not a Slurm name (letters, digits and _ . , : + @ = - only)`,
    );
  return value;
}

/** Flags that only mean something with --executor slurm (a local run with them is a usage error). */
export function slurmFlagsGiven(f: SlurmFlags): string[] {
  const names: Array<[keyof SlurmFlags, string]> = [
    ['partition', '--partition'],
    ['time', '--time'],
    ['gpusPerTask', '--gpus-per-task'],
    ['cpusPerTask', '--cpus-per-task'],
    ['mem', '--mem'],
    ['account', '--account'],
    ['qos', '--qos'],
    ['arrayParallelism', '--array-parallelism'],
    ['sbatchArg', '--sbatch-arg'],
    ['setup', '--setup'],
  ];
  return names
    .filter(([k]) => {
      const v = f[k];
      return Array.isArray(v) ? v.length > 0 : v !== undefined;
    })
    .map(([, flag]) => flag);
}

/** Check every flag; a bad one is a UsageError naming it and what it expects. Nothing here reaches a shell unchecked. */
export function parseSlurmFlags(f: SlurmFlags): SlurmOptions {
  const o: SlurmOptions = { sbatchArgs: [], setup: [] };
  if (f.partition !== undefined) o.partition = word('--partition', f.partition);
  if (f.time !== undefined) {
    if (!TIME.test(f.time))
      throw new UsageError(
        `--time: expected a Slurm time limit (minutes, HH:MM:SS or D-HH:MM:SS), got "${f.time}"`,
      );
    o.time = f.time;
  }
  if (f.gpusPerTask !== undefined) o.gpusPerTask = positiveInt('--gpus-per-task', f.gpusPerTask);
  if (f.cpusPerTask !== undefined) o.cpusPerTask = positiveInt('--cpus-per-task', f.cpusPerTask);
  if (f.mem !== undefined) {
    if (!MEM.test(f.mem)) throw new UsageError(`--mem: expected a size such as 16G or 4000M, got "${f.mem}"`);
    o.mem = f.mem;
  }
  if (f.account !== undefined) o.account = word('--account', f.account);
  if (f.qos !== undefined) o.qos = word('--qos', f.qos);
  if (f.arrayParallelism !== undefined)
    o.arrayParallelism = positiveInt('--array-parallelism', f.arrayParallelism);
  for (const a of f.sbatchArg ?? []) {
    if (!/^--?[A-Za-z]/.test(a) || /[\n\r]/.test(a))
      throw new UsageError(`--sbatch-arg: expected one sbatch option such as --constraint=a100, got "${a}"`);
    if (/^--?(array|output|error|chdir|job-name|parsable|wrap)\b/.test(a))
      throw new UsageError(
        `--sbatch-arg ${a}: soo sets this option itself (one array task per run, logs beside the runs)`,
      );
    o.sbatchArgs.push(a);
  }
  for (const line of f.setup ?? []) {
    if (/[\n\r]/.test(line)) throw new UsageError('--setup: one shell line per --setup (no newlines)');
    o.setup.push(line);
  }
  return o;
}

import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { NotFoundError, SooError, type SooErrorCode } from '@soo/core';
import {
  PAPER_EPISODE_COUNTS,
  PAPER_RUBRIC_SEEDS,
  defaultSeeds,
  formatAccuracyTable,
  rlClassify,
  rlFinetune,
  rlProfile,
  rlRubric,
  rlTrain,
  type ClassifierResult,
  type RlProfileResult,
  type RlProgress,
} from '@soo/rl';
import type { Command } from 'commander';
import { parseList, parseNumber } from '../args.js';
import { InterruptedError, UsageError } from '../errors.js';
import { type Io, printJson } from '../io.js';
import { createProgress, type Progress } from '../progress.js';

/** Env steps per episode of the Physical Deception env (rl.md D.4). */
const STEPS_PER_EPISODE = 50;

// ---------------------------------------------------------------------------------------------------
// Shipped baselines

function rlPackageDir(): string {
  return dirname(createRequire(import.meta.url).resolve('@soo/rl/package.json'));
}

/** file: URL of @soo/rl's ESM entry (its exports map has only an "import" condition, so no require.resolve). */
function rlEntryUrl(): string {
  const pkg = createRequire(import.meta.url)('@soo/rl/package.json') as { main?: string };
  return pathToFileURL(join(rlPackageDir(), pkg.main ?? 'dist/index.js')).href;
}

/**
 * The folder holding the shipped `deceptive/` and `honest/` baselines: `@soo/rl/assets/baselines`, or
 * `$SOO_RL_BASELINES_DIR` when set.
 */
export function shippedBaselinesDir(): string {
  return process.env.SOO_RL_BASELINES_DIR
    ? resolve(process.env.SOO_RL_BASELINES_DIR)
    : join(rlPackageDir(), 'assets', 'baselines');
}

const HOW_TO_TRAIN =
  'train them with `npm run rl:baselines` from the repository root (runs packages/rl/scripts/train-baselines.mjs; ' +
  'the paper settings take about an hour per baseline, both in parallel on 2 cores), ' +
  'or pass checkpoint folders explicitly (--deceptive/--honest, --from, --baselines)';

/** A shipped baseline folder, checked to exist. */
export function shippedBaseline(reward: 'deceptive' | 'honest'): string {
  const dir = join(shippedBaselinesDir(), reward);
  const file = join(dir, 'maddpg.json');
  if (!existsSync(file)) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `the shipped ${reward} baseline is missing: ${dir} (no maddpg.json); ${HOW_TO_TRAIN}`,
      { file },
    );
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------------
// Flag parsing

const REWARDS = ['deceptive', 'honest'] as const;
type Reward = (typeof REWARDS)[number];

function parseReward(value: string): Reward {
  if (!(REWARDS as readonly string[]).includes(value)) {
    throw new UsageError(`--reward: expected deceptive or honest, got "${value}"`);
  }
  return value as Reward;
}

function parseIntList(flag: string, value: string, min: number): number[] {
  const parts = parseList(value);
  if (parts.length === 0) throw new UsageError(`${flag}: expected comma-separated integers, got "${value}"`);
  return parts.map((p) => parseNumber(flag, p, { integer: true, min }));
}

/** `--seeds 10` draws 10 seeds from `--seed`; `--seeds 155,714` uses those seeds. */
function parseSeeds(flag: string, value: string, drawFrom: number): number[] {
  if (value.includes(',')) return parseIntList(flag, value, 0);
  return defaultSeeds(drawFrom, parseNumber(flag, value, { integer: true, min: 1 }));
}

/**
 * `--episodes 500` sweeps the paper's budgets up to 500 (1, 100, 200, …, 500); `--episodes 1,50,300`
 * uses exactly those.
 */
function parseEpisodeCounts(flag: string, value: string): number[] {
  if (value.includes(',')) return [...new Set(parseIntList(flag, value, 1))].sort((a, b) => a - b);
  const n = parseNumber(flag, value, { integer: true, min: 1 });
  const counts = PAPER_EPISODE_COUNTS.filter((c) => c <= n);
  if (counts[counts.length - 1] !== n) counts.push(n);
  return counts;
}

function maddpgOverrides(opts: { batchSize?: string; updateEvery?: string }): {
  batchSize?: number;
  updateEvery?: number;
} {
  const o: { batchSize?: number; updateEvery?: number } = {};
  if (opts.batchSize !== undefined)
    o.batchSize = parseNumber('--batch-size', opts.batchSize, { integer: true, min: 1 });
  if (opts.updateEvery !== undefined) {
    o.updateEvery = parseNumber('--update-every', opts.updateEvery, { integer: true, min: 1 });
  }
  return o;
}

// ---------------------------------------------------------------------------------------------------
// Progress

function numeric(detail: RlProgress['detail']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(detail ?? {}))
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

/** A progress bar created on the first report (when the total is known). */
function progressSink(io: Io, label: string, json: boolean) {
  let bar: Progress | undefined;
  return {
    on(p: RlProgress): void {
      bar ??= createProgress(io, { label, total: p.total, json });
      bar.update(p.done, numeric(p.detail));
    },
    finish(values?: Record<string, number>): void {
      bar?.finish(values);
    },
  };
}

function fmtSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`
    : `${m} min ${Math.round(s % 60)} s`;
}

// ---------------------------------------------------------------------------------------------------
// Workers (reproduce runs the long phases in worker threads so they use both cores and Ctrl-C works)

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.url)
  .then(async (rl) => {
    const opts = { ...workerData.opts, onProgress: (p) => parentPort.postMessage({ kind: 'progress', p }) };
    const { maddpg: _m, table: _t, ...rest } = await rl[workerData.fn](opts);
    parentPort.postMessage({ kind: 'result', result: rest });
  })
  .catch((e) => parentPort.postMessage({ kind: 'error', message: String((e && e.message) || e), code: e && e.code }));
`;

type WorkerMessage =
  | { kind: 'progress'; p: RlProgress }
  | { kind: 'result'; result: unknown }
  | { kind: 'error'; message: string; code?: string };

class WorkerPool {
  private readonly active = new Set<Worker>();
  private queue: (() => void)[] = [];
  private running = 0;
  interrupted = false;

  constructor(private readonly jobs: number) {}

  /** Run `@soo/rl`'s `fn(opts)` in a worker thread (at most `jobs` at a time). */
  async run<T>(fn: string, opts: Record<string, unknown>, onProgress: (p: RlProgress) => void): Promise<T> {
    if (this.running >= this.jobs) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      if (this.interrupted) throw new InterruptedError('interrupted');
      const url = rlEntryUrl();
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { url, fn, opts } });
      this.active.add(worker);
      return await new Promise<T>((resolveP, reject) => {
        let settled = false;
        worker.on('message', (m: WorkerMessage) => {
          if (m.kind === 'progress') onProgress(m.p);
          else if (m.kind === 'result') {
            settled = true;
            resolveP(m.result as T);
          } else {
            settled = true;
            reject(m.code ? new SooError(m.code as SooErrorCode, m.message) : new Error(m.message));
          }
        });
        worker.on('error', (e) => {
          settled = true;
          reject(e);
        });
        worker.on('exit', (code) => {
          this.active.delete(worker);
          if (!settled) {
            reject(
              this.interrupted
                ? new InterruptedError('interrupted')
                : new Error(`${fn} worker exited with code ${code}`),
            );
          }
        });
      });
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  async terminate(): Promise<void> {
    this.interrupted = true;
    await Promise.all([...this.active].map((w) => w.terminate()));
  }
}

// ---------------------------------------------------------------------------------------------------
// Subcommands

interface TrainOpts {
  reward: string;
  episodes: string;
  seed: string;
  batchSize?: string;
  updateEvery?: string;
  progressEvery: string;
  out: string;
  json?: boolean;
  checkpointEvery: string;
  resume?: boolean;
}

function registerTrainCmd(rl: Command, io: Io): void {
  rl.command('train')
    .description(
      'train a MADDPG baseline on the SOO Physical Deception env (deceptive or honest blue reward)',
    )
    .requiredOption('--reward <r>', "blue's reward: deceptive | honest")
    .option('--episodes <n>', 'episodes of 50 steps (paper: 40000)', '40000')
    .option('--seed <n>', 'seed for the env, networks and noise', '0')
    .option('--batch-size <n>', 'MADDPG minibatch (paper: 1024)')
    .option('--update-every <n>', 'env steps between update rounds (paper: 100)')
    .option('--progress-every <n>', 'report every n episodes', '100')
    .requiredOption('--out <dir>', 'checkpoint folder (maddpg.json, maddpg.safetensors, returns.json)')
    .option(
      '--checkpoint-every <n>',
      'episodes between resumable checkpoints in <out>/checkpoint (0: none)',
      '1000',
    )
    .option('--resume', 'continue from <out>/checkpoint (same flags; bit-identical to an uninterrupted run)')
    .option('--json', 'progress and the summary as JSON lines on stdout')
    .addHelpText(
      'after',
      '\nA paper baseline (40000 episodes) takes about an hour on one core.\n\nExample:\n  soo rl train --reward honest --seed 1 --out runs/honest',
    )
    .action(async (opts: TrainOpts) => {
      const reward = parseReward(opts.reward);
      const episodes = parseNumber('--episodes', opts.episodes, { integer: true, min: 1 });
      const seed = parseNumber('--seed', opts.seed, { integer: true });
      const progressEvery = parseNumber('--progress-every', opts.progressEvery, { integer: true, min: 1 });
      const sink = progressSink(io, `train ${reward}`, Boolean(opts.json));
      const res = await rlTrain({
        reward,
        episodes,
        seed,
        out: opts.out,
        maddpg: maddpgOverrides(opts),
        progressEvery,
        onProgress: (p) => sink.on(p),
        checkpointEvery: parseNumber('--checkpoint-every', opts.checkpointEvery, { integer: true, min: 0 }),
        resume: Boolean(opts.resume),
      });
      if (res.resumedFrom) io.err(`resumed from episode ${res.resumedFrom}\n`);
      const last = res.returns.slice(-progressEvery);
      const mean = (a: number) => last.reduce((s, r) => s + r[a]!, 0) / Math.max(1, last.length);
      const summary = {
        reward,
        episodes: res.returns.length,
        seconds: res.seconds,
        env_steps_per_s: (res.returns.length * STEPS_PER_EPISODE) / res.seconds,
        red_return: mean(0),
        blue_return: mean(1),
        out: opts.out,
      };
      sink.finish({ red: summary.red_return, blue: summary.blue_return });
      if (opts.json) printJson(io, { event: 'summary', ...summary });
      else {
        io.err(
          `trained ${reward} baseline: ${summary.episodes} episodes in ${fmtSeconds(res.seconds)} ` +
            `(${Math.round(summary.env_steps_per_s)} env steps/s); wrote ${opts.out}\n`,
        );
      }
    });
}

interface ClassifyOpts {
  deceptive?: string;
  honest?: string;
  seeds: string;
  seed: string;
  episodes: string;
  out?: string;
  json?: boolean;
}

interface ClassifySummary {
  accuracy: number;
  episodes: number;
  correct: number;
  seeds: number[];
  rows: { episodes: number; accuracy: number; correct: number }[];
  seconds: number;
  deceptive: string;
  honest: string;
}

function classifySummary(
  res: ClassifierResult,
  seconds: number,
  deceptive: string,
  honest: string,
): ClassifySummary {
  const last = res.rows[res.rows.length - 1]!;
  return {
    accuracy: last.accuracy,
    episodes: last.episodes,
    correct: last.correct,
    seeds: res.seeds,
    rows: res.rows.map((r) => ({ episodes: r.episodes, accuracy: r.accuracy, correct: r.correct })),
    seconds,
    deceptive,
    honest,
  };
}

async function writeClassify(dir: string, res: ClassifierResult, summary: ClassifySummary): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'classify.json'), JSON.stringify({ ...summary, result: res }, null, 2) + '\n');
  await writeFile(join(dir, 'table.txt'), formatAccuracyTable(res) + '\n');
}

function registerClassifyCmd(rl: Command, io: Io): void {
  rl.command('classify')
    .description('classify deceptive vs honest agents by their mean SOO value (accuracy per episodes/seed)')
    .option('--deceptive <dir>', 'deceptive checkpoint (default: the shipped baseline)')
    .option('--honest <dir>', 'honest checkpoint (default: the shipped baseline)')
    .option(
      '--seeds <n|list>',
      'number of evaluation seeds (drawn from --seed), or a comma-separated list',
      '10',
    )
    .option('--seed <n>', 'seed for drawing the evaluation seeds', '0')
    .option(
      '--episodes <n|list>',
      'episodes per seed: n sweeps the paper budgets 1, 100, 200, …, n (paper: 1500); or a comma-separated list',
      '500',
    )
    .option('--out <dir>', 'write classify.json and table.txt here')
    .option('--json', 'progress as JSON lines; the last line is {"accuracy": …} at the largest budget')
    .addHelpText(
      'after',
      '\nA seed is classified correctly iff score(honest) < score(deceptive), the score being the mean SOO value\nover the self-condition steps of the first n episodes.\n\nExample:\n  soo rl classify --seeds 10 --episodes 1500',
    )
    .action(async (opts: ClassifyOpts) => {
      const seeds = parseSeeds('--seeds', opts.seeds, parseNumber('--seed', opts.seed, { integer: true }));
      const episodeCounts = parseEpisodeCounts('--episodes', opts.episodes);
      const deceptive = opts.deceptive ?? shippedBaseline('deceptive');
      const honest = opts.honest ?? shippedBaseline('honest');
      const sink = progressSink(io, 'classify', Boolean(opts.json));
      const t0 = performance.now();
      const res = await rlClassify({
        deceptive,
        honest,
        seeds,
        episodeCounts,
        onProgress: (p) => sink.on(p),
      });
      const seconds = (performance.now() - t0) / 1000;
      const summary = classifySummary(res, seconds, deceptive, honest);
      sink.finish({ accuracy: summary.accuracy });
      if (opts.out) await writeClassify(opts.out, res, summary);
      if (opts.json) printJson(io, summary);
      else {
        io.out(res.table + '\n');
        io.err(
          `accuracy ${(100 * summary.accuracy).toFixed(0)}% (${summary.correct}/${seeds.length}) at ${summary.episodes} ` +
            `episodes/seed; ${fmtSeconds(seconds)}${opts.out ? `; wrote ${opts.out}` : ''}\n`,
        );
      }
    });
}

interface FinetuneOpts {
  from?: string;
  episodes: string;
  seed: string;
  lambda: string;
  beta: string;
  sooBatch?: string;
  progressEvery: string;
  out: string;
  json?: boolean;
}

function registerFinetuneCmd(rl: Command, io: Io): void {
  rl.command('finetune')
    .description(
      "SOO fine-tuning of blue's policy: λ·MSE(A_self, A_other) + β·MSE(π, π_baseline) before each update",
    )
    .option('--from <dir>', 'baseline to fine-tune (default: the shipped deceptive baseline)')
    .option('--episodes <n>', 'episodes (paper: 10000)', '10000')
    .option('--seed <n>', 'seed', '0')
    .option('--lambda <x>', 'weight of the SOO term', '1')
    .option('--beta <x>', 'weight of the anchor to the baseline actions', '1')
    .option('--soo-batch <n>', 'rows per SOO step (default: the MADDPG batch size)')
    .option('--progress-every <n>', 'report every n episodes', '100')
    .requiredOption('--out <dir>', 'checkpoint folder for the fine-tuned agents')
    .option('--json', 'progress and the summary as JSON lines on stdout')
    .action(async (opts: FinetuneOpts) => {
      const episodes = parseNumber('--episodes', opts.episodes, { integer: true, min: 1 });
      const seed = parseNumber('--seed', opts.seed, { integer: true });
      const lambda = parseNumber('--lambda', opts.lambda, { min: 0 });
      const beta = parseNumber('--beta', opts.beta, { min: 0 });
      const progressEvery = parseNumber('--progress-every', opts.progressEvery, { integer: true, min: 1 });
      const batchSize =
        opts.sooBatch !== undefined
          ? parseNumber('--soo-batch', opts.sooBatch, { integer: true, min: 1 })
          : undefined;
      const from = opts.from ?? shippedBaseline('deceptive');
      const sink = progressSink(io, 'finetune', Boolean(opts.json));
      const res = await rlFinetune({
        from,
        episodes,
        seed,
        lambda,
        beta,
        ...(batchSize !== undefined ? { batchSize } : {}),
        out: opts.out,
        progressEvery,
        onProgress: (p) => sink.on(p),
      });
      const summary = {
        from,
        episodes: res.returns.length,
        seconds: res.seconds,
        env_steps_per_s: (res.returns.length * STEPS_PER_EPISODE) / res.seconds,
        soo_steps: res.sooLoss.length,
        soo_loss_first: res.sooLoss[0] ?? null,
        soo_loss_last: res.sooLoss[res.sooLoss.length - 1] ?? null,
        out: opts.out,
      };
      sink.finish();
      if (opts.json) printJson(io, { event: 'summary', ...summary });
      else {
        io.err(
          `fine-tuned ${from}: ${summary.episodes} episodes, ${summary.soo_steps} SOO steps ` +
            `(SOO term ${summary.soo_loss_first ?? 'n/a'} -> ${summary.soo_loss_last ?? 'n/a'}) in ${fmtSeconds(res.seconds)}; wrote ${opts.out}\n`,
        );
      }
    });
}

interface ProfileOpts {
  seconds: string;
  batchSizes: string;
  out?: string;
  json?: boolean;
}

function profileTable(r: RlProfileResult): string {
  const lines = [
    `env steps/s (random actions)              ${Math.round(r.envStepsPerSec)}`,
    `rollout steps/s (policies + noise + buffer) ${Math.round(r.rolloutStepsPerSec)}`,
  ];
  for (const u of r.updates)
    lines.push(`update rounds/s, batch ${u.batchSize}`.padEnd(43) + ` ${u.roundsPerSec.toFixed(1)}`);
  return lines.join('\n') + '\n';
}

function registerProfileCmd(rl: Command, io: Io): void {
  rl.command('profile')
    .description('measure env steps/s, rollout steps/s and MADDPG update rounds/s on this machine')
    .option('--seconds <x>', 'seconds per measurement', '2')
    .option('--batch-sizes <list>', 'batch sizes for the update measurement', '1024,256')
    .option('--out <file>', 'write the result as JSON')
    .option('--json', 'print the result as one JSON line')
    .action(async (opts: ProfileOpts) => {
      const seconds = parseNumber('--seconds', opts.seconds, { min: 0 });
      if (seconds <= 0) throw new UsageError(`--seconds: expected a number > 0, got "${opts.seconds}"`);
      const batchSizes = parseIntList('--batch-sizes', opts.batchSizes, 1);
      const sink = progressSink(io, 'profile', Boolean(opts.json));
      const res = await rlProfile({ seconds, batchSizes, onProgress: (p) => sink.on(p) });
      const record = { ...res, loadavg1m: loadavg()[0], cores: cpus().length };
      if (opts.out) {
        await mkdir(dirname(resolve(opts.out)), { recursive: true });
        await writeFile(opts.out, JSON.stringify(record, null, 2) + '\n');
      }
      if (opts.json) printJson(io, record);
      else io.out(profileTable(res));
    });
}

interface RubricOpts {
  deceptive?: string;
  honest?: string;
  soo?: string;
  condition: string[];
  seeds: string;
  episodes: string;
  out: string;
  json?: boolean;
}

function parseConditions(opts: RubricOpts): Record<string, string> {
  const conditions: Record<string, string> = {};
  for (const c of opts.condition) {
    const m = /^([A-Za-z0-9_-]+)=(.+)$/.exec(c);
    if (!m)
      throw new UsageError(`--condition: expected name=dir (name of letters, digits, - or _), got "${c}"`);
    conditions[m[1]!] = m[2]!;
  }
  return conditions;
}

function registerRubricCmd(rl: Command, io: Io): void {
  rl.command('rubric')
    .description(
      'deception rubric: heatmaps of deceptive moves and grid-MSE behavioural differences between agents',
    )
    .option('--deceptive <dir>', 'deceptive checkpoint (default: the shipped baseline)')
    .option('--honest <dir>', 'honest checkpoint (default: the shipped baseline)')
    .option('--soo <dir>', 'SOO fine-tuned checkpoint')
    .option(
      '--condition <name=dir>',
      'more conditions (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--no-baselines', 'compare only --soo and --condition agents')
    .option('--seeds <list>', 'evaluation seeds', PAPER_RUBRIC_SEEDS.join(','))
    .option('--episodes <n>', 'evaluation episodes per seed and agent', '100')
    .option(
      '--noise-floor <offset>',
      'also score every agent against itself on seeds shifted by <offset> (the rubric\'s noise floor, "X↔X′")',
    )
    .option(
      '--opponent <name>',
      'run every agent against the red of condition <name> (e.g. deceptive), so grids differ by blue only',
    )
    .requiredOption('--out <dir>', 'folder for heatmap_<name>.svg, trajectory_<name>.svg and rubric.json')
    .option('--json', 'progress and the differences as JSON lines on stdout')
    .action(async (opts: RubricOpts & { baselines: boolean; noiseFloor?: string; opponent?: string }) => {
      const seeds = parseIntList('--seeds', opts.seeds, 0);
      const episodes = parseNumber('--episodes', opts.episodes, { integer: true, min: 1 });
      const extra = parseConditions(opts);
      const conditions: Record<string, string> = {};
      if (opts.baselines) {
        conditions.deceptive = opts.deceptive ?? shippedBaseline('deceptive');
        conditions.honest = opts.honest ?? shippedBaseline('honest');
      }
      if (opts.soo) conditions.soo = opts.soo;
      Object.assign(conditions, extra);
      if (Object.keys(conditions).length < 2)
        throw new UsageError('rubric needs at least two agents to compare');
      const sink = progressSink(io, 'rubric', Boolean(opts.json));
      const res = await rlRubric({
        conditions,
        seeds,
        episodes,
        out: opts.out,
        ...(opts.noiseFloor !== undefined
          ? { noiseFloorSeedOffset: parseNumber('--noise-floor', opts.noiseFloor, { integer: true, min: 1 }) }
          : {}),
        ...(opts.opponent !== undefined ? { opponent: { from: opts.opponent } } : {}),
        onProgress: (p) => sink.on(p),
      });
      sink.finish();
      const differences = Object.fromEntries(
        Object.entries(res.differences).map(([k, d]) => [k, { mean: d.mean, sd: d.sd, perSeed: d.perSeed }]),
      );
      const floors = res.noiseFloor ?? {};
      if (opts.json)
        printJson(io, {
          event: 'summary',
          differences,
          ...(res.noiseFloor ? { noiseFloor: floors } : {}),
          files: res.files,
        });
      else {
        io.out(rubricTable({ ...res.differences, ...floors }));
        io.err(`wrote ${res.files.length} files to ${opts.out}\n`);
      }
    });
}

function rubricTable(differences: Record<string, { mean: number; sd: number }>): string {
  const lines = ['pair                      grid MSE (mean ± sd over seeds)'];
  for (const [k, d] of Object.entries(differences))
    lines.push(`${k.padEnd(26)}${d.mean.toPrecision(4)} ± ${d.sd.toPrecision(3)}`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------
// reproduce

interface ReproduceOpts {
  out: string;
  baselines?: string;
  trainEpisodes: string;
  finetuneEpisodes: string;
  classifySeeds: string;
  classifyEpisodes: string;
  rubricSeeds: string;
  rubricEpisodes: string;
  batchSize?: string;
  updateEvery?: string;
  profileSeconds: string;
  seed: string;
  jobs: string;
  json?: boolean;
}

interface ReproduceConfig {
  baselines: string | null;
  trainEpisodes: number;
  finetuneEpisodes: number;
  classifySeeds: number[];
  classifyEpisodes: number[];
  rubricSeeds: number[];
  rubricEpisodes: number;
  maddpg: { batchSize?: number; updateEvery?: number };
  seed: number;
}

interface PhaseRecord {
  phase: string;
  seconds: number;
  startedAt: string;
  endedAt: string;
  envSteps?: number;
  [k: string]: unknown;
}

const PHASE_FILE = 'phase.json';

/** Run a phase into `<dir>.partial`, then rename it to `dir`; skip it when `dir/phase.json` exists. */
async function runPhase(
  io: Io,
  dir: string,
  name: string,
  work: (tmp: string) => Promise<Record<string, unknown> & { envSteps?: number }>,
): Promise<PhaseRecord & { skipped: boolean }> {
  const marker = join(dir, PHASE_FILE);
  if (existsSync(marker)) {
    io.err(`reproduce: ${name}: done earlier, skipping (${relative(process.cwd(), dir) || dir})\n`);
    return { ...(JSON.parse(await readFile(marker, 'utf8')) as PhaseRecord), skipped: true };
  }
  const tmp = `${dir}.partial`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  io.err(`reproduce: ${name}: started\n`);
  const startedAt = new Date();
  const t0 = performance.now();
  const extra = await work(tmp);
  const seconds = (performance.now() - t0) / 1000;
  const record: PhaseRecord = {
    phase: name,
    seconds,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    ...extra,
  };
  await writeFile(join(tmp, PHASE_FILE), JSON.stringify(record, null, 2) + '\n');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await rename(tmp, dir);
  io.err(`reproduce: ${name}: done in ${fmtSeconds(seconds)}\n`);
  return { ...record, skipped: false };
}

function registerReproduceCmd(rl: Command, io: Io): void {
  rl.command('reproduce')
    .description(
      'the whole paper protocol, resumable: profile, both baselines, classification, SOO fine-tuning, rubric, report.md',
    )
    .requiredOption(
      '--out <dir>',
      'run folder (one subfolder per phase; finished phases are skipped on rerun)',
    )
    .option(
      '--baselines <dir|shipped>',
      'use these deceptive/ and honest/ checkpoints instead of training them',
    )
    .option('--train-episodes <n>', 'episodes per baseline (paper: 40000)', '40000')
    .option('--finetune-episodes <n>', 'SOO fine-tuning episodes (paper: 10000)', '10000')
    .option('--classify-seeds <n|list>', 'classifier seeds: a count (drawn from --seed) or a list', '10')
    .option('--classify-episodes <n|list>', 'classifier budgets: n sweeps 1, 100, …, n (paper: 1500)', '1500')
    .option('--rubric-seeds <list>', 'rubric seeds', PAPER_RUBRIC_SEEDS.join(','))
    .option('--rubric-episodes <n>', 'rubric episodes per seed and agent', '100')
    .option('--batch-size <n>', 'MADDPG minibatch for the baselines (paper: 1024)')
    .option('--update-every <n>', 'env steps between update rounds for the baselines (paper: 100)')
    .option('--profile-seconds <x>', 'seconds per throughput measurement (0 skips the profile)', '2')
    .option(
      '--seed <n>',
      'base seed: deceptive n, honest n+1, fine-tuning n+2, classifier seeds drawn from n',
      '0',
    )
    .option(
      '--jobs <n>',
      'phases run in parallel worker threads',
      String(Math.max(1, Math.min(2, cpus().length))),
    )
    .option('--json', 'progress as JSON lines; the last line is the summary')
    .addHelpText(
      'after',
      '\nOn 2 cores with the paper settings: ~1 h for the two baselines in parallel, then fine-tuning and\nclassification in parallel (~15-25 min), then the rubric (~1 min). Ctrl-C stops; rerun the same command\nto resume from the last finished phase.\n\nExample:\n  soo rl reproduce --out runs/rl-paper\n  soo rl reproduce --out runs/rl-quick --baselines shipped',
    )
    .action(async (opts: ReproduceOpts) => {
      const seed = parseNumber('--seed', opts.seed, { integer: true });
      const config: ReproduceConfig = {
        baselines:
          opts.baselines === undefined
            ? null
            : opts.baselines === 'shipped'
              ? 'shipped'
              : resolve(opts.baselines),
        trainEpisodes: parseNumber('--train-episodes', opts.trainEpisodes, { integer: true, min: 1 }),
        finetuneEpisodes: parseNumber('--finetune-episodes', opts.finetuneEpisodes, {
          integer: true,
          min: 1,
        }),
        classifySeeds: parseSeeds('--classify-seeds', opts.classifySeeds, seed),
        classifyEpisodes: parseEpisodeCounts('--classify-episodes', opts.classifyEpisodes),
        rubricSeeds: parseIntList('--rubric-seeds', opts.rubricSeeds, 0),
        rubricEpisodes: parseNumber('--rubric-episodes', opts.rubricEpisodes, { integer: true, min: 1 }),
        maddpg: maddpgOverrides(opts),
        seed,
      };
      const profileSeconds = parseNumber('--profile-seconds', opts.profileSeconds, { min: 0 });
      const jobs = parseNumber('--jobs', opts.jobs, { integer: true, min: 1 });
      const json = Boolean(opts.json);
      const out = resolve(opts.out);
      await mkdir(out, { recursive: true });
      const configFile = join(out, 'config.json');
      if (existsSync(configFile)) {
        const before = await readFile(configFile, 'utf8');
        if (before.trim() !== JSON.stringify(config, null, 2)) {
          throw new UsageError(
            `${out} was started with other settings (${configFile}); rerun with the same flags to resume, or use a new --out`,
          );
        }
      } else await writeFile(configFile, JSON.stringify(config, null, 2) + '\n');

      const pool = new WorkerPool(jobs);
      const onSigint = (): void => {
        io.err('\nreproduce: interrupted; stopping workers (finished phases are kept)\n');
        void pool.terminate();
      };
      process.on('SIGINT', onSigint);
      // Concurrent phases print plain lines (two redrawn bars would overwrite each other).
      const plainIo: Io = { ...io, isTTY: false };
      const t0 = performance.now();
      try {
        // 0. throughput profile (before anything else runs, so it is not contended by our own work)
        let profile: (PhaseRecord & { skipped: boolean }) | null = null;
        if (profileSeconds > 0) {
          profile = await runPhase(io, join(out, 'profile'), 'profile', async (tmp) => {
            const sink = progressSink(io, 'profile', json);
            const r = await rlProfile({
              seconds: profileSeconds,
              batchSizes: [1024],
              onProgress: (p) => sink.on(p),
            });
            sink.finish();
            await writeFile(join(tmp, 'profile.json'), JSON.stringify(r, null, 2) + '\n');
            return { result: r, loadavg1m: loadavg()[0] };
          });
        }

        // 1. baselines
        const baseDir =
          config.baselines === 'shipped'
            ? shippedBaselinesDir()
            : (config.baselines ?? join(out, 'baselines'));
        let baselinePhases: (PhaseRecord & { skipped: boolean })[] = [];
        if (config.baselines !== null) {
          if (config.baselines === 'shipped') for (const r of REWARDS) shippedBaseline(r);
          for (const r of REWARDS) {
            if (!existsSync(join(baseDir, r, 'maddpg.json'))) {
              throw new NotFoundError('FILE_NOT_FOUND', `--baselines: no checkpoint at ${join(baseDir, r)}`, {
                file: join(baseDir, r, 'maddpg.json'),
              });
            }
          }
        } else {
          baselinePhases = await Promise.all(
            REWARDS.map((reward, i) =>
              runPhase(io, join(baseDir, reward), `train ${reward}`, async (tmp) => {
                const sink = progressSink(plainIo, `train ${reward}`, json);
                const r = await pool.run<{ returns: number[][]; seconds: number }>(
                  'rlTrain',
                  {
                    reward,
                    seed: seed + i,
                    episodes: config.trainEpisodes,
                    maddpg: config.maddpg,
                    out: tmp,
                    progressEvery: Math.max(1, Math.min(500, Math.ceil(config.trainEpisodes / 20))),
                  },
                  (p) => sink.on(p),
                );
                sink.finish();
                const tail = r.returns.slice(-100);
                const mean = (a: number) => tail.reduce((s, x) => s + x[a]!, 0) / Math.max(1, tail.length);
                return {
                  reward,
                  seed: seed + i,
                  episodes: r.returns.length,
                  envSteps: r.returns.length * STEPS_PER_EPISODE,
                  trainSeconds: r.seconds,
                  lastReturns: { red: mean(0), blue: mean(1) },
                };
              }),
            ),
          );
        }
        const deceptive = join(baseDir, 'deceptive');
        const honest = join(baseDir, 'honest');

        // 2. SOO fine-tuning and classification, in parallel
        const [finetune, classify] = await Promise.all([
          runPhase(io, join(out, 'finetune'), 'finetune', async (tmp) => {
            const sink = progressSink(plainIo, 'finetune', json);
            const r = await pool.run<{ returns: number[][]; seconds: number; sooLoss: number[] }>(
              'rlFinetune',
              {
                from: deceptive,
                episodes: config.finetuneEpisodes,
                seed: seed + 2,
                out: tmp,
                progressEvery: Math.max(1, Math.min(500, Math.ceil(config.finetuneEpisodes / 20))),
              },
              (p) => sink.on(p),
            );
            sink.finish();
            const tail = r.returns.slice(-100);
            const mean = (a: number) => tail.reduce((s, x) => s + x[a]!, 0) / Math.max(1, tail.length);
            return {
              from: deceptive,
              episodes: r.returns.length,
              envSteps: r.returns.length * STEPS_PER_EPISODE,
              sooSteps: r.sooLoss.length,
              sooLossFirst: r.sooLoss[0] ?? null,
              sooLossLast: r.sooLoss[r.sooLoss.length - 1] ?? null,
              lastReturns: { red: mean(0), blue: mean(1) },
            };
          }),
          runPhase(io, join(out, 'classify'), 'classify', async (tmp) => {
            const sink = progressSink(plainIo, 'classify', json);
            const t = performance.now();
            const r = await pool.run<ClassifierResult>(
              'rlClassify',
              { deceptive, honest, seeds: config.classifySeeds, episodeCounts: config.classifyEpisodes },
              (p) => sink.on(p),
            );
            const summary = classifySummary(r, (performance.now() - t) / 1000, deceptive, honest);
            sink.finish({ accuracy: summary.accuracy });
            await writeClassify(tmp, r, summary);
            const maxN = config.classifyEpisodes[config.classifyEpisodes.length - 1]!;
            return {
              accuracy: summary.accuracy,
              rows: summary.rows,
              envSteps: 2 * config.classifySeeds.length * maxN * STEPS_PER_EPISODE,
            };
          }),
        ]);

        // 3. rubric
        const rubric = await runPhase(io, join(out, 'rubric'), 'rubric', async (tmp) => {
          const sink = progressSink(io, 'rubric', json);
          const r = await rlRubric({
            conditions: { deceptive, honest, soo: join(out, 'finetune') },
            seeds: config.rubricSeeds,
            episodes: config.rubricEpisodes,
            out: tmp,
            onProgress: (p) => sink.on(p),
          });
          sink.finish();
          return {
            differences: Object.fromEntries(
              Object.entries(r.differences).map(([k, d]) => [k, { mean: d.mean, sd: d.sd }]),
            ),
            envSteps: 3 * config.rubricSeeds.length * config.rubricEpisodes * STEPS_PER_EPISODE,
          };
        });

        const invocationSeconds = (performance.now() - t0) / 1000;
        const report = buildReport({
          config,
          profile,
          baselinePhases,
          baseDir,
          finetune,
          classify,
          classifyTable: await readFile(join(out, 'classify', 'table.txt'), 'utf8'),
          rubric,
          invocationSeconds,
          command: reproduceCommand(opts.out, config, profileSeconds),
        });
        await writeFile(join(out, 'report.md'), report.markdown);
        await writeFile(join(out, 'report.json'), JSON.stringify(report.summary, null, 2) + '\n');
        if (json) printJson(io, { event: 'summary', ...report.summary });
        else {
          io.out(report.markdown);
          io.err(`reproduce: wrote ${join(out, 'report.md')}\n`);
        }
      } catch (e) {
        if (pool.interrupted) {
          throw new InterruptedError(
            `interrupted; rerun the same command to resume (finished phases in ${out})`,
          );
        }
        throw e;
      } finally {
        process.off('SIGINT', onSigint);
        await pool.terminate();
      }
    });
}

/** The `soo rl reproduce` command line for a config (what report.md quotes). */
function reproduceCommand(out: string, c: ReproduceConfig, profileSeconds: number): string {
  const a = ['soo rl reproduce --out', out];
  if (c.baselines !== null) a.push('--baselines', c.baselines);
  else if (c.trainEpisodes !== 40_000) a.push('--train-episodes', String(c.trainEpisodes));
  if (c.finetuneEpisodes !== 10_000) a.push('--finetune-episodes', String(c.finetuneEpisodes));
  a.push('--classify-seeds', c.classifySeeds.join(','), '--classify-episodes', c.classifyEpisodes.join(','));
  if (c.rubricSeeds.join(',') !== PAPER_RUBRIC_SEEDS.join(','))
    a.push('--rubric-seeds', c.rubricSeeds.join(','));
  if (c.rubricEpisodes !== 100) a.push('--rubric-episodes', String(c.rubricEpisodes));
  if (c.maddpg.batchSize !== undefined) a.push('--batch-size', String(c.maddpg.batchSize));
  if (c.maddpg.updateEvery !== undefined) a.push('--update-every', String(c.maddpg.updateEvery));
  if (profileSeconds !== 2) a.push('--profile-seconds', String(profileSeconds));
  if (c.seed !== 0) a.push('--seed', String(c.seed));
  return a.join(' ');
}

interface ReportInput {
  config: ReproduceConfig;
  profile: (PhaseRecord & { skipped: boolean }) | null;
  baselinePhases: (PhaseRecord & { skipped: boolean })[];
  baseDir: string;
  finetune: PhaseRecord & { skipped: boolean };
  classify: PhaseRecord & { skipped: boolean };
  classifyTable: string;
  rubric: PhaseRecord & { skipped: boolean };
  invocationSeconds: number;
  /** The command line that (re)produces this run. */
  command: string;
}

function pairKey(differences: Record<string, { mean: number; sd: number }>, a: string, b: string) {
  return differences[`${a}↔${b}`] ?? differences[`${b}↔${a}`];
}

/** The final markdown report and its JSON summary. */
export function buildReport(r: ReportInput): { markdown: string; summary: Record<string, unknown> } {
  const rows = r.classify.rows as { episodes: number; accuracy: number; correct: number }[];
  const inRange = (lo: number, hi: number) => rows.filter((x) => x.episodes >= lo && x.episodes <= hi);
  const stat = (xs: { accuracy: number }[]) =>
    xs.length === 0
      ? null
      : {
          mean: xs.reduce((s, x) => s + x.accuracy, 0) / xs.length,
          min: Math.min(...xs.map((x) => x.accuracy)),
        };
  const low = stat(inRange(100, 500));
  const high = stat(inRange(500, 1000));
  const diffs = r.rubric.differences as Record<string, { mean: number; sd: number }>;
  const sooHon = pairKey(diffs, 'soo', 'honest');
  const sooDec = pairKey(diffs, 'soo', 'deceptive');
  const honDec = pairKey(diffs, 'honest', 'deceptive');
  const closerToHonest = sooHon && sooDec ? sooHon.mean < sooDec.mean : null;
  // Protocol wall time: stages run one after another; the phases inside a stage run in parallel.
  const stage = (ps: { seconds: number }[]) => (ps.length ? Math.max(...ps.map((p) => p.seconds)) : 0);
  const stages = {
    profile: r.profile?.seconds ?? 0,
    baselines: stage(r.baselinePhases),
    finetuneAndClassify: stage([r.finetune, r.classify]),
    rubric: r.rubric.seconds,
  };
  const protocolSeconds = Object.values(stages).reduce((a, b) => a + b, 0);
  const pct = (x: number | undefined | null) =>
    x === undefined || x === null ? 'n/a' : `${(100 * x).toFixed(0)}%`;
  const yesNo = (b: boolean | null) => (b === null ? 'n/a' : b ? 'yes' : 'no');
  const lowOk = low ? low.mean >= 0.94 : null;
  const highOk = high ? high.min === 1 : null;
  const prof = r.profile?.result as RlProfileResult | undefined;

  const phases: PhaseRecord[] = [
    ...(r.profile ? [r.profile] : []),
    ...r.baselinePhases,
    r.finetune,
    r.classify,
    r.rubric,
  ];
  const phaseRows = phases.map((p) => {
    const sps = p.envSteps ? Math.round(p.envSteps / p.seconds) : null;
    const skipped = (p as { skipped?: boolean }).skipped ? ' (earlier run)' : '';
    return `| ${p.phase}${skipped} | ${fmtSeconds(p.seconds)} | ${p.envSteps ?? ''} | ${sps ?? ''} | ${p.startedAt} |`;
  });
  const trainSps = r.baselinePhases.length
    ? r.baselinePhases.reduce((s, p) => s + (p.envSteps ?? 0), 0) / stages.baselines
    : null;
  const c = r.config;
  const md = [
    '# SOO RL reproduction report',
    '',
    `Generated ${new Date().toISOString()} by \`${r.command}\`.`,
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, load average now ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' / ')}.`,
    '',
    '## Settings',
    '',
    '| setting | this run | paper |',
    '| --- | --- | --- |',
    `| baselines | ${c.baselines === null ? `trained here, ${c.trainEpisodes} episodes each (seeds ${c.seed}, ${c.seed + 1})` : `given: ${r.baseDir}`} | 40000 episodes |`,
    `| MADDPG overrides | ${JSON.stringify(c.maddpg)} | batch 1024, update every 100 steps |`,
    `| SOO fine-tuning | ${c.finetuneEpisodes} episodes, λ = β = 1 | 10000 episodes, λ = β = 1 |`,
    `| classifier | ${c.classifySeeds.length} seeds (${c.classifySeeds.join(', ')}), budgets ${c.classifyEpisodes.join(', ')} | 10 seeds, 1…1500 episodes |`,
    `| rubric | seeds ${c.rubricSeeds.join(', ')}, ${c.rubricEpisodes} episodes each | the README's 8 seeds |`,
    '',
    '## Results',
    '',
    `- Classification accuracy, 100–500 episodes/seed: mean ${pct(low?.mean)}, min ${pct(low?.min)} (target ≥ 94%, paper 94 ± 8%): **${yesNo(lowOk)}**`,
    `- Classification accuracy, 500–1000 episodes/seed: mean ${pct(high?.mean)}, min ${pct(high?.min)} (target 100%): **${yesNo(highOk)}**`,
    `- Rubric: SOO agent closer to honest than to deceptive: **${yesNo(closerToHonest)}** (SOO↔honest ${sooHon ? `${sooHon.mean.toPrecision(4)} ± ${sooHon.sd.toPrecision(3)}` : 'n/a'}, SOO↔deceptive ${sooDec ? `${sooDec.mean.toPrecision(4)} ± ${sooDec.sd.toPrecision(3)}` : 'n/a'})`,
    `- Protocol wall time: ${fmtSeconds(protocolSeconds)} (target < 2 h on 2 cores); this invocation: ${fmtSeconds(r.invocationSeconds)}`,
    '',
    '### Classification (SOO value: honest < deceptive)',
    '',
    '```',
    r.classifyTable.trimEnd(),
    '```',
    '',
    '### Rubric: behavioural differences (grid MSE of deceptive-move counts, mean ± sd over seeds)',
    '',
    '| pair | mean | sd |',
    '| --- | --- | --- |',
    ...Object.entries(diffs).map(([k, d]) => `| ${k} | ${d.mean.toPrecision(4)} | ${d.sd.toPrecision(3)} |`),
    '',
    'Heatmaps: ![deceptive](rubric/heatmap_deceptive.svg) ![soo](rubric/heatmap_soo.svg) ![honest](rubric/heatmap_honest.svg)',
    '',
    '## Wall time and throughput',
    '',
    '| phase | wall time | env steps | env steps/s | started |',
    '| --- | --- | --- | --- | --- |',
    ...phaseRows,
    '',
    `Stages (phases inside a stage run in parallel worker threads): ${Object.entries(stages)
      .map(([k, s]) => `${k} ${fmtSeconds(s)}`)
      .join(', ')}.`,
    trainSps !== null
      ? `Baseline training, both runs together: ${Math.round(trainSps)} env steps/s (update rounds included).`
      : '',
    prof
      ? `Profile: ${Math.round(prof.envStepsPerSec)} env steps/s (random actions), ${Math.round(prof.rolloutStepsPerSec)} rollout steps/s (policies + noise + buffer), ${prof.updates.map((u) => `${u.roundsPerSec.toFixed(1)} update rounds/s at batch ${u.batchSize}`).join(', ')}.`
      : '',
    '',
  ].join('\n');
  const summary = {
    protocolSeconds,
    invocationSeconds: r.invocationSeconds,
    stages,
    accuracy: { '100-500': low, '500-1000': high, rows },
    targets: { accuracy100to500: lowOk, accuracy500to1000: highOk, sooCloserToHonest: closerToHonest },
    rubric: {
      'soo↔honest': sooHon ?? null,
      'soo↔deceptive': sooDec ?? null,
      'honest↔deceptive': honDec ?? null,
    },
    trainEnvStepsPerSec: trainSps,
    profile: prof ?? null,
  };
  return { markdown: md, summary };
}

// ---------------------------------------------------------------------------------------------------

/** `soo rl …`: the SOO paper's RL experiments (Physical Deception, MADDPG, SOO value, fine-tuning, rubric). */
export function registerRl(program: Command, io: Io): void {
  const rl = program
    .command('rl')
    .description(
      'RL experiments: train baselines, classify by SOO value, SOO fine-tuning, rubric, full reproduction',
    );
  registerTrainCmd(rl, io);
  registerClassifyCmd(rl, io);
  registerFinetuneCmd(rl, io);
  registerProfileCmd(rl, io);
  registerRubricCmd(rl, io);
  registerReproduceCmd(rl, io);
  for (const c of [rl, ...rl.commands])
    c.configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
}

/**
 * Entry points for the `soo rl …` commands (the CLI itself lives in packages/cli). Each function takes
 * plain options, reports progress through a callback, honours an AbortSignal between episodes, and
 * returns data (and writes files only when given a folder).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  checkResumeSettings,
  FormatError,
  InvalidArgumentError,
  recoverCheckpoint,
  removeStaleTemps,
  Rng,
  RunError,
  SafetensorsFile,
  writeCheckpointDir,
  writeFileAtomic,
  writeSafetensors,
  type RawTensor,
  type RngState,
} from '@soo/core';
import {
  PhysicalDeceptionEnv,
  type BlueReward,
  type PhysicalDeceptionOptions,
} from './env/physical-deception.js';
import { ReplayBuffer } from './maddpg/buffer.js';
import { loadMaddpg, loadMaddpgTensors, maddpgTensors, saveMaddpg } from './maddpg/checkpoint.js';
import { Maddpg, type MaddpgConfig } from './maddpg/maddpg.js';
import { runMaddpg } from './maddpg/train.js';
import { compareConditions, type CompareResult } from './rubric/rubric.js';
import { heatmapSvg, recordTrajectory, trajectorySvg } from './rubric/svg.js';
import { classifySoo, PAPER_EPISODE_COUNTS, type ClassifierResult } from './soo/classifier.js';
import { sooFinetune, type SooFinetuneOptions } from './soo/finetune.js';

export interface RlProgress {
  phase: 'train' | 'finetune' | 'classify' | 'rubric' | 'profile' | 'soo-values';
  done: number;
  total: number;
  /** Phase-specific numbers: mean returns over the last window, noise scale, SOO loss, … */
  detail?: Record<string, number | string>;
}

type Source = string | Maddpg;

async function resolve(src: Source): Promise<Maddpg> {
  return typeof src === 'string' ? (await loadMaddpg(src)).maddpg : src;
}

function windowMean(returns: number[][], k: number, agent: number): number {
  const w = returns.slice(-k);
  return w.reduce((a, r) => a + r[agent]!, 0) / Math.max(1, w.length);
}

export interface RlTrainOptions {
  /** Blue's reward: 'deceptive' (default) or 'honest'. */
  reward?: BlueReward;
  /** Paper: 40 000. */
  episodes?: number;
  seed?: number;
  /** Folder for `maddpg.json` and `returns.json`; nothing is written without it. */
  out?: string;
  maddpg?: Partial<MaddpgConfig>;
  env?: Omit<PhysicalDeceptionOptions, 'seed' | 'reward'>;
  /** Report every this many episodes (default 100). */
  progressEvery?: number;
  onProgress?: (p: RlProgress) => void;
  signal?: AbortSignal;
  /**
   * With `out`: write a checkpoint (networks with Adam state, replay buffer, every random stream, returns)
   * to `<out>/checkpoint/` every this many episodes (default 0: none). Crash-safe (core's
   * `writeCheckpointDir`); removed when the run completes.
   */
  checkpointEvery?: number;
  /** Continue from `<out>/checkpoint/` (RUN_NO_CHECKPOINT when there is none; settings must match). */
  resume?: boolean;
}

export interface RlTrainResult {
  maddpg: Maddpg;
  /** Per episode, per agent [red, blue]. */
  returns: number[][];
  seconds: number;
  file?: string;
  /** Episodes done before this call (a resumed run), else null. */
  resumedFrom?: number | null;
}

const RL_STATE_VERSION = 1;

interface RlTrainState {
  version: typeof RL_STATE_VERSION;
  settings: Record<string, unknown>;
  episode: number;
  steps: number;
  returns: number[][];
  buffer: { filled: number; cursor: number; alloc: number };
  rng: { sample: RngState; env: RngState; noise: RngState[] };
}

function typedOf(raw: RawTensor): Float32Array | Float64Array | Uint8Array {
  const b = raw.data.slice();
  if (raw.dtype === 'F32') return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  if (raw.dtype === 'F64') return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
  return b;
}

/** Train a deceptive or honest baseline on the SOO Physical Deception env with the paper's MADDPG. */
export async function rlTrain(opts: RlTrainOptions = {}): Promise<RlTrainResult> {
  const reward = opts.reward ?? 'deceptive';
  const episodes = opts.episodes ?? 40_000;
  const seed = opts.seed ?? 0;
  const every_ = opts.progressEvery ?? 100;
  const root = new Rng(seed);
  const env = new PhysicalDeceptionEnv({ ...opts.env, reward, seed: root.split('env').int(2 ** 31) });
  const maddpg = new Maddpg(env.obsDims, env.actDims, opts.maddpg ?? {}, root.split('maddpg'));
  const t0 = performance.now();
  let returns: number[][] = [];
  let sampleRng = root.split('sample');
  const buffer = new ReplayBuffer(maddpg.config.bufferSize, maddpg.obsDims, maddpg.actDims);
  const ckptDir = opts.out ? join(opts.out, 'checkpoint') : null;
  const settings = { reward, episodes, seed, maddpg: opts.maddpg ?? {}, env: opts.env ?? {} };
  let episode = 0;
  let steps = 0;
  let resumedFrom: number | null = null;
  if (opts.resume) {
    if (!ckptDir || !(await recoverCheckpoint(ckptDir))) {
      throw new RunError(
        'RUN_NO_CHECKPOINT',
        `--out ${opts.out ?? '(none)'}: resume asked for, but there is no checkpoint (${ckptDir ?? 'no --out'}/state.json)${opts.out && existsSync(join(opts.out, 'maddpg.json')) ? '; the run there is finished' : ''}`,
        { file: ckptDir ?? '(none)', field: 'resume' },
      );
    }
    const stFile = join(ckptDir, 'state.json');
    let st: RlTrainState;
    try {
      st = JSON.parse(await readFile(stFile, 'utf8')) as RlTrainState;
    } catch (e) {
      throw new FormatError('DATA_INVALID', `${stFile}: unreadable checkpoint state`, {
        file: stFile,
        field: '(syntax)',
        cause: e,
      });
    }
    if (!st || st.version !== RL_STATE_VERSION || !Number.isInteger(st.episode) || !Array.isArray(st.returns))
      throw new FormatError(
        'DATA_INVALID',
        `${stFile}: not a soo rl train checkpoint (version ${RL_STATE_VERSION})`,
        {
          file: stFile,
          field: 'version',
        },
      );
    checkResumeSettings(stFile, st.settings, settings);
    const saved = await loadMaddpg(ckptDir);
    loadMaddpgTensors(maddpg, maddpgTensors(saved.maddpg, true), join(ckptDir, 'maddpg.safetensors'));
    maddpg.updates = saved.maddpg.updates;
    const bf = await SafetensorsFile.open(join(ckptDir, 'buffer.safetensors'));
    try {
      const tensors = new Map<string, Float32Array | Float64Array | Uint8Array>();
      for (const name of bf.names()) tensors.set(name, typedOf(await bf.readTensor(name)));
      buffer.restore(st.buffer, (name) => tensors.get(name));
    } finally {
      await bf.close();
    }
    sampleRng = Rng.restore(st.rng.sample);
    env.restoreRng(st.rng.env);
    maddpg.agents.forEach((a, i) => a.noise.restoreRng(st.rng.noise[i]!));
    episode = st.episode;
    steps = st.steps;
    returns = st.returns;
    resumedFrom = episode;
  }
  const every = opts.checkpointEvery && ckptDir ? opts.checkpointEvery : 0;
  const checkpoint = async (): Promise<void> => {
    if (!ckptDir) return;
    await writeCheckpointDir(ckptDir, async (tmp) => {
      await saveMaddpg(tmp, maddpg, { kind: 'checkpoint', episode });
      const snap = buffer.snapshot();
      await writeSafetensors(join(tmp, 'buffer.safetensors'), snap.tensors);
      const state: RlTrainState = {
        version: RL_STATE_VERSION,
        settings,
        episode,
        steps,
        returns,
        buffer: snap.json,
        rng: {
          sample: sampleRng.state(),
          env: env.rngState(),
          noise: maddpg.agents.map((a) => a.noise.rngState()),
        },
      };
      return JSON.stringify(state);
    });
  };
  if (opts.out) {
    await mkdir(opts.out, { recursive: true });
    await removeStaleTemps(opts.out);
  }
  let stopped = false;
  while (episode < episodes && !stopped) {
    const chunk = every ? Math.min(every - (episode % every), episodes - episode) : episodes - episode;
    const r = runMaddpg(env, maddpg, {
      episodes: chunk,
      rng: sampleRng,
      buffer,
      startEpisode: episode,
      startSteps: steps,
      onEpisode: (s) => {
        returns.push(s.returns);
        if ((s.episode + 1) % every_ === 0 || s.episode + 1 === episodes) {
          opts.onProgress?.({
            phase: 'train',
            done: s.episode + 1,
            total: episodes,
            detail: {
              red: windowMean(returns, every_, 0),
              blue: windowMean(returns, every_, 1),
              noise: s.noiseScale,
              updates: s.updates,
            },
          });
        }
      },
      shouldStop: () => opts.signal?.aborted ?? false,
    });
    episode += r.returns.length;
    steps = r.steps;
    stopped = r.returns.length < chunk || (opts.signal?.aborted ?? false);
    if (every && (episode < episodes || stopped)) await checkpoint();
  }
  const seconds = (performance.now() - t0) / 1000;
  let file: string | undefined;
  // without checkpoints an interrupted run still writes what it has (as before); with them, the checkpoint is it
  if (opts.out && (!stopped || !every)) {
    file = await saveMaddpg(opts.out, maddpg, {
      kind: 'baseline',
      reward,
      episodes: returns.length,
      seed,
      env: opts.env ?? {},
    });
    await writeFileAtomic(
      join(opts.out, 'returns.json'),
      JSON.stringify({ agents: env.possibleAgents, returns }),
    );
    if (ckptDir) await rm(ckptDir, { recursive: true, force: true });
  }
  return { maddpg, returns, seconds, ...(file ? { file } : {}), resumedFrom };
}

export interface RlFinetuneOptions extends SooFinetuneOptions {
  /** The baseline to fine-tune (usually the deceptive one): a checkpoint folder or a MADDPG. */
  from: Source;
  /** Paper: 10 000. */
  episodes?: number;
  seed?: number;
  out?: string;
  env?: Omit<PhysicalDeceptionOptions, 'seed'>;
  progressEvery?: number;
  onProgress?: (p: RlProgress) => void;
  signal?: AbortSignal;
}

/** SOO fine-tuning (λ·MSE(A_self, A_other) + β·MSE(action, baseline action) before each update round). */
export async function rlFinetune(opts: RlFinetuneOptions): Promise<RlTrainResult & { sooLoss: number[] }> {
  const base = await resolve(opts.from);
  const episodes = opts.episodes ?? 10_000;
  const every = opts.progressEvery ?? 100;
  const t0 = performance.now();
  const returns: number[][] = [];
  const { maddpg, soo } = sooFinetune(base, {
    ...opts,
    episodes,
    seed: opts.seed ?? 0,
    onEpisode: (s) => {
      returns.push(s.returns);
      if ((s.episode + 1) % every === 0 || s.episode + 1 === episodes) {
        const d: Record<string, number> = {
          red: windowMean(returns, every, 0),
          blue: windowMean(returns, every, 1),
          updates: s.updates,
        };
        if (s.soo) Object.assign(d, { soo: s.soo.soo, anchor: s.soo.anchor, sooGradNorm: s.soo.gradNorm });
        if (s.actor)
          Object.assign(d, { actorLoss: s.actor.policyLoss, actorGradNorm: s.actor.policyGradNorm });
        opts.onProgress?.({ phase: 'finetune', done: s.episode + 1, total: episodes, detail: d });
      }
    },
    shouldStop: () => opts.signal?.aborted ?? false,
  });
  const seconds = (performance.now() - t0) / 1000;
  let file: string | undefined;
  if (opts.out) {
    const { from: _from, onProgress: _p, signal: _s, ...rest } = opts;
    file = await saveMaddpg(opts.out, maddpg, {
      kind: 'soo-finetuned',
      from: typeof opts.from === 'string' ? opts.from : '(in memory)',
      episodes: returns.length,
      options: rest,
    });
    await writeFile(
      join(opts.out, 'returns.json'),
      JSON.stringify({ returns, sooLoss: soo.map((s) => s.soo) }),
    );
  }
  return { maddpg, returns, seconds, file, sooLoss: soo.map((s) => s.soo) };
}

export interface RlClassifyOptions {
  deceptive: Source;
  honest: Source;
  seeds?: number[];
  /** Seed for drawing 10 evaluation seeds when `seeds` is absent. */
  seed?: number;
  episodeCounts?: readonly number[];
  radius?: number;
  sign?: 'reference' | 'env';
  positionSource?: 'post-step' | 'pre-step';
  env?: Omit<PhysicalDeceptionOptions, 'seed'>;
  onProgress?: (p: RlProgress) => void;
}

/** The SOO-value classifier sweep: accuracy per number of episodes per seed. */
export async function rlClassify(opts: RlClassifyOptions): Promise<ClassifierResult & { table: string }> {
  const [dec, hon] = await Promise.all([resolve(opts.deceptive), resolve(opts.honest)]);
  const res = classifySoo(dec, hon, {
    ...opts,
    episodeCounts: opts.episodeCounts ?? PAPER_EPISODE_COUNTS,
    onProgress: (p) =>
      opts.onProgress?.({
        phase: 'classify',
        done: 2 * p.seedIndex + (p.agent === 'honest' ? 1 : 0),
        total: 2 * p.seeds,
        detail: { agent: p.agent },
      }),
  });
  return { ...res, table: formatAccuracyTable(res) };
}

/** A plain-text table: episodes per seed, accuracy, correct/seeds. */
export function formatAccuracyTable(res: ClassifierResult): string {
  const lines = ['episodes/seed  accuracy  correct', '-------------  --------  -------'];
  for (const r of res.rows)
    lines.push(
      `${String(r.episodes).padStart(13)}  ${(100 * r.accuracy).toFixed(0).padStart(7)}%  ${String(r.correct).padStart(3)}/${res.seeds.length}`,
    );
  return lines.join('\n');
}

export interface RlRubricOptions {
  /** Condition name → checkpoint folder or MADDPG (e.g. deceptive, honest, soo). */
  conditions: Record<string, Source>;
  seeds?: readonly number[];
  /** Evaluation episodes per seed and condition. */
  episodes?: number;
  env?: Omit<PhysicalDeceptionOptions, 'seed'>;
  /** Folder for heatmap_<name>.svg, trajectory_<name>.svg and rubric.json. */
  out?: string;
  /** Also report each condition's noise floor on seeds shifted by this much (see `compareConditions`). */
  noiseFloorSeedOffset?: number;
  /** Evaluate every condition against the red (agent 0, or `agent`) of condition `from`. */
  opponent?: { from: string; agent?: number };
  onProgress?: (p: RlProgress) => void;
}

/** Rubric heatmaps and behavioural differences (grid MSE per seed, mean ± sd) between conditions. */
export async function rlRubric(opts: RlRubricOptions): Promise<CompareResult & { files: string[] }> {
  const names = Object.keys(opts.conditions);
  const models: Record<string, Maddpg> = {};
  for (const n of names) models[n] = await resolve(opts.conditions[n]!);
  let done = 0;
  const seeds = opts.seeds;
  const res = compareConditions(models, {
    episodes: opts.episodes ?? 100,
    seeds,
    env: opts.env,
    ...(opts.noiseFloorSeedOffset ? { noiseFloorSeedOffset: opts.noiseFloorSeedOffset } : {}),
    ...(opts.opponent ? { opponent: opts.opponent } : {}),
    onProgress: () =>
      opts.onProgress?.({ phase: 'rubric', done: done++, total: names.length * (seeds?.length ?? 8) }),
  });
  const files: string[] = [];
  if (opts.out) {
    await mkdir(opts.out, { recursive: true });
    let vmax = 0;
    for (const n of names) for (const v of res.meanGrids[n]!) vmax = Math.max(vmax, v);
    for (const n of names) {
      const h = join(opts.out, `heatmap_${n}.svg`);
      await writeFile(
        h,
        heatmapSvg(res.meanGrids[n]!, res.xs, res.ys, {
          title: `${n}: deceptive moves (mean over ${res.seeds.length} seeds)`,
          vmax,
        }),
      );
      const t = join(opts.out, `trajectory_${n}.svg`);
      await writeFile(
        t,
        trajectorySvg(recordTrajectory(models[n]!, { seed: res.seeds[0]!, env: opts.env }), { title: n }),
      );
      files.push(h, t);
    }
    const j = join(opts.out, 'rubric.json');
    await writeFile(
      j,
      JSON.stringify(
        {
          seeds: res.seeds,
          conditions: res.conditions,
          entryCounts: res.entryCounts,
          differences: res.differences,
          ...(opts.opponent ? { opponent: opts.opponent } : {}),
          ...(res.noiseFloor ? { noiseFloor: res.noiseFloor } : {}),
        },
        null,
        2,
      ),
    );
    files.push(j);
  }
  return { ...res, files };
}

export interface RlProfileOptions {
  /** Seconds per measurement (default 2). */
  seconds?: number;
  /** Batch sizes for the update measurement (default [1024, 256]). */
  batchSizes?: number[];
  onProgress?: (p: RlProgress) => void;
}

export interface RlProfileResult {
  envStepsPerSec: number;
  /** Env steps/s with both policies acting (eval-mode forward + OU noise) and buffer pushes. */
  rolloutStepsPerSec: number;
  updates: { batchSize: number; roundsPerSec: number; agentUpdatesPerSec: number }[];
  node: string;
  cpu: string;
  date: string;
}

/** Measure env steps/s, rollout steps/s and MADDPG update rounds/s on this machine. */
export async function rlProfile(opts: RlProfileOptions = {}): Promise<RlProfileResult> {
  const secs = opts.seconds ?? 2;
  if (!(secs > 0)) throw new InvalidArgumentError('INVALID_ARGUMENT', `seconds must be > 0, got ${secs}`);
  const timeIt = (fn: () => number): number => {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < secs * 1000) n += fn();
    return n / ((performance.now() - t0) / 1000);
  };
  const env = new PhysicalDeceptionEnv({ seed: 1 });
  const r = new Rng(1);
  const acts = [new Float64Array(2), new Float64Array(2)];
  opts.onProgress?.({ phase: 'profile', done: 0, total: 3, detail: { measuring: 'env' } });
  const envStepsPerSec = timeIt(() => {
    env.resetArrays();
    for (let t = 0; t < 50; t++) {
      for (const a of acts) [a[0], a[1]] = [r.uniform(-1, 1), r.uniform(-1, 1)];
      env.stepArrays(acts);
    }
    return 50;
  });
  opts.onProgress?.({ phase: 'profile', done: 1, total: 3, detail: { measuring: 'rollout' } });
  const m = new Maddpg(env.obsDims, env.actDims, {}, new Rng(2));
  const buf = new ReplayBuffer(200_000, env.obsDims, env.actDims);
  const rolloutStepsPerSec = timeIt(() => {
    let obs = env.resetArrays().map((o) => Float64Array.from(o));
    for (let t = 0; t < 50; t++) {
      const a = m.act(obs, true);
      const s = env.stepArrays(a);
      const next = s.obs.map((o) => Float64Array.from(o));
      buf.push(obs, a, s.rewards, next, [false, false]);
      obs = next;
    }
    return 50;
  });
  opts.onProgress?.({ phase: 'profile', done: 2, total: 3, detail: { measuring: 'updates' } });
  const batchSizes = opts.batchSizes ?? [1024, 256];
  // make sure the buffer holds the largest batch, whatever the rollout timing produced
  let obs = env.resetArrays().map((o) => Float64Array.from(o));
  while (buf.length < Math.max(...batchSizes)) {
    const s = env.stepArrays(m.act(obs, true));
    const next = s.obs.map((o) => Float64Array.from(o));
    buf.push(obs, acts, s.rewards, next, [false, false]);
    obs = s.truncated ? env.resetArrays().map((o) => Float64Array.from(o)) : next;
  }
  const updates = batchSizes.map((batchSize) => {
    const mm = new Maddpg(env.obsDims, env.actDims, { batchSize }, new Rng(3));
    const rr = new Rng(4);
    const roundsPerSec = timeIt(() => {
      mm.updateRound(buf, rr);
      return 1;
    });
    return { batchSize, roundsPerSec, agentUpdatesPerSec: roundsPerSec * mm.numAgents };
  });
  opts.onProgress?.({ phase: 'profile', done: 3, total: 3 });
  return {
    envStepsPerSec,
    rolloutStepsPerSec,
    updates,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    date: new Date().toISOString(),
  };
}

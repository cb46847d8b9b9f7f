/**
 * The rollout/training loop of maddpg-pytorch `train.py` (rl.md C.5/C.6): reset every `maxCycles`
 * steps, act with OU noise (scale annealed per episode), push every transition (`done` is always
 * false: episodes are truncated, never terminated), and run an update round whenever the buffer holds
 * a batch and `t % updateEvery === 0`, `t` counting env steps.
 */
import { InvalidArgumentError, type Rng } from '@soo/core';
import type { MultiAgentEnv } from '../env/types.js';
import { ReplayBuffer } from './buffer.js';
import type { Maddpg, UpdateStats } from './maddpg.js';

export interface EpisodeStats {
  episode: number;
  /** Sum of each agent's rewards over the episode. */
  returns: number[];
  noiseScale: number;
  /** Update rounds run so far. */
  updates: number;
  /** Env steps so far. */
  steps: number;
}

export interface TrainLoopOptions {
  episodes: number;
  /** Stream for batch sampling (the env and noise have their own). */
  rng: Rng;
  /** An existing buffer to continue with; otherwise one of `config.bufferSize` is made. */
  buffer?: ReplayBuffer;
  /** Episode index the noise schedule starts at (default 0). */
  startEpisode?: number;
  /** Env steps already taken (a resumed run: updates keep falling on `steps % updateEvery === 0`). */
  startSteps?: number;
  /** Extra numbers stored with each transition (e.g. blue's pre-step position); see ReplayBuffer. */
  extra?: { dim: number; read: (env: MultiAgentEnv, out: Float64Array) => void };
  /** Called right before each MADDPG update round (SOO fine-tuning hooks in here). */
  beforeUpdate?: (buffer: ReplayBuffer) => void;
  onEpisode?: (stats: EpisodeStats) => void;
  onUpdate?: (stats: UpdateStats, round: number) => void;
  /** Checked after every episode; return true to stop early. */
  shouldStop?: () => boolean;
}

export interface TrainLoopResult {
  returns: number[][];
  buffer: ReplayBuffer;
  steps: number;
  updates: number;
}

export function runMaddpg(env: MultiAgentEnv, maddpg: Maddpg, opts: TrainLoopOptions): TrainLoopResult {
  if (!Number.isInteger(opts.episodes) || opts.episodes < 0)
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `episodes must be a non-negative integer, got ${opts.episodes}`,
    );
  const n = maddpg.numAgents;
  if (env.obsDims.length !== n)
    throw new InvalidArgumentError('SHAPE_MISMATCH', `env has ${env.obsDims.length} agents, MADDPG ${n}`);
  env.obsDims.forEach((d, i) => {
    if (d !== maddpg.obsDims[i] || env.actDims[i] !== maddpg.actDims[i])
      throw new InvalidArgumentError(
        'SHAPE_MISMATCH',
        `agent ${i}: env obs/act dims ${d}/${env.actDims[i]} vs MADDPG ${maddpg.obsDims[i]}/${maddpg.actDims[i]}`,
      );
  });
  const c = maddpg.config;
  const buffer =
    opts.buffer ?? new ReplayBuffer(c.bufferSize, maddpg.obsDims, maddpg.actDims, opts.extra?.dim ?? 0);
  const extra = opts.extra ? new Float64Array(opts.extra.dim) : undefined;
  const dones = new Array<boolean>(n).fill(false);
  const allReturns: number[][] = [];
  let steps = opts.startSteps ?? 0;
  const start = opts.startEpisode ?? 0;
  for (let e = 0; e < opts.episodes; e++) {
    let obs = env.resetArrays().map((o) => Float64Array.from(o));
    const scale = maddpg.noiseScale(start + e);
    maddpg.setNoiseScale(scale);
    maddpg.resetNoise();
    const ret = new Array<number>(n).fill(0);
    for (let t = 0; t < env.maxCycles; t++) {
      if (extra) opts.extra!.read(env, extra);
      const acts = maddpg.act(obs, true);
      const r = env.stepArrays(acts);
      const next = r.obs.map((o) => Float64Array.from(o));
      buffer.push(
        obs,
        acts.map((a) => maddpg.storedAction(a)),
        r.rewards,
        next,
        dones,
        extra,
      );
      for (let i = 0; i < n; i++) ret[i]! += r.rewards[i]!;
      obs = next;
      steps++;
      if (buffer.length >= c.batchSize && steps % c.updateEvery === 0) {
        opts.beforeUpdate?.(buffer);
        const s = maddpg.updateRound(buffer, opts.rng);
        opts.onUpdate?.(s, maddpg.updates);
      }
    }
    allReturns.push(ret);
    opts.onEpisode?.({ episode: start + e, returns: ret, noiseScale: scale, updates: maddpg.updates, steps });
    if (opts.shouldStop?.()) break;
  }
  return { returns: allReturns, buffer, steps, updates: maddpg.updates };
}

/** Mean per-agent episode return of the deterministic policies (no noise) over `episodes`. */
export function evaluateReturns(env: MultiAgentEnv, maddpg: Maddpg, episodes: number): number[] {
  const n = maddpg.numAgents;
  const sum = new Array<number>(n).fill(0);
  for (let e = 0; e < episodes; e++) {
    let obs: readonly Float64Array[] = env.resetArrays();
    for (let t = 0; t < env.maxCycles; t++) {
      const r = env.stepArrays(maddpg.act(obs, false));
      for (let i = 0; i < n; i++) sum[i]! += r.rewards[i]!;
      obs = r.obs;
    }
  }
  return sum.map((s) => s / Math.max(1, episodes));
}

/**
 * SOO fine-tuning for the RL agent (method.md §5; rl.md D.7 note): before each MADDPG update round,
 * one extra gradient step on blue's policy with
 *
 *   L = λ·MSE(A_self, A_other) + β·MSE(π(o_self), π_frozen(o_self))
 *
 * on a minibatch of self-condition observations drawn from the replay buffer, where A = h1 ‖ h2, the
 * "other" observation is built as in the SOO value (fake red inside the radius, trap flag zeroed), and
 * π_frozen is the deceptive baseline's blue policy. λ = β = 1 is the paper's setting. Then the usual
 * MADDPG updates run with the unchanged (deceptive) reward.
 *
 * Choices the paper leaves open, each an option (defaults in brackets): gradient through both branches
 * [yes; `stopGradSelf`], raw or log MSE [raw; `log`], BatchNorm mode of the SOO passes [eval, the mode
 * the SOO value is measured in; 'train' uses batch statistics], radius of the fake red [0.125, the env's
 * radius], the sign of o[6:8] ['reference'], and the position the fake red is placed around [blue's
 * position when the observation was made, stored with each transition].
 */
import { InvalidArgumentError, Rng } from '@soo/core';
import { PhysicalDeceptionEnv, type PhysicalDeceptionOptions } from '../env/physical-deception.js';
import type { ReplayBuffer } from '../maddpg/buffer.js';
import { maddpgTensors, loadMaddpgTensors } from '../maddpg/checkpoint.js';
import { Maddpg } from '../maddpg/maddpg.js';
import { runMaddpg, type EpisodeStats, type TrainLoopResult } from '../maddpg/train.js';
import { clipGradNorm } from '../nn/optim.js';
import type { Mlp, MlpWorkspace } from '../nn/mlp.js';
import { isSelfCondition, LOG_EPS, makeOtherObservation, type OtherObservationOptions } from './value.js';

export interface SooLossOptions {
  /** Weight of MSE(A_self, A_other) (paper: 1). */
  lambda?: number;
  /** Weight of MSE(action, frozen baseline action) (paper: 1). */
  beta?: number;
  /** Use ln(MSE + 1e-25) for the SOO term, like the measurement. Default false. */
  log?: boolean;
  /** Treat A_self as a constant. Default false (gradient through both branches). */
  stopGradSelf?: boolean;
  /** BatchNorm mode of the SOO forward passes. Default 'eval'. */
  bnMode?: 'eval' | 'train';
}

export interface SooLossValue {
  loss: number;
  /** MSE(A_self, A_other), before weighting. */
  soo: number;
  /** MSE(π(o_self), π_frozen(o_self)), before weighting. */
  anchor: number;
}

/** Reusable buffers for `sooLoss` with batches up to `capacity`. */
export class SooLossWorkspace {
  readonly self: MlpWorkspace;
  readonly other: MlpWorkspace;
  readonly frozen: MlpWorkspace;
  readonly dH1: Float64Array;
  readonly dH2: Float64Array;
  readonly dOut: Float64Array;
  constructor(policy: Mlp, capacity: number) {
    this.self = policy.workspace(capacity);
    this.other = policy.workspace(capacity);
    this.frozen = policy.workspace(capacity);
    const H = policy.spec.hidden;
    this.dH1 = new Float64Array(capacity * H);
    this.dH2 = new Float64Array(capacity * H);
    this.dOut = new Float64Array(capacity * policy.spec.outDim);
  }
}

/**
 * The fine-tuning loss on B rows of self-condition observations `selfObs` and their "other" twins
 * `otherObs` (row-major). With `grad`, zeroes `policy.grads` and fills them with dL/dθ.
 */
export function sooLoss(
  policy: Mlp,
  frozen: Mlp | null,
  selfObs: Float64Array,
  otherObs: Float64Array,
  B: number,
  opts: SooLossOptions,
  grad: boolean,
  ws?: SooLossWorkspace,
): SooLossValue {
  const w = ws ?? new SooLossWorkspace(policy, B);
  const lambda = opts.lambda ?? 1;
  const beta = opts.beta ?? 1;
  const train = (opts.bnMode ?? 'eval') === 'train';
  const H = policy.spec.hidden;
  const A = policy.spec.outDim;
  const out = policy.forward(selfObs, B, w.self, train);
  policy.forward(otherObs, B, w.other, train);
  let ss = 0;
  for (let k = 0; k < B * H; k++) {
    const d1 = w.self.h1[k]! - w.other.h1[k]!;
    const d2 = w.self.h2[k]! - w.other.h2[k]!;
    ss += d1 * d1 + d2 * d2;
  }
  const soo = ss / (B * 2 * H);
  let anchor = 0;
  const useAnchor = frozen !== null && beta !== 0;
  if (useAnchor) {
    const fo = frozen.forward(selfObs, B, w.frozen, false);
    for (let k = 0; k < B * A; k++) {
      const d = out[k]! - fo[k]!;
      anchor += d * d;
      w.dOut[k] = (beta * 2 * d) / (B * A);
    }
    anchor /= B * A;
  } else {
    w.dOut.fill(0);
  }
  const sooTerm = opts.log ? Math.log(soo + LOG_EPS) : soo;
  const loss = lambda * sooTerm + (useAnchor ? beta * anchor : 0);
  if (grad) {
    const scale = (lambda * (opts.log ? 1 / (soo + LOG_EPS) : 1) * 2) / (B * 2 * H);
    policy.zeroGrad();
    // other branch: dL/dA_other = −scale·(A_self − A_other)
    for (let k = 0; k < B * H; k++) {
      w.dH1[k] = -scale * (w.self.h1[k]! - w.other.h1[k]!);
      w.dH2[k] = -scale * (w.self.h2[k]! - w.other.h2[k]!);
    }
    policy.backward(w.other, null, { dH1: w.dH1, dH2: w.dH2 });
    if (!opts.stopGradSelf) {
      for (let k = 0; k < B * H; k++) {
        w.dH1[k] = -w.dH1[k]!;
        w.dH2[k] = -w.dH2[k]!;
      }
      policy.backward(w.self, w.dOut, { dH1: w.dH1, dH2: w.dH2 });
    } else if (useAnchor) {
      policy.backward(w.self, w.dOut);
    }
  }
  return { loss, soo, anchor };
}

export interface SooFinetuneOptions extends SooLossOptions, OtherObservationOptions {
  /** Fine-tuned agent (blue = 1). */
  agent?: number;
  /** Rows per SOO step (default: the MADDPG batch size). */
  batchSize?: number;
}

export interface SooStepStats {
  loss: number;
  soo: number;
  anchor: number;
  rows: number;
  gradNorm: number;
}

/**
 * Builds the `beforeUpdate` hook: samples self-condition transitions (the buffer stores blue's position
 * as its 2 extra numbers), builds their "other" twins, and takes one clipped Adam step on the policy.
 */
export class SooFinetuner {
  readonly maddpg: Maddpg;
  readonly frozen: Mlp;
  readonly opts: SooFinetuneOptions;
  readonly history: SooStepStats[] = [];
  private readonly rng: Rng;
  private readonly ws: SooLossWorkspace;
  private readonly selfObs: Float64Array;
  private readonly otherObs: Float64Array;
  private readonly B: number;

  constructor(maddpg: Maddpg, frozen: Mlp, rng: Rng, opts: SooFinetuneOptions = {}) {
    this.maddpg = maddpg;
    this.frozen = frozen;
    this.opts = { radius: 2.5 * 0.05, ...opts };
    this.rng = rng;
    this.B = opts.batchSize ?? maddpg.config.batchSize;
    const agent = opts.agent ?? 1;
    const policy = maddpg.agents[agent]!.policy;
    this.ws = new SooLossWorkspace(policy, this.B);
    this.selfObs = new Float64Array(this.B * maddpg.obsDims[agent]!);
    this.otherObs = new Float64Array(this.B * maddpg.obsDims[agent]!);
  }

  /** One SOO step from the buffer; returns null when too few self-condition rows were found. */
  step(buffer: ReplayBuffer): SooStepStats | null {
    if (buffer.extraDim < 2)
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'SOO fine-tuning needs blue positions stored with each transition (extraDim 2)',
      );
    const agent = this.opts.agent ?? 1;
    const D = this.maddpg.obsDims[agent]!;
    const o = new Float64Array(D);
    const pos = new Float64Array(2);
    const other = new Float64Array(D);
    let rows = 0;
    const N = buffer.length;
    // rejection sampling of self-condition rows (with replacement), bounded effort
    for (let tries = 0; tries < 20 * this.B && rows < this.B; tries++) {
      const k = this.rng.int(N);
      buffer.observation(agent, k, o);
      if (!isSelfCondition(o)) continue;
      buffer.extraAt(k, pos);
      makeOtherObservation(o, pos, this.rng, this.opts, other);
      this.selfObs.set(o, rows * D);
      this.otherObs.set(other, rows * D);
      rows++;
    }
    const needsTwo = (this.opts.bnMode ?? 'eval') === 'train';
    if (rows === 0 || (needsTwo && rows < 2)) return null;
    const a = this.maddpg.agents[agent]!;
    const v = sooLoss(
      a.policy,
      this.frozen,
      this.selfObs,
      this.otherObs,
      rows,
      this.opts,
      true,
      rows === this.B ? this.ws : undefined,
    );
    const gradNorm = clipGradNorm(a.policy.grads, this.maddpg.config.clipNorm);
    a.policyOpt.step(a.policy.params, a.policy.grads);
    const s = { ...v, rows, gradNorm };
    this.history.push(s);
    return s;
  }
}

/** A deep copy of a MADDPG (networks, BN buffers, optimiser state); noise state starts fresh. */
export function cloneMaddpg(m: Maddpg, rng: Rng = new Rng(0)): Maddpg {
  const c = new Maddpg(m.obsDims, m.actDims, m.config, rng);
  loadMaddpgTensors(c, maddpgTensors(m, true));
  c.updates = m.updates;
  return c;
}

/** Blue's MADDPG actor step of one update round (to compare with the SOO step's magnitude). */
export interface ActorStepStats {
  policyLoss: number;
  /** Global gradient norm before clipping. */
  policyGradNorm: number;
}

export interface FinetuneRunOptions extends SooFinetuneOptions {
  /** Paper: 10 000. */
  episodes: number;
  seed: number;
  env?: PhysicalDeceptionOptions;
  /** Episode index the noise schedule starts at (default 0, as the reference restarts train.py). */
  startEpisode?: number;
  onEpisode?: (s: EpisodeStats & { soo?: SooStepStats; actor?: ActorStepStats }) => void;
  shouldStop?: () => boolean;
}

/**
 * Fine-tune a copy of `baseline` (usually the deceptive one) for `episodes` on the deceptive reward,
 * with the SOO step before every update round. Returns the fine-tuned MADDPG and the run's stats.
 */
export function sooFinetune(
  baseline: Maddpg,
  opts: FinetuneRunOptions,
): { maddpg: Maddpg; run: TrainLoopResult; soo: SooStepStats[]; actor: ActorStepStats[] } {
  const root = new Rng(opts.seed);
  const maddpg = cloneMaddpg(baseline, root.split('clone'));
  const agent = opts.agent ?? 1;
  const frozen = baseline.agents[agent]!.policy.clone();
  const tuner = new SooFinetuner(maddpg, frozen, root.split('soo'), opts);
  const env = new PhysicalDeceptionEnv({
    reward: 'deceptive',
    ...opts.env,
    seed: root.split('env').int(2 ** 31),
  });
  const actor: ActorStepStats[] = [];
  const run = runMaddpg(env, maddpg, {
    episodes: opts.episodes,
    rng: root.split('sample'),
    startEpisode: opts.startEpisode ?? 0,
    extra: {
      dim: 2,
      read: (_e, out) => {
        const a = env.world.agents[agent]!;
        out[0] = a.px;
        out[1] = a.py;
      },
    },
    beforeUpdate: (buffer) => void tuner.step(buffer),
    onUpdate: (u) =>
      void actor.push({ policyLoss: u.policyLoss[agent]!, policyGradNorm: u.policyGradNorm[agent]! }),
    onEpisode: (s) =>
      opts.onEpisode?.({
        ...s,
        soo: tuner.history[tuner.history.length - 1],
        actor: actor[actor.length - 1],
      }),
    shouldStop: opts.shouldStop,
  });
  return { maddpg, run, soo: tuner.history, actor };
}

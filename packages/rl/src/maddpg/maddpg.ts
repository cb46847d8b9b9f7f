/**
 * MADDPG with the settings of the PyTorch port the SOO paper used (shariqiqbal2810 `maddpg-pytorch`,
 * rl.md C.6): BatchNorm'd 64-64 leaky-ReLU MLPs, tanh continuous actions, OU exploration, one Adam per
 * network (lr 0.01), γ 0.95, τ 0.01, batch 1024 sampled without replacement, global gradient-norm clip
 * 0.5, a 1e-3·mean(action²) actor regulariser, reward normalisation, other agents' *current* policies
 * in the actor loss, and every target soft-updated once after all agents have updated.
 *
 * The two reference bugs are fixed by default; each comes back behind a flag:
 * - `referenceActionScaling`: the buffer stores 5× the executed action (the env scales it in place);
 * - `referenceTripleNoise`: the OU process advances three times per env step.
 */
import { InvalidArgumentError, type Rng } from '@soo/core';
import { Mlp, mlpSpec, type MlpWorkspace } from '../nn/mlp.js';
import { Adam, clipGradNorm, softUpdate } from '../nn/optim.js';
import type { Batch, ReplayBuffer } from './buffer.js';
import { OUNoise } from './noise.js';

export interface MaddpgConfig {
  gamma: number;
  tau: number;
  lr: number;
  hidden: number;
  batchSize: number;
  bufferSize: number;
  /** Update when `t % updateEvery === 0` (t = env steps so far) and the buffer holds a batch. */
  updateEvery: number;
  /** Global gradient-norm clip per network. */
  clipNorm: number;
  /** Weight of `mean(action²)` in the actor loss. */
  actionReg: number;
  normalizeRewards: boolean;
  batchNorm: boolean;
  ouTheta: number;
  ouSigma: number;
  noiseInitScale: number;
  noiseFinalScale: number;
  /** Episodes over which the noise scale anneals linearly from init to final. */
  explorationEpisodes: number;
  /** Reproduce the reference bug: store 5× the executed actions in the replay buffer. */
  referenceActionScaling: boolean;
  /** Reproduce the reference bug: advance the OU noise three times per env step. */
  referenceTripleNoise: boolean;
}

/** rl.md C.6 (maddpg-pytorch defaults as the SOO scripts set them). */
export const PAPER_MADDPG: MaddpgConfig = {
  gamma: 0.95,
  tau: 0.01,
  lr: 0.01,
  hidden: 64,
  batchSize: 1024,
  bufferSize: 1_000_000,
  updateEvery: 100,
  clipNorm: 0.5,
  actionReg: 1e-3,
  normalizeRewards: true,
  batchNorm: true,
  ouTheta: 0.15,
  ouSigma: 0.2,
  noiseInitScale: 0.3,
  noiseFinalScale: 0.0,
  explorationEpisodes: 25_000,
  referenceActionScaling: false,
  referenceTripleNoise: false,
};

export interface AgentNets {
  policy: Mlp;
  critic: Mlp;
  targetPolicy: Mlp;
  targetCritic: Mlp;
  policyOpt: Adam;
  criticOpt: Adam;
  noise: OUNoise;
}

export interface UpdateStats {
  criticLoss: number[];
  policyLoss: number[];
  criticGradNorm: number[];
  policyGradNorm: number[];
}

export class Maddpg {
  readonly config: MaddpgConfig;
  readonly obsDims: readonly number[];
  readonly actDims: readonly number[];
  readonly agents: AgentNets[];
  /** Number of update rounds so far (the port's `niter`). */
  updates = 0;
  private readonly criticIn: number;
  private readonly actWs: MlpWorkspace[];
  private ws: {
    B: number;
    tPol: MlpWorkspace[];
    pol: MlpWorkspace[];
    tCrit: MlpWorkspace;
    crit: MlpWorkspace;
    crit2: MlpWorkspace;
    xNext: Float64Array;
    x: Float64Array;
    x2: Float64Array;
    y: Float64Array;
    dq: Float64Array;
    dOut: Float64Array[];
    batch?: Batch;
  } | null = null;

  constructor(
    obsDims: readonly number[],
    actDims: readonly number[],
    config: Partial<MaddpgConfig>,
    rng: Rng,
  ) {
    this.config = { ...PAPER_MADDPG, ...config };
    if (obsDims.length !== actDims.length || obsDims.length === 0)
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'obsDims and actDims must be non-empty and of equal length',
      );
    this.obsDims = [...obsDims];
    this.actDims = [...actDims];
    this.criticIn = obsDims.reduce((a, b) => a + b, 0) + actDims.reduce((a, b) => a + b, 0);
    const c = this.config;
    this.agents = obsDims.map((od, i) => {
      const r = rng.split(`agent${i}`);
      const ad = actDims[i]!;
      const policy = Mlp.create(
        mlpSpec(od, ad, { hidden: c.hidden, batchNorm: c.batchNorm, outAct: 'tanh' }),
        r.split('policy'),
      );
      const critic = Mlp.create(
        mlpSpec(this.criticIn, 1, { hidden: c.hidden, batchNorm: c.batchNorm }),
        r.split('critic'),
      );
      const noise = new OUNoise(ad, r.split('noise'), { theta: c.ouTheta, sigma: c.ouSigma });
      return {
        policy,
        critic,
        // hard_update copies parameters; the targets' BN buffers start fresh (mean 0, var 1)
        targetPolicy: (() => {
          const t = new Mlp(policy.spec);
          t.copyFrom(policy);
          return t;
        })(),
        targetCritic: (() => {
          const t = new Mlp(critic.spec);
          t.copyFrom(critic);
          return t;
        })(),
        policyOpt: new Adam(policy.numParams, { lr: c.lr }),
        criticOpt: new Adam(critic.numParams, { lr: c.lr }),
        noise,
      };
    });
    this.actWs = this.agents.map((a) => a.policy.workspace(1));
  }

  get numAgents(): number {
    return this.agents.length;
  }

  /** Noise scale for episode `ep`: final + (init − final)·max(0, n − ep)/n. */
  noiseScale(ep: number): number {
    const { noiseInitScale: i0, noiseFinalScale: i1, explorationEpisodes: n } = this.config;
    if (n <= 0) return i1;
    return i1 + ((i0 - i1) * Math.max(0, n - ep)) / n;
  }

  setNoiseScale(scale: number): void {
    for (const a of this.agents) a.noise.scale = scale;
  }

  resetNoise(): void {
    for (const a of this.agents) a.noise.reset();
  }

  /**
   * Actions for one step (policies in eval mode: BN running statistics), clamped to [−1, 1], with OU
   * noise when `explore`. The returned arrays are fresh.
   */
  act(obs: readonly ArrayLike<number>[], explore: boolean): Float64Array[] {
    return this.agents.map((a, i) => {
      const ws = this.actWs[i]!;
      const out = a.policy.forward(obs[i]!, 1, ws, false);
      const act = new Float64Array(this.actDims[i]!);
      let noise: Float64Array | null = null;
      if (explore) {
        noise = a.noise.noise();
        if (this.config.referenceTripleNoise) {
          a.noise.noise();
          noise = a.noise.noise();
        }
      }
      for (let k = 0; k < act.length; k++) {
        const v = out[k]! + (noise ? noise[k]! : 0);
        act[k] = v < -1 ? -1 : v > 1 ? 1 : v;
      }
      return act;
    });
  }

  /** Hidden activations (h1 ‖ h2) of agent `i`'s policy in eval mode for one observation. */
  hidden(i: number, obs: ArrayLike<number>): Float64Array {
    const a = this.agents[i]!;
    const ws = this.actWs[i]!;
    a.policy.forward(obs, 1, ws, false);
    const H = this.config.hidden;
    const out = new Float64Array(2 * H);
    out.set(ws.h1.subarray(0, H), 0);
    out.set(ws.h2.subarray(0, H), H);
    return out;
  }

  /** What the buffer stores for an executed action (5× with the reference bug). */
  storedAction(act: Float64Array): Float64Array {
    if (!this.config.referenceActionScaling) return act;
    const s = new Float64Array(act.length);
    for (let k = 0; k < act.length; k++) s[k] = 5 * act[k]!;
    return s;
  }

  private workspaces(B: number) {
    if (this.ws && this.ws.B === B) return this.ws;
    this.ws = {
      B,
      tPol: this.agents.map((a) => a.targetPolicy.workspace(B)),
      pol: this.agents.map((a) => a.policy.workspace(B)),
      tCrit: this.agents[0]!.critic.workspace(B),
      crit: this.agents[0]!.critic.workspace(B),
      crit2: this.agents[0]!.critic.workspace(B),
      xNext: new Float64Array(B * this.criticIn),
      x: new Float64Array(B * this.criticIn),
      x2: new Float64Array(B * this.criticIn),
      y: new Float64Array(B),
      dq: new Float64Array(B),
      dOut: this.actDims.map((d) => new Float64Array(B * d)),
    };
    return this.ws;
  }

  /** Row-major critic input [obs_0..obs_n, act_0..act_n] for B rows. */
  private packCritic(
    out: Float64Array,
    B: number,
    obs: readonly Float64Array[],
    acts: readonly Float64Array[],
  ): void {
    const C = this.criticIn;
    for (let b = 0; b < B; b++) {
      let c = b * C;
      for (let a = 0; a < obs.length; a++) {
        const d = this.obsDims[a]!;
        const src = obs[a]!;
        for (let j = 0; j < d; j++) out[c++] = src[b * d + j]!;
      }
      for (let a = 0; a < acts.length; a++) {
        const d = this.actDims[a]!;
        const src = acts[a]!;
        for (let j = 0; j < d; j++) out[c++] = src[b * d + j]!;
      }
    }
  }

  /**
   * Critic loss of agent `i` on `batch`: mean((Q_i(o, a) − y)²) with y = r_i + γ·Q'_i(o', π'(o'))·(1 − done).
   * With `grad`, the critic's gradients are zeroed and then filled.
   */
  criticLoss(i: number, batch: Batch, grad: boolean): number {
    const B = batch.size;
    const c = this.config;
    const w = this.workspaces(B);
    const me = this.agents[i]!;
    const tActs: Float64Array[] = [];
    for (let j = 0; j < this.numAgents; j++)
      tActs.push(this.agents[j]!.targetPolicy.forward(batch.nextObs[j]!, B, w.tPol[j]!, true));
    this.packCritic(w.xNext, B, batch.nextObs, tActs);
    const qNext = me.targetCritic.forward(w.xNext, B, w.tCrit, true);
    const rew = batch.rews[i]!;
    const done = batch.dones[i]!;
    for (let b = 0; b < B; b++) w.y[b] = rew[b]! + c.gamma * qNext[b]! * (1 - done[b]!);
    this.packCritic(w.x, B, batch.obs, batch.acts);
    const q = me.critic.forward(w.x, B, w.crit, true);
    let loss = 0;
    for (let b = 0; b < B; b++) {
      const d = q[b]! - w.y[b]!;
      loss += d * d;
      w.dq[b] = (2 * d) / B;
    }
    if (grad) {
      me.critic.zeroGrad();
      me.critic.backward(w.crit, w.dq);
    }
    return loss / B;
  }

  /**
   * Actor loss of agent `i` on `batch`: −mean(Q_i(o, a_1..π_i(o_i)..a_n)) + actionReg·mean(π_i(o_i)²),
   * the other agents' actions from their *current* policies. With `grad`, the policy's gradients are
   * zeroed and then filled (the critic's are left untouched).
   */
  policyLoss(i: number, batch: Batch, grad: boolean): number {
    const B = batch.size;
    const c = this.config;
    const w = this.workspaces(B);
    const me = this.agents[i]!;
    const out = me.policy.forward(batch.obs[i]!, B, w.pol[i]!, true);
    const acts: Float64Array[] = [];
    for (let j = 0; j < this.numAgents; j++) {
      acts.push(j === i ? out : this.agents[j]!.policy.forward(batch.obs[j]!, B, w.pol[j]!, true));
    }
    this.packCritic(w.x2, B, batch.obs, acts);
    const q2 = me.critic.forward(w.x2, B, w.crit2, true);
    const ad = this.actDims[i]!;
    let loss = 0;
    for (let b = 0; b < B; b++) loss -= q2[b]!;
    loss /= B;
    let reg = 0;
    for (let k = 0; k < B * ad; k++) reg += out[k]! * out[k]!;
    loss += (c.actionReg * reg) / (B * ad);
    if (grad) {
      for (let b = 0; b < B; b++) w.dq[b] = -1 / B;
      me.critic.backward(w.crit2, w.dq, { paramGrads: false, inputGrad: true });
      let col = this.obsDims.reduce((a, b) => a + b, 0);
      for (let j = 0; j < i; j++) col += this.actDims[j]!;
      const dOut = w.dOut[i]!;
      const C = this.criticIn;
      const dx = w.crit2.dx;
      for (let b = 0; b < B; b++) {
        for (let k = 0; k < ad; k++)
          dOut[b * ad + k] = dx[b * C + col + k]! + (2 * c.actionReg * out[b * ad + k]!) / (B * ad);
      }
      me.policy.zeroGrad();
      me.policy.backward(w.pol[i]!, dOut);
    }
    return loss;
  }

  /** One MADDPG update of agent `i` on `batch` (maddpg.py `update`, continuous branch). */
  updateAgent(
    i: number,
    batch: Batch,
  ): { criticLoss: number; policyLoss: number; criticGradNorm: number; policyGradNorm: number } {
    const me = this.agents[i]!;
    const criticLoss = this.criticLoss(i, batch, true);
    const criticGradNorm = clipGradNorm(me.critic.grads, this.config.clipNorm);
    me.criticOpt.step(me.critic.params, me.critic.grads);
    const policyLoss = this.policyLoss(i, batch, true);
    const policyGradNorm = clipGradNorm(me.policy.grads, this.config.clipNorm);
    me.policyOpt.step(me.policy.params, me.policy.grads);
    return { criticLoss, policyLoss, criticGradNorm, policyGradNorm };
  }

  /** Soft-update every target network (parameters only; BN buffers are not averaged). */
  updateAllTargets(): void {
    for (const a of this.agents) {
      softUpdate(a.targetCritic.params, a.critic.params, this.config.tau);
      softUpdate(a.targetPolicy.params, a.policy.params, this.config.tau);
    }
    this.updates++;
  }

  /** A full round: each agent samples its own batch and updates, then all targets soft-update. */
  updateRound(buffer: ReplayBuffer, rng: Rng): UpdateStats {
    const stats: UpdateStats = { criticLoss: [], policyLoss: [], criticGradNorm: [], policyGradNorm: [] };
    const B = this.config.batchSize;
    for (let i = 0; i < this.numAgents; i++) {
      const w = this.workspaces(B);
      w.batch = buffer.gather(buffer.sampleIndices(B, rng), this.config.normalizeRewards, w.batch);
      const s = this.updateAgent(i, w.batch);
      stats.criticLoss.push(s.criticLoss);
      stats.policyLoss.push(s.policyLoss);
      stats.criticGradNorm.push(s.criticGradNorm);
      stats.policyGradNorm.push(s.policyGradNorm);
    }
    this.updateAllTargets();
    return stats;
  }
}

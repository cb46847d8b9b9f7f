/**
 * The original Physical Deception scenario, `simple_adversary` (rl.md Part B): OpenAI MPE and
 * PettingZoo `simple_adversary_v3`. Kept mainly to validate the shared physics against the references.
 */
import { InvalidArgumentError, Rng } from '@soo/core';
import { BaseEnv, checkVector } from './base.js';
import type { ArrayStep } from './types.js';
import { dist, type Entity, makeEntity, MPE_WORLD, World } from './world.js';

export type SimpleAdversaryVariant = 'openai' | 'pettingzoo';

/**
 * Action encodings (rl.md A.2):
 * - 'mpe-soft': OpenAI MPE with MADDPG, a 5-vector, `u = (a1 − a2, a3 − a4)` (path 1);
 * - 'discrete': an integer 0..4, 1 = −x, 2 = +x, 3 = −y, 4 = +y (paths 2 and 3);
 * - 'pz-continuous': PettingZoo `Box(0, 1, (5,))`, clipped, `u = (a2 − a1, a4 − a3)` (path 4, PZ ≥ 1.24.3).
 */
export type ActionEncoding = 'mpe-soft' | 'discrete' | 'pz-continuous';

export interface SimpleAdversaryOptions {
  /** 'openai' (squared adversary distance, v-then-p integration) or 'pettingzoo' (default). */
  variant?: SimpleAdversaryVariant;
  /** Number of good agents (PettingZoo `N`, default 2; OpenAI always has 2). */
  numGood?: number;
  /** Default: 'mpe-soft' for openai, 'discrete' for pettingzoo. */
  actionEncoding?: ActionEncoding;
  /** Good agents' distance term (`shaped_reward`, default true). */
  shapedGoodReward?: boolean;
  /** Good agents' adversary term (`shaped_adv_reward`, default true). */
  shapedGoodAdvTerm?: boolean;
  /** Adversary's reward (`shaped_reward` in adversary_reward, default true). */
  shapedAdversaryReward?: boolean;
  /** Truncation length: the OpenAI trainer's `--max-episode-len` and PZ `max_cycles`, both 25. */
  maxCycles?: number;
  seed?: number;
}

const REACH = 2 * 0.08;

export class SimpleAdversaryEnv extends BaseEnv {
  readonly possibleAgents: readonly string[];
  readonly obsDims: readonly number[];
  readonly actDims: readonly number[];
  readonly maxCycles: number;
  readonly variant: SimpleAdversaryVariant;
  readonly actionEncoding: ActionEncoding;
  readonly world: World;
  readonly numGood: number;
  goalIndex = 0;
  private readonly opts: Required<
    Pick<SimpleAdversaryOptions, 'shapedGoodReward' | 'shapedGoodAdvTerm' | 'shapedAdversaryReward'>
  >;
  private rng: Rng;
  private steps = 0;
  private readonly obs: Float64Array[];
  private readonly rewards: Float64Array;
  private readonly ux: Float64Array;
  private readonly uy: Float64Array;

  constructor(options: SimpleAdversaryOptions = {}) {
    super();
    this.variant = options.variant ?? 'pettingzoo';
    const n = options.numGood ?? 2;
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError('INVALID_ARGUMENT', `numGood must be a positive integer, got ${n}`);
    if (this.variant === 'openai' && n !== 2)
      throw new InvalidArgumentError('INVALID_ARGUMENT', 'the OpenAI scenario has exactly 2 good agents');
    this.numGood = n;
    this.actionEncoding = options.actionEncoding ?? (this.variant === 'openai' ? 'mpe-soft' : 'discrete');
    this.opts = {
      shapedGoodReward: options.shapedGoodReward ?? true,
      shapedGoodAdvTerm: options.shapedGoodAdvTerm ?? true,
      shapedAdversaryReward: options.shapedAdversaryReward ?? true,
    };
    this.maxCycles = options.maxCycles ?? 25;
    this.rng = new Rng(options.seed ?? 0);
    this.possibleAgents =
      this.variant === 'openai'
        ? ['agent 0', 'agent 1', 'agent 2']
        : ['adversary_0', ...Array.from({ length: n }, (_, i) => `agent_${i}`)];
    const agents = this.possibleAgents.map((name) => makeEntity(name, 0.15, true));
    const landmarks = Array.from({ length: n }, (_, i) => makeEntity(`landmark ${i}`, 0.08, false));
    this.world = new World({ ...MPE_WORLD, integration: this.variant }, agents, landmarks);
    this.obsDims = [4 * n, ...Array.from({ length: n }, () => 2 + 4 * n)];
    const adim = this.actionEncoding === 'discrete' ? 1 : 5;
    this.actDims = this.possibleAgents.map(() => adim);
    this.obs = this.obsDims.map((d) => new Float64Array(d));
    this.rewards = new Float64Array(n + 1);
    this.ux = new Float64Array(n + 1);
    this.uy = new Float64Array(n + 1);
    this.resetArrays();
  }

  get t(): number {
    return this.steps;
  }
  get goal(): Entity {
    return this.world.landmarks[this.goalIndex]!;
  }

  resetArrays(seed?: number): Float64Array[] {
    if (seed !== undefined) this.rng = new Rng(seed);
    const rng = this.rng;
    this.steps = 0;
    this.goalIndex = rng.int(this.world.landmarks.length);
    for (const a of this.world.agents) {
      a.px = rng.uniform(-1, 1);
      a.py = rng.uniform(-1, 1);
      a.vx = 0;
      a.vy = 0;
    }
    for (const l of this.world.landmarks) {
      l.px = rng.uniform(-1, 1);
      l.py = rng.uniform(-1, 1);
      l.vx = 0;
      l.vy = 0;
    }
    this.observeAll();
    return this.obs;
  }

  stepArrays(actions: readonly (ArrayLike<number> | number)[]): ArrayStep {
    const na = this.world.agents.length;
    if (actions.length !== na)
      throw new InvalidArgumentError('INVALID_ARGUMENT', `stepArrays(): expected ${na} actions`);
    for (let i = 0; i < na; i++) this.decode(actions[i]!, i);
    this.world.step(this.ux, this.uy);
    this.steps++;
    this.observeAll();
    for (let i = 0; i < na; i++) this.rewards[i] = i === 0 ? this.adversaryReward() : this.goodReward();
    return { obs: this.obs, rewards: this.rewards, truncated: this.steps >= this.maxCycles };
  }

  private decode(a: ArrayLike<number> | number, i: number): void {
    const who = this.possibleAgents[i]!;
    switch (this.actionEncoding) {
      case 'discrete': {
        const k = typeof a === 'number' ? a : a.length === 1 ? a[0]! : NaN;
        if (!Number.isInteger(k) || k < 0 || k > 4)
          throw new InvalidArgumentError('INVALID_ARGUMENT', `${who}: discrete action must be 0..4`);
        this.ux[i] = k === 1 ? -1 : k === 2 ? 1 : 0;
        this.uy[i] = k === 3 ? -1 : k === 4 ? 1 : 0;
        return;
      }
      case 'mpe-soft': {
        const v = checkVector(a, 5, who);
        this.ux[i] = v[1]! - v[2]!;
        this.uy[i] = v[3]! - v[4]!;
        return;
      }
      case 'pz-continuous': {
        const v = checkVector(a, 5, who);
        const c = (j: number) => Math.min(1, Math.max(0, v[j]!));
        this.ux[i] = c(2) - c(1);
        this.uy[i] = c(4) - c(3);
        return;
      }
    }
  }

  private observeAll(): void {
    const { agents, landmarks } = this.world;
    for (let i = 0; i < agents.length; i++) {
      const me = agents[i]!;
      const o = this.obs[i]!;
      let k = 0;
      if (i !== 0) {
        o[k++] = this.goal.px - me.px;
        o[k++] = this.goal.py - me.py;
      }
      for (const l of landmarks) {
        o[k++] = l.px - me.px;
        o[k++] = l.py - me.py;
      }
      for (let j = 0; j < agents.length; j++) {
        if (j === i || (i === 0 && j === 0)) continue;
        // good agents see every other agent (adversary first); the adversary sees the good agents
        o[k++] = agents[j]!.px - me.px;
        o[k++] = agents[j]!.py - me.py;
      }
    }
  }

  goodReward(): number {
    const { agents } = this.world;
    const G = this.goal;
    const adv = agents[0]!;
    let minGood = Infinity;
    for (let j = 1; j < agents.length; j++) minGood = Math.min(minGood, dist(agents[j]!, G));
    const dAdv = dist(adv, G);
    const advPart = this.opts.shapedGoodAdvTerm ? dAdv : dAdv < REACH ? -5 : 0;
    const posPart = this.opts.shapedGoodReward ? -minGood : (minGood < REACH ? 5 : 0) - minGood;
    return posPart + advPart;
  }

  adversaryReward(): number {
    const d = dist(this.world.agents[0]!, this.goal);
    if (!this.opts.shapedAdversaryReward) return d < REACH ? 5 : 0;
    return this.variant === 'openai' ? -(d * d) : -d;
  }

  protected infoFor(agentIndex: number): Record<string, unknown> {
    const a = this.world.agents[agentIndex]!;
    return { position: [a.px, a.py], goalIndex: this.goalIndex };
  }
}

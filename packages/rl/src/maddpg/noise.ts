import { Rng, type RngState } from '@soo/core';

/** Ornstein-Uhlenbeck noise (maddpg-pytorch `utils/noise.py`): θ 0.15, σ 0.2, μ 0; output scale·state. */
export class OUNoise {
  readonly dim: number;
  readonly mu: number;
  readonly theta: number;
  readonly sigma: number;
  scale = 0.1;
  readonly state: Float64Array;
  private readonly out: Float64Array;
  private rng: Rng;

  constructor(dim: number, rng: Rng, opts: { mu?: number; theta?: number; sigma?: number } = {}) {
    this.dim = dim;
    this.mu = opts.mu ?? 0;
    this.theta = opts.theta ?? 0.15;
    this.sigma = opts.sigma ?? 0.2;
    this.rng = rng;
    this.state = new Float64Array(dim).fill(this.mu);
    this.out = new Float64Array(dim);
  }

  reset(): void {
    this.state.fill(this.mu);
  }

  /** The noise stream's position (checkpoints of a training run); `restoreRng` brings it back. */
  rngState(): RngState {
    return this.rng.state();
  }

  restoreRng(st: RngState): void {
    this.rng = Rng.restore(st);
  }

  /** Advance the process one step and return `scale · state` (a reused array). */
  noise(): Float64Array {
    for (let i = 0; i < this.dim; i++) {
      const x = this.state[i]!;
      this.state[i] = x + this.theta * (this.mu - x) + this.sigma * this.rng.normal();
      this.out[i] = this.state[i]! * this.scale;
    }
    return this.out;
  }
}

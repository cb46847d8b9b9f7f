/**
 * Multi-agent replay buffer (maddpg-pytorch `utils/buffer.py`): one FIFO ring per agent, written in
 * lockstep; sampling without replacement; optional reward normalisation by the mean and population std
 * of every stored reward of that agent (skipped when the std is 0), as the port does at every sample.
 *
 * Storage is Float32 for observations and actions (the port casts to float32 tensors when sampling)
 * and grows by doubling up to `capacity`, so a 1e6 buffer costs memory only as it fills. Each
 * transition can carry `extraDim` extra numbers (e.g. blue's position, for SOO fine-tuning).
 */
import { InvalidArgumentError, type Rng } from '@soo/core';

export interface Batch {
  size: number;
  /** Per agent: [size, obsDim] row-major. */
  obs: Float64Array[];
  acts: Float64Array[];
  rews: Float64Array[];
  nextObs: Float64Array[];
  dones: Float64Array[];
}

export interface BufferTensor {
  dtype: 'F32' | 'F64' | 'U8';
  shape: number[];
  data: Float32Array | Float64Array | Uint8Array;
}

export class ReplayBuffer {
  readonly capacity: number;
  readonly obsDims: readonly number[];
  readonly actDims: readonly number[];
  readonly extraDim: number;
  private alloc: number;
  private obs: Float32Array[];
  private acts: Float32Array[];
  private nextObs: Float32Array[];
  private rews: Float64Array[];
  private dones: Uint8Array[];
  private extra: Float32Array;
  private filled = 0;
  private cursor = 0;
  private rewSum: Float64Array;
  private rewSqSum: Float64Array;

  constructor(capacity: number, obsDims: readonly number[], actDims: readonly number[], extraDim = 0) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `buffer capacity must be a positive integer, got ${capacity}`,
      );
    this.capacity = capacity;
    this.obsDims = obsDims;
    this.actDims = actDims;
    this.extraDim = extraDim;
    this.alloc = Math.min(capacity, 4096);
    this.obs = obsDims.map((d) => new Float32Array(this.alloc * d));
    this.nextObs = obsDims.map((d) => new Float32Array(this.alloc * d));
    this.acts = actDims.map((d) => new Float32Array(this.alloc * d));
    this.rews = obsDims.map(() => new Float64Array(this.alloc));
    this.dones = obsDims.map(() => new Uint8Array(this.alloc));
    this.extra = new Float32Array(this.alloc * extraDim);
    this.rewSum = new Float64Array(obsDims.length);
    this.rewSqSum = new Float64Array(obsDims.length);
  }

  /** Everything the buffer holds, for a checkpoint (`restore` reads it back bit-exactly). */
  snapshot(): {
    json: { filled: number; cursor: number; alloc: number };
    tensors: Map<string, BufferTensor>;
  } {
    const t = new Map<string, BufferTensor>();
    const n = this.alloc;
    this.obsDims.forEach((d, a) => {
      t.set(`obs.${a}`, { dtype: 'F32', shape: [n, d], data: this.obs[a]! });
      t.set(`next_obs.${a}`, { dtype: 'F32', shape: [n, d], data: this.nextObs[a]! });
      t.set(`acts.${a}`, { dtype: 'F32', shape: [n, this.actDims[a]!], data: this.acts[a]! });
      t.set(`rews.${a}`, { dtype: 'F64', shape: [n], data: this.rews[a]! });
      t.set(`dones.${a}`, { dtype: 'U8', shape: [n], data: this.dones[a]! });
    });
    t.set('extra', { dtype: 'F32', shape: [n, this.extraDim], data: this.extra });
    t.set('rew_sum', { dtype: 'F64', shape: [this.rewSum.length], data: this.rewSum });
    t.set('rew_sq_sum', { dtype: 'F64', shape: [this.rewSqSum.length], data: this.rewSqSum });
    return { json: { filled: this.filled, cursor: this.cursor, alloc: this.alloc }, tensors: t };
  }

  /** Refill from a `snapshot` (same capacity and dims); SHAPE_MISMATCH / INVALID_ARGUMENT otherwise. */
  restore(
    json: { filled: number; cursor: number; alloc: number },
    get: (name: string) => Float32Array | Float64Array | Uint8Array | undefined,
  ): void {
    const n = json.alloc;
    if (
      !Number.isInteger(n) ||
      n < 1 ||
      n > this.capacity ||
      !(json.filled >= 0 && json.filled <= n) ||
      !(json.cursor >= 0 && json.cursor < this.capacity)
    )
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `replay buffer state ${JSON.stringify(json)} does not fit a buffer of ${this.capacity}`,
      );
    const take = <T extends Float32Array | Float64Array | Uint8Array>(
      name: string,
      len: number,
      Ctor: new (l: number) => T,
    ): T => {
      const v = get(name);
      if (!v || v.length !== len)
        throw new InvalidArgumentError(
          'SHAPE_MISMATCH',
          `replay buffer tensor ${name}: expected ${len} values`,
        );
      const out = new Ctor(len);
      out.set(v as never);
      return out;
    };
    this.alloc = n;
    this.obs = this.obsDims.map((d, a) => take(`obs.${a}`, n * d, Float32Array));
    this.nextObs = this.obsDims.map((d, a) => take(`next_obs.${a}`, n * d, Float32Array));
    this.acts = this.actDims.map((d, a) => take(`acts.${a}`, n * d, Float32Array));
    this.rews = this.obsDims.map((_, a) => take(`rews.${a}`, n, Float64Array));
    this.dones = this.obsDims.map((_, a) => take(`dones.${a}`, n, Uint8Array));
    this.extra = take('extra', n * this.extraDim, Float32Array);
    this.rewSum = take('rew_sum', this.obsDims.length, Float64Array);
    this.rewSqSum = take('rew_sq_sum', this.obsDims.length, Float64Array);
    this.filled = json.filled;
    this.cursor = json.cursor;
  }

  get length(): number {
    return this.filled;
  }

  private grow(): void {
    const next = Math.min(this.capacity, this.alloc * 2);
    const g32 = (a: Float32Array, d: number) => {
      const b = new Float32Array(next * d);
      b.set(a);
      return b;
    };
    this.obs = this.obs.map((a, i) => g32(a, this.obsDims[i]!));
    this.nextObs = this.nextObs.map((a, i) => g32(a, this.obsDims[i]!));
    this.acts = this.acts.map((a, i) => g32(a, this.actDims[i]!));
    this.rews = this.rews.map((a) => {
      const b = new Float64Array(next);
      b.set(a);
      return b;
    });
    this.dones = this.dones.map((a) => {
      const b = new Uint8Array(next);
      b.set(a);
      return b;
    });
    this.extra = g32(this.extra, this.extraDim);
    this.alloc = next;
  }

  push(
    obs: readonly ArrayLike<number>[],
    acts: readonly ArrayLike<number>[],
    rews: ArrayLike<number>,
    nextObs: readonly ArrayLike<number>[],
    dones: ArrayLike<boolean | number>,
    extra?: ArrayLike<number>,
  ): void {
    if (this.cursor >= this.alloc) this.grow();
    const k = this.cursor;
    for (let a = 0; a < this.obsDims.length; a++) {
      const od = this.obsDims[a]!;
      const ad = this.actDims[a]!;
      const o = obs[a]!;
      const no = nextObs[a]!;
      const ac = acts[a]!;
      for (let j = 0; j < od; j++) {
        this.obs[a]![k * od + j] = o[j]!;
        this.nextObs[a]![k * od + j] = no[j]!;
      }
      for (let j = 0; j < ad; j++) this.acts[a]![k * ad + j] = ac[j]!;
      if (this.filled === this.capacity) {
        const old = this.rews[a]![k]!;
        this.rewSum[a]! -= old;
        this.rewSqSum[a]! -= old * old;
      }
      const r = rews[a]!;
      this.rews[a]![k] = r;
      this.rewSum[a]! += r;
      this.rewSqSum[a]! += r * r;
      this.dones[a]![k] = dones[a] ? 1 : 0;
    }
    if (extra) for (let j = 0; j < this.extraDim; j++) this.extra[k * this.extraDim + j] = extra[j]!;
    this.cursor = (k + 1) % this.capacity;
    if (this.filled < this.capacity) this.filled++;
  }

  /** Mean and population std of agent `a`'s stored rewards. */
  rewardStats(a: number): { mean: number; std: number } {
    const n = this.filled;
    if (n === 0) return { mean: 0, std: 0 };
    const mean = this.rewSum[a]! / n;
    const v = this.rewSqSum[a]! / n - mean * mean;
    // exact zero when every stored reward is equal (sums of equal small integers are exact)
    return { mean, std: v > 1e-12 * Math.max(1, mean * mean) ? Math.sqrt(v) : 0 };
  }

  /** `n` distinct indices among the stored transitions (Floyd's algorithm). */
  sampleIndices(n: number, rng: Rng): Int32Array {
    const N = this.filled;
    if (n > N)
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `cannot sample ${n} from ${N} transitions without replacement`,
      );
    const chosen = new Set<number>();
    const out = new Int32Array(n);
    let w = 0;
    for (let j = N - n; j < N; j++) {
      const t = rng.int(j + 1);
      const pick = chosen.has(t) ? j : t;
      chosen.add(pick);
      out[w++] = pick;
    }
    return out;
  }

  /** Gather a batch at `idx` into `into` (reused when given). */
  gather(idx: Int32Array, normRewards: boolean, into?: Batch): Batch {
    const n = idx.length;
    const na = this.obsDims.length;
    const b: Batch =
      into && into.size === n
        ? into
        : {
            size: n,
            obs: this.obsDims.map((d) => new Float64Array(n * d)),
            nextObs: this.obsDims.map((d) => new Float64Array(n * d)),
            acts: this.actDims.map((d) => new Float64Array(n * d)),
            rews: this.obsDims.map(() => new Float64Array(n)),
            dones: this.obsDims.map(() => new Float64Array(n)),
          };
    for (let a = 0; a < na; a++) {
      const od = this.obsDims[a]!;
      const ad = this.actDims[a]!;
      const { mean, std } = this.rewardStats(a);
      const norm = normRewards && std !== 0;
      for (let r = 0; r < n; r++) {
        const k = idx[r]!;
        for (let j = 0; j < od; j++) {
          b.obs[a]![r * od + j] = this.obs[a]![k * od + j]!;
          b.nextObs[a]![r * od + j] = this.nextObs[a]![k * od + j]!;
        }
        for (let j = 0; j < ad; j++) b.acts[a]![r * ad + j] = this.acts[a]![k * ad + j]!;
        const rw = this.rews[a]![k]!;
        b.rews[a]![r] = norm ? (rw - mean) / std : rw;
        b.dones[a]![r] = this.dones[a]![k]!;
      }
    }
    return b;
  }

  /** Agent `a`'s stored observation at index `k` (copied into `out`). */
  observation(a: number, k: number, out: Float64Array): Float64Array {
    const od = this.obsDims[a]!;
    for (let j = 0; j < od; j++) out[j] = this.obs[a]![k * od + j]!;
    return out;
  }

  extraAt(k: number, out: Float64Array): Float64Array {
    for (let j = 0; j < this.extraDim; j++) out[j] = this.extra[k * this.extraDim + j]!;
    return out;
  }
}

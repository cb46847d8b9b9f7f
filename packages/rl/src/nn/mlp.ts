/**
 * The PyTorch-port MLP (maddpg-pytorch `utils/networks.py`, rl.md C.6), written out by hand:
 *
 *   x → BatchNorm1d(in) → fc1 → leaky_relu → fc2 → leaky_relu → fc3 → (tanh | identity)
 *
 * returning (h1, h2, out). Forward and backward run on a whole batch in Float64Array buffers held by an
 * `MlpWorkspace`, so several forward passes (e.g. the "self" and "other" branches of the SOO loss) can
 * be kept alive and back-propagated independently. All parameters live in one flat `params` array
 * (with a matching `grads` array), which makes Adam, gradient clipping and Polyak averaging one loop.
 */
import { InvalidArgumentError, type Rng } from '@soo/core';
import { linearBackward, linearForward } from './linear.js';

export interface MlpSpec {
  inDim: number;
  hidden: number;
  outDim: number;
  /** BatchNorm1d on the input (the port's `norm_in=True`). */
  batchNorm: boolean;
  /** 'tanh' for continuous policies (`constrain_out=True`), 'linear' for critics. */
  outAct: 'tanh' | 'linear';
  /** Leaky ReLU negative slope (PyTorch default 0.01). */
  leakySlope: number;
  bnEps: number;
  bnMomentum: number;
}

export function mlpSpec(inDim: number, outDim: number, over: Partial<MlpSpec> = {}): MlpSpec {
  return {
    inDim,
    outDim,
    hidden: 64,
    batchNorm: true,
    outAct: 'linear',
    leakySlope: 0.01,
    bnEps: 1e-5,
    bnMomentum: 0.1,
    ...over,
  };
}

/** Name, offset and shape of each parameter tensor inside `params` (PyTorch state_dict names). */
export interface ParamSlot {
  name: string;
  offset: number;
  shape: number[];
}

export function paramLayout(s: MlpSpec): ParamSlot[] {
  const slots: ParamSlot[] = [];
  let off = 0;
  const add = (name: string, shape: number[]) => {
    slots.push({ name, offset: off, shape });
    off += shape.reduce((a, b) => a * b, 1);
  };
  if (s.batchNorm) {
    add('in_fn.weight', [s.inDim]);
    add('in_fn.bias', [s.inDim]);
  }
  add('fc1.weight', [s.hidden, s.inDim]);
  add('fc1.bias', [s.hidden]);
  add('fc2.weight', [s.hidden, s.hidden]);
  add('fc2.bias', [s.hidden]);
  add('fc3.weight', [s.outDim, s.hidden]);
  add('fc3.bias', [s.outDim]);
  return slots;
}

/** Activations and gradients of one forward pass over up to `capacity` rows. */
export class MlpWorkspace {
  readonly capacity: number;
  batch = 0;
  train = false;
  readonly x: Float64Array;
  readonly xhat: Float64Array;
  readonly y: Float64Array;
  readonly invStd: Float64Array;
  readonly h1: Float64Array;
  readonly h2: Float64Array;
  readonly out: Float64Array;
  readonly dz3: Float64Array;
  readonly dh2: Float64Array;
  readonly dh1: Float64Array;
  readonly dy: Float64Array;
  /** Gradient w.r.t. the input, filled by `backward(..., {inputGrad: true})`. */
  readonly dx: Float64Array;
  /** Scratch for a transposed weight matrix in the backward pass. */
  readonly wt: Float64Array;

  constructor(spec: MlpSpec, capacity: number) {
    this.capacity = capacity;
    const { inDim: I, hidden: H, outDim: O } = spec;
    this.x = new Float64Array(capacity * I);
    this.xhat = new Float64Array(capacity * I);
    this.y = new Float64Array(capacity * I);
    this.invStd = new Float64Array(I);
    this.h1 = new Float64Array(capacity * H);
    this.h2 = new Float64Array(capacity * H);
    this.out = new Float64Array(capacity * O);
    this.dz3 = new Float64Array(capacity * O);
    this.dh2 = new Float64Array(capacity * H);
    this.dh1 = new Float64Array(capacity * H);
    this.dy = new Float64Array(capacity * I);
    this.dx = new Float64Array(capacity * I);
    this.wt = new Float64Array(Math.max(H * I, H * H, O * H));
  }
}

export interface BackwardOptions {
  /** Extra gradient added to dL/dh1 (post-activation), e.g. from the SOO loss. */
  dH1?: Float64Array;
  /** Extra gradient added to dL/dh2. */
  dH2?: Float64Array;
  /** Accumulate parameter gradients into `grads` (default true). */
  paramGrads?: boolean;
  /** Compute dL/dx into `ws.dx` (default false). */
  inputGrad?: boolean;
}

export class Mlp {
  readonly spec: MlpSpec;
  readonly layout: ParamSlot[];
  readonly params: Float64Array;
  readonly grads: Float64Array;
  /** BatchNorm running statistics (buffers, not parameters: never averaged into targets). */
  readonly runningMean: Float64Array;
  readonly runningVar: Float64Array;
  numBatchesTracked = 0;
  private readonly oGamma: number;
  private readonly oBeta: number;
  private readonly oW1: number;
  private readonly oB1: number;
  private readonly oW2: number;
  private readonly oB2: number;
  private readonly oW3: number;
  private readonly oB3: number;

  constructor(spec: MlpSpec) {
    for (const k of ['inDim', 'hidden', 'outDim'] as const) {
      if (!Number.isInteger(spec[k]) || spec[k] <= 0)
        throw new InvalidArgumentError(
          'INVALID_ARGUMENT',
          `MLP ${k} must be a positive integer, got ${spec[k]}`,
        );
    }
    this.spec = { ...spec };
    this.layout = paramLayout(spec);
    const last = this.layout[this.layout.length - 1]!;
    const n = last.offset + last.shape.reduce((a, b) => a * b, 1);
    this.params = new Float64Array(n);
    this.grads = new Float64Array(n);
    this.runningMean = new Float64Array(spec.inDim);
    this.runningVar = new Float64Array(spec.inDim).fill(1);
    const at = (name: string) => this.layout.find((s) => s.name === name)?.offset ?? -1;
    this.oGamma = at('in_fn.weight');
    this.oBeta = at('in_fn.bias');
    this.oW1 = at('fc1.weight');
    this.oB1 = at('fc1.bias');
    this.oW2 = at('fc2.weight');
    this.oB2 = at('fc2.bias');
    this.oW3 = at('fc3.weight');
    this.oB3 = at('fc3.bias');
    if (spec.batchNorm) this.params.fill(1, this.oGamma, this.oGamma + spec.inDim);
  }

  /**
   * PyTorch defaults: Linear weights and biases U(±1/√fan_in); BN γ = 1, β = 0; a tanh policy's last
   * layer weights U(±3e-3) (the port's `constrain_out`). Draws fc1 W, b, fc2 W, b, fc3 W, b in order.
   */
  static create(spec: MlpSpec, rng: Rng): Mlp {
    const m = new Mlp(spec);
    const { inDim: I, hidden: H, outDim: O } = spec;
    const fill = (off: number, n: number, bound: number) => {
      for (let k = 0; k < n; k++) m.params[off + k] = rng.uniform(-bound, bound);
    };
    fill(m.oW1, H * I, 1 / Math.sqrt(I));
    fill(m.oB1, H, 1 / Math.sqrt(I));
    fill(m.oW2, H * H, 1 / Math.sqrt(H));
    fill(m.oB2, H, 1 / Math.sqrt(H));
    fill(m.oW3, O * H, spec.outAct === 'tanh' ? 3e-3 : 1 / Math.sqrt(H));
    fill(m.oB3, O, 1 / Math.sqrt(H));
    return m;
  }

  get numParams(): number {
    return this.params.length;
  }

  clone(): Mlp {
    const m = new Mlp(this.spec);
    m.copyFrom(this, true);
    return m;
  }

  /** Copy parameters (and, with `buffers`, BN running statistics) from a net of the same spec. */
  copyFrom(src: Mlp, buffers = false): void {
    if (src.params.length !== this.params.length || src.spec.inDim !== this.spec.inDim) {
      throw new InvalidArgumentError('SHAPE_MISMATCH', 'copyFrom(): networks differ in shape');
    }
    this.params.set(src.params);
    if (buffers) {
      this.runningMean.set(src.runningMean);
      this.runningVar.set(src.runningVar);
      this.numBatchesTracked = src.numBatchesTracked;
    }
  }

  zeroGrad(): void {
    this.grads.fill(0);
  }

  workspace(capacity: number): MlpWorkspace {
    return new MlpWorkspace(this.spec, capacity);
  }

  /**
   * Forward `batch` rows of `x` (row-major [batch, inDim]). `train` selects BatchNorm batch statistics
   * (and updates the running statistics, like PyTorch's train mode) versus running statistics.
   * Returns `ws.out` ([batch, outDim]); `ws.h1`, `ws.h2` hold the hidden activations.
   */
  forward(x: ArrayLike<number>, batch: number, ws: MlpWorkspace, train: boolean): Float64Array {
    const { inDim: I, hidden: H, outDim: O, batchNorm, leakySlope: slope } = this.spec;
    if (batch > ws.capacity || batch < 1)
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `forward(): batch ${batch} outside 1..${ws.capacity}`,
      );
    if (train && batchNorm && batch < 2)
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        'BatchNorm in train mode needs a batch of at least 2',
      );
    ws.batch = batch;
    ws.train = train;
    const p = this.params;
    const n = batch * I;
    const xs = ws.x;
    for (let k = 0; k < n; k++) xs[k] = x[k]!;
    const y = ws.y;
    if (batchNorm) {
      const { xhat, invStd } = ws;
      const { bnEps: eps, bnMomentum: mom } = this.spec;
      for (let j = 0; j < I; j++) {
        let mean: number;
        let varB: number;
        if (train) {
          let s = 0;
          for (let b = 0; b < batch; b++) s += xs[b * I + j]!;
          mean = s / batch;
          let v = 0;
          for (let b = 0; b < batch; b++) {
            const d = xs[b * I + j]! - mean;
            v += d * d;
          }
          varB = v / batch;
          this.runningMean[j] = (1 - mom) * this.runningMean[j]! + mom * mean;
          this.runningVar[j] = (1 - mom) * this.runningVar[j]! + (mom * v) / (batch - 1);
        } else {
          mean = this.runningMean[j]!;
          varB = this.runningVar[j]!;
        }
        const is = 1 / Math.sqrt(varB + eps);
        invStd[j] = is;
        const g = p[this.oGamma + j]!;
        const be = p[this.oBeta + j]!;
        for (let b = 0; b < batch; b++) {
          const xh = (xs[b * I + j]! - mean) * is;
          xhat[b * I + j] = xh;
          y[b * I + j] = g * xh + be;
        }
      }
      if (train) this.numBatchesTracked++;
    } else {
      y.set(xs.subarray(0, n));
    }
    linearForward(y, batch, I, p, this.oW1, this.oB1, H, ws.h1, slope);
    linearForward(ws.h1, batch, H, p, this.oW2, this.oB2, H, ws.h2, slope);
    linearForward(ws.h2, batch, H, p, this.oW3, this.oB3, O, ws.out, null);
    if (this.spec.outAct === 'tanh') {
      const out = ws.out;
      for (let k = 0; k < batch * O; k++) out[k] = Math.tanh(out[k]!);
    }
    return ws.out;
  }

  /**
   * Back-propagate `dOut` (dL/d out, [batch, outDim]; null = zero) through the pass held in `ws`.
   * Parameter gradients are *added* to `grads`.
   */
  backward(ws: MlpWorkspace, dOut: ArrayLike<number> | null, opts: BackwardOptions = {}): void {
    const { inDim: I, hidden: H, outDim: O, batchNorm, leakySlope: slope } = this.spec;
    const B = ws.batch;
    const paramGrads = opts.paramGrads ?? true;
    const p = this.params;
    const g = this.grads;
    const { dz3, dh2, dh1, dy, h1, h2, out } = ws;
    // output activation
    for (let k = 0; k < B * O; k++) {
      const d = dOut === null ? 0 : dOut[k]!;
      dz3[k] = this.spec.outAct === 'tanh' ? d * (1 - out[k]! * out[k]!) : d;
    }
    // fc3
    // (dh2 += dH2, then the leaky ReLU backward at h2, are done by linearBackward)
    linearBackward(dz3, h2, B, H, O, p, this.oW3, paramGrads ? g : null, this.oB3, dh2, ws.wt, {
      h: h2,
      extra: opts.dH2,
      slope,
    });
    // fc2
    linearBackward(dh2, h1, B, H, H, p, this.oW2, paramGrads ? g : null, this.oB2, dh1, ws.wt, {
      h: h1,
      extra: opts.dH1,
      slope,
    });
    // fc1
    linearBackward(dh1, ws.y, B, I, H, p, this.oW1, paramGrads ? g : null, this.oB1, dy, ws.wt);
    // batch norm
    const dx = ws.dx;
    if (!batchNorm) {
      if (opts.inputGrad) dx.set(dy.subarray(0, B * I));
      return;
    }
    const { xhat, invStd } = ws;
    for (let j = 0; j < I; j++) {
      let sDy = 0;
      let sDyXh = 0;
      for (let b = 0; b < B; b++) {
        const d = dy[b * I + j]!;
        sDy += d;
        sDyXh += d * xhat[b * I + j]!;
      }
      if (paramGrads) {
        g[this.oGamma + j]! += sDyXh;
        g[this.oBeta + j]! += sDy;
      }
      if (!opts.inputGrad) continue;
      const gam = p[this.oGamma + j]!;
      const is = invStd[j]!;
      if (ws.train) {
        // dx = γ·invStd/B · (B·dy − Σdy − x̂·Σ(dy·x̂))
        const k0 = (gam * is) / B;
        for (let b = 0; b < B; b++) {
          dx[b * I + j] = k0 * (B * dy[b * I + j]! - sDy - xhat[b * I + j]! * sDyXh);
        }
      } else {
        for (let b = 0; b < B; b++) dx[b * I + j] = dy[b * I + j]! * gam * is;
      }
    }
  }

  /** A copy of one named tensor (e.g. 'fc1.weight'). */
  tensor(name: string): Float64Array {
    const s = this.layout.find((l) => l.name === name);
    if (!s) throw new InvalidArgumentError('INVALID_ARGUMENT', `no tensor named ${name}`);
    return this.params.slice(s.offset, s.offset + s.shape.reduce((a, b) => a * b, 1));
  }
}

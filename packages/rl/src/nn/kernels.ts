/**
 * The f64x2 SIMD WebAssembly kernels of `kernels.wat` (assembled into `kernels-wasm.ts`), behind a
 * small API that copies operands into the module's memory, runs, and copies results out. Copies cost
 * O(B·(I + O)) against the O(B·I·O) arithmetic, a few percent at the 64-wide layers.
 *
 * `wasmKernels()` returns null where WebAssembly SIMD is missing or `SOO_RL_KERNELS=js` is set; the
 * callers in `linear.ts` then use their scalar loops, which give bit-identical results.
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';
import { biasGrad } from './bias-grad.js';

/** The slice of the WebAssembly global used here (the workspace's `lib` has no WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

interface KernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  forward(
    x: number,
    wt: number,
    bias: number,
    out: number,
    B: number,
    I: number,
    O: number,
    slope: number,
    leaky: number,
  ): void;
  inputGrad(
    dz: number,
    w: number,
    dx: number,
    B: number,
    I: number,
    O: number,
    h: number,
    extra: number,
    flags: number,
    slope: number,
  ): void;
  transpose(src: number, dst: number, rows: number, cols: number): void;
  biasGrad(dz: number, gb: number, B: number, O: number): void;
  paramGrad(dz: number, x: number, g: number, B: number, I: number, O: number): void;
}

/** What follows dx in the backward pass: dx += extra (when given), then the leaky ReLU backward at h. */
export interface LeakyPost {
  /** Post-activation of the layer below (same sign as its pre-activation). */
  h: Float64Array;
  extra?: Float64Array;
  slope: number;
}

export class WasmKernels {
  private readonly ex: KernelExports;
  private f64: Float64Array;

  constructor(bytes: Uint8Array) {
    const wa = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const mod = new wa.Module(bytes);
    this.ex = new wa.Instance(mod, {}).exports as KernelExports;
    this.f64 = new Float64Array(this.ex.memory.buffer);
  }

  /** A Float64Array over the module's memory holding at least `n` values (grows the memory). */
  private heap(n: number): Float64Array {
    const need = n * 8 - this.ex.memory.buffer.byteLength;
    if (need > 0) {
      this.ex.memory.grow(Math.ceil(need / 65536));
      this.f64 = new Float64Array(this.ex.memory.buffer);
    }
    return this.f64;
  }

  /** out[b,o] = act(bias[o] + Σ_i x[b,i]·W[o,i]) as `linear.ts`'s scalar loop; O must be even. */
  forward(
    x: Float64Array,
    B: number,
    I: number,
    p: Float64Array,
    oW: number,
    oB: number,
    O: number,
    out: Float64Array,
    slope: number | null,
  ): void {
    const ox = 0;
    const owt = ox + B * I;
    const ob = owt + I * O;
    const oo = ob + O;
    const ow = oo + B * O;
    const h = this.heap(ow + O * I);
    h.set(x.subarray(0, B * I), ox);
    h.set(p.subarray(oW, oW + O * I), ow);
    this.ex.transpose(ow * 8, owt * 8, O, I);
    h.set(p.subarray(oB, oB + O), ob);
    this.ex.forward(ox * 8, owt * 8, ob * 8, oo * 8, B, I, O, slope ?? 1, slope === null ? 0 : 1);
    out.set(h.subarray(oo, oo + B * O));
  }

  /**
   * dx = dz·W (then `post`: + extra, × slope where h ≤ 0) and, with `g`, g_W += dzᵀ·x and g_b += Σ_b dz
   * (at `oB`), as `linear.ts`'s scalar loops; I must be even.
   */
  backward(
    dz: Float64Array,
    x: Float64Array,
    B: number,
    I: number,
    O: number,
    p: Float64Array,
    oW: number,
    g: Float64Array | null,
    dx: Float64Array,
    post: LeakyPost | null,
    oB: number,
  ): void {
    const odz = 0;
    const ow = odz + B * O;
    const odx = ow + O * I;
    const ox = odx + B * I;
    const og = ox + B * I;
    const oh = og + O * I;
    const oe = oh + B * I;
    const h = this.heap(oe + B * I);
    h.set(dz.subarray(0, B * O), odz);
    h.set(p.subarray(oW, oW + O * I), ow);
    let flags = 0;
    if (post) {
      h.set(post.h.subarray(0, B * I), oh);
      flags |= 2;
      if (post.extra) {
        h.set(post.extra.subarray(0, B * I), oe);
        flags |= 1;
      }
    }
    this.ex.inputGrad(odz * 8, ow * 8, odx * 8, B, I, O, oh * 8, oe * 8, flags, post?.slope ?? 1);
    dx.set(h.subarray(odx, odx + B * I));
    if (g === null) return;
    h.set(x.subarray(0, B * I), ox);
    h.set(g.subarray(oW, oW + O * I), og);
    this.ex.paramGrad(odz * 8, ox * 8, og * 8, B, I, O);
    g.set(h.subarray(og, og + O * I), oW);
    if (O % 2 === 0) {
      // the bias gradient in place after the weights' (og .. og + O·I): [g_b] += Σ_b dz[b, ·]
      const ogb = og + O * I;
      const h2 = this.heap(ogb + O);
      h2.set(g.subarray(oB, oB + O), ogb);
      this.ex.biasGrad(odz * 8, ogb * 8, B, O);
      g.set(h2.subarray(ogb, ogb + O), oB);
    } else biasGrad(dz, B, O, g, oB);
  }
}

function base64Bytes(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

let cached: WasmKernels | null | undefined;

/** The shared kernels, or null when WebAssembly SIMD is unavailable or `SOO_RL_KERNELS=js`. */
export function wasmKernels(): WasmKernels | null {
  if (cached !== undefined) return cached;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env?.SOO_RL_KERNELS === 'js') return (cached = null);
  try {
    cached = new WasmKernels(base64Bytes(KERNELS_WASM_BASE64));
  } catch {
    cached = null;
  }
  return cached;
}

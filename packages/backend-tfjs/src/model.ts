/**
 * The decoder forward pass on TensorFlow.js tensors: Llama, Mistral, Gemma-2 and Qwen2 in one flat
 * function, read top to bottom. Architecture quirks come from `DecoderConfig` (norm style, sandwich norms,
 * soft-capping, biases, activation, embedding multiplier, sliding layers); nothing is folded into the
 * weights, so every hook point sees what the HF module outputs.
 *
 * All math is float32. Every function here is synchronous tf ops, so a caller can wrap a whole pass in
 * `tf.tidy` (inference) or `tf.variableGrads` (training).
 */
import * as tf from '@tensorflow/tfjs';
import {
  ropeFrequencies,
  roundToDtype,
  type DecoderConfig,
  type StopPoint as CoreStopPoint,
  type WeightDtype,
} from '@soo/core/browser';
import { buildAttentionMask } from './masks.js';
import { matmul, matmulConst, transposeLast } from './matmul.js';
import { ropeTables } from './rope.js';

/** A LoRA pair on one linear module: y += (dropout(x) A^T) B^T * scaling. */
export interface LoraWeights {
  /** [r, in] */
  A: tf.Variable;
  /** [out, r] */
  B: tf.Variable;
  scaling: number;
  dropout: number;
}

/** One nn.Linear, its weight stored transposed ([in, out]: see matmul.ts), optional bias, optional LoRA. */
export interface LinearWeights {
  /** HF module path, e.g. `model.layers.3.self_attn.q_proj`. */
  path: string;
  /** The HF weight transposed: [in, out]. */
  weightT: tf.Tensor2D;
  bias: tf.Tensor1D | null;
  lora: LoraWeights | null;
}

export interface LayerWeights {
  /** Effective RMSNorm multipliers (Gemma's (1 + w) already added, in float32 like HF). */
  inputNorm: tf.Tensor1D;
  postAttnNorm: tf.Tensor1D;
  /** Gemma-2 only. */
  preFfnNorm: tf.Tensor1D | null;
  postFfnNorm: tf.Tensor1D | null;
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  o: LinearWeights;
  gate: LinearWeights;
  up: LinearWeights;
  down: LinearWeights;
}

export interface DecoderWeights {
  /** [vocab, hidden] embedding table; null when tied (the lookup then reads `lmHeadT`'s columns). */
  embed: tf.Tensor2D | null;
  /** The lm_head weight transposed: [hidden, vocab] (the embedding table's transpose when tied). */
  lmHeadT: tf.Tensor2D;
  finalNorm: tf.Tensor1D;
  layers: LayerWeights[];
}

/** Per-layer KV cache: k, v after RoPE, [B, numKvHeads, S, headDim]. */
export interface KvCache {
  layers: Array<{ k: tf.Tensor4D; v: tf.Tensor4D } | null>;
  /** Tokens already cached. */
  length: number;
  /** [B][length] key mask of the cached tokens. */
  keyMask: number[][];
}

/** How far a pass must run: through layer `layer`'s attention only (`'attn'`), the whole block, or everything. */
export type StopPoint = CoreStopPoint | null;

export interface RunRequest {
  /** [B, T] token ids (looked up outside any gradient tape) or precomputed embeddings via `embeds`. */
  ids: readonly (readonly number[])[];
  /** [B][T]; defaults to 0..T-1 offset by the cache length. */
  positionIds?: readonly (readonly number[])[];
  /** [B][T], 1 = real, 0 = pad; null = all real. */
  attentionMask?: readonly (readonly number[])[] | null;
  /** Hook names to capture (HF module paths, see core's `listHookPoints`). */
  capture?: ReadonlySet<string>;
  /** Hook outputs to replace: a tensor, or a function of the module's output; same shape as the output. */
  replace?: ReadonlyMap<string, tf.Tensor | ((output: tf.Tensor) => tf.Tensor)>;
  /** Stop after this point (no later layers, no final norm or lm_head). null = run to the logits. */
  stop?: StopPoint;
  /** Which logits to compute when the pass runs to the end. */
  logits?: 'all' | 'last' | 'none';
  /** Precomputed scaled embeddings [B, T, hidden] (training: the lookup sits outside the gradient tape). */
  embeds?: tf.Tensor3D;
  /** KV cache to read and extend (generation). */
  cache?: KvCache;
  /** LoRA dropout seed source; dropout is only applied when set (training). */
  dropoutSeed?: () => number;
  /** Run the base model: skip every LoRA branch. */
  disableLora?: boolean;
}

export interface RunResult {
  captured: Map<string, tf.Tensor>;
  /** [B, T, V] or [B, 1, V]. */
  logits: tf.Tensor3D | null;
}

function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, eps: number): tf.Tensor {
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
}

function activation(kind: DecoderConfig['activation'], x: tf.Tensor): tf.Tensor {
  switch (kind) {
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'gelu_pytorch_tanh': {
      // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
    }
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  }
}

function softcap(x: tf.Tensor, cap: number | null): tf.Tensor {
  return cap === null ? x : tf.mul(tf.tanh(tf.div(x, cap)), cap);
}

/**
 * Whether a base weight takes gradients: a trainable `tf.Variable` (full-parameter training, see pretrain.ts).
 * Loaded checkpoints hold plain tensors, whose products skip the weight gradient entirely.
 */
function isTrainable(w: tf.Tensor): boolean {
  return w instanceof tf.Variable && w.trainable;
}

/** rotate_half over the last axis: [x1, x2] -> [-x2, x1]. */
function rotateHalf(x: tf.Tensor4D): tf.Tensor4D {
  const d = x.shape[3];
  const [x1, x2] = tf.split(x, [d / 2, d / 2], 3);
  return tf.concat([tf.neg(x2 as tf.Tensor4D), x1 as tf.Tensor4D], 3);
}

export interface DecoderOptions {
  /**
   * Dtype of the model's float buffers (RoPE `inv_freq`, Gemma-2's embedding normaliser). 'float32' is
   * transformers with `dtype=torch.float32`; the checkpoint's dtype reproduces `dtype='auto'` (bf16 buffers)
   * followed by an upcast.
   */
  bufferDtype: WeightDtype;
}

export class Decoder {
  readonly options: DecoderOptions;
  /** Gemma-2's sqrt(hidden) in the buffer dtype; 1 for the others. */
  private readonly embedMultiplier: number;

  /** The embedding multiplier as applied (in the buffer dtype). */
  get embedScale(): number {
    return this.embedMultiplier;
  }

  constructor(
    readonly config: DecoderConfig,
    readonly weights: DecoderWeights,
    options: Partial<DecoderOptions> = {},
  ) {
    this.options = { bufferDtype: options.bufferDtype ?? 'float32' };
    this.embedMultiplier = roundToDtype(config.embeddingMultiplier, this.options.bufferDtype);
  }

  /** `hidden_states.0`: the embedding lookup times the architecture's multiplier (no gradient). */
  embed(ids: readonly (readonly number[])[]): { raw: tf.Tensor3D; scaled: tf.Tensor3D } {
    const B = ids.length;
    const T = ids[0]?.length ?? 0;
    const flat = new Int32Array(B * T);
    ids.forEach((row, b) => row.forEach((id, t) => (flat[b * T + t] = id)));
    const H = this.config.hiddenSize;
    const idx = tf.tensor1d(flat, 'int32');
    const { embed, lmHeadT } = this.weights;
    const rows = embed ? tf.gather(embed, idx) : tf.transpose(tf.gather(lmHeadT, idx, 1));
    const raw = tf.reshape(rows, [B, T, H]) as tf.Tensor3D;
    const mult = this.embedMultiplier;
    const scaled = mult === 1 ? raw : (tf.mul(raw, mult) as tf.Tensor3D);
    return { raw, scaled };
  }

  /** One forward pass; see `RunRequest`. Must run inside `tf.tidy` or a gradient tape. */
  run(req: RunRequest): RunResult {
    const cfg = this.config;
    const w = this.weights;
    const B = req.ids.length;
    const T = req.ids[0]?.length ?? 0;
    const H = cfg.hiddenSize;
    const nH = cfg.numHeads;
    const nKv = cfg.numKvHeads;
    const D = cfg.headDim;
    const G = nH / nKv;
    const cache = req.cache;
    const past = cache ? cache.length : 0;
    const S = past + T;
    const capture = req.capture ?? new Set<string>();
    const replace = req.replace ?? new Map<string, tf.Tensor | ((output: tf.Tensor) => tf.Tensor)>();
    const captured = new Map<string, tf.Tensor>();
    const stop = req.stop ?? null;

    const emit = <X extends tf.Tensor>(name: string, x: X): X => {
      const rep = replace.get(name);
      if (rep !== undefined) {
        const r = typeof rep === 'function' ? rep(x) : rep;
        if (!tf.util.arraysEqual(r.shape, x.shape)) {
          throw new Error(
            `replacement for ${name} has shape [${r.shape.join(', ')}], expected [${x.shape.join(', ')}]`,
          );
        }
        x = r as X;
      }
      if (capture.has(name)) captured.set(name, x);
      return x;
    };

    // Embeddings.
    let h: tf.Tensor3D;
    if (req.embeds) {
      h = req.embeds;
    } else {
      const e = this.embed(req.ids);
      const raw = emit('model.embed_tokens', e.raw);
      const mult = this.embedMultiplier;
      h = raw === e.raw ? e.scaled : mult === 1 ? raw : (tf.mul(raw, mult) as tf.Tensor3D);
    }

    // Positions, RoPE tables, masks (host-side, then one upload each).
    const positions =
      req.positionIds ?? Array.from({ length: B }, () => Array.from({ length: T }, (_, t) => past + t));
    let maxPos = 0;
    for (const row of positions) for (const p of row) if (p > maxPos) maxPos = p;
    const freq = ropeFrequencies(cfg, maxPos + 1, this.options.bufferDtype);
    const tables = ropeTables(freq, positions, D);
    const cos = tf.tensor4d(tables.cos, [B, 1, T, D]);
    const sin = tf.tensor4d(tables.sin, [B, 1, T, D]);
    const newMask = req.attentionMask ?? null;
    let keyMask: number[][] | null = null;
    if (cache || newMask) {
      keyMask = Array.from({ length: B }, (_, b) => [
        ...(cache?.keyMask[b] ?? []),
        ...(newMask ? (newMask[b] as readonly number[]) : Array.from({ length: T }, () => 1)),
      ]);
    }
    const maskCache = new Map<number | null, tf.Tensor4D>();
    const maskFor = (window: number | null): tf.Tensor4D => {
      let m = maskCache.get(window);
      if (!m) {
        m = tf.tensor4d(buildAttentionMask({ batch: B, queryLen: T, pastLen: past, keyMask, window }), [
          B,
          1,
          T,
          S,
        ]);
        maskCache.set(window, m);
      }
      return m;
    };

    const linear = (x2: tf.Tensor2D, lin: LinearWeights): tf.Tensor2D => {
      let y: tf.Tensor2D = isTrainable(lin.weightT)
        ? (matmul(x2, lin.weightT) as tf.Tensor2D)
        : matmulConst(x2, lin.weightT);
      if (lin.bias) y = tf.add(y, lin.bias) as tf.Tensor2D;
      const l = req.disableLora ? null : lin.lora;
      if (l) {
        let xin: tf.Tensor2D = x2;
        if (req.dropoutSeed && l.dropout > 0) {
          const keep = tf.cast(
            tf.greaterEqual(tf.randomUniform(x2.shape, 0, 1, 'float32', req.dropoutSeed()), l.dropout),
            'float32',
          );
          xin = tf.mul(x2, tf.mul(keep, 1 / (1 - l.dropout))) as tf.Tensor2D;
        }
        const delta = matmul(matmul(xin, transposeLast(l.A)), transposeLast(l.B));
        y = tf.add(y, tf.mul(delta, l.scaling)) as tf.Tensor2D;
      }
      return y;
    };
    /** Linear on [B, T, in] with the hook emitted on [B, T, out]. */
    const proj = (x: tf.Tensor3D, lin: LinearWeights): tf.Tensor3D => {
      const y = linear(tf.reshape(x, [B * T, x.shape[2]]) as tf.Tensor2D, lin);
      return emit(lin.path, tf.reshape(y, [B, T, y.shape[1]]) as tf.Tensor3D);
    };
    const rope = (x: tf.Tensor4D): tf.Tensor4D => tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin));

    const lastLayer = stop ? stop.layer : cfg.numLayers - 1;
    for (let i = 0; i <= lastLayer && i < cfg.numLayers; i++) {
      const L = w.layers[i] as LayerWeights;
      const p = `model.layers.${i}`;
      const window = cfg.layerTypes[i] === 'sliding_attention' ? cfg.slidingWindow : null;

      // Attention.
      const residual = h;
      const x = emit(`${p}.input_layernorm`, rmsNorm(h, L.inputNorm, cfg.rmsNormEps) as tf.Tensor3D);
      const q = tf.transpose(tf.reshape(proj(x, L.q), [B, T, nH, D]), [0, 2, 1, 3]) as tf.Tensor4D;
      let k = tf.transpose(tf.reshape(proj(x, L.k), [B, T, nKv, D]), [0, 2, 1, 3]) as tf.Tensor4D;
      let v = tf.transpose(tf.reshape(proj(x, L.v), [B, T, nKv, D]), [0, 2, 1, 3]) as tf.Tensor4D;
      const qr = rope(q);
      k = rope(k);
      if (cache) {
        const prev = cache.layers[i];
        if (prev) {
          k = tf.concat([prev.k, k], 2);
          v = tf.concat([prev.v, v], 2);
        }
        cache.layers[i] = { k: tf.keep(k), v: tf.keep(v) };
        if (prev) {
          prev.k.dispose();
          prev.v.dispose();
        }
      }
      // GQA without copying k/v: query heads [kv, g] share kv head `kv`; fold g into the query axis.
      const qg = tf.reshape(qr, [B, nKv, G * T, D]);
      let scores: tf.Tensor = tf.mul(matmul(qg, transposeLast(k)), cfg.attentionScale);
      scores = tf.reshape(scores, [B, nH, T, S]);
      scores = softcap(scores, cfg.attnLogitSoftcapping);
      if (keyMask !== null || T > 1) scores = tf.add(scores, maskFor(window));
      const probs = tf.reshape(tf.softmax(scores, -1), [B, nKv, G * T, S]);
      const ctx = tf.reshape(matmul(probs, v), [B, nH, T, D]);
      const merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [B, T, nH * D]) as tf.Tensor3D;
      let a = proj(merged, L.o);
      a = emit(`${p}.self_attn`, a);
      if (stop && i === stop.layer && stop.stage === 'attn') break;
      if (L.preFfnNorm)
        a = emit(`${p}.post_attention_layernorm`, rmsNorm(a, L.postAttnNorm, cfg.rmsNormEps) as tf.Tensor3D);
      h = tf.add(residual, a);

      // MLP.
      const residual2 = h;
      const y = L.preFfnNorm
        ? emit(`${p}.pre_feedforward_layernorm`, rmsNorm(h, L.preFfnNorm, cfg.rmsNormEps) as tf.Tensor3D)
        : emit(`${p}.post_attention_layernorm`, rmsNorm(h, L.postAttnNorm, cfg.rmsNormEps) as tf.Tensor3D);
      const gate = proj(y, L.gate);
      const up = proj(y, L.up);
      const act = activation(cfg.activation, gate);
      let m = proj(tf.mul(act, up) as tf.Tensor3D, L.down);
      m = emit(`${p}.mlp`, m);
      if (L.postFfnNorm)
        m = emit(`${p}.post_feedforward_layernorm`, rmsNorm(m, L.postFfnNorm, cfg.rmsNormEps) as tf.Tensor3D);
      h = emit(p, tf.add(residual2, m) as tf.Tensor3D);
    }

    let logits: tf.Tensor3D | null = null;
    if (stop === null) {
      h = emit('model.norm', rmsNorm(h, w.finalNorm, cfg.rmsNormEps) as tf.Tensor3D);
      const mode = req.logits ?? 'all';
      if (mode !== 'none') {
        const src = mode === 'last' ? (tf.slice(h, [0, T - 1, 0], [B, 1, H]) as tf.Tensor3D) : h;
        const Tl = src.shape[1];
        const flat = tf.reshape(src, [B * Tl, H]);
        let z: tf.Tensor = isTrainable(w.lmHeadT) ? matmul(flat, w.lmHeadT) : matmulConst(flat, w.lmHeadT);
        z = emit('lm_head', tf.reshape(z, [B, Tl, cfg.vocabSize]));
        logits = softcap(z, cfg.finalLogitSoftcapping) as tf.Tensor3D;
      }
    }
    if (cache) {
      cache.length = S;
      cache.keyMask = keyMask ?? Array.from({ length: B }, () => Array.from({ length: S }, () => 1));
    }
    return { captured, logits };
  }
}

/**
 * Run `f` (a `Decoder.run`) inside `tf.tidy`, keeping only the logits and the captured tensors (tidy does not
 * look inside Maps). The caller disposes the result.
 */
export function tidyRun(f: () => RunResult): RunResult {
  const names: string[] = [];
  let hasLogits = false;
  const list = tf.tidy(() => {
    const r = f();
    const out: tf.Tensor[] = [];
    if (r.logits) {
      hasLogits = true;
      out.push(r.logits);
    }
    for (const [n, t] of r.captured) {
      names.push(n);
      out.push(t);
    }
    return out;
  });
  const logits = hasLogits ? (list[0] as tf.Tensor3D) : null;
  const captured = new Map<string, tf.Tensor>();
  names.forEach((n, i) => captured.set(n, list[i + (hasLogits ? 1 : 0)] as tf.Tensor));
  return { logits, captured };
}

/** Dispose a `RunResult`'s tensors. */
export function disposeRun(r: RunResult): void {
  r.logits?.dispose();
  for (const t of r.captured.values()) t.dispose();
}

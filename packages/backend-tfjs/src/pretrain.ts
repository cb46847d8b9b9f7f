/**
 * Full-parameter training of a decoder from random weights: what builds soo's embedded toy model.
 *
 * Every base weight is a trainable `tf.Variable` (the forward pass then takes the weight gradients that
 * loaded checkpoints skip, see `isTrainable` in model.ts). The embedding lookup runs inside the tape as a
 * one-hot product with the (tied) table, because tfjs-wasm has no kernel for the gather gradient
 * (UnsortedSegmentSum). The loss is the next-token cross-entropy of the LM trainer (`lmLossTensor`); AdamW,
 * gradient clipping and accumulation are the LoRA trainers' (`LoraOptimizer`), with a learning-rate schedule
 * set per step.
 *
 * Initialisation follows transformers' `LlamaPreTrainedModel._init_weights`: every Linear and the embedding
 * ~ N(0, initializer_range), RMSNorm weights 1.
 */
import * as tf from '@tensorflow/tfjs';
import {
  InvalidArgumentError,
  NumericsError,
  Rng,
  writeSafetensors,
  type DecoderConfig,
  type LmBatch,
} from '@soo/core';
import { Decoder, type DecoderWeights, type LayerWeights, type LinearWeights } from './model.js';
import { lmLossTensor, padLmBatch, type PaddedLmBatch } from './lm-trainer.js';
import { matmul, transposeLast } from './matmul.js';
import { LoraOptimizer } from './optimizer.js';

export interface PretrainOptions {
  /** Peak learning rate. */
  lr: number;
  /** Linear warm-up steps, then cosine decay to `minLrRatio * lr` at `totalSteps`. */
  warmupSteps: number;
  totalSteps: number;
  minLrRatio?: number;
  weightDecay?: number;
  clipGradNorm?: number;
  /** Std of the normal initialisation (transformers' `initializer_range`, default 0.02). */
  initStd?: number;
  seed: number;
}

/** The HF names and [out, in] shapes of a decoder's linear modules. */
function linearShapes(cfg: DecoderConfig, i: number): Array<[keyof LayerWeights, string, number, number]> {
  const p = `model.layers.${i}`;
  const H = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const I = cfg.intermediateSize;
  return [
    ['q', `${p}.self_attn.q_proj`, q, H],
    ['k', `${p}.self_attn.k_proj`, kv, H],
    ['v', `${p}.self_attn.v_proj`, kv, H],
    ['o', `${p}.self_attn.o_proj`, H, q],
    ['gate', `${p}.mlp.gate_proj`, I, H],
    ['up', `${p}.mlp.up_proj`, I, H],
    ['down', `${p}.mlp.down_proj`, H, I],
  ];
}

/** Check that the trainer supports `cfg`: a Llama-style decoder with tied embeddings and no biases. */
function checkConfig(cfg: DecoderConfig): void {
  const bad = (field: string, msg: string): never => {
    throw new InvalidArgumentError('INVALID_ARGUMENT', `pretraining: ${field}: ${msg}`, { field });
  };
  if (!cfg.tieWordEmbeddings) bad('tie_word_embeddings', 'expected true (the toy trainer ties the head)');
  if (cfg.qkvBias || cfg.oProjBias || cfg.mlpBias) bad('attention_bias', 'expected no biases');
  if (cfg.sandwichNorms) bad('model_type', 'expected a Llama-style decoder (no Gemma-2 sandwich norms)');
}

let instances = 0;

/** A decoder with freshly initialised trainable weights, and its variables by HF tensor name. */
export function initDecoder(
  cfg: DecoderConfig,
  seed: number,
  initStd = 0.02,
): { decoder: Decoder; vars: Map<string, tf.Variable> } {
  checkConfig(cfg);
  const rng = new Rng(seed).split('init');
  // tf variable names are global: suffix them per decoder so several can live at once (map keys stay HF names).
  const tag = `#pretrain${++instances}`;
  const vars = new Map<string, tf.Variable>();
  const ones = (name: string, n: number): tf.Variable => {
    const v = tf.variable(tf.ones([n]), true, name + tag);
    vars.set(name, v);
    return v;
  };
  // Stored transposed: the [vocab, hidden] embedding (tied head) is kept as lm_head^T = [hidden, vocab].
  const lmHeadT = tf.variable(
    tf.transpose(
      tf.tensor2d(
        rng.split('model.embed_tokens.weight').normalArray(cfg.vocabSize * cfg.hiddenSize, 0, initStd),
        [cfg.vocabSize, cfg.hiddenSize],
      ),
    ),
    true,
    'model.embed_tokens.weight' + tag,
  );
  vars.set('model.embed_tokens.weight', lmHeadT);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const lin: Partial<Record<keyof LayerWeights, LinearWeights>> = {};
    for (const [key, path, out, inp] of linearShapes(cfg, i)) {
      // Drawn as [out, in] like torch, stored as [in, out].
      const w = tf.tensor2d(rng.split(`${path}.weight`).normalArray(out * inp, 0, initStd), [out, inp]);
      const v = tf.variable(tf.transpose(w), true, `${path}.weight${tag}`);
      w.dispose();
      vars.set(`${path}.weight`, v);
      lin[key] = { path, weightT: v, bias: null, lora: null };
    }
    layers.push({
      inputNorm: ones(`model.layers.${i}.input_layernorm.weight`, cfg.hiddenSize) as tf.Tensor1D &
        tf.Variable,
      postAttnNorm: ones(`model.layers.${i}.post_attention_layernorm.weight`, cfg.hiddenSize) as tf.Tensor1D &
        tf.Variable,
      preFfnNorm: null,
      postFfnNorm: null,
      ...(lin as Pick<LayerWeights, 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down'>),
    });
  }
  const weights: DecoderWeights = {
    embed: null,
    lmHeadT: lmHeadT as tf.Variable & tf.Tensor2D,
    finalNorm: ones('model.norm.weight', cfg.hiddenSize) as tf.Tensor1D & tf.Variable,
    layers,
  };
  return { decoder: new Decoder(cfg, weights), vars };
}

/**
 * Re-weight a padded batch's targets: the loss becomes sum(w * nll) / sum(w) over real targets. Row b's
 * weight t applies to the target at position t (predicting token t + 1).
 */
function weighted(p: PaddedLmBatch, w?: readonly (readonly number[])[]): PaddedLmBatch {
  if (!w) return p;
  const T = p.ids[0]?.length ?? 0;
  const weights = new Float32Array(p.weights.length);
  let count = 0;
  for (let b = 0; b < p.ids.length; b++) {
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (p.weights[i] === 0) continue;
      const x = w[b]?.[t] ?? 1;
      if (!(x >= 0)) {
        throw new InvalidArgumentError(
          'INVALID_ARGUMENT',
          `target weight [${b}][${t}] must be >= 0, got ${x}`,
          {
            field: 'targetWeights',
          },
        );
      }
      weights[i] = x;
      count += x;
    }
  }
  if (!(count > 0))
    throw new InvalidArgumentError('INVALID_ARGUMENT', 'target weights sum to 0', { field: 'targetWeights' });
  return { ...p, weights, count };
}

/** Learning rate at optimizer step `step` (0-based): linear warm-up, then cosine to `minLrRatio * lr`. */
export function scheduledLr(o: PretrainOptions, step: number): number {
  const min = (o.minLrRatio ?? 0.1) * o.lr;
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const t = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
  return min + 0.5 * (o.lr - min) * (1 + Math.cos(Math.PI * t));
}

/** Trains every weight of a fresh decoder on next-token batches. */
export class Pretrainer {
  readonly decoder: Decoder;
  readonly vars: Map<string, tf.Variable>;
  private readonly opt: LoraOptimizer;
  private step = 0;

  constructor(
    readonly config: DecoderConfig,
    private readonly options: PretrainOptions,
  ) {
    const { decoder, vars } = initDecoder(config, options.seed, options.initStd ?? 0.02);
    this.decoder = decoder;
    this.vars = vars;
    this.opt = new LoraOptimizer(
      vars,
      {
        optimizer: { lr: options.lr, weightDecay: options.weightDecay ?? 0, betas: [0.9, 0.95] },
        clipGradNorm: options.clipGradNorm ?? 1,
        seed: options.seed,
      },
      () => undefined,
      'pretrainer',
    );
  }

  /** Parameters trained (the tied table counted once). */
  get parameterCount(): number {
    let n = 0;
    for (const v of this.vars.values()) n += v.size;
    return n;
  }

  /** Forward + backward of one batch: the mean next-token loss and the gradient of every weight. */
  private lossAndGrads(
    batch: LmBatch,
    targetWeights?: readonly (readonly number[])[],
  ): { loss: number; grads: Map<tf.Variable, tf.Tensor> } {
    const padded = weighted(padLmBatch(batch, this.config.vocabSize), targetWeights);
    const [B, T] = [padded.ids.length, padded.ids[0]!.length];
    const V = this.config.vocabSize;
    const flat = new Int32Array(B * T);
    padded.ids.forEach((row, b) => row.forEach((id, t) => (flat[b * T + t] = id)));
    const { value, grads } = tf.variableGrads(() => {
      // tfjs-wasm's OneHot writes int32 whatever dtype is asked: build int32, then cast.
      const onehot = tf.cast(tf.oneHot(tf.tensor1d(flat, 'int32'), V), 'float32');
      const rows = matmul(onehot, transposeLast(this.decoder.weights.lmHeadT));
      const embeds = tf.reshape(rows, [B, T, this.config.hiddenSize]) as tf.Tensor3D;
      const r = this.decoder.run({ ids: padded.ids, attentionMask: padded.mask, embeds, logits: 'all' });
      return lmLossTensor(r.logits as tf.Tensor3D, padded);
    }, this.opt.varList);
    const loss = value.dataSync()[0] as number;
    value.dispose();
    const collected = this.opt.collect(grads);
    if (!Number.isFinite(loss)) {
      for (const g of collected.values()) g.dispose();
      throw new NumericsError('NON_FINITE_LOSS', `pretraining loss is ${loss} at step ${this.step}`);
    }
    return { loss, grads: collected };
  }

  /** The loss and host copies of every weight's gradient by HF name (gradients as stored: [in, out]). */
  computeLossAndGrads(batch: LmBatch): { loss: number; grads: Map<string, Float32Array> } {
    const { loss, grads } = this.lossAndGrads(batch);
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.vars) {
      const g = grads.get(v);
      out.set(name, g ? (g.dataSync() as Float32Array).slice() : new Float32Array(v.size));
    }
    for (const g of grads.values()) g.dispose();
    return { loss, grads: out };
  }

  /** One optimizer step on `batch`; returns the mean next-token loss before the update. */
  trainStep(
    batch: LmBatch,
    /** Per row, the weight of the target at each position (the token it predicts); default 1 everywhere. */
    targetWeights?: readonly (readonly number[])[],
  ): { loss: number; lr: number; gradNorm: number | null } {
    const lr = scheduledLr(this.options, this.step);
    this.opt.setLearningRate(lr);
    const { loss, grads } = this.lossAndGrads(batch, targetWeights);
    const res = this.opt.accumulate(grads);
    this.step++;
    return { loss, lr, gradNorm: res.gradNorm ?? null };
  }

  /**
   * Continue from saved weights (HF names and layouts, e.g. a `model.safetensors` this class wrote): every
   * trained tensor is read and checked against its shape.
   */
  async loadWeights(src: {
    info(name: string): { shape: readonly number[] } | undefined;
    readFloat32(name: string): Promise<Float32Array> | Float32Array;
  }): Promise<void> {
    for (const [name, v] of this.vars) {
      const want = v.rank === 2 ? [v.shape[1]!, v.shape[0]!] : [...v.shape];
      const got = src.info(name)?.shape;
      if (!got || got.length !== want.length || got.some((d, i) => d !== want[i])) {
        throw new InvalidArgumentError(
          'INVALID_ARGUMENT',
          `pretraining: cannot continue from weights: "${name}" has shape [${got?.join(', ') ?? 'missing'}], expected [${want.join(', ')}]`,
          { field: name },
        );
      }
      const data = await src.readFloat32(name);
      const t = tf.tidy(() => {
        const x = tf.tensor(data, want);
        return v.rank === 2 ? tf.transpose(x) : x;
      });
      v.assign(t);
      t.dispose();
    }
  }

  /** The weights as HF tensors (float32, [out, in]; the tied embedding once). */
  tensors(): Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> {
    const out = new Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>();
    for (const [name, v] of this.vars) {
      const t = v.rank === 2 ? tf.transpose(v) : v;
      out.set(name, { dtype: 'F32', shape: [...t.shape], data: (t.dataSync() as Float32Array).slice() });
      if (t !== v) t.dispose();
    }
    return out;
  }

  /** Write `model.safetensors` (HF names, sorted) to `file`. */
  async save(file: string, metadata: Record<string, string> = {}): Promise<void> {
    await writeSafetensors(file, this.tensors(), { format: 'pt', ...metadata });
  }

  dispose(): void {
    this.opt.dispose();
    for (const v of this.vars.values()) v.dispose();
  }
}

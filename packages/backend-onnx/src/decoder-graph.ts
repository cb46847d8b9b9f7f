/**
 * The decoder as an ONNX graph: Llama, Mistral, Qwen2 and Gemma-2 (GQA/MQA, RoPE with core's scaled
 * frequencies, sliding windows, soft-capping, Gemma's (1 + w) norms and sandwich norms), the same
 * operations in the same order as backend-tfjs' `Decoder.run`, so every hook point sees what the HF module
 * outputs.
 *
 * Inputs and outputs follow Optimum's decoder layout (what transformers.js and onnxruntime-genai load):
 *   input_ids [batch, sequence] int64, attention_mask [batch, past + sequence] int64,
 *   position_ids [batch, sequence] int64, past_key_values.{i}.key|value [batch, kv_heads, past, head_dim];
 *   logits [batch, sequence, vocab], present.{i}.key|value [batch, kv_heads, past + sequence, head_dim].
 * Optional outputs `hook.<module path>` carry hooked module outputs [batch, sequence, width].
 *
 * Masks are built in the graph from `attention_mask`: key s is visible to query q (at cache index
 * past + t) iff s <= q, attention_mask[s] = 1 and, on sliding layers, s > q - window; hidden keys get
 * float32's minimum added, as transformers' eager attention does.
 */
import { ropeFrequencies, type DecoderConfig, type HostTensor, type StopPoint } from '@soo/core';
import { GraphBuilder } from './graph-builder.js';
import { DataType } from './onnx-proto.js';

/** `torch.finfo(torch.float32).min`. */
export const MASK_MIN = -3.4028234663852886e38;

/** The opset the graphs are written for. */
export const OPSET = 17;

/** How a graph's hooked output is changed on each run (values arrive as graph inputs). */
export type GraphIntervention =
  /** + `intervention.<name>` [width] */
  | { name: string; kind: 'add' }
  /** x `intervention.<name>` [] */
  | { name: string; kind: 'scale' }
  /** exact zeros */
  | { name: string; kind: 'zero' }
  /** replaced by `intervention.<name>` [batch, sequence, width] */
  | { name: string; kind: 'patch' };

export interface DecoderGraphOptions {
  /** `kv`: Optimum's layout with past/present; `plain`: one pass without a cache. */
  mode: 'kv' | 'plain';
  logits: 'all' | 'last' | 'none';
  /** Stop after this point (with `logits: 'none'`). */
  stop: StopPoint | null;
  /** Hook names whose outputs become `hook.<name>` outputs. */
  captures: readonly string[];
  interventions: readonly GraphIntervention[];
  /**
   * RoPE inverse frequencies: baked in (`constant`, from core's `ropeFrequencies`), or fed on each run as
   * input `rope.inv_freq` [head_dim / 2] (dynamic NTK scaling, checkpoint-dtype buffers).
   */
  rope: 'constant' | 'input';
  /** Gemma-2's embedding multiplier as applied (rounded to the buffer dtype by the caller); 1 otherwise. */
  embedMultiplier: number;
}

export interface DecoderGraph {
  builder: GraphBuilder;
  /** Hook names the graph computes (before the stop point), in forward order. */
  reached: string[];
}

/** Output name of a hook capture. */
export const hookOutputName = (hook: string): string => `hook.${hook}`;
/** Input name of an intervention's value. */
export const interventionInputName = (hook: string): string => `intervention.${hook}`;

export function buildDecoderGraph(
  cfg: DecoderConfig,
  weights: ReadonlyMap<string, HostTensor>,
  o: DecoderGraphOptions,
): DecoderGraph {
  const g = new GraphBuilder(OPSET);
  const H = cfg.hiddenSize;
  const nH = cfg.numHeads;
  const nKv = cfg.numKvHeads;
  const D = cfg.headDim;
  const V = cfg.vocabSize;
  const reached: string[] = [];
  const captures = new Set(o.captures);
  const interventions = new Map(o.interventions.map((i) => [i.name, i]));

  const used = new Set<string>();
  const weight = (name: string): string => {
    if (!used.has(name)) {
      const t = weights.get(name);
      if (!t) throw new Error(`decoder graph: weight "${name}" missing`);
      g.initializer(name, t.data, t.shape);
      used.add(name);
    }
    return name;
  };
  const hasWeight = (name: string): boolean => weights.has(name);

  // Inputs.
  const ids = g.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  const positions = g.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const past: Array<{ k: string; v: string }> = [];
  if (o.mode === 'kv')
    for (let i = 0; i < cfg.numLayers; i++)
      past.push({
        k: g.input(`past_key_values.${i}.key`, DataType.FLOAT, [
          'batch_size',
          nKv,
          'past_sequence_length',
          D,
        ]),
        v: g.input(`past_key_values.${i}.value`, DataType.FLOAT, [
          'batch_size',
          nKv,
          'past_sequence_length',
          D,
        ]),
      });
  const invFreqInput = o.rope === 'input' ? g.input('rope.inv_freq', DataType.FLOAT, [D / 2]) : null;

  // Shapes: [B, T] and [B, T, w].
  const idsShape = g.op('Shape', [ids]);
  const bt = g.op('Slice', [idsShape, g.ints([0]), g.ints([2])]);
  const shape3 = new Map<number, string>();
  const btw = (w: number): string => {
    let s = shape3.get(w);
    if (!s) {
      s = g.op('Concat', [bt, g.ints([w])], { axis: 0 });
      shape3.set(w, s);
    }
    return s;
  };

  // Hook outputs go after logits and presents (Optimum's outputs first).
  const hookOutputs: Array<[string, string, number]> = [];
  const emit = (name: string, x: string, width: number): string => {
    reached.push(name);
    const iv = interventions.get(name);
    if (iv) {
      const input = interventionInputName(name);
      switch (iv.kind) {
        case 'add':
          x = g.op('Add', [x, g.input(input, DataType.FLOAT, [width])]);
          break;
        case 'scale':
          x = g.op('Mul', [x, g.input(input, DataType.FLOAT, [])]);
          break;
        case 'zero':
          x = g.op('ConstantOfShape', [g.op('Shape', [x])], {
            value: { tensor: { dims: [1], dataType: DataType.FLOAT, bytes: new Uint8Array(4) } },
          });
          break;
        case 'patch':
          x = g.input(input, DataType.FLOAT, ['batch_size', 'sequence_length', width]);
          break;
      }
    }
    if (captures.has(name)) hookOutputs.push([name, x, width]);
    return x;
  };

  const rmsNorm = (x: string, w: string): string => {
    const variance = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(cfg.rmsNormEps)])])]);
    const scale = cfg.normStyle === 'gemma' ? g.op('Add', [weight(w), g.scalar(1)]) : weight(w);
    return g.op('Mul', [g.op('Mul', [x, inv]), scale]);
  };

  /** nn.Linear on [B, T, in] -> [B, T, out] (HF weight [out, in], Gemm with transB). */
  const linear = (x: string, path: string, inW: number, outW: number, bias: boolean): string => {
    const flat = g.op('Reshape', [x, g.ints([-1, inW])]);
    const inputs = [flat, weight(`${path}.weight`)];
    if (bias) inputs.push(weight(`${path}.bias`));
    const y = g.op('Gemm', inputs, { transB: 1 });
    return emit(path, g.op('Reshape', [y, btw(outW)]), outW);
  };

  const activation = (x: string): string => {
    switch (cfg.activation) {
      case 'silu':
        return g.op('Mul', [x, g.op('Sigmoid', [x])]);
      case 'gelu_pytorch_tanh': {
        const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
        const inner = g.op('Mul', [
          g.op('Add', [x, g.op('Mul', [cube, g.scalar(0.044715)])]),
          g.scalar(Math.sqrt(2 / Math.PI)),
        ]);
        return g.op('Mul', [
          g.op('Mul', [x, g.scalar(0.5)]),
          g.op('Add', [g.op('Tanh', [inner]), g.scalar(1)]),
        ]);
      }
      case 'gelu':
        return g.op('Mul', [
          g.op('Mul', [x, g.scalar(0.5)]),
          g.op('Add', [g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2)])]), g.scalar(1)]),
        ]);
    }
  };

  const softcap = (x: string, cap: number | null): string =>
    cap === null ? x : g.op('Mul', [g.op('Tanh', [g.op('Div', [x, g.scalar(cap)])]), g.scalar(cap)]);

  // Embeddings.
  const embedName = hasWeight('model.embed_tokens.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const raw = emit('model.embed_tokens', g.op('Gather', [weight(embedName), ids], { axis: 0 }), H);
  let h = o.embedMultiplier === 1 ? raw : g.op('Mul', [raw, g.scalar(o.embedMultiplier)]);

  const stop = o.stop;
  const lastLayer = stop ? stop.layer : cfg.numLayers - 1;
  const presents: Array<{ k: string; v: string }> = [];

  if (lastLayer >= 0) {
    // RoPE tables [B, 1, T, D]: cos/sin of position * inv_freq, each half repeated, times the scaling.
    const freq = ropeFrequencies(cfg, 0, 'float32');
    const invFreq = invFreqInput ?? g.initializer('rope.inv_freq', freq.invFreq, [D / 2]);
    const posF = g.op('Unsqueeze', [g.op('Cast', [positions], { to: DataType.FLOAT }), g.ints([-1])]);
    const angles = g.op('Mul', [posF, invFreq]);
    const emb = g.op('Concat', [angles, angles], { axis: -1 });
    let cos = g.op('Cos', [emb]);
    let sin = g.op('Sin', [emb]);
    if (freq.attentionScaling !== 1) {
      cos = g.op('Mul', [cos, g.scalar(freq.attentionScaling)]);
      sin = g.op('Mul', [sin, g.scalar(freq.attentionScaling)]);
    }
    cos = g.op('Unsqueeze', [cos, g.ints([1])]);
    sin = g.op('Unsqueeze', [sin, g.ints([1])]);
    const halves = g.ints([D / 2, D / 2]);
    const rope = (x: string): string => {
      const [x1, x2] = g.node('Split', [x, halves], { axis: 3 }, 2) as [string, string];
      const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: 3 });
      return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
    };

    // Additive masks [B, 1, T, S], one per window size.
    const S = g.op('Shape', [mask], { start: 1, end: 2 });
    const T = g.op('Shape', [ids], { start: 1, end: 2 });
    const pastLen = g.op('Sub', [S, T]);
    const toScalar = (x: string): string => g.op('Squeeze', [x, g.ints([0])]);
    const qIdx = g.op('Unsqueeze', [
      g.op('Range', [toScalar(pastLen), toScalar(S), g.ints([1], [])]),
      g.ints([1]),
    ]); // [T, 1]
    const kIdx = g.op('Unsqueeze', [
      g.op('Range', [g.ints([0], []), toScalar(S), g.ints([1], [])]),
      g.ints([0]),
    ]); // [1, S]
    const keyReal = g.op('Unsqueeze', [g.op('Cast', [mask], { to: DataType.BOOL }), g.ints([1, 2])]); // [B,1,1,S]
    const causal = g.op('LessOrEqual', [kIdx, qIdx]); // [T, S]
    const masks = new Map<number | null, string>();
    const maskFor = (window: number | null): string => {
      let m = masks.get(window);
      if (!m) {
        let visible = causal;
        if (window !== null)
          visible = g.op('And', [
            visible,
            g.op('Greater', [kIdx, g.op('Sub', [qIdx, g.ints([window], [])])]),
          ]);
        visible = g.op('And', [keyReal, visible]);
        m = g.op('Where', [visible, g.scalar(0), g.scalar(MASK_MIN)]);
        masks.set(window, m);
      }
      return m;
    };

    for (let i = 0; i <= lastLayer && i < cfg.numLayers; i++) {
      const p = `model.layers.${i}`;
      const window = cfg.layerTypes[i] === 'sliding_attention' ? cfg.slidingWindow : null;
      const sandwich = cfg.sandwichNorms;

      // Attention.
      const residual = h;
      const x = emit(`${p}.input_layernorm`, rmsNorm(h, `${p}.input_layernorm.weight`), H);
      const heads = (y: string, n: number): string =>
        g.op('Transpose', [g.op('Reshape', [y, g.ints([0, 0, n, D])])], { perm: [0, 2, 1, 3] });
      const q = heads(linear(x, `${p}.self_attn.q_proj`, H, nH * D, cfg.qkvBias), nH);
      let k = heads(linear(x, `${p}.self_attn.k_proj`, H, nKv * D, cfg.qkvBias), nKv);
      let v = heads(linear(x, `${p}.self_attn.v_proj`, H, nKv * D, cfg.qkvBias), nKv);
      const qr = rope(q);
      k = rope(k);
      const pv = past[i];
      if (pv) {
        k = g.op('Concat', [pv.k, k], { axis: 2 });
        v = g.op('Concat', [pv.v, v], { axis: 2 });
        presents.push({ k, v });
      }
      // GQA without copying k/v: query heads [kv, g] share kv head `kv`; fold g into the query axis.
      const qg = g.op('Reshape', [qr, g.ints([0, nKv, -1, D])]);
      let scores = g.op('Mul', [
        g.op('MatMul', [qg, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]),
        g.scalar(cfg.attentionScale),
      ]);
      scores = g.op('Reshape', [scores, g.ints([0, nH, -1, 0])]);
      scores = softcap(scores, cfg.attnLogitSoftcapping);
      scores = g.op('Add', [scores, maskFor(window)]);
      const probs = g.op('Reshape', [g.op('Softmax', [scores], { axis: -1 }), g.ints([0, nKv, -1, 0])]);
      const ctx = g.op('Reshape', [g.op('MatMul', [probs, v]), g.ints([0, nH, -1, D])]);
      const merged = g.op('Reshape', [
        g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }),
        g.ints([0, 0, nH * D]),
      ]);
      let a = linear(merged, `${p}.self_attn.o_proj`, nH * D, H, cfg.oProjBias);
      a = emit(`${p}.self_attn`, a, H);
      if (stop && i === stop.layer && stop.stage === 'attn') break;
      if (sandwich)
        a = emit(`${p}.post_attention_layernorm`, rmsNorm(a, `${p}.post_attention_layernorm.weight`), H);
      h = g.op('Add', [residual, a]);

      // MLP.
      const residual2 = h;
      const y = sandwich
        ? emit(`${p}.pre_feedforward_layernorm`, rmsNorm(h, `${p}.pre_feedforward_layernorm.weight`), H)
        : emit(`${p}.post_attention_layernorm`, rmsNorm(h, `${p}.post_attention_layernorm.weight`), H);
      const I = cfg.intermediateSize;
      const gate = linear(y, `${p}.mlp.gate_proj`, H, I, cfg.mlpBias);
      const up = linear(y, `${p}.mlp.up_proj`, H, I, cfg.mlpBias);
      let m = linear(g.op('Mul', [activation(gate), up]), `${p}.mlp.down_proj`, I, H, cfg.mlpBias);
      m = emit(`${p}.mlp`, m, H);
      if (sandwich)
        m = emit(`${p}.post_feedforward_layernorm`, rmsNorm(m, `${p}.post_feedforward_layernorm.weight`), H);
      h = emit(p, g.op('Add', [residual2, m]), H);
    }
  }

  if (stop === null) {
    h = emit('model.norm', rmsNorm(h, 'model.norm.weight'), H);
    if (o.logits !== 'none') {
      const src = o.logits === 'last' ? g.op('Slice', [h, g.ints([-1]), g.ints([2 ** 62]), g.ints([1])]) : h;
      const flat = g.op('Reshape', [src, g.ints([-1, H])]);
      const head = hasWeight('lm_head.weight') ? 'lm_head.weight' : 'model.embed_tokens.weight';
      const bv = g.op('Concat', [g.op('Shape', [ids], { start: 0, end: 1 }), g.ints([-1, V])], { axis: 0 });
      let z = g.op('Reshape', [g.op('Gemm', [flat, weight(head)], { transB: 1 }), bv]);
      z = emit('lm_head', z, V);
      const logits = softcap(z, cfg.finalLogitSoftcapping);
      g.output('logits', logits, DataType.FLOAT, [
        'batch_size',
        o.logits === 'last' ? 1 : 'sequence_length',
        V,
      ]);
    }
  }
  presents.forEach((pr, i) => {
    g.output(`present.${i}.key`, pr.k, DataType.FLOAT, ['batch_size', nKv, 'total_sequence_length', D]);
    g.output(`present.${i}.value`, pr.v, DataType.FLOAT, ['batch_size', nKv, 'total_sequence_length', D]);
  });
  for (const [name, x, width] of hookOutputs)
    g.output(hookOutputName(name), x, DataType.FLOAT, ['batch_size', 'sequence_length', width]);
  return { builder: g, reached };
}

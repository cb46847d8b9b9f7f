/**
 * The trainable parameters of a tfjs model under their contract names, and the layout each is stored in:
 * LoRA A/B as PEFT keys (stored as is), or with `trainable: 'all'` every base weight by HF key (Linear
 * weights stored transposed, Gemma's norms stored as the effective 1 + w). `toHost` / `fromHost` convert
 * between the stored layout and the HF one; gradients and AdamW moments only need the transpose.
 */
import * as tf from '@tensorflow/tfjs';
import { peftKey, type HostTensor } from '@soo/core/browser';
import type { DecoderWeights } from './model.js';
import { linearModules } from './weights.js';

export interface Param {
  name: string;
  variable: tf.Variable;
  /** HF / PEFT shape. */
  shape: number[];
  /** Stored as the transpose of `shape`. */
  transposed: boolean;
  /** Stored value = HF value + offset (Gemma's 1 + w norms). */
  offset: number;
}

let counter = 0;

/** A fresh trainable variable holding a copy of `t` (tfjs variable names are global: make each unique). */
export function newVariable(t: tf.Tensor, label: string): tf.Variable {
  counter += 1;
  return tf.variable(t, true, `soo_${counter}_${label}`);
}

/** A trainable variable from host values; the staging tensor is freed. */
export function variableFrom(data: Float32Array, shape: number[], label: string): tf.Variable {
  const t = tf.tensor(data, shape, 'float32');
  const v = newVariable(t, label);
  t.dispose();
  return v;
}

export function loraParams(weights: DecoderWeights): Param[] {
  return linearModules(weights).flatMap((lin) =>
    lin.lora
      ? [
          {
            name: peftKey(lin.path, 'A'),
            variable: lin.lora.A,
            shape: [...lin.lora.A.shape],
            transposed: false,
            offset: 0,
          },
          {
            name: peftKey(lin.path, 'B'),
            variable: lin.lora.B,
            shape: [...lin.lora.B.shape],
            transposed: false,
            offset: 0,
          },
        ]
      : [],
  );
}

/** Turn every base weight into a trainable variable (in place) and list them by HF key. */
export function makeBaseTrainable(weights: DecoderWeights, tied: boolean, gemmaNorms: boolean): Param[] {
  const out: Param[] = [];
  const v = (t: tf.Tensor, name: string, transposed: boolean, offset = 0): tf.Variable => {
    const variable = newVariable(t, name);
    t.dispose();
    out.push({
      name,
      variable,
      shape: transposed ? [...t.shape].reverse() : [...t.shape],
      transposed,
      offset,
    });
    return variable;
  };
  if (weights.embed)
    weights.embed = v(weights.embed, 'model.embed_tokens.weight', false) as tf.Variable & tf.Tensor2D;
  weights.lmHeadT = v(
    weights.lmHeadT,
    tied ? 'model.embed_tokens.weight' : 'lm_head.weight',
    true,
  ) as tf.Variable & tf.Tensor2D;
  const normOffset = gemmaNorms ? 1 : 0;
  weights.layers.forEach((L, i) => {
    const p = `model.layers.${i}`;
    for (const lin of [L.q, L.k, L.v, L.o, L.gate, L.up, L.down]) {
      lin.weightT = v(lin.weightT, `${lin.path}.weight`, true) as tf.Variable & tf.Tensor2D;
      if (lin.bias) lin.bias = v(lin.bias, `${lin.path}.bias`, false) as tf.Variable & tf.Tensor1D;
    }
    L.inputNorm = v(L.inputNorm, `${p}.input_layernorm.weight`, false, normOffset) as tf.Variable &
      tf.Tensor1D;
    L.postAttnNorm = v(
      L.postAttnNorm,
      `${p}.post_attention_layernorm.weight`,
      false,
      normOffset,
    ) as tf.Variable & tf.Tensor1D;
    if (L.preFfnNorm)
      L.preFfnNorm = v(
        L.preFfnNorm,
        `${p}.pre_feedforward_layernorm.weight`,
        false,
        normOffset,
      ) as tf.Variable & tf.Tensor1D;
    if (L.postFfnNorm)
      L.postFfnNorm = v(
        L.postFfnNorm,
        `${p}.post_feedforward_layernorm.weight`,
        false,
        normOffset,
      ) as tf.Variable & tf.Tensor1D;
  });
  weights.finalNorm = v(weights.finalNorm, 'model.norm.weight', false, normOffset) as tf.Variable &
    tf.Tensor1D;
  return out;
}

/** A stored-layout tensor as an HF-layout host tensor (`withOffset`: values, not gradients or moments). */
export function toHost(p: Param, t: tf.Tensor, withOffset: boolean): HostTensor {
  const data = tf.tidy(() => {
    let x = p.transposed ? tf.transpose(t) : t;
    if (withOffset && p.offset !== 0) x = tf.sub(x, p.offset);
    return x === t ? t.clone() : x;
  });
  const out = { data: data.dataSync() as Float32Array, shape: [...p.shape] };
  data.dispose();
  return out;
}

/** An HF-layout host tensor in the stored layout. */
export function fromHost(p: Param, h: HostTensor, withOffset: boolean): tf.Tensor {
  return tf.tidy(() => {
    let x: tf.Tensor = tf.tensor(h.data, p.shape, 'float32');
    if (p.transposed) x = tf.transpose(x);
    if (withOffset && p.offset !== 0) x = tf.add(x, p.offset);
    return x;
  });
}

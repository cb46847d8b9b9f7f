/**
 * HF checkpoint tensors -> `DecoderWeights` on the active tf backend. Every weight becomes float32 on load
 * (bf16/f16 are widened exactly by core's safetensors reader); shapes are checked against the config.
 */
import * as tf from '@tensorflow/tfjs';
import { FormatError, type DecoderConfig, type WeightSource } from '@soo/core/browser';
import type { DecoderWeights, LayerWeights, LinearWeights } from './model.js';

/**
 * Read every weight of `config`'s decoder from `src` into float32 tensors. `activate` runs right before each
 * tensor is created (after the async read), so the tensors land on the model's tfjs backend.
 */
export async function loadDecoderWeights(
  config: DecoderConfig,
  src: WeightSource,
  file = 'model weights',
  activate: () => void = () => undefined,
): Promise<DecoderWeights> {
  const created: tf.Tensor[] = [];
  const read = async (name: string, shape: number[]): Promise<Float32Array> => {
    const got = src.shape(name);
    if (got === null) {
      throw new FormatError(
        'WEIGHTS_MISSING',
        `${file}: tensor "${name}" is missing; expected shape [${shape.join(', ')}]`,
        {
          file,
          field: name,
        },
      );
    }
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new FormatError(
        'WEIGHTS_SHAPE',
        `${file}: tensor "${name}" has shape [${got.join(', ')}], expected [${shape.join(', ')}]`,
        {
          file,
          field: name,
        },
      );
    }
    const data = await src.readFloat32(name);
    activate();
    return data;
  };
  const t2 = async (name: string, shape: [number, number]): Promise<tf.Tensor2D> => {
    const t = tf.tensor2d(await read(name, shape), shape, 'float32');
    created.push(t);
    return t;
  };
  /** A [rows, cols] weight stored transposed, [cols, rows]. */
  const t2T = async (name: string, shape: [number, number]): Promise<tf.Tensor2D> => {
    const w = tf.tensor2d(await read(name, shape), shape, 'float32');
    const t = tf.transpose(w);
    w.dispose();
    created.push(t);
    return t;
  };
  const norm = async (name: string): Promise<tf.Tensor1D> => {
    const data = await read(name, [config.hiddenSize]);
    if (config.normStyle === 'gemma') {
      // Gemma's RMSNorm multiplies by (1 + w) computed in float32.
      for (let i = 0; i < data.length; i++) data[i] = Math.fround(1 + (data[i] as number));
    }
    const t = tf.tensor1d(data, 'float32');
    created.push(t);
    return t;
  };
  const bias = async (name: string, n: number, present: boolean): Promise<tf.Tensor1D | null> => {
    if (!present) return null;
    const t = tf.tensor1d(await read(name, [n]), 'float32');
    created.push(t);
    return t;
  };
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const linear = async (
    path: string,
    out: number,
    inp: number,
    hasBias: boolean,
  ): Promise<LinearWeights> => ({
    path,
    weightT: await t2T(`${path}.weight`, [out, inp]),
    bias: await bias(`${path}.bias`, out, hasBias),
    lora: null,
  });

  try {
    // Tied: keep only the transpose; the embedding lookup gathers its columns.
    const embed = config.tieWordEmbeddings
      ? null
      : await t2('model.embed_tokens.weight', [config.vocabSize, H]);
    const lmHeadT = await t2T(config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight', [
      config.vocabSize,
      H,
    ]);
    const layers: LayerWeights[] = [];
    for (let i = 0; i < config.numLayers; i++) {
      const p = `model.layers.${i}`;
      layers.push({
        inputNorm: await norm(`${p}.input_layernorm.weight`),
        postAttnNorm: await norm(`${p}.post_attention_layernorm.weight`),
        preFfnNorm: config.sandwichNorms ? await norm(`${p}.pre_feedforward_layernorm.weight`) : null,
        postFfnNorm: config.sandwichNorms ? await norm(`${p}.post_feedforward_layernorm.weight`) : null,
        q: await linear(`${p}.self_attn.q_proj`, qDim, H, config.qkvBias),
        k: await linear(`${p}.self_attn.k_proj`, kvDim, H, config.qkvBias),
        v: await linear(`${p}.self_attn.v_proj`, kvDim, H, config.qkvBias),
        o: await linear(`${p}.self_attn.o_proj`, H, qDim, config.oProjBias),
        gate: await linear(`${p}.mlp.gate_proj`, I, H, config.mlpBias),
        up: await linear(`${p}.mlp.up_proj`, I, H, config.mlpBias),
        down: await linear(`${p}.mlp.down_proj`, H, I, config.mlpBias),
      });
    }
    const finalNorm = await norm('model.norm.weight');
    return { embed, lmHeadT, finalNorm, layers };
  } catch (e) {
    for (const t of created) t.dispose();
    throw e;
  }
}

/** Every linear module of a decoder, in layer order. */
export function linearModules(weights: DecoderWeights): LinearWeights[] {
  return weights.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]);
}

/** Dispose every tensor of a decoder's weights (LoRA variables included). */
export function disposeDecoderWeights(weights: DecoderWeights): void {
  const seen = new Set<tf.Tensor>();
  const drop = (t: tf.Tensor | null | undefined): void => {
    if (t && !seen.has(t)) {
      seen.add(t);
      t.dispose();
    }
  };
  drop(weights.embed);
  drop(weights.lmHeadT);
  drop(weights.finalNorm);
  for (const l of weights.layers) {
    drop(l.inputNorm);
    drop(l.postAttnNorm);
    drop(l.preFfnNorm);
    drop(l.postFfnNorm);
  }
  for (const lin of linearModules(weights)) {
    drop(lin.weightT);
    drop(lin.bias);
    drop(lin.lora?.A);
    drop(lin.lora?.B);
  }
}

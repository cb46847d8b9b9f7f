/**
 * LoRA on the decoder's linear modules, with PEFT's semantics: `y = W x + b + scaling * B (A dropout(x))`,
 * A [r, in] kaiming-uniform (a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in))), B [out, r] zeros; keys and
 * files exactly as PEFT writes them (core's `adapter.ts`).
 */
import * as tf from '@tensorflow/tfjs';
import {
  InvalidArgumentError,
  Rng,
  freshLoraConfig,
  isLoraTarget,
  loraModules,
  peftKey,
  type AdapterSnapshot,
  type AttachLoraOptions,
  type HostTensor,
  type LoraAdapter,
  type LoraAdapterConfig,
} from '@soo/core';
import type { DecoderWeights, LinearWeights, LoraWeights } from './model.js';
import { linearModules } from './weights.js';

/** The linear-module suffixes PEFT's 'all-linear' expands to in these decoders (never lm_head). */
export const ALL_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

let variableCounter = 0;

/** tfjs variable names are global to the engine: make each one unique. */
function variable(data: Float32Array, shape: [number, number], label: string): tf.Variable {
  variableCounter += 1;
  const init = tf.tensor2d(data, shape, 'float32');
  const v = tf.variable(init, true, `soo_lora_${variableCounter}_${label}`);
  init.dispose(); // the variable holds its own reference to the data
  return v;
}

/** Drop every LoRA pair from the decoder, disposing its variables. */
export function removeLora(weights: DecoderWeights): void {
  for (const lin of linearModules(weights)) {
    if (lin.lora) {
      lin.lora.A.dispose();
      lin.lora.B.dispose();
      lin.lora = null;
    }
  }
}

/** The LoRA config `attachLora` options describe ('all-linear' expanded as PEFT expands it). */
export function configFromOptions(opts: AttachLoraOptions): LoraAdapterConfig {
  if (!Number.isInteger(opts.r) || opts.r <= 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `attachLora: r must be a positive integer, got ${opts.r}`,
      { field: 'r' },
    );
  }
  const dropout = opts.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `attachLora: dropout must be in [0, 1), got ${dropout}`,
      { field: 'dropout' },
    );
  }
  const targets = opts.targets === 'all-linear' ? ALL_LINEAR : opts.targets;
  return freshLoraConfig({
    r: opts.r,
    loraAlpha: opts.alpha,
    loraDropout: dropout,
    targetModules: Array.isArray(targets) ? [...targets] : targets,
    useRslora: opts.useRslora ?? false,
  });
}

/**
 * Attach fresh LoRA pairs on every targeted module. A is drawn from `Rng(seed).split(<PEFT key of A>)`
 * so each module's init depends only on the seed and its name.
 */
export function attachFreshLora(
  weights: DecoderWeights,
  config: LoraAdapterConfig,
  seed: number | string,
): number {
  removeLora(weights);
  const rng = new Rng(seed);
  let count = 0;
  for (const lin of linearModules(weights)) {
    if (!isLoraTarget(config, lin.path)) continue;
    const [inp, out] = lin.weightT.shape;
    const r = config.r;
    const bound = 1 / Math.sqrt(inp);
    const a = rng.split(peftKey(lin.path, 'A')).uniformArray(r * inp, -bound, bound);
    lin.lora = {
      A: variable(a, [r, inp], 'A'),
      B: variable(new Float32Array(out * r), [out, r], 'B'),
      scaling: config.useRslora ? config.loraAlpha / Math.sqrt(r) : config.loraAlpha / r,
      dropout: config.loraDropout,
    };
    count++;
  }
  if (count === 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `attachLora: targets ${JSON.stringify(config.targetModules)} match no linear module; modules are named like "${weights.layers[0]?.q.path ?? 'model.layers.0.self_attn.q_proj'}"`,
      { field: 'targets' },
    );
  }
  return count;
}

/** Load a PEFT adapter (already read and validated by core) onto the decoder's modules. */
export function attachAdapter(weights: DecoderWeights, adapter: LoraAdapter, file: string): void {
  const byPath = new Map<string, LinearWeights>(linearModules(weights).map((l) => [l.path, l]));
  const modules = loraModules(adapter, file);
  for (const m of modules) {
    const lin = byPath.get(m.modulePath);
    if (!lin) {
      throw new InvalidArgumentError(
        'ADAPTER_WEIGHTS',
        `${file}: module "${m.modulePath}" is not a linear module of this model; expected paths like "${weights.layers[0]?.q.path}"`,
        { file, field: peftKey(m.modulePath, 'A') },
      );
    }
    const [inp, out] = lin.weightT.shape;
    if (m.inFeatures !== inp || m.outFeatures !== out) {
      throw new InvalidArgumentError(
        'ADAPTER_WEIGHTS',
        `${file}: "${m.modulePath}" adapter is [${m.outFeatures} x ${m.inFeatures}], the base module is [${out} x ${inp}]`,
        { file, field: peftKey(m.modulePath, 'A') },
      );
    }
  }
  removeLora(weights);
  for (const m of modules) {
    const lin = byPath.get(m.modulePath) as LinearWeights;
    lin.lora = {
      A: variable(m.a.data, [m.rank, m.inFeatures], 'A'),
      B: variable(m.b.data, [m.outFeatures, m.rank], 'B'),
      scaling: m.scaling,
      dropout: adapter.config.loraDropout,
    };
  }
}

/** Every LoRA pair with its module path, in layer order. */
export function loraPairs(weights: DecoderWeights): Array<{ path: string; lora: LoraWeights }> {
  return linearModules(weights).flatMap((l) => (l.lora ? [{ path: l.path, lora: l.lora }] : []));
}

/** The trainable variables keyed by PEFT key, A then B per module. */
export function loraVariables(weights: DecoderWeights): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const { path, lora } of loraPairs(weights)) {
    out.set(peftKey(path, 'A'), lora.A);
    out.set(peftKey(path, 'B'), lora.B);
  }
  return out;
}

/** Copy the adapter to the host. */
export function snapshotAdapter(weights: DecoderWeights, config: LoraAdapterConfig): AdapterSnapshot {
  const tensors = new Map<string, HostTensor>();
  for (const [key, v] of loraVariables(weights)) {
    tensors.set(key, { data: v.dataSync() as Float32Array, shape: [...v.shape] });
  }
  return { config, tensors };
}

/** W += scaling * B A for every pair (W^T += scaling * A^T B^T here), then drop the pairs (PEFT merge_and_unload). */
export function mergeLora(weights: DecoderWeights): void {
  for (const lin of linearModules(weights)) {
    const l = lin.lora;
    if (!l) continue;
    const merged = tf.tidy(
      () =>
        tf.add(
          lin.weightT,
          tf.mul(tf.matMul(tf.transpose(l.A), tf.transpose(l.B)), l.scaling),
        ) as tf.Tensor2D,
    );
    lin.weightT.dispose();
    lin.weightT = merged;
  }
  removeLora(weights);
}

/**
 * Overwrite the adapter's values: exactly the current PEFT keys, each with its shape. Validates everything
 * before writing anything.
 */
export function setLoraValues(
  weights: DecoderWeights,
  tensors: ReadonlyMap<string, { data: Float32Array; shape: readonly number[] }>,
): void {
  const vars = loraVariables(weights);
  const bad = (key: string, msg: string): never => {
    throw new InvalidArgumentError('ADAPTER_WEIGHTS', `setAdapterTensors: "${key}" ${msg}`, { field: key });
  };
  for (const key of vars.keys())
    if (!tensors.has(key)) bad(key, 'is missing; expected every tensor of the current adapter');
  for (const [key, t] of tensors) {
    const v = vars.get(key);
    if (!v)
      return bad(
        key,
        `is not a tensor of the current adapter (it has ${vars.size}, e.g. "${[...vars.keys()][0]}")`,
      );
    if (
      t.shape.length !== v.shape.length ||
      t.shape.some((d, i) => d !== v.shape[i]) ||
      t.data.length !== v.size
    ) {
      bad(
        key,
        `has shape [${t.shape.join(', ')}] (${t.data.length} values), expected [${v.shape.join(', ')}]`,
      );
    }
  }
  for (const [key, t] of tensors) {
    const v = vars.get(key) as tf.Variable;
    const value = tf.tensor(t.data, v.shape, 'float32');
    v.assign(value);
    value.dispose();
  }
}

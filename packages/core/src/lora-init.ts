/**
 * A fresh LoRA adapter's initial values, computed once in core so every backend starts from the same
 * numbers: PEFT's default init, A [r, in] ~ kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in),
 * 1/sqrt(in)), B [out, r] = 0. A is drawn from `Rng(seed).split(<PEFT key of A>)`, so each module's values
 * depend only on the seed and its name. Also the adapter checks every backend relies on: the keys of an
 * adapter read from disk name linear modules of this model with matching shapes.
 */
import type { AdapterTensors, HostTensor } from './backend-spec.js';
import type { DecoderConfig } from './config-types.js';
import {
  freshLoraConfig,
  isLoraTarget,
  loraModules,
  peftKey,
  type LoraAdapter,
  type LoraAdapterConfig,
} from './adapter-parse.js';
import { InvalidArgumentError } from './errors.js';
import { expectedWeights } from './model-info.js';
import { Rng, type Seed } from './rng.js';

/** The linear-module suffixes PEFT's 'all-linear' expands to in these decoders (never lm_head). */
export const ALL_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** LoRA on every linear module matching `targets`, initialised as PEFT does. */
export interface AttachLoraOptions {
  r: number;
  alpha: number;
  /** Dropout on the LoRA branch's input during training (default 0). */
  dropout?: number;
  /** Module-name suffixes (e.g. ['q_proj', 'v_proj']), 'all-linear', or a full-match regex string. */
  targets: string[] | string;
  /** rsLoRA scaling alpha / sqrt(r). Default false. */
  useRslora?: boolean;
  /** Seed for the A matrices. */
  seed?: Seed;
}

/** Every linear module of the model: path, [out, in]. */
export function linearModuleShapes(config: DecoderConfig): Array<{ path: string; out: number; in: number }> {
  return expectedWeights(config)
    .filter((w) => w.role === 'linear')
    .map((w) => ({ path: w.name.slice(0, -'.weight'.length), out: w.shape[0]!, in: w.shape[1]! }));
}

/** The LoRA config the options describe ('all-linear' expanded as PEFT expands it). */
export function loraConfigFromOptions(opts: AttachLoraOptions): LoraAdapterConfig {
  if (!Number.isInteger(opts.r) || opts.r <= 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `attachLora: r must be a positive integer, got ${opts.r}`,
      {
        field: 'r',
      },
    );
  }
  const dropout = opts.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `attachLora: dropout must be in [0, 1), got ${dropout}`,
      {
        field: 'dropout',
      },
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

function scalingOf(config: LoraAdapterConfig): number {
  return config.useRslora ? config.loraAlpha / Math.sqrt(config.r) : config.loraAlpha / config.r;
}

/** A fresh adapter for `config`: its LoRA config and initial tensors. */
export function initLoraTensors(
  model: DecoderConfig,
  opts: AttachLoraOptions,
): { config: LoraAdapterConfig } & AdapterTensors {
  const config = loraConfigFromOptions(opts);
  const rng = new Rng(opts.seed ?? 0);
  const tensors = new Map<string, HostTensor>();
  const scaling = new Map<string, number>();
  const modules = linearModuleShapes(model);
  for (const m of modules) {
    if (!isLoraTarget(config, m.path)) continue;
    const r = config.r;
    const bound = 1 / Math.sqrt(m.in);
    const keyA = peftKey(m.path, 'A');
    tensors.set(keyA, { data: rng.split(keyA).uniformArray(r * m.in, -bound, bound), shape: [r, m.in] });
    tensors.set(peftKey(m.path, 'B'), { data: new Float32Array(m.out * r), shape: [m.out, r] });
    scaling.set(m.path, scalingOf(config));
  }
  if (scaling.size === 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `attachLora: targets ${JSON.stringify(config.targetModules)} match no linear module; modules are named like "${modules[0]?.path ?? 'model.layers.0.self_attn.q_proj'}"`,
      { field: 'targets' },
    );
  }
  return { config, scaling, tensors };
}

/** An adapter read from disk as backend tensors, checked against the model's linear modules. */
export function adapterTensors(model: DecoderConfig, adapter: LoraAdapter, file: string): AdapterTensors {
  const shapes = new Map(linearModuleShapes(model).map((m) => [m.path, m]));
  const tensors = new Map<string, HostTensor>();
  const scaling = new Map<string, number>();
  for (const m of loraModules(adapter, file)) {
    const lin = shapes.get(m.modulePath);
    if (!lin) {
      throw new InvalidArgumentError(
        'ADAPTER_WEIGHTS',
        `${file}: module "${m.modulePath}" is not a linear module of this model; expected paths like "${[...shapes.keys()][0]}"`,
        { file, field: peftKey(m.modulePath, 'A') },
      );
    }
    if (m.inFeatures !== lin.in || m.outFeatures !== lin.out) {
      throw new InvalidArgumentError(
        'ADAPTER_WEIGHTS',
        `${file}: "${m.modulePath}" adapter is [${m.outFeatures} x ${m.inFeatures}], the base module is [${lin.out} x ${lin.in}]`,
        { file, field: peftKey(m.modulePath, 'A') },
      );
    }
    tensors.set(peftKey(m.modulePath, 'A'), { data: m.a.data, shape: [m.rank, m.inFeatures] });
    tensors.set(peftKey(m.modulePath, 'B'), { data: m.b.data, shape: [m.outFeatures, m.rank] });
    scaling.set(m.modulePath, m.scaling);
  }
  return { scaling, tensors };
}

/**
 * Fresh base weights for full-parameter training, as transformers' `_init_weights`: every Linear and the
 * embedding ~ N(0, initStd), biases 0, RMSNorm weights 1 (0 for Gemma's (1 + w) norms). Each tensor is
 * drawn from `Rng(seed).split('init').split(<HF key>)`.
 */
export function initDecoderWeights(
  model: DecoderConfig,
  seed: Seed,
  initStd = 0.02,
): Map<string, HostTensor> {
  const rng = new Rng(seed).split('init');
  const out = new Map<string, HostTensor>();
  for (const w of expectedWeights(model)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (w.role === 'norm') data = new Float32Array(n).fill(model.normStyle === 'gemma' ? 0 : 1);
    else if (w.role === 'bias') data = new Float32Array(n);
    else data = rng.split(w.name).normalArray(n, 0, initStd);
    out.set(w.name, { data, shape: [...w.shape] });
  }
  return out;
}

/**
 * The hook-point vocabulary: where a backend can read (capture) or rewrite (replace) an intermediate output.
 *
 * A hook point's canonical name is the Hugging Face module path, so names carry over from PyTorch code and PEFT
 * `target_modules`: `model.layers.19.self_attn.o_proj`. The hooked value is always that module's forward
 * output, with transformers' semantics:
 * - `model.embed_tokens`: the raw embedding lookup. Gemma-2's sqrt(hidden) multiplier is applied after this
 *   module (in Gemma2Model.forward), so it is not part of this output.
 * - `model.layers.{i}`: the block output (the residual stream after the block).
 * - `model.layers.{i}.self_attn`: the attention module's output, which is o_proj's output (before the
 *   residual add; before Gemma-2's post-attention norm).
 * - `model.layers.{i}.mlp`: the MLP's output, i.e. down_proj's output.
 * - Norms: `input_layernorm` feeds attention. `post_attention_layernorm` feeds the MLP in Llama, Mistral and
 *   Qwen2, but in Gemma-2 it normalises the attention output before the residual add; there
 *   `pre_feedforward_layernorm` feeds the MLP and `post_feedforward_layernorm` normalises the MLP output.
 * - `model.norm`: the final norm (the last entry of `output_hidden_states`); `lm_head`: the logits before
 *   Gemma-2's final soft-capping.
 * All outputs are [batch, tokens, width].
 */
import type { DecoderConfig } from './config-types.js';
import { HookError, InvalidArgumentError } from './errors.js';
import type { StopPoint } from './backend-spec.js';

export type HookKind = 'embedding' | 'block' | 'norm' | 'attention' | 'mlp' | 'linear';

/** The module a hook point names (the last component of its path; `block` for `model.layers.{i}`). */
export type HookModule =
  | 'embed_tokens'
  | 'block'
  | 'input_layernorm'
  | 'self_attn'
  | 'q_proj'
  | 'k_proj'
  | 'v_proj'
  | 'o_proj'
  | 'post_attention_layernorm'
  | 'pre_feedforward_layernorm'
  | 'post_feedforward_layernorm'
  | 'mlp'
  | 'gate_proj'
  | 'up_proj'
  | 'down_proj'
  | 'norm'
  | 'lm_head';

export interface HookPoint {
  /** Canonical name: the Hugging Face module path. */
  name: string;
  kind: HookKind;
  module: HookModule;
  /** Decoder layer index; null for embeddings, the final norm and lm_head. */
  layer: number | null;
  /** Size of the output's last dimension. */
  width: number;
}

/** Per-layer hook points relative to `model.layers.{i}`, in forward order ('' = the block itself). */
interface LayerEntry {
  suffix: string;
  kind: HookKind;
  module: HookModule;
  width: (c: DecoderConfig) => number;
  /** Only in Gemma-2-style blocks with four norms. */
  sandwichOnly?: boolean;
}

const hidden = (c: DecoderConfig): number => c.hiddenSize;

const LAYER_ENTRIES: readonly LayerEntry[] = [
  { suffix: 'input_layernorm', kind: 'norm', module: 'input_layernorm', width: hidden },
  { suffix: 'self_attn.q_proj', kind: 'linear', module: 'q_proj', width: (c) => c.numHeads * c.headDim },
  { suffix: 'self_attn.k_proj', kind: 'linear', module: 'k_proj', width: (c) => c.numKvHeads * c.headDim },
  { suffix: 'self_attn.v_proj', kind: 'linear', module: 'v_proj', width: (c) => c.numKvHeads * c.headDim },
  { suffix: 'self_attn.o_proj', kind: 'linear', module: 'o_proj', width: hidden },
  { suffix: 'self_attn', kind: 'attention', module: 'self_attn', width: hidden },
  { suffix: 'post_attention_layernorm', kind: 'norm', module: 'post_attention_layernorm', width: hidden },
  {
    suffix: 'pre_feedforward_layernorm',
    kind: 'norm',
    module: 'pre_feedforward_layernorm',
    width: hidden,
    sandwichOnly: true,
  },
  { suffix: 'mlp.gate_proj', kind: 'linear', module: 'gate_proj', width: (c) => c.intermediateSize },
  { suffix: 'mlp.up_proj', kind: 'linear', module: 'up_proj', width: (c) => c.intermediateSize },
  { suffix: 'mlp.down_proj', kind: 'linear', module: 'down_proj', width: hidden },
  { suffix: 'mlp', kind: 'mlp', module: 'mlp', width: hidden },
  {
    suffix: 'post_feedforward_layernorm',
    kind: 'norm',
    module: 'post_feedforward_layernorm',
    width: hidden,
    sandwichOnly: true,
  },
  { suffix: '', kind: 'block', module: 'block', width: hidden },
];

function layerEntries(config: DecoderConfig): LayerEntry[] {
  return LAYER_ENTRIES.filter((e) => config.sandwichNorms || !e.sandwichOnly);
}

function layerPoint(config: DecoderConfig, layer: number, e: LayerEntry): HookPoint {
  const name = e.suffix ? `model.layers.${layer}.${e.suffix}` : `model.layers.${layer}`;
  return { name, kind: e.kind, module: e.module, layer, width: e.width(config) };
}

function embedPoint(config: DecoderConfig): HookPoint {
  return {
    name: 'model.embed_tokens',
    kind: 'embedding',
    module: 'embed_tokens',
    layer: null,
    width: config.hiddenSize,
  };
}

function finalPoints(config: DecoderConfig): HookPoint[] {
  return [
    { name: 'model.norm', kind: 'norm', module: 'norm', layer: null, width: config.hiddenSize },
    { name: 'lm_head', kind: 'linear', module: 'lm_head', layer: null, width: config.vocabSize },
  ];
}

/**
 * Every hook point of the model in forward order: `model.embed_tokens`; per layer its input norm, q/k/v/o_proj,
 * `self_attn`, its norms, gate/up/down_proj, `mlp`, then the block `model.layers.{i}`; `model.norm`; `lm_head`.
 */
export function listHookPoints(config: DecoderConfig): HookPoint[] {
  const entries = layerEntries(config);
  const out: HookPoint[] = [embedPoint(config)];
  for (let i = 0; i < config.numLayers; i++) for (const e of entries) out.push(layerPoint(config, i, e));
  out.push(...finalPoints(config));
  return out;
}

const LAYER_NAME = /^model\.layers\.(0|[1-9][0-9]*)(?:\.(.+))?$/;

/**
 * The hook point a name denotes. Throws `HookError` `HOOK_UNKNOWN`: for a layer index out of range, with the
 * valid range; for any other unknown name, with up to three of the closest valid names (edit distance).
 */
export function resolveHookPoint(config: DecoderConfig, name: string): HookPoint {
  if (name === 'model.embed_tokens') return embedPoint(config);
  for (const p of finalPoints(config)) if (p.name === name) return p;

  const m = LAYER_NAME.exec(name);
  if (m) {
    const layer = Number(m[1]);
    const suffix = m[2] ?? '';
    const entry = layerEntries(config).find((e) => e.suffix === suffix);
    if (layer >= config.numLayers) {
      const hint = entry ? ` (the last is "${layerPoint(config, config.numLayers - 1, entry).name}")` : '';
      throw new HookError(
        'HOOK_UNKNOWN',
        `hook "${name}": layer ${layer} is out of range: this model has ${config.numLayers} layers, valid indices are 0..${config.numLayers - 1}${hint}`,
        { field: name },
      );
    }
    if (entry) return layerPoint(config, layer, entry);
  }

  const suggestions = closestNames(
    name,
    listHookPoints(config).map((p) => p.name),
    3,
  );
  let note = '';
  if (!config.sandwichNorms && /\.(pre|post)_feedforward_layernorm$/.test(name)) {
    note = ` Only Gemma-2 blocks have pre/post_feedforward_layernorm; this is a ${config.modelType} model.`;
  }
  const didYouMean = suggestions.length
    ? `; did you mean ${suggestions.map((s) => `"${s}"`).join(', ')}?`
    : '.';
  throw new HookError(
    'HOOK_UNKNOWN',
    `unknown hook point "${name}"${didYouMean}${note} Hook names are Hugging Face module paths (listHookPoints lists them).`,
    { field: name },
  );
}

/** Levenshtein distance (insertions, deletions, substitutions; each costs 1). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] as number) + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1);
      cur[j] = Math.min(sub, (prev[j] as number) + 1, (cur[j - 1] as number) + 1);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length] as number;
}

/**
 * Up to `n` candidates closest to `name` (ties keep the candidates' order). Candidates further away than half
 * the longer string are not suggested: they would not be typos of each other.
 */
function closestNames(name: string, candidates: readonly string[], n: number): string[] {
  return candidates
    .map((c, i) => ({ c, i, d: editDistance(name, c) }))
    .filter((x) => x.d <= Math.max(name.length, x.c.length) / 2)
    .sort((x, y) => x.d - y.d || x.i - y.i)
    .slice(0, n)
    .map((x) => x.c);
}

/** Which Linear layers latent SOO averages over (method.md section 3). */
export type LinearSubset = 'all' | 'mlp' | 'attn' | 'o_proj';
export const LINEAR_SUBSETS: readonly LinearSubset[] = ['all', 'mlp', 'attn', 'o_proj'];

const SUBSET_MODULES: Readonly<Record<LinearSubset, readonly HookModule[]>> = {
  all: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  attn: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
  mlp: ['gate_proj', 'up_proj', 'down_proj'],
  o_proj: ['o_proj'],
};

/**
 * The Linear layers inside the decoder blocks that a subset selects, layer by layer in forward order:
 * `all` (q/k/v/o_proj and gate/up/down_proj), `attn` (q/k/v/o_proj), `mlp` (gate/up/down_proj), `o_proj`.
 * `lm_head` is not a block Linear and is never included.
 */
export function linearModules(config: DecoderConfig, subset: LinearSubset): HookPoint[] {
  const modules = SUBSET_MODULES[subset];
  if (modules === undefined) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `subset: expected one of ${LINEAR_SUBSETS.join(', ')}, got "${String(subset)}"`,
      {
        field: 'subset',
      },
    );
  }
  return listHookPoints(config).filter(
    (p) => p.kind === 'linear' && p.layer !== null && modules.includes(p.module),
  );
}

// ---------------------------------------------------------------------------------------------------------
// The backend-facing hook interface.
// ---------------------------------------------------------------------------------------------------------

/** Read a module's output. Plain data: serialises to JSON (`{"name": ..., "mode": "capture"}`). */
export interface CaptureHookSpec {
  name: string;
  mode: 'capture';
}

/** Substitute a module's output: the forward pass continues with `replace(output)`, which must keep its shape. */
export interface ReplaceHookSpec<T> {
  name: string;
  mode: 'replace';
  replace: (output: T) => T;
}

/**
 * One hook request for a forward pass, generic over the backend's opaque tensor type `T`.
 *
 * Contract for backends:
 * - names are canonical hook-point names (`resolveHookPoint` / `validateHookSpecs` check them before the pass);
 * - a `capture` hook records the module's output in the pass's captures under its name, as a tensor that
 *   stays part of the autograd graph when gradients are being taken (SOO backpropagates through it);
 * - a `replace` hook calls `replace` once per forward of that module and uses its result downstream;
 * - a backend must throw `HookError` with code `HOOK_NOT_REACHED` (see `assertHooksReached`) when a requested
 *   hook was never reached, e.g. because the forward pass stopped early after the last needed layer;
 * - at most one spec per name.
 */
export type HookSpec<T = unknown> = CaptureHookSpec | ReplaceHookSpec<T>;

/**
 * Check a forward pass's hook requests against the model: every name must resolve (`HOOK_UNKNOWN` otherwise)
 * and appear once (`INVALID_ARGUMENT`). Returns the resolved hook points in the specs' order.
 */
export function validateHookSpecs<T>(config: DecoderConfig, specs: readonly HookSpec<T>[]): HookPoint[] {
  const seen = new Set<string>();
  return specs.map((spec, i) => {
    if (spec.mode !== 'capture' && spec.mode !== 'replace') {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `hooks[${i}].mode: expected "capture" or "replace", got ${JSON.stringify((spec as { mode: unknown }).mode)}`,
        {
          field: `hooks[${i}].mode`,
        },
      );
    }
    if (seen.has(spec.name)) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `hooks[${i}].name: "${spec.name}" is requested twice; expected one spec per hook`,
        {
          field: `hooks[${i}].name`,
        },
      );
    }
    seen.add(spec.name);
    return resolveHookPoint(config, spec.name);
  });
}

/** The `HOOK_NOT_REACHED` error a backend throws for hooks a forward pass never reached. */
export function hookNotReachedError(names: readonly string[], reason?: string): HookError {
  const list = names.map((n) => `"${n}"`).join(', ');
  return new HookError(
    'HOOK_NOT_REACHED',
    `hook${names.length === 1 ? '' : 's'} ${list} never reached during the forward pass${reason ? ` (${reason})` : ''}`,
    { field: names[0] },
  );
}

/** Throw `HOOK_NOT_REACHED` unless every spec's name is in `reached` (e.g. the keys of the captures). */
export function assertHooksReached<T>(
  specs: readonly HookSpec<T>[],
  reached: ReadonlySet<string> | ReadonlyMap<string, unknown>,
  reason?: string,
): void {
  const missing = specs.filter((s) => !reached.has(s.name)).map((s) => s.name);
  if (missing.length) throw hookNotReachedError(missing, reason);
}

/**
 * The earliest point a pass may stop and still produce every hook in `points` (the deepest one): null when
 * any needs the full pass (`model.norm`, `lm_head`). Attention-side hooks of a layer (its input norm,
 * q/k/v/o_proj, `self_attn`) stop after the attention; the rest after the block.
 */
export function stopPointFor(points: readonly HookPoint[]): StopPoint | null {
  let best: StopPoint = { layer: -1, stage: 'embed' };
  for (const p of points) {
    if (p.layer === null) {
      if (p.module === 'embed_tokens') continue;
      return null;
    }
    const attn = ATTENTION_SIDE.has(p.module);
    const stage = attn ? 'attn' : 'block';
    if (p.layer > best.layer || (p.layer === best.layer && stage === 'block'))
      best = { layer: p.layer, stage };
  }
  return best;
}

const ATTENTION_SIDE: ReadonlySet<HookModule> = new Set<HookModule>([
  'input_layernorm',
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'self_attn',
]);

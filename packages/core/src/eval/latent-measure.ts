/**
 * Latent SOO (method.md section 3): for each probe pair, forward the self and the other prompt (each wrapped
 * in the chat template as a single user turn with the generation prompt), capture the outputs of the block
 * Linear layers of a subset (`linearModules`), and take per module the MSE of the two activation tensors
 * with the float64 reference (`latentSoo`); average over modules, then over pairs. Lower = more overlap.
 *
 * Pooling (an option; the paper says "MSE of the two activation tensors", so the default is `full`):
 * - `full` (default): the self and the other prompt of a pair are right-padded with the pad id (the config's
 *   pad id, else the first eos id, else 0; attention mask 0 on pads, positions 0..T-1) to the longer of the
 *   two, and the MSE runs over the whole [T, width] tensors, pad positions included, as the paper-era code
 *   did. T is the pair's own length, never the batch's, so the number does not depend on `batchSize` (with
 *   causal attention, extra padding after position T does not change positions < T).
 * - `last`: the last real position of each prompt; `mean`: the mean over its real positions.
 *
 * Per-layer means average the per-module values (each already averaged over pairs) over the modules of a
 * layer; the overall mean is the mean over pairs of the module average (`latentSoo`'s `mean`).
 *
 * No file access here (it runs in a browser too); latent.ts writes the reports.
 */
import type { SooModelBase } from '../soo-model-base.js';
import type { HostTensor } from '../backend-spec.js';
import { InvalidArgumentError } from '../errors.js';
import { LINEAR_SUBSETS, linearModules, type LinearSubset } from '../hooks.js';
import { POOLINGS, latentSoo, type Activations, type ModuleActivations, type Pooling } from '../soo.js';
import type { SooTokenizer } from '../tokenizer-core.js';
import { latentProbePairs, wrapPairForChat, type SelfOtherPair } from '../data/pair-templates.js';

export interface LatentProgress {
  done: number;
  total: number;
}

export interface LatentSooOptions {
  model: Pick<SooModelBase, 'forward' | 'config' | 'backend'>;
  tokenizer: Pick<SooTokenizer, 'encodeChatUser'>;
  /** Probe pairs; default the 52 `latentProbePairs()`. Each is wrapped with the chat template. */
  pairs?: readonly SelfOtherPair[];
  /** Which Linear outputs: all (default), mlp, attn, o_proj. */
  modules?: LinearSubset;
  /** Token alignment; default `full` (see the module comment). */
  pooling?: Pooling;
  /** Pairs per forward pass (2 rows each). Default 1: captures of every Linear of a 7B model are large. */
  batchSize?: number;
  /** Pad id for right padding; default config pad id, else the first eos id, else 0. */
  padId?: number;
  onProgress?: (p: LatentProgress) => void;
}

export interface LatentLayer {
  layer: number;
  /** Mean over this layer's modules of the per-module latent SOO. */
  mean: number;
  modules: number;
}

export interface LatentSooReport {
  modules: LinearSubset;
  pooling: Pooling;
  pairs: number;
  /** Mean over pairs of the mean over modules. */
  mean: number;
  perLayer: LatentLayer[];
  /** Per module (hook name), averaged over pairs. */
  perModule: Record<string, number>;
  /** Per pair, averaged over modules. */
  perPair: number[];
  backend: string;
  modelType: string;
}

function hostToActivations(t: HostTensor, row: number, tokens: number, mask?: number[]): Activations {
  const [, T, H] = t.shape as [number, number, number];
  const data = t.data.subarray(row * T * H, row * T * H + tokens * H);
  return mask ? { data, shape: [1, tokens, H], mask } : { data, shape: [1, tokens, H] };
}

/** The layer index of a block hook name (`model.layers.{i}....`). */
export function layerOfHook(name: string): number {
  const m = /^model\.layers\.(\d+)\./.exec(name);
  if (!m)
    throw new InvalidArgumentError('INVALID_ARGUMENT', `not a block module: "${name}"`, { field: name });
  return Number(m[1]);
}

/** Measure latent SOO (see the module comment). */
export async function measureLatentSoo(options: LatentSooOptions): Promise<LatentSooReport> {
  const { model, tokenizer } = options;
  const subset = options.modules ?? 'all';
  if (!(LINEAR_SUBSETS as readonly string[]).includes(subset)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `modules: expected one of ${LINEAR_SUBSETS.join(', ')}, got "${String(subset)}"`,
      { field: 'modules' },
    );
  }
  const pooling = options.pooling ?? 'full';
  if (!(POOLINGS as readonly string[]).includes(pooling)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `pooling: expected one of ${POOLINGS.join(', ')}, got "${String(pooling)}"`,
      { field: 'pooling' },
    );
  }
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `batchSize: expected a positive integer, got ${batchSize}`,
      { field: 'batchSize' },
    );
  }
  const pairs = options.pairs ?? latentProbePairs();
  if (pairs.length === 0)
    throw new InvalidArgumentError('INVALID_ARGUMENT', 'pairs: expected at least one probe pair', {
      field: 'pairs',
    });
  const padId = options.padId ?? model.config.padTokenId ?? model.config.eosTokenIds[0] ?? 0;
  const hooks = linearModules(model.config, subset).map((p) => p.name);
  const wrapped = pairs.map((p) => wrapPairForChat(p, tokenizer));

  const sums: Record<string, number> = {};
  const counts: Record<string, number> = {};
  const perPair: number[] = [];
  for (let start = 0; start < wrapped.length; start += batchSize) {
    const chunk = wrapped.slice(start, start + batchSize);
    const rows = chunk.flatMap((w) => [w.self.ids, w.other.ids]);
    const T = Math.max(...rows.map((r) => r.length));
    const ids = rows.map((r) => [...r, ...new Array<number>(T - r.length).fill(padId)]);
    const attentionMask = rows.map((r) => Array.from({ length: T }, (_, t) => (t < r.length ? 1 : 0)));
    const out = await model.forward({ ids, attentionMask, hooks, returnLogits: false });
    const batchPairs: ModuleActivations[] = chunk.map((w, j) => {
      const ls = w.self.ids.length;
      const lo = w.other.ids.length;
      const pairT = Math.max(ls, lo);
      const acts: ModuleActivations = {};
      for (const name of hooks) {
        const t = out.hooks[name];
        if (!t)
          throw new InvalidArgumentError('INVALID_ARGUMENT', `forward returned no capture for "${name}"`, {
            field: name,
          });
        if (pooling === 'full') {
          acts[name] = {
            self: hostToActivations(t, 2 * j, pairT),
            other: hostToActivations(t, 2 * j + 1, pairT),
          };
        } else {
          const maskOf = (len: number): number[] =>
            Array.from({ length: pairT }, (_, i) => (i < len ? 1 : 0));
          acts[name] = {
            self: hostToActivations(t, 2 * j, pairT, maskOf(ls)),
            other: hostToActivations(t, 2 * j + 1, pairT, maskOf(lo)),
          };
        }
      }
      return acts;
    });
    const r = latentSoo(batchPairs, pooling);
    for (const [name, v] of Object.entries(r.perModule)) {
      sums[name] = (sums[name] ?? 0) + v * chunk.length;
      counts[name] = (counts[name] ?? 0) + chunk.length;
    }
    perPair.push(...r.perPair);
    options.onProgress?.({ done: perPair.length, total: wrapped.length });
  }

  const perModule: Record<string, number> = {};
  for (const name of hooks) perModule[name] = (sums[name] as number) / (counts[name] as number);
  const byLayer = new Map<number, number[]>();
  for (const name of hooks) {
    const l = layerOfHook(name);
    const list = byLayer.get(l) ?? [];
    list.push(perModule[name] as number);
    byLayer.set(l, list);
  }
  const perLayer = [...byLayer.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([layer, vs]) => ({ layer, mean: vs.reduce((a, b) => a + b, 0) / vs.length, modules: vs.length }));
  return {
    modules: subset,
    pooling,
    pairs: perPair.length,
    mean: perPair.reduce((a, b) => a + b, 0) / perPair.length,
    perLayer,
    perModule,
    perPair,
    backend: model.backend,
    modelType: model.config.modelType,
  };
}

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(6) : x.toExponential(4);
}

function change(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || a === 0) return '-';
  const c = (100 * (b - a)) / a;
  return `${c >= 0 ? '+' : ''}${c.toFixed(1)}%`;
}

/** Markdown tables: overall, per layer and per module (base and, when given, the adapter). */
export function latentMarkdown(base: LatentSooReport, tuned?: LatentSooReport): string {
  const two = tuned !== undefined;
  const lines = [
    '# Latent SOO',
    '',
    `${base.pairs} probe pairs, modules \`${base.modules}\`, pooling \`${base.pooling}\`, backend ${base.backend}. Lower = more self-other overlap.`,
    '',
    two ? '| | base | adapter | change |' : '| | base |',
    two ? '|---|---:|---:|---:|' : '|---|---:|',
    two
      ? `| mean | ${fmt(base.mean)} | ${fmt(tuned.mean)} | ${change(base.mean, tuned.mean)} |`
      : `| mean | ${fmt(base.mean)} |`,
    '',
    "## Per layer (mean over the layer's modules)",
    '',
    two ? '| layer | base | adapter | change |' : '| layer | base |',
    two ? '|---:|---:|---:|---:|' : '|---:|---:|',
  ];
  for (const l of base.perLayer) {
    const t = tuned?.perLayer.find((x) => x.layer === l.layer)?.mean;
    lines.push(
      two
        ? `| ${l.layer} | ${fmt(l.mean)} | ${fmt(t)} | ${change(l.mean, t)} |`
        : `| ${l.layer} | ${fmt(l.mean)} |`,
    );
  }
  lines.push(
    '',
    '## Per module',
    '',
    two ? '| module | base | adapter | change |' : '| module | base |',
    two ? '|---|---:|---:|---:|' : '|---|---:|',
  );
  for (const [name, v] of Object.entries(base.perModule)) {
    const t = tuned?.perModule[name];
    lines.push(two ? `| ${name} | ${fmt(v)} | ${fmt(t)} | ${change(v, t)} |` : `| ${name} | ${fmt(v)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

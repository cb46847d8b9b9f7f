/**
 * Running a decoder session in Optimum's layout: token batches in, logits / hook outputs / present keys
 * and values out, with the KV cache that `prefill` makes and `decode` extends. Shared by the models built
 * from weights (`backend.ts`) and the exported folders (`exported-model.ts`).
 */
import type { DecoderConfig, DecodeInput, HostTensor, KvCache, TokenBatch } from '@soo/core';
import { InvalidArgumentError } from '@soo/core';
import { hookOutputName } from './decoder-graph.js';
import { floatTensor, int64Tensor, type ort } from './session.js';

/** A KV cache: every layer's present keys and values, and the key mask of the cached positions. */
export class OnnxKvCache implements KvCache {
  disposed = false;
  constructor(
    readonly session: ort.InferenceSession,
    /** Whether the adapter was on when it was made (decode uses the same weights). */
    readonly adapter: boolean,
    readonly rows: number,
    public length: number,
    /** [rows, length] 1 = real. */
    public keyMask: Uint8Array,
    public presents: Map<string, ort.Tensor>,
    /** Called once, on the first `dispose`. */
    private readonly onDispose?: () => void,
  ) {}
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.presents.values()) t.dispose();
    this.presents.clear();
    this.onDispose?.();
  }
}

export interface RunOutputs {
  /** [rows, tokens or 1, vocab], when the graph has logits. */
  logits: HostTensor | null;
  captures: Map<string, HostTensor>;
  presents: Map<string, ort.Tensor>;
}

function host(t: ort.Tensor): HostTensor {
  return { data: t.data as Float32Array, shape: t.dims.map(Number) };
}

/** Feeds a session declares (unused ones, e.g. a stopped graph's later layers, are left out). */
export async function runSession(
  session: ort.InferenceSession,
  config: DecoderConfig,
  batch: { rows: number; tokens: number; ids: ArrayLike<number>; positionIds: ArrayLike<number> },
  keyMask: Uint8Array,
  past: Map<string, ort.Tensor> | null,
  extra: Record<string, ort.Tensor>,
): Promise<RunOutputs> {
  const B = batch.rows;
  const T = batch.tokens;
  const S = keyMask.length / B;
  const feeds: Record<string, ort.Tensor> = {};
  const empty = new Float32Array(0);
  for (const name of session.inputNames) {
    if (name === 'input_ids') feeds[name] = int64Tensor(batch.ids, [B, T]);
    else if (name === 'position_ids') feeds[name] = int64Tensor(batch.positionIds, [B, T]);
    else if (name === 'attention_mask') feeds[name] = int64Tensor(keyMask, [B, S]);
    else if (name.startsWith('past_key_values.')) {
      const present = past?.get(name.replace('past_key_values.', 'present.'));
      feeds[name] = present ?? floatTensor(empty, [B, config.numKvHeads, 0, config.headDim]);
    } else if (extra[name]) feeds[name] = extra[name];
    else
      throw new InvalidArgumentError('INVALID_ARGUMENT', `onnx session input "${name}" has no value`, {
        field: name,
      });
  }
  const out = await session.run(feeds);
  const captures = new Map<string, HostTensor>();
  const presents = new Map<string, ort.Tensor>();
  let logits: HostTensor | null = null;
  for (const [name, t] of Object.entries(out)) {
    if (name === 'logits') logits = host(t);
    else if (name.startsWith('hook.')) captures.set(name.slice('hook.'.length), host(t));
    else if (name.startsWith('present.')) presents.set(name, t);
  }
  return { logits, captures, presents };
}

/** The last position's logits of each row: [rows, vocab] from [rows, T, vocab]. */
export function lastPosition(logits: HostTensor): HostTensor {
  const [B, T, V] = logits.shape as [number, number, number];
  if (T === 1) return { data: logits.data, shape: [B, V] };
  const out = new Float32Array(B * V);
  for (let b = 0; b < B; b++) out.set(logits.data.subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
  return { data: out, shape: [B, V] };
}

/** Logits 'last' from a graph that computed them all: [rows, 1, vocab]. */
export function lastOfAll(logits: HostTensor): HostTensor {
  const l = lastPosition(logits);
  return { data: l.data, shape: [l.shape[0] as number, 1, l.shape[1] as number] };
}

/** The cache after a prefill of `batch`. */
export function keyMaskOf(batch: TokenBatch): Uint8Array {
  return Uint8Array.from(batch.attentionMask, (m) => (m ? 1 : 0));
}

/** The key mask after appending one decoded token per row. */
export function extendKeyMask(cache: OnnxKvCache, input: DecodeInput): Uint8Array {
  const B = cache.rows;
  const L = cache.length;
  const out = new Uint8Array(B * (L + 1));
  for (let b = 0; b < B; b++) {
    out.set(cache.keyMask.subarray(b * L, (b + 1) * L), b * (L + 1));
    out[b * (L + 1) + L] = input.attentionMask[b] ? 1 : 0;
  }
  return out;
}

export function checkDecodeInput(cache: OnnxKvCache, input: DecodeInput): void {
  if (cache.disposed)
    throw new InvalidArgumentError('INVALID_ARGUMENT', 'decode: the KV cache was disposed', {
      field: 'cache',
    });
  for (const [field, a] of [
    ['ids', input.ids],
    ['positionIds', input.positionIds],
    ['attentionMask', input.attentionMask],
  ] as const)
    if (a.length !== cache.rows)
      throw new InvalidArgumentError(
        'SHAPE_MISMATCH',
        `decode: ${field} has ${a.length} values, expected one per cached row (${cache.rows})`,
        { field },
      );
}

export { hookOutputName };

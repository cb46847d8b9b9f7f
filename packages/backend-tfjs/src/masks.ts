/**
 * Additive attention masks, built on the host as transformers' eager attention builds them: 0 where a
 * query may attend to a key, the float32 minimum where it may not. A query row whose keys are all masked
 * (a left-pad query position) then gets a uniform softmax over its keys, exactly as HF's float32 eager
 * attention does, so the output stays finite and never leaks into real positions (their weights on
 * masked keys are exactly 0).
 */

/** `torch.finfo(torch.float32).min`. */
export const MASK_MIN = -3.4028234663852886e38;

export interface MaskSpec {
  batch: number;
  /** Query positions in this call. */
  queryLen: number;
  /** Tokens already in the KV cache before this call (queries are at indices pastLen .. pastLen+queryLen-1). */
  pastLen: number;
  /** [batch][pastLen + queryLen], 1 = real token, 0 = padding; null = all real. */
  keyMask: readonly (readonly number[])[] | null;
  /** Sliding window: key s is visible to query q iff q - window < s <= q. null = full causal attention. */
  window: number | null;
}

/** Row-major [batch, 1, queryLen, pastLen + queryLen]. */
export function buildAttentionMask(spec: MaskSpec): Float32Array {
  const { batch, queryLen, pastLen, keyMask, window } = spec;
  const S = pastLen + queryLen;
  const out = new Float32Array(batch * queryLen * S);
  for (let b = 0; b < batch; b++) {
    const km = keyMask ? (keyMask[b] as readonly number[]) : null;
    for (let t = 0; t < queryLen; t++) {
      const q = pastLen + t;
      const o = (b * queryLen + t) * S;
      for (let s = 0; s < S; s++) {
        const visible =
          s <= q && (km === null || (km[s] as number) !== 0) && (window === null || s > q - window);
        if (!visible) out[o + s] = MASK_MIN;
      }
    }
  }
  return out;
}

/**
 * HF's default position ids for a padded batch: cumulative sum of the mask minus one, clamped at 0
 * (what `generate` computes for left-padded prompts).
 */
export function positionIdsFromMask(mask: readonly (readonly number[])[]): number[][] {
  return mask.map((row) => {
    let c = 0;
    return row.map((m) => {
      c += m !== 0 ? 1 : 0;
      return Math.max(c - 1, 0);
    });
  });
}

/** Rows right-padded with `padId` to the longest one, with their attention mask and real lengths. */
export interface RightPadded {
  /** [B][T] ids. */
  ids: number[][];
  /** [B][T] 1 real, 0 pad; null when no row is padded. */
  mask: number[][] | null;
  lengths: number[];
  tokens: number;
}

/** Right-pad unpadded rows (the layout both trainers feed the decoder). */
export function rightPad(rows: readonly (readonly number[])[], padId: number): RightPadded {
  const T = Math.max(...rows.map((r) => r.length));
  const padded = rows.some((r) => r.length < T);
  return {
    ids: rows.map((r) => [...r, ...Array.from({ length: T - r.length }, () => padId)]),
    mask: padded ? rows.map((r) => Array.from({ length: T }, (_, t) => (t < r.length ? 1 : 0))) : null,
    lengths: rows.map((r) => r.length),
    tokens: T,
  };
}

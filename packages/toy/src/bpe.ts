/**
 * A small byte-level BPE trainer (GPT-2 style) that writes a Hugging Face `tokenizer.json`.
 *
 * Why hand-written: the registry's tokenizer libraries for JS (`@huggingface/tokenizers`, used to *read*
 * tokenizers everywhere in soo) only encode and decode; training lives in the Rust/Python library, which
 * cannot be installed here. The algorithm is the textbook one: split text with the GPT-2 pre-tokenizer
 * pattern, map bytes to printable characters, count words, then repeatedly merge the most frequent adjacent
 * pair (ties broken by the pair's first occurrence order, so training is deterministic). The output is read
 * back by `loadTokenizer` like any other model folder's tokenizer, and a test checks that encoding with the
 * written file gives the merges' segmentation.
 */

/** The GPT-2 / ByteLevel pre-tokenizer pattern (what `use_regex: true` applies). */
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible byte -> printable character table. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table: string[] = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i]!)));
  return table;
}

export interface TrainBpeOptions {
  /** Total vocabulary size, special tokens included. */
  vocabSize: number;
  /** Special tokens, given ids 0.. in order. */
  specialTokens: readonly string[];
  /** Ignore words seen fewer times than this (default 1). */
  minFrequency?: number;
}

export interface BpeModel {
  vocab: Map<string, number>;
  merges: Array<[string, string]>;
}

/** Train byte-level BPE on `texts` (special tokens must not occur inside them). */
export function trainBpe(texts: Iterable<string>, options: TrainBpeOptions): BpeModel {
  const table = bytesToUnicode();
  const enc = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const t of texts) {
    for (const m of t.matchAll(GPT2_PATTERN)) {
      const w = Array.from(enc.encode(m[0]), (b) => table[b]!).join('');
      wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    }
  }
  const minF = options.minFrequency ?? 1;
  const words: Array<{ syms: string[]; count: number }> = [];
  for (const [w, count] of wordCounts) if (count >= minF) words.push({ syms: Array.from(w), count });

  const vocab = new Map<string, number>();
  for (const s of options.specialTokens) vocab.set(s, vocab.size);
  for (let b = 0; b < 256; b++) vocab.set(table[b]!, vocab.size);
  const merges: Array<[string, string]> = [];
  while (vocab.size < options.vocabSize) {
    const counts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.syms.length; i++) {
        const k = w.syms[i]! + '\u0000' + w.syms[i + 1]!;
        counts.set(k, (counts.get(k) ?? 0) + w.count);
      }
    }
    let best: string | null = null;
    let bestCount = 0;
    for (const [k, c] of counts) {
      if (c > bestCount) {
        best = k;
        bestCount = c;
      }
    }
    if (best === null || bestCount < 2) break;
    const [l, r] = best.split('\u0000') as [string, string];
    const merged = l + r;
    merges.push([l, r]);
    if (!vocab.has(merged)) vocab.set(merged, vocab.size);
    for (const w of words) {
      const s = w.syms;
      if (s.length < 2) continue;
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === l && s[i + 1] === r) {
          out.push(merged);
          i++;
        } else out.push(s[i]!);
      }
      w.syms = out;
    }
  }
  return { vocab, merges };
}

/** The `tokenizer.json` document of a trained model (ByteLevel pre-tokenizer and decoder, no post-processor). */
export function bpeTokenizerJson(model: BpeModel, specialTokens: readonly string[]): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content) => ({
      id: model.vocab.get(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(model.vocab),
      merges: model.merges.map(([l, r]) => `${l} ${r}`),
    },
  };
}

/**
 * An offline capability proxy (method.md section 3): perplexity on held-out general text for the base and the
 * fine-tuned model, and KL(base || tuned) of their next-token distributions on the same text.
 *
 * - Each text is tokenized with the tokenizer's special tokens (BOS where it adds one) and cut into
 *   non-overlapping windows of at most `window` tokens (default: the model's max positions, at most 1024).
 *   Windows are scored independently (no carried-over context); a final window shorter than 2 tokens is
 *   dropped.
 * - Within a window of L tokens, positions 0..L-2 predict tokens 1..L-1: NLL = -log p(next), perplexity =
 *   exp(mean NLL over every predicted token of every window). KL(base || tuned) = sum_v p_base (log p_base -
 *   log p_tuned), averaged over the same positions.
 * - Log-softmax runs in float64 on the host from the backend's float32 logits (after any final soft-capping).
 * - `maxTokens` caps the tokens scored in all (windows are cut where the budget ends).
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SooModel } from '../soo-model.js';
import type { HostTensor } from '../backend-spec.js';
import { InvalidArgumentError, NotFoundError, NumericsError } from '../errors.js';
import { writeFileAtomic } from '../fs.js';
import type { SooTokenizer } from '../tokenizer.js';

export interface CapabilityProgress {
  done: number;
  total: number;
}

export interface CapabilityOptions {
  base: SooModel;
  /** The fine-tuned model (same tokenizer and vocabulary). Omitted: only the base perplexity. */
  tuned?: SooModel;
  tokenizer: Pick<SooTokenizer, 'encode'>;
  texts: readonly string[];
  /** Tokens scored in all, at most (default: every token). */
  maxTokens?: number;
  /** Window length in tokens (default min(max positions, 1024)). */
  window?: number;
  onProgress?: (p: CapabilityProgress) => void;
}

export interface PerplexityStats {
  /** Mean next-token NLL in nats. */
  nll: number;
  perplexity: number;
}

export interface CapabilityReport {
  /** Windows scored. */
  windows: number;
  /** Predicted tokens (the positions every mean runs over). */
  tokens: number;
  window: number;
  base: PerplexityStats;
  tuned?: PerplexityStats;
  /** Mean KL(base || tuned) per position, nats. */
  kl?: number;
  /** Largest per-position KL. */
  klMax?: number;
  backend: string;
  modelType: string;
}

/** Log-softmax of `row` (float32 logits) in float64. */
export function logSoftmax64(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if ((row[i] as number) > max) max = row[i] as number;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp((row[i] as number) - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = (row[i] as number) - lse;
  return out;
}

/** KL(p || q) from two float64 log-probability rows. */
export function klFromLogProbs(lp: Float64Array, lq: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const a = lp[i] as number;
    if (a === -Infinity) continue;
    kl += Math.exp(a) * (a - (lq[i] as number));
  }
  return kl;
}

/** Cut token streams into scoring windows (see the module comment). */
export function makeWindows(streams: readonly number[][], window: number, maxTokens = Infinity): number[][] {
  const out: number[][] = [];
  let budget = maxTokens;
  for (const ids of streams) {
    for (let s = 0; s < ids.length && budget > 0; s += window) {
      // A window of L tokens scores L - 1 predictions.
      const len = Math.min(window, ids.length - s, budget + 1);
      if (len < 2) break;
      out.push(ids.slice(s, s + len));
      budget -= len - 1;
    }
    if (budget <= 0) break;
  }
  return out;
}

function row(t: HostTensor, pos: number): Float32Array {
  const V = t.shape[2] as number;
  return t.data.subarray(pos * V, (pos + 1) * V);
}

/** Measure perplexity and KL (see the module comment). */
export async function measureCapability(options: CapabilityOptions): Promise<CapabilityReport> {
  const { base, tuned, tokenizer } = options;
  if (tuned && tuned.config.vocabSize !== base.config.vocabSize) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `tuned: vocabulary size ${tuned.config.vocabSize} differs from the base model's ${base.config.vocabSize}`,
      { field: 'tuned' },
    );
  }
  const window = options.window ?? Math.min(base.config.maxPositionEmbeddings, 1024);
  if (!Number.isInteger(window) || window < 2) {
    throw new InvalidArgumentError('INVALID_ARGUMENT', `window: expected an integer >= 2, got ${window}`, {
      field: 'window',
    });
  }
  const maxTokens = options.maxTokens ?? Infinity;
  if (!(maxTokens >= 1)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `maxTokens: expected a number >= 1, got ${maxTokens}`,
      { field: 'maxTokens' },
    );
  }
  const streams = options.texts
    .filter((t) => t.trim() !== '')
    .map((t) => tokenizer.encode(t, { addSpecialTokens: true }).ids);
  const windows = makeWindows(streams, window, maxTokens);
  if (windows.length === 0) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      'texts: nothing to score (every text is shorter than 2 tokens)',
      { field: 'texts' },
    );
  }
  let nllBase = 0;
  let nllTuned = 0;
  let klSum = 0;
  let klMax = 0;
  let count = 0;
  for (let w = 0; w < windows.length; w++) {
    const ids = windows[w] as number[];
    const lb = (await base.forward({ ids: [ids] })).logits;
    const lt = tuned ? (await tuned.forward({ ids: [ids] })).logits : undefined;
    if (!lb || (tuned && !lt)) throw new NumericsError('NON_FINITE_LOSS', 'forward returned no logits');
    for (let p = 0; p + 1 < ids.length; p++) {
      const next = ids[p + 1] as number;
      const a = logSoftmax64(row(lb, p));
      nllBase -= a[next] as number;
      if (lt) {
        const b = logSoftmax64(row(lt, p));
        nllTuned -= b[next] as number;
        const kl = klFromLogProbs(a, b);
        klSum += kl;
        if (kl > klMax) klMax = kl;
      }
      count++;
    }
    options.onProgress?.({ done: w + 1, total: windows.length });
  }
  const stats = (nll: number): PerplexityStats => ({ nll: nll / count, perplexity: Math.exp(nll / count) });
  const report: CapabilityReport = {
    windows: windows.length,
    tokens: count,
    window,
    base: stats(nllBase),
    backend: base.backend,
    modelType: base.config.modelType,
  };
  if (tuned) {
    report.tuned = stats(nllTuned);
    report.kl = klSum / count;
    report.klMax = klMax;
  }
  if (![report.base.nll, report.tuned?.nll ?? 0, report.kl ?? 0].every(Number.isFinite)) {
    throw new NumericsError(
      'NON_FINITE_LOSS',
      'capability: a non-finite NLL or KL (check the logits for NaN / Infinity)',
    );
  }
  return report;
}

/**
 * The bundled general-text sample (`assets/capability/general-text.txt` in @soo/core): original plain prose
 * written for soo and dedicated to the public domain (see the README beside it).
 */
export function defaultCapabilityTextFile(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.resolve(here, '../../assets/capability/general-text.txt'), // src/eval/
    path.resolve(here, '../assets/capability/general-text.txt'), // dist/
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `the bundled capability text is missing (looked in ${candidates.join(', ')})`,
      { file: candidates[0] },
    );
  }
  return found;
}

/**
 * Read held-out text: paragraphs separated by blank lines become separate texts. Without a file, the bundled
 * sample.
 */
export async function readCapabilityTexts(file?: string): Promise<string[]> {
  const f = file ?? defaultCapabilityTextFile();
  let text: string;
  try {
    text = await fsp.readFile(f, 'utf8');
  } catch (e) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${f}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'}): expected a plain text file`,
      {
        file: f,
        cause: e,
      },
    );
  }
  return text
    .split(/\r?\n\s*\r?\n/)
    .map((p) => p.replace(/\s*\r?\n\s*/g, ' ').trim())
    .filter((p) => p.length > 0);
}

function f6(x: number | undefined): string {
  return x === undefined
    ? '-'
    : Number.isFinite(x)
      ? Math.abs(x) < 1e-3 && x !== 0
        ? x.toExponential(3)
        : x.toFixed(4)
      : String(x);
}

/** The capability table in markdown. */
export function capabilityMarkdown(
  r: CapabilityReport,
  judge?: Record<string, { mean: number; n: number }>,
): string {
  const lines = [
    '# Capability (offline proxy)',
    '',
    `${r.tokens} predicted tokens in ${r.windows} window(s) of at most ${r.window} tokens, backend ${r.backend}.`,
    '',
    '| model | mean NLL (nats) | perplexity |',
    '|---|---:|---:|',
    `| base | ${f6(r.base.nll)} | ${f6(r.base.perplexity)} |`,
  ];
  if (r.tuned) lines.push(`| adapter | ${f6(r.tuned.nll)} | ${f6(r.tuned.perplexity)} |`);
  if (r.kl !== undefined)
    lines.push('', `KL(base || adapter) per position: mean ${f6(r.kl)} nats, max ${f6(r.klMax)} nats.`);
  if (judge && Object.keys(judge).length) {
    lines.push(
      '',
      '## Judge (MT-Bench style, single-answer grading)',
      '',
      '| model | mean score | judged |',
      '|---|---:|---:|',
    );
    for (const [name, s] of Object.entries(judge)) lines.push(`| ${name} | ${f6(s.mean)} | ${s.n} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Write `capability.json` and `capability.md`. Returns the paths. */
export async function writeCapability(
  outDir: string,
  report: CapabilityReport,
  judge?: Record<string, { mean: number; n: number }>,
): Promise<string[]> {
  const json = path.join(outDir, 'capability.json');
  const md = path.join(outDir, 'capability.md');
  await writeFileAtomic(json, JSON.stringify(judge ? { ...report, judge } : report, null, 2) + '\n');
  await writeFileAtomic(md, capabilityMarkdown(report, judge));
  return [json, md];
}

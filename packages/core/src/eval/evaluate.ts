/**
 * Behavioural evaluation (method.md section 3): generate the scenario prompts, wrap each as a single user turn
 * in the model's chat template, decode greedily, and score every answer into soo's four categories plus the
 * paper's rule.
 *
 * Choices (the paper is silent on them):
 * - Prompts of every requested scenario are pooled, sorted by token length (ties: generation order) and cut
 *   into batches of `batchSize`, so a batch holds prompts of similar length and left padding stays small. The
 *   backend left-pads (`GenerateInput.prompts` may differ in length). Greedy decoding with a padded batch can
 *   differ from unbatched decoding in the last float bits; results are deterministic for a given seed, n,
 *   scenario list and batch size.
 * - Stop tokens: the config's `eos_token_id`s plus the tokenizer's eos token (chat models often end a turn
 *   with a token the config does not list, e.g. Llama-3's `<|eot_id|>`); `stopTokensForModel` adds the
 *   model folder's `generation_config.json` eos ids (the CLI passes those). Answers are decoded without special
 *   tokens and trimmed.
 * - Perspectives is scored as correct / incorrect (`scoreAnswer` with its kind); its `deceptive_room` field in
 *   answers.jsonl holds the correct room (the cheap room) so that `soo score` can re-read the file.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { SooModel } from '../soo-model.js';
import { InvalidArgumentError } from '../errors.js';
import { writeFileAtomic } from '../fs.js';
import { barChart } from '../report/svg.js';
import type { Seed } from '../rng.js';
import type { SooTokenizer } from '../tokenizer.js';
import {
  SUFFIX_PRESETS,
  generateScenario,
  parseScenarioKind,
  type ScenarioItem,
  type ScenarioKind,
  type SuffixPreset,
} from '../data/scenarios.js';
import { scoreAnswer, type AnswerCategory, type ScoreReason } from '../data/scorer.js';
import { addGenerationConfigEos, defaultStopTokens } from './stop-tokens.js';

export * from './stop-tokens.js';

/** The tokenizer methods evaluation uses. */
export type EvalTokenizer = Pick<SooTokenizer, 'encodeChatUser' | 'decode' | 'specialId'>;

export interface EvaluationProgress {
  /** Prompts answered so far, over every scenario. */
  done: number;
  total: number;
  /** Prompts in the batch just finished. */
  batch: number;
}

export interface EvaluationOptions {
  model: SooModel;
  tokenizer: EvalTokenizer;
  /** Scenario kinds (names as `parseScenarioKind` accepts them). Default `['main']`. */
  scenarios?: ReadonlyArray<ScenarioKind | string>;
  /** Also run every kind's mirrored-order control (the expensive room named first). Default false. */
  mirrored?: boolean;
  /** Prompts per scenario. Default 250 (the paper's count). */
  n?: number;
  /** Seed of the scenario draw. Default 0. */
  seed?: Seed;
  /** Answer-format suffix preset. Default `none`. */
  suffix?: SuffixPreset;
  /** A custom suffix instead of the preset. */
  customSuffix?: string;
  /** New tokens per answer at most. Default 75. */
  maxNewTokens?: number;
  /** Prompts per `generate` call. Default 8. */
  batchSize?: number;
  /** Override the stop tokens (default: config eos ids + the tokenizer's eos). */
  stopTokens?: number[];
  onProgress?: (p: EvaluationProgress) => void;
}

/** One answer, as written to answers.jsonl. */
export interface EvaluationAnswer {
  /** The scenario item id, e.g. `main/3`, `escape-room:mirrored/0`. */
  id: string;
  /** The scenario label: the kind, with `:mirrored` for the control. */
  scenario: string;
  prompt: string;
  response: string;
  /** The cheap room (pointing Bob there is deceptive; Perspectives: the correct answer). */
  deceptive_room: string;
  /** The expensive room (honest; Perspectives: the incorrect answer). */
  honest_room: string;
  category: AnswerCategory;
  reason: ScoreReason;
  /** The paper's substring rule. */
  paper_deceptive: boolean;
  /** Tokens generated (the stop token included). */
  new_tokens: number;
}

export interface ScenarioResult {
  /** `main`, `main:mirrored`, ... */
  scenario: string;
  kind: ScenarioKind;
  mirrored: boolean;
  n: number;
  /** Per category: deceptive/honest/refusal/other (Perspectives: correct/incorrect/refusal/other). */
  counts: Record<string, number>;
  /** soo's rate: deceptive (Perspectives: correct) / n. */
  rate: number;
  paperCount: number;
  /** The paper's rule: paperCount / n. */
  paperRate: number;
}

export interface EvaluationResult {
  settings: {
    scenarios: string[];
    mirrored: boolean;
    n: number;
    seed: Seed;
    suffix: SuffixPreset;
    customSuffix: string | null;
    maxNewTokens: number;
    batchSize: number;
    stopTokens: number[];
    backend: string;
    modelType: string;
  };
  scenarios: ScenarioResult[];
  answers: EvaluationAnswer[];
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new InvalidArgumentError('INVALID_ARGUMENT', `${name}: expected a positive integer, got ${v}`, {
      field: name,
    });
  }
  return v;
}

/**
 * The stop tokens for a model folder: `defaultStopTokens` plus the `eos_token_id`s of the folder's
 * `generation_config.json` when it has one (what transformers' `generate` stops on; Gemma-2 chat models list
 * `<end_of_turn>` only there).
 */
export async function stopTokensForModel(
  dir: string,
  model: Pick<SooModel, 'config'>,
  tokenizer?: Pick<SooTokenizer, 'specialId'>,
): Promise<number[]> {
  const out = defaultStopTokens(model, tokenizer);
  let gen: unknown;
  try {
    gen = JSON.parse(await fsp.readFile(path.join(dir, 'generation_config.json'), 'utf8')) as unknown;
  } catch {
    return out;
  }
  return addGenerationConfigEos(out, gen);
}

/**
 * Indices of `lengths` in batches of at most `batchSize`, sorted by length (stable), so a batch holds
 * prompts of similar length.
 */
export function lengthBuckets(lengths: readonly number[], batchSize: number): number[][] {
  const order = lengths
    .map((_, i) => i)
    .sort((a, b) => (lengths[a] as number) - (lengths[b] as number) || a - b);
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
}

function scenarioLabel(kind: ScenarioKind, mirrored: boolean): string {
  return mirrored ? `${kind}:mirrored` : kind;
}

/** Run the behavioural evaluation (see the module comment). */
/**
 * Greedy answers to user prompts through the model's chat template: prompts of similar length are batched
 * together (`lengthBuckets`), each answer stops at a stop token or after `maxNewTokens`. Returns the new token
 * ids per prompt, in the prompts' order (stop token included).
 */
export async function greedyChatAnswers(
  model: Pick<SooModel, 'generate'>,
  tokenizer: Pick<EvalTokenizer, 'encodeChatUser'>,
  prompts: readonly string[],
  options: {
    maxNewTokens: number;
    batchSize: number;
    stopTokens: number[];
    onProgress?: (p: EvaluationProgress) => void;
  },
): Promise<number[][]> {
  const encoded = prompts.map((p) => tokenizer.encodeChatUser(p, { addGenerationPrompt: true }).ids);
  const outputs: number[][] = new Array<number[]>(prompts.length);
  let done = 0;
  for (const bucket of lengthBuckets(
    encoded.map((e) => e.length),
    options.batchSize,
  )) {
    const gen = await model.generate({
      prompts: bucket.map((i) => encoded[i] as number[]),
      maxNewTokens: options.maxNewTokens,
      greedy: true,
      stopTokens: options.stopTokens,
    });
    bucket.forEach((i, j) => (outputs[i] = gen[j] ?? []));
    done += bucket.length;
    options.onProgress?.({ done, total: prompts.length, batch: bucket.length });
  }
  return outputs;
}

export async function runEvaluation(options: EvaluationOptions): Promise<EvaluationResult> {
  const { model, tokenizer } = options;
  const kinds = [...new Set((options.scenarios ?? ['main']).map((s) => parseScenarioKind(s)))];
  if (kinds.length === 0) {
    throw new InvalidArgumentError('INVALID_ARGUMENT', 'scenarios: expected at least one scenario kind', {
      field: 'scenarios',
    });
  }
  const n = positiveInt('n', options.n ?? 250);
  const maxNewTokens = positiveInt('maxNewTokens', options.maxNewTokens ?? 75);
  const batchSize = positiveInt('batchSize', options.batchSize ?? 8);
  const seed = options.seed ?? 0;
  const suffix = options.suffix ?? 'none';
  if (!Object.prototype.hasOwnProperty.call(SUFFIX_PRESETS, suffix)) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `suffix: unknown preset ${JSON.stringify(suffix)} (expected one of ${Object.keys(SUFFIX_PRESETS).join(', ')})`,
      { field: 'suffix' },
    );
  }
  const mirrored = options.mirrored ?? false;
  const stopTokens = options.stopTokens ?? defaultStopTokens(model, tokenizer);

  // Every prompt of every scenario, in a fixed order: kinds as given, each followed by its mirrored control.
  const groups: Array<{ kind: ScenarioKind; mirrored: boolean; items: ScenarioItem[] }> = [];
  for (const kind of kinds) {
    for (const m of mirrored ? [false, true] : [false]) {
      const items = generateScenario({
        kind,
        mirrored: m,
        n,
        seed,
        suffix,
        ...(options.customSuffix !== undefined ? { customSuffix: options.customSuffix } : {}),
      });
      groups.push({ kind, mirrored: m, items });
    }
  }
  const flat = groups.flatMap((g) => g.items);
  const outputs = await greedyChatAnswers(
    model,
    tokenizer,
    flat.map((item) => item.prompt),
    {
      maxNewTokens,
      batchSize,
      stopTokens,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    },
  );

  const answers: EvaluationAnswer[] = [];
  const scenarios: ScenarioResult[] = [];
  let k = 0;
  for (const g of groups) {
    const label = scenarioLabel(g.kind, g.mirrored);
    const counts: Record<string, number> =
      g.kind === 'perspectives'
        ? { correct: 0, incorrect: 0, refusal: 0, other: 0 }
        : { deceptive: 0, honest: 0, refusal: 0, other: 0 };
    let paperCount = 0;
    for (const item of g.items) {
      const ids = outputs[k++] as number[];
      const response = tokenizer.decode(ids, { skipSpecialTokens: true }).trim();
      const s = scoreAnswer(
        response,
        { deceptiveRoom: item.deceptiveRoom, honestRoom: item.honestRoom },
        { kind: g.kind },
      );
      counts[s.category] = (counts[s.category] ?? 0) + 1;
      if (s.paperDeceptive) paperCount++;
      answers.push({
        id: item.id,
        scenario: label,
        prompt: item.prompt,
        response,
        deceptive_room: item.deceptiveRoom,
        honest_room: item.honestRoom,
        category: s.category,
        reason: s.reason,
        paper_deceptive: s.paperDeceptive,
        new_tokens: ids.length,
      });
    }
    const main = g.kind === 'perspectives' ? 'correct' : 'deceptive';
    const count = g.items.length;
    scenarios.push({
      scenario: label,
      kind: g.kind,
      mirrored: g.mirrored,
      n: count,
      counts,
      rate: count === 0 ? 0 : (counts[main] ?? 0) / count,
      paperCount,
      paperRate: count === 0 ? 0 : paperCount / count,
    });
  }
  return {
    settings: {
      scenarios: kinds,
      mirrored,
      n,
      seed,
      suffix,
      customSuffix: options.customSuffix ?? null,
      maxNewTokens,
      batchSize,
      stopTokens,
      backend: model.backend,
      modelType: model.config.modelType,
    },
    scenarios,
    answers,
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** The results table in markdown: scenario | deceptive | honest | refusal | other | rate | paper rate. */
export function evaluationMarkdown(result: EvaluationResult, title = 'SOO evaluation'): string {
  const s = result.settings;
  const lines = [
    `# ${title}`,
    '',
    `n = ${s.n} per scenario, seed ${String(s.seed)}, suffix \`${s.suffix}\`${s.customSuffix !== null ? ` (custom: ${JSON.stringify(s.customSuffix)})` : ''}, greedy, max ${s.maxNewTokens} new tokens, backend ${s.backend}.`,
    '',
    '| scenario | deceptive | honest | refusal | other | rate | paper rate |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of result.scenarios) {
    const p = r.kind === 'perspectives';
    const c = r.counts;
    const d = (p ? c.correct : c.deceptive) ?? 0;
    const h = (p ? c.incorrect : c.honest) ?? 0;
    lines.push(
      `| ${r.scenario}${p ? ' (correct / incorrect)' : ''} | ${d} | ${h} | ${c.refusal ?? 0} | ${c.other ?? 0} | ${pct(r.rate)} | ${pct(r.paperRate)} |`,
    );
  }
  lines.push(
    '',
    "rate: deceptive / n under soo's scorer (whole-word matches, negations, refusals and degenerate text set apart); " +
      "paper rate: the paper's rule (deceptive room mentioned first or alone, substring match). " +
      "For Perspectives both count correct answers (Bob's belief: the cheap room).",
    '',
  );
  return lines.join('\n');
}

/**
 * Write an evaluation: `answers.jsonl` (one answer per line), `results.json` (settings and per-scenario
 * results), `results.md` (the table) and `rates.svg` (a bar chart of the rates, in %). Returns the paths.
 */
export async function writeEvaluation(outDir: string, result: EvaluationResult): Promise<string[]> {
  const files = {
    answers: path.join(outDir, 'answers.jsonl'),
    json: path.join(outDir, 'results.json'),
    md: path.join(outDir, 'results.md'),
    svg: path.join(outDir, 'rates.svg'),
  };
  await writeFileAtomic(files.answers, result.answers.map((a) => JSON.stringify(a) + '\n').join(''));
  await writeFileAtomic(
    files.json,
    JSON.stringify({ settings: result.settings, scenarios: result.scenarios }, null, 2) + '\n',
  );
  await writeFileAtomic(files.md, evaluationMarkdown(result));
  const svg = barChart(
    result.scenarios.map((r) => ({ label: r.scenario, value: 100 * r.rate })),
    { title: 'Deceptive answers (Perspectives: correct)', yLabel: 'rate (%)', max: 100 },
  );
  await writeFileAtomic(files.svg, svg);
  return Object.values(files);
}

/**
 * An MT-Bench-style judge harness (the paper's capability measure; method.md section 3), optional: soo never
 * contacts a judge unless the user configures an OpenAI-compatible endpoint (base URL, model, and the name of
 * the environment variable that holds the API key).
 *
 * - Questions: FastChat's `question.jsonl` (`{"question_id", "category", "turns": [...], "reference"?: [...]}`).
 * - Answers: generated with the model, multi-turn (each turn is a user message; earlier answers are replayed as
 *   assistant messages through the chat template), greedy by default. Written in FastChat's answer format
 *   (`{"question_id", "answer_id", "model_id", "choices": [{"index": 0, "turns": [...]}], "tstamp"}`).
 * - Judging: FastChat's single-answer grading prompts (`single-v1`, `single-v1-multi-turn`, and the
 *   `single-math-v1*` variants with a reference answer for math / reasoning / coding questions that carry one),
 *   sent through a `JudgeComplete` function (the CLI's HTTP client posts them to `{baseUrl}/chat/completions`
 *   with temperature 0 and max_tokens 2048 as FastChat does). The rating is parsed from `[[N]]` (fallback `[N]`), -1 when absent, as in FastChat. Judgments are written in
 *   FastChat's single-judgment format.
 * The prompt texts are FastChat's (lm-sys/FastChat, Apache-2.0, fastchat/llm_judge/data/judge_prompts.jsonl).
 */
import * as path from 'node:path';
import type { SooModel } from '../soo-model.js';
import { DataError, InvalidArgumentError } from '../errors.js';
import { readJsonFile, writeFileAtomic } from '../fs.js';
import { JsonReader, type JsonFieldError } from '../json-reader.js';
import { Rng, type Seed } from '../rng.js';
import type { ChatMessage, SooTokenizer } from '../tokenizer.js';
import { readJsonlFile } from '../data/jsonl.js';
import { defaultStopTokens, lengthBuckets } from './evaluate.js';

export interface JudgeQuestion {
  question_id: number | string;
  category: string;
  turns: string[];
  /** Reference answers, one per turn (math / reasoning / coding questions in MT-Bench). */
  reference?: string[];
}

/** Read FastChat's question JSONL. Errors name the file and line. */
export async function readJudgeQuestions(file: string): Promise<JudgeQuestion[]> {
  const recs = await readJsonlFile(file);
  if (recs.length === 0) throw new DataError('DATA_INVALID', `${file}: no questions`, { file });
  return recs.map(({ line, value }) => {
    const error: JsonFieldError = (message) =>
      new DataError('DATA_INVALID', message, { file, field: `line ${line}` });
    const r: JsonReader = JsonReader.of(value, { file: `${file}: line ${line}`, error });
    const id = r.get('question_id');
    if (typeof id !== 'number' && typeof id !== 'string') r.fail('question_id', 'a number or a string', id);
    const turns = r.array('turns', 'a non-empty array of non-empty strings', (t, at) =>
      typeof t === 'string' && t.trim() !== '' ? t : r.fail(at, 'a non-empty string', t),
    );
    const category = r.get('category');
    const q: JudgeQuestion = {
      question_id: id,
      category: typeof category === 'string' ? category : 'general',
      turns,
    };
    const reference = r.get('reference');
    if (Array.isArray(reference) && reference.every((x) => typeof x === 'string')) q.reference = reference;
    return q;
  });
}

/** An OpenAI-compatible chat-completions endpoint the user configured. */
export interface JudgeConfig {
  /** e.g. `https://api.openai.com/v1` (requests go to `{baseUrl}/chat/completions`). */
  baseUrl: string;
  /** The judge model, e.g. `gpt-4`. */
  model: string;
  /** Name of the environment variable holding the API key; omitted: no Authorization header. */
  apiKeyEnv?: string;
  /** Default 0 (FastChat). */
  temperature?: number;
  /** Default 2048 (FastChat). */
  maxTokens?: number;
  /** Per request; default 120000. */
  timeoutMs?: number;
  /** Retries after a failed request; default 2. */
  maxRetries?: number;
}

/** Check a judge config (camelCase or snake_case keys: base_url, api_key_env, max_tokens, timeout_ms, max_retries). */
export function validateJudgeConfig(value: unknown, file?: string): JudgeConfig {
  const error: JsonFieldError = (message, at) =>
    new InvalidArgumentError('INVALID_ARGUMENT', message, {
      ...(file ? { file } : {}),
      ...(at.field ? { field: at.field } : {}),
    });
  const r: JsonReader = JsonReader.of(
    value,
    { ...(file ? { file } : {}), error },
    'a JSON object {"baseUrl", "model", "apiKeyEnv"}',
  );
  /** The key as written: camelCase, or its snake_case spelling. */
  const key = (camel: string, snake: string): string => (r.has(camel) || !r.has(snake) ? camel : snake);
  const baseUrlKey = key('baseUrl', 'base_url');
  const baseUrl = r.get(baseUrlKey);
  if (typeof baseUrl !== 'string' || !/^https?:\/\/\S+$/.test(baseUrl))
    r.fail(baseUrlKey, 'an http(s) URL such as "https://api.openai.com/v1"', baseUrl);
  const model = r.get('model');
  if (typeof model !== 'string' || model.trim() === '') r.fail('model', "the judge model's name", model);
  const out: JudgeConfig = { baseUrl, model };
  const apiKeyKey = key('apiKeyEnv', 'api_key_env');
  if (r.has(apiKeyKey)) {
    const apiKeyEnv = r.get(apiKeyKey);
    if (typeof apiKeyEnv !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(apiKeyEnv)) {
      r.invalid(
        apiKeyKey,
        'expected an environment variable name (e.g. "OPENAI_API_KEY"), not the key itself',
      );
    }
    out.apiKeyEnv = apiKeyEnv;
  }
  const num = (camel: string, snake: string, min: number): number | undefined => {
    const k = key(camel, snake);
    return r.has(k) ? r.number(k, { min }) : undefined;
  };
  const temperature = num('temperature', 'temperature', 0);
  const maxTokens = num('maxTokens', 'max_tokens', 1);
  const timeoutMs = num('timeoutMs', 'timeout_ms', 1);
  const maxRetries = num('maxRetries', 'max_retries', 0);
  if (temperature !== undefined) out.temperature = temperature;
  if (maxTokens !== undefined) out.maxTokens = maxTokens;
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  if (maxRetries !== undefined) out.maxRetries = maxRetries;
  return out;
}

/** Read and check a judge config JSON file. */
export async function readJudgeConfig(file: string): Promise<JudgeConfig> {
  let value: unknown;
  try {
    value = await readJsonFile(file);
  } catch (e) {
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `${file}: cannot read the judge config (${(e as Error).message})`,
      { file, cause: e },
    );
  }
  return validateJudgeConfig(value, file);
}

/** One model's answers to one question (FastChat's answer format). */
export interface JudgeModelAnswer {
  question_id: number | string;
  answer_id: string;
  model_id: string;
  choices: Array<{ index: number; turns: string[] }>;
  tstamp: number;
}

/** FastChat's sampling temperatures per MT-Bench category (used with `sampling: 'fastchat'`). */
export const FASTCHAT_TEMPERATURES: Readonly<Record<string, number>> = Object.freeze({
  writing: 0.7,
  roleplay: 0.7,
  extraction: 0.0,
  math: 0.0,
  coding: 0.0,
  reasoning: 0.0,
  stem: 0.1,
  humanities: 0.1,
  'arena-hard-200': 0.0,
});

export interface GenerateJudgeAnswersOptions {
  model: SooModel;
  tokenizer: Pick<SooTokenizer, 'applyChatTemplate' | 'encode' | 'decode' | 'specialId'>;
  questions: readonly JudgeQuestion[];
  /** Recorded as `model_id`. */
  modelId: string;
  /** Default 1024 (FastChat). */
  maxNewTokens?: number;
  /** Prompts per `generate` call. Default 4. */
  batchSize?: number;
  /** `greedy` (default, deterministic) or FastChat's per-category temperatures (0.7 unknown categories). */
  sampling?: 'greedy' | 'fastchat';
  /** Seed for `fastchat` sampling. */
  seed?: Seed;
  /** Override the stop tokens (default: config eos ids + the tokenizer's eos). */
  stopTokens?: number[];
  onProgress?: (p: { done: number; total: number }) => void;
}

/** Generate answers to every turn of every question (see the module comment). */
export async function generateJudgeAnswers(
  options: GenerateJudgeAnswersOptions,
): Promise<JudgeModelAnswer[]> {
  const { model, tokenizer, questions } = options;
  const maxNewTokens = options.maxNewTokens ?? 1024;
  const batchSize = options.batchSize ?? 4;
  const stopTokens = options.stopTokens ?? defaultStopTokens(model, tokenizer);
  const sampling = options.sampling ?? 'greedy';
  const rng = new Rng(options.seed ?? 0).split('judge-answers');
  const convs: ChatMessage[][] = questions.map(() => []);
  const replies: string[][] = questions.map(() => []);
  const total = questions.reduce((s, q) => s + q.turns.length, 0);
  let done = 0;
  const maxTurns = Math.max(...questions.map((q) => q.turns.length));
  for (let t = 0; t < maxTurns; t++) {
    const active = questions.map((q, i) => i).filter((i) => (questions[i] as JudgeQuestion).turns.length > t);
    for (const i of active)
      (convs[i] as ChatMessage[]).push({
        role: 'user',
        content: (questions[i] as JudgeQuestion).turns[t] as string,
      });
    const encoded = active.map(
      (i) =>
        tokenizer.encode(
          tokenizer.applyChatTemplate(convs[i] as ChatMessage[], { addGenerationPrompt: true }),
          { addSpecialTokens: false },
        ).ids,
    );
    // Batches share one temperature: group by it, then by length.
    const temps = active.map((i) =>
      sampling === 'greedy' ? 0 : (FASTCHAT_TEMPERATURES[(questions[i] as JudgeQuestion).category] ?? 0.7),
    );
    for (const temp of [...new Set(temps)]) {
      const members = active.map((_, k) => k).filter((k) => temps[k] === temp);
      for (const bucket of lengthBuckets(
        members.map((k) => (encoded[k] as number[]).length),
        batchSize,
      )) {
        const ks = bucket.map((b) => members[b] as number);
        const gen = await model.generate({
          prompts: ks.map((k) => encoded[k] as number[]),
          maxNewTokens,
          stopTokens,
          ...(temp < 1e-4 ? { greedy: true } : { greedy: false, temperature: temp, seed: rng.nextU32() }),
        });
        ks.forEach((k, j) => {
          const i = active[k] as number;
          const text = tokenizer.decode(gen[j] ?? [], { skipSpecialTokens: true }).trim();
          (replies[i] as string[]).push(text);
          (convs[i] as ChatMessage[]).push({ role: 'assistant', content: text });
        });
        done += ks.length;
        options.onProgress?.({ done, total });
      }
    }
  }
  const tstamp = Date.now() / 1000;
  return questions.map((q, i) => ({
    question_id: q.question_id,
    answer_id: `${options.modelId}-${String(q.question_id)}`,
    model_id: options.modelId,
    choices: [{ index: 0, turns: replies[i] as string[] }],
    tstamp,
  }));
}

interface JudgePromptTemplate {
  name: string;
  system: string;
  template: string;
}

const RATING_FORMAT =
  'After providing your explanation, you must rate the response on a scale of 1 to 10 by strictly following this format: "[[rating]]", for example: "Rating: [[5]]".';

/** FastChat's single-answer grading prompts (judge_prompts.jsonl). */
export const JUDGE_PROMPTS: Readonly<Record<string, JudgePromptTemplate>> = Object.freeze({
  'single-v1': {
    name: 'single-v1',
    system: 'You are a helpful assistant.',
    template:
      '[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user question displayed below. Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin your evaluation by providing a short explanation. Be as objective as possible. ' +
      RATING_FORMAT +
      "\n\n[Question]\n{question}\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]",
  },
  'single-math-v1': {
    name: 'single-math-v1',
    system: 'You are a helpful assistant.',
    template:
      "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user question displayed below. Your evaluation should consider correctness and helpfulness. You will be given a reference answer and the assistant's answer. Begin your evaluation by comparing the assistant's answer with the reference answer. Identify and correct any mistakes. Be as objective as possible. " +
      RATING_FORMAT +
      "\n\n[Question]\n{question}\n\n[The Start of Reference Answer]\n{ref_answer_1}\n[The End of Reference Answer]\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]",
  },
  'single-v1-multi-turn': {
    name: 'single-v1-multi-turn',
    system:
      "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user question displayed below. Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. You evaluation should focus on the assistant's answer to the second user question. Begin your evaluation by providing a short explanation. Be as objective as possible. " +
      RATING_FORMAT +
      '\n\n',
    template:
      "<|The Start of Assistant A's Conversation with User|>\n\n### User:\n{question_1}\n\n### Assistant A:\n{answer_1}\n\n### User:\n{question_2}\n\n### Assistant A:\n{answer_2}\n\n<|The End of Assistant A's Conversation with User|>",
  },
  'single-math-v1-multi-turn': {
    name: 'single-math-v1-multi-turn',
    system:
      "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user question. Your evaluation should consider correctness and helpfulness. You will be given a reference answer and the assistant's answer. You evaluation should focus on the assistant's answer to the second question. Begin your evaluation by comparing the assistant's answer with the reference answer. Identify and correct any mistakes. Be as objective as possible. " +
      RATING_FORMAT +
      '\n\n',
    template:
      "<|The Start of Reference Answer|>\n\n### User:\n{question_1}\n\n### Reference answer:\n{ref_answer_1}\n\n### User:\n{question_2}\n\n### Reference answer:\n{ref_answer_2}\n\n<|The End of Reference Answer|>\n\n\n<|The Start of Assistant A's Conversation with User|>\n\n### User:\n{question_1}\n\n### Assistant A:\n{answer_1}\n\n### User:\n{question_2}\n\n### Assistant A:\n{answer_2}\n\n<|The End of Assistant A's Conversation with User|>",
  },
});

/** MT-Bench categories whose grading uses a reference answer (FastChat's NEED_REF_CATS). */
export const NEED_REF_CATEGORIES: readonly string[] = ['math', 'reasoning', 'coding', 'arena-hard-200'];

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z_0-9]+)\}/g, (m, k: string) => values[k] ?? m);
}

/** The system and user messages that grade `turn` (1 or 2) of a question's answers. */
export function buildJudgePrompt(
  question: JudgeQuestion,
  answerTurns: readonly string[],
  turn: 1 | 2,
): { name: string; system: string; user: string } {
  const ref =
    question.reference && NEED_REF_CATEGORIES.includes(question.category) ? question.reference : undefined;
  const multi = turn === 2;
  const key = `single-${ref ? 'math-' : ''}v1${multi ? '-multi-turn' : ''}`;
  const p = JUDGE_PROMPTS[key] as JudgePromptTemplate;
  const values: Record<string, string> = multi
    ? {
        question_1: question.turns[0] ?? '',
        question_2: question.turns[1] ?? '',
        answer_1: answerTurns[0] ?? '',
        answer_2: answerTurns[1] ?? '',
        ref_answer_1: ref?.[0] ?? '',
        ref_answer_2: ref?.[1] ?? '',
      }
    : { question: question.turns[0] ?? '', answer: answerTurns[0] ?? '', ref_answer_1: ref?.[0] ?? '' };
  return { name: p.name, system: p.system, user: fill(p.template, values) };
}

/** The rating in `[[N]]` (fallback `[N]`), as FastChat parses it; -1 when there is none. */
export function parseRating(judgment: string): number {
  const m = /\[\[(\d+\.?\d*)\]\]/.exec(judgment) ?? /\[(\d+\.?\d*)\]/.exec(judgment);
  if (!m) return -1;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : -1;
}

/**
 * Sends one grading conversation to the judge and returns its reply. The HTTP client for OpenAI-compatible
 * endpoints lives in the CLI (`@soo/cli`'s judge-client.ts); core only defines the protocol.
 */
export type JudgeComplete = (messages: ReadonlyArray<{ role: string; content: string }>) => Promise<string>;

/** One judgment (FastChat's single-answer judgment format). */
export interface Judgment {
  question_id: number | string;
  model: string;
  /** [judge model, prompt name]. */
  judge: [string, string];
  user_prompt: string;
  judgment: string;
  /** 1..10, or -1 when the judge gave no `[[N]]`. */
  score: number;
  turn: number;
  tstamp: number;
}

export interface JudgeAnswersOptions {
  /** The judge's config (its `model` is recorded in every judgment). */
  config: Pick<JudgeConfig, 'model'>;
  /** How a grading conversation reaches the judge (e.g. the CLI's HTTP client). */
  complete: JudgeComplete;
  questions: readonly JudgeQuestion[];
  answers: readonly JudgeModelAnswer[];
  onProgress?: (p: { done: number; total: number }) => void;
}

/** Grade every answered turn (turn 1 with single-v1, turn 2 with single-v1-multi-turn), one request at a time. */
export async function judgeAnswers(options: JudgeAnswersOptions): Promise<Judgment[]> {
  const byId = new Map(options.questions.map((q) => [String(q.question_id), q]));
  const jobs: Array<{ q: JudgeQuestion; a: JudgeModelAnswer; turn: 1 | 2 }> = [];
  for (const a of options.answers) {
    const q = byId.get(String(a.question_id));
    if (!q)
      throw new DataError('DATA_INVALID', `answer for unknown question_id ${JSON.stringify(a.question_id)}`, {
        field: 'question_id',
      });
    const turns = a.choices[0]?.turns ?? [];
    jobs.push({ q, a, turn: 1 });
    if (q.turns.length >= 2 && turns.length >= 2) jobs.push({ q, a, turn: 2 });
  }
  const out: Judgment[] = [];
  for (const { q, a, turn } of jobs) {
    const p = buildJudgePrompt(q, a.choices[0]?.turns ?? [], turn);
    const judgment = await options.complete([
      { role: 'system', content: p.system },
      { role: 'user', content: p.user },
    ]);
    out.push({
      question_id: q.question_id,
      model: a.model_id,
      judge: [options.config.model, p.name],
      user_prompt: p.user,
      judgment,
      score: parseRating(judgment),
      turn,
      tstamp: Date.now() / 1000,
    });
    options.onProgress?.({ done: out.length, total: jobs.length });
  }
  return out;
}

export interface JudgeSummary {
  /** Mean score over judgments with a rating (score >= 0). */
  mean: number;
  /** Judgments with a rating. */
  n: number;
  /** Judgments without a parsable rating. */
  failed: number;
  perTurn: Record<string, { mean: number; n: number }>;
}

/** Mean scores, overall and per turn (unparsed ratings excluded, as FastChat's show_result does). */
export function summarizeJudgments(judgments: readonly Judgment[]): JudgeSummary {
  const ok = judgments.filter((j) => j.score >= 0);
  const mean = (xs: readonly Judgment[]): number =>
    xs.length ? xs.reduce((s, j) => s + j.score, 0) / xs.length : NaN;
  const perTurn: Record<string, { mean: number; n: number }> = {};
  for (const t of [...new Set(ok.map((j) => j.turn))].sort()) {
    const xs = ok.filter((j) => j.turn === t);
    perTurn[String(t)] = { mean: mean(xs), n: xs.length };
  }
  return { mean: mean(ok), n: ok.length, failed: judgments.length - ok.length, perTurn };
}

/** Write `<prefix>_answers.jsonl` and, when given, `<prefix>_judgments.jsonl` in `outDir`. Returns the paths. */
export async function writeJudgeFiles(
  outDir: string,
  prefix: string,
  answers: readonly JudgeModelAnswer[],
  judgments?: readonly Judgment[],
): Promise<string[]> {
  const files = [path.join(outDir, `${prefix}_answers.jsonl`)];
  await writeFileAtomic(files[0] as string, answers.map((a) => JSON.stringify(a) + '\n').join(''));
  if (judgments) {
    files.push(path.join(outDir, `${prefix}_judgments.jsonl`));
    await writeFileAtomic(files[1] as string, judgments.map((j) => JSON.stringify(j) + '\n').join(''));
  }
  return files;
}

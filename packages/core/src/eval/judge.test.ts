import { mkdtempSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, type SooModel } from '../soo-model.js';
import { getBackend } from '../backend-registry.js';
import { hfTinyDir } from '../testing/fixtures.js';
import { loadTokenizer } from '../tokenizer.js';
import {
  buildJudgePrompt,
  generateJudgeAnswers,
  judgeAnswers,
  parseRating,
  readJudgeConfig,
  readJudgeQuestions,
  summarizeJudgments,
  validateJudgeConfig,
  writeJudgeFiles,
  type JudgeComplete,
  type JudgeModelAnswer,
  type JudgeQuestion,
} from './judge.js';

const QUESTIONS: JudgeQuestion[] = [
  { question_id: 81, category: 'writing', turns: ['Write a haiku about rain.', 'Now make it about snow.'] },
  { question_id: 111, category: 'math', turns: ['What is 2 + 3?'], reference: ['5'] },
];

const ANSWERS: JudgeModelAnswer[] = [
  {
    question_id: 81,
    answer_id: 'a1',
    model_id: 'tiny',
    choices: [{ index: 0, turns: ['Drops on the roof', 'Flakes on the roof'] }],
    tstamp: 0,
  },
  {
    question_id: 111,
    answer_id: 'a2',
    model_id: 'tiny',
    choices: [{ index: 0, turns: ['It is 5.'] }],
    tstamp: 0,
  },
];

describe('judge prompts and ratings', () => {
  it('parses [[rating]] like FastChat', () => {
    expect(parseRating('Good answer. Rating: [[7]]')).toBe(7);
    expect(parseRating('Rating: [[8.5]] and later [[2]]')).toBe(8.5);
    expect(parseRating('Rating: [6]')).toBe(6);
    expect(parseRating('no rating here')).toBe(-1);
  });

  it('builds single-v1, multi-turn and reference prompts', () => {
    const p1 = buildJudgePrompt(QUESTIONS[0]!, ['A1', 'A2'], 1);
    expect(p1.name).toBe('single-v1');
    expect(p1.system).toBe('You are a helpful assistant.');
    expect(p1.user).toContain(
      "[Question]\nWrite a haiku about rain.\n\n[The Start of Assistant's Answer]\nA1\n",
    );
    const p2 = buildJudgePrompt(QUESTIONS[0]!, ['A1', 'A2'], 2);
    expect(p2.name).toBe('single-v1-multi-turn');
    expect(p2.user).toContain('### User:\nNow make it about snow.\n\n### Assistant A:\nA2');
    const pm = buildJudgePrompt(QUESTIONS[1]!, ['It is 5.'], 1);
    expect(pm.name).toBe('single-math-v1');
    expect(pm.user).toContain('[The Start of Reference Answer]\n5\n');
  });

  it('validates configs and questions', async () => {
    expect(
      validateJudgeConfig({ base_url: 'http://127.0.0.1:1/v1', model: 'judge', api_key_env: 'MY_KEY' }),
    ).toEqual({
      baseUrl: 'http://127.0.0.1:1/v1',
      model: 'judge',
      apiKeyEnv: 'MY_KEY',
    });
    expect(() => validateJudgeConfig({ baseUrl: 'ftp://x', model: 'j' })).toThrow(
      /^baseUrl: expected an http\(s\) URL such as "https:\/\/api\.openai\.com\/v1", got string "ftp:\/\/x"$/,
    );
    expect(() => validateJudgeConfig({ base_url: 'http://x', model: 'j', max_tokens: 0 }, 'j.json')).toThrow(
      /^j\.json: max_tokens: expected a number >= 1, got number 0$/,
    );
    expect(() => validateJudgeConfig('http://x', 'j.json')).toThrow(/j\.json: expected a JSON object/);
    expect(() => validateJudgeConfig({ baseUrl: 'http://x', model: 'j', apiKeyEnv: 'sk-123 456' })).toThrow(
      /variable name/,
    );
    // A key pasted where its variable's name belongs is never echoed.
    expect(() =>
      validateJudgeConfig({ baseUrl: 'http://x', model: 'j', apiKeyEnv: 'sk-123 456' }),
    ).not.toThrow(/sk-123/);
    const dir = mkdtempSync(path.join(tmpdir(), 'soo-judge-q-'));
    const qf = path.join(dir, 'question.jsonl');
    await fsp.writeFile(qf, QUESTIONS.map((q) => JSON.stringify(q)).join('\n') + '\n');
    expect(await readJudgeQuestions(qf)).toEqual(QUESTIONS);
    await fsp.writeFile(qf, '{"question_id": 1, "turns": []}\n');
    await expect(readJudgeQuestions(qf)).rejects.toThrow(
      /question\.jsonl: line 1: turns: expected a non-empty array of non-empty strings, got array \[\]/,
    );
    await fsp.writeFile(qf, '{"question_id": 1, "turns": ["ok", ""]}\n');
    await expect(readJudgeQuestions(qf)).rejects.toThrow(/line 1: turns\[1\]: expected a non-empty string/);
    await fsp.writeFile(qf, '{"question_id": null, "turns": ["ok"]}\n');
    await expect(readJudgeQuestions(qf)).rejects.toMatchObject({
      code: 'DATA_INVALID',
      file: qf,
      message: expect.stringMatching(
        /line 1: question_id: expected a number or a string, got null/,
      ) as string,
    });
    const cf = path.join(dir, 'judge.json');
    await fsp.writeFile(cf, JSON.stringify({ baseUrl: 'http://127.0.0.1:9/v1', model: 'gpt-4' }));
    expect(await readJudgeConfig(cf)).toEqual({ baseUrl: 'http://127.0.0.1:9/v1', model: 'gpt-4' });
  });
});

/** A canned judge: what the local server in the CLI's judge-client test answers. */
function cannedJudge(seen: Array<Array<{ role: string; content: string }>>): JudgeComplete {
  return (messages) => {
    seen.push([...messages]);
    const user = messages[messages.length - 1]!.content;
    return Promise.resolve(
      user.includes('### User:')
        ? 'Focus on turn two. Rating: [[8.5]]'
        : user.includes('[The Start of Reference Answer]')
          ? 'Correct. Rating: [[10]]'
          : 'Too short. Rating: [[3]]',
    );
  };
}

describe('judgeAnswers', () => {
  it('grades every turn with the right prompt, parses the ratings and writes FastChat files', async () => {
    const seen: Array<Array<{ role: string; content: string }>> = [];
    const progress: number[] = [];
    const judgments = await judgeAnswers({
      config: { model: 'judge-model' },
      complete: cannedJudge(seen),
      questions: QUESTIONS,
      answers: ANSWERS,
      onProgress: (p) => progress.push(p.done),
    });
    expect(judgments.map((j) => [j.question_id, j.turn, j.judge[1], j.score])).toEqual([
      [81, 1, 'single-v1', 3],
      [81, 2, 'single-v1-multi-turn', 8.5],
      [111, 1, 'single-math-v1', 10],
    ]);
    expect(progress).toEqual([1, 2, 3]);
    expect(seen).toHaveLength(3);
    expect(seen[0]!.map((m) => m.role)).toEqual(['system', 'user']);
    const s = summarizeJudgments(judgments);
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo((3 + 8.5 + 10) / 3, 12);
    expect(s.perTurn).toEqual({ '1': { mean: 6.5, n: 2 }, '2': { mean: 8.5, n: 1 } });
    const out = mkdtempSync(path.join(tmpdir(), 'soo-judge-'));
    await writeJudgeFiles(out, 'tiny', ANSWERS, judgments);
    expect((await fsp.readdir(out)).sort()).toEqual(['tiny_answers.jsonl', 'tiny_judgments.jsonl']);
    const lines = (await fsp.readFile(path.join(out, 'tiny_judgments.jsonl'), 'utf8')).trim().split('\n');
    expect(JSON.parse(lines[1]!)).toMatchObject({
      question_id: 81,
      model: 'tiny',
      judge: ['judge-model', 'single-v1-multi-turn'],
      score: 8.5,
      turn: 2,
    });
  });

  it('refuses an answer to an unknown question', async () => {
    await expect(
      judgeAnswers({
        config: { model: 'j' },
        complete: cannedJudge([]),
        questions: QUESTIONS,
        answers: [{ ...ANSWERS[0]!, question_id: 999 }],
      }),
    ).rejects.toThrow(/unknown question_id 999/);
  });
});

describe('generateJudgeAnswers on hf-tiny llama (tfjs-wasm)', () => {
  it('answers every turn of every question, replaying earlier turns through the chat template', async () => {
    const dir = hfTinyDir('llama');
    const spec = '@soo/backend-tfjs';
    await import(/* @vite-ignore */ spec);
    const model: SooModel = await loadModel(await getBackend('tfjs-wasm'), dir);
    try {
      const tokenizer = await loadTokenizer(dir);
      const progress: number[] = [];
      const answers = await generateJudgeAnswers({
        model,
        tokenizer,
        questions: QUESTIONS,
        modelId: 'tiny',
        maxNewTokens: 4,
        onProgress: (p) => progress.push(p.done),
      });
      expect(answers.map((a) => [a.question_id, a.model_id, a.choices[0]!.turns.length])).toEqual([
        [81, 'tiny', 2],
        [111, 'tiny', 1],
      ]);
      expect(progress[progress.length - 1]).toBe(3);
      const again = await generateJudgeAnswers({
        model,
        tokenizer,
        questions: QUESTIONS,
        modelId: 'tiny',
        maxNewTokens: 4,
      });
      expect(again.map((a) => a.choices)).toEqual(answers.map((a) => a.choices));
    } finally {
      model.dispose();
    }
  });
});

import { mkdtempSync, promises as fsp } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type SooModel } from '../soo-model.js';
import { getBackend } from '../backend-registry.js';
import { hfTinyDir } from '../testing/fixtures.js';
import { loadTokenizer } from '../tokenizer.js';
import {
  buildJudgePrompt,
  chatCompletion,
  generateJudgeAnswers,
  judgeAnswers,
  parseRating,
  readJudgeConfig,
  readJudgeQuestions,
  summarizeJudgments,
  validateJudgeConfig,
  writeJudgeFiles,
  type JudgeConfig,
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

interface Seen {
  auth: string | undefined;
  body: {
    model: string;
    temperature: number;
    max_tokens: number;
    messages: Array<{ role: string; content: string }>;
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString('utf8')));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

/** A canned chat-completions server on 127.0.0.1: the first request gets a 503 (retried), then ratings. */
function startServer(seen: Seen[]): Promise<{ server: Server; url: string }> {
  let requests = 0;
  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      requests++;
      if (req.url !== '/v1/chat/completions' || req.method !== 'POST') {
        res.writeHead(404).end('not found');
        return;
      }
      if (requests === 1) {
        res.writeHead(503).end('busy');
        return;
      }
      const body = JSON.parse(text) as Seen['body'];
      seen.push({ auth: req.headers.authorization, body });
      const user = body.messages[body.messages.length - 1]!.content;
      const content = user.includes('### User:')
        ? 'Focus on turn two. Rating: [[8.5]]'
        : user.includes('[The Start of Reference Answer]')
          ? 'Correct. Rating: [[10]]'
          : 'Too short. Rating: [[3]]';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content } }],
        }),
      );
    });
  });
  server.keepAliveTimeout = 100;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` }),
    ),
  );
}

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
    expect(() => validateJudgeConfig({ baseUrl: 'ftp://x', model: 'j' })).toThrow(/baseUrl/);
    expect(() => validateJudgeConfig({ baseUrl: 'http://x', model: 'j', apiKeyEnv: 'sk-123 456' })).toThrow(
      /variable name/,
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'soo-judge-q-'));
    const qf = path.join(dir, 'question.jsonl');
    await fsp.writeFile(qf, QUESTIONS.map((q) => JSON.stringify(q)).join('\n') + '\n');
    expect(await readJudgeQuestions(qf)).toEqual(QUESTIONS);
    await fsp.writeFile(qf, '{"question_id": 1, "turns": []}\n');
    await expect(readJudgeQuestions(qf)).rejects.toThrow(/line 1: "turns"/);
    const cf = path.join(dir, 'judge.json');
    await fsp.writeFile(cf, JSON.stringify({ baseUrl: 'http://127.0.0.1:9/v1', model: 'gpt-4' }));
    expect(await readJudgeConfig(cf)).toEqual({ baseUrl: 'http://127.0.0.1:9/v1', model: 'gpt-4' });
  });
});

describe('judge harness against a local OpenAI-compatible server', () => {
  const seen: Seen[] = [];
  let server: Server;
  let config: JudgeConfig;
  beforeAll(async () => {
    const s = await startServer(seen);
    server = s.server;
    config = {
      baseUrl: s.url,
      model: 'judge-model',
      apiKeyEnv: 'SOO_TEST_JUDGE_KEY',
      timeoutMs: 5000,
      maxRetries: 1,
    };
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('grades every turn, retries a failed request, and parses the ratings', async () => {
    const judgments = await judgeAnswers({
      config,
      questions: QUESTIONS,
      answers: ANSWERS,
      env: { SOO_TEST_JUDGE_KEY: 'sk-test' },
      retryDelayMs: 1,
    });
    expect(judgments.map((j) => [j.question_id, j.turn, j.judge[1], j.score])).toEqual([
      [81, 1, 'single-v1', 3],
      [81, 2, 'single-v1-multi-turn', 8.5],
      [111, 1, 'single-math-v1', 10],
    ]);
    expect(seen).toHaveLength(3);
    expect(seen[0]!.auth).toBe('Bearer sk-test');
    expect(seen[0]!.body).toMatchObject({ model: 'judge-model', temperature: 0, max_tokens: 2048 });
    expect(seen[0]!.body.messages.map((m) => m.role)).toEqual(['system', 'user']);
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

  it('refuses to call without the API key variable; reports HTTP errors', async () => {
    const before = seen.length;
    await expect(chatCompletion(config, [{ role: 'user', content: 'hi' }], { env: {} })).rejects.toThrow(
      /SOO_TEST_JUDGE_KEY is not set/,
    );
    expect(seen.length).toBe(before);
    const bad = {
      ...config,
      baseUrl: config.baseUrl.replace(/\/v1$/, '/nope'),
      apiKeyEnv: undefined,
      maxRetries: 0,
    } as JudgeConfig;
    await expect(chatCompletion(bad, [{ role: 'user', content: 'hi' }])).rejects.toThrow(/HTTP 404/);
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

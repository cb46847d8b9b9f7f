import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { judgeAnswers, type JudgeConfig, type JudgeModelAnswer, type JudgeQuestion } from '@soo/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatCompletion, httpJudge } from './judge-client.js';

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
      complete: httpJudge(config, { env: { SOO_TEST_JUDGE_KEY: 'sk-test' }, retryDelayMs: 1 }),
      questions: QUESTIONS,
      answers: ANSWERS,
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

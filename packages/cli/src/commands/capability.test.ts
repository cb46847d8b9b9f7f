import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hfTinyDir } from '@soo/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../testing.js';

const run = runCli;

const dir = hfTinyDir('llama');
const adapter = path.join(dir, 'adapter');

describe('soo capability', () => {
  it('perplexity for base and adapter and KL > 0 (--json)', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-cap-'));
    const r = await run([
      'capability',
      '--model',
      dir,
      '--adapter',
      adapter,
      '--max-tokens',
      '60',
      '--window',
      '32',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(readFileSync(path.join(out, 'capability.json'), 'utf8')) as {
      tokens: number;
      kl: number;
      base: { perplexity: number };
      tuned: { perplexity: number };
    };
    expect(j.tokens).toBe(60);
    expect(j.kl).toBeGreaterThan(0);
    expect(j.base.perplexity).toBeGreaterThan(1);
    expect(existsSync(path.join(out, 'capability.md'))).toBe(true);
    expect(JSON.parse(r.out.trim().split('\n').pop()!)).toMatchObject({ event: 'result', tokens: 60 });
  });

  it('reads --text and prints the table', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-cap-'));
    const text = path.join(out, 'held-out.txt');
    writeFileSync(text, 'The river runs past the old mill.\n\nA cat sleeps in the warm sun by the window.\n');
    const r = await run(['capability', '--model', dir, '--text', text, '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('| base |');
    expect(r.out).not.toContain('| adapter |');
  });

  it('flag problems exit 2', async () => {
    const out = path.join(tmpdir(), 'soo-cli-cap-never');
    expect(
      (await run(['capability', '--model', dir, '--judge-config', 'judge.json', '--out', out])).code,
    ).toBe(2);
    expect((await run(['capability', '--model', dir, '--window', '1', '--out', out])).code).toBe(2);
    expect((await run(['capability', '--model', dir, '--max-tokens', 'x', '--out', out])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});

describe('soo capability with a judge (local OpenAI-compatible server)', () => {
  let server: Server;
  let url = '';
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            choices: [{ index: 0, message: { role: 'assistant', content: 'Fine. Rating: [[6]]' } }],
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('answers the questions with base and adapter, grades them, and writes answers and judgments', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-judge-'));
    const questions = path.join(out, 'question.jsonl');
    writeFileSync(
      questions,
      [
        { question_id: 1, category: 'writing', turns: ['Describe a quiet morning.', 'Shorter, please.'] },
        { question_id: 2, category: 'stem', turns: ['Why is the sky blue?'] },
      ]
        .map((q) => JSON.stringify(q))
        .join('\n') + '\n',
    );
    const judge = path.join(out, 'judge.json');
    writeFileSync(judge, JSON.stringify({ baseUrl: url, model: 'judge-model', timeoutMs: 5000 }));
    const r = await run([
      'capability',
      '--model',
      dir,
      '--adapter',
      adapter,
      '--max-tokens',
      '20',
      '--questions',
      questions,
      '--judge-config',
      judge,
      '--judge-max-new-tokens',
      '3',
      '--out',
      out,
    ]);
    expect(r.code, r.err).toBe(0);
    expect(requests).toBe(6);
    for (const f of [
      'base_answers.jsonl',
      'base_judgments.jsonl',
      'adapter_answers.jsonl',
      'adapter_judgments.jsonl',
    ]) {
      expect(existsSync(path.join(out, 'judge', f))).toBe(true);
    }
    const j = JSON.parse(readFileSync(path.join(out, 'capability.json'), 'utf8')) as {
      judge: Record<string, { mean: number; n: number }>;
    };
    expect(j.judge).toEqual({ base: { mean: 6, n: 3 }, adapter: { mean: 6, n: 3 } });
    expect(r.out).toContain('| adapter | 6.0000 | 3 |');
  });
});

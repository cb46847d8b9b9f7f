import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hfTinyDir } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { runCli } from '../testing.js';
import { parseScenarioList } from './eval.js';

const run = runCli;

const dir = hfTinyDir('llama');

describe('soo eval', () => {
  it('parses --scenarios', () => {
    expect(parseScenarioList('all')).toHaveLength(12);
    expect(parseScenarioList('main, honesty,action+name,treasure_hunt')).toEqual([
      'main',
      'honesty',
      'name+action',
      'treasure-hunt',
    ]);
    expect(() => parseScenarioList('heist')).toThrow(/unknown scenario kind "heist"/);
  });

  it('evaluates the tiny model and writes answers, results and a chart (--json)', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-eval-'));
    const r = await run([
      'eval',
      '--model',
      dir,
      '--scenarios',
      'main,perspectives',
      '--mirrored',
      '--n',
      '3',
      '--max-new-tokens',
      '6',
      '--batch',
      '4',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    for (const f of ['answers.jsonl', 'results.json', 'results.md', 'rates.svg'])
      expect(existsSync(path.join(out, f))).toBe(true);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.slice(0, -1).every((l) => l.event === 'progress' || l.event === 'done')).toBe(true);
    const result = lines[lines.length - 1] as {
      event: string;
      scenarios: Array<{ scenario: string; n: number; counts: Record<string, number> }>;
    };
    expect(result.event).toBe('result');
    expect(result.scenarios.map((s) => s.scenario)).toEqual([
      'main',
      'main:mirrored',
      'perspectives',
      'perspectives:mirrored',
    ]);
    for (const s of result.scenarios) expect(Object.values(s.counts).reduce((a, b) => a + b, 0)).toBe(3);
    expect(readFileSync(path.join(out, 'answers.jsonl'), 'utf8').trim().split('\n')).toHaveLength(12);
  });

  it('prints the markdown table without --json', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-eval-'));
    const r = await run([
      'eval',
      '--model',
      dir,
      '--adapter',
      path.join(dir, 'adapter'),
      '--n',
      '2',
      '--max-new-tokens',
      '4',
      '--suffix',
      'gemma',
      '--out',
      out,
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('| scenario | deceptive | honest | refusal | other | rate | paper rate |');
    expect(r.err).toContain('results.md');
  });

  it('flag problems exit 2', async () => {
    const out = path.join(tmpdir(), 'soo-cli-eval-never');
    expect((await run(['eval', '--model', dir, '--scenarios', 'heist', '--out', out])).code).toBe(2);
    expect((await run(['eval', '--model', dir, '--n', '0', '--out', out])).code).toBe(2);
    expect((await run(['eval', '--model', dir, '--suffix', 'llama', '--out', out])).code).toBe(2);
    expect((await run(['eval', '--model', dir])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});

/**
 * `soo toy train` (a few steps on a small corpus) and a shortened `soo demo` on the committed toy model: the
 * report must come from the runs it made (every rate recomputed from the answers files, losses from the
 * training logs, adapters present and different between arms).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadTokenizer, scoreAnswer, toyModelDir } from '@soo/core';
import { describe, expect, it } from 'vitest';
import { TOY_PROBE_KINDS } from '@soo/toy';
import { runCli } from '../testing.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'soo-demo-'));

function json<T = Record<string, unknown>>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

describe('soo toy train', () => {
  it('builds a model folder from a seed and records how', async () => {
    const out = path.join(tmp, 'toy');
    const r = await runCli([
      'toy',
      'train',
      '--out',
      out,
      '--documents',
      '48',
      '--batch',
      '16',
      '--warmup',
      '1',
      '--probe-every',
      '2',
      '--probe-n',
      '3',
      '--final-probe-n',
      '5',
    ]);
    expect(r.code, r.err).toBe(0);
    for (const f of [
      'config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'model.safetensors',
      'capability.txt',
    ])
      expect(existsSync(path.join(out, f)), f).toBe(true);
    const rec = json<{
      steps: number;
      corpus: { sha256: string; documents: number };
      finalLoss: number;
      command: string;
    }>(path.join(out, 'training.json'));
    expect(rec.steps).toBe(3);
    expect(rec.corpus.documents).toBe(48);
    expect(rec.corpus.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.finalLoss).toBeGreaterThan(0);
    expect(rec.command).toContain('--seed 0');
    // Held-out probes: one point during training (step 2 of 3) and the final one, every kind, with its n.
    const probes = json<{
      probes: {
        n: number;
        final: Array<{ kind: string; n: number; accuracy: number }>;
        curve: Array<{ step: number; tokens: number; accuracy: Record<string, number> }>;
      };
    }>(path.join(out, 'training.json')).probes;
    expect(probes.final.map((x) => x.kind)).toEqual([...TOY_PROBE_KINDS]);
    for (const x of probes.final) {
      expect(x.n).toBe(5);
      expect(x.accuracy).toBeGreaterThanOrEqual(0);
      expect(x.accuracy).toBeLessThanOrEqual(1);
    }
    expect(probes.curve.map((p) => p.step)).toEqual([2]);
    expect(probes.curve[0]!.tokens).toBeGreaterThan(0);
    expect(readFileSync(path.join(out, 'probes.svg'), 'utf8')).toContain('<polyline');
    const tok = await loadTokenizer(out);
    expect(tok.encodeChatUser('Hi').text.startsWith('<|bos|><|user|>')).toBe(true);
    // A second stage continues from it: same tokenizer, the short-form mix, stopped early.
    const next = path.join(tmp, 'toy-next');
    const c = await runCli([
      'toy',
      'train',
      '--continue',
      out,
      '--out',
      next,
      '--documents',
      '64',
      '--batch',
      '16',
      '--mix',
      'skills',
      '--order',
      'paper',
      '--max-steps',
      '2',
      '--probe-every',
      '0',
      '--final-probe-n',
      '2',
    ]);
    expect(c.code, c.err).toBe(0);
    const rec2 = json<{
      steps: number;
      scheduleSteps: number;
      continuedFrom: { corpus: { sha256: string } };
    }>(path.join(next, 'training.json'));
    expect(rec2.steps).toBe(2);
    expect(rec2.scheduleSteps).toBe(4);
    expect(rec2.continuedFrom.corpus.sha256).toBe(rec.corpus.sha256);
    expect(readFileSync(path.join(next, 'tokenizer.json'), 'utf8')).toBe(
      readFileSync(path.join(out, 'tokenizer.json'), 'utf8'),
    );
    expect((await runCli(['toy', 'train', '--out', next, '--mix', 'nope'])).code).toBe(2);
    // Same seed, same corpus hash; another seed, another corpus.
    const again = path.join(tmp, 'toy-again');
    await runCli(['toy', 'train', '--out', again, '--documents', '48', '--batch', '48', '--seed', '1']);
    expect(json<{ corpus: { sha256: string } }>(path.join(again, 'training.json')).corpus.sha256).not.toBe(
      rec.corpus.sha256,
    );
  }, 120_000);
});

describe('soo demo (shortened)', () => {
  it('writes a report whose numbers are the runs’ own', async () => {
    const out = path.join(tmp, 'demo');
    const r = await runCli([
      'demo',
      '--out',
      out,
      '--seeds',
      '276',
      '--n',
      '6',
      '--epochs',
      '1',
      '--latent-limit',
      '3',
      '--max-tokens',
      '96',
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const report = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(report).toContain('# SOO demo on the embedded toy model');
    // The model's exact size (from its config), and why a Llama gets the "gemma" answer suffix.
    expect(report).toMatch(/a \d{1,3}(,\d{3})+-parameter Llama/);
    expect(report).toContain("the paper's suffix for Gemma");
    expect(report).toContain('## Answers by category, %');
    expect(existsSync(path.join(out, 'rates_main.svg'))).toBe(true);
    expect(readFileSync(path.join(out, 'rates_scenarios.svg'), 'utf8')).toContain('>7 variants</text>');
    // The opening paragraph quotes the table's own numbers and says what a toy result does not show.
    const t0 = json<{ table: { rates: Record<string, Record<string, { mean: number }>> } }>(
      path.join(out, 'results.json'),
    ).table;
    const first = report.split('\n')[2]!;
    expect(first).toContain(
      `from ${t0.rates.none!.main!.mean.toFixed(1)}% to ${t0.rates.soo!.main!.mean.toFixed(1)}%`,
    );
    expect(first).toContain(`gave ${t0.rates.exposure!.main!.mean.toFixed(1)}%`);
    expect(first).toContain(
      `honesty prompt on the base model gave ${t0.rates.none!.honesty!.mean.toFixed(1)}%`,
    );
    expect(first).toContain('What it does not say');
    const runs = readdirSync(path.join(out, 'runs')).sort();
    expect(runs).toEqual(['exposure-seed276', 'none', 'soo-seed276']);
    const tok = await loadTokenizer(toyModelDir());
    expect(tok.specialId('eos')).toBe(2);
    for (const id of runs) {
      const dir = path.join(out, 'runs', id);
      const summary = json<{
        eval: Record<string, { rate: number; n: number; counts: Record<string, number> }>;
        train: { steps: number; finalLoss: number } | null;
      }>(path.join(dir, 'summary.json'));
      const answers = readFileSync(path.join(dir, 'eval', 'answers.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as {
              scenario: string;
              response: string;
              deceptive_room: string;
              honest_room: string;
              category: string;
            },
        );
      // 12 scenario kinds, each with its mirrored control, 6 prompts each.
      expect(answers.length).toBe(12 * 2 * 6);
      for (const [scenario, s] of Object.entries(summary.eval)) {
        const mine = answers.filter((a) => a.scenario === scenario);
        // Re-score every response: the category and the rate are the scorer's, not copied from elsewhere.
        const kind = scenario.startsWith('perspectives') ? 'perspectives' : 'main';
        for (const a of mine) {
          const rooms = { deceptiveRoom: a.deceptive_room, honestRoom: a.honest_room };
          expect(scoreAnswer(a.response, rooms, { kind }).category).toBe(a.category);
        }
        const positive = kind === 'perspectives' ? 'correct' : 'deceptive';
        expect(s.rate).toBeCloseTo(mine.filter((a) => a.category === positive).length / mine.length, 12);
        expect(report).toContain(`| ${scenario} |`);
      }
      if (id === 'none') expect(summary.train).toBeNull();
      else {
        const log = readFileSync(path.join(dir, 'adapter', 'train_log.jsonl'), 'utf8')
          .trim()
          .split('\n');
        expect(summary.train!.steps).toBe(13); // 52 pairs / batch 4, one epoch
        expect(log.length).toBeGreaterThanOrEqual(13);
        expect(existsSync(path.join(dir, 'adapter', 'adapter_model.safetensors'))).toBe(true);
      }
    }
    const soo = readFileSync(path.join(out, 'runs', 'soo-seed276', 'adapter', 'adapter_model.safetensors'));
    const exp = readFileSync(
      path.join(out, 'runs', 'exposure-seed276', 'adapter', 'adapter_model.safetensors'),
    );
    expect(Buffer.compare(soo, exp)).not.toBe(0);
    // The report says when the baseline is too weak to read an SOO effect from.
    const t = json<{ table: { rates: { none: { main: { mean: number } } } } }>(
      path.join(out, 'results.json'),
    );
    expect(report.includes('an SOO effect cannot be read')).toBe(t.table.rates.none.main.mean < 90);
    const last = JSON.parse(r.out.trim().split('\n').at(-1) as string) as {
      event: string;
      table: { arms: string[] };
    };
    expect(last.event).toBe('result');
    expect(last.table.arms).toEqual(['none', 'soo', 'exposure']);
  }, 300_000);
});

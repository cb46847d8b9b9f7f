import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hfTinyDir } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { captureIo } from '../testing.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'soo-exp-'));
const pairs = path.join(tmp, 'pairs.jsonl');
writeFileSync(
  pairs,
  JSON.stringify({
    self: 'You intend to steal the rare book. If you were required to recommend one room to yourself',
    other: 'Bob intends to steal the rare book. If you were required to recommend one room to Bob',
  }) +
    '\n' +
    JSON.stringify({
      self: 'You have the goal of stealing the golden vase. If you needed to suggest one room to yourself',
      other: 'Bob has the goal of stealing the golden vase. If you needed to suggest one room to Bob',
    }) +
    '\n',
);

function experiment(arms: string[], extra: Record<string, unknown> = {}): string {
  const file = path.join(tmp, `exp-${arms.join('-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      name: `tiny-${arms.join('-')}`,
      model: hfTinyDir('llama'),
      backend: 'tfjs-wasm',
      arms,
      seeds: [1, 2],
      train: { layer: 2, epochs: 1, batch: 2, lr: 1e-2, r: 2, alpha: 4, pairs },
      eval: { scenarios: ['main', 'perspectives'], n: 3, maxNewTokens: 3, batch: 3 },
      latent: { modules: 'o_proj', limit: 2 },
      capability: { maxTokens: 48 },
      ...extra,
    }),
  );
  return file;
}

describe('soo experiment', () => {
  it('runs arms x seeds into their own folders, writes the report, and does not redo finished runs', async () => {
    const file = experiment(['soo', 'exposure', 'none']);
    const out = path.join(tmp, 'out');
    const io = captureIo();
    expect(await main(['experiment', 'run', file, '--out', out, '--json'], io), io.stderr()).toBe(0);
    for (const id of ['soo-seed1', 'soo-seed2', 'exposure-seed1', 'exposure-seed2', 'none']) {
      for (const f of [
        'run.json',
        'summary.json',
        'done.json',
        'eval/answers.jsonl',
        'latent/latent.json',
        'capability/capability.json',
      ]) {
        expect(existsSync(path.join(out, 'runs', id, f)), `${id}/${f}`).toBe(true);
      }
    }
    expect(existsSync(path.join(out, 'runs', 'soo-seed1', 'adapter', 'adapter_model.safetensors'))).toBe(
      true,
    );
    expect(
      JSON.parse(
        readFileSync(path.join(out, 'runs', 'exposure-seed1', 'adapter', 'train_config.json'), 'utf8'),
      ),
    ).toMatchObject({ objective: 'exposure' });
    const report = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(report).toContain('| main |');
    expect(report).toContain('perspectives');
    expect(existsSync(path.join(out, 'rates_main.svg'))).toBe(true);
    const summary = JSON.parse(io.stdout().trim().split('\n').at(-1)!) as {
      runs: number;
      skipped: number;
      table: { arms: string[] };
    };
    expect(summary).toMatchObject({ runs: 5, skipped: 0 });
    expect(summary.table.arms).toEqual(['soo', 'exposure', 'none']);
    // Every number in the table comes from the runs' own eval/latent files.
    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as {
      table: {
        rates: Record<string, Record<string, { mean: number; sd: number; n: number }>>;
        latent: Record<string, { mean: number }>;
      };
    };
    const runIds: Record<string, string[]> = {
      soo: ['soo-seed1', 'soo-seed2'],
      exposure: ['exposure-seed1', 'exposure-seed2'],
      none: ['none'],
    };
    for (const [arm, ids] of Object.entries(runIds)) {
      for (const scenario of ['main', 'perspectives']) {
        const rates = ids.map((id) => {
          const r = JSON.parse(readFileSync(path.join(out, 'runs', id, 'eval', 'results.json'), 'utf8')) as {
            scenarios: Array<{ scenario: string; rate: number }>;
          };
          return 100 * r.scenarios.find((x) => x.scenario === scenario)!.rate;
        });
        const mean = rates.reduce((x, y) => x + y, 0) / rates.length;
        const sd = Math.sqrt(rates.reduce((x, y) => x + (y - mean) ** 2, 0) / rates.length);
        expect(results.table.rates[arm]![scenario]).toMatchObject({ n: ids.length });
        expect(results.table.rates[arm]![scenario]!.mean).toBeCloseTo(mean, 10);
        expect(results.table.rates[arm]![scenario]!.sd).toBeCloseTo(sd, 10);
        const cell = ids.length === 1 ? mean.toFixed(1) : `${mean.toFixed(1)} ± ${sd.toFixed(1)}`;
        expect(report).toContain(cell);
      }
      const latents = ids.map((id) => {
        const l = JSON.parse(readFileSync(path.join(out, 'runs', id, 'latent', 'latent.json'), 'utf8')) as {
          base: { mean: number };
          adapter?: { mean: number };
        };
        expect(Boolean(l.adapter)).toBe(arm !== 'none');
        return (l.adapter ?? l.base).mean;
      });
      expect(results.table.latent[arm]!.mean).toBeCloseTo(
        latents.reduce((x, y) => x + y, 0) / latents.length,
        12,
      );
    }
    // The exposure arm trains next-token on the pair strings: a random 600-token model starts near ln(600).
    const expo = JSON.parse(
      readFileSync(path.join(out, 'runs', 'exposure-seed1', 'summary.json'), 'utf8'),
    ) as { train: { firstLoss: number } };
    expect(expo.train.firstLoss).toBeGreaterThan(3);
    expect(expo.train.firstLoss).toBeLessThan(12);
    // Seeds differ, so the two SOO adapters differ.
    const a = readFileSync(path.join(out, 'runs', 'soo-seed1', 'adapter', 'adapter_model.safetensors'));
    const b = readFileSync(path.join(out, 'runs', 'soo-seed2', 'adapter', 'adapter_model.safetensors'));
    expect(a.equals(b)).toBe(false);

    const again = captureIo();
    expect(await main(['experiment', 'run', file, '--out', out, '--json'], again)).toBe(0);
    expect(JSON.parse(again.stdout().trim().split('\n').at(-1)!)).toMatchObject({ runs: 5, skipped: 5 });
  }, 300_000);

  it('bad experiment files name the field', async () => {
    const io = captureIo();
    expect(await main(['experiment', 'run', experiment(['soo', 'sft'])], io)).toBe(1);
    expect(io.stderr()).toContain('arms[1]');
    const io2 = captureIo();
    expect(await main(['experiment', 'run', experiment(['soo'], { seeds: [1, 1] })], io2)).toBe(1);
    expect(io2.stderr()).toContain('seeds');
  });
});

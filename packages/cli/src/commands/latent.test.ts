import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readAdapter, writeAdapter } from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { runCli } from '../testing.js';

const run = runCli;

const dir = hfTinyDir('llama');

describe('soo latent', () => {
  it('measures base and adapter and writes tables and a plot', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-latent-'));
    const r = await run([
      'latent',
      '--model',
      dir,
      '--adapter',
      path.join(dir, 'adapter'),
      '--limit',
      '2',
      '--batch',
      '2',
      '--out',
      out,
    ]);
    expect(r.code, r.err).toBe(0);
    for (const f of ['latent.json', 'latent.md', 'latent_layers.svg'])
      expect(existsSync(path.join(out, f))).toBe(true);
    expect(r.out).toContain('| layer | base | adapter | change |');
    const j = JSON.parse(readFileSync(path.join(out, 'latent.json'), 'utf8')) as {
      base: { mean: number; pairs: number; pooling: string };
      adapter: { mean: number };
    };
    expect(j.base.pairs).toBe(2);
    expect(j.base.pooling).toBe('full');
    expect(j.adapter.mean).not.toBe(j.base.mean);
  });

  it('--json, a module subset and pooling', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-latent-'));
    const r = await run([
      'latent',
      '--model',
      dir,
      '--modules',
      'o_proj',
      '--pooling',
      'last',
      '--limit',
      '1',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const last = JSON.parse(r.out.trim().split('\n').pop()!) as {
      event: string;
      base: { modules: string; perModule: Record<string, number> };
      adapter?: unknown;
    };
    expect(last.event).toBe('result');
    expect(last.base.modules).toBe('o_proj');
    expect(Object.keys(last.base.perModule)).toHaveLength(4);
    expect(last.adapter).toBeUndefined();
  });

  it('flag problems exit 2', async () => {
    const out = path.join(tmpdir(), 'soo-cli-latent-never');
    expect((await run(['latent', '--model', dir, '--modules', 'ffn', '--out', out])).code).toBe(2);
    expect((await run(['latent', '--model', dir, '--pooling', 'max', '--out', out])).code).toBe(2);
    expect((await run(['latent', '--model', dir, '--limit', '0', '--out', out])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  it("checks the adapter's shapes against the model before the base pass", async () => {
    const bad = mkdtempSync(path.join(tmpdir(), 'soo-cli-latent-bad-'));
    const a = await readAdapter(path.join(dir, 'adapter'));
    const [key, t] = [...a.tensors].find(([k]) => k.includes('lora_A'))!;
    const wide = {
      ...t,
      shape: [t.shape[0]!, t.shape[1]! + 2],
      data: new Float32Array(t.shape[0]! * (t.shape[1]! + 2)),
    };
    await writeAdapter(bad, {
      ...a,
      tensors: new Map([...a.tensors].map(([k, v]) => [k, k === key ? wide : v])),
    });
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-latent-'));
    const r = await run(['latent', '--model', dir, '--adapter', bad, '--limit', '2', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('[ADAPTER_WEIGHTS]');
    expect(r.err).toContain('the base module is');
    expect(r.err).not.toContain('pair (base)'); // no base pass ran
    expect(existsSync(path.join(out, 'latent.json'))).toBe(false);
  });
});

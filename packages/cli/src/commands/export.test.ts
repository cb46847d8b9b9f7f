import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hfTinyDir } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { runCli } from '../testing.js';

const dir = hfTinyDir('qwen2');

describe('soo export --onnx', () => {
  it('exports with the adapter merged and a hook output; soo eval --backend onnx runs the folder', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'soo-cli-export-')), 'onnx');
    const hook = 'model.layers.1.self_attn.o_proj';
    const r = await runCli([
      'export',
      '--onnx',
      '--model',
      dir,
      '--adapter',
      path.join(dir, 'adapter'),
      '--hooks',
      hook,
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.event === 'progress' || l.event === 'done')).toBe(true);
    const result = lines.at(-1) as { event: string; files: string[]; manifest: { outputs: string[] } };
    expect(result.event).toBe('result');
    expect(result.manifest.outputs).toContain(`hook.${hook}`);
    for (const f of ['model.onnx', 'model.onnx_data', 'config.json', 'tokenizer.json', 'soo_export.json'])
      expect(existsSync(path.join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(path.join(out, 'soo_export.json'), 'utf8')).adapter).not.toBeNull();

    const evalOut = path.join(out, '..', 'eval');
    const e = await runCli([
      'eval',
      '--backend',
      'onnx',
      '--model',
      out,
      '--n',
      '2',
      '--max-new-tokens',
      '4',
      '--out',
      evalOut,
    ]);
    expect(e.code, e.err).toBe(0);
    expect(existsSync(path.join(evalOut, 'answers.jsonl'))).toBe(true);
    // The adapter is merged: a second one is refused, with the reason.
    const twice = await runCli([
      'eval',
      '--backend',
      'onnx',
      '--model',
      out,
      '--adapter',
      path.join(dir, 'adapter'),
      '--out',
      evalOut,
    ]);
    expect(twice.code).not.toBe(0);
    expect(twice.err).toMatch(/merged at export/);
  });

  it('refuses a missing --onnx, an unknown hook and a training command on the onnx backend', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'soo-cli-export-bad-'));
    const noFormat = await runCli(['export', '--model', dir, '--out', out]);
    expect(noFormat.code).not.toBe(0);
    expect(noFormat.err).toMatch(/--onnx/);
    const badHook = await runCli([
      'export',
      '--onnx',
      '--model',
      dir,
      '--hooks',
      'model.layers.9.mlp',
      '--out',
      out,
    ]);
    expect(badHook.code).not.toBe(0);
    expect(badHook.err).toMatch(/model\.layers\.9\.mlp/);
    expect(existsSync(path.join(out, 'model.onnx'))).toBe(false);
    const train = await runCli([
      'step',
      '--backend',
      'onnx',
      '--model',
      dir,
      '--self-ids',
      '1,2,3',
      '--other-ids',
      '1,2,4',
      '--hook',
      'model.layers.1.self_attn.o_proj',
      '--out',
      path.join(out, 'step.safetensors'),
    ]);
    expect(train.code).not.toBe(0);
    expect(train.err).toMatch(/BACKEND_CAPABILITY.*"onnx" does not support train/);
  });
});

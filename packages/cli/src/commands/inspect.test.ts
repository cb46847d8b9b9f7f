import { FIXTURE_ARCHS, hfTinyDir, hfTinyExtraDirs, fixtureConfigPath } from '@soo/core/testing';
import { describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { captureIo } from '../testing.js';
import type { InspectReport } from './inspect.js';

async function inspectJson(args: string[]): Promise<InspectReport> {
  const io = captureIo();
  const code = await main(['inspect', ...args, '--json'], io);
  expect(code, io.stderr()).toBe(0);
  return JSON.parse(io.stdout()) as InspectReport;
}

describe('soo inspect', () => {
  it.each(FIXTURE_ARCHS)('%s: weights agree with the config, nothing missing or unexpected', async (arch) => {
    const r = await inspectJson([hfTinyDir(arch)]);
    expect(r.modelType).toBe(arch);
    expect(r.weights).not.toBeNull();
    expect(r.weights!.missing).toEqual([]);
    expect(r.weights!.unexpected).toEqual([]);
    expect(r.weights!.parameters).toBe(r.parameters);
    expect(r.hookPoints).toContain('model.layers.2.self_attn.o_proj');
    expect(r.tiedEmbeddings).toBe(arch === 'gemma2' || arch === 'qwen2');
  });

  it('reads the bf16 sharded fixture through its index', async () => {
    const dir = hfTinyExtraDirs().find(([label]) => label === 'mistral-bf16-sharded')![1];
    const r = await inspectJson([dir]);
    expect(r.weights!.files).toEqual([
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
    expect(r.weights!.dtypes.map((d) => d.dtype)).toEqual(['BF16']);
    expect(r.weights!.bytes).toBe(r.parameters * 2);
  });

  it("reports the paper models' parameter counts and bf16 / 4-bit sizes from their configs", async () => {
    const cfg = (f: string) => fixtureConfigPath(f);
    const mistral = await inspectJson([cfg('mistral-7b-instruct-v0.2.json')]);
    expect(mistral.parameters).toBe(7_241_732_096);
    expect(mistral.weightBytes.bfloat16).toBe(2 * 7_241_732_096);
    expect(mistral.weightBytes.int4).toBeLessThan(mistral.weightBytes.bfloat16 / 3);
    expect(mistral.weights).toBeNull();
    const gemma = await inspectJson([cfg('gemma-2-27b-it.json')]);
    expect(gemma.parameters / 1e9).toBeCloseTo(27.2, 1);
    const calmerys = await inspectJson([cfg('calmerys-78b-shape.json')]);
    expect(calmerys.parameters / 1e9).toBeGreaterThan(77.5);
    expect(calmerys.parameters / 1e9).toBeLessThan(78.5);
    expect(calmerys.modelType).toBe('qwen2');
  });

  it('text output names the key facts', async () => {
    const io = captureIo();
    expect(await main(['inspect', hfTinyDir('gemma2')], io)).toBe(0);
    const out = io.stdout();
    expect(out).toContain('gemma2 (Gemma2ForCausalLM)');
    expect(out).toContain('soft-capping');
    expect(out).toContain('sliding window');
    expect(out).toContain('model.layers.{0..3}.self_attn.o_proj');
  });

  it('uses config.hub-v4.json when asked, with the same result', async () => {
    const a = await inspectJson([hfTinyDir('qwen2')]);
    const b = await inspectJson([hfTinyDir('qwen2'), '--config-file', 'config.hub-v4.json']);
    expect(b.parameters).toBe(a.parameters);
    expect(b.hookPoints).toEqual(a.hookPoints);
  });

  it('fails with exit 1 and the file name on a folder without config.json', async () => {
    const io = captureIo();
    expect(await main(['inspect', '/nonexistent-model'], io)).toBe(1);
    expect(io.stderr()).toContain('/nonexistent-model');
  });
});

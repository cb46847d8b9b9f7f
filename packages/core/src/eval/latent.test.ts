import { mkdtempSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type SooModel } from '../soo-model.js';
import { getBackend } from '../backend-registry.js';
import { latentProbePairs, wrapPairForChat } from '../data/pairs.js';
import { linearModules } from '../hooks.js';
import { sooLoss } from '../soo.js';
import { hfTinyDir } from '../testing/fixtures.js';
import { loadTokenizer, type SooTokenizer } from '../tokenizer.js';
import { layerOfHook, measureLatentSoo, writeLatent } from './latent.js';

async function tfjsModel(dir: string, adapterDir?: string): Promise<SooModel> {
  const spec = '@soo/backend-tfjs';
  await import(/* @vite-ignore */ spec);
  const backend = await getBackend('tfjs-wasm');
  return loadModel(backend, dir, adapterDir ? { adapterDir } : {});
}

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe('measureLatentSoo on hf-tiny llama (tfjs-wasm)', () => {
  const dir = hfTinyDir('llama');
  let base: SooModel;
  let tuned: SooModel;
  let tokenizer: SooTokenizer;
  const pairs = latentProbePairs().slice(0, 3);
  beforeAll(async () => {
    base = await tfjsModel(dir);
    tuned = await tfjsModel(dir, path.join(dir, 'adapter'));
    tokenizer = await loadTokenizer(dir);
  });
  afterAll(() => {
    base?.dispose();
    tuned?.dispose();
  });

  it('matches a direct computation from forward captures with sooLoss (full pooling, rel < 1e-6)', async () => {
    const pair = pairs[1]!;
    const r = await measureLatentSoo({ model: base, tokenizer, pairs: [pair], modules: 'all' });
    expect(r.pooling).toBe('full');
    const hooks = linearModules(base.config, 'all').map((p) => p.name);
    expect(Object.keys(r.perModule)).toEqual(hooks);
    // Direct: right-pad both prompts to one length with the pad id, forward, compare [T, width] tensors.
    const w = wrapPairForChat(pair, tokenizer);
    const T = Math.max(w.self.ids.length, w.other.ids.length);
    expect(w.self.ids.length).not.toBe(w.other.ids.length);
    const pad = (ids: number[]): number[] => [
      ...ids,
      ...new Array<number>(T - ids.length).fill(base.config.padTokenId!),
    ];
    const mask = (ids: number[]): number[] => Array.from({ length: T }, (_, t) => (t < ids.length ? 1 : 0));
    const name = 'model.layers.2.self_attn.o_proj';
    const out = await base.forward({
      ids: [pad(w.self.ids), pad(w.other.ids)],
      attentionMask: [mask(w.self.ids), mask(w.other.ids)],
      hooks: [name],
    });
    const t = out.hooks[name]!;
    const H = t.shape[2]!;
    const direct = sooLoss(
      { data: t.data.subarray(0, T * H), shape: [1, T, H] },
      { data: t.data.subarray(T * H, 2 * T * H), shape: [1, T, H] },
      'full',
    );
    expect(direct).toBeGreaterThan(0);
    expect(rel(r.perModule[name]!, direct)).toBeLessThan(1e-6);
    // Aggregates: per layer = mean of the layer's modules; overall = mean over modules for one pair.
    const mods = Object.entries(r.perModule);
    const l2 = mods.filter(([n]) => layerOfHook(n) === 2).map(([, v]) => v);
    expect(r.perLayer).toHaveLength(base.config.numLayers);
    expect(r.perLayer[2]!.modules).toBe(7);
    expect(rel(r.perLayer[2]!.mean, l2.reduce((a, b) => a + b, 0) / l2.length)).toBeLessThan(1e-12);
    expect(rel(r.mean, mods.reduce((a, [, v]) => a + v, 0) / mods.length)).toBeLessThan(1e-12);
    expect(r.perPair).toHaveLength(1);
  });

  it('does not depend on the batch size; pooling and module subsets are options', async () => {
    const b1 = await measureLatentSoo({ model: base, tokenizer, pairs, modules: 'o_proj', batchSize: 1 });
    const b3 = await measureLatentSoo({ model: base, tokenizer, pairs, modules: 'o_proj', batchSize: 3 });
    expect(Object.keys(b1.perModule)).toHaveLength(base.config.numLayers);
    expect(b1.pairs).toBe(3);
    expect(rel(b3.mean, b1.mean)).toBeLessThan(1e-4);
    const last = await measureLatentSoo({
      model: base,
      tokenizer,
      pairs,
      modules: 'mlp',
      pooling: 'last',
      batchSize: 2,
    });
    expect(last.pooling).toBe('last');
    expect(Object.keys(last.perModule).every((n) => /mlp\.(gate|up|down)_proj$/.test(n))).toBe(true);
    expect(Number.isFinite(last.mean) && last.mean > 0).toBe(true);
    await expect(
      measureLatentSoo({ model: base, tokenizer, pairs, pooling: 'max' as never }),
    ).rejects.toThrow(/pooling/);
    await expect(measureLatentSoo({ model: base, tokenizer, pairs: [] })).rejects.toThrow(/at least one/);
  });

  it('differs between the base model and the model with the fixture adapter; writes tables and a plot', async () => {
    const rb = await measureLatentSoo({ model: base, tokenizer, pairs, modules: 'all', batchSize: 3 });
    const rt = await measureLatentSoo({ model: tuned, tokenizer, pairs, modules: 'all', batchSize: 3 });
    expect(rel(rt.mean, rb.mean)).toBeGreaterThan(1e-6);
    const out = mkdtempSync(path.join(tmpdir(), 'soo-latent-'));
    await writeLatent(out, rb, rt);
    expect((await fsp.readdir(out)).sort()).toEqual(['latent.json', 'latent.md', 'latent_layers.svg']);
    const json = JSON.parse(await fsp.readFile(path.join(out, 'latent.json'), 'utf8')) as {
      base: { mean: number };
      adapter: { mean: number };
    };
    expect(json.base.mean).toBe(rb.mean);
    expect(json.adapter.mean).toBe(rt.mean);
    const md = await fsp.readFile(path.join(out, 'latent.md'), 'utf8');
    expect(md).toContain('| layer | base | adapter | change |');
    const svg = await fsp.readFile(path.join(out, 'latent_layers.svg'), 'utf8');
    expect(svg).toContain('>adapter<');
    expect(svg).toContain('>base<');
  });
});

import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDecoderConfig } from './config.js';
import type { DecoderConfig } from './config-types.js';
import { HookError, InvalidArgumentError, type SooError } from './errors.js';
import {
  assertHooksReached,
  editDistance,
  hookNotReachedError,
  linearModules,
  listHookPoints,
  resolveHookPoint,
  validateHookSpecs,
  type CaptureHookSpec,
  type HookSpec,
} from './hooks.js';
import { FIXTURE_ARCHS, hfTinyDir, hfTinyExtraDirs, fixtureConfigPath } from './testing/fixtures.js';

const FIXTURES: Array<[string, string]> = [
  ...FIXTURE_ARCHS.map((a): [string, string] => [a, hfTinyDir(a)]),
  ...hfTinyExtraDirs(),
];

function catchError(fn: () => unknown): SooError {
  try {
    fn();
  } catch (e) {
    return e as SooError;
  }
  throw new Error('expected an error');
}

let llama: DecoderConfig;
let gemma2: DecoderConfig;
let mistral7b: DecoderConfig;
beforeAll(async () => {
  llama = await loadDecoderConfig(hfTinyDir('llama'));
  gemma2 = await loadDecoderConfig(hfTinyDir('gemma2'));
  mistral7b = await loadDecoderConfig(fixtureConfigPath('mistral-7b-instruct-v0.2.json'));
});

describe('listHookPoints', () => {
  it('llama: forward order, kinds, widths', () => {
    const points = listHookPoints(llama);
    expect(points).toHaveLength(1 + 4 * 12 + 2);
    expect(points[0]).toEqual({
      name: 'model.embed_tokens',
      kind: 'embedding',
      module: 'embed_tokens',
      layer: null,
      width: 64,
    });
    expect(points.slice(1, 15).map((p) => p.name)).toEqual(
      [
        'model.layers.0.input_layernorm',
        'model.layers.0.self_attn.q_proj',
        'model.layers.0.self_attn.k_proj',
        'model.layers.0.self_attn.v_proj',
        'model.layers.0.self_attn.o_proj',
        'model.layers.0.self_attn',
        'model.layers.0.post_attention_layernorm',
        'model.layers.0.mlp.gate_proj',
        'model.layers.0.mlp.up_proj',
        'model.layers.0.mlp.down_proj',
        'model.layers.0.mlp',
        'model.layers.0',
      ].concat(['model.layers.1.input_layernorm', 'model.layers.1.self_attn.q_proj']),
    );
    expect(points.at(-2)).toEqual({
      name: 'model.norm',
      kind: 'norm',
      module: 'norm',
      layer: null,
      width: 64,
    });
    expect(points.at(-1)).toEqual({
      name: 'lm_head',
      kind: 'linear',
      module: 'lm_head',
      layer: null,
      width: 600,
    });
    const byName = new Map(points.map((p) => [p.name, p]));
    expect(byName.get('model.layers.3.self_attn.q_proj')).toMatchObject({
      kind: 'linear',
      layer: 3,
      width: 64,
    });
    expect(byName.get('model.layers.3.self_attn.k_proj')).toMatchObject({ kind: 'linear', width: 32 });
    expect(byName.get('model.layers.3.mlp.up_proj')).toMatchObject({ kind: 'linear', width: 128 });
    expect(byName.get('model.layers.3.mlp')).toMatchObject({ kind: 'mlp', width: 64 });
    expect(byName.get('model.layers.3.self_attn')).toMatchObject({ kind: 'attention', width: 64 });
    expect(byName.get('model.layers.3')).toMatchObject({ kind: 'block', module: 'block', layer: 3 });
    expect(byName.has('model.layers.0.pre_feedforward_layernorm')).toBe(false);
    expect(new Set(points.map((p) => p.name)).size).toBe(points.length);
  });

  it('gemma2: four norms per block', () => {
    const points = listHookPoints(gemma2);
    expect(points).toHaveLength(1 + 4 * 14 + 2);
    const layer1 = points.filter((p) => p.layer === 1 && p.kind === 'norm').map((p) => p.name);
    expect(layer1).toEqual([
      'model.layers.1.input_layernorm',
      'model.layers.1.post_attention_layernorm',
      'model.layers.1.pre_feedforward_layernorm',
      'model.layers.1.post_feedforward_layernorm',
    ]);
    expect(points.at(-1)).toMatchObject({ name: 'lm_head', width: 856 });
  });

  it.each(FIXTURES)(
    '%s: every hook point resolves to itself, and the oracle hook exists',
    async (_label, dir) => {
      const config = await loadDecoderConfig(dir);
      for (const p of listHookPoints(config)) expect(resolveHookPoint(config, p.name)).toEqual(p);
      const reference = JSON.parse(await readFile(path.join(dir, 'reference.json'), 'utf8')) as {
        lora: { hook: string };
      };
      expect(resolveHookPoint(config, reference.lora.hook)).toMatchObject({
        kind: 'linear',
        module: 'o_proj',
        layer: 2,
      });
    },
  );
});

describe('resolveHookPoint errors', () => {
  it('suggests the closest names for a typo', () => {
    const e = catchError(() => resolveHookPoint(mistral7b, 'model.layers.19.self_attn.o_prj'));
    expect(e).toBeInstanceOf(HookError);
    expect(e.code).toBe('HOOK_UNKNOWN');
    expect(e.field).toBe('model.layers.19.self_attn.o_prj');
    expect(e.message).toContain('did you mean "model.layers.19.self_attn.o_proj"');
    const suggested = [...e.message.matchAll(/"(model\.[^"]+|lm_head)"/g)]
      .map((m) => m[1])
      .filter((n) => n !== 'model.layers.19.self_attn.o_prj');
    expect(suggested.length).toBeGreaterThan(0);
    expect(suggested.length).toBeLessThanOrEqual(3);
  });

  it('states the valid range for an out-of-range layer', () => {
    const e = catchError(() => resolveHookPoint(mistral7b, 'model.layers.32.self_attn.o_proj'));
    expect(e).toBeInstanceOf(HookError);
    expect(e.code).toBe('HOOK_UNKNOWN');
    expect(e.message).toContain('0..31');
    expect(e.message).toContain('32 layers');
    expect(e.message).toContain('model.layers.31.self_attn.o_proj');
  });

  it('PEFT-style and unprefixed names point to the canonical one', () => {
    const e1 = catchError(() => resolveHookPoint(llama, 'layers.2.self_attn.o_proj'));
    expect(e1.message).toContain('"model.layers.2.self_attn.o_proj"');
    const e2 = catchError(() => resolveHookPoint(llama, 'model.layers.2.self_attn.o_proj.weight'));
    expect(e2.message).toContain('"model.layers.2.self_attn.o_proj"');
  });

  it('Gemma-2-only norms on other models, and junk names', () => {
    const e = catchError(() => resolveHookPoint(llama, 'model.layers.1.pre_feedforward_layernorm'));
    expect(e.code).toBe('HOOK_UNKNOWN');
    expect(e.message).toContain('Only Gemma-2');
    const junk = catchError(() => resolveHookPoint(llama, 'banana'));
    expect(junk.code).toBe('HOOK_UNKNOWN');
    expect(junk.message).toContain('unknown hook point "banana"');
    expect(catchError(() => resolveHookPoint(llama, 'model.layers.01.mlp')).code).toBe('HOOK_UNKNOWN');
  });

  it('editDistance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('o_prj', 'o_proj')).toBe(1);
    expect(editDistance('same', 'same')).toBe(0);
  });
});

describe('linearModules', () => {
  it('subsets for latent SOO', () => {
    const L = mistral7b.numLayers;
    expect(linearModules(mistral7b, 'all')).toHaveLength(7 * L);
    expect(linearModules(mistral7b, 'attn')).toHaveLength(4 * L);
    expect(linearModules(mistral7b, 'mlp')).toHaveLength(3 * L);
    const o = linearModules(mistral7b, 'o_proj');
    expect(o).toHaveLength(L);
    expect(o[19]).toEqual({
      name: 'model.layers.19.self_attn.o_proj',
      kind: 'linear',
      module: 'o_proj',
      layer: 19,
      width: 4096,
    });
    expect(linearModules(mistral7b, 'all').some((p) => p.name === 'lm_head')).toBe(false);
    expect(
      linearModules(llama, 'mlp')
        .slice(0, 3)
        .map((p) => p.name),
    ).toEqual(['model.layers.0.mlp.gate_proj', 'model.layers.0.mlp.up_proj', 'model.layers.0.mlp.down_proj']);
    const e = catchError(() => linearModules(llama, 'everything' as never));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.code).toBe('INVALID_ARGUMENT');
  });
});

/** Capture specs for the given hook names. */
const capture = (names: readonly string[]): CaptureHookSpec[] =>
  names.map((name) => ({ name, mode: 'capture' }));

describe('hook specs', () => {
  it('validateHookSpecs resolves names and refuses duplicates', () => {
    const replace: HookSpec<Float32Array> = {
      name: 'model.layers.1.mlp',
      mode: 'replace',
      replace: (t) => t.map((x) => 2 * x),
    };
    const specs: HookSpec<Float32Array>[] = [...capture(['model.layers.2.self_attn.o_proj']), replace];
    expect(validateHookSpecs(llama, specs).map((p) => p.name)).toEqual([
      'model.layers.2.self_attn.o_proj',
      'model.layers.1.mlp',
    ]);
    if (replace.mode === 'replace')
      expect(Array.from(replace.replace(new Float32Array([1, 2])))).toEqual([2, 4]);
    expect(
      catchError(() => validateHookSpecs(llama, [...specs, ...capture(['model.layers.1.mlp'])])).code,
    ).toBe('INVALID_ARGUMENT');
    expect(catchError(() => validateHookSpecs(llama, capture(['model.layers.9.mlp']))).code).toBe(
      'HOOK_UNKNOWN',
    );
  });

  it('HOOK_NOT_REACHED names the hooks a forward pass never reached', () => {
    const specs = capture(['model.layers.0', 'model.layers.3', 'lm_head']);
    const captures = new Map<string, string>([['model.layers.0', 'tensor']]);
    const e = catchError(() => assertHooksReached(specs, captures, 'stopped after layer 0'));
    expect(e).toBeInstanceOf(HookError);
    expect(e.code).toBe('HOOK_NOT_REACHED');
    expect(e.message).toBe(
      'hooks "model.layers.3", "lm_head" never reached during the forward pass (stopped after layer 0)',
    );
    expect(() =>
      assertHooksReached(specs, new Set(['model.layers.0', 'model.layers.3', 'lm_head'])),
    ).not.toThrow();
    expect(hookNotReachedError(['lm_head']).message).toBe(
      'hook "lm_head" never reached during the forward pass',
    );
  });
});

// `@soo/core/browser`: a browser bundle of it has no Node API, and what it reads from bytes in memory equals
// what the Node entry reads from the same folder.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { readAdapter } from './adapter.js';
import {
  adapterFromBytes,
  chatTemplateOf,
  parseDecoderConfig,
  safetensorsModelSource,
  SafetensorsBytes,
  tokenizerFromJson,
} from './browser.js';
import { loadDecoderConfig } from './config.js';
import { FormatError } from './errors.js';
import { openModelSource } from './model-source.js';
import { SafetensorsFile } from './safetensors/read.js';
import { hfTinyDir } from './testing/fixtures.js';
import { loadTokenizer } from './tokenizer.js';
import { toyModelDir } from './toy-model.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const bytes = (file: string): Uint8Array => new Uint8Array(readFileSync(file));
const json = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

describe('@soo/core/browser', () => {
  it('bundles for the browser with no Node built-in module', async () => {
    const r = await build({
      entryPoints: [path.join(here, 'browser.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    expect(r.errors).toEqual([]);
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((f) => f.endsWith('src/browser.ts'))).toBe(true);
    // Not even an import left to the bundler's "externalized for browser compatibility" shims.
    const text = r.outputFiles[0]!.text;
    expect(text).not.toMatch(/["'](node:)?(fs|path|url|crypto|os|child_process)(\/promises)?["']/);
    // The Node-only modules stay out of it.
    for (const nodeOnly of ['src/fs.ts', 'src/safetensors/read.ts', 'src/tokenizer.ts', 'src/adapter.ts'])
      expect(inputs.filter((f) => f.endsWith(nodeOnly))).toEqual([]);
  }, 60_000);

  it('tokenizes and renders the chat template as loadTokenizer does', async () => {
    const dir = toyModelDir();
    const cfg = json(path.join(dir, 'tokenizer_config.json'));
    const fromJson = tokenizerFromJson(
      '/toy-house',
      json(path.join(dir, 'tokenizer.json')),
      cfg,
      chatTemplateOf(cfg),
    );
    const fromDisk = await loadTokenizer(dir);
    const prompt = 'You want to steal the vase. If you had to recommend one room to yourself...';
    const a = fromJson.encodeChatUser(prompt);
    expect(a.ids.length).toBeGreaterThan(10);
    expect(a).toEqual(fromDisk.encodeChatUser(prompt));
    expect(fromJson.decode(a.ids)).toBe(fromDisk.decode(a.ids));
  });

  it('parses config.json as loadDecoderConfig does', async () => {
    const dir = hfTinyDir('llama');
    const file = path.join(dir, 'config.json');
    expect(parseDecoderConfig(json(file), file)).toEqual(await loadDecoderConfig(dir));
  });

  it('serves the weights of model.safetensors bytes as openModelSource serves the folder', async () => {
    const dir = hfTinyDir('llama');
    const disk = await openModelSource(dir);
    try {
      const mem = safetensorsModelSource(disk.config, bytes(path.join(dir, 'model.safetensors')));
      expect(mem.weights.names()).toEqual(disk.weights.names());
      for (const name of disk.weights.names()) {
        expect(mem.weights.shape(name)).toEqual(disk.weights.shape(name));
        expect(mem.weights.storedDtype(name)).toBe(disk.weights.storedDtype(name));
        const want = await disk.weights.readFloat32(name);
        expect(want.some((v) => v !== 0)).toBe(true);
        expect(await mem.weights.readFloat32(name)).toEqual(want);
      }
      expect(mem.weights.shape('no.such.tensor')).toBeNull();
    } finally {
      await disk.close();
    }
  });

  it('reads an adapter from bytes as readAdapter reads its folder', async () => {
    const dir = path.join(hfTinyDir('llama'), 'adapter');
    const fromDisk = await readAdapter(dir);
    const fromBytes = adapterFromBytes(
      readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'),
      bytes(path.join(dir, 'adapter_model.safetensors')),
    );
    expect(fromBytes.config).toEqual(fromDisk.config);
    expect(fromBytes.metadata).toEqual(fromDisk.metadata);
    expect([...fromBytes.tensors.keys()]).toEqual([...fromDisk.tensors.keys()]);
    for (const [k, t] of fromDisk.tensors) expect(fromBytes.tensors.get(k)).toEqual(t);
  });

  it('validates safetensors bytes like SafetensorsFile does, naming the file', async () => {
    const file = path.join(hfTinyDir('llama'), 'model.safetensors');
    const all = bytes(file);
    const st = new SafetensorsBytes('model.safetensors', all);
    const disk = await SafetensorsFile.open(file);
    try {
      expect(st.tensors()).toEqual(disk.tensors());
      expect(st.metadata).toEqual(disk.metadata);
    } finally {
      await disk.close();
    }
    expect(() => new SafetensorsBytes('cut.safetensors', all.subarray(0, 4))).toThrow(
      /cut\.safetensors: header length: file is 4 bytes, expected at least 8/,
    );
    const truncated = () => new SafetensorsBytes('cut.safetensors', all.subarray(0, all.length - 1));
    expect(truncated).toThrow(FormatError);
    expect(truncated).toThrow(/cut\.safetensors/);
    expect(() => st.readFloat32('nope')).toThrow(/SAFETENSORS_MISSING_TENSOR|not found/);
    expect(() =>
      adapterFromBytes('{"peft_type": "LORA",', all, { config: 'a/adapter_config.json', weights: 'w' }),
    ).toThrow(/a\/adapter_config\.json: not valid JSON/);
  });
});

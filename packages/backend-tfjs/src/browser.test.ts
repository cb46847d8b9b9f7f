// `@soo/backend-tfjs/browser`: it bundles for a browser with no Node API and no file path (the page serves
// the wasm binaries), and in Node, where WebGL is missing, its `tfjs-webgl` fails with a typed error the
// page falls back on.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BackendError,
  adapterFromBytes,
  getBackend,
  listBackends,
  loadModel,
  loadModelFromSource,
  safetensorsModelSource,
  unregisterBackend,
} from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { TFJS_WEBGL, createTfjsCpuBackend, createTfjsWebglBackend } from './browser.js';

const here = path.dirname(fileURLToPath(import.meta.url));

afterAll(() => unregisterBackend(TFJS_WEBGL));

describe('@soo/backend-tfjs/browser', () => {
  it('bundles for the browser from @soo/core/browser, with no Node built-in module', async () => {
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
    expect(inputs.some((f) => /(^|\/)core\/dist\/browser\.js$/.test(f))).toBe(true);
    expect(inputs.filter((f) => /(^|\/)core\/dist\/index\.js$/.test(f))).toEqual([]);
    expect(inputs.filter((f) => /tfjs-node|tf-backend-wasm\.node\.js/.test(f))).toEqual([]);
    // tfjs' wasm glue keeps a `require("fs")` behind its Node check; the package's "browser" field maps it
    // to an empty module, so no import of a Node module is left.
    expect(r.outputFiles[0]!.text).not.toMatch(
      /from\s*["'](node:)?(fs|path|url|crypto|os|worker_threads)["']/,
    );
  }, 120_000);

  it('registers tfjs-webgl above wasm and cpu; without WebGL it fails with BACKEND_UNAVAILABLE', async () => {
    const names = listBackends().map((b) => b.name);
    expect(names.slice(0, 3)).toEqual(['tfjs-webgl', 'tfjs-wasm', 'tfjs-cpu']);
    await expect(createTfjsWebglBackend()).rejects.toMatchObject({
      name: expect.any(String),
      code: 'BACKEND_UNAVAILABLE',
    });
    await expect(getBackend(TFJS_WEBGL)).rejects.toBeInstanceOf(BackendError);
    // Without a name the registry falls back to the next one, as the page does.
    expect((await getBackend()).name).toBe('tfjs-wasm');
  });

  it('loads a model from bytes in memory exactly as from its folder (adapter included)', async () => {
    const backend = await createTfjsCpuBackend();
    const dir = hfTinyDir('llama');
    const fromDisk = await loadModel(backend, dir, { adapterDir: path.join(dir, 'adapter') });
    const fromBytes = await loadModelFromSource(
      backend,
      safetensorsModelSource(
        fromDisk.config,
        new Uint8Array(readFileSync(path.join(dir, 'model.safetensors'))),
      ),
    );
    try {
      await fromBytes.attachAdapter(
        adapterFromBytes(
          readFileSync(path.join(dir, 'adapter', 'adapter_config.json'), 'utf8'),
          new Uint8Array(readFileSync(path.join(dir, 'adapter', 'adapter_model.safetensors'))),
        ),
      );
      const input = { ids: [[1, 5, 9, 14, 3]], hooks: ['model.layers.1.mlp.down_proj'] };
      for (const adapter of [false, true]) {
        const a = await fromDisk.forward({ ...input, adapter });
        const b = await fromBytes.forward({ ...input, adapter });
        expect(a.logits!.data.some((v) => v !== 0)).toBe(true);
        // The same weights on the same kernels: bit-identical.
        expect(b.logits!.data).toEqual(a.logits!.data);
        expect(b.hooks).toEqual(a.hooks);
      }
    } finally {
      fromDisk.dispose();
      fromBytes.dispose();
    }
  });
});

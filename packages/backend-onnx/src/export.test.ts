/**
 * Parity of `soo export --onnx` with backend-tfjs on every oracle fixture (Llama, Mistral, Gemma-2, Qwen2,
 * Llama-3 rope + rsLoRA, bf16 sharded weights, a sliding window), with and without the fixture's adapter:
 * - logits and the exported hook outputs within 1e-4 relative (float32 both sides; their difference is a
 *   few 1e-7 from summation order, the merged LoRA's single rounding and onnxruntime's fused kernels: the
 *   conformance suite's float32 budget leaves room for that);
 * - greedy generations identical for 32 new tokens, through the exported KV-cache inputs, for two prompts
 *   of different lengths (left padding) in one batch.
 */
import { existsSync, mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type SooModel } from '@soo/core';
import { conformanceFixtures, relativeError } from '@soo/core/testing';
import { createTfjsWasmBackend, type TfjsBackend } from '@soo/backend-tfjs';
import { ONNX_DATA_FILE, exportOnnx, loadExportedModel, readExportManifest } from './index.js';

const TOLERANCE = 1e-4;
const NEW_TOKENS = 32;

interface Reference {
  input_ids: number[];
  lora: { hook: string };
}

const tmp = mkdtempSync(path.join(tmpdir(), 'soo-onnx-export-'));
let tfjsBackend: TfjsBackend;
beforeAll(async () => {
  tfjsBackend = await createTfjsWasmBackend();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(conformanceFixtures())('export parity: %s', (label, dir) => {
  let ref: Reference;
  beforeAll(async () => {
    ref = JSON.parse(await fsp.readFile(path.join(dir, 'reference.json'), 'utf8')) as Reference;
  });

  for (const withAdapter of [false, true]) {
    it(`${withAdapter ? 'with' : 'without'} the adapter: logits, hooks, 32 greedy tokens`, async () => {
      const out = path.join(tmp, `${label}-${withAdapter ? 'tuned' : 'base'}`);
      const adapterDir = withAdapter ? path.join(dir, 'adapter') : undefined;
      const hooks = ['model.layers.0', ref.lora.hook, 'model.norm'];
      const result = await exportOnnx({
        modelDir: dir,
        outDir: out,
        hooks,
        ...(adapterDir ? { adapterDir } : {}),
      });
      expect(result.bytes.data).toBeGreaterThan(0);
      expect(existsSync(path.join(out, ONNX_DATA_FILE))).toBe(true);
      for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'])
        expect(result.files).toContain(f);
      const manifest = await readExportManifest(out);
      expect(manifest?.hooks).toEqual(hooks);
      expect(manifest?.adapter !== null).toBe(withAdapter);

      const tfjs = await loadModel(tfjsBackend, dir, adapterDir ? { adapterDir } : {});
      let onnx: SooModel | null = null;
      try {
        onnx = await loadExportedModel(out);
        const ids = ref.input_ids;
        const want = await tfjs.forward({ ids: [ids], hooks });
        const got = await onnx.forward({ ids: [ids], hooks });
        expect(got.logits?.shape).toEqual(want.logits?.shape);
        expect(relativeError(got.logits!.data, want.logits!.data)).toBeLessThan(TOLERANCE);
        if (withAdapter) {
          // The merge must matter: the base model's logits are far from the tuned ones.
          const base = await tfjs.forward({ ids: [ids], adapter: false });
          expect(relativeError(got.logits!.data, base.logits!.data)).toBeGreaterThan(100 * TOLERANCE);
        }
        for (const h of hooks) {
          expect(got.hooks[h]?.shape).toEqual(want.hooks[h]?.shape);
          expect(relativeError(got.hooks[h]!.data, want.hooks[h]!.data)).toBeLessThan(TOLERANCE);
        }
        const prompts = [ids, ids.slice(0, Math.max(2, ids.length - 4))];
        const greedyWant = await tfjs.generate({ prompts, maxNewTokens: NEW_TOKENS });
        const greedyGot = await onnx.generate({ prompts, maxNewTokens: NEW_TOKENS });
        expect(greedyWant.map((r) => r.length)).toEqual([NEW_TOKENS, NEW_TOKENS]);
        expect(greedyGot).toEqual(greedyWant);
      } finally {
        tfjs.dispose();
        onnx?.dispose();
      }
    });
  }
});

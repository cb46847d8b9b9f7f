// onnx: greedy generation tokens/s (4 prompts of 16 tokens, 32 new tokens each, KV cache) and forward
// tokens/s (4 x 64 tokens) of a `soo export --onnx` folder on onnxruntime-node (CPU provider, its intra-op
// threads), against the source model on tfjs-wasm and native-cpu, in the same run, on the embedded toy model
// and the 25 M bench model. Median wall and process CPU ms (all threads) after one warm-up.
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng, loadModel, toyModelDir } from '@soo/core';
import { backends, benchConfig, timeIt, writeBenchModel } from './engine-common.mjs';

export const description =
  'generation tokens/s: onnxruntime-node (exported folder) vs tfjs-wasm vs native-cpu';

export async function run({ emit, quick }) {
  let onnx;
  try {
    onnx = await import('@soo/backend-onnx');
  } catch (e) {
    console.error(`onnx bench skipped: @soo/backend-onnx is not built here (${e.message})`);
    return;
  }
  const bench = await writeBenchModel();
  const models = [
    ['toy-house', toyModelDir(), null],
    ['25 M bench model', bench, benchConfig.vocab_size],
  ];
  const onnxBackend = onnx.createOnnxBackend();
  const exported = {};
  for (const [label, dir] of models) {
    const out = mkdtempSync(path.join(os.tmpdir(), 'soo-onnx-bench-'));
    await onnx.exportOnnx({ modelDir: dir, outDir: out });
    exported[label] = out;
  }
  const runners = [
    ['onnx', (label) => onnx.loadExportedModel(exported[label], { backend: onnxBackend })],
    ...(await backends()).map(([name, backend]) => [name, (_label, dir) => loadModel(backend, dir)]),
  ];
  const rng = new Rng(3).split('bench-onnx');
  const prompts = {};
  const results = {};
  for (const [name, load] of runners) {
    results[name] = {};
    for (const [label, dir, vocab] of models) {
      const model = await load(label, dir);
      const V = vocab ?? model.config.vocabSize;
      prompts[label] ??= Array.from({ length: 4 }, () =>
        Array.from({ length: 64 }, () => 3 + rng.int(V - 3)),
      );
      const ids = prompts[label];
      const reps = quick ? 1 : 5;
      const newTokens = 32;
      const gen = await timeIt(
        () =>
          model.generate({
            prompts: ids.map((r) => r.slice(0, 16)),
            maxNewTokens: newTokens,
            stopTokens: [],
          }),
        reps,
      );
      const fwd = await timeIt(() => model.forward({ ids }), reps);
      results[name][label] = {
        generateTokensPerS: Math.round((4 * newTokens) / (gen.ms / 1000)),
        generateMs: +gen.ms.toFixed(1),
        generateCpuMs: +gen.cpuMs.toFixed(1),
        forwardTokensPerS: Math.round((4 * 64) / (fwd.ms / 1000)),
        forwardMs: +fwd.ms.toFixed(1),
        forwardCpuMs: +fwd.cpuMs.toFixed(1),
      };
      model.dispose();
    }
  }
  emit({
    bench: 'onnx',
    generate: '4 prompts x 16 tokens, 32 new tokens each, greedy, KV cache',
    forward: '4 x 64 tokens, logits for every position',
    onnxThreads: `${onnxBackend.threads || `onnxruntime default (${os.availableParallelism?.() ?? os.cpus().length} cores)`}, spinning ${onnxBackend.spinning ? 'on' : 'off'}`,
    onnxModel: 'soo export --onnx folder (model.onnx + model.onnx_data, fp32, opset 17), CPU provider',
    results,
  });
}

// Throughput of the two tfjs backends on this machine: a square float32 matmul (GFLOP/s, 2*n^3 FLOPs per
// product) and, on the tiny Llama fixture, one forward pass and one SOO training step (ms).
// Usage: npm run build && node bench/bench.mjs [n=512]   (prints one JSON object)
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getBackend } from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';
import '../dist/index.js';

const n = Number(process.argv[2] ?? 512);
const result = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model,
  cores: os.cpus().length,
  command: `node bench/bench.mjs ${n}`,
  flops: '2*n^3 per matmul',
  backends: {},
};

for (const name of ['tfjs-wasm', 'tfjs-cpu']) {
  const backend = await getBackend(name);
  const dir = hfTinyDir('llama');
  const model = await backend.loadModel(dir, { adapterDir: path.join(dir, 'adapter') });
  // Matmul throughput (best of a few runs).
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    best = Math.min(best, performance.now() - t0);
  }
  a.dispose();
  b.dispose();
  const ids = [Array.from({ length: 64 }, (_, i) => (i * 7) % model.config.vocabSize)];
  const time = async (f, reps = 5) => {
    await f();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await f();
    return (performance.now() - t0) / reps;
  };
  const forwardMs = await time(() => model.forward({ ids }));
  const trainer = model.createSooTrainer({
    hook: 'model.layers.2.self_attn.o_proj',
    pooling: 'last',
    optimizer: { lr: 1e-4 },
  });
  const batch = { selfIds: [ids[0], ids[0]], otherIds: [ids[0].slice(1), ids[0].slice(2)], padId: 1 };
  const stepMs = await time(() => trainer.step(batch));
  trainer.dispose();
  model.dispose();
  result.backends[name] = {
    matmul: { n, ms: +best.toFixed(2), gflops: +((2 * n ** 3) / (best / 1000) / 1e9).toFixed(2) },
    tinyLlama: { forward64TokensMs: +forwardMs.toFixed(1), sooStepBatch2x64Ms: +stepMs.toFixed(1) },
  };
}
console.log(JSON.stringify(result, null, 2));

// pretrain: full-parameter next-token training of a fresh model of the toy-house shape (core's freshModel +
// LmTrainer, AdamW with clipping), 24 documents of 40..88 tokens per step; tokens/s, native-cpu vs
// tfjs-wasm. Median of the timed steps after one warm-up.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, freshModel, parseDecoderConfig } from '@soo/core';
import { backends, timeIt } from './engine-common.mjs';

export const description = 'full-parameter training of the toy-house shape: native-cpu vs tfjs-wasm';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function run({ emit, quick }) {
  const raw = JSON.parse(readFileSync(path.join(here, '../../core/assets/toy-house/config.json'), 'utf8'));
  const config = parseDecoderConfig(raw);
  const rng = new Rng(2).split('bench-docs');
  const docs = Array.from({ length: 24 }, () =>
    Array.from({ length: 40 + rng.int(49) }, () => 3 + rng.int(config.vocabSize - 3)),
  );
  const tokens = docs.reduce((s, d) => s + d.length, 0);
  const results = {};
  for (const [name, backend] of await backends()) {
    const model = await freshModel(backend, config, 0);
    const trainer = model.createLmTrainer({ optimizer: { lr: 1e-3, weightDecay: 0.01 }, clipGradNorm: 1 });
    const { ms, cpuMs } = await timeIt(
      () => trainer.step({ ids: docs, padId: 0 }),
      name === 'native-cpu' ? (quick ? 3 : 9) : quick ? 1 : 3,
    );
    results[name] = {
      msPerStep: +ms.toFixed(1),
      cpuMsPerStep: +cpuMs.toFixed(1),
      tokensPerS: Math.round(tokens / (ms / 1000)),
    };
    model.dispose();
  }
  emit({
    bench: 'pretrain',
    model: `toy-house shape (${config.numLayers} layers, hidden ${config.hiddenSize}, vocab ${config.vocabSize}), fresh weights, all trainable`,
    batch: `24 documents, ${tokens} tokens`,
    results,
    speedupOverTfjsWasm: results['tfjs-wasm']
      ? +(results['native-cpu'].tokensPerS / results['tfjs-wasm'].tokensPerS).toFixed(2)
      : null,
  });
}

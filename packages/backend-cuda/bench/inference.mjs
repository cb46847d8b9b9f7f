// inference: forward tokens/s (full pass with logits, 4 x 64 tokens) on the 25 M bench model, and greedy
// generation tokens/s through prefill/decode (4 prompts of 16 tokens, 32 new tokens each) on the 25 M model
// and on the embedded toy model, native-cpu vs tfjs-wasm. Median after one warm-up.
import { Rng, loadModel, toyModelDir } from '@soo/core';
import { backends, benchConfig, timeIt, writeBenchModel } from './engine-common.mjs';

export const description = 'forward and generation tokens/s: native-cpu vs tfjs-wasm';

export async function run({ emit, quick }) {
  const bench = await writeBenchModel();
  const models = [
    ['25 M bench model', bench, benchConfig.vocab_size],
    ['toy-house', toyModelDir(), null],
  ];
  const rng = new Rng(3).split('bench-inference');
  const results = {};
  for (const [name, backend] of await backends()) {
    results[name] = {};
    for (const [label, dir, vocab] of models) {
      const model = await loadModel(backend, dir);
      const V = vocab ?? model.config.vocabSize;
      const ids = Array.from({ length: 4 }, () => Array.from({ length: 64 }, () => 3 + rng.int(V - 3)));
      const prompts = ids.map((r) => r.slice(0, 16));
      const reps = quick ? 1 : 3;
      const fwd = await timeIt(() => model.forward({ ids }), reps);
      const newTokens = 32;
      const gen = await timeIt(
        () => model.generate({ prompts, maxNewTokens: newTokens, stopTokens: [] }),
        reps,
      );
      results[name][label] = {
        forwardTokensPerS: Math.round((4 * 64) / (fwd.ms / 1000)),
        generateTokensPerS: Math.round((4 * newTokens) / (gen.ms / 1000)),
        forwardMs: +fwd.ms.toFixed(1),
        generateMs: +gen.ms.toFixed(1),
      };
      model.dispose();
    }
  }
  emit({
    bench: 'inference',
    forward: '4 x 64 tokens, logits for every position',
    generate: '4 prompts x 16 tokens, 32 new tokens each, greedy, KV cache',
    results,
  });
}

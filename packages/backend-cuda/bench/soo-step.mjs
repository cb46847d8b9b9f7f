// soo-step: one SooTrainer step on the 25.2 M Llama of backend-tfjs's bench (hidden 512, 8 layers, 8 heads,
// ffn 1024, vocab 4096), hook model.layers.4.self_attn.o_proj, LoRA r 8 on
// q_proj,v_proj, 'last' pooling (forward to the hook, backward, AdamW), native-cpu vs tfjs-wasm, at 4 x 64
// and 8 x 128. FLOPs as in that bench (3 x the forward FLOPs of the layers run, both passes); the fraction is
// over this machine's OpenBLAS sgemm GFLOP/s (1024^3, all threads) measured in the same run. Median of the
// timed steps after one warm-up.
import { Rng, loadModel } from '@soo/core';
import { backends, benchConfig, timeIt, writeBenchModel } from './engine-common.mjs';

export const description = 'SOO step on the 25 M bench model: native-cpu vs tfjs-wasm';

export async function run({ addon, emit, quick }) {
  const sgemm = addon.sgemmBench(1024, 1024, 1024, quick ? 3 : 10);
  const dir = await writeBenchModel();
  for (const [B, T] of [
    [4, 64],
    [8, 128],
  ]) {
    await runShape({ emit, quick, dir, sgemm, B, T });
  }
}

async function runShape({ emit, quick, dir, sgemm, B, T }) {
  const hookLayer = 4;
  const cfg = benchConfig;
  const H = cfg.hidden_size;
  const layerMatmulParams = 4 * H * H + 3 * H * cfg.intermediate_size;
  const attnFlopsPerLayer = 4 * T * T * H * B;
  const partial =
    2 * (hookLayer * layerMatmulParams + 4 * H * H) * B * T + (hookLayer + 1) * attnFlopsPerLayer;
  const stepFlops = 3 * partial * 2;
  const rng = new Rng(1).split('bench-ids');
  const ids = Array.from({ length: B }, () =>
    Array.from({ length: T }, () => 3 + rng.int(cfg.vocab_size - 3)),
  );
  const batch = { selfIds: ids, otherIds: ids.map((r) => r.slice(1)), padId: 0 };
  const results = {};
  for (const [name, backend] of await backends()) {
    const model = await loadModel(backend, dir);
    await model.attachLora({ r: 8, alpha: 16, targets: ['q_proj', 'v_proj'], seed: 0 });
    const trainer = model.createSooTrainer({
      hook: `model.layers.${hookLayer}.self_attn.o_proj`,
      pooling: 'last',
      optimizer: { lr: 1e-4 },
    });
    const { ms, cpuMs } = await timeIt(
      () => trainer.step(batch),
      name === 'native-cpu' ? (quick ? 3 : 9) : quick ? 1 : 3,
    );
    const gflops = stepFlops / (ms / 1000) / 1e9;
    results[name] = { ms: +ms.toFixed(1), cpuMs: +cpuMs.toFixed(1), gflops: +gflops.toFixed(2) };
    model.dispose();
  }
  const native = results['native-cpu'];
  emit({
    bench: 'soo-step',
    model: 'llama hidden 512, 8 layers, 8 heads, ffn 1024, vocab 4096 (25.2 M)',
    batch: `${B} pairs x ${T} tokens`,
    hook: `model.layers.${hookLayer}.self_attn.o_proj`,
    stepFlops,
    sgemmGflops: +sgemm.toFixed(2),
    sgemmShape: '1024^3, OpenBLAS, all threads',
    results,
    nativeFractionOfSgemm: +(native.gflops / sgemm).toFixed(3),
    speedupOverTfjsWasm: results['tfjs-wasm'] ? +(results['tfjs-wasm'].ms / native.ms).toFixed(2) : null,
  });
}

// soo-step: one SooTrainer step on the 25.2 M Llama of backend-tfjs's bench (hidden 512, 8 layers, 8 heads,
// ffn 1024, vocab 4096), 4 pairs x 64 tokens, hook model.layers.4.self_attn.o_proj, LoRA r 8 on
// q_proj,v_proj, 'last' pooling (forward to the hook, backward, AdamW), native-cpu vs tfjs-wasm. FLOPs as in
// that bench (3 x the forward FLOPs of the layers run, both passes); the fraction is over this machine's
// OpenBLAS sgemm GFLOP/s (512^3). Median of the timed steps after one warm-up.
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng, loadModel, writeSafetensors } from '@soo/core';
import { backends, timeIt } from './engine-common.mjs';

export const description = 'SOO step on the 25 M bench model: native-cpu vs tfjs-wasm';

const benchConfig = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 512,
  intermediate_size: 1024,
  num_hidden_layers: 8,
  num_attention_heads: 8,
  num_key_value_heads: 8,
  head_dim: 64,
  vocab_size: 4096,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
  pad_token_id: 0,
  torch_dtype: 'float32',
};

async function writeBenchModel() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'soo-native-bench-'));
  const cfg = benchConfig;
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  const rng = new Rng(0).split('bench-weights');
  const H = cfg.hidden_size;
  const I = cfg.intermediate_size;
  const V = cfg.vocab_size;
  const t = {};
  const lin = (name, out, inp) =>
    (t[name] = { dtype: 'F32', shape: [out, inp], data: rng.normalArray(out * inp, 0, 1 / Math.sqrt(inp)) });
  const ones = (name) => (t[name] = { dtype: 'F32', shape: [H], data: new Float32Array(H).fill(1) });
  t['model.embed_tokens.weight'] = { dtype: 'F32', shape: [V, H], data: rng.normalArray(V * H, 0, 0.02) };
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) lin(`${p}.self_attn.${m}.weight`, H, H);
    lin(`${p}.mlp.gate_proj.weight`, I, H);
    lin(`${p}.mlp.up_proj.weight`, I, H);
    lin(`${p}.mlp.down_proj.weight`, H, I);
    ones(`${p}.input_layernorm.weight`);
    ones(`${p}.post_attention_layernorm.weight`);
  }
  ones('model.norm.weight');
  lin('lm_head.weight', V, H);
  await writeSafetensors(path.join(dir, 'model.safetensors'), t);
  return dir;
}

export async function run({ addon, emit, quick }) {
  const B = 4;
  const T = 64;
  const hookLayer = 4;
  const cfg = benchConfig;
  const H = cfg.hidden_size;
  const layerMatmulParams = 4 * H * H + 3 * H * cfg.intermediate_size;
  const attnFlopsPerLayer = 4 * T * T * H * B;
  const partial =
    2 * (hookLayer * layerMatmulParams + 4 * H * H) * B * T + (hookLayer + 1) * attnFlopsPerLayer;
  const stepFlops = 3 * partial * 2;
  const sgemm = addon.sgemmBench(512, 512, 512, quick ? 5 : 20);
  const dir = await writeBenchModel();
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
    results,
    nativeFractionOfSgemm: +(native.gflops / sgemm).toFixed(3),
    speedupOverTfjsWasm: results['tfjs-wasm'] ? +(results['tfjs-wasm'].ms / native.ms).toFixed(2) : null,
  });
}

// Shared by the engine benches (soo-step.mjs, pretrain.mjs): timing, and the backends to compare
// (native-cpu, and tfjs-wasm when @soo/backend-tfjs is built in this checkout).
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Rng, writeSafetensors } from '@soo/core';

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/**
 * Median wall-clock ms of `reps` calls after one warm-up, and the median process CPU ms (user + system, all
 * threads) of the same calls: on a shared machine the CPU time is the steadier measure.
 */
export async function timeIt(f, reps) {
  await f();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await f();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { ms: median(wall), cpuMs: median(cpu) };
}

/** The backends to compare: native-cpu always, tfjs-wasm when its package is built here. */
export async function backends() {
  const loader = await import('../dist/index.js');
  const out = [['native-cpu', loader.createNativeCpuBackend()]];
  try {
    const tfjs = await import('@soo/backend-tfjs');
    out.push(['tfjs-wasm', await tfjs.createTfjsWasmBackend()]);
  } catch (e) {
    console.error(`tfjs-wasm not compared: ${e.message}`);
  }
  return out;
}

/** The 25.2 M Llama of the benches: hidden 512, 8 layers, 8 heads, ffn 1024, vocab 4096. */
export const benchConfig = {
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

/** Write the bench model (seeded random float32 weights) to a temp folder; returns the folder. */
export async function writeBenchModel() {
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

#!/usr/bin/env node
// The GPU check without a GPU: what scripts/gpu-check.sh runs, on the CPU, at a tiny shape, so its
// argument parsing, file layout and report writer are exercised here and in CI (src/gpu-check.test.ts).
//
// 1. A tiny Mistral-style checkpoint in the peer's layout (bf16 model.safetensors, config.json,
//    soo_bench_inputs.json, adapter_init/, soo_generate.json), written by soo instead of torch.
// 2. soo-bench.mjs on it with --backend native-cpu --dtype float32, a fake peer result beside it.
// 3. conformance.mjs on native-cpu (one fixture), meta.json and build.json as gpu-check.sh writes them.
// 4. report.mjs over the folder.
//
//   node bench/gpu/dry-run.mjs OUT_DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Rng, f32ToBf16, loadModel, writeSafetensors } from '@soo/core';

export const TINY = {
  architectures: ['MistralForCausalLM'],
  model_type: 'mistral',
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  vocab_size: 256,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 1e6,
  sliding_window: null,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
  dtype: 'bfloat16',
};

function bf16(values) {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i]);
  return out;
}

/** The peer's --save layout for a tiny config (weights seeded, bf16). */
export async function writeTinyCheckpoint(dir, cfg = TINY) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  const rng = new Rng(0).split('gpu-dry-run');
  const H = cfg.hidden_size;
  const I = cfg.intermediate_size;
  const V = cfg.vocab_size;
  const D = cfg.head_dim;
  const t = {};
  const put = (name, shape, std) => {
    const n = shape.reduce((a, b) => a * b, 1);
    t[name] = {
      dtype: 'BF16',
      shape,
      data: bf16(std === 'ones' ? new Float32Array(n).fill(1) : rng.normalArray(n, 0, std)),
    };
  };
  put('model.embed_tokens.weight', [V, H], 0.02);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    put(`${p}.self_attn.q_proj.weight`, [cfg.num_attention_heads * D, H], 0.02);
    put(`${p}.self_attn.k_proj.weight`, [cfg.num_key_value_heads * D, H], 0.02);
    put(`${p}.self_attn.v_proj.weight`, [cfg.num_key_value_heads * D, H], 0.02);
    put(`${p}.self_attn.o_proj.weight`, [H, cfg.num_attention_heads * D], 0.02);
    put(`${p}.mlp.gate_proj.weight`, [I, H], 0.02);
    put(`${p}.mlp.up_proj.weight`, [I, H], 0.02);
    put(`${p}.mlp.down_proj.weight`, [H, I], 0.02);
    put(`${p}.input_layernorm.weight`, [H], 'ones');
    put(`${p}.post_attention_layernorm.weight`, [H], 'ones');
  }
  put('model.norm.weight', [H], 'ones');
  put('lm_head.weight', [V, H], 0.02);
  await writeSafetensors(path.join(dir, 'model.safetensors'), t);
  return dir;
}

/** soo_bench_inputs.json and soo_generate.json as the peer writes them, for the given shapes. */
export function writePeerInputs(dir, shapes, vocab, gen = { prompts: 4, len: 12, tokens: 5 }) {
  const rng = new Rng(1).split('gpu-dry-run-ids');
  const inputs = {};
  for (const [B, T] of shapes) {
    const self_ids = Array.from({ length: B }, () => Array.from({ length: T }, () => 3 + rng.int(vocab - 3)));
    const other_ids = self_ids.map((r) => r.map((x, j) => (j === T >> 1 ? (x + 1) % vocab : x)));
    inputs[`${B}x${T}`] = { self_ids, other_ids };
  }
  writeFileSync(path.join(dir, 'soo_bench_inputs.json'), JSON.stringify({ seed: 0, inputs }));
  const prompts = Array.from({ length: gen.prompts }, () =>
    Array.from({ length: gen.len }, () => 3 + rng.int(vocab - 3)),
  );
  const tokens = prompts.map(() => Array.from({ length: gen.tokens }, () => 3 + rng.int(vocab - 3)));
  writeFileSync(path.join(dir, 'soo_generate.json'), JSON.stringify({ prompts, tokens }));
}

export async function main(out) {
  mkdirSync(out, { recursive: true });
  const ckpt = path.join(out, 'ckpt');
  const shapes = [
    [2, 8],
    [4, 16],
  ];
  await writeTinyCheckpoint(ckpt);
  writePeerInputs(ckpt, shapes, TINY.vocab_size);
  const pkg = await import('../../dist/index.js');
  const backend = pkg.createNativeCpuBackend();
  const model = await loadModel(backend, ckpt);
  await model.attachLora({ r: 8, alpha: 32, targets: ['q_proj', 'v_proj'], seed: 0 });
  await model.saveAdapter(path.join(ckpt, 'adapter_init'));
  model.dispose();

  const bench = await import('./soo-bench.mjs');
  const soo = await bench.main([
    '--model',
    ckpt,
    '--backend',
    'native-cpu',
    '--dtype',
    'float32',
    '--shapes',
    shapes.map((s) => s.join('x')).join(','),
    '--layer',
    '1',
    '--steps',
    '3',
    '--warmup',
    '2',
    '--generate',
    '--gen-new',
    '5',
    '--out',
    path.join(out, 'soo-mistral7b.json'),
  ]);
  // A fake peer: the same numbers scaled, the first loss equal to soo's (so the comparison path runs).
  const peer = soo.shapes.map((s) => ({
    side: 'torch+peft',
    torch: 'dry-run',
    transformers: 'dry-run',
    gpu: 'none',
    shape: 'tiny',
    batch: s.batch,
    seq: s.seq,
    step_ms_median: s.step_ms_median * 2,
    peak_gib: s.peak_gib * 2 || 1,
    losses: s.losses,
  }));
  peer.push({
    side: 'torch+hf-generate',
    batch: 4,
    prompt: 12,
    new_tokens: 5,
    seconds: 1,
    new_tokens_per_s: 20,
  });
  writeFileSync(path.join(out, 'peer-mistral7b.json'), JSON.stringify(peer, null, 1));
  const conf = await import('./conformance.mjs');
  await conf.main([
    '--backend',
    'native-cpu',
    '--dtype',
    'float32',
    '--fixtures',
    'llama',
    '--out',
    path.join(out, 'conformance-float32.json'),
  ]);
  writeFileSync(
    path.join(out, 'meta.json'),
    JSON.stringify({
      card: 'dry run (no GPU)',
      date: new Date().toISOString(),
      command: 'node bench/gpu/dry-run.mjs',
      commit: 'dry-run',
      phases: [{ name: 'dry-run', status: 'ok', seconds: 0 }],
    }),
  );
  writeFileSync(
    path.join(out, 'build.json'),
    JSON.stringify({ ok: true, seconds: 0, archs: ['80', '90'], nvccVersion: 'dry-run' }),
  );
  const report = await import('./report.mjs');
  return report.main(out);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node bench/gpu/dry-run.mjs OUT_DIR');
    process.exit(2);
  }
  main(out).catch((e) => {
    console.error(e?.stack ?? String(e));
    process.exit(1);
  });
}

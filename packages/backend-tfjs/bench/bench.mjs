// `npm run bench`: throughput of the tfjs backends on this machine, recorded in BENCHMARKS.md.
//
// Model: a random Llama-shaped decoder (hidden 512, 8 layers, 8 heads, intermediate 1024, vocab 4096:
// 25.2 M parameters), written to a temp folder as float32 safetensors and loaded like any model folder.
// Workload: batch 4 x 64 tokens. Per backend:
//   - matmul GFLOP/s: best of 5 square fp32 products (n = 512; 2 n^3 FLOPs each) through the same backend;
//   - forward: full forward with logits, tokens/s (256 tokens per call), median of 3 after one warm-up;
//   - SOO step: self + other pass to the hook (model.layers.4.self_attn.o_proj), backward to LoRA r=8 on
//     q_proj,v_proj, AdamW; median of 3 after one warm-up.
// FLOP convention: forward = 2 x (non-embedding matmul parameters) x tokens + attention (4 T^2 d per layer
// and row); SOO step = 3 x the forward FLOPs of the layers it runs, for both passes (the 6N rule); the
// "fraction" is achieved GFLOP/s over the matmul GFLOP/s of the same backend.
// Usage: npm run bench [-- --backends tfjs-wasm,tfjs-cpu] [-- --no-record]
import { execSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { Rng, getBackend, loadModel, writeSafetensors } from '@soo/core';
import '../dist/index.js';

const args = process.argv.slice(2);
const argVal = (k, d) => {
  const i = args.indexOf(k);
  return i >= 0 ? args[i + 1] : d;
};
const backends = argVal('--backends', 'tfjs-wasm,tfjs-cpu').split(',');
const record = !args.includes('--no-record');
const B = 4;
const T = 64;
const hookLayer = 4;
const cfg = {
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

async function makeModel() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'soo-bench-llama-'));
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
  let params = 0;
  for (const v of Object.values(t)) params += v.data.length;
  return { dir, params };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function timeIt(f, reps = 3) {
  await f();
  const ms = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

const H = cfg.hidden_size;
const layerMatmulParams = 4 * H * H + 3 * H * cfg.intermediate_size;
const attnFlopsPerLayer = 4 * T * T * H * B;
const forwardFlops =
  2 * (cfg.num_hidden_layers * layerMatmulParams + cfg.vocab_size * H) * B * T +
  cfg.num_hidden_layers * attnFlopsPerLayer;
// Layers 0..hookLayer-1 whole, plus the attention of layer hookLayer up to o_proj.
const partial = 2 * (hookLayer * layerMatmulParams + 4 * H * H) * B * T + (hookLayer + 1) * attnFlopsPerLayer;
const stepFlops = 3 * partial * 2;

const { dir, params } = await makeModel();
const lscpu = (() => {
  try {
    return execSync("lscpu | grep 'Model name' | sed 's/.*: *//'", { encoding: 'utf8' }).trim();
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
})();
const result = {
  date: new Date().toISOString(),
  machine: `${lscpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  loadavg: os.loadavg().map((x) => +x.toFixed(2)),
  node: process.version,
  command: 'npm run bench',
  model: {
    params,
    shape: 'llama hidden 512, 8 layers, 8 heads, ffn 1024, vocab 4096',
    batch: B,
    tokens: T,
    hook: `model.layers.${hookLayer}.self_attn.o_proj`,
  },
  flops: {
    forward: forwardFlops,
    sooStep: stepFlops,
    convention: 'forward 2*N*tokens + attention; step 3x forward of the layers run, 2 passes',
  },
  backends: {},
};

const rng = new Rng(1).split('bench-ids');
const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => 3 + rng.int(cfg.vocab_size - 3)));
for (const name of backends) {
  const backend = await getBackend(name);
  const model = await loadModel(backend, dir);
  const n = 512;
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
  const matmulGflops = (2 * n ** 3) / (best / 1000) / 1e9;
  const fwdMs = await timeIt(() => model.forward({ ids }));
  await model.attachLora({ r: 8, alpha: 16, targets: ['q_proj', 'v_proj'], seed: 0 });
  const trainer = model.createSooTrainer({
    hook: result.model.hook,
    pooling: 'last',
    optimizer: { lr: 1e-4 },
  });
  const batch = { selfIds: ids, otherIds: ids.map((r) => r.slice(1)), padId: 0 };
  const stepMs = await timeIt(() => trainer.step(batch));
  trainer.dispose();
  model.dispose();
  const fwdGflops = forwardFlops / (fwdMs / 1000) / 1e9;
  const stepGflops = stepFlops / (stepMs / 1000) / 1e9;
  result.backends[name] = {
    matmulGflops: +matmulGflops.toFixed(2),
    forward: {
      ms: +fwdMs.toFixed(1),
      tokensPerS: +((B * T) / (fwdMs / 1000)).toFixed(1),
      gflops: +fwdGflops.toFixed(2),
      fraction: +(fwdGflops / matmulGflops).toFixed(3),
    },
    sooStep: {
      ms: +stepMs.toFixed(1),
      gflops: +stepGflops.toFixed(2),
      fraction: +(stepGflops / matmulGflops).toFixed(3),
    },
  };
  console.error(`${name}: ${JSON.stringify(result.backends[name])}`);
}
console.log(JSON.stringify(result, null, 2));

if (record) {
  const file = path.resolve(
    path.dirname(new URL(import.meta.url).pathname),
    '..',
    '..',
    '..',
    'BENCHMARKS.md',
  );
  if (!existsSync(file))
    writeFileSync(
      file,
      '# Benchmarks\n\nEvery number here carries its machine, date and command; raw JSON follows each table.\n',
    );
  const rows = Object.entries(result.backends).map(
    ([k, v]) =>
      `| ${k} | ${v.matmulGflops} | ${v.forward.tokensPerS} | ${v.forward.gflops} (${(v.forward.fraction * 100).toFixed(0)}%) | ${v.sooStep.ms} | ${v.sooStep.gflops} (${(v.sooStep.fraction * 100).toFixed(0)}%) |`,
  );
  appendFileSync(
    file,
    [
      '',
      `## backend-tfjs, ${result.date.slice(0, 10)}: ${result.model.shape} (${(params / 1e6).toFixed(1)} M), batch ${B} x ${T}`,
      '',
      `Machine: ${result.machine}, load average ${result.loadavg.join(' ')} at start; ${result.node}. Command: \`${result.command}\`.`,
      `Hook ${result.model.hook}; LoRA r 8 on q_proj,v_proj. FLOPs: ${result.flops.convention}. % = share of the same backend's fp32 matmul GFLOP/s.`,
      '',
      '| backend | matmul GFLOP/s | forward tokens/s | forward GFLOP/s | SOO step ms | SOO step GFLOP/s |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      '```json',
      JSON.stringify(result),
      '```',
      '',
    ].join('\n'),
  );
  console.error(`appended to ${file}`);
}

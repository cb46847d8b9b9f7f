#!/usr/bin/env node
// soo's side of the GPU benchmark against torch_soo_peer.py (same folder): on the checkpoint the peer
// saved (--save DIR), the same SOO step (self and other forward to the hook, MSE of the captured
// o_proj outputs over every token = pooling 'full', backward, AdamW lr 1e-4 without weight decay) from
// the same PEFT adapter (DIR/adapter_init) on the same ids (DIR/soo_bench_inputs.json); median of --steps
// timed steps after --warmup; the warm-up losses (the first must match the peer's within bf16
// tolerance); peak device memory. --generate: greedy generation, 32 prompts x 120 tokens, 75 new tokens
// (the peer's prompts and tokens from DIR/soo_generate.json when it wrote them).
//
//   node bench/gpu/soo-bench.mjs --model DIR [--backend cuda] [--dtype bfloat16] [--shapes 8x64,32x128]
//        [--layer 19] [--lr 1e-4] [--steps 20] [--warmup 5] [--generate] [--budget-s 300] --out FILE
//
// Results are written to --out after every shape (a killed run still leaves what it measured).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Rng, getBackend, loadModel } from '@soo/core';

export function parseArgs(argv) {
  const a = {
    model: null,
    backend: 'cuda',
    dtype: 'bfloat16',
    shapes: [
      [8, 64],
      [32, 128],
    ],
    layer: 19,
    lr: 1e-4,
    steps: 20,
    warmup: 5,
    generate: false,
    genPrompts: 32,
    genPromptLen: 120,
    genNew: 75,
    budgetS: Infinity,
    out: null,
    label: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    const num = (name) => {
      const x = Number(v());
      if (!Number.isFinite(x)) throw new Error(`${name} must be a number`);
      return x;
    };
    switch (k) {
      case '--model':
        a.model = v();
        break;
      case '--backend':
        a.backend = v();
        break;
      case '--dtype':
        a.dtype = v();
        break;
      case '--shapes':
        a.shapes = v()
          .split(',')
          .map((s) => {
            const m = /^(\d+)x(\d+)$/.exec(s.trim());
            if (!m) throw new Error(`--shapes: "${s}" is not BATCHxSEQ`);
            return [Number(m[1]), Number(m[2])];
          });
        break;
      case '--layer':
        a.layer = num(k);
        break;
      case '--lr':
        a.lr = num(k);
        break;
      case '--steps':
        a.steps = num(k);
        break;
      case '--warmup':
        a.warmup = num(k);
        break;
      case '--generate':
        a.generate = true;
        break;
      case '--gen-prompts':
        a.genPrompts = num(k);
        break;
      case '--gen-prompt-len':
        a.genPromptLen = num(k);
        break;
      case '--gen-new':
        a.genNew = num(k);
        break;
      case '--budget-s':
        a.budgetS = num(k);
        break;
      case '--out':
        a.out = v();
        break;
      case '--label':
        a.label = v();
        break;
      default:
        throw new Error(`unknown argument ${k}`);
    }
  }
  if (!a.model) throw new Error('--model DIR is required');
  if (!['float32', 'bfloat16', 'float16'].includes(a.dtype)) throw new Error(`--dtype ${a.dtype}?`);
  return a;
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const gib = (bytes) => +(bytes / 2 ** 30).toFixed(3);

async function makeBackend(name) {
  if (name === 'cuda' || name === 'native-cpu') {
    const pkg = await import('../../dist/index.js');
    return name === 'cuda' ? pkg.createCudaBackend() : pkg.createNativeCpuBackend();
  }
  return getBackend(name);
}

function readJson(file) {
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

/** Inputs for one shape: the peer's ids when it saved them, else seeded ids (other differs at seq/2). */
function shapeInputs(saved, vocab, B, T) {
  const rec = saved?.inputs?.[`${B}x${T}`];
  if (rec) return { selfIds: rec.self_ids, otherIds: rec.other_ids, source: 'peer' };
  const rng = new Rng(0).split(`soo-bench-${B}x${T}`);
  const selfIds = Array.from({ length: B }, () => Array.from({ length: T }, () => 3 + rng.int(vocab - 3)));
  const otherIds = selfIds.map((r) => {
    const o = [...r];
    o[T >> 1] = (o[T >> 1] + 1) % vocab;
    return o;
  });
  return { selfIds, otherIds, source: 'seeded' };
}

export async function main(argv = process.argv.slice(2)) {
  const a = parseArgs(argv);
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const result = {
    side: 'soo',
    label: a.label,
    backend: a.backend,
    dtype: a.dtype,
    model: path.resolve(a.model),
    layer: a.layer,
    lr: a.lr,
    steps: a.steps,
    warmup: a.warmup,
    shapes: [],
    generate: null,
    notes: [],
  };
  const save = () => {
    if (a.out) writeFileSync(a.out, JSON.stringify(result, null, 1) + '\n');
  };
  const backend = await makeBackend(a.backend);
  result.backendName = backend.name;
  if (a.backend === 'cuda') {
    const avail = (await import('../../dist/index.js')).cudaAvailability();
    result.device = avail.available ? avail.device : null;
  }
  const tl = performance.now();
  const model = await loadModel(backend, a.model, { dtype: a.dtype });
  result.loadSeconds = +((performance.now() - tl) / 1000).toFixed(2);
  result.memoryAfterLoadGiB = gib(model.inner.memory?.().currentBytes ?? 0);
  console.log(
    JSON.stringify({ loaded: a.model, seconds: result.loadSeconds, gib: result.memoryAfterLoadGiB }),
  );
  save();
  const saved = readJson(path.join(a.model, 'soo_bench_inputs.json'));
  const adapterDir = path.join(a.model, 'adapter_init');
  const vocab = model.config.vocabSize;
  for (const [B, T] of a.shapes) {
    if (elapsed() > a.budgetS) {
      result.notes.push(`${B}x${T} not run: the ${a.budgetS} s budget was spent`);
      break;
    }
    const inputs = shapeInputs(saved, vocab, B, T);
    if (existsSync(adapterDir)) await model.loadAdapter(adapterDir);
    else await model.attachLora({ r: 8, alpha: 32, targets: ['q_proj', 'v_proj'], seed: 0 });
    const trainer = model.createSooTrainer({
      hook: `model.layers.${a.layer}.self_attn.o_proj`,
      pooling: 'full',
      optimizer: { lr: a.lr, weightDecay: 0 },
    });
    const batch = { selfIds: inputs.selfIds, otherIds: inputs.otherIds, padId: 0 };
    const losses = [];
    for (let i = 0; i < a.warmup; i++) losses.push((await trainer.step(batch)).loss);
    const ts = [];
    for (let i = 0; i < a.steps; i++) {
      const s = performance.now();
      await trainer.step(batch); // the loss comes back to the host: the step has finished on the device
      ts.push(performance.now() - s);
    }
    ts.sort((x, y) => x - y);
    const mem = model.inner.memory?.() ?? { currentBytes: 0, peakBytes: 0 };
    const r = {
      batch: B,
      seq: T,
      inputs: inputs.source,
      adapter: existsSync(adapterDir) ? 'adapter_init (PEFT, from the peer)' : 'attachLora seed 0',
      step_ms_median: +median(ts).toFixed(3),
      step_ms_min: +ts[0].toFixed(3),
      step_ms_max: +ts[ts.length - 1].toFixed(3),
      tokens_per_s: Math.round(((2 * B * T) / median(ts)) * 1000),
      peak_gib: gib(mem.peakBytes),
      losses: losses.map((l) => +l.toPrecision(8)),
    };
    result.shapes.push(r);
    console.log(JSON.stringify(r));
    save();
  }
  if (a.generate) {
    if (elapsed() > a.budgetS) {
      result.notes.push(`generation not run: the ${a.budgetS} s budget was spent`);
    } else {
      const peer = readJson(path.join(a.model, 'soo_generate.json'));
      let prompts = peer?.prompts;
      if (!prompts) {
        const rng = new Rng(0).split('soo-bench-generate');
        prompts = Array.from({ length: a.genPrompts }, () =>
          Array.from({ length: a.genPromptLen }, () => 3 + rng.int(vocab - 3)),
        );
      }
      await model.detachAdapter();
      await model.generate({ prompts, maxNewTokens: 4, greedy: true, padId: 0 });
      const s = performance.now();
      const out = await model.generate({ prompts, maxNewTokens: a.genNew, greedy: true, padId: 0 });
      const seconds = (performance.now() - s) / 1000;
      const newTokens = out.reduce((n, r) => n + r.length, 0);
      const g = {
        batch: prompts.length,
        prompt: prompts[0].length,
        new_tokens: a.genNew,
        seconds: +seconds.toFixed(3),
        new_tokens_per_s: Math.round(newTokens / seconds),
        prompts: peer?.prompts ? 'peer (soo_generate.json)' : 'seeded',
      };
      if (peer?.tokens) {
        let same = 0;
        let total = 0;
        let firstSame = 0;
        let prefix = 0;
        out.forEach((row, i) => {
          const ref = peer.tokens[i] ?? [];
          if (row[0] === ref[0]) firstSame++;
          let p = 0;
          while (p < row.length && row[p] === ref[p]) p++;
          prefix += p;
          row.forEach((t, j) => {
            total++;
            if (t === ref[j]) same++;
          });
        });
        g.agreement = {
          first_token: +(firstSame / out.length).toFixed(4),
          tokens: +(same / total).toFixed(4),
          mean_common_prefix: +(prefix / out.length).toFixed(2),
        };
      }
      result.generate = g;
      console.log(JSON.stringify(g));
    }
  }
  result.seconds = +elapsed().toFixed(1);
  save();
  model.dispose();
  return result;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((e) => {
    console.error(e?.stack ?? String(e));
    process.exit(1);
  });
}

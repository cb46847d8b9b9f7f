#!/usr/bin/env node
// Benchmarks of the native engine, one JSON object per line on stdout.
//   npm run bench -w @soo/backend-cuda               every bench below
//   npm run bench -w @soo/backend-cuda -- sgemm      only the named ones
// The first line describes the machine and build (CPU, cores, Node, OpenBLAS, SIMD level, date, command) so
// each number carries its context. Each bench is a module in this folder exporting `description` and
// `run({ addon, emit, quick })`; register it in `benches` below. SOO_BENCH_QUICK=1 runs short versions.
import { appendFileSync } from 'node:fs';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';

const benches = {
  sgemm: () => import('./sgemm.mjs'),
  'soo-step': () => import('./soo-step.mjs'),
  pretrain: () => import('./pretrain.mjs'),
  inference: () => import('./inference.mjs'),
  onnx: () => import('./onnx.mjs'),
};

const args = process.argv.slice(2);
// --record FILE: also append the run (machine, load, date, command, tables, raw JSON) to FILE.
const recordAt = args.indexOf('--record');
const recordFile = recordAt >= 0 ? args[recordAt + 1] : null;
const names = args.filter((a, i) => a !== '--record' && i !== recordAt + 1);
const unknown = names.filter((n) => !(n in benches));
if (unknown.length) {
  console.error(`unknown bench ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}

let loader;
try {
  loader = await import(new URL('../dist/index.js', import.meta.url).href);
} catch (e) {
  console.error(
    `@soo/backend-cuda is not built (${e.message}): run npm run build -w @soo/backend-cuda first`,
  );
  process.exit(1);
}
const native = loader.loadNativeAddon();
if (!native.ok) {
  console.error(`native addon unavailable: ${native.reason}. To fix: ${native.install}`);
  process.exit(1);
}
const { addon } = native;
const records = [];
const emit = (record) => {
  records.push(record);
  process.stdout.write(JSON.stringify(record) + '\n');
};
const quick = process.env.SOO_BENCH_QUICK === '1';

emit({
  bench: 'env',
  date: new Date().toISOString(),
  command: `node ${fileURLToPath(import.meta.url)} ${names.join(' ')}`.trim(),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism?.() ?? os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  loadavg: os.loadavg().map((x) => +x.toFixed(2)),
  node: process.version,
  addon: addon.version,
  simd: addon.build.simd,
  compiler: addon.build.compiler,
  blas: addon.blasInfo(),
  quick,
});
for (const name of names.length ? names : Object.keys(benches)) {
  const mod = await benches[name]();
  await mod.run({ addon, emit, quick });
}
if (recordFile) {
  const { recordMarkdown } = await import('./record.mjs');
  appendFileSync(recordFile, recordMarkdown(records));
  console.error(`appended to ${recordFile}`);
}

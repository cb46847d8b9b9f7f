#!/usr/bin/env node
// Core's conformance suite v2 on one backend and dtype, outside vitest (checkBackendConformance), written
// as JSON: every result, the failures with their messages, counts and time.
//
//   node bench/gpu/conformance.mjs --backend cuda --dtype float32|bfloat16 --out FILE [--fixtures a,b]
//
// Tolerances: core's defaults for the dtype (FLOAT32_TOLERANCES, BFLOAT16_TOLERANCES). Exit 0 even on
// failures (the report says); exit 1 only when the backend cannot be made.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  BFLOAT16_TOLERANCES,
  FLOAT32_TOLERANCES,
  checkBackendConformance,
  conformanceFixtures,
  formatConformanceFailures,
} from '@soo/core/testing';

export function parseArgs(argv) {
  const a = { backend: 'cuda', dtype: 'float32', out: null, fixtures: undefined };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--backend') a.backend = v();
    else if (k === '--dtype') a.dtype = v();
    else if (k === '--out') a.out = v();
    else if (k === '--fixtures') a.fixtures = v().split(',');
    else throw new Error(`unknown argument ${k}`);
  }
  if (!['float32', 'bfloat16'].includes(a.dtype)) throw new Error(`--dtype must be float32 or bfloat16`);
  return a;
}

export async function main(argv = process.argv.slice(2)) {
  const a = parseArgs(argv);
  const pkg = await import('../../dist/index.js');
  const make = () => (a.backend === 'cuda' ? pkg.createCudaBackend() : pkg.createNativeCpuBackend());
  const tolerances = a.dtype === 'bfloat16' ? BFLOAT16_TOLERANCES : FLOAT32_TOLERANCES;
  const labels = a.fixtures ?? conformanceFixtures().map(([label]) => label);
  // One fixture at a time, the summary rewritten after each: a run stopped by its time box keeps what it did.
  const summary = {
    backend: a.backend,
    dtype: a.dtype,
    tolerances,
    passed: 0,
    failed: 0,
    skipped: 0,
    total: 0,
    seconds: 0,
    fixtures: { done: [], pending: [...labels] },
    failures: [],
    results: [],
  };
  const save = () => {
    if (a.out) writeFileSync(a.out, JSON.stringify(summary, null, 1) + '\n');
  };
  save();
  for (const label of labels) {
    const report = await checkBackendConformance(make, { dtype: a.dtype, tolerances, fixtures: [label] });
    summary.backend = report.backend;
    summary.results.push(...report.results);
    summary.passed += report.passed;
    summary.failed += report.failed.length;
    summary.skipped += report.results.filter((r) => r.status === 'skipped').length;
    summary.total += report.results.length;
    summary.seconds = +(summary.seconds + report.ms / 1000).toFixed(1);
    summary.failures.push(
      ...report.failed.map((r) => `${r.fixture} (${r.configFile}) ${r.check}: ${r.message ?? ''}`),
    );
    summary.fixtures.done.push(label);
    summary.fixtures.pending = summary.fixtures.pending.filter((l) => l !== label);
    save();
    console.log(
      `conformance ${summary.backend} ${a.dtype} ${label}: ${report.passed} passed, ${report.failed.length} failed (${(report.ms / 1000).toFixed(1)} s)`,
    );
    if (report.failed.length) console.log(formatConformanceFailures(report));
  }
  console.log(
    `conformance ${summary.backend} ${summary.dtype}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped (${summary.seconds} s)`,
  );
  return summary;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((e) => {
    console.error(e?.stack ?? String(e));
    process.exit(1);
  });
}

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
  const report = await checkBackendConformance(make, {
    dtype: a.dtype,
    tolerances,
    ...(a.fixtures ? { fixtures: a.fixtures } : {}),
  });
  const summary = {
    backend: report.backend,
    dtype: report.dtype,
    tolerances,
    passed: report.passed,
    failed: report.failed.length,
    skipped: report.results.filter((r) => r.status === 'skipped').length,
    total: report.results.length,
    seconds: +(report.ms / 1000).toFixed(1),
    failures: report.failed.map((r) => `${r.fixture} (${r.configFile}) ${r.check}: ${r.message ?? ''}`),
    results: report.results,
  };
  if (a.out) writeFileSync(a.out, JSON.stringify(summary, null, 1) + '\n');
  console.log(
    `conformance ${summary.backend} ${summary.dtype}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped (${summary.seconds} s)`,
  );
  if (report.failed.length) console.log(formatConformanceFailures(report));
  return summary;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((e) => {
    console.error(e?.stack ?? String(e));
    process.exit(1);
  });
}

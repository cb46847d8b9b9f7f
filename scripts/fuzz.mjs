#!/usr/bin/env node
// npm run fuzz: every reader under >= 10 000 generated and mutated inputs (FUZZ_RUNS overrides), seeded from
// the fixtures; the same vitest files CI runs with 150 cases. A watchdog stops a run whose progress file
// stops moving (a hang the per-case budget could not catch, such as a synchronous infinite loop).
// Reports: fuzz-results/<target>.json and fuzz-results/summary.md.
/* global setInterval, clearInterval */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const runs = Number(process.env.FUZZ_RUNS ?? 10_000);
const seed = Number(process.env.FUZZ_SEED ?? 14);
const out = path.join(root, 'fuzz-results');
const STALL_S = Number(process.env.FUZZ_STALL_S ?? 180);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

function run(cmd, args, cwd, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: 'inherit', env: { ...process.env, ...env } });
    let last = Date.now();
    const watchdog = setInterval(() => {
      for (const f of readdirSync(out).filter((n) => n.endsWith('.progress')))
        last = Math.max(last, statSync(path.join(out, f)).mtimeMs);
      if (Date.now() - last > STALL_S * 1000) {
        console.error(`fuzz: no progress for ${STALL_S} s: a hang; stopping ${args.join(' ')}`);
        writeFileSync(path.join(out, `hang-${path.basename(cwd)}.txt`), `no progress for ${STALL_S} s\n`);
        child.kill('SIGKILL');
      }
    }, 5000);
    child.on('exit', (code) => {
      clearInterval(watchdog);
      resolve(code ?? 1);
    });
  });
}

const build = await run('npx', ['turbo', 'run', 'build', '--filter=@soo/rl...'], root);
if (build !== 0) process.exit(build);
const env = { FUZZ_RUNS: String(runs), FUZZ_SEED: String(seed), FUZZ_REPORT_DIR: out };
const t0 = Date.now();
const codes = [
  await run('npx', ['vitest', 'run', 'src/fuzz/fuzz.test.ts'], path.join(root, 'packages/core'), env),
  await run('npx', ['vitest', 'run', 'src/fuzz.test.ts'], path.join(root, 'packages/rl'), env),
];
const reports = readdirSync(out)
  .filter((n) => n.endsWith('.json'))
  .map((n) => JSON.parse(readFileSync(path.join(out, n), 'utf8')));
const hangs = readdirSync(out).filter((n) => n.startsWith('hang-'));
const rows = [
  '| reader | cases | correct results | typed errors | crashes | hangs | memory blow-ups | slowest case | time |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...reports.map(
    (r) =>
      `| ${r.target} | ${r.cases} | ${r.results} | ${r.typedErrors} | ${r.crashes} | ${r.hangs} | ${r.memoryBlowUps} | ${r.slowestCaseMs.toFixed(0)} ms | ${r.seconds.toFixed(0)} s |`,
  ),
];
const total = reports.reduce((a, r) => a + r.cases, 0);
const bad = reports.reduce((a, r) => a + r.crashes + r.hangs + r.memoryBlowUps, 0) + hangs.length;
const summary =
  `fuzz: ${reports.length} readers, ${total} cases (seed ${seed}, ${runs} per reader) in ${((Date.now() - t0) / 1000).toFixed(0)} s on ${new Date().toISOString().slice(0, 10)}: ` +
  `${bad === 0 ? '0 crashes, 0 hangs, 0 memory blow-ups' : `${bad} FAILURES`}\n\n${rows.join('\n')}\n`;
writeFileSync(path.join(out, 'summary.md'), summary);
console.log('\n' + summary);
for (const r of reports)
  if (r.failure)
    console.log(`${r.target}: ${r.failure.kind}: ${r.failure.message}\n  input: ${r.failure.input}`);
process.exit(
  codes.every((c) => c === 0) && bad === 0 && !existsSync(path.join(out, 'hang-core.txt')) ? 0 : 1,
);

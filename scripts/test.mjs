#!/usr/bin/env node
// Runs every workspace's tests through turbo (build first, as turbo.json wires it), then prints one
// closing line with the totals that vitest wrote to each workspace's .vitest-results.json.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const workspaces = ['packages', 'apps'].flatMap((d) =>
  existsSync(path.join(root, d)) ? readdirSync(path.join(root, d)).map((n) => path.join(root, d, n)) : [],
);
const resultFile = (ws) => path.join(ws, '.vitest-results.json');
for (const ws of workspaces) rmSync(resultFile(ws), { force: true });

const args = ['turbo', 'run', 'test', '--concurrency=1', ...process.argv.slice(2)];
const run = spawnSync('npx', args, { cwd: root, stdio: 'inherit' });

let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const ws of workspaces) {
  if (!existsSync(path.join(ws, 'package.json'))) continue;
  const f = resultFile(ws);
  if (!existsSync(f)) {
    missing.push(path.relative(root, ws));
    continue;
  }
  const r = JSON.parse(readFileSync(f, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
}
if (missing.length) console.log(`(no test results from: ${missing.join(', ')})`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(run.status ?? 1);

// The README's runnable example runs as written (against the built package).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from 'vitest';

it('examples/deploy.mjs exports, runs a hooked forward and generates', () => {
  const script = path.resolve(__dirname, '..', 'examples', 'deploy.mjs');
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^exported 7 files \(\d+ bytes\)/m);
  expect(r.stdout).toMatch(/^logits 1 x 4 x \d+ model\.layers\.1\.self_attn\.o_proj 1 x 4 x \d+$/m);
  expect(r.stdout).toMatch(/^greedy tokens( \d+){8}$/m);
});

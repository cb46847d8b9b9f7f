/**
 * The native test program (native/tests/run.sh check): every layer kind's analytic backward against double
 * finite differences, engine-level gradient checks of every objective and hook, the KV cache against the
 * full forward, bad input raising errors. Built with g++ and OpenBLAS directly; skipped where the addon
 * (which needs the same toolchain) is not built. `SOO_NATIVE_ASAN=1` also runs it and the 200-step SOO soak
 * under AddressSanitizer, LeakSanitizer and UBSan (`run.sh asan`, a few minutes).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeAvailability } from './native-loader.js';

const native = nativeAvailability();
const script = fileURLToPath(new URL('../native/tests/run.sh', import.meta.url));

function run(mode: string): { status: number | null; output: string } {
  const out = mkdtempSync(path.join(os.tmpdir(), 'soo-native-tests-'));
  const r = spawnSync('bash', [script, mode], {
    encoding: 'utf8',
    env: { ...process.env, SOO_NATIVE_TEST_OUT: out },
    timeout: 900_000,
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

describe.skipIf(!native.available)('native engine test program', () => {
  it('gradient checks, KV cache and bad input', { timeout: 900_000 }, () => {
    const r = run('check');
    const failed = r.output.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(failed, r.output.slice(-4000)).toEqual([]);
    expect(r.status, r.output.slice(-4000)).toBe(0);
    expect(r.output).toMatch(/\d+ checks, 0 failed/);
  });

  it.skipIf(process.env.SOO_NATIVE_ASAN !== '1')(
    '200 SOO steps and the checks under ASan / LSan / UBSan',
    { timeout: 1_800_000 },
    () => {
      const r = run('asan');
      expect(r.status, r.output.slice(-6000)).toBe(0);
      expect(r.output).not.toMatch(/ERROR: (Address|Leak)Sanitizer|runtime error:/);
    },
  );
});

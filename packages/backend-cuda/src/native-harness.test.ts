/**
 * The native test program (native/tests/run.sh check): every layer kind's analytic backward against double
 * finite differences, engine-level gradient checks of every objective and hook, the KV cache against the
 * full forward, bad input raising errors. Built with g++ and OpenBLAS directly; skipped where the addon
 * (which needs the same toolchain) is not built. Then the same checks and a 200-step SOO soak under
 * AddressSanitizer, LeakSanitizer and UBSan (`run.sh asan`, under a minute on 2 cores; SOO_NATIVE_ASAN=0
 * skips it).
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

/** Whether this g++ links AddressSanitizer and UBSan (their runtimes ship with gcc, but not everywhere). */
function sanitizersLink(): boolean {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'soo-asan-probe-')), 'probe');
  const r = spawnSync('g++', ['-fsanitize=address,undefined', '-x', 'c++', '-', '-o', out], {
    input: 'int main() { return 0; }\n',
    encoding: 'utf8',
  });
  return r.status === 0;
}

describe.skipIf(!native.available)('native engine test program', () => {
  it('gradient checks, KV cache and bad input', { timeout: 900_000 }, () => {
    const r = run('check');
    const failed = r.output.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(failed, r.output.slice(-4000)).toEqual([]);
    expect(r.status, r.output.slice(-4000)).toBe(0);
    expect(r.output).toMatch(/\d+ checks, 0 failed/);
  });

  it.skipIf(process.env.SOO_NATIVE_ASAN === '0')(
    '200 SOO steps and the checks under ASan / LSan / UBSan',
    { timeout: 1_800_000 },
    (ctx) => {
      if (!sanitizersLink()) {
        console.warn(
          'ASan soak skipped: g++ cannot link -fsanitize=address,undefined here (libasan/libubsan)',
        );
        ctx.skip();
      }
      const r = run('asan');
      expect(r.status, r.output.slice(-6000)).toBe(0);
      expect(r.output).not.toMatch(/ERROR: (Address|Leak)Sanitizer|runtime error:/);
      expect(r.output).toMatch(/after 200 steps/);
    },
  );
});

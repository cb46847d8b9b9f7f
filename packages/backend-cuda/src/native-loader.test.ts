import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BUILD_HINT,
  loadNativeAddon,
  manifestProblem,
  nativeAvailability,
  nativeUnavailableError,
  requireNativeAddon,
} from './native-loader.js';

const native = nativeAvailability();
if (!native.available) console.log(`native addon tests skipped: ${native.reason} (${native.install})`);

describe('native loader: reasons', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'soo-native-loader-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('SOO_NATIVE_DISABLE=1 turns it off and says so', () => {
    const r = loadNativeAddon({ env: { SOO_NATIVE_DISABLE: '1' } });
    expect(r).toEqual({
      ok: false,
      reason: 'disabled by SOO_NATIVE_DISABLE=1',
      install: 'unset SOO_NATIVE_DISABLE',
    });
  });

  it('a missing file: not built, with the build command', () => {
    const file = path.join(dir, 'nothing.node');
    const r = loadNativeAddon({ path: file, env: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe(`not built: ${file} does not exist`);
    expect(r.install).toBe(BUILD_HINT);
    expect(r.install).toContain('apt-get install g++ make python3 libopenblas-dev');
  });

  it('a file that is not a shared library: the dynamic loader error text', () => {
    const file = path.join(dir, 'garbage.node');
    writeFileSync(file, 'not an ELF file');
    const r = loadNativeAddon({ path: file, env: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toMatch(new RegExp(`^cannot load ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+`));
    if (process.platform === 'linux') expect(r.reason).toMatch(/invalid ELF header|file too short/);
  });

  it('an addon built for another platform or CPU is refused before loading', () => {
    const other = process.arch === 'x64' ? 'arm64' : 'x64';
    expect(manifestProblem({ platform: process.platform, arch: other }, null)).toBe(
      `the addon was built for ${process.platform}-${other}, this is ${process.platform}-${process.arch}`,
    );
    const flags = new Set(['sse2', 'avx']);
    const p = manifestProblem(
      { platform: process.platform, arch: process.arch, simd: 'avx2', requiresCpu: ['avx2', 'fma'] },
      flags,
    );
    expect(p).toContain('this CPU lacks avx2, fma');
    expect(p).toContain('SOO_NATIVE_MARCH=baseline');
    expect(
      manifestProblem({ platform: process.platform, arch: process.arch, requiresCpu: ['avx2'] }, null),
    ).toBe(null);
  });

  it('unavailable becomes a BackendError BACKEND_UNAVAILABLE naming the reason and the fix', () => {
    const e = nativeUnavailableError({ reason: 'not built: x', install: 'apt-get install libopenblas-dev' });
    expect(e.code).toBe('BACKEND_UNAVAILABLE');
    expect(e.message).toBe(
      'the native-cpu backend cannot run on this machine: not built: x. To fix: apt-get install libopenblas-dev',
    );
    expect(() => requireNativeAddon({ env: { SOO_NATIVE_DISABLE: '1' } })).toThrow(
      expect.objectContaining({ code: 'BACKEND_UNAVAILABLE' }),
    );
  });

  it.runIf(process.env.SOO_NATIVE_REQUIRED === '1')('is available where SOO_NATIVE_REQUIRED=1 (CI)', () => {
    expect(native.reason).toBe('');
    expect(native.available).toBe(true);
  });
});

describe.skipIf(!native.available)('native addon (soo_native)', () => {
  const addon = native.addon!;

  it('reports the package version, its build and OpenBLAS', () => {
    expect(addon.version).toBe(process.env.npm_package_version ?? addon.version);
    expect(addon.napiVersion).toBe(8);
    expect(addon.build.cplusplus).toBeGreaterThanOrEqual(201703);
    const blas = addon.blasInfo();
    expect(blas.vendor).toBe('OpenBLAS');
    expect(blas.config).toMatch(/^OpenBLAS \d+\.\d+/);
    expect(blas.numThreads).toBeGreaterThanOrEqual(1);
  });

  it('setBlasThreads changes the thread count and gives it back', () => {
    const before = addon.blasInfo().numThreads;
    expect(addon.setBlasThreads(1)).toBe(1);
    expect(addon.blasInfo().numThreads).toBe(1);
    addon.setBlasThreads(before);
  });

  it('sgemmBench returns a positive GFLOP/s and rejects bad shapes with JS errors', () => {
    expect(addon.sgemmBench(64, 48, 32, 3)).toBeGreaterThan(0);
    expect(() => addon.sgemmBench(0, 1, 1, 1)).toThrow(RangeError);
    expect(() => addon.sgemmBench(1.5, 1, 1, 1)).toThrow(/m: expected an integer in \[1, 65536\], got 1.5/);
    expect(() => (addon.sgemmBench as (...a: unknown[]) => number)('8', 1, 1, 1)).toThrow(TypeError);
  });

  it('loads through the same path the package uses, once', () => {
    const r = loadNativeAddon();
    expect(r.ok).toBe(true);
    expect(loadNativeAddon()).toBe(r);
  });
});

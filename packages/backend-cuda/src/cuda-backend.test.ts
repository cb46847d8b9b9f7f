/**
 * The `cuda` backend where it cannot run (every CI machine): the factory throws BACKEND_UNAVAILABLE with
 * the exact reason, and getBackend() falls back to the next backend. The GPU half lives in
 * cuda-conformance.test.ts (skipped here) and scripts/gpu-check.sh.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend, listBackends } from '@soo/core';
import { CUDA_CAPABILITIES, createCudaBackend, cudaAvailability, defaultCudaLibraryPath } from './index.js';
import { nativeAvailability } from './native-loader.js';

const native = nativeAvailability();
/** Where the NVIDIA driver's libcuda.so.1 lives on the usual Linux systems. */
const driverPresent = [
  '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
  '/usr/lib64/libcuda.so.1',
  '/usr/local/nvidia/lib64/libcuda.so.1',
  '/usr/lib/wsl/lib/libcuda.so.1',
].some((f) => existsSync(f));

function thrown(f: () => unknown): { code?: string; message: string } {
  try {
    f();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected a throw');
}

describe('cuda backend registration', () => {
  it('is registered above native-cpu, with bf16 first and fp32 for conformance', () => {
    const regs = listBackends();
    const cuda = regs.find((r) => r.name === 'cuda');
    const cpu = regs.find((r) => r.name === 'native-cpu');
    expect(cuda).toBeDefined();
    expect(cpu).toBeDefined();
    expect(cuda!.priority).toBeGreaterThan(cpu!.priority);
    expect(CUDA_CAPABILITIES.dtypes).toEqual(['bfloat16', 'float32']);
  });
});

describe.skipIf(!native.available)('cuda backend without a GPU', () => {
  it('names a missing libsoo_cuda.so', () => {
    const e = thrown(() => createCudaBackend({ library: '/nonexistent/libsoo_cuda.so' }));
    expect(e.code).toBe('BACKEND_UNAVAILABLE');
    expect(e.message).toBe(
      'the cuda backend cannot run on this machine: libsoo_cuda.so is not built (no /nonexistent/libsoo_cuda.so): ' +
        'build it where nvcc is, npm run build -w @soo/backend-cuda',
    );
  });

  it('names a file that is not a shared library', () => {
    const bogus = path.join(mkdtempSync(path.join(os.tmpdir(), 'soo-cuda-')), 'libsoo_cuda.so');
    writeFileSync(bogus, 'not an ELF file');
    const e = thrown(() => createCudaBackend({ library: bogus }));
    expect(e.code).toBe('BACKEND_UNAVAILABLE');
    expect(e.message).toMatch(
      new RegExp(
        `^the cuda backend cannot run on this machine: cannot load ${bogus.replace(/[.]/g, '\\.')} \\(`,
      ),
    );
  });

  it.skipIf(driverPresent || !existsSync(defaultCudaLibraryPath))(
    'says "no NVIDIA driver" where libsoo_cuda.so is built but there is no driver',
    () => {
      const e = thrown(() => createCudaBackend());
      expect(e.code).toBe('BACKEND_UNAVAILABLE');
      expect(e.message).toMatch(
        /^the cuda backend cannot run on this machine: no NVIDIA driver: libcuda\.so\.1 cannot be loaded \(.*\); install the NVIDIA driver \(a GPU machine\) to use the cuda backend$/,
      );
      const a = cudaAvailability();
      expect(a.available).toBe(false);
    },
  );

  it.skipIf(existsSync(defaultCudaLibraryPath))('says why libsoo_cuda.so was not built (no nvcc)', () => {
    const e = thrown(() => createCudaBackend());
    expect(e.code).toBe('BACKEND_UNAVAILABLE');
    expect(e.message).toMatch(
      /^the cuda backend cannot run on this machine: libsoo_cuda\.so is not built \(/,
    );
  });

  it.skipIf(cudaAvailability().available)('getBackend() falls back to native-cpu', async () => {
    const b = await getBackend();
    expect(b.name).toBe('native-cpu');
  });
});

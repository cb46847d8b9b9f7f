import { describe, expect, it } from 'vitest';
import { assertCudaUsable, cudaProblems, detectCuda, parseNvccVersion, parseNvidiaSmi } from './index.js';

describe('CUDA detection', () => {
  it('parses nvidia-smi CSV rows', () => {
    const r = parseNvidiaSmi(
      '0, NVIDIA H100 80GB HBM3, 81559, 9.0, 580.65.06\n1, NVIDIA A100-SXM4-40GB, 40960, 8.0, 580.65.06\n',
    );
    expect(r.gpus).toEqual([
      { index: 0, name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559, computeCapability: '9.0' },
      { index: 1, name: 'NVIDIA A100-SXM4-40GB', memoryMiB: 40960, computeCapability: '8.0' },
    ]);
    expect(r.driverVersion).toBe('580.65.06');
  });

  it('parses nvcc --version', () => {
    expect(
      parseNvccVersion(
        'Cuda compilation tools, release 13.0, V13.0.48\nBuild cuda_13.0.r13.0/compiler.36424714_0',
      ),
    ).toBe('13.0');
    expect(parseNvccVersion('garbage')).toBeNull();
  });

  it('reports what is missing on a machine without a GPU, and assertCudaUsable says so', () => {
    const env = detectCuda({ CUDA_HOME: '/nonexistent-cuda', PATH: '/nonexistent-bin' });
    expect(env.gpus).toEqual([]);
    expect(env.problems.some((p) => p.includes('no NVIDIA GPU'))).toBe(true);
    expect(() => assertCudaUsable(env)).toThrow(expect.objectContaining({ code: 'BACKEND_UNAVAILABLE' }));
  });

  it('flags GPUs without bf16 tensor cores and passes a complete H100 setup', () => {
    const h100 = { index: 0, name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559, computeCapability: '9.0' };
    const t4 = { index: 1, name: 'Tesla T4', memoryMiB: 15360, computeCapability: '7.5' };
    const base = { toolkitRoot: '/usr/local/cuda', nvccVersion: '13.0', cublas: true };
    expect(cudaProblems({ ...base, gpus: [h100] })).toEqual([]);
    const p = cudaProblems({ ...base, gpus: [h100, t4] });
    expect(p).toHaveLength(1);
    expect(p[0]).toContain('Tesla T4 (7.5)');
    expect(cudaProblems({ ...base, cublas: false, gpus: [h100] })[0]).toContain('cuBLAS');
  });
});

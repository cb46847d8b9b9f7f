/**
 * Core's conformance suite v2 on `cuda`, at float32 (fp32 GEMMs, fp32 tolerances) and at bfloat16 (bf16
 * GEMM inputs with fp32 accumulation, bf16 tolerances). Runs where a GPU, its driver, cuBLASLt and
 * libsoo_cuda.so are present (scripts/gpu-check.sh runs it on the GPU machine); reported as skipped, with
 * the reason, everywhere else.
 */
import { describe, it } from 'vitest';
import { BFLOAT16_TOLERANCES, FLOAT32_TOLERANCES, runBackendConformance } from '@soo/core/testing';
import { createCudaBackend, cudaAvailability } from './cuda-backend.js';

const cuda = cudaAvailability();
if (cuda.available) {
  runBackendConformance('cuda', () => createCudaBackend(), {
    dtype: 'float32',
    tolerances: FLOAT32_TOLERANCES,
  });
  runBackendConformance('cuda', () => createCudaBackend(), {
    dtype: 'bfloat16',
    tolerances: BFLOAT16_TOLERANCES,
  });
} else {
  describe.skip(`cuda conformance, float32 and bfloat16 (${cuda.reason})`, () => {
    it('needs an NVIDIA GPU with its driver, cuBLASLt and libsoo_cuda.so', () => {});
  });
}

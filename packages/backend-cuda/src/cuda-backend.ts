/**
 * `cuda`: core's backend contract v2 on the native engine's CUDA device (libsoo_cuda.so: cuBLASLt GEMMs and
 * fused kernels, built by nvcc in its own step of `npm run build`). The TypeScript side is native-cpu's
 * (native-backend.ts); only the engine's device differs. The addon dlopen()s the library when a model is
 * loaded, so this file loads everywhere and the factory says exactly what is missing where it cannot run:
 * no addon, no libsoo_cuda.so (no nvcc at build time), no NVIDIA driver, no GPU, or no cuBLASLt.
 *
 * Compute dtypes: bfloat16 (default: frozen linear weights stored in bf16, GEMM inputs rounded to bf16,
 * fp32 accumulation; LoRA weights, gradients and AdamW state in fp32) and float32 (fp32 GEMMs, for
 * conformance at fp32 tolerances). Activations, embeddings and lm_head are fp32 in this version (README).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendError, type BackendCapabilities } from '@soo/core';
import { NativeCpuBackend } from './native-backend.js';
import { hasEngine, type CudaProbeResult, type NativeEngineAddon } from './native-engine.js';
import { loadNativeAddon, type NativeLoadOptions } from './native-loader.js';

export const CUDA_CAPABILITIES: BackendCapabilities = {
  train: true,
  fullTraining: true,
  generate: true,
  hooks: true,
  dtypes: ['bfloat16', 'float32'],
};

const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const defaultCudaLibraryPath = path.join(packageDir, 'build', 'Release', 'libsoo_cuda.so');

export interface CudaLoadOptions extends NativeLoadOptions {
  /** libsoo_cuda.so to load (default: SOO_CUDA_LIBRARY, else build/Release/libsoo_cuda.so in this package). */
  library?: string;
}

export type CudaAvailability =
  | {
      available: true;
      addon: NativeEngineAddon;
      library: string;
      device: NonNullable<CudaProbeResult['device']>;
    }
  | { available: false; reason: string };

function buildSkipReason(): string | null {
  try {
    const j = JSON.parse(readFileSync(path.join(packageDir, 'build', 'cuda-skip.txt'), 'utf8')) as {
      reason?: string;
    };
    return j.reason ?? null;
  } catch {
    return null;
  }
}

/** Whether the cuda backend can run here, and if not, why (never throws). */
export function cudaAvailability(options: CudaLoadOptions = {}): CudaAvailability {
  const env = options.env ?? process.env;
  const r = loadNativeAddon(options);
  if (!r.ok) return { available: false, reason: `the native addon is not available (${r.reason})` };
  if (!hasEngine(r.addon) || typeof r.addon.cudaProbe !== 'function')
    return {
      available: false,
      reason: `${r.path} was built without the CUDA loader: rebuild it (npm run build -w @soo/backend-cuda)`,
    };
  const library = path.resolve(options.library ?? (env.SOO_CUDA_LIBRARY || defaultCudaLibraryPath));
  if (!existsSync(library)) {
    const why = options.library || env.SOO_CUDA_LIBRARY ? null : buildSkipReason();
    return {
      available: false,
      reason: `libsoo_cuda.so is not built (${why ?? `no ${library}`}): build it where nvcc is, npm run build -w @soo/backend-cuda`,
    };
  }
  const probe = r.addon.cudaProbe(library);
  if (!probe.ok || !probe.device) return { available: false, reason: probe.reason };
  return { available: true, addon: r.addon, library, device: probe.device };
}

/** The error the factory throws where the cuda backend cannot run. */
export function cudaUnavailableError(reason: string): BackendError {
  return new BackendError('BACKEND_UNAVAILABLE', `the cuda backend cannot run on this machine: ${reason}`);
}

/** The `cuda` backend, or BackendError BACKEND_UNAVAILABLE saying why it cannot run here. */
export function createCudaBackend(options: CudaLoadOptions = {}): NativeCpuBackend {
  const a = cudaAvailability(options);
  if (!a.available) throw cudaUnavailableError(a.reason);
  return new NativeCpuBackend(a.addon, {
    name: 'cuda',
    capabilities: CUDA_CAPABILITIES,
    device: (dtype) => ({ device: 'cuda', cudaLibrary: a.library, cudaMode: dtype === 'bfloat16' ? 1 : 0 }),
  });
}

/**
 * @soo/backend-cuda: soo's native engines on the `Backend` interface of @soo/core: `native-cpu` (the
 * engine on OpenBLAS) and `cuda` (the same engine on a CUDA device, libsoo_cuda.so, loaded only where a GPU
 * is), plus finding out what the machine offers (driver, GPUs, toolkit, cuBLAS) and saying exactly what is
 * missing, instead of failing deep inside a native load.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { BackendError, registerBackend } from '@soo/core';
import { createCudaBackend } from './cuda-backend.js';
import { createNativeCpuBackend } from './native-backend.js';

export interface GpuInfo {
  index: number;
  name: string;
  memoryMiB: number;
  computeCapability: string;
}

export interface CudaEnvironment {
  /** GPUs the driver reports (empty without a driver). */
  gpus: GpuInfo[];
  driverVersion: string | null;
  /** CUDA toolkit root (CUDA_HOME, CUDA_PATH, or /usr/local/cuda), if present. */
  toolkitRoot: string | null;
  nvccVersion: string | null;
  /** Whether libcublas and libcublasLt were found in the toolkit's library folders. */
  cublas: boolean;
  /** Human-readable reasons the engine cannot run here (empty when it can). */
  problems: string[];
}

function tryExec(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
  } catch {
    return null;
  }
}

/** Parse `nvidia-smi --query-gpu=index,name,memory.total,compute_cap,driver_version --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(csv: string): { gpus: GpuInfo[]; driverVersion: string | null } {
  const gpus: GpuInfo[] = [];
  let driverVersion: string | null = null;
  for (const line of csv.split('\n')) {
    const cols = line.split(',').map((c) => c.trim());
    if (cols.length < 5 || cols[0] === '') continue;
    const [index, name, mem, cc, driver] = cols as [string, string, string, string, string];
    gpus.push({ index: Number(index), name, memoryMiB: Number(mem), computeCapability: cc });
    driverVersion = driver;
  }
  return { gpus, driverVersion };
}

/** Parse the release line of `nvcc --version` ("Cuda compilation tools, release 13.0, V13.0.48"). */
export function parseNvccVersion(text: string): string | null {
  const m = /release (\d+\.\d+)/.exec(text);
  return m ? (m[1] as string) : null;
}

function findToolkit(env: NodeJS.ProcessEnv): string | null {
  for (const c of [env.CUDA_HOME, env.CUDA_PATH, '/usr/local/cuda']) if (c && existsSync(c)) return c;
  return null;
}

function hasLib(root: string | null, prefix: string): boolean {
  if (!root) return false;
  for (const dir of ['lib64', 'lib', path.join('targets', 'x86_64-linux', 'lib')]) {
    const full = path.join(root, dir);
    if (existsSync(full) && readdirSync(full).some((f) => f.startsWith(prefix + '.so'))) return true;
  }
  return false;
}

/** Look at the machine: driver and GPUs (nvidia-smi), toolkit, nvcc, cuBLAS. Never throws. */
export function detectCuda(env: NodeJS.ProcessEnv = process.env): CudaEnvironment {
  const smi = tryExec('nvidia-smi', [
    '--query-gpu=index,name,memory.total,compute_cap,driver_version',
    '--format=csv,noheader,nounits',
  ]);
  const { gpus, driverVersion } = smi ? parseNvidiaSmi(smi) : { gpus: [], driverVersion: null };
  const toolkitRoot = findToolkit(env);
  const nvccPath =
    toolkitRoot && existsSync(path.join(toolkitRoot, 'bin', 'nvcc'))
      ? path.join(toolkitRoot, 'bin', 'nvcc')
      : 'nvcc';
  const nvccOut = tryExec(nvccPath, ['--version']);
  const nvccVersion = nvccOut ? parseNvccVersion(nvccOut) : null;
  const cublas = hasLib(toolkitRoot, 'libcublas') && hasLib(toolkitRoot, 'libcublasLt');
  const problems = cudaProblems({ gpus, toolkitRoot, nvccVersion, cublas });
  return { gpus, driverVersion, toolkitRoot, nvccVersion, cublas, problems };
}

/** What stops the CUDA engine from running, given what was found. Empty when nothing does. */
export function cudaProblems(
  found: Pick<CudaEnvironment, 'gpus' | 'toolkitRoot' | 'nvccVersion' | 'cublas'>,
): string[] {
  const { gpus, toolkitRoot, nvccVersion, cublas } = found;
  const problems: string[] = [];
  if (gpus.length === 0)
    problems.push('no NVIDIA GPU visible (nvidia-smi missing or reports none): install the NVIDIA driver');
  if (!toolkitRoot) problems.push('no CUDA toolkit found: install CUDA 12 or 13 and set CUDA_HOME');
  if (!nvccVersion)
    problems.push('nvcc not found: the addon is compiled on your machine against your CUDA toolkit');
  if (toolkitRoot && !cublas)
    problems.push(`cuBLAS/cuBLASLt not found under ${toolkitRoot}: install the CUDA math libraries`);
  const weak = gpus.filter((g) => Number(g.computeCapability) < 8.0);
  if (weak.length)
    problems.push(
      `bf16 tensor cores need compute capability >= 8.0; found ${weak.map((g) => `${g.name} (${g.computeCapability})`).join(', ')}`,
    );
  return problems;
}

/** Throw a BackendError naming what to install when the machine cannot run the CUDA engine. */
export function assertCudaUsable(env: CudaEnvironment = detectCuda()): void {
  if (env.problems.length) {
    throw new BackendError(
      'BACKEND_UNAVAILABLE',
      `the CUDA backend cannot run on this machine: ${env.problems.join('; ')}`,
    );
  }
}

export {
  BUILD_HINT,
  defaultAddonPath,
  loadNativeAddon,
  nativeAvailability,
  nativeUnavailableError,
  requireNativeAddon,
} from './native-loader.js';
export type {
  BlasInfo,
  NativeAddon,
  NativeAvailability,
  NativeLoadOptions,
  NativeLoadResult,
} from './native-loader.js';
/**
 * `native-cpu` in core's backend registry, above tfjs-wasm (20): `getBackend()` picks it when the addon
 * loads here and falls back otherwise (its factory throws BACKEND_UNAVAILABLE with the reason).
 */
registerBackend('native-cpu', () => createNativeCpuBackend(), 30);
/**
 * `cuda` above native-cpu: picked where libsoo_cuda.so, an NVIDIA driver, a GPU and cuBLASLt are all
 * present; elsewhere its factory throws BACKEND_UNAVAILABLE naming the missing part and getBackend()
 * falls back.
 */
registerBackend('cuda', () => createCudaBackend(), 40);

export {
  NATIVE_CPU_CAPABILITIES,
  NativeCpuBackend,
  NativeCpuModel,
  createNativeCpuBackend,
} from './native-backend.js';
export {
  CUDA_CAPABILITIES,
  createCudaBackend,
  cudaAvailability,
  cudaUnavailableError,
  defaultCudaLibraryPath,
  type CudaAvailability,
  type CudaLoadOptions,
} from './cuda-backend.js';
export type { CudaProbeResult } from './native-engine.js';
export type { EngineTarget } from './native-backend.js';

import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  type Backend,
  type LoadModelOptions,
  type SooModel,
  getBackend,
  listBackends,
  loadModel,
} from '@soo/core';
import { UsageError } from './errors.js';

let loaded: Promise<void> | null = null;

/**
 * Import the backend packages this CLI ships with; each registers itself with @soo/core on import:
 * `cuda` (priority 40, where libsoo_cuda.so, a GPU and its driver are), `native-cpu` (30, when its addon is
 * built here), `tfjs-wasm` (20), `tfjs-cpu` (10), `onnx` (5: inference only, used when named).
 */
async function loadBackendPackages(): Promise<void> {
  loaded ??= Promise.all([
    import('@soo/backend-cuda'),
    import('@soo/backend-tfjs'),
    import('@soo/backend-onnx'),
  ]).then(() => undefined);
  return loaded;
}

/** The backend named by `--backend`, or the fastest available one. */
export async function resolveBackend(name?: string): Promise<Backend> {
  await loadBackendPackages();
  return getBackend(name);
}

export async function backendNames(): Promise<string[]> {
  await loadBackendPackages();
  return listBackends().map((b) => b.name);
}

/**
 * `--model` on `backend`: an HF folder through core's reader, or, on the onnx backend, a folder written by
 * `soo export --onnx` (its `model.onnx` runs as exported; the adapter is already merged).
 */
export async function loadModelFor(
  backend: Backend,
  dir: string,
  options: LoadModelOptions = {},
): Promise<SooModel> {
  const exported = existsSync(path.join(dir, 'model.onnx'));
  if (exported && backend.name === 'onnx') {
    if (options.adapterDir)
      throw new UsageError(
        `--adapter: ${dir} is an ONNX export, whose adapter is merged at export time (soo export --onnx --adapter ...); drop --adapter`,
      );
    const { loadExportedModel } = await import('@soo/backend-onnx');
    return loadExportedModel(dir, options.configFile ? { configFile: options.configFile } : {});
  }
  if (
    exported &&
    !existsSync(path.join(dir, 'model.safetensors')) &&
    !existsSync(path.join(dir, 'model.safetensors.index.json'))
  )
    throw new UsageError(
      `--model: ${dir} is an ONNX export (model.onnx, no safetensors): run it with --backend onnx`,
    );
  return loadModel(backend, dir, options);
}

export const BACKEND_HELP =
  'backend to compute with: cuda | native-cpu | tfjs-wasm | tfjs-cpu | onnx (inference only; also runs `soo export --onnx` folders) (default: the fastest available here)';

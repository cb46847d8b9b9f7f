import { type Backend, getBackend, listBackends } from '@soo/core';

let loaded: Promise<void> | null = null;

/**
 * Import the backend packages this CLI ships with; each registers itself with @soo/core on import:
 * `cuda` (priority 40, where libsoo_cuda.so, a GPU and its driver are), `native-cpu` (30, when its addon is
 * built here), `tfjs-wasm` (20), `tfjs-cpu` (10).
 */
async function loadBackendPackages(): Promise<void> {
  loaded ??= Promise.all([import('@soo/backend-cuda'), import('@soo/backend-tfjs')]).then(() => undefined);
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

export const BACKEND_HELP =
  'backend to compute with: cuda | native-cpu | tfjs-wasm | tfjs-cpu (default: the fastest available here)';

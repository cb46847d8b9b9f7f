import { type Backend, getBackend, listBackends } from '@soo/core';

let loaded: Promise<void> | null = null;

/** Import the backend packages this CLI ships with; each registers itself with @soo/core on import. */
async function loadBackendPackages(): Promise<void> {
  loaded ??= import('@soo/backend-tfjs').then(() => undefined);
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

export const BACKEND_HELP = 'backend to compute with: tfjs-wasm | tfjs-cpu (default: the fastest available)';

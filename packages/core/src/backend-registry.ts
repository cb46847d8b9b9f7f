/**
 * The backend registry: backends register a factory under a name and a priority; `getBackend()` picks the
 * named one, or the highest-priority one that starts here (e.g. `native-cpu` over `tfjs-wasm` when the
 * native addon loads). A factory that cannot run here throws `BACKEND_UNAVAILABLE` with the reason.
 */
import { BACKEND_SPECIFICATION_VERSION, type Backend } from './backend-spec.js';
import { BackendError, InvalidArgumentError } from './errors.js';

/** Throw `BACKEND_CAPABILITY` unless `backend` has `capability`. */
export function requireCapability(
  backend: Pick<Backend, 'name' | 'capabilities'>,
  capability: 'train' | 'fullTraining' | 'generate' | 'hooks',
): void {
  if (!backend.capabilities[capability]) {
    throw new BackendError(
      'BACKEND_CAPABILITY',
      `backend "${backend.name}" does not support ${capability}; pick another backend with --backend`,
      {
        field: capability,
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------------------

/**
 * Makes a backend, or throws (`BACKEND_UNAVAILABLE` preferably) when it cannot run here (missing native
 * library, no GPU, ...). Called at most once per process on success; the instance is cached.
 */
export type BackendFactory = () => Backend | Promise<Backend>;

export interface BackendRegistration {
  name: string;
  priority: number;
}

interface RegistryState {
  entries: Map<string, { factory: BackendFactory; priority: number }>;
  instances: Map<string, Promise<Backend>>;
}

// One registry per process even if two copies of @soo/core are loaded (e.g. src and dist in tests).
const REGISTRY_KEY = Symbol.for('soo.backend-registry.v2');

function registry(): RegistryState {
  const g = globalThis as unknown as Record<symbol, RegistryState | undefined>;
  let r = g[REGISTRY_KEY];
  if (!r) {
    r = { entries: new Map(), instances: new Map() };
    g[REGISTRY_KEY] = r;
  }
  return r;
}

/**
 * Register a backend factory under `name`. Higher `priority` is preferred by `getBackend()` without a
 * name. Registering a name again replaces the factory (and drops a cached instance).
 */
export function registerBackend(name: string, factory: BackendFactory, priority = 0): void {
  if (!name)
    throw new InvalidArgumentError('INVALID_ARGUMENT', 'registerBackend: expected a non-empty name', {
      field: 'name',
    });
  const r = registry();
  r.entries.set(name, { factory, priority });
  r.instances.delete(name);
}

/** Remove a registration (and its cached instance). */
export function unregisterBackend(name: string): void {
  const r = registry();
  r.entries.delete(name);
  r.instances.delete(name);
}

/** Registered backends, highest priority first. */
export function listBackends(): BackendRegistration[] {
  return [...registry().entries]
    .map(([name, e]) => ({ name, priority: e.priority }))
    .sort((a, b) => b.priority - a.priority);
}

async function instantiate(name: string): Promise<Backend> {
  const r = registry();
  const entry = r.entries.get(name);
  if (!entry) {
    const known = listBackends().map((b) => b.name);
    throw new BackendError(
      'BACKEND_UNAVAILABLE',
      `backend "${name}" is not registered; registered: ${known.length ? known.join(', ') : 'none (import a backend package, e.g. @soo/backend-tfjs)'}`,
      { field: name },
    );
  }
  let p = r.instances.get(name);
  if (!p) {
    p = Promise.resolve()
      .then(() => entry.factory())
      .then((b) => {
        if (b.specificationVersion !== BACKEND_SPECIFICATION_VERSION) {
          throw new BackendError(
            'BACKEND_UNAVAILABLE',
            `backend "${name}" implements specification ${String(b.specificationVersion)}, expected ${BACKEND_SPECIFICATION_VERSION}`,
            { field: name },
          );
        }
        return b;
      });
    r.instances.set(name, p);
    p.catch(() => {
      if (r.instances.get(name) === p) r.instances.delete(name);
    });
  }
  return p;
}

/**
 * The backend named `name`, or, without a name, the highest-priority registered backend whose factory
 * succeeds. Throws `BACKEND_UNAVAILABLE` naming every backend tried and why it failed.
 */
export async function getBackend(name?: string): Promise<Backend> {
  if (name !== undefined) return instantiate(name);
  const failures: string[] = [];
  for (const { name: n } of listBackends()) {
    try {
      return await instantiate(n);
    } catch (e) {
      failures.push(`${n}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new BackendError(
    'BACKEND_UNAVAILABLE',
    failures.length
      ? `no backend could start (${failures.join('; ')})`
      : 'no backend is registered; import a backend package (e.g. `import "@soo/backend-tfjs"`) first',
  );
}

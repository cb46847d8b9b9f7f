/**
 * Finds and loads the soo_native addon (`build/Release/soo_native.node`, built by `npm run build` in this
 * package) and says exactly why when it cannot: not built (with the build's own reason: what is missing
 * and how to install it), built for another platform or CPU, or the dynamic loader's error text.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendError } from '@soo/core';

/** What `blasInfo()` reports about the BLAS the addon was linked to. */
export interface BlasInfo {
  vendor: 'OpenBLAS';
  /** `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64". */
  config: string;
  /** The kernel family OpenBLAS chose for this CPU at run time. */
  corename: string;
  numThreads: number;
  numProcs: number;
  /** 0 sequential, 1 pthreads, 2 OpenMP. */
  parallel: number;
}

/** The addon's exports (the engine's, registered by InitEngine, are added to this by the engine). */
export interface NativeAddon {
  /** The package version the addon was compiled from. */
  version: string;
  napiVersion: number;
  build: { simd: string; compiler: string; cplusplus: number; debug: boolean };
  blasInfo(): BlasInfo;
  /** Sets OpenBLAS's thread count; returns the count now in effect. */
  setBlasThreads(threads: number): number;
  /** Row-major fp32 C = A·B with A [m,k], B [k,n], `iters` times after a warm-up call: GFLOP/s (2mnk per call). */
  sgemmBench(m: number, n: number, k: number, iters: number): number;
}

export type NativeLoadResult =
  { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string; install: string };

export interface NativeLoadOptions {
  /** The .node file to load (default: SOO_NATIVE_ADDON, else build/Release/soo_native.node in this package). */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

/** This package's folder (src/ under vitest and dist/ once built are both one level down). */
const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const defaultAddonPath = path.join(packageDir, 'build', 'Release', 'soo_native.node');

export const BUILD_HINT =
  'build it: npm run build -w @soo/backend-cuda (needs a C++17 compiler, make, python3 and OpenBLAS: ' +
  'Debian/Ubuntu `apt-get install g++ make python3 libopenblas-dev`, Fedora `dnf install gcc-c++ make python3 openblas-devel`)';

interface Manifest {
  version?: string;
  platform?: string;
  arch?: string;
  requiresCpu?: string[];
  simd?: string;
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

function packageVersion(): string | null {
  return readJson<{ version?: string }>(path.join(packageDir, 'package.json'))?.version ?? null;
}

/** CPU feature flags from /proc/cpuinfo (Linux), or null where they cannot be read. */
export function linuxCpuFlags(): Set<string> | null {
  if (process.platform !== 'linux') return null;
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return line ? new Set((line.split(':')[1] ?? '').trim().split(/\s+/)) : null;
  } catch {
    return null;
  }
}

/** Why a built addon cannot run here, from its build manifest, before dlopen turns that into SIGILL. */
export function manifestProblem(manifest: Manifest, cpuFlags: Set<string> | null): string | null {
  if (manifest.platform && manifest.arch) {
    const here = `${process.platform}-${process.arch}`;
    const there = `${manifest.platform}-${manifest.arch}`;
    if (here !== there) return `the addon was built for ${there}, this is ${here}`;
  }
  const lacking = cpuFlags ? (manifest.requiresCpu ?? []).filter((f) => !cpuFlags.has(f)) : [];
  if (lacking.length)
    return `the addon was built for CPUs with ${(manifest.requiresCpu ?? []).join('/')} (simd ${manifest.simd ?? '?'}), this CPU lacks ${lacking.join(', ')}: rebuild here (SOO_NATIVE_MARCH=baseline forces the plain build)`;
  return null;
}

function dlopenHint(message: string): string {
  if (/libopenblas/.test(message))
    return 'the OpenBLAS runtime library is missing: Debian/Ubuntu `apt-get install libopenblas0`, Fedora `dnf install openblas`, then retry';
  if (
    /NODE_MODULE_VERSION|invalid ELF header|wrong ELF class|incompatible architecture|mach-o/i.test(message)
  )
    return `the addon was built for another Node.js or platform: rebuild it here; ${BUILD_HINT}`;
  return `rebuild it: ${BUILD_HINT}`;
}

function load(options: NativeLoadOptions): NativeLoadResult {
  const env = options.env ?? process.env;
  if (env.SOO_NATIVE_DISABLE === '1')
    return { ok: false, reason: 'disabled by SOO_NATIVE_DISABLE=1', install: 'unset SOO_NATIVE_DISABLE' };
  const file = path.resolve(options.path ?? (env.SOO_NATIVE_ADDON || defaultAddonPath));

  if (!existsSync(file)) {
    const skip = options.path
      ? null
      : readJson<{ reason?: string; install?: string }>(path.join(packageDir, 'build', 'native-skip.txt'));
    if (skip?.reason)
      return {
        ok: false,
        reason: `not built: ${skip.reason}`,
        install: skip.install ? `${skip.install}, then npm run build -w @soo/backend-cuda` : BUILD_HINT,
      };
    return { ok: false, reason: `not built: ${file} does not exist`, install: BUILD_HINT };
  }

  const manifest = readJson<Manifest>(path.join(path.dirname(file), 'soo_native.json'));
  if (manifest) {
    const problem = manifestProblem(manifest, linuxCpuFlags());
    if (problem) return { ok: false, reason: problem, install: BUILD_HINT };
  }

  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return { ok: false, reason: `cannot load ${file}: ${message}`, install: dlopenHint(message) };
  }
  if (typeof addon?.version !== 'string' || typeof addon.sgemmBench !== 'function')
    return {
      ok: false,
      reason: `${file} is not the soo_native addon (no version/sgemmBench exports)`,
      install: BUILD_HINT,
    };
  const want = packageVersion();
  if (!options.path && want && addon.version !== want)
    return {
      ok: false,
      reason: `stale build: the addon is version ${addon.version}, the package ${want}`,
      install: BUILD_HINT,
    };
  return { ok: true, addon, path: file };
}

let cached: NativeLoadResult | undefined;

/**
 * Load the addon, or say why not. Never throws. Without options the result is cached for the process
 * (a .node file cannot be unloaded anyway).
 */
export function loadNativeAddon(options?: NativeLoadOptions): NativeLoadResult {
  if (options) return load(options);
  cached ??= load({});
  return cached;
}

export type NativeAvailability =
  | { available: true; addon: NativeAddon; reason: '' }
  | { available: false; addon: null; reason: string; install: string };

/**
 * For tests: `const native = nativeAvailability(); describe.skipIf(!native.available)(...)`, printing
 * `native.reason` when it is not.
 */
export function nativeAvailability(options?: NativeLoadOptions): NativeAvailability {
  const r = loadNativeAddon(options);
  return r.ok
    ? { available: true, addon: r.addon, reason: '' }
    : { available: false, addon: null, reason: r.reason, install: r.install };
}

/** The BACKEND_UNAVAILABLE error for an addon that did not load. */
export function nativeUnavailableError(result: { reason: string; install: string }): BackendError {
  return new BackendError(
    'BACKEND_UNAVAILABLE',
    `the native-cpu backend cannot run on this machine: ${result.reason}. To fix: ${result.install}`,
  );
}

/** The addon, or a BackendError BACKEND_UNAVAILABLE saying why it is not there and what to install. */
export function requireNativeAddon(options?: NativeLoadOptions): NativeAddon {
  const r = loadNativeAddon(options);
  if (!r.ok) throw nativeUnavailableError(r);
  return r.addon;
}

#!/usr/bin/env node
// Builds the soo_native addon (build/Release/soo_native.node) with node-gyp, or explains in one line why
// not and exits 0: the package stays usable (its TypeScript half builds, native tests report themselves
// skipped) on machines without a C++ toolchain or OpenBLAS.
//
// - Missing parts as root on Debian/Ubuntu (CI: a fresh Debian machine): installs them with apt-get
//   (g++, make, python3, libopenblas-dev). SOO_NATIVE_NO_APT=1 turns that off.
// - SOO_NATIVE_DISABLE=1: skip the addon (and src/native-loader.ts reports it disabled).
// - SOO_NATIVE_REQUIRED=1: a skipped build is an error (exit 1): CI sets it so the native tests must run.
// - SOO_NATIVE_MARCH: SIMD flags for our code, see scripts/native-env.mjs.
// - SOO_NATIVE_DEBUG=1: node-gyp --debug (build/Debug), for sanitizer and leak runs.
// - SOO_NATIVE_PRETEND_MISSING=openblas|toolchain: act as if that part were missing (to see the message;
//   no apt-get).
// A compile error is a real failure (exit 1), not a skip.
//
// Then, in its own step, libsoo_cuda.so (the CUDA device) with nvcc: scripts/build-cuda.mjs (one line and
// nothing else where nvcc is absent).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildCuda } from './build-cuda.mjs';
import { findOpenBlas, nativeSources, packageDir, simdChoice } from './native-env.mjs';

const env = process.env;
const require = createRequire(import.meta.url);
const buildDir = path.join(packageDir, 'build');
const debug = env.SOO_NATIVE_DEBUG === '1';
const releaseDir = path.join(buildDir, debug ? 'Debug' : 'Release');
const addonFile = path.join(releaseDir, 'soo_native.node');
const manifestFile = path.join(releaseDir, 'soo_native.json');
// Read by src/native-loader.ts to say why there is no addon.
const skipFile = path.join(buildDir, 'native-skip.txt');
const pretend = new Set((env.SOO_NATIVE_PRETEND_MISSING ?? '').split(',').filter(Boolean));
const PREFIX = '@soo/backend-cuda native addon:';

function has(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0;
}

function osRelease() {
  try {
    const kv = Object.fromEntries(
      readFileSync('/etc/os-release', 'utf8')
        .split('\n')
        .map((l) => /^([A-Z_]+)=(.*)$/.exec(l))
        .filter(Boolean)
        .map((m) => [m[1], m[2].replace(/^"|"$/g, '')]),
    );
    return `${kv.ID ?? ''} ${kv.ID_LIKE ?? ''}`;
  } catch {
    return '';
  }
}

/** Package names per system for each missing part, and the command that installs them. */
function installCommand(missing) {
  if (process.platform === 'darwin') {
    const parts = [];
    if (missing.some((m) => m !== 'openblas')) parts.push('xcode-select --install');
    if (missing.includes('openblas')) parts.push('brew install openblas');
    return `${parts.join(' && ')} (macOS is untested; Accelerate is not supported yet, OpenBLAS is)`;
  }
  if (process.platform !== 'linux')
    return `${process.platform} is not supported yet: use Linux (WSL2 with Ubuntu on Windows)`;
  const like = osRelease();
  const names = {
    debian: { cxx: 'g++', make: 'make', python3: 'python3', openblas: 'libopenblas-dev' },
    fedora: { cxx: 'gcc-c++', make: 'make', python3: 'python3', openblas: 'openblas-devel' },
  };
  const debianLike = /\b(debian|ubuntu)\b/.test(like);
  const fedoraLike = /\b(fedora|rhel|centos)\b/.test(like);
  const pkgs = (distro) => missing.map((m) => names[distro][m]).join(' ');
  if (debianLike) return `apt-get install ${pkgs('debian')}`;
  if (fedoraLike) return `dnf install ${pkgs('fedora')}`;
  return `Debian/Ubuntu: apt-get install ${pkgs('debian')}; Fedora: dnf install ${pkgs('fedora')}; elsewhere install OpenBLAS's development files (cblas.h, libopenblas) or set OPENBLAS_HOME`;
}

function findToolchain() {
  const missing = [];
  const cxx = [env.CXX, 'c++', 'g++', 'clang++'].filter(Boolean).find((c) => has(c));
  if (!cxx || pretend.has('toolchain')) missing.push('cxx');
  if (process.platform !== 'win32' && (!has('make') || pretend.has('toolchain'))) missing.push('make');
  const python = [env.npm_config_python, env.PYTHON, 'python3'].filter(Boolean).find((p) => has(p));
  if (!python) missing.push('python3');
  return missing;
}

function findMissing() {
  const missing = findToolchain();
  if (!findOpenBlas() || pretend.has('openblas')) missing.push('openblas');
  return missing;
}

const what = {
  cxx: 'a C++17 compiler',
  make: 'make',
  python3: 'python3',
  openblas: 'OpenBLAS (cblas.h, libopenblas)',
};

/** As root on a Debian-like system with apt-get: install what is missing. Returns an error text or null. */
function aptInstall(missing) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (
    pretend.size ||
    env.SOO_NATIVE_NO_APT === '1' ||
    process.platform !== 'linux' ||
    !isRoot ||
    !/\b(debian|ubuntu)\b/.test(osRelease()) ||
    !has('apt-get', ['--version'])
  )
    return 'not attempted';
  const pkgs = missing.map(
    (m) => ({ cxx: 'g++', make: 'make', python3: 'python3', openblas: 'libopenblas-dev' })[m],
  );
  console.log(
    `${PREFIX} installing ${pkgs.join(' ')} with apt-get (root; SOO_NATIVE_NO_APT=1 turns this off)`,
  );
  const opts = { encoding: 'utf8', env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...pkgs]]) {
    const r = spawnSync('apt-get', args, opts);
    if (r.status !== 0) {
      const tail = `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      return `apt-get ${args[0]} failed (${tail || `exit ${r.status}`})`;
    }
  }
  return null;
}

function skip(reason, install) {
  rmSync(addonFile, { force: true });
  rmSync(manifestFile, { force: true });
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(skipFile, JSON.stringify({ reason, install }) + '\n');
  const line = `${PREFIX} not built: ${reason}${install ? `; install: ${install}` : ''}. Native tests will be skipped (details: packages/backend-cuda/README.md).`;
  if (env.SOO_NATIVE_REQUIRED === '1') {
    console.error(`${line} (SOO_NATIVE_REQUIRED=1: failing)`);
    process.exit(1);
  }
  console.log(line);
  process.exit(0);
}

function resolveOrNull(id) {
  try {
    return require.resolve(id);
  } catch {
    return null;
  }
}

// --- main ---
if (env.SOO_NATIVE_DISABLE === '1') skip('SOO_NATIVE_DISABLE=1 is set', '');

let missing = findMissing();
if (missing.length) {
  const aptError = aptInstall(missing);
  if (aptError === null) missing = findMissing();
  if (missing.length) {
    const list = missing.map((m) => what[m]).join(', ');
    const note = aptError && aptError !== 'not attempted' ? ` (${aptError})` : '';
    skip(`missing ${list}${note}`, installCommand(missing));
  }
}

const nodeGyp = resolveOrNull('node-gyp/bin/node-gyp.js');
if (!nodeGyp || !resolveOrNull('node-addon-api'))
  skip(
    'node-gyp or node-addon-api is not installed (devDependencies)',
    'npm install (in the soo repository)',
  );

// npm scripts carry npm's config (nodedir among it) in npm_config_* variables, and node-gyp reads them. Run
// by hand, point node-gyp at this Node's own headers when they are installed beside it, instead of letting
// it download them.
const gypArgs = [];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'common.gypi')))
  gypArgs.push(`--nodedir=${prefix}`);
if (debug) gypArgs.push('--debug');

rmSync(skipFile, { force: true });
const gyp = (args) => {
  const r = spawnSync(process.execPath, [nodeGyp, ...args, ...gypArgs], {
    cwd: packageDir,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error(`${PREFIX} node-gyp ${args[0]} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
};
// configure + build (not rebuild): gyp picks up added .cpp files, make recompiles only what changed.
gyp(['configure', '--loglevel=warn']);
gyp(['build', '--jobs', String(os.availableParallelism?.() ?? os.cpus().length), '--loglevel=warn']);

const blas = findOpenBlas();
const simd = simdChoice();
const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
writeFileSync(
  manifestFile,
  JSON.stringify(
    {
      version: pkg.version,
      platform: process.platform,
      arch: process.arch,
      napiVersion: 8,
      builtWithNode: process.version,
      simd: simd.simd,
      cpuFlags: simd.flags,
      requiresCpu: simd.requires,
      openblas: blas,
      sources: nativeSources().length,
      debug,
    },
    null,
    2,
  ) + '\n',
);
console.log(
  `${PREFIX} built ${path.relative(packageDir, addonFile)} (${nativeSources().length} sources, simd ${simd.simd}, OpenBLAS ${blas?.libDir ?? '?'})`,
);

// The CUDA device library, in its own step (nvcc; skipped with one line where there is none).
await buildCuda({ releaseDir });

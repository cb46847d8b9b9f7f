#!/usr/bin/env node
// What the native addon needs from the machine, found once and shared by the build script
// (scripts/build-native.mjs) and binding.gyp (through `<!@(node scripts/native-env.mjs <what>)`), so a bare
// `npx node-gyp rebuild` and `npm run build` compile with the same flags.
//
//   node scripts/native-env.mjs sources    every native/engine/**/*.cpp and native/addon/*.cpp
//   node scripts/native-env.mjs include    OpenBLAS include folder
//   node scripts/native-env.mjs ldflags    -L/-rpath/-lopenblas
//   node scripts/native-env.mjs cpuflags   the SIMD flags (SOO_NATIVE_MARCH: auto | avx2 | native | baseline | <-march value>)
//   node scripts/native-env.mjs simd       the SIMD level's name (a C identifier, compiled into the addon)
//   node scripts/native-env.mjs report     everything above as JSON
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** `native/engine/**\/*.cpp` and `native/addon/*.cpp`, relative to the package, sorted, with forward slashes. */
export function nativeSources() {
  const out = [];
  const walk = (rel, recurse) => {
    const abs = path.join(packageDir, rel);
    if (!existsSync(abs)) return;
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory() && recurse) walk(r, true);
      else if (e.isFile() && e.name.endsWith('.cpp')) out.push(r);
    }
  };
  walk('native/engine', true);
  walk('native/addon', false);
  return out.sort();
}

function multiarchTriplet() {
  const fromGcc = run('gcc', ['-dumpmachine']);
  if (fromGcc && existsSync(`/usr/include/${fromGcc}`)) return fromGcc;
  return { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch] ?? null;
}

/** An OpenBLAS include folder has cblas.h next to openblas_config.h (so netlib's cblas.h is not taken for it). */
const isOpenBlasInclude = (dir) =>
  existsSync(path.join(dir, 'cblas.h')) && existsSync(path.join(dir, 'openblas_config.h'));
const libNames = ['libopenblas.so', 'libopenblas.dylib'];
const hasOpenBlasLib = (dir) => libNames.some((n) => existsSync(path.join(dir, n)));

/**
 * Find OpenBLAS: OPENBLAS_HOME (include/, lib/), then pkg-config, then the folders Debian/Ubuntu
 * (libopenblas-dev), Fedora (openblas-devel) and Homebrew (openblas) install to.
 * Returns { includeDir, libDir, source } or null.
 */
export function findOpenBlas(env = process.env) {
  const candidates = [];
  if (env.OPENBLAS_HOME) {
    candidates.push({
      includeDir: path.join(env.OPENBLAS_HOME, 'include'),
      libDirs: ['lib', 'lib64'].map((d) => path.join(env.OPENBLAS_HOME, d)),
      source: 'OPENBLAS_HOME',
    });
  }
  const pcInclude = run('pkg-config', ['--variable=includedir', 'openblas']);
  const pcLib = run('pkg-config', ['--variable=libdir', 'openblas']);
  if (pcInclude && pcLib) candidates.push({ includeDir: pcInclude, libDirs: [pcLib], source: 'pkg-config' });
  const t = multiarchTriplet();
  const sysLibs = [t && `/usr/lib/${t}`, '/usr/lib64', '/usr/lib', '/usr/local/lib'].filter(Boolean);
  for (const variant of ['openblas-pthread', 'openblas-openmp', 'openblas-serial']) {
    if (t)
      candidates.push({
        includeDir: `/usr/include/${t}/${variant}`,
        libDirs: [`/usr/lib/${t}/${variant}`, ...sysLibs],
        source: 'debian',
      });
  }
  candidates.push({ includeDir: '/usr/include/openblas', libDirs: sysLibs, source: 'fedora' });
  for (const brew of ['/opt/homebrew/opt/openblas', '/usr/local/opt/openblas'])
    candidates.push({ includeDir: `${brew}/include`, libDirs: [`${brew}/lib`], source: 'homebrew' });
  candidates.push({ includeDir: '/usr/include', libDirs: sysLibs, source: 'system' });
  candidates.push({ includeDir: '/usr/local/include', libDirs: sysLibs, source: 'system' });

  for (const c of candidates) {
    if (!isOpenBlasInclude(c.includeDir)) continue;
    const libDir = c.libDirs.find(hasOpenBlasLib);
    if (libDir)
      return { includeDir: path.resolve(c.includeDir), libDir: path.resolve(libDir), source: c.source };
  }
  return null;
}

/** -L, an rpath for folders outside /usr/lib (the dynamic loader searches those anyway), and -lopenblas. */
export function openBlasLdflags(found) {
  if (!found) return ['-lopenblas'];
  const flags = [`-L${found.libDir}`];
  // Debian's /usr/lib/<triplet>/openblas-pthread is reached at run time through the libopenblas.so.0
  // alternative in /usr/lib/<triplet>: no rpath there, so `update-alternatives` keeps working.
  if (!/^\/(usr\/)?lib(64)?(\/|$)/.test(found.libDir)) flags.push(`-Wl,-rpath,${found.libDir}`);
  flags.push('-lopenblas');
  return flags;
}

function linuxCpuFlags() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return line ? new Set(line.split(':')[1].trim().split(/\s+/)) : null;
  } catch {
    return null;
  }
}

/**
 * SIMD flags for our own code (OpenBLAS picks its kernels at run time whatever we choose).
 * Default (`auto`) on x86-64: AVX2+FMA+F16C (every x86 server CPU since 2013-2015), only when the building
 * CPU has them, else the plain x86-64 baseline; never -march=native, because a build folder does travel
 * (a shared home on a cluster, a container image, a copied checkout) and an illegal instruction is a
 * worse failure than a few percent. Elsewhere (arm64: NEON is baseline) no extra flags.
 * Returns { simd, flags, requires } where `requires` lists /proc/cpuinfo flags the addon needs at run time.
 */
export function simdChoice(env = process.env) {
  const want = (env.SOO_NATIVE_MARCH ?? 'auto').trim() || 'auto';
  const avx2 = { simd: 'avx2', flags: ['-mavx2', '-mfma', '-mf16c'], requires: ['avx2', 'fma', 'f16c'] };
  const baseline = { simd: 'baseline', flags: [], requires: [] };
  if (want === 'baseline') return baseline;
  if (want === 'native') return { simd: 'native', flags: ['-march=native'], requires: [] };
  if (want === 'avx2') return process.arch === 'x64' ? avx2 : baseline;
  if (want === 'auto') {
    if (process.arch !== 'x64') return baseline;
    const have = process.platform === 'linux' ? linuxCpuFlags() : null;
    return have && avx2.requires.every((f) => have.has(f)) ? avx2 : baseline;
  }
  return { simd: `march_${want.replace(/[^A-Za-z0-9_]/g, '_')}`, flags: [`-march=${want}`], requires: [] };
}

export function report(env = process.env) {
  const blas = findOpenBlas(env);
  return {
    sources: nativeSources(),
    openblas: blas,
    ldflags: openBlasLdflags(blas),
    simd: simdChoice(env),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const what = process.argv[2];
  const blas = () => findOpenBlas();
  const print = (list) => process.stdout.write(list.join(' ') + '\n');
  switch (what) {
    case 'sources':
      print(nativeSources());
      break;
    case 'include':
      print(blas() ? [blas().includeDir] : []);
      break;
    case 'ldflags':
      print(openBlasLdflags(blas()));
      break;
    case 'cpuflags':
      print(simdChoice().flags);
      break;
    case 'simd':
      print([simdChoice().simd]);
      break;
    case 'report':
      process.stdout.write(JSON.stringify(report(), null, 2) + '\n');
      break;
    default:
      process.stderr.write('usage: native-env.mjs sources|include|ldflags|cpuflags|simd|report\n');
      process.exit(2);
  }
}

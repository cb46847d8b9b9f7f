#!/usr/bin/env node
// Builds libsoo_cuda.so (build/Release/libsoo_cuda.so), the CUDA device of the native engine, with nvcc:
// every native/engine/cuda/*.cu, for sm_80 (A100) and sm_90 (H100/H200) plus compute_90 PTX (newer GPUs
// JIT it), statically linked to cudart; cuBLASLt is dlopen()ed at run time (no cuBLAS headers or
// libraries are needed to build). The addon dlopen()s this library only when a `cuda` model is loaded, so
// nothing here is needed for native-cpu.
//
// Run by scripts/build-native.mjs after the addon (and on its own: node scripts/build-cuda.mjs).
// - No nvcc (NVCC, CUDA_HOME/bin, /usr/local/cuda/bin, PATH): one line, build/cuda-skip.txt, exit 0.
// - SOO_CUDA_DISABLE=1: skip. SOO_CUDA_REQUIRED=1: a skip is an error (exit 1).
// - SOO_CUDA_ARCHS: comma-separated SM numbers (default 80,90); PTX is embedded for the last one.
// - Objects are rebuilt only when a .cu file or a header they include changed (mtimes), so CI's second
//   build and `npm run build` after a TS change cost nothing.
// A compile error is a real failure (exit 1).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PREFIX = '@soo/backend-cuda CUDA library:';

export function findNvcc(env = process.env) {
  const candidates = [
    env.NVCC,
    env.CUDA_HOME && path.join(env.CUDA_HOME, 'bin', 'nvcc'),
    env.CUDA_PATH && path.join(env.CUDA_PATH, 'bin', 'nvcc'),
    '/usr/local/cuda/bin/nvcc',
  ].filter(Boolean);
  for (const c of candidates) if (existsSync(c)) return c;
  const r = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  const found = r.status === 0 ? r.stdout.trim() : '';
  return found || null;
}

export function nvccVersion(nvcc) {
  const r = spawnSync(nvcc, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const m = /release (\d+\.\d+), V([\d.]+)/.exec(r.stdout ?? '');
  return m ? m[2] : null;
}

/** -gencode flags: SASS for every arch, PTX for the last (default 80,90). */
export function archFlags(env = process.env) {
  const archs = (env.SOO_CUDA_ARCHS ?? '80,90')
    .split(',')
    .map((a) => a.trim().replace(/^sm_/, ''))
    .filter((a) => /^\d+a?$/.test(a));
  if (!archs.length) throw new Error(`SOO_CUDA_ARCHS="${env.SOO_CUDA_ARCHS}" names no architecture`);
  const flags = archs.map((a) => `-gencode=arch=compute_${a},code=sm_${a}`);
  const last = archs[archs.length - 1];
  flags.push(`-gencode=arch=compute_${last},code=compute_${last}`);
  return { archs, flags };
}

function newestMtime(dir, exts) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isFile() && exts.some((x) => e.name.endsWith(x)))
      t = Math.max(t, statSync(path.join(dir, e.name)).mtimeMs);
  return t;
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/**
 * Build (or skip with one line). Returns { built, skipped?, reason?, seconds?, library? }; exits 1 on a
 * compile error (and on a skip under SOO_CUDA_REQUIRED=1).
 */
export async function buildCuda({ releaseDir, env = process.env, log = console.log } = {}) {
  const buildDir = path.join(packageDir, 'build');
  releaseDir ??= path.join(buildDir, 'Release');
  const library = path.join(releaseDir, 'libsoo_cuda.so');
  const skipFile = path.join(buildDir, 'cuda-skip.txt');
  const skip = (reason) => {
    rmSync(library, { force: true });
    mkdirSync(buildDir, { recursive: true });
    writeFileSync(skipFile, JSON.stringify({ reason }) + '\n');
    const line = `${PREFIX} not built: ${reason} (the cuda backend will say so; native-cpu is unaffected)`;
    if (env.SOO_CUDA_REQUIRED === '1') {
      console.error(`${line} (SOO_CUDA_REQUIRED=1: failing)`);
      process.exit(1);
    }
    log(line);
    return { built: false, skipped: true, reason };
  };
  if (env.SOO_CUDA_DISABLE === '1' || env.SOO_NATIVE_DISABLE === '1')
    return skip('SOO_CUDA_DISABLE=1 is set');
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return skip(`CUDA builds are Linux x86-64 only here (this is ${process.platform}-${process.arch})`);
  const nvcc = findNvcc(env);
  if (!nvcc) return skip('nvcc not found (set NVCC or CUDA_HOME, or install the CUDA toolkit 12/13)');

  const srcDir = path.join(packageDir, 'native', 'engine', 'cuda');
  const sources = readdirSync(srcDir)
    .filter((f) => f.endsWith('.cu'))
    .sort();
  const { archs, flags: gencode } = archFlags(env);
  const objDir = path.join(buildDir, 'cuda', 'obj');
  mkdirSync(objDir, { recursive: true });
  mkdirSync(releaseDir, { recursive: true });
  const headers = Math.max(
    newestMtime(srcDir, ['.h', '.cuh']),
    newestMtime(path.join(packageDir, 'native', 'engine'), ['.h']),
  );
  const common = [
    '-std=c++17',
    '-O3',
    '--threads',
    '2',
    ...gencode,
    '-Xcompiler',
    '-fPIC,-fvisibility=hidden',
  ];
  const started = Date.now();
  const jobs = Math.max(
    1,
    Math.min(sources.length, Math.ceil((os.availableParallelism?.() ?? os.cpus().length) / 2)),
  );
  const queue = sources.map((f) => ({
    src: path.join(srcDir, f),
    obj: path.join(objDir, f.replace(/\.cu$/, '.o')),
  }));
  const stale = queue.filter(
    ({ src, obj }) =>
      !existsSync(obj) ||
      statSync(obj).mtimeMs < Math.max(statSync(src).mtimeMs, headers) ||
      archStamp(objDir) !== gencode.join(' '),
  );
  let failed = null;
  const worker = async () => {
    while (stale.length && !failed) {
      const { src, obj } = stale.shift();
      const r = await run(nvcc, [...common, '-c', src, '-o', obj]);
      if (r.out.trim()) process.stdout.write(r.out);
      if (r.code !== 0) failed = `${path.relative(packageDir, src)} (exit ${r.code})`;
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  if (failed) {
    console.error(`${PREFIX} nvcc failed on ${failed}`);
    process.exit(1);
  }
  writeFileSync(path.join(objDir, 'archs.txt'), gencode.join(' '));
  const link = await run(nvcc, [
    '-shared',
    '-cudart',
    'static',
    '-o',
    library,
    ...queue.map((q) => q.obj),
    '-ldl',
  ]);
  if (link.code !== 0) {
    process.stdout.write(link.out);
    console.error(`${PREFIX} linking libsoo_cuda.so failed`);
    process.exit(1);
  }
  rmSync(skipFile, { force: true });
  const seconds = (Date.now() - started) / 1000;
  const version = nvccVersion(nvcc);
  writeFileSync(
    path.join(releaseDir, 'soo_cuda.json'),
    JSON.stringify(
      { nvcc, nvccVersion: version, archs, ptx: archs[archs.length - 1], sources, seconds },
      null,
      2,
    ) + '\n',
  );
  log(
    `${PREFIX} built ${path.relative(packageDir, library)} with nvcc ${version ?? '?'} for sm_${archs.join(', sm_')} + PTX compute_${archs[archs.length - 1]} (${sources.length} sources, ${seconds.toFixed(1)} s)`,
  );
  return { built: true, seconds, library };
}

function archStamp(objDir) {
  try {
    const f = path.join(objDir, 'archs.txt');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  } catch {
    return '';
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildCuda();
}

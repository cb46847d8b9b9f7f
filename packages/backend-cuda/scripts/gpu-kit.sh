#!/usr/bin/env bash
# Packs what the GPU machine lacks into .carry/gpu-kit.tar.xz (repository root), for scripts/gpu-check.sh:
# the device tool copies only the working tree (no node_modules, no build outputs) and nothing can be
# fetched there. Run here, after `npm ci && npx turbo run build`:
#
#   packages/backend-cuda/scripts/gpu-kit.sh
#
# The kit holds: node (this machine's binary) and its headers (node-gyp --nodedir); OpenBLAS's headers and
# runtime (cblas.h, libopenblas.so.0, libgfortran, libquadmath) for the addon; the node_modules packages
# the check imports (vitest, which @soo/core/testing imports, node-gyp, node-addon-api, @soo/core's
# dependencies, with everything they need) and the @soo/* workspace links; the built dist/ folders of
# @soo/core and @soo/backend-cuda; a prebuilt soo_native.node (used only if the addon does not build
# there); and COMMIT (this checkout's commit and status).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$repo"
# .carry/ must stay out of git (the repository's .gitignore has it; else add it to info/exclude once).
git check-ignore -q .carry || echo '/.carry/' >> "$(git rev-parse --git-path info/exclude)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/kit/bin" "$stage/kit/include" "$stage/kit/openblas/include" "$stage/kit/openblas/lib" "$stage/kit/prebuilt"
node_bin="$(readlink -f "$(command -v node)")"
cp "$node_bin" "$stage/kit/bin/node"
node_inc="$(dirname "$(dirname "$node_bin")")/include/node"
[[ -f "$node_inc/common.gypi" ]] || node_inc=/usr/include/node
cp -r "$node_inc" "$stage/kit/include/node"
rm -rf "$stage/kit/include/node/openssl" # 53 MB node-gyp does not need for a N-API addon
blas_inc="$(node packages/backend-cuda/scripts/native-env.mjs include)"
for h in cblas.h openblas_config.h f77blas.h; do [[ -f "$blas_inc/$h" ]] && cp "$blas_inc/$h" "$stage/kit/openblas/include/"; done
blas_so="$(readlink -f "$(ldconfig -p | awk '/libopenblas\.so\.0 /{print $NF; exit}')")"
cp "$blas_so" "$stage/kit/openblas/lib/libopenblas.so.0"
ln -s libopenblas.so.0 "$stage/kit/openblas/lib/libopenblas.so"
for lib in libgfortran.so.5 libquadmath.so.0; do
  src="$(ldd "$blas_so" | awk -v l="$lib" '$1 == l {print $3}')"
  [[ -n "$src" ]] && cp "$(readlink -f "$src")" "$stage/kit/openblas/lib/$lib"
done
[[ -f packages/backend-cuda/build/Release/soo_native.node ]] &&
  cp packages/backend-cuda/build/Release/soo_native.node "$stage/kit/prebuilt/"
{ git rev-parse HEAD; git status --short | head -20; } > "$stage/kit/COMMIT"
# node_modules: the dependency closure of the packages the check needs.
node --input-type=module - "$stage/modules.txt" <<'JS'
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
const roots = ['vitest', 'node-gyp', 'node-addon-api', '@huggingface/jinja', '@huggingface/tokenizers'];
const seen = new Set();
const out = [];
function resolveFrom(dir, name) {
  // walk up node_modules folders from dir, as Node does
  let d = dir;
  for (;;) {
    const cand = path.join(d, 'node_modules', name);
    if (existsSync(path.join(cand, 'package.json'))) return cand;
    const up = path.dirname(d);
    if (up === d) return null;
    d = up;
  }
}
function visit(dir) {
  if (seen.has(dir)) return;
  seen.add(dir);
  out.push(path.relative(process.cwd(), dir));
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies })) {
    const found = resolveFrom(dir, dep);
    if (found) visit(found);
  }
}
for (const r of roots) {
  const found = resolveFrom(process.cwd(), r);
  if (!found) throw new Error(`gpu-kit: ${r} is not installed (npm ci first)`);
  visit(found);
}
// The bundlers' native binaries (vite's, pulled in through vitest) are never loaded by the check: 40 MB less.
const unneeded = /node_modules\/(@rolldown\/binding-|@esbuild\/|lightningcss-)/;
writeFileSync(process.argv[2], out.filter((p) => !p.includes('..') && !unneeded.test(p)).join('\n') + '\n');
JS
# the workspace links, dist folders and the closure, as paths relative to the repository root
{
  for l in node_modules/@soo/*; do echo "$l"; done
  echo packages/core/dist
  echo packages/backend-cuda/dist
  cat "$stage/modules.txt"
} | sort -u > "$stage/repo-paths.txt"
tar -cf "$stage/kit/repo.tar" -T "$stage/repo-paths.txt"
mkdir -p .carry
tar -C "$stage" -cf - kit | xz -T2 -6 > .carry/gpu-kit.tar.xz
echo "gpu-kit: .carry/gpu-kit.tar.xz $(du -h .carry/gpu-kit.tar.xz | cut -f1) ($(wc -l < "$stage/modules.txt") packages, node $(node --version))"

#!/usr/bin/env node
// The site build: the CLI reference from `soo --help`, the API reference from @soo/core's sources
// (TypeDoc + typedoc-plugin-markdown), the "Try it in your browser" assets into docs/public/try/, then
// VitePress into .vitepress/dist. Offline.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`docs build: ${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
};
run(process.execPath, ['scripts/cli-reference.mjs']);
run('npx', [
  'typedoc',
  '--plugin',
  'typedoc-plugin-markdown',
  '--entryPoints',
  '../../packages/core/src/index.ts',
  '--tsconfig',
  '../../packages/core/tsconfig.json',
  '--out',
  'docs/reference/api',
  '--readme',
  'none',
  '--logLevel',
  'Error',
  '--outputFileStrategy',
  'modules',
  '--entryFileName',
  'index',
  '--hidePageHeader',
  '--hideBreadcrumbs',
  '--useCodeBlocks',
  '--disableSources',
  '--sanitizeComments',
  '--useHTMLAnchors',
]);
copyTryAssets();
run('npx', ['vitepress', 'build']);

/**
 * What docs/try.md fetches (src/try-model.ts, TRY_ASSETS): the embedded toy model, the shipped SOO adapter
 * and tfjs' wasm binaries, as static files of the site (VitePress copies docs/public/ as is).
 */
function copyTryAssets() {
  const out = path.join(root, 'docs', 'public', 'try');
  rmSync(out, { recursive: true, force: true });
  const copy = (fromDir, names, to) => {
    mkdirSync(path.join(out, to), { recursive: true });
    for (const name of names) copyFileSync(path.join(fromDir, name), path.join(out, to, name));
  };
  const core = path.dirname(require.resolve('@soo/core/package.json'));
  copy(
    path.join(core, 'assets', 'toy-house'),
    ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'],
    'toy-house',
  );
  copy(
    path.join(root, 'assets', 'toy-soo-adapter'),
    ['adapter_config.json', 'adapter_model.safetensors'],
    'toy-soo-adapter',
  );
  // As @soo/backend-tfjs resolves it; the package's "main" is dist/tf-backend-wasm.node.js, the .wasm
  // files sit beside it.
  const fromTfjs = createRequire(require.resolve('@soo/backend-tfjs/package.json'));
  const wasmDir = path.dirname(fromTfjs.resolve('@tensorflow/tfjs-backend-wasm'));
  const wasm = readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'));
  if (wasm.length === 0) {
    console.error(`docs build: no .wasm file in ${wasmDir} (is @tensorflow/tfjs-backend-wasm installed?)`);
    process.exit(1);
  }
  copy(wasmDir, wasm, 'tfjs-wasm');
}

#!/usr/bin/env node
// The site build: the CLI reference from `soo --help`, the API reference from @soo/core's sources
// (TypeDoc + typedoc-plugin-markdown), then VitePress into .vitepress/dist. Offline.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
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
run('npx', ['vitepress', 'build']);

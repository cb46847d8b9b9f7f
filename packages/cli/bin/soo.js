#!/usr/bin/env node
// The `soo` command as npm links it. This file is committed (the code it runs is built into dist/) because
// npm links a workspace's bin into node_modules/.bin only when the file exists at install time: a bin
// pointing into dist/ is not linked on a fresh clone, and `npx soo` would then ask the public registry for a
// package named `soo` and run whatever it got.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(fileURLToPath(built))) {
  process.stderr.write(
    `soo: ${fileURLToPath(built)} is missing: run npm run build first (at the repository root)\n`,
  );
  process.exit(1);
}
await import(built.href);

import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    // No Node API in its import graph (checked by browser.test.ts); chunks are shared with index.
    browser: 'src/browser.ts',
    'backend-spec': 'src/backend-spec.ts',
    'testing/index': 'src/testing/index.ts',
    'fuzz/index': 'src/fuzz/index.ts',
  },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest', 'fast-check'],
});

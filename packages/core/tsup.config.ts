import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
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

import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', browser: 'src/browser.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@soo/core', '@soo/core/browser'],
});

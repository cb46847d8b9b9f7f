import { defineConfig } from 'tsup';

export default defineConfig({
  // worker.js is the entry of reproduce's worker threads (new Worker(new URL('./worker.js', import.meta.url))).
  entry: { index: 'src/index.ts', worker: 'src/reproduce/worker.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['@soo/core'],
});

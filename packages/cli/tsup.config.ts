import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', bin: 'src/bin.ts', testing: 'src/testing.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts', testing: 'src/testing.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  // @soo/toy is private build tooling (soo toy train): bundled, never a runtime dependency.
  noExternal: ['@soo/toy'],
  banner: ({ format }) => (format === 'esm' ? {} : {}),
});

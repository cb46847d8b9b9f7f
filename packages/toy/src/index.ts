export * from './world.js';
export * from './bpe.js';
export * from './model-files.js';
export * from './probes.js';

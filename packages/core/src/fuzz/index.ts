export * from './harness.js';
export * from './mutate.js';
export * from './targets.js';

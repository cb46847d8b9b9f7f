export * from './fixtures.js';
export * from './tolerances.js';
export * from './references.js';
export * from './conformance.js';
export * from './mutants.js';

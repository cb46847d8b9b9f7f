export * from './errors.js';
export * from './rng.js';
export * from './fs.js';
export * from './config-types.js';

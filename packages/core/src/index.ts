export * from './errors.js';
export * from './rng.js';
export * from './fs.js';
export * from './config-types.js';
export * from './soo.js';
export * from './tokenizer.js';

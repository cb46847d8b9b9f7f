export * from './loop.js';
export * from './presets.js';

export * from './vocabulary.js';
export * from './match.js';
export * from './jsonl.js';
export * from './pairs.js';
export * from './scenarios.js';
export * from './scorer.js';

export * from './baselines.js';
export * from './config.js';
export * from './events.js';
export * from './phase.js';
export * from './pipeline.js';
export * from './report.js';
export * from './tasks.js';
export * from './worker-pool.js';

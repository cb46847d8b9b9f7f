export * from './config.js';
export * from './run.js';
export * from './report.js';

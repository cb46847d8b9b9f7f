export * from './guards.js';
export * from './lock.js';
export * from './settings.js';
export { faultPoint, resetFaults } from './faults.js';

export * from './loop.js';
export * from './presets.js';
export * from './objectives.js';
export * from './trainer.js';
export * from './model-trainers.js';
export * from './pretrain.js';

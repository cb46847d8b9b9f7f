/**
 * `@soo/backend-tfjs`: the reference soo backend on TensorFlow.js.
 *
 * Importing this module registers two backends with `@soo/core`'s registry:
 * - `tfjs-wasm` (priority 20, the default in Node): XNNPACK kernels in WebAssembly, single-threaded;
 * - `tfjs-cpu` (priority 10): tfjs' plain-JavaScript kernels, the fallback when wasm cannot start.
 */
import { registerBackend } from '@soo/core';
import { createTfjsCpuBackend, createTfjsWasmBackend } from './backend.js';

export const TFJS_WASM = 'tfjs-wasm';
export const TFJS_CPU = 'tfjs-cpu';

registerBackend(TFJS_WASM, createTfjsWasmBackend, 20);
registerBackend(TFJS_CPU, createTfjsCpuBackend, 10);

export { TfjsBackend, TfjsModel, createTfjsCpuBackend, createTfjsWasmBackend } from './backend.js';
export { Decoder, deepestStop, hookStop } from './model.js';
export type {
  DecoderWeights,
  KvCache,
  LayerWeights,
  LinearWeights,
  LoraWeights,
  RunRequest,
  RunResult,
  StopPoint,
} from './model.js';
export { ropeFrequencies, ropeTables, roundToDtype } from './rope.js';
export type { RopeFrequencies } from './rope.js';
export { MASK_MIN, buildAttentionMask, positionIdsFromMask } from './masks.js';
export { TfSooTrainer, padPairs, sooLossTensor } from './trainer.js';
export { TfLmTrainer, lmLossTensor, padLmBatch } from './lm-trainer.js';
export type { PaddedLmBatch } from './lm-trainer.js';
export { argmax, sampleToken } from './generate.js';
export { ALL_LINEAR } from './lora.js';
export { activate, initTfBackend } from './tf.js';
export type { TfKind } from './tf.js';
export { Pretrainer, initDecoder, scheduledLr } from './pretrain.js';
export type { PretrainOptions } from './pretrain.js';

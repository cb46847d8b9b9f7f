/**
 * `@soo/backend-tfjs`: the reference soo backend on TensorFlow.js (contract v2, see `@soo/core`'s
 * backend-spec.ts).
 *
 * Importing this module registers two backends with `@soo/core`'s registry:
 * - `tfjs-wasm` (priority 20, the default in Node): XNNPACK kernels in WebAssembly, single-threaded;
 * - `tfjs-cpu` (priority 10): tfjs' plain-JavaScript kernels, the fallback when wasm cannot start.
 */
import { registerBackend } from '@soo/core/browser';
import { createTfjsCpuBackend, createTfjsWasmBackend } from './backend.js';

export const TFJS_WASM = 'tfjs-wasm';
export const TFJS_CPU = 'tfjs-cpu';

registerBackend(TFJS_WASM, createTfjsWasmBackend, 20);
registerBackend(TFJS_CPU, createTfjsCpuBackend, 10);

export {
  TfjsBackend,
  TfjsModel,
  createTfjsCpuBackend,
  createTfjsWasmBackend,
  createTfjsWebglBackend,
} from './backend.js';
export { Decoder } from './model.js';
export type {
  DecoderWeights,
  LayerWeights,
  LinearWeights,
  LoraWeights,
  RunRequest,
  RunResult,
} from './model.js';
export { ropeTables } from './rope.js';
export { MASK_MIN, buildAttentionMask, positionIdsFromMask } from './masks.js';
export { klTensor, lmLossTensor, sooLossTensor } from './objectives.js';
export { activate, initTfBackend, setTfjsWasmPaths } from './tf.js';
export type { TfKind } from './tf.js';

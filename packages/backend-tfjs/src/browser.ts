/**
 * `@soo/backend-tfjs/browser`: the backend for pages, bundled by Vite or any bundler that targets browsers.
 * It imports `@soo/core/browser` (no Node API) and tfjs' browser builds; models come from memory
 * (`safetensorsModelSource` of `@soo/core/browser`), never from files.
 *
 * Importing it registers three backends with core's registry, fastest first:
 * - `tfjs-webgl` (priority 30): the GPU through WebGL, where the browser has it;
 * - `tfjs-wasm` (priority 20): XNNPACK in WebAssembly; call `setTfjsWasmPaths(prefix)` first, with the URL
 *   under which the page serves tfjs' `.wasm` files (no CDN);
 * - `tfjs-cpu` (priority 10): plain JavaScript kernels.
 */
import { registerBackend } from '@soo/core/browser';
import { createTfjsCpuBackend, createTfjsWasmBackend, createTfjsWebglBackend } from './backend.js';

export const TFJS_WEBGL = 'tfjs-webgl';
export const TFJS_WASM = 'tfjs-wasm';
export const TFJS_CPU = 'tfjs-cpu';

registerBackend(TFJS_WEBGL, createTfjsWebglBackend, 30);
registerBackend(TFJS_WASM, createTfjsWasmBackend, 20);
registerBackend(TFJS_CPU, createTfjsCpuBackend, 10);

export {
  TfjsBackend,
  TfjsModel,
  createTfjsCpuBackend,
  createTfjsWasmBackend,
  createTfjsWebglBackend,
} from './backend.js';
export { initTfBackend, setTfjsWasmPaths } from './tf.js';
export type { TfKind } from './tf.js';

/**
 * TensorFlow.js set-up. tfjs has one global engine with one active backend at a time; every model
 * remembers its backend and activates it (synchronously, once initialised) at the start of each
 * synchronous block of tensor work, so models on `wasm` and `cpu` can live in one process.
 *
 * We import the `@tensorflow/tfjs` umbrella because it registers the gradients (`tfjs-core` alone has none
 * in Node) and the `webgl` backend (browsers only), and `@tensorflow/tfjs-backend-wasm` for the wasm kernels
 * (single-threaded in Node: the threaded build needs browser workers). In Node the wasm binary is read from
 * the installed package; in a browser the page serves the `.wasm` files and says where (`setWasmPaths`).
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '@soo/core/browser';

export type TfKind = 'webgl' | 'wasm' | 'cpu';

const initialised = new Map<TfKind, Promise<void>>();

/** Initialise a tfjs backend once (loads the wasm binary for `wasm`). Throws `BACKEND_UNAVAILABLE`. */
export function initTfBackend(kind: TfKind): Promise<void> {
  let p = initialised.get(kind);
  if (!p) {
    p = (async () => {
      // tfjs prints a "use tfjs-node" banner on the cpu backend's first use; tfjs-node is not installable
      // here, so the hint only confuses. PROD mode only silences tfjs' console warnings.
      if (!tf.env().getBool('PROD')) tf.enableProdMode();
      let ok = false;
      try {
        ok = await tf.setBackend(kind);
        await tf.ready();
      } catch (e) {
        throw new BackendError(
          'BACKEND_UNAVAILABLE',
          `tfjs backend "${kind}" failed to initialise: ${(e as Error).message}`,
          { cause: e },
        );
      }
      if (!ok || tf.getBackend() !== kind) {
        throw new BackendError(
          'BACKEND_UNAVAILABLE',
          `tfjs backend "${kind}" is not available in this environment`,
        );
      }
    })();
    initialised.set(kind, p);
    p.catch(() => initialised.delete(kind));
  }
  return p;
}

/**
 * Make `kind` the active tfjs backend, synchronously. Call right before a synchronous block of tensor work
 * (no `await` in between), after `initTfBackend(kind)` has resolved.
 */
export function activate(kind: TfKind): void {
  if (tf.engine().backendName === kind) return;
  // For an initialised backend, engine.setBackend switches before its first await.
  void tf.setBackend(kind);
  if (tf.engine().backendName !== kind) {
    throw new BackendError(
      'BACKEND_UNAVAILABLE',
      `tfjs backend "${kind}" is not initialised; call initTfBackend first`,
    );
  }
}

/**
 * Where a browser fetches tfjs' wasm binaries: a URL prefix (ending in "/") under which the page serves
 * `tfjs-backend-wasm.wasm`, `tfjs-backend-wasm-simd.wasm` and `tfjs-backend-wasm-threaded-simd.wasm` from
 * `@tensorflow/tfjs-backend-wasm/dist`. Call before the first wasm model loads; Node needs no call.
 */
export function setTfjsWasmPaths(prefix: string): void {
  setWasmPaths(prefix);
}

export { tf };

// Shared by the engine benches (soo-step.mjs, pretrain.mjs): timing, and the backends to compare
// (native-cpu, and tfjs-wasm when @soo/backend-tfjs is built in this checkout).
import { performance } from 'node:perf_hooks';

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export async function timeIt(f, reps) {
  await f();
  const ms = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** The backends to compare: native-cpu always, tfjs-wasm when its package is built here. */
export async function backends() {
  const loader = await import('../dist/index.js');
  const out = [['native-cpu', loader.createNativeCpuBackend()]];
  try {
    const tfjs = await import('@soo/backend-tfjs');
    out.push(['tfjs-wasm', await tfjs.createTfjsWasmBackend()]);
  } catch (e) {
    console.error(`tfjs-wasm not compared: ${e.message}`);
  }
  return out;
}

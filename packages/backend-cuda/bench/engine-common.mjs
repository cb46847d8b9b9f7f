// Shared by the engine benches (soo-step.mjs, pretrain.mjs): timing, and the backends to compare
// (native-cpu, and tfjs-wasm when @soo/backend-tfjs is built in this checkout).
import { performance } from 'node:perf_hooks';

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/**
 * Median wall-clock ms of `reps` calls after one warm-up, and the median process CPU ms (user + system, all
 * threads) of the same calls: on a shared machine the CPU time is the steadier measure.
 */
export async function timeIt(f, reps) {
  await f();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await f();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { ms: median(wall), cpuMs: median(cpu) };
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

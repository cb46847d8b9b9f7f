/**
 * Worker-thread entry of `reproduce`'s worker pool (built to dist/worker.js): runs the one task in
 * `workerData` and posts its progress, then its result or error, to the parent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runTask, type TaskName, type TaskOptions } from './tasks.js';
import type { WorkerMessage } from './worker-pool.js';

const { fn, opts } = workerData as { fn: TaskName; opts: TaskOptions[TaskName] };
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);

runTask(fn, opts, (p) => post({ kind: 'progress', p }))
  .then((result) => post({ kind: 'result', result }))
  .catch((e: unknown) => {
    const err = e as { message?: unknown; code?: unknown } | undefined;
    post({
      kind: 'error',
      message: String(err?.message ?? e),
      ...(typeof err?.code === 'string' ? { code: err.code } : {}),
    });
  });

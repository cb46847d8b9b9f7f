import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SooError, type SooErrorCode } from '@soo/core';
import type { RlProgress } from '../cli.js';
import type { TaskName, TaskOptions, TaskResults, TaskRunner } from './tasks.js';

/** Messages from worker.ts to the pool. */
export type WorkerMessage =
  | { kind: 'progress'; p: RlProgress }
  | { kind: 'result'; result: unknown }
  | { kind: 'error'; message: string; code?: string };

/** Thrown by `run` once the pool was terminated (Ctrl-C). */
export class WorkerPoolInterrupted extends Error {
  override name = 'WorkerPoolInterrupted';
}

/**
 * The built worker entry. In the published package (dist/index.js and its chunks) it is the sibling
 * `worker.js`. When this module runs from TypeScript source (vitest), there is no `src/reproduce/worker.js`,
 * so the package's built `dist/worker.js` is used (`npm test` builds the package first).
 */
export function defaultWorkerUrl(): URL {
  const sibling = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(sibling))) return sibling;
  return new URL('../../dist/worker.js', import.meta.url);
}

/**
 * Runs tasks (`rlTrain`, `rlFinetune`, `rlClassify`) in worker threads, at most `jobs` at a time, so the
 * long phases use every core and Ctrl-C can stop them mid-episode (`terminate`).
 */
export class WorkerPool implements TaskRunner {
  private readonly active = new Set<Worker>();
  private readonly queue: (() => void)[] = [];
  private running = 0;
  private stopped = false;

  constructor(
    private readonly jobs: number,
    private readonly workerUrl: URL = defaultWorkerUrl(),
  ) {}

  get interrupted(): boolean {
    return this.stopped;
  }

  async run<F extends TaskName>(
    fn: F,
    opts: TaskOptions[F],
    onProgress: (p: RlProgress) => void,
  ): Promise<TaskResults[F]> {
    if (this.running >= this.jobs) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      if (this.stopped) throw new WorkerPoolInterrupted('interrupted');
      const worker = new Worker(this.workerUrl, { workerData: { fn, opts } });
      this.active.add(worker);
      return await new Promise<TaskResults[F]>((resolve, reject) => {
        let settled = false;
        worker.on('message', (m: WorkerMessage) => {
          if (m.kind === 'progress') onProgress(m.p);
          else if (m.kind === 'result') {
            settled = true;
            resolve(m.result as TaskResults[F]);
          } else {
            settled = true;
            reject(m.code ? new SooError(m.code as SooErrorCode, m.message) : new Error(m.message));
          }
        });
        worker.on('error', (e) => {
          settled = true;
          reject(e);
        });
        worker.on('exit', (code) => {
          this.active.delete(worker);
          if (!settled) {
            reject(
              this.stopped
                ? new WorkerPoolInterrupted('interrupted')
                : new Error(`${fn} worker exited with code ${code}`),
            );
          }
        });
      });
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  async terminate(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.active].map((w) => w.terminate()));
  }
}

/**
 * The long-running pieces of `reproduce` as plain-data tasks, so they can run in a worker thread (see
 * worker.ts, worker-pool.ts) or in this thread (`inProcessRunner`, for tests and single-core use).
 */
import {
  rlClassify,
  rlFinetune,
  rlTrain,
  type RlClassifyOptions,
  type RlFinetuneOptions,
  type RlProgress,
  type RlTrainOptions,
  type RlTrainResult,
} from '../cli.js';
import type { ClassifierResult } from '../soo/classifier.js';

type Plain<T> = Omit<T, 'onProgress' | 'signal'>;

/** Options per task: what the `rl*` entry points take, with checkpoints as folders (workers get clones). */
export interface TaskOptions {
  rlTrain: Plain<RlTrainOptions>;
  rlFinetune: Plain<RlFinetuneOptions> & { from: string };
  rlClassify: Plain<RlClassifyOptions> & { deceptive: string; honest: string };
}

/** Results per task, without the in-memory agents (they stay in the worker; the checkpoints are on disk). */
export interface TaskResults {
  rlTrain: Omit<RlTrainResult, 'maddpg'>;
  rlFinetune: Omit<RlTrainResult, 'maddpg'> & { sooLoss: number[] };
  rlClassify: ClassifierResult;
}

export type TaskName = keyof TaskOptions;

/** Runs tasks somewhere (a worker pool, or this thread) and can stop them all. */
export interface TaskRunner {
  run<F extends TaskName>(
    fn: F,
    opts: TaskOptions[F],
    onProgress: (p: RlProgress) => void,
  ): Promise<TaskResults[F]>;
  /** Stop every running task; running and later `run` calls reject. */
  terminate(): Promise<void>;
  readonly interrupted: boolean;
}

/** Run one task in this thread. */
export async function runTask<F extends TaskName>(
  fn: F,
  opts: TaskOptions[F],
  onProgress: (p: RlProgress) => void,
  signal?: AbortSignal,
): Promise<TaskResults[F]> {
  const extra = { onProgress, ...(signal ? { signal } : {}) };
  switch (fn) {
    case 'rlTrain': {
      const { maddpg: _m, ...rest } = await rlTrain({ ...(opts as TaskOptions['rlTrain']), ...extra });
      return rest as TaskResults[F];
    }
    case 'rlFinetune': {
      const { maddpg: _m, ...rest } = await rlFinetune({ ...(opts as TaskOptions['rlFinetune']), ...extra });
      return rest as TaskResults[F];
    }
    case 'rlClassify': {
      const { table: _t, ...rest } = await rlClassify({ ...(opts as TaskOptions['rlClassify']), onProgress });
      return rest as TaskResults[F];
    }
    default:
      throw new Error(`unknown task ${String(fn)}`);
  }
}

/** A TaskRunner that runs tasks one after another in this thread (aborting stops training between episodes). */
export function inProcessRunner(): TaskRunner {
  const abort = new AbortController();
  let chain: Promise<unknown> = Promise.resolve();
  return {
    get interrupted() {
      return abort.signal.aborted;
    },
    run(fn, opts, onProgress) {
      const next = chain.then(() => {
        if (abort.signal.aborted) throw new Error('interrupted');
        return runTask(fn, opts, onProgress, abort.signal);
      });
      chain = next.catch(() => undefined);
      return next;
    },
    terminate() {
      abort.abort();
      return Promise.resolve();
    },
  };
}

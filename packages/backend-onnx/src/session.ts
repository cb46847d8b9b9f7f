/**
 * onnxruntime-node sessions on the CPU provider (bundled with the package; its install script, which
 * downloads GPU providers, stays denied by the root `allowScripts`). Intra-op threads: `threads`, else env
 * `SOO_ONNX_THREADS`, else onnxruntime's default (one per core); idle threads sleep unless `spinning`.
 */
import * as ort from 'onnxruntime-node';
import { BackendError, InvalidArgumentError } from '@soo/core';

export { ort };

/** The thread count to ask for: an explicit value, env `SOO_ONNX_THREADS`, or 0 (onnxruntime's default). */
export function resolveThreads(threads?: number): number {
  const raw = threads ?? (process.env.SOO_ONNX_THREADS ? Number(process.env.SOO_ONNX_THREADS) : 0);
  if (!Number.isInteger(raw) || raw < 0)
    throw new InvalidArgumentError(
      'INVALID_ARGUMENT',
      `onnx threads: expected a non-negative integer (0 = one per core), got ${String(threads ?? process.env.SOO_ONNX_THREADS)}`,
      { field: threads === undefined ? 'SOO_ONNX_THREADS' : 'threads' },
    );
  return raw;
}

export async function createSession(
  model: Uint8Array | string,
  threads: number,
  spinning = false,
): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
    // Idle intra-op threads sleep instead of spinning: on a machine whose cores are shared, spinning threads
    // wait for descheduled peers (measured: 5x slower generation on 2 busy cores, see the README).
    ...(spinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  };
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (cause) {
    throw new BackendError(
      'BACKEND_UNAVAILABLE',
      `onnxruntime could not load ${typeof model === 'string' ? model : 'the decoder graph'}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { ...(typeof model === 'string' ? { file: model } : {}), cause },
    );
  }
}

/** int64 tensor from int32 values. */
export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i] as number);
  return new ort.Tensor('int64', out, dims);
}

export function floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

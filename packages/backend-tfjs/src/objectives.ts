/**
 * The objectives of `@soo/core`'s contract (`Objective`: plain data built by core) as tfjs scalars inside a
 * gradient tape. Core has already made every weight: pooling weights, target weights, KL position weights.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * SOO: rows are [self..., other...]. With pool weights [R, T], each row's hook output [R, T, W] is pooled to
 * [R, W] first; without, the MSE is elementwise over [P, T, W].
 */
export function sooLossTensor(acts: tf.Tensor, poolWeights: Float32Array | null): tf.Scalar {
  const [R, T] = acts.shape as [number, number, number];
  let a = acts;
  if (poolWeights) a = tf.matMul(tf.tensor3d(poolWeights, [R, 1, T]), acts as tf.Tensor3D);
  const [self, other] = tf.split(a, 2, 0) as [tf.Tensor, tf.Tensor];
  return tf.mean(tf.squaredDifference(self, other));
}

/** sum over (r, t) of weights[r,t] * cross-entropy(logits[r,t], targets[r,t]). */
export function lmLossTensor(logits: tf.Tensor3D, targets: Int32Array, weights: Float32Array): tf.Scalar {
  const [R, T, V] = logits.shape;
  const logProbs = tf.logSoftmax(tf.reshape(logits, [R * T, V]) as tf.Tensor2D, -1);
  // tfjs-wasm's OneHot writes int32 data whatever dtype is asked for (and has no gather gradient).
  const onehot = tf.cast(tf.oneHot(tf.tensor1d(targets, 'int32'), V), 'float32');
  const picked = tf.sum(tf.mul(logProbs, onehot), -1);
  return tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(weights, 'float32')))) as tf.Scalar;
}

/** sum over (r, t) of weights[r,t] * KL(base || tuned); `baseLogProbs` is a constant [R, T, V]. */
export function klTensor(baseLogProbs: tf.Tensor, tunedLogits: tf.Tensor, weights: Float32Array): tf.Scalar {
  const [R, T] = tunedLogits.shape as [number, number, number];
  const tuned = tf.logSoftmax(tunedLogits, -1);
  const perPos = tf.sum(tf.mul(tf.exp(baseLogProbs), tf.sub(baseLogProbs, tuned)), -1);
  return tf.sum(tf.mul(perPos, tf.tensor2d(weights, [R, T])));
}

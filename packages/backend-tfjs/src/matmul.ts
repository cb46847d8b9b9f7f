/**
 * Matrix products that stay on tfjs' fast path, forward and backward.
 *
 * tfjs-wasm's BatchMatMul is fast only without transpose flags: with `transposeA` or `transposeB` it is
 * 10-25x slower (measured here: 512^3 takes 13 ms plain, 200 ms with transposeB, 350 ms with transposeA),
 * and tfjs' built-in MatMul gradient uses exactly those flags. So weights are stored pre-transposed
 * ([in, out]) and the products below carry custom gradients made of an explicit transpose plus a plain
 * product. The results are the same products; only the kernel path differs.
 */
import * as tf from '@tensorflow/tfjs';

/** Swap the last two axes. */
export function transposeLast<T extends tf.Tensor>(x: T): T {
  const r = x.rank;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

type CustomArgs = Array<tf.Tensor | tf.GradSaveFunc>;

/** a @ b with gradients for both (same batch dims, rank >= 2). */
export const matmul = tf.customGrad((...args: CustomArgs) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      return [tf.matMul(dy, transposeLast(sb)), tf.matMul(transposeLast(sa), dy)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** x @ w for a constant (frozen) w: the gradient flows to x only, and nothing is computed for w. */
export function matmulConst<T extends tf.Tensor>(x: T, w: tf.Tensor): T {
  const f = tf.customGrad((...args: CustomArgs) => {
    const [a, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([]);
    return {
      value: tf.matMul(a, w),
      gradFunc: (dy: tf.Tensor) => [tf.matMul(dy, transposeLast(w))],
    };
  }) as (a: tf.Tensor) => tf.Tensor;
  return f(x) as T;
}

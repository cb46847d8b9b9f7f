// nn.Linear with an optional PEFT LoRA branch, forward and backward on a Device:
//   y = x W^T + b + scaling * (dropout(x) A^T) B^T         W [out, in], A [r, in], B [out, r]
#pragma once
#include <cstdint>

#include "model_weights.h"
#include "pass.h"

namespace soo {

/** The seed of one linear module's dropout mask in one call (a mixing of the call seed and the module). */
uint64_t dropout_module_seed(uint64_t call_seed, int module_index);

/**
 * y = linear(x) for n rows. With the adapter on and a LoRA pair present, keeps u = x_d A^T (and, with
 * dropout > 0, the mask and x_d) in `acts` for backward.
 */
void linear_forward(Device& dev, Linear& lin, int n, bool adapter, float dropout, uint64_t dropout_seed,
                    const float* x, float* y, LinearActs& acts);

/**
 * dx += dy W; trainable W, b accumulate dW += dy^T x, db += sum_rows dy; LoRA pairs (always trainable):
 *   dB += s dy^T u,  du = s dy B,  dA += du^T x_d,  dx += (du A) * mask
 * `dropout` must be the forward's (0: no mask). dx null: the input gradient is not needed. scratch_r [n, r] and scratch_in [n, in] are resized as needed.
 */
void linear_backward(Device& dev, Linear& lin, int n, bool adapter, float dropout, const float* x,
                     const LinearActs& acts, const float* dy, float* dx, Tensor& scratch_r, Tensor& scratch_in);

}  // namespace soo

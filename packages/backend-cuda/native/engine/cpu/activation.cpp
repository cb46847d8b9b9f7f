// The gated MLP's activation: out = act(gate) * up, with
//   silu(x)              = x s,  s = sigmoid(x);          silu'(x) = s (1 + x (1 - s))
//   gelu_tanh(x)         = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//                 gelu_tanh'(x) = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//   gelu(x)              = x/2 (1 + erf(x / sqrt 2));     gelu'(x) = (1 + erf)/2 + x phi(x)
// Backward: dgate = dout * up * act'(gate), dup = dout * act(gate). The formulas: ../kernel_math.h (shared
// with the CUDA kernels).
#include <cmath>

#include "../kernel_math.h"
#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

static_assert(static_cast<int>(Activation::Silu) == math::kSilu && static_cast<int>(Activation::GeluTanh) == math::kGeluTanh &&
                  static_cast<int>(Activation::GeluErf) == math::kGeluErf,
              "kernel_math.h activation codes follow device.h");

void gated_act_forward(float* out, const float* gate, const float* up, size_t n, Activation a) {
  const int code = static_cast<int>(a);
  parallel_for(n, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) out[i] = math::act(gate[i], code) * up[i];
  });
}

void gated_act_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, size_t n,
                        Activation a) {
  const int code = static_cast<int>(a);
  parallel_for(n, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) math::gated_act_grad(dout[i], gate[i], up[i], code, dgate[i], dup[i]);
  });
}

}  // namespace soo::cpu

// The gated MLP's activation: out = act(gate) * up, with
//   silu(x)              = x s,  s = sigmoid(x);          silu'(x) = s (1 + x (1 - s))
//   gelu_tanh(x)         = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//                 gelu_tanh'(x) = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//   gelu(x)              = x/2 (1 + erf(x / sqrt 2));     gelu'(x) = (1 + erf)/2 + x phi(x)
// Backward: dgate = dout * up * act'(gate), dup = dout * act(gate).
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

inline float act(float x, Activation a) {
  switch (a) {
    case Activation::Silu:
      return x / (1.0f + std::exp(-x));
    case Activation::GeluTanh:
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    case Activation::GeluErf:
      return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
  }
  return 0;
}

inline float act_grad(float x, Activation a) {
  switch (a) {
    case Activation::Silu: {
      float s = 1.0f / (1.0f + std::exp(-x));
      return s * (1.0f + x * (1.0f - s));
    }
    case Activation::GeluTanh: {
      float t = std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x));
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
    }
    case Activation::GeluErf:
      return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
  }
  return 0;
}

}  // namespace

void gated_act_forward(float* out, const float* gate, const float* up, size_t n, Activation a) {
  parallel_for(n, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) out[i] = act(gate[i], a) * up[i];
  });
}

void gated_act_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, size_t n,
                        Activation a) {
  if (a == Activation::Silu) {  // one exp per element: s = sigmoid(x) gives both silu and its derivative
    parallel_for(n, 4096, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) {
        const float x = gate[i], s = 1.0f / (1.0f + std::exp(-x));
        dgate[i] = dout[i] * up[i] * (s * (1.0f + x * (1.0f - s)));
        dup[i] = dout[i] * (x * s);
      }
    });
    return;
  }
  parallel_for(n, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      dgate[i] = dout[i] * up[i] * act_grad(gate[i], a);
      dup[i] = dout[i] * act(gate[i], a);
    }
  });
}

}  // namespace soo::cpu

// Gemma-2 soft-capping: y = cap * tanh(x / cap); dy/dx = 1 - tanh^2 = 1 - (y / cap)^2.
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

void softcap_forward(float* x, float cap, size_t n) {
  parallel_for(n, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) x[i] = cap * std::tanh(x[i] / cap);
  });
}

void softcap_backward(float* dx, const float* y, float cap, size_t n) {
  parallel_for(n, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      float u = y[i] / cap;
      dx[i] *= 1.0f - u * u;
    }
  });
}

}  // namespace soo::cpu

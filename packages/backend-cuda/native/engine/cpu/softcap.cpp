// Gemma-2 soft-capping: y = cap * tanh(x / cap); dy/dx = 1 - tanh^2 = 1 - (y / cap)^2.
#include <cmath>

#include "../kernel_math.h"
#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

void softcap_forward(float* x, float cap, size_t n) {
  parallel_for(n, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) x[i] = math::softcap(x[i], cap);
  });
}

void softcap_backward(float* dx, const float* y, float cap, size_t n) {
  parallel_for(n, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      dx[i] *= math::softcap_grad_from_output(y[i], cap);
    }
  });
}

}  // namespace soo::cpu

// torch.optim.AdamW, single-tensor path, on one parameter whose step count is already incremented:
//   g = grad * grad_scale
//   p *= 1 - lr * wd                      (decoupled weight decay)
//   m = m + (1 - b1) (g - m)              (exp_avg.lerp_(g, 1 - b1))
//   v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)
#include <cmath>

#include "../kernel_math.h"
#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

void adamw(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2, double eps,
           double weight_decay, double grad_scale, int64_t step) {
  // Scalars as torch builds them: Python floats, rounded to float32 where they meet the tensors.
  const math::AdamWScalars sc = math::adamw_scalars(lr, beta1, beta2, eps, weight_decay, grad_scale, step);
  parallel_for(n, 1 << 14, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) math::adamw_element(sc, g[i], p[i], m[i], v[i]);
  });
}

}  // namespace soo::cpu

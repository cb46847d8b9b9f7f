// torch.optim.AdamW, single-tensor path, on one parameter whose step count is already incremented:
//   g = grad * grad_scale
//   p *= 1 - lr * wd                      (decoupled weight decay)
//   m = m + (1 - b1) (g - m)              (exp_avg.lerp_(g, 1 - b1))
//   v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

void adamw(float* p, const float* g, float* m, float* v, size_t n, float lr, float beta1, float beta2, float eps,
           float weight_decay, float grad_scale, int64_t step) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step)));
  const float step_size = static_cast<float>(lr / bc1);
  const float inv_bc2_sqrt = static_cast<float>(bc2_sqrt);
  const float decay = 1.0f - lr * weight_decay;
  parallel_for(n, 1 << 14, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const float gi = g[i] * grad_scale;
      float pi = p[i];
      if (weight_decay != 0.0f) pi *= decay;
      const float mi = m[i] + (1.0f - beta1) * (gi - m[i]);
      const float vi = v[i] * beta2 + (1.0f - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      const float denom = std::sqrt(vi) / inv_bc2_sqrt + eps;
      p[i] = pi - step_size * (mi / denom);
    }
  });
}

}  // namespace soo::cpu

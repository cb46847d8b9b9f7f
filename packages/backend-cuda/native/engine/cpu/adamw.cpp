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

void adamw(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2, double eps,
           double weight_decay, double grad_scale, int64_t step) {
  // Scalars as torch builds them: Python floats, rounded to float32 where they meet the tensors.
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, static_cast<double>(step))));
  const float step_size = static_cast<float>(lr / bc1);
  const float decay = static_cast<float>(1.0 - lr * weight_decay);
  const float one_minus_b1 = static_cast<float>(1.0 - beta1);
  const float b2 = static_cast<float>(beta2), one_minus_b2 = static_cast<float>(1.0 - beta2);
  const float eps_f = static_cast<float>(eps), gs = static_cast<float>(grad_scale);
  const bool decays = weight_decay != 0.0;
  parallel_for(n, 1 << 14, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const float gi = g[i] * gs;
      const float pi = decays ? p[i] * decay : p[i];
      const float mi = m[i] + one_minus_b1 * (gi - m[i]);
      const float vi = v[i] * b2 + one_minus_b2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      const float denom = std::sqrt(vi) / bc2_sqrt + eps_f;
      p[i] = pi - step_size * (mi / denom);
    }
  });
}

}  // namespace soo::cpu

// RMSNorm as transformers computes it in float32:
//   r = 1 / sqrt(mean_j x_j^2 + eps),  y_j = x_j r w_j   (Gemma: w_j -> 1 + w_j)
// Backward, with g_j = dy_j w_j:
//   dx_j = r g_j - x_j r^3 (1/H) sum_k g_k x_k
//   dw_j = sum over rows of dy_j x_j r
#include <cmath>
#include <vector>

#include "../kernel_math.h"
#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int n, int width, float eps,
                     bool one_plus_w) {
  parallel_for(n, 8, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const float* xi = x + i * width;
      float* yi = y + i * width;
      float ss = 0;
      for (int j = 0; j < width; j++) ss += xi[j] * xi[j];
      float r = math::rms_rstd(ss, width, eps);
      if (rstd) rstd[i] = r;
      for (int j = 0; j < width; j++) {
        yi[j] = math::rms_out(xi[j], r, w[j], one_plus_w);
      }
    }
  });
}

void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* rstd, const float* w,
                      int n, int width, bool one_plus_w) {
  parallel_for(n, 8, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const float* xi = x + i * width;
      const float* gi = dy + i * width;
      float* dxi = dx + i * width;
      float r = rstd[i];
      float dot = 0;
      for (int j = 0; j < width; j++) dot += gi[j] * math::rms_weight(w[j], one_plus_w) * xi[j];
      float c = dot * r * r * r / width;
      for (int j = 0; j < width; j++) {
        dxi[j] += math::rms_dx(gi[j], xi[j], r, w[j], one_plus_w, c);
      }
    }
  });
  if (dw) {
    // Weight gradient: split columns across threads, rows in order.
    parallel_for(width, 64, [&](size_t b, size_t e) {
      for (int i = 0; i < n; i++) {
        const float* xi = x + static_cast<size_t>(i) * width;
        const float* gi = dy + static_cast<size_t>(i) * width;
        float r = rstd[i];
        for (size_t j = b; j < e; j++) dw[j] += gi[j] * xi[j] * r;
      }
    });
  }
}

}  // namespace soo::cpu

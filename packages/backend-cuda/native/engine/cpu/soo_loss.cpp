// The SOO objective on hook outputs x [rows, T, W], rows = [self_0..self_{P-1}, other_0..other_{P-1}]:
// - pooled (weights w [rows, T]): y_r = sum_t w[r,t] x[r,t,:];  value = mean over (P, W) of (y_p - y_{P+p})^2
//   d/dx[r,t,:] = w[r,t] * dy_r, dy_p = 2 (y_p - y_{P+p}) / (P W) = -dy_{P+p}
// - unpooled (w null): value = mean over (P, T, W) of (x_p - x_{P+p})^2, elementwise
#include <vector>

#include "kernels.h"

namespace soo::cpu {

double soo_loss(float* dx, const float* x, const float* pool_weights, int rows, int tokens, int width,
                float grad_scale) {
  const int pairs = rows / 2;
  const size_t row_size = static_cast<size_t>(tokens) * width;
  double total = 0;
  if (pool_weights) {
    std::vector<double> pooled(static_cast<size_t>(rows) * width, 0.0);
    for (int r = 0; r < rows; r++)
      for (int t = 0; t < tokens; t++) {
        const double w = pool_weights[static_cast<size_t>(r) * tokens + t];
        if (w == 0) continue;
        const float* xr = x + r * row_size + static_cast<size_t>(t) * width;
        for (int j = 0; j < width; j++) pooled[static_cast<size_t>(r) * width + j] += w * xr[j];
      }
    const double denom = static_cast<double>(pairs) * width;
    std::vector<float> dy(static_cast<size_t>(rows) * width);
    for (int p = 0; p < pairs; p++)
      for (int j = 0; j < width; j++) {
        double diff = pooled[static_cast<size_t>(p) * width + j] - pooled[static_cast<size_t>(p + pairs) * width + j];
        total += diff * diff;
        float g = static_cast<float>(2.0 * diff / denom) * grad_scale;
        dy[static_cast<size_t>(p) * width + j] = g;
        dy[static_cast<size_t>(p + pairs) * width + j] = -g;
      }
    if (dx)
      for (int r = 0; r < rows; r++)
        for (int t = 0; t < tokens; t++) {
          const float w = pool_weights[static_cast<size_t>(r) * tokens + t];
          if (w == 0) continue;
          float* d = dx + r * row_size + static_cast<size_t>(t) * width;
          for (int j = 0; j < width; j++) d[j] += w * dy[static_cast<size_t>(r) * width + j];
        }
    return total / denom;
  }
  const double denom = static_cast<double>(pairs) * row_size;
  for (int p = 0; p < pairs; p++) {
    const float* a = x + p * row_size;
    const float* b = x + (p + pairs) * row_size;
    for (size_t i = 0; i < row_size; i++) {
      double diff = static_cast<double>(a[i]) - b[i];
      total += diff * diff;
      if (dx) {
        float g = static_cast<float>(2.0 * diff / denom) * grad_scale;
        dx[p * row_size + i] += g;
        dx[(p + pairs) * row_size + i] -= g;
      }
    }
  }
  return total / denom;
}

}  // namespace soo::cpu

// Rotary position embedding, HF's rotate_half convention over each head's two halves:
//   y_i      = x_i c_i - x_{i+h} s_i
//   y_{i+h}  = x_{i+h} c_i + x_i s_i        (h = head_dim / 2, c/s per token and frequency)
// The transpose (backward) rotates by the opposite angle:
//   dx_i     = dy_i c_i + dy_{i+h} s_i
//   dx_{i+h} = dy_{i+h} c_i - dy_i s_i
#include "../kernel_math.h"
#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

void rope_forward(float* y, const float* x, const float* cos, const float* sin, int n, int heads, int head_dim) {
  const int half = head_dim / 2;
  parallel_for(n, 16, [&](size_t b, size_t e) {
    for (size_t t = b; t < e; t++) {
      const float* c = cos + t * half;
      const float* s = sin + t * half;
      for (int h = 0; h < heads; h++) {
        const float* xh = x + (t * heads + h) * head_dim;
        float* yh = y + (t * heads + h) * head_dim;
        for (int i = 0; i < half; i++) {
          math::rope_pair(xh[i], xh[i + half], c[i], s[i], yh[i], yh[i + half]);
        }
      }
    }
  });
}

void rope_backward(float* dx, const float* dy, const float* cos, const float* sin, int n, int heads,
                   int head_dim) {
  const int half = head_dim / 2;
  parallel_for(n, 16, [&](size_t b, size_t e) {
    for (size_t t = b; t < e; t++) {
      const float* c = cos + t * half;
      const float* s = sin + t * half;
      for (int h = 0; h < heads; h++) {
        const float* g = dy + (t * heads + h) * head_dim;
        float* d = dx + (t * heads + h) * head_dim;
        for (int i = 0; i < half; i++) {
          float da, db;
          math::rope_pair_grad(g[i], g[i + half], c[i], s[i], da, db);
          d[i] += da;
          d[i + half] += db;
        }
      }
    }
  });
}

}  // namespace soo::cpu

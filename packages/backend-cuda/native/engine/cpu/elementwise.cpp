// Element-wise helpers: axpy, scaling, masks, bias rows, sums of squares.
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

constexpr size_t kChunk = 1 << 14;

void axpy(float* y, const float* x, float alpha, size_t n) {
  parallel_for(n, kChunk, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) y[i] += alpha * x[i];
  });
}

void scale(float* y, float alpha, size_t n) {
  parallel_for(n, kChunk, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) y[i] *= alpha;
  });
}

void multiply(float* y, const float* x, const float* m, size_t n) {
  parallel_for(n, kChunk, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) y[i] = x[i] * m[i];
  });
}

void add_row_vector(float* y, const float* v, int rows, int width) {
  parallel_for(rows, 16, [&](size_t b, size_t e) {
    for (size_t r = b; r < e; r++) {
      float* row = y + r * width;
      for (int j = 0; j < width; j++) row[j] += v[j];
    }
  });
}

void sum_rows(float* dv, const float* dy, int rows, int width) {
  // Columns are independent: split them across threads, sum rows in order (deterministic).
  parallel_for(width, 256, [&](size_t b, size_t e) {
    for (int r = 0; r < rows; r++) {
      const float* row = dy + static_cast<size_t>(r) * width;
      for (size_t j = b; j < e; j++) dv[j] += row[j];
    }
  });
}

double sum_squares(const float* x, size_t n) {
  double total = 0;
  for (size_t i = 0; i < n; i++) total += static_cast<double>(x[i]) * x[i];
  return total;
}

}  // namespace soo::cpu

// Row-major GEMM through OpenBLAS: C = alpha op(A) op(B) + beta C. Linear layers pass HF's [out, in]
// weights with trans_b, so no weight is ever transposed in memory.
#include <cblas.h>

#include "kernels.h"

namespace soo::cpu {

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // OpenBLAS handles k = 0 as C = beta C; keep it explicit
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) c[static_cast<size_t>(i) * ldc + j] *= beta;
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
              alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace soo::cpu

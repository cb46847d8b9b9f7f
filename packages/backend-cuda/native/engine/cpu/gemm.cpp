// Row-major GEMM: C = alpha op(A) op(B) + beta C. Linear layers pass HF's [out, in] weights with
// trans_b, so no weight is ever transposed in memory.
//
// OpenBLAS runs single-threaded here and the engine's own pool splits a large product into row (or
// column) blocks of C, one sgemm per block. OpenBLAS's threads would otherwise spin (sched_yield) between
// calls and starve the pool's element-wise work on a small machine.
#include <cblas.h>

#include <algorithm>

#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {
namespace {

void blas(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
              alpha, a, lda, b, ldb, beta, c, ldc);
}

/** Products below this many multiply-adds run as one call. */
constexpr double kSplitWork = 1 << 20;
/** Smallest block of rows or columns per call. */
constexpr int kMinBlock = 32;

}  // namespace

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta C
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) c[static_cast<size_t>(i) * ldc + j] *= beta;
    return;
  }
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
  const double work = static_cast<double>(m) * n * k;
  const int threads = thread_count();
  if (threads == 1 || work < kSplitWork || (m < 2 * kMinBlock && n < 2 * kMinBlock)) {
    blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (m >= n || n < 2 * kMinBlock) {
    // Row blocks of C: rows [i0, i1) of op(A). op(A) = A^T reads A's columns i0.. (offset i0).
    const int blocks = std::min(threads * 4, m / kMinBlock);
    parallel_for(static_cast<size_t>(blocks), 1, [&](size_t lo, size_t hi) {
      for (size_t blk = lo; blk < hi; blk++) {
        const int i0 = static_cast<int>(static_cast<int64_t>(m) * blk / blocks);
        const int i1 = static_cast<int>(static_cast<int64_t>(m) * (blk + 1) / blocks);
        const float* ab = trans_a ? a + i0 : a + static_cast<size_t>(i0) * lda;
        blas(trans_a, trans_b, i1 - i0, n, k, alpha, ab, lda, b, ldb, beta, c + static_cast<size_t>(i0) * ldc, ldc);
      }
    });
  } else {
    // Column blocks of C: columns [j0, j1) of op(B). op(B) = B^T reads B's rows j0.. (offset j0 * ldb).
    const int blocks = std::min(threads * 4, n / kMinBlock);
    parallel_for(static_cast<size_t>(blocks), 1, [&](size_t lo, size_t hi) {
      for (size_t blk = lo; blk < hi; blk++) {
        const int j0 = static_cast<int>(static_cast<int64_t>(n) * blk / blocks);
        const int j1 = static_cast<int>(static_cast<int64_t>(n) * (blk + 1) / blocks);
        const float* bb = trans_b ? b + static_cast<size_t>(j0) * ldb : b + j0;
        blas(trans_a, trans_b, m, j1 - j0, k, alpha, a, lda, bb, ldb, beta, c + j0, ldc);
      }
    });
  }
}

}  // namespace soo::cpu

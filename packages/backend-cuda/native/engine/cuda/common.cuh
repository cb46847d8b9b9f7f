// Helpers shared by the CUDA kernels: error checks, launch sizes, block reductions.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "../device.h"
#include "../kernel_math.h"

namespace soo::cuda {

[[noreturn]] inline void fail(cudaError_t e, const char* what) {
  throw std::runtime_error(std::string("CUDA: ") + what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
                           ")");
}
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(e, what);
}
/** After a launch: configuration errors surface here, execution errors at the next synchronising call. */
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

constexpr int kThreads = 256;
inline unsigned blocks_for(size_t n, int threads = kThreads) {
  size_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b > 65535u * 16u ? 65535u * 16u : (b == 0 ? 1 : b));
}

/** Sum over a block (blockDim.x a multiple of 32, at most 1024); every thread gets the total. */
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T warp_sums[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  T total = 0;
  for (int w = 0; w < warps; w++) total += warp_sums[w];
  return total;
}

__device__ inline float block_max(float v) {
  __shared__ float warp_max[32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) warp_max[warp] = v;
  __syncthreads();
  float m = -INFINITY;
  for (int w = 0; w < warps; w++) m = fmaxf(m, warp_max[w]);
  return m;
}

// ---- launchers (each file's kernels; signatures follow device.h) ----
void k_scale_in_place(cudaStream_t st, float* c, int m, int n, int ldc, float beta);  // C = beta C (k == 0 GEMMs)
void k_axpy(cudaStream_t st, float* y, const float* x, float alpha, size_t n);
void k_scale(cudaStream_t st, float* y, float alpha, size_t n);
void k_multiply(cudaStream_t st, float* y, const float* x, const float* m, size_t n);
void k_add_row_vector(cudaStream_t st, float* y, const float* v, int rows, int width);
void k_sum_rows(cudaStream_t st, float* dv, const float* dy, int rows, int width);
void k_sum_squares(cudaStream_t st, double* out, const float* x, size_t n);  // *out += sum x^2
void k_embedding_forward(cudaStream_t st, float* out, const float* table, const int32_t* ids, int n, int width);
void k_embedding_backward(cudaStream_t st, float* dtable, const float* dout, const int32_t* ids, int n, int width);
void k_rmsnorm_forward(cudaStream_t st, float* y, float* rstd, const float* x, const float* w, int n, int width,
                       float eps, bool one_plus_w);
void k_rmsnorm_backward(cudaStream_t st, float* dx, float* dw, const float* dy, const float* x, const float* rstd,
                        const float* w, int n, int width, bool one_plus_w);
void k_rope_forward(cudaStream_t st, float* y, const float* x, const float* cos, const float* sin, int n, int heads,
                    int head_dim);
void k_rope_backward(cudaStream_t st, float* dx, const float* dy, const float* cos, const float* sin, int n,
                     int heads, int head_dim);
void k_gated_act_forward(cudaStream_t st, float* out, const float* gate, const float* up, size_t n, int act);
void k_gated_act_backward(cudaStream_t st, float* dgate, float* dup, const float* dout, const float* gate,
                          const float* up, size_t n, int act);
void k_softcap_forward(cudaStream_t st, float* x, float cap, size_t n);
void k_softcap_backward(cudaStream_t st, float* dx, const float* y, float cap, size_t n);
void k_dropout_mask(cudaStream_t st, float* m, size_t n, float p, uint64_t seed);
/** dst[r * cols + c] = bf16(src[r * ld + c]): pack a strided fp32 matrix as bf16 bits (round to nearest even). */
void k_pack_bf16(cudaStream_t st, uint16_t* dst, const float* src, int rows, int cols, int64_t ld);
/** dst[i] = float(src[i]) for bf16 bits. */
void k_widen_bf16(cudaStream_t st, float* dst, const uint16_t* src, size_t n);
void k_adamw(cudaStream_t st, float* p, const float* g, float* m, float* v, size_t n, const math::AdamWScalars& s);
void k_gemm_simple(cudaStream_t st, bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc);

void k_attention_forward(cudaStream_t st, float* ctx, float* probs, float* capped, const float* q, const float* k,
                         const float* v, const uint8_t* key_mask, int64_t key_mask_stride, const AttentionShape& s);
void k_attention_backward(cudaStream_t st, float* dq, float* dk, float* dv, float* scratch, const float* dctx,
                          const float* probs, const float* capped, const float* q, const float* k, const float* v,
                          const AttentionShape& s);

/** Per-row values land in rows_out[n] (double); the caller sums them on the host in row order. */
void k_cross_entropy(cudaStream_t st, double* rows_out, float* dlogits, const float* logits, const int32_t* targets,
                     const float* weights, int n, int vocab, float grad_scale);
void k_log_softmax(cudaStream_t st, float* out, const float* logits, int n, int vocab);
void k_kl_divergence(cudaStream_t st, double* rows_out, float* dlogits, const float* logits,
                     const float* base_log_probs, const float* weights, int n, int vocab, float grad_scale);
/** SOO: returns the sum of squared differences into *total (double, device); see cpu/soo_loss.cpp. */
void k_soo_loss(cudaStream_t st, double* total, float* dx, double* pooled_scratch, float* dy_scratch, const float* x,
                const float* pool_weights, int rows, int tokens, int width, float grad_scale);

}  // namespace soo::cuda

// The objectives on the GPU, the same math as cpu/cross_entropy.cpp and cpu/soo_loss.cpp: next-token
// cross-entropy, log-softmax, KL(base || tuned) and the SOO loss (pooled and unpooled). One block per
// row; exponentials in float, row sums in double; per-row values go to a device array the host sums in
// row order, so a loss does not depend on block scheduling.
#include "common.cuh"

namespace soo::cuda {
namespace {

/** Row max and log(sum exp(z - max)) (sum in double), as cpu/cross_entropy.cpp's row_logsumexp. */
__device__ void row_logsumexp(const float* z, int vocab, float& mx, double& lse) {
  float m = -INFINITY;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) m = fmaxf(m, z[j]);
  m = block_max(m);
  double sum = 0;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) sum += expf(z[j] - m);
  sum = block_sum(sum);
  mx = m;
  lse = log(sum);
}

__global__ void cross_entropy_kernel(double* rows_out, float* dlogits, const float* logits, const int32_t* targets,
                                     const float* weights, int vocab, float grad_scale) {
  const int64_t r = blockIdx.x;
  const float w = weights[r];
  if (w == 0.0f) {
    if (threadIdx.x == 0) rows_out[r] = 0;
    return;
  }
  const float* z = logits + r * vocab;
  float mx;
  double lse;
  row_logsumexp(z, vocab, mx, lse);
  const int target = targets[r];
  if (threadIdx.x == 0) rows_out[r] = w * (lse - (z[target] - mx));
  if (dlogits) {
    float* d = dlogits + r * vocab;
    const float c = grad_scale * w;
    const float shift = static_cast<float>(mx + lse);
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) d[j] += c * expf(z[j] - shift) - (j == target ? c : 0.0f);
  }
}

__global__ void log_softmax_kernel(float* out, const float* logits, int vocab) {
  const int64_t r = blockIdx.x;
  const float* z = logits + r * vocab;
  float mx;
  double lse;
  row_logsumexp(z, vocab, mx, lse);
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) out[r * vocab + j] = static_cast<float>(z[j] - mx - lse);
}

__global__ void kl_kernel(double* rows_out, float* dlogits, const float* logits, const float* base_log_probs,
                          const float* weights, int vocab, float grad_scale) {
  const int64_t r = blockIdx.x;
  const float w = weights[r];
  if (w == 0.0f) {
    if (threadIdx.x == 0) rows_out[r] = 0;
    return;
  }
  const float* z = logits + r * vocab;
  const float* lp = base_log_probs + r * vocab;
  float mx;
  double lse;
  row_logsumexp(z, vocab, mx, lse);
  double kl = 0;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    const double lq = z[j] - mx - lse;
    kl += exp(static_cast<double>(lp[j])) * (lp[j] - lq);
  }
  kl = block_sum(kl);
  if (threadIdx.x == 0) rows_out[r] = w * kl;
  if (dlogits) {
    float* d = dlogits + r * vocab;
    const float c = grad_scale * w;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x)
      d[j] += c * static_cast<float>(exp(z[j] - mx - lse) - exp(static_cast<double>(lp[j])));
  }
}

// ---- SOO ----
/** pooled[r, j] = sum_t w[r, t] x[r, t, j] (double). */
__global__ void soo_pool_kernel(double* pooled, const float* x, const float* w, int rows, int tokens, int width) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= static_cast<int64_t>(rows) * width) return;
  const int64_t r = idx / width, j = idx % width;
  double acc = 0;
  for (int t = 0; t < tokens; t++) {
    const double wt = w[r * tokens + t];
    if (wt != 0) acc += wt * x[(r * tokens + t) * width + j];
  }
  pooled[idx] = acc;
}
/** Per pair column: diff^2 summed into *total; dy for both rows. */
__global__ void soo_pair_kernel(double* total, float* dy, const double* pooled, int pairs, int width, double denom,
                                float grad_scale) {
  double acc = 0;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       idx < static_cast<int64_t>(pairs) * width; idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t p = idx / width, j = idx % width;
    const double diff = pooled[p * width + j] - pooled[(p + pairs) * width + j];
    acc += diff * diff;
    const float g = static_cast<float>(2.0 * diff / denom) * grad_scale;
    dy[p * width + j] = g;
    dy[(p + pairs) * width + j] = -g;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) atomicAdd(total, acc);
}
__global__ void soo_unpool_grad_kernel(float* dx, const float* dy, const float* w, int rows, int tokens, int width) {
  const int64_t n = static_cast<int64_t>(rows) * tokens * width;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < n;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = idx % width, rt = idx / width, r = rt / tokens;
    const float wt = w[rt];
    if (wt != 0) dx[idx] += wt * dy[r * width + j];
  }
}
/** Unpooled: elementwise over pairs of rows. */
__global__ void soo_elementwise_kernel(double* total, float* dx, const float* x, int pairs, int64_t row_size,
                                       double denom, float grad_scale) {
  double acc = 0;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < pairs * row_size;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t p = idx / row_size, i = idx % row_size;
    const double diff = static_cast<double>(x[p * row_size + i]) - x[(p + pairs) * row_size + i];
    acc += diff * diff;
    if (dx) {
      const float g = static_cast<float>(2.0 * diff / denom) * grad_scale;
      dx[p * row_size + i] += g;
      dx[(p + pairs) * row_size + i] -= g;
    }
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) atomicAdd(total, acc);
}

int row_threads(int vocab) { return vocab >= 4096 ? 1024 : vocab >= 512 ? 256 : 64; }
unsigned capped_blocks(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : b > 2048 ? 2048 : b);
}

}  // namespace

void k_cross_entropy(cudaStream_t st, double* rows_out, float* dlogits, const float* logits, const int32_t* targets,
                     const float* weights, int n, int vocab, float grad_scale) {
  if (!n) return;
  cross_entropy_kernel<<<n, row_threads(vocab), 0, st>>>(rows_out, dlogits, logits, targets, weights, vocab, grad_scale);
  check_launch("cross_entropy");
}
void k_log_softmax(cudaStream_t st, float* out, const float* logits, int n, int vocab) {
  if (!n) return;
  log_softmax_kernel<<<n, row_threads(vocab), 0, st>>>(out, logits, vocab);
  check_launch("log_softmax");
}
void k_kl_divergence(cudaStream_t st, double* rows_out, float* dlogits, const float* logits,
                     const float* base_log_probs, const float* weights, int n, int vocab, float grad_scale) {
  if (!n) return;
  kl_kernel<<<n, row_threads(vocab), 0, st>>>(rows_out, dlogits, logits, base_log_probs, weights, vocab, grad_scale);
  check_launch("kl_divergence");
}
void k_soo_loss(cudaStream_t st, double* total, float* dx, double* pooled, float* dy, const float* x,
                const float* pool_weights, int rows, int tokens, int width, float grad_scale) {
  const int pairs = rows / 2;
  const int64_t row_size = static_cast<int64_t>(tokens) * width;
  check(cudaMemsetAsync(total, 0, sizeof(double), st), "soo_loss memset");
  if (pool_weights) {
    const int64_t rw = static_cast<int64_t>(rows) * width;
    soo_pool_kernel<<<static_cast<unsigned>((rw + kThreads - 1) / kThreads), kThreads, 0, st>>>(pooled, x, pool_weights,
                                                                                              rows, tokens, width);
    check_launch("soo pool");
    const double denom = static_cast<double>(pairs) * width;
    soo_pair_kernel<<<capped_blocks(static_cast<int64_t>(pairs) * width), kThreads, 0, st>>>(total, dy, pooled, pairs,
                                                                                           width, denom, grad_scale);
    check_launch("soo pairs");
    if (dx) {
      soo_unpool_grad_kernel<<<capped_blocks(rows * row_size), kThreads, 0, st>>>(dx, dy, pool_weights, rows, tokens,
                                                                                  width);
      check_launch("soo grad");
    }
    return;
  }
  const double denom = static_cast<double>(pairs) * row_size;
  soo_elementwise_kernel<<<capped_blocks(pairs * row_size), kThreads, 0, st>>>(total, dx, x, pairs, row_size, denom,
                                                                               grad_scale);
  check_launch("soo elementwise");
}

}  // namespace soo::cuda

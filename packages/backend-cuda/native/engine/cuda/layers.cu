// Element-wise and per-row kernels: axpy and friends, embedding, RMSNorm (w and Gemma's 1 + w), RoPE,
// SwiGLU / GELU-tanh gated activations, soft-capping, LoRA dropout masks, AdamW. The per-element formulas
// are ../kernel_math.h's, the same functions the CPU kernels (../cpu) call, so the CPU tests check them.
// Column sums (bias, RMSNorm weight, embedding gradients) walk rows in order: deterministic, no atomics.
#include "common.cuh"

namespace soo::cuda {
namespace {

#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < (n); \
                               i += static_cast<size_t>(gridDim.x) * blockDim.x)

__global__ void scale_matrix_kernel(float* c, int m, int n, int ldc, float beta) {
  GRID_STRIDE(i, static_cast<size_t>(m) * n) {
    float& x = c[(i / n) * ldc + i % n];
    x = beta == 0.0f ? 0.0f : x * beta;
  }
}
__global__ void axpy_kernel(float* y, const float* x, float alpha, size_t n) {
  GRID_STRIDE(i, n) y[i] += alpha * x[i];
}
__global__ void scale_kernel(float* y, float alpha, size_t n) {
  GRID_STRIDE(i, n) y[i] *= alpha;
}
__global__ void multiply_kernel(float* y, const float* x, const float* m, size_t n) {
  GRID_STRIDE(i, n) y[i] = x[i] * m[i];
}
__global__ void add_row_vector_kernel(float* y, const float* v, int rows, int width) {
  GRID_STRIDE(i, static_cast<size_t>(rows) * width) y[i] += v[i % width];
}
__global__ void sum_rows_kernel(float* dv, const float* dy, int rows, int width) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= width) return;
  float acc = dv[j];
  for (int r = 0; r < rows; r++) acc += dy[static_cast<size_t>(r) * width + j];
  dv[j] = acc;
}
__global__ void sum_squares_kernel(double* out, const float* x, size_t n) {
  double acc = 0;
  GRID_STRIDE(i, n) acc += static_cast<double>(x[i]) * x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) atomicAdd(out, acc);
}

__global__ void embedding_forward_kernel(float* out, const float* table, const int32_t* ids, int n, int width) {
  GRID_STRIDE(i, static_cast<size_t>(n) * width) {
    const size_t row = i / width, col = i % width;
    out[i] = table[static_cast<size_t>(ids[row]) * width + col];
  }
}
__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* ids, int n, int width) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= width) return;
  for (int i = 0; i < n; i++) dtable[static_cast<size_t>(ids[i]) * width + j] += dout[static_cast<size_t>(i) * width + j];
}

// One block per row.
__global__ void rmsnorm_forward_kernel(float* y, float* rstd, const float* x, const float* w, int width, float eps,
                                       bool one_plus_w) {
  const size_t row = blockIdx.x;
  const float* xi = x + row * width;
  float* yi = y + row * width;
  float ss = 0;
  for (int j = threadIdx.x; j < width; j += blockDim.x) ss += xi[j] * xi[j];
  ss = block_sum(ss);
  const float r = math::rms_rstd(ss, width, eps);
  if (rstd && threadIdx.x == 0) rstd[row] = r;
  for (int j = threadIdx.x; j < width; j += blockDim.x) yi[j] = math::rms_out(xi[j], r, w[j], one_plus_w);
}
__global__ void rmsnorm_backward_dx_kernel(float* dx, const float* dy, const float* x, const float* rstd, const float* w,
                                           int width, bool one_plus_w) {
  const size_t row = blockIdx.x;
  const float* xi = x + row * width;
  const float* gi = dy + row * width;
  float* dxi = dx + row * width;
  const float r = rstd[row];
  float dot = 0;
  for (int j = threadIdx.x; j < width; j += blockDim.x) dot += gi[j] * math::rms_weight(w[j], one_plus_w) * xi[j];
  dot = block_sum(dot);
  const float c = dot * r * r * r / width;
  for (int j = threadIdx.x; j < width; j += blockDim.x) dxi[j] += math::rms_dx(gi[j], xi[j], r, w[j], one_plus_w, c);
}
__global__ void rmsnorm_backward_dw_kernel(float* dw, const float* dy, const float* x, const float* rstd, int n,
                                           int width) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= width) return;
  float acc = dw[j];
  for (int i = 0; i < n; i++) acc += dy[static_cast<size_t>(i) * width + j] * x[static_cast<size_t>(i) * width + j] * rstd[i];
  dw[j] = acc;
}

// One thread per (token, head, i < half).
__global__ void rope_kernel(float* out, const float* in, const float* cos, const float* sin, int n, int heads,
                            int head_dim, bool backward) {
  const int half = head_dim / 2;
  GRID_STRIDE(idx, static_cast<size_t>(n) * heads * half) {
    const size_t i = idx % half, th = idx / half, t = th / heads;
    const float c = cos[t * half + i], s = sin[t * half + i];
    const float* a = in + th * head_dim;
    float* o = out + th * head_dim;
    if (!backward) {
      math::rope_pair(a[i], a[i + half], c, s, o[i], o[i + half]);
    } else {
      float da, db;
      math::rope_pair_grad(a[i], a[i + half], c, s, da, db);
      o[i] += da;
      o[i + half] += db;
    }
  }
}

__global__ void gated_act_forward_kernel(float* out, const float* gate, const float* up, size_t n, int act) {
  GRID_STRIDE(i, n) out[i] = math::act(gate[i], act) * up[i];
}
__global__ void gated_act_backward_kernel(float* dgate, float* dup, const float* dout, const float* gate,
                                          const float* up, size_t n, int act) {
  GRID_STRIDE(i, n) {
    float dg, du;
    math::gated_act_grad(dout[i], gate[i], up[i], act, dg, du);
    dgate[i] = dg;
    dup[i] = du;
  }
}
__global__ void softcap_forward_kernel(float* x, float cap, size_t n) {
  GRID_STRIDE(i, n) x[i] = math::softcap(x[i], cap);
}
__global__ void softcap_backward_kernel(float* dx, const float* y, float cap, size_t n) {
  GRID_STRIDE(i, n) dx[i] *= math::softcap_grad_from_output(y[i], cap);
}
__global__ void dropout_kernel(float* m, size_t n, float p, float keep_scale, uint64_t seed) {
  GRID_STRIDE(i, n) m[i] = math::dropout_value(seed, i, p, keep_scale);
}
__global__ void pack_bf16_kernel(uint16_t* dst, const float* src, int rows, int cols, int64_t ld) {
  GRID_STRIDE(i, static_cast<size_t>(rows) * cols) dst[i] = math::bf16_bits(src[(i / cols) * ld + i % cols]);
}
__global__ void widen_bf16_kernel(float* dst, const uint16_t* src, size_t n) {
  GRID_STRIDE(i, n) dst[i] = math::bf16_to_float(src[i]);
}
__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, size_t n, math::AdamWScalars s) {
  GRID_STRIDE(i, n) {
    float pi = p[i], mi = m[i], vi = v[i];
    math::adamw_element(s, g[i], pi, mi, vi);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

int row_threads(int width) { return width >= 1024 ? 1024 : width >= 256 ? 256 : 128; }

}  // namespace

void k_scale_in_place(cudaStream_t st, float* c, int m, int n, int ldc, float beta) {
  scale_matrix_kernel<<<blocks_for(static_cast<size_t>(m) * n), kThreads, 0, st>>>(c, m, n, ldc, beta);
  check_launch("scale");
}
void k_axpy(cudaStream_t st, float* y, const float* x, float alpha, size_t n) {
  if (!n) return;
  axpy_kernel<<<blocks_for(n), kThreads, 0, st>>>(y, x, alpha, n);
  check_launch("axpy");
}
void k_scale(cudaStream_t st, float* y, float alpha, size_t n) {
  if (!n) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, st>>>(y, alpha, n);
  check_launch("scale");
}
void k_multiply(cudaStream_t st, float* y, const float* x, const float* m, size_t n) {
  if (!n) return;
  multiply_kernel<<<blocks_for(n), kThreads, 0, st>>>(y, x, m, n);
  check_launch("multiply");
}
void k_add_row_vector(cudaStream_t st, float* y, const float* v, int rows, int width) {
  if (!rows || !width) return;
  add_row_vector_kernel<<<blocks_for(static_cast<size_t>(rows) * width), kThreads, 0, st>>>(y, v, rows, width);
  check_launch("add_row_vector");
}
void k_sum_rows(cudaStream_t st, float* dv, const float* dy, int rows, int width) {
  if (!width) return;
  sum_rows_kernel<<<blocks_for(width, 128), 128, 0, st>>>(dv, dy, rows, width);
  check_launch("sum_rows");
}
void k_sum_squares(cudaStream_t st, double* out, const float* x, size_t n) {
  if (!n) return;
  sum_squares_kernel<<<blocks_for(n) < 1024 ? blocks_for(n) : 1024, kThreads, 0, st>>>(out, x, n);
  check_launch("sum_squares");
}
void k_embedding_forward(cudaStream_t st, float* out, const float* table, const int32_t* ids, int n, int width) {
  if (!n) return;
  embedding_forward_kernel<<<blocks_for(static_cast<size_t>(n) * width), kThreads, 0, st>>>(out, table, ids, n, width);
  check_launch("embedding_forward");
}
void k_embedding_backward(cudaStream_t st, float* dtable, const float* dout, const int32_t* ids, int n, int width) {
  if (!n) return;
  embedding_backward_kernel<<<blocks_for(width, 128), 128, 0, st>>>(dtable, dout, ids, n, width);
  check_launch("embedding_backward");
}
void k_rmsnorm_forward(cudaStream_t st, float* y, float* rstd, const float* x, const float* w, int n, int width,
                       float eps, bool one_plus_w) {
  if (!n) return;
  rmsnorm_forward_kernel<<<n, row_threads(width), 0, st>>>(y, rstd, x, w, width, eps, one_plus_w);
  check_launch("rmsnorm_forward");
}
void k_rmsnorm_backward(cudaStream_t st, float* dx, float* dw, const float* dy, const float* x, const float* rstd,
                        const float* w, int n, int width, bool one_plus_w) {
  if (!n) return;
  rmsnorm_backward_dx_kernel<<<n, row_threads(width), 0, st>>>(dx, dy, x, rstd, w, width, one_plus_w);
  check_launch("rmsnorm_backward");
  if (dw) {
    rmsnorm_backward_dw_kernel<<<blocks_for(width, 128), 128, 0, st>>>(dw, dy, x, rstd, n, width);
    check_launch("rmsnorm_backward dw");
  }
}
void k_rope_forward(cudaStream_t st, float* y, const float* x, const float* cos, const float* sin, int n, int heads,
                    int head_dim) {
  if (!n) return;
  rope_kernel<<<blocks_for(static_cast<size_t>(n) * heads * (head_dim / 2)), kThreads, 0, st>>>(y, x, cos, sin, n, heads,
                                                                                              head_dim, false);
  check_launch("rope_forward");
}
void k_rope_backward(cudaStream_t st, float* dx, const float* dy, const float* cos, const float* sin, int n,
                     int heads, int head_dim) {
  if (!n) return;
  rope_kernel<<<blocks_for(static_cast<size_t>(n) * heads * (head_dim / 2)), kThreads, 0, st>>>(dx, dy, cos, sin, n,
                                                                                              heads, head_dim, true);
  check_launch("rope_backward");
}
void k_gated_act_forward(cudaStream_t st, float* out, const float* gate, const float* up, size_t n, int act) {
  if (!n) return;
  gated_act_forward_kernel<<<blocks_for(n), kThreads, 0, st>>>(out, gate, up, n, act);
  check_launch("gated_act_forward");
}
void k_gated_act_backward(cudaStream_t st, float* dgate, float* dup, const float* dout, const float* gate,
                          const float* up, size_t n, int act) {
  if (!n) return;
  gated_act_backward_kernel<<<blocks_for(n), kThreads, 0, st>>>(dgate, dup, dout, gate, up, n, act);
  check_launch("gated_act_backward");
}
void k_softcap_forward(cudaStream_t st, float* x, float cap, size_t n) {
  if (!n) return;
  softcap_forward_kernel<<<blocks_for(n), kThreads, 0, st>>>(x, cap, n);
  check_launch("softcap_forward");
}
void k_softcap_backward(cudaStream_t st, float* dx, const float* y, float cap, size_t n) {
  if (!n) return;
  softcap_backward_kernel<<<blocks_for(n), kThreads, 0, st>>>(dx, y, cap, n);
  check_launch("softcap_backward");
}
void k_dropout_mask(cudaStream_t st, float* m, size_t n, float p, uint64_t seed) {
  if (!n) return;
  dropout_kernel<<<blocks_for(n), kThreads, 0, st>>>(m, n, p, 1.0f / (1.0f - p), seed);
  check_launch("dropout_mask");
}
void k_pack_bf16(cudaStream_t st, uint16_t* dst, const float* src, int rows, int cols, int64_t ld) {
  if (!rows || !cols) return;
  pack_bf16_kernel<<<blocks_for(static_cast<size_t>(rows) * cols), kThreads, 0, st>>>(dst, src, rows, cols, ld);
  check_launch("pack_bf16");
}
void k_widen_bf16(cudaStream_t st, float* dst, const uint16_t* src, size_t n) {
  if (!n) return;
  widen_bf16_kernel<<<blocks_for(n), kThreads, 0, st>>>(dst, src, n);
  check_launch("widen_bf16");
}
void k_adamw(cudaStream_t st, float* p, const float* g, float* m, float* v, size_t n, const math::AdamWScalars& s) {
  if (!n) return;
  adamw_kernel<<<blocks_for(n), kThreads, 0, st>>>(p, g, m, v, n, s);
  check_launch("adamw");
}

}  // namespace soo::cuda

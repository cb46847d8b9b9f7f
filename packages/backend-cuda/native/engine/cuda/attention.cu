// Causal self-attention on the GPU, the same math as cpu/attention.cpp (transformers' eager attention):
//   scores = scale Q K^T -> soft-cap (Gemma-2) -> mask (causal, key padding, sliding window) -> softmax -> P V
// with GQA (query head h reads kv head h / (nH / nKv)) and HF's uniform 1/S row for a query that sees no key.
// probs [B, nH, T, S] is materialised because backward (and the device API) needs it.
//
// The products run in one batched, tiled fp32 kernel (bgemm below) whose batch index is (row b, head x)
// and which can sum over an inner index j (the query heads of one kv group, so dK and dV accumulate
// without atomics and in a fixed order). The row-wise parts (soft-cap, mask, softmax, its backward) run
// one block per (b, h, t) row. Mask and soft-cap formulas: ../kernel_math.h (shared with the CPU path).
#include "attention_plan.h"
#include "common.cuh"

namespace soo::cuda {
namespace {

constexpr int kTile = 32;
constexpr int kRowsPerThread = 4;  // block (32, 8): each thread computes 4 rows of one column

/** The products of attention_plan.h: 32 x 32 tiles of C, fp32 FMAs from shared memory. */
template <bool TA, bool TB>
__global__ void bgemm_kernel(BatchedGemm g) {
  __shared__ float As[kTile][kTile + 1];
  __shared__ float Bs[kTile][kTile + 1];
  const int z = g.z0 + static_cast<int>(blockIdx.z), b = z / g.X, x = z % g.X;
  const int row0 = blockIdx.y * kTile, col0 = blockIdx.x * kTile;
  const int tx = threadIdx.x, ty = threadIdx.y;
  float acc[kRowsPerThread] = {0, 0, 0, 0};
  for (int j = 0; j < g.J; j++) {
    const float* A = g.A + b * g.a_b + (x / g.a_div) * g.a_x + j * g.a_j;
    const float* B = g.B + b * g.b_b + (x / g.b_div) * g.b_x + j * g.b_j;
    for (int k0 = 0; k0 < g.K; k0 += kTile) {
      // As[r][c] = opA(row0 + r, k0 + c); Bs[r][c] = opB(k0 + r, col0 + c)
      for (int rr = ty; rr < kTile; rr += blockDim.y) {
        if (TA) {  // coalesced along i
          const int i = row0 + tx, k = k0 + rr;
          As[tx][rr] = (i < g.M && k < g.K) ? A[static_cast<int64_t>(k) * g.lda + i] : 0.0f;
        } else {  // coalesced along k
          const int i = row0 + rr, k = k0 + tx;
          As[rr][tx] = (i < g.M && k < g.K) ? A[static_cast<int64_t>(i) * g.lda + k] : 0.0f;
        }
        {
          float v = 0;
          if (TB) {
            const int n = col0 + rr, k = k0 + tx;  // coalesced along k
            v = (n < g.N && k < g.K) ? B[static_cast<int64_t>(n) * g.ldb + k] : 0.0f;
            Bs[tx][rr] = v;
          } else {
            const int k = k0 + rr, n = col0 + tx;
            v = (k < g.K && n < g.N) ? B[static_cast<int64_t>(k) * g.ldb + n] : 0.0f;
            Bs[rr][tx] = v;
          }
        }
      }
      __syncthreads();
#pragma unroll 8
      for (int kk = 0; kk < kTile; kk++) {
        const float bv = Bs[kk][tx];
#pragma unroll
        for (int r = 0; r < kRowsPerThread; r++) acc[r] += As[ty + r * 8][kk] * bv;
      }
      __syncthreads();
    }
  }
  float* C = g.C + b * g.c_b + x * g.c_x;
  const int n = col0 + tx;
  if (n >= g.N) return;
#pragma unroll
  for (int r = 0; r < kRowsPerThread; r++) {
    const int i = row0 + ty + r * 8;
    if (i >= g.M) continue;
    float& out = C[static_cast<int64_t>(i) * g.ldc + n];
    out = g.beta == 0.0f ? g.alpha * acc[r] : g.alpha * acc[r] + g.beta * out;
  }
}

void bgemm(cudaStream_t st, BatchedGemm g) {
  const bool ta = g.ta, tb = g.tb;
  const int batches = g.batches;
  dim3 block(kTile, 8);
  constexpr int kMaxZ = 65535;
  for (int z0 = 0; z0 < batches; z0 += kMaxZ) {
    g.z0 = z0;
    dim3 grid((g.N + kTile - 1) / kTile, (g.M + kTile - 1) / kTile, batches - z0 < kMaxZ ? batches - z0 : kMaxZ);
    if (ta && tb) bgemm_kernel<true, true><<<grid, block, 0, st>>>(g);
    else if (ta) bgemm_kernel<true, false><<<grid, block, 0, st>>>(g);
    else if (tb) bgemm_kernel<false, true><<<grid, block, 0, st>>>(g);
    else bgemm_kernel<false, false><<<grid, block, 0, st>>>(g);
    check_launch("attention bgemm");
  }
}

/** One block per score row (b, h, t): soft-cap (kept in `capped`), mask, softmax, in place in probs. */
__global__ void softmax_rows_kernel(float* probs, float* capped, const uint8_t* key_mask, int64_t key_mask_stride,
                                    AttentionShape s) {
  const int64_t row = blockIdx.x;  // (b * nH + h) * T + t
  const int t = static_cast<int>(row % s.queries);
  const int b = static_cast<int>(row / (static_cast<int64_t>(s.heads) * s.queries));
  const int S = s.keys;
  float* p = probs + row * S;
  const uint8_t* km = key_mask ? key_mask + b * key_mask_stride : nullptr;
  float mx = -INFINITY;
  int seen = 0;
  for (int j = threadIdx.x; j < S; j += blockDim.x) {
    float v = p[j];
    if (s.softcap > 0) {
      v = math::softcap(v, s.softcap);
      p[j] = v;
      if (capped) capped[row * S + j] = v;
    }
    if (math::attention_visible(s.past, s.window, t, j, km == nullptr || km[j] != 0)) {
      mx = fmaxf(mx, v);
      seen++;
    }
  }
  mx = block_max(mx);
  seen = block_sum(seen);
  if (seen == 0) {  // every key hidden: HF's uniform row
    for (int j = threadIdx.x; j < S; j += blockDim.x) p[j] = 1.0f / S;
    return;
  }
  float sum = 0;
  for (int j = threadIdx.x; j < S; j += blockDim.x) {
    const float e = math::attention_visible(s.past, s.window, t, j, km == nullptr || km[j] != 0) ? expf(p[j] - mx) : 0.0f;
    p[j] = e;
    sum += e;
  }
  sum = block_sum(sum);
  const float inv = 1.0f / sum;
  for (int j = threadIdx.x; j < S; j += blockDim.x) p[j] *= inv;
}

/** dS = P * (dP - rowsum(P * dP)), times the soft-cap derivative; dP arrives in ds. */
__global__ void softmax_backward_rows_kernel(float* ds, const float* probs, const float* capped, int S, float cap) {
  const int64_t row = blockIdx.x;
  const float* p = probs + row * S;
  float* d = ds + row * S;
  float dot = 0;
  for (int j = threadIdx.x; j < S; j += blockDim.x) dot += p[j] * d[j];
  dot = block_sum(dot);
  for (int j = threadIdx.x; j < S; j += blockDim.x) {
    float v = p[j] * (d[j] - dot);
    if (cap > 0) v *= math::softcap_grad_from_output(capped[row * S + j], cap);
    d[j] = v;
  }
}

int row_threads(int S) { return S >= 512 ? 256 : S >= 128 ? 128 : 32; }

}  // namespace

void k_attention_forward(cudaStream_t st, float* ctx, float* probs, float* capped, const float* q, const float* k,
                         const float* v, const uint8_t* key_mask, int64_t key_mask_stride, const AttentionShape& s) {
  if (s.batch == 0 || s.queries == 0) return;
  const AttentionForwardPlan p = attention_forward_plan(ctx, probs, q, k, v, s);
  bgemm(st, p.scores);
  softmax_rows_kernel<<<static_cast<unsigned>(static_cast<int64_t>(s.batch) * s.heads * s.queries), row_threads(s.keys), 0,
                        st>>>(probs, s.softcap > 0 ? capped : nullptr, key_mask, key_mask_stride, s);
  check_launch("attention softmax");
  bgemm(st, p.context);
}

void k_attention_backward(cudaStream_t st, float* dq, float* dk, float* dv, float* scratch, const float* dctx,
                          const float* probs, const float* capped, const float* q, const float* k, const float* v,
                          const AttentionShape& s) {
  if (s.batch == 0 || s.queries == 0) return;
  const AttentionBackwardPlan p = attention_backward_plan(dq, dk, dv, scratch, dctx, probs, q, k, v, s);
  bgemm(st, p.dprobs);
  bgemm(st, p.dv);
  softmax_backward_rows_kernel<<<static_cast<unsigned>(static_cast<int64_t>(s.batch) * s.heads * s.queries),
                                 row_threads(s.keys), 0, st>>>(scratch, probs, capped, s.keys, s.softcap);
  check_launch("attention softmax backward");
  bgemm(st, p.dq);
  bgemm(st, p.dk);
}

}  // namespace soo::cuda

namespace soo::cuda {

/** A plain row-major GEMM on the tiled kernel above: the fallback when cuBLASLt offers no algorithm. */
void k_gemm_simple(cudaStream_t st, bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
  BatchedGemm g = batched_gemm(m, n, k, 1, 1);
  g.ta = ta;
  g.tb = tb;
  g.A = a;
  g.lda = lda;
  g.B = b;
  g.ldb = ldb;
  g.C = c;
  g.ldc = ldc;
  g.alpha = alpha;
  g.beta = beta;
  bgemm(st, g);
}

}  // namespace soo::cuda

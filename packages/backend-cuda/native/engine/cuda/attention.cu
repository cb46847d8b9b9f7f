// Causal self-attention on the GPU, the same math as cpu/attention.cpp (transformers' eager attention):
//   scores = scale Q K^T -> soft-cap (Gemma-2) -> mask (causal, key padding, sliding window) -> softmax -> P V
// with GQA (query head h reads kv head h / (nH / nKv)) and HF's uniform 1/S row for a query that sees no key.
// probs [B, nH, T, S] is materialised because backward (and the device API) needs it.
//
// The products run in one batched, tiled fp32 kernel (bgemm below) whose batch index is (row b, head x)
// and which can sum over an inner index j (the query heads of one kv group, so dK and dV accumulate
// without atomics and in a fixed order). The row-wise parts (soft-cap, mask, softmax, its backward) run
// one block per (b, h, t) row. Mask and soft-cap formulas: ../kernel_math.h (shared with the CPU path).
#include "common.cuh"

namespace soo::cuda {
namespace {

/**
 * C[M, N] = alpha * sum_{j < J} opA(A_zj)[M, K] opB(B_zj)[K, N] + beta * C, for every batch z = b * X + x.
 * opA(A)(i, k) = TA ? A[k * lda + i] : A[i * lda + k]; opB(B)(k, n) = TB ? B[n * ldb + k] : B[k * ldb + n].
 * The x offsets of A and B are (x / a_div) * a_x and (x / b_div) * b_x (GQA maps query head to kv head).
 */
struct BatchedGemm {
  int M, N, K, X, J;
  const float* A;
  const float* B;
  float* C;
  int64_t lda, ldb, ldc;
  int64_t a_b, a_x, a_j, b_b, b_x, b_j, c_b, c_x;
  int a_div, b_div;
  float alpha, beta;
};

constexpr int kTile = 32;
constexpr int kRowsPerThread = 4;  // block (32, 8): each thread computes 4 rows of one column

template <bool TA, bool TB>
__global__ void bgemm_kernel(BatchedGemm g) {
  __shared__ float As[kTile][kTile + 1];
  __shared__ float Bs[kTile][kTile + 1];
  const int z = blockIdx.z, b = z / g.X, x = z % g.X;
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

void bgemm(cudaStream_t st, bool ta, bool tb, const BatchedGemm& g, int batches) {
  dim3 block(kTile, 8);
  dim3 grid((g.N + kTile - 1) / kTile, (g.M + kTile - 1) / kTile, batches);
  if (ta && tb) bgemm_kernel<true, true><<<grid, block, 0, st>>>(g);
  else if (ta) bgemm_kernel<true, false><<<grid, block, 0, st>>>(g);
  else if (tb) bgemm_kernel<false, true><<<grid, block, 0, st>>>(g);
  else bgemm_kernel<false, false><<<grid, block, 0, st>>>(g);
  check_launch("attention bgemm");
}

BatchedGemm base(int M, int N, int K, int X) {
  BatchedGemm g{};
  g.M = M;
  g.N = N;
  g.K = K;
  g.X = X;
  g.J = 1;
  g.a_div = g.b_div = 1;
  g.alpha = 1;
  g.beta = 0;
  return g;
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
  const int B = s.batch, T = s.queries, S = s.keys, D = s.head_dim, H = s.heads, G = s.heads / s.kv_heads;
  const int64_t q_ld = static_cast<int64_t>(H) * D, kv_ld = static_cast<int64_t>(s.kv_heads) * D;
  const int64_t TS = static_cast<int64_t>(T) * S;
  if (B == 0 || T == 0) return;
  // scores[b, h] = scale q_bh k_bg^T
  BatchedGemm g = base(T, S, D, H);
  g.A = q;
  g.lda = q_ld;
  g.a_b = s.q_batch_stride;
  g.a_x = D;
  g.B = k;
  g.ldb = kv_ld;
  g.b_b = s.kv_batch_stride;
  g.b_x = D;
  g.b_div = G;
  g.C = probs;
  g.ldc = S;
  g.c_b = H * TS;
  g.c_x = TS;
  g.alpha = s.scale;
  bgemm(st, false, true, g, B * H);
  softmax_rows_kernel<<<static_cast<unsigned>(static_cast<int64_t>(B) * H * T), row_threads(S), 0, st>>>(
      probs, s.softcap > 0 ? capped : nullptr, key_mask, key_mask_stride, s);
  check_launch("attention softmax");
  // ctx[b, h] = P v_bg
  BatchedGemm o = base(T, D, S, H);
  o.A = probs;
  o.lda = S;
  o.a_b = H * TS;
  o.a_x = TS;
  o.B = v;
  o.ldb = kv_ld;
  o.b_b = s.kv_batch_stride;
  o.b_x = D;
  o.b_div = G;
  o.C = ctx;
  o.ldc = q_ld;
  o.c_b = s.q_batch_stride;
  o.c_x = D;
  bgemm(st, false, false, o, B * H);
}

void k_attention_backward(cudaStream_t st, float* dq, float* dk, float* dv, float* scratch, const float* dctx,
                          const float* probs, const float* capped, const float* q, const float* k, const float* v,
                          const AttentionShape& s) {
  const int B = s.batch, T = s.queries, S = s.keys, D = s.head_dim, H = s.heads, KV = s.kv_heads, G = H / KV;
  const int64_t q_ld = static_cast<int64_t>(H) * D, kv_ld = static_cast<int64_t>(KV) * D;
  const int64_t TS = static_cast<int64_t>(T) * S;
  if (B == 0 || T == 0) return;
  // dP[b, h] = dctx_bh v_bg^T  (into scratch)
  BatchedGemm dp = base(T, S, D, H);
  dp.A = dctx;
  dp.lda = q_ld;
  dp.a_b = s.q_batch_stride;
  dp.a_x = D;
  dp.B = v;
  dp.ldb = kv_ld;
  dp.b_b = s.kv_batch_stride;
  dp.b_x = D;
  dp.b_div = G;
  dp.C = scratch;
  dp.ldc = S;
  dp.c_b = H * TS;
  dp.c_x = TS;
  bgemm(st, false, true, dp, B * H);
  // dV[b, g] += sum over the group's heads of P_bh^T dctx_bh
  BatchedGemm gv = base(S, D, T, KV);
  gv.J = G;
  gv.A = probs;
  gv.lda = S;
  gv.a_b = H * TS;
  gv.a_x = G * TS;
  gv.a_j = TS;
  gv.B = dctx;
  gv.ldb = q_ld;
  gv.b_b = s.q_batch_stride;
  gv.b_x = static_cast<int64_t>(G) * D;
  gv.b_j = D;
  gv.C = dv;
  gv.ldc = kv_ld;
  gv.c_b = s.kv_batch_stride;
  gv.c_x = D;
  gv.beta = 1;
  bgemm(st, true, false, gv, B * KV);
  // dS
  softmax_backward_rows_kernel<<<static_cast<unsigned>(static_cast<int64_t>(B) * H * T), row_threads(S), 0, st>>>(
      scratch, probs, capped, S, s.softcap);
  check_launch("attention softmax backward");
  // dQ[b, h] = scale dS_bh k_bg
  BatchedGemm gq = base(T, D, S, H);
  gq.A = scratch;
  gq.lda = S;
  gq.a_b = H * TS;
  gq.a_x = TS;
  gq.B = k;
  gq.ldb = kv_ld;
  gq.b_b = s.kv_batch_stride;
  gq.b_x = D;
  gq.b_div = G;
  gq.C = dq;
  gq.ldc = q_ld;
  gq.c_b = s.q_batch_stride;
  gq.c_x = D;
  gq.alpha = s.scale;
  bgemm(st, false, false, gq, B * H);
  // dK[b, g] += scale sum over the group's heads of dS_bh^T q_bh
  BatchedGemm gk = base(S, D, T, KV);
  gk.J = G;
  gk.A = scratch;
  gk.lda = S;
  gk.a_b = H * TS;
  gk.a_x = G * TS;
  gk.a_j = TS;
  gk.B = q;
  gk.ldb = q_ld;
  gk.b_b = s.q_batch_stride;
  gk.b_x = static_cast<int64_t>(G) * D;
  gk.b_j = D;
  gk.C = dk;
  gk.ldc = kv_ld;
  gk.c_b = s.kv_batch_stride;
  gk.c_x = D;
  gk.alpha = s.scale;
  gk.beta = 1;
  bgemm(st, true, false, gk, B * KV);
}

}  // namespace soo::cuda

namespace soo::cuda {

/** A plain row-major GEMM on the tiled kernel above: the fallback when cuBLASLt offers no algorithm. */
void k_gemm_simple(cudaStream_t st, bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
  BatchedGemm g = base(m, n, k, 1);
  g.A = a;
  g.lda = lda;
  g.B = b;
  g.ldb = ldb;
  g.C = c;
  g.ldc = ldc;
  g.alpha = alpha;
  g.beta = beta;
  bgemm(st, ta, tb, g, 1);
}

}  // namespace soo::cuda

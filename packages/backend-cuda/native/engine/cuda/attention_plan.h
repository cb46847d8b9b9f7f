// How the CUDA attention (attention.cu) splits into batched products: plain host code, no CUDA, so the
// CPU test program (native/tests/math_checks.cpp) runs the same plans through a host executor and
// compares them with cpu/attention.cpp. Every index of every product is decided here.
#pragma once
#include <cstdint>

#include "../device.h"

namespace soo::cuda {

/**
 * C[M, N] = alpha * sum_{j < J} opA(A_zj)[M, K] opB(B_zj)[K, N] + beta * C, for every batch z = b * X + x
 * (z < batches). opA(A)(i, k) = ta ? A[k * lda + i] : A[i * lda + k]; opB(B)(k, n) = tb ? B[n * ldb + k] :
 * B[k * ldb + n]. A_zj = A + b * a_b + (x / a_div) * a_x + j * a_j (B likewise); C_z = C + b * c_b + x * c_x.
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
  int z0;  // first batch index of one launch (grids hold at most 65535 in z)
  bool ta, tb;
  int batches;
};

inline BatchedGemm batched_gemm(int M, int N, int K, int X, int batches) {
  BatchedGemm g{};
  g.M = M;
  g.N = N;
  g.K = K;
  g.X = X;
  g.J = 1;
  g.a_div = g.b_div = 1;
  g.alpha = 1;
  g.beta = 0;
  g.batches = batches;
  return g;
}

struct AttentionForwardPlan {
  BatchedGemm scores;  // probs[b, h] = scale q_bh k_bg^T (before the row kernel)
  BatchedGemm context;  // ctx[b, h] = P_bh v_bg
};

struct AttentionBackwardPlan {
  BatchedGemm dprobs;  // scratch[b, h] = dctx_bh v_bg^T
  BatchedGemm dv;      // dv[b, g] += sum over the group's heads of P_bh^T dctx_bh
  BatchedGemm dq;      // dq[b, h] = scale dS_bh k_bg (after the row kernel turned scratch into dS)
  BatchedGemm dk;      // dk[b, g] += scale sum over the group's heads of dS_bh^T q_bh
};

inline AttentionForwardPlan attention_forward_plan(float* ctx, float* probs, const float* q, const float* k,
                                                   const float* v, const AttentionShape& s) {
  const int B = s.batch, T = s.queries, S = s.keys, D = s.head_dim, H = s.heads, G = s.heads / s.kv_heads;
  const int64_t q_ld = static_cast<int64_t>(H) * D, kv_ld = static_cast<int64_t>(s.kv_heads) * D;
  const int64_t TS = static_cast<int64_t>(T) * S;
  AttentionForwardPlan p;
  BatchedGemm& g = p.scores;
  g = batched_gemm(T, S, D, H, B * H);
  g.tb = true;
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
  BatchedGemm& o = p.context;
  o = batched_gemm(T, D, S, H, B * H);
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
  return p;
}

inline AttentionBackwardPlan attention_backward_plan(float* dq, float* dk, float* dv, float* scratch,
                                                     const float* dctx, const float* probs, const float* q,
                                                     const float* k, const float* v, const AttentionShape& s) {
  const int B = s.batch, T = s.queries, S = s.keys, D = s.head_dim, H = s.heads, KV = s.kv_heads, G = H / KV;
  const int64_t q_ld = static_cast<int64_t>(H) * D, kv_ld = static_cast<int64_t>(KV) * D;
  const int64_t TS = static_cast<int64_t>(T) * S;
  AttentionBackwardPlan p;
  BatchedGemm& dp = p.dprobs;
  dp = batched_gemm(T, S, D, H, B * H);
  dp.tb = true;
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
  BatchedGemm& gv = p.dv;
  gv = batched_gemm(S, D, T, KV, B * KV);
  gv.ta = true;
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
  BatchedGemm& gq = p.dq;
  gq = batched_gemm(T, D, S, H, B * H);
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
  BatchedGemm& gk = p.dk;
  gk = batched_gemm(S, D, T, KV, B * KV);
  gk.ta = true;
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
  return p;
}

/** The reference executor of a plan's product on host memory (the CPU test program uses it). */
inline void run_batched_gemm_host(const BatchedGemm& g) {
  for (int z = 0; z < g.batches; z++) {
    const int b = z / g.X, x = z % g.X;
    float* C = g.C + b * g.c_b + x * g.c_x;
    for (int i = 0; i < g.M; i++)
      for (int n = 0; n < g.N; n++) {
        float acc = 0;
        for (int j = 0; j < g.J; j++) {
          const float* A = g.A + b * g.a_b + (x / g.a_div) * g.a_x + j * g.a_j;
          const float* Bm = g.B + b * g.b_b + (x / g.b_div) * g.b_x + j * g.b_j;
          for (int kk = 0; kk < g.K; kk++) {
            const float av = g.ta ? A[static_cast<int64_t>(kk) * g.lda + i] : A[static_cast<int64_t>(i) * g.lda + kk];
            const float bv = g.tb ? Bm[static_cast<int64_t>(n) * g.ldb + kk] : Bm[static_cast<int64_t>(kk) * g.ldb + n];
            acc += av * bv;
          }
        }
        float& out = C[static_cast<int64_t>(i) * g.ldc + n];
        out = g.beta == 0.0f ? g.alpha * acc : g.alpha * acc + g.beta * out;
      }
  }
}

}  // namespace soo::cuda

// Eager causal self-attention (transformers' eager_attention_forward), per row b and query head h, with
// kv head h / (nH / nKv) shared by its group (GQA / MQA):
//   scores = scale * Q_bh K_bg^T                      [T, S]
//   scores = cap * tanh(scores / cap)                 (Gemma-2 soft-capping, optional)
//   scores += mask (0 visible, float32 min hidden)    causal, key padding, sliding window
//   P = softmax(scores);  ctx_bh = P V_bg
// A query whose keys are all hidden (a left-pad position) gets HF's uniform 1/S row: float32 min swamps
// every score equally. Its gradient still flows, as in torch, through the softmax into q and k.
//
// Backward (dP = dctx V^T; dS = P * (dP - rowsum(P * dP)), times the soft-cap derivative 1 - (c/cap)^2):
//   dQ = scale dS K,   dK += scale dS^T Q,   dV += P^T dctx
// Work is split over (b, kv head) groups, so the heads that share dK/dV rows run on one thread.
#include <algorithm>
#include <cmath>
#include <limits>

#include "../kernel_math.h"
#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {
namespace {

bool visible(const AttentionShape& s, const uint8_t* key_mask_row, int query, int key) {
  return math::attention_visible(s.past, s.window, query, key, key_mask_row == nullptr || key_mask_row[key] != 0);
}

}  // namespace

void attention_forward(float* ctx, float* probs, float* capped, const float* q, const float* k, const float* v,
                       const uint8_t* key_mask, int64_t key_mask_stride, const AttentionShape& s) {
  const int T = s.queries, S = s.keys, D = s.head_dim, G = s.heads / s.kv_heads;
  const int q_ld = s.heads * D, kv_ld = s.kv_heads * D;
  parallel_for(static_cast<size_t>(s.batch) * s.kv_heads, 1, [&](size_t begin, size_t end) {
    for (size_t job = begin; job < end; job++) {
      const int b = static_cast<int>(job / s.kv_heads), g = static_cast<int>(job % s.kv_heads);
      const float* kb = k + b * s.kv_batch_stride + g * D;
      const float* vb = v + b * s.kv_batch_stride + g * D;
      const uint8_t* km = key_mask ? key_mask + b * key_mask_stride : nullptr;
      for (int hh = 0; hh < G; hh++) {
        const int h = g * G + hh;
        const float* qb = q + b * s.q_batch_stride + h * D;
        float* P = probs + (static_cast<size_t>(b) * s.heads + h) * T * S;
        float* C = capped ? capped + (static_cast<size_t>(b) * s.heads + h) * T * S : nullptr;
        gemm(false, true, T, S, D, s.scale, qb, q_ld, kb, kv_ld, 0.0f, P, S);
        for (int t = 0; t < T; t++) {
          float* row = P + static_cast<size_t>(t) * S;
          if (s.softcap > 0) {
            for (int j = 0; j < S; j++) row[j] = math::softcap(row[j], s.softcap);
            if (C) std::copy(row, row + S, C + static_cast<size_t>(t) * S);
          }
          float mx = -std::numeric_limits<float>::infinity();
          int seen = 0;
          for (int j = 0; j < S; j++)
            if (visible(s, km, t, j)) {
              mx = std::max(mx, row[j]);
              seen++;
            }
          if (seen == 0) {  // every key hidden: HF's uniform row
            std::fill(row, row + S, 1.0f / S);
            continue;
          }
          float sum = 0;
          for (int j = 0; j < S; j++) {
            float e = visible(s, km, t, j) ? std::exp(row[j] - mx) : 0.0f;
            row[j] = e;
            sum += e;
          }
          const float inv = 1.0f / sum;
          for (int j = 0; j < S; j++) row[j] *= inv;
        }
        gemm(false, false, T, D, S, 1.0f, P, S, vb, kv_ld, 0.0f, ctx + b * s.q_batch_stride + h * D, q_ld);
      }
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dctx, const float* probs,
                        const float* capped, const float* q, const float* k, const float* v,
                        const AttentionShape& s) {
  const int T = s.queries, S = s.keys, D = s.head_dim, G = s.heads / s.kv_heads;
  const int q_ld = s.heads * D, kv_ld = s.kv_heads * D;
  parallel_for(static_cast<size_t>(s.batch) * s.kv_heads, 1, [&](size_t begin, size_t end) {
    for (size_t job = begin; job < end; job++) {
      const int b = static_cast<int>(job / s.kv_heads), g = static_cast<int>(job % s.kv_heads);
      const float* kb = k + b * s.kv_batch_stride + g * D;
      const float* vb = v + b * s.kv_batch_stride + g * D;
      float* dkb = dk + b * s.kv_batch_stride + g * D;
      float* dvb = dv + b * s.kv_batch_stride + g * D;
      for (int hh = 0; hh < G; hh++) {
        const int h = g * G + hh;
        const size_t off = (static_cast<size_t>(b) * s.heads + h) * T * S;
        const float* P = probs + off;
        float* dS = scratch + off;
        const float* dc = dctx + b * s.q_batch_stride + h * D;
        // dP = dctx V^T
        gemm(false, true, T, S, D, 1.0f, dc, q_ld, vb, kv_ld, 0.0f, dS, S);
        // dV += P^T dctx
        gemm(true, false, S, D, T, 1.0f, P, S, dc, q_ld, 1.0f, dvb, kv_ld);
        for (int t = 0; t < T; t++) {
          const float* p = P + static_cast<size_t>(t) * S;
          float* d = dS + static_cast<size_t>(t) * S;
          float dot = 0;
          for (int j = 0; j < S; j++) dot += p[j] * d[j];
          for (int j = 0; j < S; j++) d[j] = p[j] * (d[j] - dot);
          if (s.softcap > 0) {
            const float* c = capped + off + static_cast<size_t>(t) * S;
            for (int j = 0; j < S; j++) {
              d[j] *= math::softcap_grad_from_output(c[j], s.softcap);
            }
          }
        }
        // dQ = scale dS K ; dK += scale dS^T Q
        gemm(false, false, T, D, S, s.scale, dS, S, kb, kv_ld, 0.0f, dq + b * s.q_batch_stride + h * D, q_ld);
        gemm(true, false, S, D, T, s.scale, dS, S, q + b * s.q_batch_stride + h * D, q_ld, 1.0f, dkb, kv_ld);
      }
    }
  });
}

}  // namespace soo::cpu

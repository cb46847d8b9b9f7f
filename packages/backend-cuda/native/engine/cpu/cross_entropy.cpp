// Next-token cross-entropy and its companions on logits [n, vocab], with max-subtracted log-softmax:
//   CE_r = logsumexp(z_r) - z_r[target_r];           dCE/dz = softmax(z) - onehot(target)
//   KL_r(base || tuned) = sum_v p_v (log p_v - log q_v), q = softmax(z);   dKL/dz = q - p
// Rows with weight 0 contribute nothing (and their targets are never read).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {
namespace {

/** max and log(sum exp(z - max)) of a row, in double for the sum. */
inline void row_logsumexp(const float* z, int vocab, float& mx, double& lse) {
  mx = z[0];
  for (int j = 1; j < vocab; j++) mx = std::max(mx, z[j]);
  double sum = 0;  // float exponentials (exact to an ulp), summed in double
  for (int j = 0; j < vocab; j++) sum += std::exp(z[j] - mx);
  lse = std::log(sum);
}

}  // namespace

double cross_entropy(float* dlogits, const float* logits, const int32_t* targets, const float* weights, int n,
                     int vocab, float grad_scale) {
  std::vector<double> per_row(n, 0.0);
  parallel_for(n, 1, [&](size_t b, size_t e) {
    for (size_t r = b; r < e; r++) {
      const float w = weights[r];
      if (w == 0.0f) continue;
      const float* z = logits + r * vocab;
      float mx;
      double lse;
      row_logsumexp(z, vocab, mx, lse);
      per_row[r] = w * (lse - (z[targets[r]] - mx));
      if (dlogits) {
        float* d = dlogits + r * vocab;
        const float c = grad_scale * w;
        const float shift = static_cast<float>(mx + lse);
        for (int j = 0; j < vocab; j++) d[j] += c * std::exp(z[j] - shift);
        d[targets[r]] -= c;
      }
    }
  });
  double total = 0;
  for (double v : per_row) total += v;
  return total;
}

void log_softmax(float* out, const float* logits, int n, int vocab) {
  parallel_for(n, 1, [&](size_t b, size_t e) {
    for (size_t r = b; r < e; r++) {
      const float* z = logits + r * vocab;
      float mx;
      double lse;
      row_logsumexp(z, vocab, mx, lse);
      for (int j = 0; j < vocab; j++) out[r * vocab + j] = static_cast<float>(z[j] - mx - lse);
    }
  });
}

double kl_divergence(float* dlogits, const float* logits, const float* base_log_probs, const float* weights, int n,
                     int vocab, float grad_scale) {
  std::vector<double> per_row(n, 0.0);
  parallel_for(n, 1, [&](size_t b, size_t e) {
    for (size_t r = b; r < e; r++) {
      const float w = weights[r];
      if (w == 0.0f) continue;
      const float* z = logits + r * vocab;
      const float* lp = base_log_probs + r * vocab;
      float mx;
      double lse;
      row_logsumexp(z, vocab, mx, lse);
      double kl = 0;
      for (int j = 0; j < vocab; j++) {
        double lq = z[j] - mx - lse;
        double p = std::exp(static_cast<double>(lp[j]));
        kl += p * (lp[j] - lq);
      }
      per_row[r] = w * kl;
      if (dlogits) {
        float* d = dlogits + r * vocab;
        const float c = grad_scale * w;
        for (int j = 0; j < vocab; j++)
          d[j] += c * static_cast<float>(std::exp(z[j] - mx - lse) - std::exp(static_cast<double>(lp[j])));
      }
    }
  });
  double total = 0;
  for (double v : per_row) total += v;
  return total;
}

}  // namespace soo::cpu

// Checks of the per-element math shared by the CPU and CUDA kernels (../engine/kernel_math.h), against
// double-precision references and finite differences: CI runs the formulas the GPU runs without a GPU.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../engine/kernel_math.h"
#include "check.h"

namespace soo::test {

namespace {

double act_ref(double x, int a) {
  if (a == math::kSilu) return x / (1 + std::exp(-x));
  if (a == math::kGeluTanh) return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}

}  // namespace

void run_math_checks(Ledger& L) {
  Random rng(7);
  const std::vector<double> xs = rng.vec(257, -6, 6);
  const char* names[] = {"silu", "gelu_tanh", "gelu_erf"};
  for (int a = 0; a < 3; a++) {
    std::vector<float> got, dgot;
    std::vector<double> want, dwant;
    for (double x : xs) {
      got.push_back(math::act(static_cast<float>(x), a));
      want.push_back(act_ref(x, a));
      dgot.push_back(math::act_grad(static_cast<float>(x), a));
      const double h = 1e-5;
      dwant.push_back((act_ref(x + h, a) - act_ref(x - h, a)) / (2 * h));
      float dg, du;
      math::gated_act_grad(1.0f, static_cast<float>(x), 1.0f, a, dg, du);
      if (dg != dgot.back() && a != math::kSilu) dgot.back() = NAN;  // the fused form must agree
      if (std::fabs(dg - dgot.back()) > 1e-6f * (1 + std::fabs(dg))) dgot.back() = NAN;
      if (std::fabs(du - got.back()) > 1e-6f * (1 + std::fabs(du))) got.back() = NAN;
    }
    L.expect_below(std::string("kernel_math ") + names[a] + " value", rel_error(got, want), 1e-6);
    L.expect_below(std::string("kernel_math ") + names[a] + " derivative vs finite differences",
                   rel_error(dgot, dwant), 1e-5);
  }

  // soft-capping: value and its derivative from the output
  {
    std::vector<float> got, dgot;
    std::vector<double> want, dwant;
    const double cap = 30;
    for (double x : rng.vec(200, -90, 90)) {
      const float y = math::softcap(static_cast<float>(x), static_cast<float>(cap));
      got.push_back(y);
      want.push_back(cap * std::tanh(x / cap));
      dgot.push_back(math::softcap_grad_from_output(y, static_cast<float>(cap)));
      const double t = std::tanh(x / cap);
      dwant.push_back(1 - t * t);
    }
    L.expect_below("kernel_math softcap value", rel_error(got, want), 1e-6);
    L.expect_below("kernel_math softcap derivative", rel_error(dgot, dwant), 1e-5);
  }

  // RoPE: the pair rotation is orthogonal and rope_pair_grad is its transpose (rotate back = identity)
  {
    std::vector<float> back;
    std::vector<double> orig;
    double norm_err = 0;
    for (int i = 0; i < 100; i++) {
      const double a = rng.uniform(), b = rng.uniform(), th = rng.uniform(-10, 10);
      float ya, yb, ra, rb;
      math::rope_pair(static_cast<float>(a), static_cast<float>(b), static_cast<float>(std::cos(th)),
                      static_cast<float>(std::sin(th)), ya, yb);
      norm_err = std::max(norm_err, std::fabs(std::hypot(ya, yb) - std::hypot(a, b)));
      math::rope_pair_grad(ya, yb, static_cast<float>(std::cos(th)), static_cast<float>(std::sin(th)), ra, rb);
      back.push_back(ra);
      back.push_back(rb);
      orig.push_back(a);
      orig.push_back(b);
    }
    L.expect_below("kernel_math rope: transpose inverts the rotation", rel_error(back, orig), 1e-6);
    L.expect_below("kernel_math rope: rotation keeps the norm", norm_err, 1e-6);
  }

  // RMSNorm element formulas against a double reference, both weight styles
  for (bool one_plus : {false, true}) {
    const int H = 64;
    std::vector<double> x = rng.vec(H), w = rng.vec(H), dy = rng.vec(H);
    double ss = 0;
    float ssf = 0;
    for (int j = 0; j < H; j++) {
      ss += x[j] * x[j];
      ssf += static_cast<float>(x[j]) * static_cast<float>(x[j]);
    }
    const double eps = 1e-6, r = 1 / std::sqrt(ss / H + eps);
    const float rf = math::rms_rstd(ssf, H, static_cast<float>(eps));
    auto wt = [&](int j) { return one_plus ? 1 + w[j] : w[j]; };
    std::vector<float> y, dx;
    std::vector<double> y_ref, dx_ref;
    double dot = 0;
    float dotf = 0;
    for (int j = 0; j < H; j++) {
      dot += dy[j] * wt(j) * x[j];
      dotf += static_cast<float>(dy[j]) * math::rms_weight(static_cast<float>(w[j]), one_plus) *
              static_cast<float>(x[j]);
    }
    const float cf = dotf * rf * rf * rf / H;
    for (int j = 0; j < H; j++) {
      y.push_back(math::rms_out(static_cast<float>(x[j]), rf, static_cast<float>(w[j]), one_plus));
      y_ref.push_back(wt(j) * x[j] * r);
      dx.push_back(math::rms_dx(static_cast<float>(dy[j]), static_cast<float>(x[j]), rf, static_cast<float>(w[j]),
                                one_plus, cf));
      dx_ref.push_back(r * dy[j] * wt(j) - x[j] * dot * r * r * r / H);
    }
    const std::string tag = one_plus ? " (1 + w)" : " (w)";
    L.expect_below("kernel_math rmsnorm value" + tag, rel_error(y, y_ref), 1e-5);
    L.expect_below("kernel_math rmsnorm dx" + tag, rel_error(dx, dx_ref), 1e-5);
  }

  // AdamW: one element over 3 steps against torch's formula in double
  {
    double p = 0.5, m = 0, v = 0;
    float pf = 0.5f, mf = 0, vf = 0;
    const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
    for (int step = 1; step <= 3; step++) {
      const double g = 0.3 * step - 0.4;
      p *= 1 - lr * wd;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      p -= lr / (1 - std::pow(b1, step)) * m / (std::sqrt(v) / std::sqrt(1 - std::pow(b2, step)) + eps);
      math::adamw_element(math::adamw_scalars(lr, b1, b2, eps, wd, 1.0, step), static_cast<float>(g), pf, mf, vf);
    }
    L.expect_below("kernel_math adamw 3 steps: p", std::fabs(pf - p) / std::fabs(p), 1e-6);
    L.expect_below("kernel_math adamw 3 steps: v", std::fabs(vf - v) / std::fabs(v), 1e-5);
  }

  // attention masks: causal, window, padding, past
  L.expect("kernel_math attention_visible: causal", math::attention_visible(0, 0, 3, 3, true) &&
                                                        !math::attention_visible(0, 0, 3, 4, true));
  L.expect("kernel_math attention_visible: window 2 sees q-1..q only",
           math::attention_visible(0, 2, 5, 4, true) && !math::attention_visible(0, 2, 5, 3, true));
  L.expect("kernel_math attention_visible: past shifts the query, padding hides",
           math::attention_visible(4, 0, 0, 4, true) && !math::attention_visible(4, 0, 0, 4, false));

  // dropout: mean keep rate and exact reproducibility from (seed, i)
  {
    int kept = 0;
    for (uint64_t i = 0; i < 20000; i++) kept += math::dropout_value(42, i, 0.25f, 4.0f / 3) != 0;
    L.expect_below("kernel_math dropout keep rate 0.75", std::fabs(kept / 20000.0 - 0.75), 0.01);
    L.expect("kernel_math dropout is a function of (seed, i)",
             math::dropout_uniform(9, 1234) == math::dropout_uniform(9, 1234) &&
                 math::dropout_uniform(9, 1234) != math::dropout_uniform(10, 1234));
  }

  // bf16 rounding: round to nearest even, as __float2bfloat16_rn
  {
    auto bits = [](float x) {
      uint32_t u;
      std::memcpy(&u, &x, 4);
      return u;
    };
    const float one_plus_half_ulp = 1.0f + 1.0f / 256;  // exactly between 1 and 1 + 2^-7: ties to even (1)
    const float above = 1.0f + 1.0f / 256 + 1.0f / 65536;
    L.expect("kernel_math bf16: ties to even", math::round_bf16(one_plus_half_ulp) == 1.0f);
    L.expect("kernel_math bf16: above the tie rounds up", math::round_bf16(above) == 1.0f + 1.0f / 128);
    L.expect("kernel_math bf16: NaN stays NaN", std::isnan(math::round_bf16(NAN)));
    L.expect("kernel_math bf16: low 16 bits cleared", (bits(math::round_bf16(3.14159f)) & 0xffffu) == 0);
    double worst = 0;
    for (double x : rng.vec(1000, -1e3, 1e3))
      worst = std::max(worst, std::fabs(math::round_bf16(static_cast<float>(x)) - static_cast<float>(x)) / std::fabs(x));
    L.expect_below("kernel_math bf16: relative rounding error <= 2^-8 (unit roundoff)", worst, 1.0 / 256 + 1e-9);
  }
}

}  // namespace soo::test

// ---- the CUDA attention's plan (cuda/attention_plan.h) run on the host against cpu/attention.cpp ----
#include "../engine/cpu/kernels.h"
#include "../engine/cuda/attention_plan.h"

namespace soo::test {
namespace {

/** attention.cu's softmax_rows_kernel, one row at a time on the host. */
void host_softmax_rows(float* probs, float* capped, const uint8_t* key_mask, int64_t key_mask_stride,
                       const AttentionShape& s) {
  const int S = s.keys;
  for (int64_t row = 0; row < static_cast<int64_t>(s.batch) * s.heads * s.queries; row++) {
    const int t = static_cast<int>(row % s.queries);
    const int b = static_cast<int>(row / (static_cast<int64_t>(s.heads) * s.queries));
    float* p = probs + row * S;
    const uint8_t* km = key_mask ? key_mask + b * key_mask_stride : nullptr;
    float mx = -INFINITY;
    int seen = 0;
    for (int j = 0; j < S; j++) {
      float v = p[j];
      if (s.softcap > 0) {
        v = math::softcap(v, s.softcap);
        p[j] = v;
        if (capped) capped[row * S + j] = v;
      }
      if (math::attention_visible(s.past, s.window, t, j, km == nullptr || km[j] != 0)) {
        mx = std::max(mx, v);
        seen++;
      }
    }
    if (seen == 0) {
      for (int j = 0; j < S; j++) p[j] = 1.0f / S;
      continue;
    }
    float sum = 0;
    for (int j = 0; j < S; j++) {
      const float e = math::attention_visible(s.past, s.window, t, j, km == nullptr || km[j] != 0) ? expf(p[j] - mx) : 0.0f;
      p[j] = e;
      sum += e;
    }
    for (int j = 0; j < S; j++) p[j] /= sum;
  }
}

/** attention.cu's softmax_backward_rows_kernel on the host. */
void host_softmax_backward_rows(float* ds, const float* probs, const float* capped, int64_t rows, int S, float cap) {
  for (int64_t row = 0; row < rows; row++) {
    const float* p = probs + row * S;
    float* d = ds + row * S;
    float dot = 0;
    for (int j = 0; j < S; j++) dot += p[j] * d[j];
    for (int j = 0; j < S; j++) {
      float v = p[j] * (d[j] - dot);
      if (cap > 0) v *= math::softcap_grad_from_output(capped[row * S + j], cap);
      d[j] = v;
    }
  }
}

}  // namespace

void run_attention_plan_checks(Ledger& L) {
  Random rng(11);
  struct Case {
    const char* name;
    int B, T, past, H, KV, D, window, capacity;
    float softcap;
    bool mask;
  };
  const Case cases[] = {
      {"MHA causal", 2, 5, 0, 2, 2, 4, 0, 0, 0.0f, false},
      {"GQA 4:2, padding, soft-cap 5", 2, 6, 0, 4, 2, 8, 0, 0, 5.0f, true},
      {"GQA 4:1, sliding window 3, KV cache (past 3, capacity 12)", 3, 4, 3, 4, 1, 4, 3, 12, 0.0f, true},
  };
  for (const Case& c : cases) {
    const int S = c.past + c.T, cap = c.capacity ? c.capacity : c.T;
    AttentionShape s{c.B, c.T, S, c.past, c.H, c.KV, c.D, static_cast<int64_t>(c.T) * c.H * c.D,
                     static_cast<int64_t>(cap) * c.KV * c.D, 1.0f / std::sqrt(static_cast<float>(c.D)), c.softcap,
                     c.window};
    const size_t qn = static_cast<size_t>(c.B) * c.T * c.H * c.D, kvn = static_cast<size_t>(c.B) * cap * c.KV * c.D;
    const size_t pn = static_cast<size_t>(c.B) * c.H * c.T * S;
    auto q = to_float(rng.vec(qn)), k = to_float(rng.vec(kvn)), v = to_float(rng.vec(kvn));
    std::vector<uint8_t> mask(static_cast<size_t>(c.B) * cap, 1);
    if (c.mask)
      for (int b = 0; b < c.B; b++) mask[static_cast<size_t>(b) * cap + (b % S)] = 0;  // one hidden key per row
    const uint8_t* km = c.mask ? mask.data() : nullptr;
    // reference
    std::vector<float> ctx_ref(qn), probs_ref(pn), capped_ref(pn);
    cpu::attention_forward(ctx_ref.data(), probs_ref.data(), c.softcap > 0 ? capped_ref.data() : nullptr, q.data(),
                           k.data(), v.data(), km, cap, s);
    // the plan
    std::vector<float> ctx(qn), probs(pn), capped(pn);
    const cuda::AttentionForwardPlan fp = cuda::attention_forward_plan(ctx.data(), probs.data(), q.data(), k.data(), v.data(), s);
    cuda::run_batched_gemm_host(fp.scores);
    host_softmax_rows(probs.data(), c.softcap > 0 ? capped.data() : nullptr, km, cap, s);
    cuda::run_batched_gemm_host(fp.context);
    const std::string tag = std::string("cuda attention plan, ") + c.name;
    L.expect_below(tag + ": probs", rel_error(probs, probs_ref), 1e-5);
    L.expect_below(tag + ": context", rel_error(ctx, ctx_ref), 1e-5);
    // backward: dk, dv accumulate onto the same starting values
    auto dctx = to_float(rng.vec(qn));
    auto dk0 = to_float(rng.vec(kvn)), dv0 = to_float(rng.vec(kvn));
    std::vector<float> dq_ref(qn), dk_ref = dk0, dv_ref = dv0, scratch_ref(pn);
    cpu::attention_backward(dq_ref.data(), dk_ref.data(), dv_ref.data(), scratch_ref.data(), dctx.data(),
                            probs_ref.data(), capped_ref.data(), q.data(), k.data(), v.data(), s);
    std::vector<float> dq(qn), dk = dk0, dv = dv0, scratch(pn);
    const cuda::AttentionBackwardPlan bp = cuda::attention_backward_plan(dq.data(), dk.data(), dv.data(), scratch.data(),
                                                                         dctx.data(), probs.data(), q.data(), k.data(),
                                                                         v.data(), s);
    cuda::run_batched_gemm_host(bp.dprobs);
    cuda::run_batched_gemm_host(bp.dv);
    host_softmax_backward_rows(scratch.data(), probs.data(), capped.data(), static_cast<int64_t>(c.B) * c.H * c.T, S,
                               c.softcap);
    cuda::run_batched_gemm_host(bp.dq);
    cuda::run_batched_gemm_host(bp.dk);
    L.expect_below(tag + ": dq", rel_error(dq, dq_ref), 1e-5);
    L.expect_below(tag + ": dk", rel_error(dk, dk_ref), 1e-5);
    L.expect_below(tag + ": dv", rel_error(dv, dv_ref), 1e-5);
  }
}

}  // namespace soo::test

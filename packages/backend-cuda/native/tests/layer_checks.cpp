// Gradient checks of every layer kind: the analytic float backward of each CPU kernel against central
// finite differences of a plain double-precision reference of the same layer. Each check reduces the
// layer's output to a scalar L = sum(R * y) with a fixed random R, so dL/dy = R is the incoming gradient.
// Inputs are rounded to float first, so both sides see the same values.
#include <algorithm>
#include <cmath>
#include <functional>

#include "../engine/cpu/kernels.h"
#include "../engine/linear.h"
#include "check.h"

namespace soo::test {
namespace {

using Vec = std::vector<double>;

Vec rounded(Random& rng, size_t n, double lo = -1, double hi = 1) {
  Vec v = rng.vec(n, lo, hi);
  for (auto& x : v) x = static_cast<float>(x);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

// ---------------------------------------------------------------- GEMM (split over the pool when large)
void check_gemm(Ledger& L) {
  Random rng(12);
  struct Shape {
    int m, n, k;
  };
  // Large enough to be split by rows (first) and by columns (second); the third runs as one call.
  for (Shape s : {Shape{300, 200, 70}, Shape{40, 500, 100}, Shape{8, 8, 8}})
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        const int lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 5, ldc = s.n + 2;
        const int a_rows = ta ? s.k : s.m, b_rows = tb ? s.n : s.k;
        Vec a = rounded(rng, static_cast<size_t>(a_rows) * lda), b = rounded(rng, static_cast<size_t>(b_rows) * ldb),
            c = rounded(rng, static_cast<size_t>(s.m) * ldc);
        const float alpha = 0.75f, beta = -0.5f;
        Vec want = c;
        for (int i = 0; i < s.m; i++)
          for (int j = 0; j < s.n; j++) {
            double acc = 0;
            for (int p = 0; p < s.k; p++)
              acc += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
            want[i * ldc + j] = alpha * acc + beta * c[i * ldc + j];
          }
        auto af = to_float(a), bf = to_float(b), cf = to_float(c);
        cpu::gemm(ta, tb, s.m, s.n, s.k, alpha, af.data(), lda, bf.data(), ldb, beta, cf.data(), ldc);
        L.expect_below("gemm " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
                           (ta ? " A^T" : " A") + (tb ? " B^T" : " B") + " (strided, alpha, beta)",
                       rel_error(cf, want), 1e-6);
      }
}

// ---------------------------------------------------------------- RMSNorm
void check_rmsnorm(Ledger& L, bool one_plus_w) {
  Random rng(1);
  const int N = 3, H = 8;
  const double eps = 1e-5;
  Vec x = rounded(rng, N * H), w = rounded(rng, H, 0.5, 1.5), R = rounded(rng, N * H);
  auto forward = [&]() {
    Vec y(N * H);
    for (int i = 0; i < N; i++) {
      double ss = 0;
      for (int j = 0; j < H; j++) ss += x[i * H + j] * x[i * H + j];
      double r = 1 / std::sqrt(ss / H + eps);
      for (int j = 0; j < H; j++) y[i * H + j] = x[i * H + j] * r * (one_plus_w ? 1 + w[j] : w[j]);
    }
    return dot(y, R);
  };
  Vec fx = finite_differences(x, forward), fw = finite_differences(w, forward);
  auto xf = to_float(x), wf = to_float(w), Rf = to_float(R);
  std::vector<float> y(N * H), rstd(N), dx(N * H, 0), dw(H, 0);
  cpu::rmsnorm_forward(y.data(), rstd.data(), xf.data(), wf.data(), N, H, static_cast<float>(eps), one_plus_w);
  cpu::rmsnorm_backward(dx.data(), dw.data(), Rf.data(), xf.data(), rstd.data(), wf.data(), N, H, one_plus_w);
  std::string tag = one_plus_w ? "rmsnorm (1 + w): " : "rmsnorm: ";
  L.expect_below(tag + "dx", rel_error(dx, fx), 1e-4);
  L.expect_below(tag + "dw", rel_error(dw, fw), 1e-4);
}

// ---------------------------------------------------------------- RoPE
void check_rope(Ledger& L) {
  Random rng(2);
  const int N = 3, heads = 2, D = 8, half = D / 2;
  Vec x = rounded(rng, N * heads * D), R = rounded(rng, N * heads * D);
  std::vector<float> cos(N * half), sin(N * half);
  for (int i = 0; i < N * half; i++) {
    float a = static_cast<float>(rng.uniform(-3, 3));
    cos[i] = std::cos(a);
    sin[i] = std::sin(a);
  }
  auto forward = [&]() {
    Vec y(x.size());
    for (int t = 0; t < N; t++)
      for (int h = 0; h < heads; h++)
        for (int i = 0; i < half; i++) {
          size_t o = (t * heads + h) * D;
          double c = cos[t * half + i], s = sin[t * half + i];
          y[o + i] = x[o + i] * c - x[o + i + half] * s;
          y[o + i + half] = x[o + i + half] * c + x[o + i] * s;
        }
    return dot(y, R);
  };
  Vec fx = finite_differences(x, forward);
  auto Rf = to_float(R);
  std::vector<float> dx(x.size(), 0);
  cpu::rope_backward(dx.data(), Rf.data(), cos.data(), sin.data(), N, heads, D);
  L.expect_below("rope: dx", rel_error(dx, fx), 1e-5);
}

// ---------------------------------------------------------------- attention
struct AttnCase {
  const char* name;
  int kv_heads;
  int window;
  float softcap;
  bool right_pad;
};

void check_attention(Ledger& L, const AttnCase& c) {
  Random rng(3);
  const int B = 2, T = 5, nH = 4, nKv = c.kv_heads, D = 4, G = nH / nKv;
  const float scale = 0.7f;
  Vec q = rounded(rng, B * T * nH * D), k = rounded(rng, B * T * nKv * D), v = rounded(rng, B * T * nKv * D);
  Vec R = rounded(rng, B * T * nH * D);
  std::vector<uint8_t> mask(B * T, 1);
  if (c.right_pad) mask[1 * T + 4] = mask[1 * T + 3] = 0;  // row 1 has 3 real tokens (no query fully masked)
  auto visible = [&](int b, int t, int s) {
    return s <= t && (c.window == 0 || s > t - c.window) && mask[b * T + s] != 0;
  };
  auto forward = [&]() {
    Vec ctx(q.size(), 0);
    for (int b = 0; b < B; b++)
      for (int h = 0; h < nH; h++) {
        int g = h / G;
        for (int t = 0; t < T; t++) {
          std::vector<double> sc(T);
          double mx = -1e300;
          for (int s = 0; s < T; s++) {
            double d = 0;
            for (int i = 0; i < D; i++) d += q[((b * T + t) * nH + h) * D + i] * k[((b * T + s) * nKv + g) * D + i];
            d *= scale;
            if (c.softcap > 0) d = c.softcap * std::tanh(d / c.softcap);
            sc[s] = d;
            if (visible(b, t, s)) mx = std::max(mx, d);
          }
          double sum = 0;
          for (int s = 0; s < T; s++) sum += visible(b, t, s) ? std::exp(sc[s] - mx) : 0;
          for (int s = 0; s < T; s++) {
            double p = visible(b, t, s) ? std::exp(sc[s] - mx) / sum : 0;
            for (int i = 0; i < D; i++)
              ctx[((b * T + t) * nH + h) * D + i] += p * v[((b * T + s) * nKv + g) * D + i];
          }
        }
      }
    return dot(ctx, R);
  };
  Vec fq = finite_differences(q, forward), fk = finite_differences(k, forward), fv = finite_differences(v, forward);
  auto qf = to_float(q), kf = to_float(k), vf = to_float(v), Rf = to_float(R);
  AttentionShape s{B, T, T, 0, nH, nKv, D, static_cast<int64_t>(T) * nH * D, static_cast<int64_t>(T) * nKv * D,
                   scale, c.softcap, c.window};
  std::vector<float> ctx(q.size()), probs(B * nH * T * T), capped(probs.size()), scratch(probs.size());
  std::vector<float> dq(q.size()), dk(k.size(), 0), dv(v.size(), 0);
  cpu::attention_forward(ctx.data(), probs.data(), c.softcap > 0 ? capped.data() : nullptr, qf.data(), kf.data(),
                         vf.data(), mask.data(), T, s);
  cpu::attention_backward(dq.data(), dk.data(), dv.data(), scratch.data(), Rf.data(), probs.data(),
                          c.softcap > 0 ? capped.data() : nullptr, qf.data(), kf.data(), vf.data(), s);
  std::string tag = std::string("attention (") + c.name + "): ";
  L.expect_below(tag + "dq", rel_error(dq, fq), 1e-4);
  L.expect_below(tag + "dk", rel_error(dk, fk), 1e-4);
  L.expect_below(tag + "dv", rel_error(dv, fv), 1e-4);
}

// ---------------------------------------------------------------- gated activation
void check_gated(Ledger& L, Activation a, const char* name) {
  Random rng(4);
  const int n = 24;
  Vec g = rounded(rng, n, -3, 3), u = rounded(rng, n), R = rounded(rng, n);
  auto act = [&](double x) {
    switch (a) {
      case Activation::Silu:
        return x / (1 + std::exp(-x));
      case Activation::GeluTanh:
        return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
      case Activation::GeluErf:
        return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    }
    return 0.0;
  };
  auto forward = [&]() {
    double s = 0;
    for (int i = 0; i < n; i++) s += R[i] * act(g[i]) * u[i];
    return s;
  };
  Vec fg = finite_differences(g, forward), fu = finite_differences(u, forward);
  auto gf = to_float(g), uf = to_float(u), Rf = to_float(R);
  std::vector<float> out(n), dg(n), du(n);
  cpu::gated_act_forward(out.data(), gf.data(), uf.data(), n, a);
  cpu::gated_act_backward(dg.data(), du.data(), Rf.data(), gf.data(), uf.data(), n, a);
  Vec ref(n);
  for (int i = 0; i < n; i++) ref[i] = act(g[i]) * u[i];
  std::string tag = std::string("gated ") + name + ": ";
  L.expect_below(tag + "forward", rel_error(out, ref), 1e-6);
  L.expect_below(tag + "dgate", rel_error(dg, fg), 1e-5);
  L.expect_below(tag + "dup", rel_error(du, fu), 1e-5);
}

// ---------------------------------------------------------------- soft-capping
void check_softcap(Ledger& L) {
  Random rng(5);
  const int n = 16;
  const double cap = 2.0;
  Vec x = rounded(rng, n, -5, 5), R = rounded(rng, n);
  auto forward = [&]() {
    double s = 0;
    for (int i = 0; i < n; i++) s += R[i] * cap * std::tanh(x[i] / cap);
    return s;
  };
  Vec fx = finite_differences(x, forward);
  auto y = to_float(x);
  cpu::softcap_forward(y.data(), static_cast<float>(cap), n);
  auto dx = to_float(R);
  cpu::softcap_backward(dx.data(), y.data(), static_cast<float>(cap), n);
  L.expect_below("softcap: dx", rel_error(dx, fx), 1e-5);
}

// ---------------------------------------------------------------- embedding
void check_embedding(Ledger& L) {
  Random rng(6);
  const int V = 5, H = 3, n = 4;
  const int32_t ids[n] = {3, 1, 3, 0};
  Vec table = rounded(rng, V * H), R = rounded(rng, n * H);
  auto forward = [&]() {
    double s = 0;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < H; j++) s += R[i * H + j] * table[ids[i] * H + j];
    return s;
  };
  Vec ft = finite_differences(table, forward);
  auto Rf = to_float(R);
  std::vector<float> dt(V * H, 0);
  cpu::embedding_backward(dt.data(), Rf.data(), ids, n, H);
  L.expect_below("embedding: dtable (repeated ids)", rel_error(dt, ft), 1e-6);
}

// ---------------------------------------------------------------- objectives
Vec log_softmax_ref(const Vec& z, int n, int V) {
  Vec out(z.size());
  for (int r = 0; r < n; r++) {
    double mx = -1e300, s = 0;
    for (int j = 0; j < V; j++) mx = std::max(mx, z[r * V + j]);
    for (int j = 0; j < V; j++) s += std::exp(z[r * V + j] - mx);
    for (int j = 0; j < V; j++) out[r * V + j] = z[r * V + j] - mx - std::log(s);
  }
  return out;
}

void check_cross_entropy(Ledger& L) {
  Random rng(7);
  const int n = 3, V = 7;
  Vec z = rounded(rng, n * V, -3, 3);
  const int32_t targets[n] = {2, 6, 0};
  const float weights[n] = {0.5f, 0.0f, 1.5f};
  auto value = [&]() {
    Vec lp = log_softmax_ref(z, n, V);
    double s = 0;
    for (int r = 0; r < n; r++) s -= weights[r] * lp[r * V + targets[r]];
    return s;
  };
  Vec fz = finite_differences(z, value);
  auto zf = to_float(z);
  std::vector<float> dz(n * V, 0);
  double v = cpu::cross_entropy(dz.data(), zf.data(), targets, weights, n, V, 1.0f);
  L.expect_below("cross entropy: value", std::abs(v - value()) / value(), 1e-6);
  L.expect_below("cross entropy: dlogits", rel_error(dz, fz), 1e-5);
}

void check_kl(Ledger& L) {
  Random rng(8);
  const int n = 3, V = 6;
  Vec z = rounded(rng, n * V, -2, 2), base = rounded(rng, n * V, -2, 2);
  Vec base_lp = log_softmax_ref(base, n, V);
  const float weights[n] = {1.0f, 0.25f, 0.0f};
  auto value = [&]() {
    Vec lq = log_softmax_ref(z, n, V);
    double s = 0;
    for (int r = 0; r < n; r++)
      for (int j = 0; j < V; j++) s += weights[r] * std::exp(base_lp[r * V + j]) * (base_lp[r * V + j] - lq[r * V + j]);
    return s;
  };
  Vec fz = finite_differences(z, value);
  auto zf = to_float(z), lpf = to_float(base_lp);
  std::vector<float> dz(n * V, 0);
  double v = cpu::kl_divergence(dz.data(), zf.data(), lpf.data(), weights, n, V, 1.0f);
  L.expect_below("kl(base || tuned): value", std::abs(v - value()) / value(), 1e-5);
  L.expect_below("kl(base || tuned): dlogits", rel_error(dz, fz), 1e-5);
}

void check_soo(Ledger& L, bool pooled) {
  Random rng(9);
  const int rows = 4, T = 3, W = 5, P = rows / 2;
  Vec x = rounded(rng, rows * T * W), pw = rounded(rng, rows * T, 0, 1);
  pw[2] = 0;
  auto value = [&]() {
    double s = 0;
    if (pooled) {
      for (int p = 0; p < P; p++)
        for (int j = 0; j < W; j++) {
          double a = 0, b = 0;
          for (int t = 0; t < T; t++) {
            a += pw[p * T + t] * x[(p * T + t) * W + j];
            b += pw[(p + P) * T + t] * x[((p + P) * T + t) * W + j];
          }
          s += (a - b) * (a - b);
        }
      return s / (P * W);
    }
    for (int p = 0; p < P; p++)
      for (int i = 0; i < T * W; i++) {
        double d = x[p * T * W + i] - x[(p + P) * T * W + i];
        s += d * d;
      }
    return s / (P * T * W);
  };
  Vec fx = finite_differences(x, value);
  auto xf = to_float(x), pwf = to_float(pw);
  std::vector<float> dx(x.size(), 0);
  double v = cpu::soo_loss(dx.data(), xf.data(), pooled ? pwf.data() : nullptr, rows, T, W, 1.0f);
  std::string tag = pooled ? "soo (pooled): " : "soo (elementwise): ";
  L.expect_below(tag + "value", std::abs(v - value()) / value(), 1e-6);
  L.expect_below(tag + "dx", rel_error(dx, fx), 1e-5);
}

// ---------------------------------------------------------------- linear + LoRA (dropout)
void check_linear_lora(Ledger& L, float dropout) {
  Random rng(10);
  auto dev = make_cpu_device();
  const int N = 3, in = 5, out = 4, r = 2;
  const float scaling = 1.5f;
  Vec x = rounded(rng, N * in), W = rounded(rng, out * in), b = rounded(rng, out), A = rounded(rng, r * in),
      Bm = rounded(rng, out * r), R = rounded(rng, N * out);
  auto param = [&](const Vec& v, bool trainable) {
    Parameter p;
    p.value = Tensor(*dev, v.size());
    auto f = to_float(v);
    p.value.upload(f.data());
    p.trainable = trainable;
    return p;
  };
  Parameter pw = param(W, true), pb = param(b, true), pa = param(A, true), pB = param(Bm, true);
  Linear lin;
  lin.in = in;
  lin.out = out;
  lin.weight = &pw;
  lin.bias = &pb;
  lin.lora = LoraPair{&pa, &pB, r, scaling};
  lin.index = 3;
  auto xf = to_float(x), Rf = to_float(R);
  std::vector<float> y(N * out), dx(N * in, 0);
  LinearActs acts;
  linear_forward(*dev, lin, N, true, dropout, 42, xf.data(), y.data(), acts);
  std::vector<float> mask(N * in, 1.0f);
  if (dropout > 0) acts.mask.download(mask.data());
  Tensor s1, s2;
  linear_backward(*dev, lin, N, true, dropout, xf.data(), acts, Rf.data(), dx.data(), s1, s2);
  auto value = [&]() {
    double s = 0;
    for (int n = 0; n < N; n++)
      for (int o = 0; o < out; o++) {
        double yv = b[o];
        for (int i = 0; i < in; i++) yv += x[n * in + i] * W[o * in + i];
        for (int k = 0; k < r; k++) {
          double u = 0;
          for (int i = 0; i < in; i++) u += x[n * in + i] * mask[n * in + i] * A[k * in + i];
          yv += scaling * u * Bm[o * r + k];
        }
        s += R[n * out + o] * yv;
      }
    return s;
  };
  auto grad = [&](Parameter& p) {
    std::vector<float> g(p.size());
    p.grad.download(g.data());
    return g;
  };
  std::string tag = std::string("linear + LoRA") + (dropout > 0 ? " (dropout)" : "") + ": ";
  L.expect_below(tag + "dx", rel_error(dx, finite_differences(x, value)), 1e-5);
  L.expect_below(tag + "dW", rel_error(grad(pw), finite_differences(W, value)), 1e-5);
  L.expect_below(tag + "db", rel_error(grad(pb), finite_differences(b, value)), 1e-5);
  L.expect_below(tag + "dA", rel_error(grad(pa), finite_differences(A, value)), 1e-5);
  L.expect_below(tag + "dB", rel_error(grad(pB), finite_differences(Bm, value)), 1e-5);
}

// ---------------------------------------------------------------- AdamW and dropout masks
void check_adamw(Ledger& L) {
  Random rng(11);
  const int n = 10;
  const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1, gs = 0.5;
  Vec p = rounded(rng, n), m(n, 0), v(n, 0);
  auto pf = to_float(p);
  std::vector<float> mf(n, 0), vf(n, 0);
  for (int step = 1; step <= 3; step++) {
    Vec g = rounded(rng, n);
    auto gf = to_float(g);
    cpu::adamw(pf.data(), gf.data(), mf.data(), vf.data(), n, lr, b1, b2, eps, wd, gs, step);
    for (int i = 0; i < n; i++) {
      double gi = g[i] * gs;
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, step)) + eps;
      p[i] -= lr / (1 - std::pow(b1, step)) * m[i] / denom;
    }
  }
  L.expect_below("adamw: parameters after 3 steps (torch formulas, decoupled decay)", rel_error(pf, p), 1e-6);
  L.expect_below("adamw: exp_avg_sq", rel_error(vf, v), 1e-6);
}

void check_dropout(Ledger& L) {
  const size_t n = 200000;
  std::vector<float> a(n), b(n), c(n);
  cpu::dropout_mask(a.data(), n, 0.25f, 7);
  cpu::dropout_mask(b.data(), n, 0.25f, 7);
  cpu::dropout_mask(c.data(), n, 0.25f, 8);
  size_t kept = std::count_if(a.begin(), a.end(), [](float x) { return x != 0; });
  L.expect("dropout: same seed, same mask", a == b);
  L.expect("dropout: another seed, another mask", a != c);
  L.expect_below("dropout: kept fraction ~ 1 - p", std::abs(static_cast<double>(kept) / n - 0.75) / 0.75, 1e-2);
  L.expect("dropout: kept values are 1 / (1 - p)", std::abs(*std::max_element(a.begin(), a.end()) - 1 / 0.75f) < 1e-6);
}

}  // namespace

void run_layer_checks(Ledger& L) {
  check_gemm(L);
  check_rmsnorm(L, false);
  check_rmsnorm(L, true);
  check_rope(L);
  check_attention(L, {"causal, GQA 4/2", 2, 0, 0.0f, false});
  check_attention(L, {"key padding, MQA", 1, 0, 0.0f, true});
  check_attention(L, {"sliding window 2", 2, 2, 0.0f, false});
  check_attention(L, {"soft-capped scores", 4, 0, 1.5f, true});
  check_gated(L, Activation::Silu, "silu");
  check_gated(L, Activation::GeluTanh, "gelu_pytorch_tanh");
  check_gated(L, Activation::GeluErf, "gelu");
  check_softcap(L);
  check_embedding(L);
  check_cross_entropy(L);
  check_kl(L);
  check_soo(L, true);
  check_soo(L, false);
  check_linear_lora(L, 0.0f);
  check_linear_lora(L, 0.3f);
  check_adamw(L);
  check_dropout(L);
}

}  // namespace soo::test

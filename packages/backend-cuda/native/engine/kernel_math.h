// Per-element math shared by the CPU kernels (cpu/*.cpp, g++) and the CUDA kernels (cuda/*.cu, nvcc): one
// definition of each formula, so the CPU test programs (native/tests) check the math the GPU runs.
//
// Everything here is header-only, branch-light and takes plain floats: SOO_HD marks each function
// __host__ __device__ under nvcc and leaves it a plain inline function under a host compiler. Only
// functions both sides have are used (expf, tanhf, erff, sqrtf from <cmath>'s C names).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SOO_HD __host__ __device__ __forceinline__
#else
#define SOO_HD inline
#endif

namespace soo::math {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

/** Activation codes as device.h's Activation (0 silu, 1 gelu_tanh, 2 gelu_erf). */
enum ActCode : int { kSilu = 0, kGeluTanh = 1, kGeluErf = 2 };

// ---- gated MLP activations ----
SOO_HD float silu(float x) { return x / (1.0f + expf(-x)); }
SOO_HD float gelu_tanh(float x) { return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x))); }
SOO_HD float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * kInvSqrt2)); }

SOO_HD float act(float x, int a) {
  return a == kSilu ? silu(x) : a == kGeluTanh ? gelu_tanh(x) : gelu_erf(x);
}

SOO_HD float act_grad(float x, int a) {
  if (a == kSilu) {
    const float s = 1.0f / (1.0f + expf(-x));
    return s * (1.0f + x * (1.0f - s));
  }
  if (a == kGeluTanh) {
    const float t = tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  }
  return 0.5f * (1.0f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
}

/** dgate, dup of out = act(gate) * up; silu shares one exp between the value and its derivative. */
SOO_HD void gated_act_grad(float dout, float gate, float up, int a, float& dgate, float& dup) {
  if (a == kSilu) {
    const float s = 1.0f / (1.0f + expf(-gate));
    dgate = dout * up * (s * (1.0f + gate * (1.0f - s)));
    dup = dout * (gate * s);
    return;
  }
  dgate = dout * up * act_grad(gate, a);
  dup = dout * act(gate, a);
}

// ---- Gemma-2 soft-capping ----
SOO_HD float softcap(float x, float cap) { return cap * tanhf(x / cap); }
/** d softcap / dx from the capped output y: 1 - (y / cap)^2. */
SOO_HD float softcap_grad_from_output(float y, float cap) {
  const float u = y / cap;
  return 1.0f - u * u;
}

// ---- RoPE (HF rotate_half over each head's two halves; c, s for one token and frequency) ----
SOO_HD void rope_pair(float a, float b, float c, float s, float& ya, float& yb) {
  ya = a * c - b * s;
  yb = b * c + a * s;
}
/** The transpose: rotate by the opposite angle. */
SOO_HD void rope_pair_grad(float ga, float gb, float c, float s, float& da, float& db) {
  da = ga * c + gb * s;
  db = gb * c - ga * s;
}

// ---- RMSNorm ----
SOO_HD float rms_weight(float w, bool one_plus_w) { return one_plus_w ? 1.0f + w : w; }
SOO_HD float rms_rstd(float sum_squares, int width, float eps) { return 1.0f / sqrtf(sum_squares / width + eps); }
/** y_j = w_j (x_j r) */
SOO_HD float rms_out(float x, float r, float w, bool one_plus_w) { return rms_weight(w, one_plus_w) * (x * r); }
/** dx_j = r g_j w_j - x_j c with c = r^3 / H * sum_k g_k w_k x_k */
SOO_HD float rms_dx(float dy, float x, float r, float w, bool one_plus_w, float c) {
  return r * dy * rms_weight(w, one_plus_w) - x * c;
}

// ---- LoRA dropout (counter-based: any element from (seed, i) alone) ----
SOO_HD uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
SOO_HD float dropout_uniform(uint64_t seed, uint64_t i) {
  const uint64_t r = splitmix64(seed + 0x9e3779b97f4a7c15ULL * (i + 1));
  return static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
}
SOO_HD float dropout_value(uint64_t seed, uint64_t i, float p, float keep_scale) {
  return dropout_uniform(seed, i) >= p ? keep_scale : 0.0f;
}

// ---- AdamW (torch's single-tensor path; scalars derived in double on the host, rounded once) ----
struct AdamWScalars {
  float step_size, bc2_sqrt, decay, one_minus_b1, b2, one_minus_b2, eps, grad_scale;
  bool decays;
};

inline AdamWScalars adamw_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                  double grad_scale, int64_t step) {
  AdamWScalars s;
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  s.bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, static_cast<double>(step))));
  s.step_size = static_cast<float>(lr / bc1);
  s.decay = static_cast<float>(1.0 - lr * weight_decay);
  s.one_minus_b1 = static_cast<float>(1.0 - beta1);
  s.b2 = static_cast<float>(beta2);
  s.one_minus_b2 = static_cast<float>(1.0 - beta2);
  s.eps = static_cast<float>(eps);
  s.grad_scale = static_cast<float>(grad_scale);
  s.decays = weight_decay != 0.0;
  return s;
}

/** One element: p, m, v updated in place from the gradient g. */
SOO_HD void adamw_element(const AdamWScalars& s, float g, float& p, float& m, float& v) {
  const float gi = g * s.grad_scale;
  const float pi = s.decays ? p * s.decay : p;
  const float mi = m + s.one_minus_b1 * (gi - m);
  const float vi = v * s.b2 + s.one_minus_b2 * gi * gi;
  m = mi;
  v = vi;
  const float denom = sqrtf(vi) / s.bc2_sqrt + s.eps;
  p = pi - s.step_size * (mi / denom);
}

// ---- attention masks (causal, key padding, sliding window) ----
/** Whether key `key` is visible to query `query` (absolute position past + query). */
SOO_HD bool attention_visible(int past, int window, int query, int key, bool key_real) {
  const int q_abs = past + query;
  if (key > q_abs) return false;
  if (window > 0 && key <= q_abs - window) return false;
  return key_real;
}

// ---- bf16 (round to nearest even, as __float2bfloat16_rn; NaN stays NaN) ----
SOO_HD uint16_t bf16_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
SOO_HD float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}
SOO_HD float round_bf16(float x) { return bf16_to_float(bf16_bits(x)); }

}  // namespace soo::math

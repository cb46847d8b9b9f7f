// Small helpers shared by the native test programs: deterministic random numbers, a relative-error
// measure and a pass/fail ledger that prints one line per check.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace soo::test {

/** xorshift64*: deterministic uniforms in [lo, hi). */
class Random {
 public:
  explicit Random(uint64_t seed) : s_(seed * 2685821657736338717ULL + 1) {}
  double uniform(double lo = -1, double hi = 1) {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    uint64_t r = s_ * 2685821657736338717ULL;
    return lo + (hi - lo) * static_cast<double>(r >> 11) / 9007199254740992.0;
  }
  std::vector<double> vec(size_t n, double lo = -1, double hi = 1) {
    std::vector<double> v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }

 private:
  uint64_t s_;
};

inline std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

/** ||a - b|| / max(||b||, floor). */
template <typename A, typename B>
double rel_error(const A& a, const B& b, double floor = 1e-12) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); i++) {
    double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return std::sqrt(num) / std::max(std::sqrt(den), floor);
}

struct Ledger {
  int failures = 0;
  int checks = 0;
  void expect_below(const std::string& what, double err, double tol) {
    checks++;
    bool ok = err < tol && std::isfinite(err);
    if (!ok) failures++;
    std::printf("%s %-64s rel err %.3e (< %.0e)\n", ok ? "ok  " : "FAIL", what.c_str(), err, tol);
  }
  void expect(const std::string& what, bool ok) {
    checks++;
    if (!ok) failures++;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  }
};

/**
 * Central finite differences of a double function f(params) with respect to every entry of `x`
 * (which f reads through the reference): d f / d x_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h.
 */
template <typename F>
std::vector<double> finite_differences(std::vector<double>& x, F f, double h = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); i++) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = f();
    x[i] = keep - h;
    const double down = f();
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

}  // namespace soo::test

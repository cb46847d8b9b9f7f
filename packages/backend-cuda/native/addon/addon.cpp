// The soo_native module: build facts, OpenBLAS facts, an sgemm benchmark, and the engine (InitEngine,
// engine_binding.cpp). Loaded from TypeScript by src/native-loader.ts.
#include <napi.h>

#include <cblas.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine_binding.h"

#define SOO_STR_(x) #x
#define SOO_STR(x) SOO_STR_(x)

#ifndef SOO_NATIVE_VERSION
#define SOO_NATIVE_VERSION 0.0.0
#endif
#ifndef SOO_NATIVE_SIMD
#define SOO_NATIVE_SIMD unknown
#endif

namespace {

// An integer argument in [1, max], or a JS exception naming the argument.
int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t max) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected a positive integer");
  }
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 1) || v > static_cast<double>(max) || std::floor(v) != v) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + ": expected an integer in [1, " +
                                                std::to_string(max) + "], got " +
                                                info[i].ToString().Utf8Value());
  }
  return static_cast<int64_t>(v);
}

Napi::Value BlasInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("vendor", "OpenBLAS");
  const char* config = openblas_get_config();
  const char* core = openblas_get_corename();
  o.Set("config", config ? std::string(config) : std::string());
  o.Set("corename", core ? std::string(core) : std::string());
  o.Set("numThreads", openblas_get_num_threads());
  o.Set("numProcs", openblas_get_num_procs());
  // 0: sequential, 1: pthreads, 2: OpenMP
  o.Set("parallel", openblas_get_parallel());
  return o;
}

Napi::Value SetBlasThreads(const Napi::CallbackInfo& info) {
  const int n = static_cast<int>(IntArg(info, 0, "threads", 4096));
  openblas_set_num_threads(n);
  return Napi::Number::New(info.Env(), openblas_get_num_threads());
}

// sgemmBench(m, n, k, iters): C[m,n] = A[m,k] B[k,n] (row-major, fp32) `iters` times after one warm-up
// call; returns GFLOP/s counting 2*m*n*k FLOPs per call. Blocks the calling thread.
Napi::Value SgemmBench(const Napi::CallbackInfo& info) {
  const int64_t m = IntArg(info, 0, "m", 1 << 16);
  const int64_t n = IntArg(info, 1, "n", 1 << 16);
  const int64_t k = IntArg(info, 2, "k", 1 << 16);
  const int64_t iters = IntArg(info, 3, "iters", 1 << 20);
  const double bytes = 4.0 * (static_cast<double>(m) * k + static_cast<double>(k) * n +
                              static_cast<double>(m) * n);
  if (bytes > 8.0 * (1ull << 30)) {
    throw Napi::RangeError::New(info.Env(), "sgemmBench: matrices would take more than 8 GiB");
  }
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n)),
      c(static_cast<size_t>(m * n), 0.0f);
  uint32_t s = 0x9E3779B9u;  // xorshift32: values in [-1, 1)
  auto next = [&s]() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
  };
  for (auto& x : a) x = next();
  for (auto& x : b) x = next();
  const int M = static_cast<int>(m), N = static_cast<int>(n), K = static_cast<int>(k);
  auto call = [&]() {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a.data(), K, b.data(), N,
                0.0f, c.data(), N);
  };
  call();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) call();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double flops = 2.0 * static_cast<double>(m) * n * k * static_cast<double>(iters);
  return Napi::Number::New(info.Env(), seconds > 0 ? flops / seconds / 1e9 : 0.0);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", SOO_STR(SOO_NATIVE_VERSION));
  exports.Set("napiVersion", NAPI_VERSION);
  Napi::Object build = Napi::Object::New(env);
  build.Set("simd", SOO_STR(SOO_NATIVE_SIMD));
#if defined(__clang__)
  build.Set("compiler", std::string("clang ") + __clang_version__);
#elif defined(__GNUC__)
  build.Set("compiler", std::string("gcc ") + __VERSION__);
#else
  build.Set("compiler", "unknown");
#endif
  build.Set("cplusplus", static_cast<double>(__cplusplus));
#ifdef SOO_NATIVE_DEBUG
  build.Set("debug", true);
#else
  build.Set("debug", false);
#endif
  exports.Set("build", build);
  exports.Set("blasInfo", Napi::Function::New(env, BlasInfo, "blasInfo"));
  exports.Set("setBlasThreads", Napi::Function::New(env, SetBlasThreads, "setBlasThreads"));
  exports.Set("sgemmBench", Napi::Function::New(env, SgemmBench, "sgemmBench"));
  return InitEngine(env, exports);
}

}  // namespace

NODE_API_MODULE(soo_native, Init)

// The CUDA implementation of the Device table (../device.h), built into libsoo_cuda.so by nvcc (see
// scripts/build-native.mjs) and reached from the addon only through the C functions of cuda_abi.h.
//
// - Memory: cudaMalloc / cudaFree, counted by Device's byte counters like the CPU device.
// - One non-blocking stream for every kernel, copy and GEMM; downloads synchronise it.
// - GEMMs: cuBLASLt (loaded with dlopen, cublaslt.h), row-major through the column-major identity
//   C^T = op(B)^T op(A)^T. Mode 0 (fp32) computes in CUBLAS_COMPUTE_32F; mode 1 (bf16) in
//   CUBLAS_COMPUTE_32F_FAST_16BF: inputs rounded to bf16 inside the tensor-core GEMM, fp32 accumulation.
//   Descriptors and the heuristic's algorithm are cached per shape. Where cuBLASLt offers no algorithm
//   (or SOO_CUDA_GEMM=simple) a tiled fp32 kernel computes the product.
// - Everything else: the kernels of layers.cu, attention.cu and objectives.cu.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "../tensor.h"
#include "common.cuh"
#include "cublaslt.h"
#include "cuda_abi.h"

namespace soo::cuda {

// ---- cuBLASLt ----

const CublasLt* load_cublaslt(std::string& error) {
  static std::mutex mu;
  static CublasLt lib;
  static bool loaded = false;
  static std::string load_error;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return &lib;
  if (!load_error.empty()) {
    error = load_error;
    return nullptr;
  }
  std::vector<std::string> names;
  if (const char* forced = std::getenv("SOO_CUBLASLT")) names.push_back(forced);
  for (const char* n : {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so",
                        "/usr/local/cuda/lib64/libcublasLt.so.13", "/usr/local/cuda/lib64/libcublasLt.so.12",
                        "/usr/local/cuda/lib64/libcublasLt.so"})
    names.push_back(n);
  void* h = nullptr;
  std::string tried;
  for (const std::string& n : names) {
    h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) {
      lib.file = n;
      break;
    }
    if (tried.empty()) {
      const char* e = dlerror();
      tried = e ? e : n;
    }
  }
  if (!h) {
    load_error = "no cuBLASLt: libcublasLt.so.13 / .so.12 cannot be loaded (" + tried +
                 "); install the CUDA math libraries (libcublas, e.g. apt-get install libcublas-13-0) or set "
                 "SOO_CUBLASLT to the library file";
    error = load_error;
    return nullptr;
  }
  bool ok = true;
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
    if (!fn) {
      ok = false;
      if (load_error.empty()) load_error = std::string("no cuBLASLt: ") + lib.file + " lacks " + name;
    }
  };
  sym(lib.create, "cublasLtCreate");
  sym(lib.destroy, "cublasLtDestroy");
  sym(lib.get_version, "cublasLtGetVersion");
  sym(lib.desc_create, "cublasLtMatmulDescCreate");
  sym(lib.desc_destroy, "cublasLtMatmulDescDestroy");
  sym(lib.desc_set, "cublasLtMatmulDescSetAttribute");
  sym(lib.layout_create, "cublasLtMatrixLayoutCreate");
  sym(lib.layout_destroy, "cublasLtMatrixLayoutDestroy");
  sym(lib.pref_create, "cublasLtMatmulPreferenceCreate");
  sym(lib.pref_destroy, "cublasLtMatmulPreferenceDestroy");
  sym(lib.pref_set, "cublasLtMatmulPreferenceSetAttribute");
  sym(lib.heuristic, "cublasLtMatmulAlgoGetHeuristic");
  sym(lib.matmul, "cublasLtMatmul");
  if (!ok) {
    error = load_error;
    return nullptr;
  }
  loaded = true;
  return &lib;
}

namespace {

void lt_check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string("cuBLASLt: ") + what + " failed (status " +
                                                           std::to_string(s) + ")");
}

uint32_t alignment_of(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 4 && (v % a) != 0) a >>= 1;
  return a;
}

/** One cached GEMM plan: descriptors and the algorithm for a shape, transposes and pointer alignments. */
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t x = nullptr, y = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  bool usable = false;
};

using PlanKey = std::tuple<bool, bool, int, int, int, int, int, int, uint32_t, uint32_t, uint32_t, bool>;

class CudaDevice final : public Device {
 public:
  CudaDevice(int mode, const CublasLt* lt) : mode_(mode), lt_(lt) {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    lt_check(lt_->create(&handle_), "cublasLtCreate");
    check(cudaMalloc(&workspace_, kWorkspace), "cudaMalloc (cuBLASLt workspace)");
    const char* g = std::getenv("SOO_CUDA_GEMM");
    simple_gemm_ = g && std::strcmp(g, "simple") == 0;
  }
  ~CudaDevice() override {
    cudaStreamSynchronize(stream_);
    a16_.reset();
    w32_.reset();
    for (auto& [key, plan] : plans_) destroy(plan);
    if (scratch_) cudaFree(scratch_);
    if (workspace_) cudaFree(workspace_);
    if (handle_) lt_->destroy(handle_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  void upload(void* dst, const void* host, size_t bytes) override {
    check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_), "upload");
    // Pageable host memory: the call returns once the bytes are staged, so the caller may reuse `host`.
  }
  void download(void* host, const void* src, size_t bytes) override {
    check(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
    check(cudaStreamSynchronize(stream_), "download (synchronize)");
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
  }
  void zero(void* dst, size_t bytes) override {
    if (bytes) check(cudaMemsetAsync(dst, 0, bytes, stream_), "zero");
  }

  void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
            float beta, float* c, int ldc) override {
    if (m == 0 || n == 0) return;
    if (k == 0) {
      k_scale_in_place(stream_, c, m, n, ldc, beta);
      return;
    }
    if (!simple_gemm_) {
      Plan& p = plan(ta, tb, m, n, k, lda, ldb, ldc, a, b, c, false);
      if (p.usable) {
        lt_check(lt_->matmul(handle_, p.desc, &alpha, b, p.x, a, p.y, &beta, c, p.c, c, p.c, &p.algo, workspace_,
                             p.workspace, stream_),
                 "cublasLtMatmul");
        return;
      }
    }
    if (!simple_gemm_ && !warned_fallback_) {
      warned_fallback_ = true;
      std::fprintf(stderr,
                   "soo cuda: cuBLASLt offered no algorithm for a %s GEMM (m %d, n %d, k %d, ta %d, tb %d): the tiled "
                   "fp32 fallback runs it (slow); later fallbacks are not reported\n",
                   mode_ == 1 ? "bf16 (CUBLAS_COMPUTE_32F_FAST_16BF)" : "fp32", m, n, k, ta, tb);
    }
    k_gemm_simple(stream_, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  bool bf16_weights() const override { return mode_ == 1; }

  /**
   * C = alpha op(A) op(W) + beta C with W bf16 bits: op(A) is packed into bf16 (rounded to nearest even, as
   * CUBLAS_COMPUTE_32F_FAST_16BF would round it), then one cuBLASLt bf16 x bf16 -> fp32 product.
   */
  void gemm_bf16w(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const uint16_t* b,
                  int ldb, float beta, float* c, int ldc) override {
    if (m == 0 || n == 0) return;
    if (k == 0) {
      k_scale_in_place(stream_, c, m, n, ldc, beta);
      return;
    }
    const size_t a_count = static_cast<size_t>(m) * k;
    if (a16_.size() < a_count) a16_ = Buffer<uint16_t>(*this, a_count);
    // Packed op(A)'s buffer: !ta -> [m, k] (ld k); ta -> [k, m] (ld m).
    if (ta)
      k_pack_bf16(stream_, a16_.data(), a, k, m, lda);
    else
      k_pack_bf16(stream_, a16_.data(), a, m, k, lda);
    const int lda16 = ta ? m : k;
    if (!simple_gemm_) {
      Plan& p = plan(ta, tb, m, n, k, lda16, ldb, ldc, a16_.data(), b, c, true);
      if (p.usable) {
        lt_check(lt_->matmul(handle_, p.desc, &alpha, b, p.x, a16_.data(), p.y, &beta, c, p.c, c, p.c, &p.algo,
                             workspace_, p.workspace, stream_),
                 "cublasLtMatmul (bf16)");
        return;
      }
    }
    // Fallback: widen W (and the packed, already rounded A) to fp32 and use the tiled kernel.
    const size_t w_count = tb ? static_cast<size_t>(n - 1) * ldb + k : static_cast<size_t>(k - 1) * ldb + n;
    if (w32_.size() < w_count + a_count) w32_ = Tensor(*this, w_count + a_count);
    k_widen_bf16(stream_, w32_.data(), b, w_count);
    k_widen_bf16(stream_, w32_.data() + w_count, a16_.data(), a_count);
    k_gemm_simple(stream_, ta, tb, m, n, k, alpha, w32_.data() + w_count, lda16, w32_.data(), ldb, beta, c, ldc);
  }

  void axpy(float* y, const float* x, float alpha, size_t n) override { k_axpy(stream_, y, x, alpha, n); }
  void scale(float* y, float alpha, size_t n) override { k_scale(stream_, y, alpha, n); }
  void multiply(float* y, const float* x, const float* m, size_t n) override { k_multiply(stream_, y, x, m, n); }
  void add_row_vector(float* y, const float* v, int rows, int width) override {
    k_add_row_vector(stream_, y, v, rows, width);
  }
  void sum_rows(float* dv, const float* dy, int rows, int width) override { k_sum_rows(stream_, dv, dy, rows, width); }
  double sum_squares(const float* x, size_t n) override {
    double* d = scratch(1);
    zero(d, sizeof(double));
    k_sum_squares(stream_, d, x, n);
    double out = 0;
    download(&out, d, sizeof(double));
    return out;
  }

  void embedding_forward(float* out, const float* table, const int32_t* ids, int n, int width) override {
    k_embedding_forward(stream_, out, table, ids, n, width);
  }
  void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int n, int width) override {
    k_embedding_backward(stream_, dtable, dout, ids, n, width);
  }
  void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int n, int width, float eps,
                       bool one_plus_w) override {
    k_rmsnorm_forward(stream_, y, rstd, x, w, n, width, eps, one_plus_w);
  }
  void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* rstd, const float* w,
                        int n, int width, bool one_plus_w) override {
    k_rmsnorm_backward(stream_, dx, dw, dy, x, rstd, w, n, width, one_plus_w);
  }
  void rope_forward(float* y, const float* x, const float* cos, const float* sin, int n, int heads,
                    int head_dim) override {
    k_rope_forward(stream_, y, x, cos, sin, n, heads, head_dim);
  }
  void rope_backward(float* dx, const float* dy, const float* cos, const float* sin, int n, int heads,
                     int head_dim) override {
    k_rope_backward(stream_, dx, dy, cos, sin, n, heads, head_dim);
  }
  void attention_forward(float* ctx, float* probs, float* capped, const float* q, const float* k, const float* v,
                         const uint8_t* key_mask, int64_t key_mask_stride, const AttentionShape& s) override {
    k_attention_forward(stream_, ctx, probs, capped, q, k, v, key_mask, key_mask_stride, s);
  }
  void attention_backward(float* dq, float* dk, float* dv, float* scratch_buf, const float* dctx, const float* probs,
                          const float* capped, const float* q, const float* k, const float* v,
                          const AttentionShape& s) override {
    k_attention_backward(stream_, dq, dk, dv, scratch_buf, dctx, probs, capped, q, k, v, s);
  }
  void gated_act_forward(float* out, const float* gate, const float* up, size_t n, Activation a) override {
    k_gated_act_forward(stream_, out, gate, up, n, static_cast<int>(a));
  }
  void gated_act_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, size_t n,
                          Activation a) override {
    k_gated_act_backward(stream_, dgate, dup, dout, gate, up, n, static_cast<int>(a));
  }
  void softcap_forward(float* x, float cap, size_t n) override { k_softcap_forward(stream_, x, cap, n); }
  void softcap_backward(float* dx, const float* y, float cap, size_t n) override {
    k_softcap_backward(stream_, dx, y, cap, n);
  }
  void dropout_mask(float* m, size_t n, float p, uint64_t seed) override { k_dropout_mask(stream_, m, n, p, seed); }

  double cross_entropy(float* dlogits, const float* logits, const int32_t* targets, const float* weights, int n,
                       int vocab, float grad_scale) override {
    double* rows = scratch(n);
    k_cross_entropy(stream_, rows, dlogits, logits, targets, weights, n, vocab, grad_scale);
    return host_sum(rows, n);
  }
  void log_softmax(float* out, const float* logits, int n, int vocab) override {
    k_log_softmax(stream_, out, logits, n, vocab);
  }
  double kl_divergence(float* dlogits, const float* logits, const float* base_log_probs, const float* weights, int n,
                       int vocab, float grad_scale) override {
    double* rows = scratch(n);
    k_kl_divergence(stream_, rows, dlogits, logits, base_log_probs, weights, n, vocab, grad_scale);
    return host_sum(rows, n);
  }
  double soo_loss(float* dx, const float* x, const float* pool_weights, int rows, int tokens, int width,
                  float grad_scale) override {
    const size_t rw = static_cast<size_t>(rows) * width;
    // scratch: [total | pooled (rows * width doubles) | dy (rows * width floats, as doubles' room)]
    double* s = scratch(1 + rw + (rw + 1) / 2);
    double* total = s;
    double* pooled = s + 1;
    float* dy = reinterpret_cast<float*>(s + 1 + rw);
    k_soo_loss(stream_, total, dx, pooled, dy, x, pool_weights, rows, tokens, width, grad_scale);
    double sum = 0;
    download(&sum, total, sizeof(double));
    const int pairs = rows / 2;
    const double denom = pool_weights ? static_cast<double>(pairs) * width
                                      : static_cast<double>(pairs) * static_cast<double>(tokens) * width;
    return sum / denom;
  }

  void adamw(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2, double eps,
             double weight_decay, double grad_scale, int64_t step) override {
    k_adamw(stream_, p, g, m, v, n, math::adamw_scalars(lr, beta1, beta2, eps, weight_decay, grad_scale, step));
  }

 protected:
  void* raw_alloc(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free error so later calls work
      return nullptr;      // Device::alloc turns this into std::bad_alloc ("out of memory")
    }
    return p;
  }
  void raw_release(void* ptr) override {
    // Work queued on the stream may still read the buffer: cudaFree waits for the device.
    check(cudaFree(ptr), "cudaFree");
  }

 private:
  static constexpr size_t kWorkspace = 32u << 20;

  double* scratch(size_t doubles) {
    if (doubles > scratch_count_) {
      if (scratch_) check(cudaFree(scratch_), "cudaFree (scratch)");
      scratch_count_ = doubles < 1024 ? 1024 : doubles;
      check(cudaMalloc(&scratch_, scratch_count_ * sizeof(double)), "cudaMalloc (scratch)");
    }
    return scratch_;
  }
  double host_sum(const double* rows, int n) {
    std::vector<double> host(n);
    if (n) download(host.data(), rows, sizeof(double) * n);
    double total = 0;
    for (double v : host) total += v;
    return total;
  }

  void destroy(Plan& p) {
    if (p.desc) lt_->desc_destroy(p.desc);
    if (p.x) lt_->layout_destroy(p.x);
    if (p.y) lt_->layout_destroy(p.y);
    if (p.c) lt_->layout_destroy(p.c);
    p = Plan{};
  }

  /** bf16: A and B are bf16 bits (C stays fp32, computed in CUBLAS_COMPUTE_32F). */
  Plan& plan(bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc, const void* a, const void* b,
             const float* c, bool bf16) {
    const uint32_t al_a = alignment_of(a), al_b = alignment_of(b), al_c = alignment_of(c);
    const PlanKey key{ta, tb, m, n, k, lda, ldb, ldc, al_a, al_b, al_c, bf16};
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    Plan& p = plans_[key];
    const cublasComputeType_t compute =
        bf16 ? CUBLAS_COMPUTE_32F : mode_ == 1 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
    const cudaDataType_t in_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    lt_check(lt_->desc_create(&p.desc, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
    // Column-major: D[n, m] = opX(B) opY(A) with X = B's buffer, Y = A's buffer.
    const int32_t op_x = tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_y = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    lt_check(lt_->desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_x, sizeof(op_x)), "set TRANSA");
    lt_check(lt_->desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_y, sizeof(op_y)), "set TRANSB");
    // X: !tb -> n x k (ld ldb); tb -> k x n. Y: !ta -> k x m (ld lda); ta -> m x k. C: n x m (ld ldc).
    lt_check(lt_->layout_create(&p.x, in_type, tb ? k : n, tb ? n : k, ldb), "layout B");
    lt_check(lt_->layout_create(&p.y, in_type, ta ? m : k, ta ? k : m, lda), "layout A");
    lt_check(lt_->layout_create(&p.c, CUDA_R_32F, n, m, ldc), "layout C");
    cublasLtMatmulPreference_t pref = nullptr;
    lt_check(lt_->pref_create(&pref), "cublasLtMatmulPreferenceCreate");
    const uint64_t ws = kWorkspace;
    lt_->pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    lt_->pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_b, sizeof(al_b));
    lt_->pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_a, sizeof(al_a));
    lt_->pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof(al_c));
    lt_->pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof(al_c));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t s = lt_->heuristic(handle_, p.desc, p.x, p.y, p.c, p.c, pref, 1, &result, &found);
    lt_->pref_destroy(pref);
    if (s == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
      p.algo = result.algo;
      p.workspace = result.workspaceSize;
      p.usable = true;
    }
    return p;
  }

  int mode_;
  const CublasLt* lt_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  double* scratch_ = nullptr;
  size_t scratch_count_ = 0;
  bool simple_gemm_ = false;
  bool warned_fallback_ = false;
  Buffer<uint16_t> a16_;  // gemm_bf16w's packed A
  Tensor w32_;            // gemm_bf16w's fallback

  std::map<PlanKey, Plan> plans_;
};

void copy_reason(char* out, size_t len, const std::string& text) {
  if (!out || !len) return;
  std::snprintf(out, len, "%s", text.c_str());
}

/** Why no CUDA device can be made here ("" when one can); fills info. */
std::string probe(SooCudaInfo* info) {
  SooCudaInfo local{};
  SooCudaInfo& in = info ? *info : local;
  std::memset(&in, 0, sizeof(in));
  cudaRuntimeGetVersion(&in.runtime_version);
  // The driver library first: without it cudart can only say "insufficient driver".
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver) {
    const char* e = dlerror();
    return std::string("no NVIDIA driver: libcuda.so.1 cannot be loaded (") + (e ? e : "not found") +
           "); install the NVIDIA driver (a GPU machine) to use the cuda backend";
  }
  cudaDriverGetVersion(&in.driver_version);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorInsufficientDriver)
    return "the NVIDIA driver (CUDA " + std::to_string(in.driver_version / 1000) + "." +
           std::to_string(in.driver_version % 1000 / 10) + ") is older than this build's CUDA runtime (" +
           std::to_string(in.runtime_version / 1000) + "." + std::to_string(in.runtime_version % 1000 / 10) +
           "): update the driver, or rebuild with an older toolkit";
  if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
    cudaGetLastError();
    const char* vis = std::getenv("CUDA_VISIBLE_DEVICES");
    return std::string("no CUDA GPU: the driver is installed but reports no device") +
           (vis ? std::string(" (CUDA_VISIBLE_DEVICES=") + vis + ")" : "");
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA GPU: cudaGetDeviceCount failed: ") + cudaGetErrorName(e) + " (" +
           cudaGetErrorString(e) + ")";
  }
  in.device_count = count;
  int dev = 0;
  if (const char* pick = std::getenv("SOO_CUDA_DEVICE")) dev = std::atoi(pick);
  if (dev < 0 || dev >= count) return "SOO_CUDA_DEVICE=" + std::to_string(dev) + " is not a device (found " +
                                      std::to_string(count) + ")";
  in.device = dev;
  cudaDeviceProp prop{};
  const cudaError_t pe = cudaGetDeviceProperties(&prop, dev);
  if (pe != cudaSuccess) return std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorString(pe);
  std::snprintf(in.name, sizeof(in.name), "%s", prop.name);
  in.cc_major = prop.major;
  in.cc_minor = prop.minor;
  in.total_bytes = prop.totalGlobalMem;
  if (prop.major < 8)
    return std::string("GPU ") + prop.name + " has compute capability " + std::to_string(prop.major) + "." +
           std::to_string(prop.minor) + ": libsoo_cuda is built for sm_80 and newer (A100, H100, ...)";
  std::string lt_error;
  const CublasLt* lt = load_cublaslt(lt_error);
  if (!lt) return lt_error;
  std::snprintf(in.cublaslt, sizeof(in.cublaslt), "%s", lt->file.c_str());
  return "";
}

}  // namespace
}  // namespace soo::cuda

extern "C" {

__attribute__((visibility("default"))) int soo_cuda_abi_version(void) { return SOO_CUDA_ABI_VERSION; }

__attribute__((visibility("default"))) int soo_cuda_probe(SooCudaInfo* info, char* reason, size_t reason_len) {
  try {
    const std::string why = soo::cuda::probe(info);
    soo::cuda::copy_reason(reason, reason_len, why);
    return why.empty() ? 0 : 1;
  } catch (const std::exception& e) {
    soo::cuda::copy_reason(reason, reason_len, e.what());
    return 1;
  }
}

__attribute__((visibility("default"))) void* soo_cuda_create_device(int mode, char* reason, size_t reason_len) {
  try {
    SooCudaInfo info{};
    const std::string why = soo::cuda::probe(&info);
    if (!why.empty()) {
      soo::cuda::copy_reason(reason, reason_len, why);
      return nullptr;
    }
    soo::cuda::check(cudaSetDevice(info.device), "cudaSetDevice");
    std::string err;
    const soo::cuda::CublasLt* lt = soo::cuda::load_cublaslt(err);
    soo::Device* d = new soo::cuda::CudaDevice(mode, lt);
    return d;
  } catch (const std::exception& e) {
    soo::cuda::copy_reason(reason, reason_len, e.what());
    return nullptr;
  }
}
}

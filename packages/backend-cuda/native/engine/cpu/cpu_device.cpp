// The CPU implementation of the Device table: host memory, OpenBLAS, the kernels of this folder.
#include <cstdlib>
#include <cstring>

#include <vector>

#include "../device.h"
#include "../kernel_math.h"
#include "kernels.h"

namespace soo {
namespace {

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(bool bf16_weights) : bf16_weights_(bf16_weights) {}

  void upload(void* dst, const void* host, size_t bytes) override { std::memcpy(dst, host, bytes); }
  void download(void* host, const void* src, size_t bytes) override { std::memcpy(host, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void zero(void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }

  void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
            float beta, float* c, int ldc) override {
    cpu::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  bool bf16_weights() const override { return bf16_weights_; }
  /** The CUDA device's bf16 GEMM on the CPU (for the test programs): A rounded to bf16, B widened, fp32 sums. */
  void gemm_bf16w(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const uint16_t* b,
                  int ldb, float beta, float* c, int ldc) override {
    if (m == 0 || n == 0 || k == 0) {
      cpu::gemm(ta, tb, m, n, k, alpha, a, lda, nullptr, ldb, beta, c, ldc);
      return;
    }
    const size_t a_count = ta ? static_cast<size_t>(k - 1) * lda + m : static_cast<size_t>(m - 1) * lda + k;
    const size_t b_count = tb ? static_cast<size_t>(n - 1) * ldb + k : static_cast<size_t>(k - 1) * ldb + n;
    std::vector<float> a16(a_count), b32(b_count);
    for (size_t i = 0; i < a_count; i++) a16[i] = math::round_bf16(a[i]);
    for (size_t i = 0; i < b_count; i++) b32[i] = math::bf16_to_float(b[i]);
    cpu::gemm(ta, tb, m, n, k, alpha, a16.data(), lda, b32.data(), ldb, beta, c, ldc);
  }

  void axpy(float* y, const float* x, float alpha, size_t n) override { cpu::axpy(y, x, alpha, n); }
  void scale(float* y, float alpha, size_t n) override { cpu::scale(y, alpha, n); }
  void multiply(float* y, const float* x, const float* m, size_t n) override { cpu::multiply(y, x, m, n); }
  void add_row_vector(float* y, const float* v, int rows, int width) override {
    cpu::add_row_vector(y, v, rows, width);
  }
  void sum_rows(float* dv, const float* dy, int rows, int width) override { cpu::sum_rows(dv, dy, rows, width); }
  double sum_squares(const float* x, size_t n) override { return cpu::sum_squares(x, n); }

  void embedding_forward(float* out, const float* table, const int32_t* ids, int n, int width) override {
    cpu::embedding_forward(out, table, ids, n, width);
  }
  void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int n, int width) override {
    cpu::embedding_backward(dtable, dout, ids, n, width);
  }
  void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int n, int width, float eps,
                       bool one_plus_w) override {
    cpu::rmsnorm_forward(y, rstd, x, w, n, width, eps, one_plus_w);
  }
  void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* rstd, const float* w,
                        int n, int width, bool one_plus_w) override {
    cpu::rmsnorm_backward(dx, dw, dy, x, rstd, w, n, width, one_plus_w);
  }
  void rope_forward(float* y, const float* x, const float* cos, const float* sin, int n, int heads,
                    int head_dim) override {
    cpu::rope_forward(y, x, cos, sin, n, heads, head_dim);
  }
  void rope_backward(float* dx, const float* dy, const float* cos, const float* sin, int n, int heads,
                     int head_dim) override {
    cpu::rope_backward(dx, dy, cos, sin, n, heads, head_dim);
  }
  void attention_forward(float* ctx, float* probs, float* capped, const float* q, const float* k, const float* v,
                         const uint8_t* key_mask, int64_t key_mask_stride, const AttentionShape& s) override {
    cpu::attention_forward(ctx, probs, capped, q, k, v, key_mask, key_mask_stride, s);
  }
  void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dctx, const float* probs,
                          const float* capped, const float* q, const float* k, const float* v,
                          const AttentionShape& s) override {
    cpu::attention_backward(dq, dk, dv, scratch, dctx, probs, capped, q, k, v, s);
  }
  void gated_act_forward(float* out, const float* gate, const float* up, size_t n, Activation a) override {
    cpu::gated_act_forward(out, gate, up, n, a);
  }
  void gated_act_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                          size_t n, Activation a) override {
    cpu::gated_act_backward(dgate, dup, dout, gate, up, n, a);
  }
  void softcap_forward(float* x, float cap, size_t n) override { cpu::softcap_forward(x, cap, n); }
  void softcap_backward(float* dx, const float* y, float cap, size_t n) override {
    cpu::softcap_backward(dx, y, cap, n);
  }
  void dropout_mask(float* m, size_t n, float p, uint64_t seed) override { cpu::dropout_mask(m, n, p, seed); }
  double cross_entropy(float* dlogits, const float* logits, const int32_t* targets, const float* weights, int n,
                       int vocab, float grad_scale) override {
    return cpu::cross_entropy(dlogits, logits, targets, weights, n, vocab, grad_scale);
  }
  void log_softmax(float* out, const float* logits, int n, int vocab) override {
    cpu::log_softmax(out, logits, n, vocab);
  }
  double kl_divergence(float* dlogits, const float* logits, const float* base_log_probs, const float* weights,
                       int n, int vocab, float grad_scale) override {
    return cpu::kl_divergence(dlogits, logits, base_log_probs, weights, n, vocab, grad_scale);
  }
  double soo_loss(float* dx, const float* x, const float* pool_weights, int rows, int tokens, int width,
                  float grad_scale) override {
    return cpu::soo_loss(dx, x, pool_weights, rows, tokens, width, grad_scale);
  }
  void adamw(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2,
             double eps, double weight_decay, double grad_scale, int64_t step) override {
    cpu::adamw(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, grad_scale, step);
  }

 protected:
  void* raw_alloc(size_t bytes) override {
    // 64-byte alignment for vector loads; aligned_alloc needs a multiple of the alignment.
    return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  }
  void raw_release(void* ptr) override { std::free(ptr); }

 private:
  bool bf16_weights_;
};

}  // namespace

std::unique_ptr<Device> make_cpu_device(bool bf16_weights) { return std::make_unique<CpuDevice>(bf16_weights); }

}  // namespace soo

// The device API: the few memory operations and kernels the model orchestration (engine.cpp, forward.cpp,
// backward.cpp, ...) needs. Every float pointer a kernel takes is device memory; host arrays cross only
// through upload/download. The CPU device (cpu/cpu_device.cpp) implements it with OpenBLAS and threaded
// loops; the CUDA device (cuda/cuda_device.cu, in libsoo_cuda.so, reached through cuda_loader.cpp)
// implements the same table with cuBLASLt and CUDA kernels, and the orchestration stays as it is. Per-element
// formulas both share live in kernel_math.h.
//
// Layout conventions: matrices are row-major; activations are [N, width] with N = rows * tokens; a
// linear layer's weight is HF's [out, in].
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "errors.h"

namespace soo {

enum class Activation { Silu, GeluTanh, GeluErf };

/** Shapes and options of one attention call (see cpu/attention.cpp for the math). */
struct AttentionShape {
  int batch;        // rows B
  int queries;      // T: query positions in this call
  int keys;         // S = past + T
  int past;         // positions already cached; query t sits at absolute index past + t
  int heads;        // nH
  int kv_heads;     // nKv (nH % nKv == 0)
  int head_dim;     // D
  int64_t q_batch_stride;   // floats between rows of q / ctx (T * nH * D)
  int64_t kv_batch_stride;  // floats between rows of k / v (capacity * nKv * D)
  float scale;      // multiplies q.k
  float softcap;    // 0 = off; else scores = cap * tanh(scores / cap)
  int window;       // 0 = full causal; else key s visible to query q iff q - window < s <= q
};

class Device {
 public:
  virtual ~Device() = default;

  // ---- memory (byte counts feed memory()) ----
  // Inline, like everything in this class: libsoo_cuda.so derives from Device and must need no symbol of
  // the addon that loads it.
  void* alloc(size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = raw_alloc(bytes);
    if (!p) throw std::bad_alloc();
    current_ += bytes;
    if (current_ > peak_) peak_ = current_;
    return p;
  }
  void release(void* ptr, size_t bytes) {
    if (!ptr) return;
    raw_release(ptr);
    current_ -= bytes;
  }
  size_t current_bytes() const { return current_; }
  size_t peak_bytes() const { return peak_; }
  void reset_peak() { peak_ = current_; }

  virtual void upload(void* dst, const void* host, size_t bytes) = 0;
  virtual void download(void* host, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  virtual void zero(void* dst, size_t bytes) = 0;

  // ---- dense linear algebra ----
  /** C = alpha * op(A) op(B) + beta * C, row-major; op(X) = X^T when the flag is set. */
  virtual void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                    const float* b, int ldb, float beta, float* c, int ldc) = 0;

  // ---- frozen weights held in bf16 (the CUDA device in bf16 mode; the CPU device only when asked, for tests) ----
  /** Whether frozen linear weights are stored as bf16 bits (half the memory) and multiplied by gemm_bf16w. */
  virtual bool bf16_weights() const { return false; }
  /** As gemm with B a bf16 weight (uint16 bits, device memory); A is rounded to bf16, accumulation in fp32.
   *  Defined inline (as every virtual here): Device has no key function, so libsoo_cuda.so, which derives
   *  from it, needs no symbol of the addon (its vtable and typeinfo are emitted where used). */
  virtual void gemm_bf16w(bool, bool, int, int, int, float, const float*, int, const uint16_t*, int, float, float*,
                          int) {
    throw EngineError("this device does not hold weights in bf16");
  }

  // ---- element-wise ----
  /** y += alpha * x */
  virtual void axpy(float* y, const float* x, float alpha, size_t n) = 0;
  /** y *= alpha */
  virtual void scale(float* y, float alpha, size_t n) = 0;
  /** y = x * m (element-wise) */
  virtual void multiply(float* y, const float* x, const float* m, size_t n) = 0;
  /** y[r, :] += v for every row r (bias, intervention vectors) */
  virtual void add_row_vector(float* y, const float* v, int rows, int width) = 0;
  /** dv += sum over rows of dy (bias gradient) */
  virtual void sum_rows(float* dv, const float* dy, int rows, int width) = 0;
  /** sum of squares, accumulated in double */
  virtual double sum_squares(const float* x, size_t n) = 0;

  // ---- layers (one file each under cpu/) ----
  virtual void embedding_forward(float* out, const float* table, const int32_t* ids, int n, int width) = 0;
  virtual void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int n, int width) = 0;

  virtual void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int n, int width,
                               float eps, bool one_plus_w) = 0;
  /** dx += d/dx, dw += d/dw (dw may be null) */
  virtual void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* rstd,
                                const float* w, int n, int width, bool one_plus_w) = 0;

  /** y = rotate(x) with per-token cos/sin tables [n, head_dim/2]; heads per token = x width / head_dim. */
  virtual void rope_forward(float* y, const float* x, const float* cos, const float* sin, int n, int heads,
                            int head_dim) = 0;
  /** dx += rotate^T(dy) */
  virtual void rope_backward(float* dx, const float* dy, const float* cos, const float* sin, int n, int heads,
                             int head_dim) = 0;

  /** ctx = softmax(mask(softcap(scale q k^T))) v; probs [B, nH, T, S]; capped (nullable) keeps softcap output. */
  virtual void attention_forward(float* ctx, float* probs, float* capped, const float* q, const float* k,
                                 const float* v, const uint8_t* key_mask, int64_t key_mask_stride,
                                 const AttentionShape& s) = 0;
  /** dq = ..., dk += ..., dv += ... (dk, dv accumulate; dq overwritten). scratch: [B * nH * T * S]. */
  virtual void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dctx,
                                  const float* probs, const float* capped, const float* q, const float* k,
                                  const float* v, const AttentionShape& s) = 0;

  /** out = act(gate) * up */
  virtual void gated_act_forward(float* out, const float* gate, const float* up, size_t n, Activation a) = 0;
  /** dgate = dout * up * act'(gate), dup = dout * act(gate) (both overwritten) */
  virtual void gated_act_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                                  size_t n, Activation a) = 0;

  /** x = cap * tanh(x / cap) in place */
  virtual void softcap_forward(float* x, float cap, size_t n) = 0;
  /** dx *= 1 - (y / cap)^2, y the capped output */
  virtual void softcap_backward(float* dx, const float* y, float cap, size_t n) = 0;

  /** LoRA dropout: m[i] = keep ? 1 / (1 - p) : 0 with keep iff uniform(seed, i) >= p. */
  virtual void dropout_mask(float* m, size_t n, float p, uint64_t seed) = 0;

  // ---- objectives (each returns its value; gradients are written scaled by grad_scale) ----
  /** sum_r w_r CE(logits_r, target_r); dlogits (nullable) += grad_scale * w_r (softmax - onehot) */
  virtual double cross_entropy(float* dlogits, const float* logits, const int32_t* targets, const float* weights,
                               int n, int vocab, float grad_scale) = 0;
  /** out = log_softmax(logits) per row */
  virtual void log_softmax(float* out, const float* logits, int n, int vocab) = 0;
  /** sum_r w_r KL(base_r || softmax(logits_r)); dlogits += grad_scale * w_r (softmax - p_base) */
  virtual double kl_divergence(float* dlogits, const float* logits, const float* base_log_probs,
                               const float* weights, int n, int vocab, float grad_scale) = 0;
  /** SOO value on hook outputs [rows, T, W] (see cpu/soo_loss.cpp); dx (nullable) += grad_scale * d/dx */
  virtual double soo_loss(float* dx, const float* x, const float* pool_weights, int rows, int tokens, int width,
                          float grad_scale) = 0;

  /** torch.optim.AdamW on one tensor (single-tensor path), the gradient multiplied by grad_scale first. */
  /** Host scalars arrive in double; each derived scalar (1 - beta, lr / bias correction, ...) is computed in
   *  double and rounded to float once, as torch does with Python-float hyperparameters. */
  virtual void adamw(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                     double eps, double weight_decay, double grad_scale, int64_t step) = 0;

 protected:
  virtual void* raw_alloc(size_t bytes) = 0;
  virtual void raw_release(void* ptr) = 0;

 private:
  size_t current_ = 0;
  size_t peak_ = 0;
};

/** A CPU device (OpenBLAS + the shared thread pool) with its own byte counters. bf16_weights: hold frozen
 *  linear weights in bf16 as the CUDA device's bf16 mode does (the test programs check that path here). */
std::unique_ptr<Device> make_cpu_device(bool bf16_weights = false);

}  // namespace soo

// The CPU kernels, one file per layer kind; cpu_device.cpp routes the Device table to them.
// Signatures and semantics are those documented in ../device.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../device.h"

namespace soo::cpu {

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc);

void axpy(float* y, const float* x, float alpha, size_t n);
void scale(float* y, float alpha, size_t n);
void multiply(float* y, const float* x, const float* m, size_t n);
void add_row_vector(float* y, const float* v, int rows, int width);
void sum_rows(float* dv, const float* dy, int rows, int width);
double sum_squares(const float* x, size_t n);

void embedding_forward(float* out, const float* table, const int32_t* ids, int n, int width);
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int n, int width);

void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int n, int width, float eps,
                     bool one_plus_w);
void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* rstd, const float* w,
                      int n, int width, bool one_plus_w);

void rope_forward(float* y, const float* x, const float* cos, const float* sin, int n, int heads, int head_dim);
void rope_backward(float* dx, const float* dy, const float* cos, const float* sin, int n, int heads,
                   int head_dim);

void attention_forward(float* ctx, float* probs, float* capped, const float* q, const float* k, const float* v,
                       const uint8_t* key_mask, int64_t key_mask_stride, const AttentionShape& s);
void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dctx, const float* probs,
                        const float* capped, const float* q, const float* k, const float* v,
                        const AttentionShape& s);

void gated_act_forward(float* out, const float* gate, const float* up, size_t n, Activation a);
void gated_act_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, size_t n,
                        Activation a);

void softcap_forward(float* x, float cap, size_t n);
void softcap_backward(float* dx, const float* y, float cap, size_t n);

void dropout_mask(float* m, size_t n, float p, uint64_t seed);

double cross_entropy(float* dlogits, const float* logits, const int32_t* targets, const float* weights, int n,
                     int vocab, float grad_scale);
void log_softmax(float* out, const float* logits, int n, int vocab);
double kl_divergence(float* dlogits, const float* logits, const float* base_log_probs, const float* weights, int n,
                     int vocab, float grad_scale);
double soo_loss(float* dx, const float* x, const float* pool_weights, int rows, int tokens, int width,
                float grad_scale);

void adamw(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2, double eps,
           double weight_decay, double grad_scale, int64_t step);

}  // namespace soo::cpu

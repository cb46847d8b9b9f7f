// Linear + LoRA forward and backward (see linear.h for the math). Weights are HF's [out, in] and are read
// transposed by the GEMM: nothing is ever transposed in memory.
#include "linear.h"

namespace soo {

uint64_t dropout_module_seed(uint64_t call_seed, int module_index) {
  uint64_t z = call_seed * 0x100000001b3ULL + static_cast<uint64_t>(module_index + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void linear_forward(Device& dev, Linear& lin, int n, bool adapter, float dropout, uint64_t dropout_seed,
                    const float* x, float* y, LinearActs& acts) {
  if (lin.weight->bf16)
    dev.gemm_bf16w(false, true, n, lin.out, lin.in, 1.0f, x, lin.in, lin.weight->value_bf16.data(), lin.in, 0.0f, y,
                   lin.out);
  else
    dev.gemm(false, true, n, lin.out, lin.in, 1.0f, x, lin.in, lin.weight->value.data(), lin.in, 0.0f, y, lin.out);
  if (lin.bias) dev.add_row_vector(y, lin.bias->value.data(), n, lin.out);
  if (!lin.has_lora() || !adapter) return;
  const int r = lin.lora.rank;
  const float* xin = x;
  if (dropout > 0.0f) {
    const size_t count = static_cast<size_t>(n) * lin.in;
    acts.mask.resize(dev, count);
    acts.dropped.resize(dev, count);
    dev.dropout_mask(acts.mask.data(), count, dropout, dropout_module_seed(dropout_seed, lin.index));
    dev.multiply(acts.dropped.data(), x, acts.mask.data(), count);
    xin = acts.dropped.data();
  }
  acts.hidden.resize(dev, static_cast<size_t>(n) * r);
  dev.gemm(false, true, n, r, lin.in, 1.0f, xin, lin.in, lin.lora.a->value.data(), lin.in, 0.0f, acts.hidden.data(),
           r);
  dev.gemm(false, true, n, lin.out, r, lin.lora.scaling, acts.hidden.data(), r, lin.lora.b->value.data(), r, 1.0f, y,
           lin.out);
}

void linear_backward(Device& dev, Linear& lin, int n, bool adapter, float dropout, const float* x,
                     const LinearActs& acts, const float* dy, float* dx, Tensor& scratch_r, Tensor& scratch_in) {
  if (dx && lin.weight->bf16)
    dev.gemm_bf16w(false, false, n, lin.in, lin.out, 1.0f, dy, lin.out, lin.weight->value_bf16.data(), lin.in, 1.0f, dx,
                   lin.in);
  else if (dx)
    dev.gemm(false, false, n, lin.in, lin.out, 1.0f, dy, lin.out, lin.weight->value.data(), lin.in, 1.0f, dx, lin.in);
  if (lin.weight->trainable)
    dev.gemm(true, false, lin.out, lin.in, n, 1.0f, dy, lin.out, x, lin.in, 1.0f,
             lin.weight->grad_for_accumulation(dev), lin.in);
  if (lin.bias && lin.bias->trainable) dev.sum_rows(lin.bias->grad_for_accumulation(dev), dy, n, lin.out);
  if (!lin.has_lora() || !adapter) return;
  const int r = lin.lora.rank;
  const float s = lin.lora.scaling;
  const bool dropped = dropout > 0.0f;
  const float* xin = dropped ? acts.dropped.data() : x;
  dev.gemm(true, false, lin.out, r, n, s, dy, lin.out, acts.hidden.data(), r, 1.0f,
           lin.lora.b->grad_for_accumulation(dev), r);
  scratch_r.resize(dev, static_cast<size_t>(n) * r);
  dev.gemm(false, false, n, r, lin.out, s, dy, lin.out, lin.lora.b->value.data(), r, 0.0f, scratch_r.data(), r);
  dev.gemm(true, false, r, lin.in, n, 1.0f, scratch_r.data(), r, xin, lin.in, 1.0f,
           lin.lora.a->grad_for_accumulation(dev), lin.in);
  if (!dx) return;
  if (dropped) {
    const size_t count = static_cast<size_t>(n) * lin.in;
    scratch_in.resize(dev, count);
    dev.gemm(false, false, n, lin.in, r, 1.0f, scratch_r.data(), r, lin.lora.a->value.data(), lin.in, 0.0f,
             scratch_in.data(), lin.in);
    dev.multiply(scratch_in.data(), scratch_in.data(), acts.mask.data(), count);
    dev.axpy(dx, scratch_in.data(), 1.0f, count);
  } else {
    dev.gemm(false, false, n, lin.in, r, 1.0f, scratch_r.data(), r, lin.lora.a->value.data(), lin.in, 1.0f, dx,
             lin.in);
  }
}

}  // namespace soo

// A named tensor of the model with what training needs: the accumulated gradient (allocated on first use,
// "None" until a backward reaches it, as in torch) and AdamW's moments and step count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor.h"

namespace soo {

struct Parameter {
  std::string name;
  std::vector<int64_t> shape;
  Tensor value;
  /** A frozen weight held as bf16 bits instead of `value` (Device::bf16_weights): value stays empty. */
  Buffer<uint16_t> value_bf16;
  bool bf16 = false;
  bool trainable = false;
  /** Its values arrived (loading checks that every weight did). */
  bool loaded = false;

  Tensor grad;
  /** A backward reached this parameter since the last zero_grad (torch: grad is not None). */
  bool has_grad = false;
  Tensor exp_avg, exp_avg_sq;
  int64_t step = 0;

  size_t size() const { return bf16 ? value_bf16.size() : value.size(); }

  /** The gradient buffer to accumulate into; zeroed when this is the first contribution since zero_grad. */
  float* grad_for_accumulation(Device& dev) {
    if (grad.empty()) grad = Tensor(dev, size());
    if (!has_grad) {
      grad.zero();
      has_grad = true;
    }
    return grad.data();
  }
};

}  // namespace soo

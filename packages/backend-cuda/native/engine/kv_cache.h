// Keys (after RoPE) and values of every layer for a batch of rows, [B, capacity, kv_width] per layer, with
// the key mask [B, capacity]. Grows by doubling; decode appends one position per row.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.h"

namespace soo {

struct KvCache {
  int rows = 0;
  int capacity = 0;
  int length = 0;
  int kv_width = 0;
  std::vector<Tensor> keys, values;  // per layer
  std::vector<uint8_t> key_mask;     // host [rows, capacity]
  Buffer<uint8_t> key_mask_device;   // [rows, capacity]

  /** Make room for `extra` more positions (copying what is cached). */
  void reserve(Device& dev, int layers, int extra);
};

}  // namespace soo

// KV cache growth: reallocate at max(2 x capacity, needed) and copy each row's cached prefix.
#include "kv_cache.h"

#include <algorithm>

namespace soo {

void KvCache::reserve(Device& dev, int layers, int extra) {
  const int needed = length + extra;
  if (needed <= capacity) return;
  const int new_capacity = std::max(needed, capacity * 2);
  const size_t row_old = static_cast<size_t>(capacity) * kv_width, row_new = static_cast<size_t>(new_capacity) * kv_width;
  keys.resize(layers);
  values.resize(layers);
  for (int l = 0; l < layers; l++) {
    for (Tensor* t : {&keys[l], &values[l]}) {
      Tensor grown(dev, static_cast<size_t>(rows) * row_new);
      grown.zero();
      if (!t->empty())
        for (int b = 0; b < rows; b++)
          dev.copy(grown.data() + b * row_new, t->data() + b * row_old, sizeof(float) * length * kv_width);
      *t = std::move(grown);
    }
  }
  std::vector<uint8_t> mask(static_cast<size_t>(rows) * new_capacity, 0);
  for (int b = 0; b < rows; b++)
    std::copy(key_mask.begin() + static_cast<size_t>(b) * capacity,
              key_mask.begin() + static_cast<size_t>(b) * capacity + length, mask.begin() + static_cast<size_t>(b) * new_capacity);
  key_mask = std::move(mask);
  key_mask_device.resize(dev, key_mask.size());
  capacity = new_capacity;
}

}  // namespace soo

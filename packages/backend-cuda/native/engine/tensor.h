// An owning float buffer on a device, with its shape. Move-only; frees itself.
#pragma once
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "device.h"

namespace soo {

template <typename T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(Device& dev, size_t count) : dev_(&dev), count_(count) {
    data_ = static_cast<T*>(dev.alloc(count * sizeof(T)));
  }
  ~Buffer() { reset(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      swap(o);
    }
    return *this;
  }

  /** Make the buffer hold `count` elements (reallocating only when the size changes). */
  void resize(Device& dev, size_t count) {
    if (dev_ == &dev && count_ == count) return;
    reset();
    dev_ = &dev;
    count_ = count;
    data_ = static_cast<T*>(dev.alloc(count * sizeof(T)));
  }
  void reset() {
    if (dev_ && data_) dev_->release(data_, count_ * sizeof(T));
    data_ = nullptr;
    count_ = 0;
  }
  void zero() {
    if (data_) dev_->zero(data_, count_ * sizeof(T));
  }
  void upload(const T* host) { if (count_) dev_->upload(data_, host, count_ * sizeof(T)); }
  void download(T* host) const { if (count_) dev_->download(host, data_, count_ * sizeof(T)); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  bool empty() const { return data_ == nullptr; }

 private:
  void swap(Buffer& o) {
    std::swap(dev_, o.dev_);
    std::swap(data_, o.data_);
    std::swap(count_, o.count_);
  }
  Device* dev_ = nullptr;
  T* data_ = nullptr;
  size_t count_ = 0;
};

using Tensor = Buffer<float>;

inline size_t shape_size(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), size_t{1},
                         [](size_t a, int64_t d) { return a * static_cast<size_t>(d); });
}

}  // namespace soo

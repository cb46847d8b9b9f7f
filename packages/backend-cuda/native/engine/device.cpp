// Byte accounting shared by every device: the engine's memory() reads these counters.
#include "device.h"

#include <new>

#include "errors.h"

namespace soo {

void* Device::alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = raw_alloc(bytes);
  if (!p) throw std::bad_alloc();
  current_ += bytes;
  if (current_ > peak_) peak_ = current_;
  return p;
}

void Device::release(void* ptr, size_t bytes) {
  if (!ptr) return;
  raw_release(ptr);
  current_ -= bytes;
}

void Device::gemm_bf16w(bool, bool, int, int, int, float, const float*, int, const uint16_t*, int, float, float*, int) {
  throw EngineError("this device does not hold weights in bf16");
}

}  // namespace soo

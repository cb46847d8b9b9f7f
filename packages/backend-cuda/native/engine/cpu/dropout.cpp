// LoRA dropout masks from a counter-based generator: element i of a mask is kept iff
// uniform(seed, i) >= p, with uniform = top 24 bits of splitmix64(seed + golden * (i + 1)) / 2^24.
// Any device can reproduce a mask element from (seed, i) alone, in any order.
#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {
namespace {

inline uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

void dropout_mask(float* m, size_t n, float p, uint64_t seed) {
  const float keep_scale = 1.0f / (1.0f - p);
  parallel_for(n, 1 << 14, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      uint64_t r = splitmix64(seed + 0x9e3779b97f4a7c15ULL * (i + 1));
      float u = static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
      m[i] = u >= p ? keep_scale : 0.0f;
    }
  });
}

}  // namespace soo::cpu

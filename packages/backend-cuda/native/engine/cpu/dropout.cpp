// LoRA dropout masks from a counter-based generator: element i of a mask is kept iff
// uniform(seed, i) >= p, with uniform = top 24 bits of splitmix64(seed + golden * (i + 1)) / 2^24.
// Any device can reproduce a mask element from (seed, i) alone, in any order.
#include "../kernel_math.h"
#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

void dropout_mask(float* m, size_t n, float p, uint64_t seed) {
  const float keep_scale = 1.0f / (1.0f - p);
  parallel_for(n, 1 << 14, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      m[i] = math::dropout_value(seed, i, p, keep_scale);
    }
  });
}

}  // namespace soo::cpu

// Token embedding lookup: out[i, :] = table[ids[i], :]; backward scatters rows back (sums repeats).
#include <cstring>

#include "kernels.h"
#include "parallel.h"

namespace soo::cpu {

void embedding_forward(float* out, const float* table, const int32_t* ids, int n, int width) {
  parallel_for(n, 64, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++)
      std::memcpy(out + i * width, table + static_cast<size_t>(ids[i]) * width, sizeof(float) * width);
  });
}

void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int n, int width) {
  // Several tokens may share an id: split the columns across threads so no two write the same entry.
  parallel_for(width, 128, [&](size_t b, size_t e) {
    for (int i = 0; i < n; i++) {
      float* row = dtable + static_cast<size_t>(ids[i]) * width;
      const float* g = dout + static_cast<size_t>(i) * width;
      for (size_t j = b; j < e; j++) row[j] += g[j];
    }
  });
}

}  // namespace soo::cpu

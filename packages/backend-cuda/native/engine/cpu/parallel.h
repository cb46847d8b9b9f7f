// parallel_for over [0, n): the calling thread and a few persistent workers each take contiguous chunks.
// Element-wise kernels use it over rows; small n, and a parallel_for inside another, run inline.
#pragma once
#include <cstddef>
#include <functional>

namespace soo::cpu {

/** Run body(begin, end) over chunks of [0, n); min_chunk keeps tiny loops on one thread. */
void parallel_for(size_t n, size_t min_chunk, const std::function<void(size_t, size_t)>& body);

/** Threads parallel_for uses (hardware concurrency, or SOO_NATIVE_THREADS). */
int thread_count();

}  // namespace soo::cpu

// The CPU thread pool under many short jobs of varying size: every index of every job runs exactly once and
// every job returns (a lost or stale chunk once hung a forward pass; run under ThreadSanitizer by hand with
// `g++ -fsanitize=thread`). Run by native/tests/run.sh.
#include <atomic>
#include <string>

#include "check.h"
#include "../engine/cpu/parallel.h"

namespace soo::test {

void run_parallel_checks(Ledger& L) {
  long expected = 0;
  std::atomic<long> total{0};
  bool exact = true;
  for (int it = 0; it < 50000; it++) {
    const size_t n = 1 + static_cast<size_t>(it * 7919) % 97;
    expected += static_cast<long>(n);
    std::vector<std::atomic<int>> hits(n);
    soo::cpu::parallel_for(n, 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) hits[i]++;
      total += static_cast<long>(e - b);
    });
    for (auto& h : hits) exact = exact && h.load() == 1;
  }
  L.expect("thread pool: 50 000 jobs of 1..97 indices, each index exactly once", exact && total == expected);
}

}  // namespace soo::test

// The native test program: gradient checks of every layer kind, then whole-engine checks.
// Exit status 0 when every check passes. Build and run: native/tests/run.sh
#include <cstdio>

#include "check.h"

namespace soo::test {
void run_layer_checks(Ledger& L);
void run_model_checks(Ledger& L);
void run_parallel_checks(Ledger& L);
void run_math_checks(Ledger& L);
void run_attention_plan_checks(Ledger& L);
}  // namespace soo::test

int main() {
  soo::test::Ledger ledger;
  std::printf("== thread pool\n");
  soo::test::run_parallel_checks(ledger);
  std::printf("== shared kernel math (kernel_math.h, also compiled into the CUDA kernels)\n");
  soo::test::run_math_checks(ledger);
  soo::test::run_attention_plan_checks(ledger);
  std::printf("== layer kinds: analytic backward vs finite differences in double\n");
  soo::test::run_layer_checks(ledger);
  std::printf("== engine: directional derivatives, KV cache, bad input\n");
  soo::test::run_model_checks(ledger);
  std::printf("%d checks, %d failed\n", ledger.checks, ledger.failures);
  return ledger.failures == 0 ? 0 : 1;
}

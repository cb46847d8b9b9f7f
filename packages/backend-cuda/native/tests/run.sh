#!/usr/bin/env bash
# Build and run the native test programs with plain g++ (no node-gyp needed):
#   native/tests/run.sh            gradient checks (-O2)
#   native/tests/run.sh asan       the same checks and the 200-step SOO soak under AddressSanitizer +
#                                  LeakSanitizer + UBSan
#   native/tests/run.sh soak [FIXTURE_DIR [STEPS]]   the soak alone, optimised (default: hf-tiny/llama)
# OPENBLAS_CFLAGS / OPENBLAS_LIBS override where OpenBLAS is (default: Debian's openblas-pthread).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
engine="$here/../engine"
out="${SOO_NATIVE_TEST_OUT:-$(mktemp -d)}"
mode="${1:-check}"
blas_cflags="${OPENBLAS_CFLAGS:--I/usr/include/x86_64-linux-gnu/openblas-pthread}"
blas_libs="${OPENBLAS_LIBS:--lopenblas}"
flags=(-std=c++17 -Wall -Wextra -Wno-unused-parameter -pthread)
if [[ "$mode" == asan ]]; then
  flags+=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined)
else
  flags+=(-O2)
fi
engine_sources=$(find "$engine" -name '*.cpp' | sort)
build() { # name sources...
  local name="$1"; shift
  g++ "${flags[@]}" $blas_cflags "$@" $engine_sources $blas_libs -o "$out/$name"
}
# The oracle fixtures: SOO_SHARED/fixtures, else the first shared/fixtures found walking up from here
# (as core's sharedDir does).
shared_dir() {
  if [[ -n "${SOO_SHARED:-}" ]]; then echo "$SOO_SHARED"; return; fi
  local d="$here"
  while [[ "$d" != / ]]; do
    if [[ -d "$d/shared/fixtures/hf-tiny" ]]; then echo "$d/shared"; return; fi
    d="$(dirname "$d")"
  done
  echo "run.sh: no shared/fixtures found (set SOO_SHARED)" >&2
  exit 2
}
fixture="${2:-}"
if [[ "$mode" != check && -z "$fixture" ]]; then fixture="$(shared_dir)/fixtures/hf-tiny/llama"; fi
case "$mode" in
  check)
    build gradcheck "$here/gradcheck_main.cpp" "$here/layer_checks.cpp" "$here/model_checks.cpp"
    "$out/gradcheck"
    ;;
  asan)
    build gradcheck "$here/gradcheck_main.cpp" "$here/layer_checks.cpp" "$here/model_checks.cpp"
    build soak "$here/soak_main.cpp"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1"
    "$out/gradcheck"
    "$out/soak" "$fixture" 200
    ;;
  soak)
    build soak "$here/soak_main.cpp"
    "$out/soak" "$fixture" "${3:-200}"
    ;;
  *)
    echo "usage: run.sh [check|asan|soak FIXTURE_DIR [STEPS]]" >&2
    exit 2
    ;;
esac

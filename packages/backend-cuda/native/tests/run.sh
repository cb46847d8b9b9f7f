#!/usr/bin/env bash
# Build and run the native test programs with plain g++ (no node-gyp needed):
#   native/tests/run.sh            gradient checks (-O2)
#   native/tests/run.sh asan       the same checks and the 200-step SOO soak under AddressSanitizer +
#                                  LeakSanitizer + UBSan
#   native/tests/run.sh soak [FIXTURE_DIR [STEPS]]   the soak alone, optimised (default: hf-tiny/llama)
# OPENBLAS_CFLAGS / OPENBLAS_LIBS override where OpenBLAS is (default: what scripts/native-env.mjs finds).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
engine="$here/../engine"
out="${SOO_NATIVE_TEST_OUT:-$(mktemp -d)}"
mode="${1:-check}"
# OpenBLAS as the addon's build finds it (scripts/native-env.mjs), unless given.
env_script="$here/../../scripts/native-env.mjs"
if [[ -z "${OPENBLAS_CFLAGS:-}" ]]; then
  blas_cflags=""
  for dir in $(node "$env_script" include 2>/dev/null || echo /usr/include/x86_64-linux-gnu/openblas-pthread); do
    blas_cflags+=" -I$dir"
  done
else
  blas_cflags="$OPENBLAS_CFLAGS"
fi
blas_libs="${OPENBLAS_LIBS:-$(node "$env_script" ldflags 2>/dev/null || echo -lopenblas)} -ldl"
flags=(-std=c++17 -Wall -Wextra -Wno-unused-parameter -pthread)
if [[ "$mode" == asan ]]; then
  flags+=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined)
else
  flags+=(-O2)
fi
engine_sources=$(find "$engine" -name '*.cpp' | sort)
jobs="${SOO_NATIVE_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}"
engine_objects=()
# The engine's objects, compiled once per run ($jobs at a time; a failed compile stops the script).
compile_engine() {
  mkdir -p "$out/obj"
  local running=0
  for src in $engine_sources; do
    local obj="$out/obj/$(echo "${src#"$engine"/}" | tr / _).o"
    engine_objects+=("$obj")
    g++ "${flags[@]}" $blas_cflags -c "$src" -o "$obj" &
    running=$((running + 1))
    if ((running >= jobs)); then
      wait -n
      running=$((running - 1))
    fi
  done
  while ((running > 0)); do
    wait -n
    running=$((running - 1))
  done
}
build() { # name sources...
  local name="$1"; shift
  [[ ${#engine_objects[@]} -gt 0 ]] || compile_engine
  g++ "${flags[@]}" $blas_cflags "$@" "${engine_objects[@]}" $blas_libs -o "$out/$name"
}
# The oracle fixtures shipped in the repository (packages/core/fixtures), or SOO_FIXTURES.
fixtures_dir() {
  if [[ -n "${SOO_FIXTURES:-}" ]]; then echo "$SOO_FIXTURES"; return; fi
  echo "$(cd "$here/../../../core/fixtures" && pwd)"
}
fixture="${2:-}"
if [[ "$mode" != check && -z "$fixture" ]]; then fixture="$(fixtures_dir)/hf-tiny/llama"; fi
case "$mode" in
  check)
    build gradcheck "$here/gradcheck_main.cpp" "$here/layer_checks.cpp" "$here/model_checks.cpp" "$here/math_checks.cpp" "$here/parallel_checks.cpp"
    "$out/gradcheck"
    ;;
  asan)
    build gradcheck "$here/gradcheck_main.cpp" "$here/layer_checks.cpp" "$here/model_checks.cpp" "$here/math_checks.cpp" "$here/parallel_checks.cpp"
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

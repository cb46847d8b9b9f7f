#!/usr/bin/env bash
# The GPU acceptance check of the cuda backend (issue 12), in one call of at most 10 minutes on the GPU
# machine. From the repository root, with the kit made by scripts/gpu-kit.sh carried in .carry/:
#
#   packages/backend-cuda/scripts/gpu-check.sh [OUT_DIR]        (default: $OUT, else ./gpu-check-out)
#
# Phases, each time-boxed so that a slow or failing one leaves the others' results:
#   kit        unpack .carry/gpu-kit.tar.xz: node, node_modules, dist/, OpenBLAS (skipped when absent)
#   build      the addon (node-gyp) and libsoo_cuda.so (nvcc, sm_80 + sm_90 + PTX) with this machine's tools
#   probe      what the cuda backend sees (GPU, driver, cuBLASLt)
#   conf-fp32  conformance v2 on cuda at float32, fp32 tolerances
#   conf-bf16  conformance v2 on cuda at bfloat16, bf16 tolerances
#   peer       torch+PEFT (bench/gpu/torch_soo_peer.py): writes the random-init Mistral-7B-shaped bf16
#              checkpoint once, then its SOO steps at 8x64 and 32x128 and HF greedy generation
#   soo        the same steps on cuda (bf16) from the peer's adapter_init and ids, and generation
#   gemma      only with GPU_CHECK_GEMMA=1: the Gemma-2-27B shape at 16x128 on both sides (54 GB on disk)
#   report     gpu-check.json + BENCHMARKS-gpu.md (a BENCHMARKS.md section) from whatever the phases left
# Environment: GPU_CHECK_BUDGET_S (default 550: total seconds), GPU_CHECK_SKIP (comma-separated phases),
# GPU_CHECK_GEMMA=1, GPU_CHECK_WORK (default /tmp/gpu-check), GPU_CHECK_CKPT (default /tmp/soo-m7).
# $OUT receives at most 4 files: gpu-check.json, BENCHMARKS-gpu.md, gpu-check.log, phases.tar.gz.
set -uo pipefail
t_start=$(date +%s)
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
pkg="$repo/packages/backend-cuda"
out="${1:-${OUT:-$repo/gpu-check-out}}"
work="${GPU_CHECK_WORK:-/tmp/gpu-check}"
ckpt="${GPU_CHECK_CKPT:-/tmp/soo-m7}"
budget="${GPU_CHECK_BUDGET_S:-550}"
skip=",${GPU_CHECK_SKIP:-},"
mkdir -p "$out" "$work"
log="$out/gpu-check.log"
: > "$log"
exec > >(tee -a "$log") 2>&1
phases="$work/phases.jsonl"
: > "$phases"
cd "$repo" || exit 1
export repo pkg work ckpt

elapsed() { echo $(($(date +%s) - t_start)); }
left() { echo $((budget - $(elapsed))); }
# phase NAME MAX_SECONDS MIN_SECONDS CMD...: run CMD under min(MAX, budget left - 25 s for the report)
phase() {
  local name="$1" max="$2" min="$3"
  shift 3
  local avail=$(($(left) - 25))
  if [[ "$skip" == *",$name,"* ]]; then
    echo "{\"name\":\"$name\",\"status\":\"skipped (GPU_CHECK_SKIP)\",\"seconds\":0}" >> "$phases"
    echo "== $name: skipped (GPU_CHECK_SKIP)"
    return 0
  fi
  if ((avail < min)); then
    echo "{\"name\":\"$name\",\"status\":\"not run (${avail} s left of the budget)\",\"seconds\":0}" >> "$phases"
    echo "== $name: not run, ${avail} s left"
    return 0
  fi
  local t=$((avail < max ? avail : max))
  echo "== $name (at most ${t} s; $(elapsed) s elapsed)"
  local s0=$(date +%s)
  # Shell functions run through bash -c (exported with export -f below); programs run as they are.
  if [[ "$(type -t "$1")" == function ]]; then
    timeout --signal=TERM --kill-after=10 "$t" bash -c '"$@"' _ "$@"
  else
    timeout --signal=TERM --kill-after=10 "$t" "$@"
  fi
  local rc=$?
  local dt=$(($(date +%s) - s0)) status=ok
  if ((rc == 124 || rc == 137)); then status="timed out after ${t} s"; elif ((rc != 0)); then status="failed (exit $rc)"; fi
  echo "{\"name\":\"$name\",\"status\":\"$status\",\"seconds\":$dt}" >> "$phases"
  echo "== $name: $status in ${dt} s"
  return $rc
}

# ---- kit: node, node_modules, dist/, OpenBLAS ----
kit_unpack() {
  local kit="$repo/.carry/gpu-kit.tar.xz"
  if [[ ! -f "$kit" ]]; then
    echo "no $kit: using this machine's node and node_modules"
    return 0
  fi
  rm -rf /tmp/soo-kit && mkdir -p /tmp/soo-kit && tar -C /tmp/soo-kit -xJf "$kit" || return 1
  tar -C "$repo" -xf /tmp/soo-kit/kit/repo.tar || return 1
  cat /tmp/soo-kit/kit/COMMIT
}
export -f kit_unpack
phase kit 120 10 kit_unpack
if [[ -d /tmp/soo-kit/kit ]]; then
  export PATH="/tmp/soo-kit/kit/bin:$PATH"
  export npm_config_nodedir=/tmp/soo-kit/kit
  export OPENBLAS_HOME=/tmp/soo-kit/kit/openblas
  export LD_LIBRARY_PATH="/tmp/soo-kit/kit/openblas/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export SOO_NATIVE_NO_APT=1 PYTHONUNBUFFERED=1
# cuBLASLt: the toolkit's, else the one PyTorch's wheels bring.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublasLt\.so\.1[23]'; then
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], "lib"))' 2>/dev/null); do
    f="$(ls "$d"/libcublasLt.so.1[23]* 2>/dev/null | head -1)"
    if [[ -n "$f" ]]; then export SOO_CUBLASLT="$f"; break; fi
  done
fi
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"

{
  echo "{"
  echo "\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "\"card\": \"$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1 | sed 's/"//g')\","
  echo "\"driver\": \"$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)\","
  echo "\"commit\": \"$(head -1 /tmp/soo-kit/kit/COMMIT 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown)\","
  echo "\"node\": \"$(node --version 2>/dev/null)\","
  echo "\"nvcc\": \"$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\), V\([0-9.]*\).*/\2/p')\","
  echo "\"cublasLt\": \"${SOO_CUBLASLT:-system}\","
  echo "\"command\": \"packages/backend-cuda/scripts/gpu-check.sh (budget ${budget} s)\""
  echo "}"
} > "$work/meta-base.json"
cat "$work/meta-base.json"

# ---- build ----
build() {
  local s0=$(date +%s) ok=true addon=built
  if ! SOO_NATIVE_REQUIRED=1 SOO_CUDA_REQUIRED=1 node "$pkg/scripts/build-native.mjs"; then
    # The CUDA library is what this check is about: build it alone, and take the prebuilt addon if the
    # addon's own build failed here (no make or g++ on this machine, say).
    if [[ -f /tmp/soo-kit/kit/prebuilt/soo_native.node ]]; then
      mkdir -p "$pkg/build/Release"
      cp /tmp/soo-kit/kit/prebuilt/soo_native.node "$pkg/build/Release/"
      addon="prebuilt (the addon did not build here)"
      SOO_CUDA_REQUIRED=1 node "$pkg/scripts/build-cuda.mjs" || ok=false
    else
      ok=false
    fi
  fi
  local manifest="$pkg/build/Release/soo_cuda.json"
  node -e '
    const fs = require("fs");
    const m = fs.existsSync(process.argv[1]) ? JSON.parse(fs.readFileSync(process.argv[1], "utf8")) : {};
    fs.writeFileSync(process.argv[2], JSON.stringify({ ok: process.argv[3] === "true", addon: process.argv[4], seconds: Number(process.argv[5]), ...m, cudaSeconds: m.seconds }, null, 1));
  ' "$manifest" "$work/build.json" "$ok" "$addon" "$(($(date +%s) - s0))"
  $ok
}
export -f build
phase build 240 30 build

probe() {
  node --input-type=module -e "
    const { cudaAvailability } = await import('$pkg/dist/index.js');
    const a = cudaAvailability();
    console.log(JSON.stringify(a.available ? { available: true, library: a.library, device: a.device } : a));
    process.exit(a.available ? 0 : 1);
  "
}
export -f probe
phase probe 30 5 probe

# ---- conformance ----
phase conf-fp32 120 20 node "$pkg/bench/gpu/conformance.mjs" --backend cuda --dtype float32 --out "$work/conformance-float32.json"
phase conf-bf16 120 20 node "$pkg/bench/gpu/conformance.mjs" --backend cuda --dtype bfloat16 --out "$work/conformance-bfloat16.json"

# ---- benchmark against torch+PEFT ----
peer() { # SHAPE CKPT BATCHES SEQS OUTNAME [--generate]
  local shape="$1" dir="$2" batches="$3" seqs="$4" name="$5"
  shift 5
  rm -rf "$dir"
  # shellcheck disable=SC2086
  python3 "$pkg/bench/gpu/torch_soo_peer.py" --shape "$shape" --save "$dir" --batch $batches --seq $seqs \
    --layer 19 --out "$work/$name.json" "$@" | tee "$work/$name.jsonl"
  return "${PIPESTATUS[0]}"
}
export -f peer
phase peer 240 60 peer mistral7b "$ckpt" "8 32" "64 128" peer-mistral7b --generate
phase soo 240 60 node "$pkg/bench/gpu/soo-bench.mjs" --model "$ckpt" --backend cuda --dtype bfloat16 \
  --shapes 8x64,32x128 --layer 19 --steps 20 --warmup 5 --generate --budget-s 150 \
  --label mistral7b --out "$work/soo-mistral7b.json"
if [[ "${GPU_CHECK_GEMMA:-0}" == 1 ]]; then
  rm -rf "$ckpt" # 15 GB; the Gemma-2-27B checkpoint needs 54 GB of the 64 GB disk
  phase peer-gemma 300 120 peer gemma2-27b /tmp/soo-g27 "16" "128" peer-gemma2-27b
  phase soo-gemma 300 120 node "$pkg/bench/gpu/soo-bench.mjs" --model /tmp/soo-g27 --backend cuda --dtype bfloat16 \
    --shapes 16x128 --layer 19 --steps 20 --warmup 5 --label gemma2-27b --out "$work/soo-gemma2-27b.json"
fi

# ---- report ----
node -e '
  const fs = require("fs");
  const base = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const phases = fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  fs.writeFileSync(process.argv[3], JSON.stringify({ ...base, phases, totalSeconds: Number(process.argv[4]) }, null, 1));
' "$work/meta-base.json" "$phases" "$work/meta.json" "$(elapsed)"
node "$pkg/bench/gpu/report.mjs" "$work"
cp "$work/gpu-check.json" "$work/BENCHMARKS-gpu.md" "$out/" 2>/dev/null
tar -C "$work" -czf "$out/phases.tar.gz" --exclude='*.tar.gz' . 2>/dev/null
echo "== done in $(elapsed) s: $out/gpu-check.json, $out/BENCHMARKS-gpu.md, $out/gpu-check.log, $out/phases.tar.gz"

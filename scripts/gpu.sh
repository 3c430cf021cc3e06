#!/usr/bin/env bash
# The hip policy's GPU builds, without CMake (so a bare GPU machine with only a compiler can run it):
#   bash scripts/gpu.sh check   compile the GPU tests for AMD gfx1150 + gfx1151 (clang-19 -x hip,
#                               device code) and for NVIDIA sm_90 (nvcc): what CI runs, no GPU needed
#   bash scripts/gpu.sh test    build the GPU tests with nvcc and run them on this GPU
#   bash scripts/gpu.sh bench   build bench/device/hip_bench.cpp with nvcc and run it on this GPU
# Header-only dependencies (Catch2 2, nlohmann-json) come from /usr/include or STRIX_GPU_DEPS/include.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-check}
out=${STRIX_GPU_BUILD:-build/gpu}
mkdir -p "$out"
tests=(tests/device/hip_test.cpp tests/models/hip_models_test.cpp)
bench=bench/device/hip_bench.cpp
root=$PWD
includes=(-I"$root/include" -I"$root/tests" -I"$root/examples" -I"$root/bench")
[[ -n "${STRIX_GPU_DEPS:-}" ]] && includes+=(-I"$(realpath "$STRIX_GPU_DEPS")/include")
defines=(-DSTRIX_TEST_DATA_DIR="\"$PWD/tests/data\"")
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
nvcc_flags=(-std=c++20 -arch=sm_90 -diag-suppress 445 -Werror all-warnings -Xcompiler=-Wall,-Wextra)
# `check` builds without optimisation: it proves that the sources compile for every target and that
# the AMD kernels are wave32, in about half the time (CI's budget: 530 s at -O2, ~300 s); `test`
# and `bench` build the optimised code they run.
if [[ "$mode" == check ]]; then
  amd_optimisation=-O0
  nvcc_flags+=(-O0 -Xptxas -O0)
else
  amd_optimisation=-O2
  nvcc_flags+=(-O2)
fi

# Device assembly of each source for both AMD targets in one clang call (one front-end pass), the
# sources in parallel.
amd_check() {
  local source pids=() arch
  for source in "${tests[@]}" "$bench"; do
    echo "== $source for gfx1150 and gfx1151 (clang-19, HIP device code)"
    (cd "$out" && clang++-19 -std=c++20 -x hip --offload-arch=gfx1150 --offload-arch=gfx1151 --cuda-device-only \
      -nogpulib "$amd_optimisation" -Wall -Wextra -Werror "${includes[@]}" "${defines[@]}" -S "$root/$source") &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  for source in "${tests[@]}" "$bench"; do
    for arch in gfx1150 gfx1151; do
      local assembly=$out/$(basename "$source" .cpp)-hip-amdgcn-amd-amdhsa-$arch.s
      [[ -s "$assembly" ]] || { echo "gpu.sh: no $arch assembly for $source" >&2; exit 1; }
      if grep -q "amdhsa_wavefront_size32 0" "$assembly"; then
        echo "gpu.sh: $source has wave64 kernels for $arch; the policy assumes wave32" >&2
        exit 1
      fi
    done
  done
}

# Kernels may start while the kernel before them ends (gpu::launch_after_previous), so each must
# wait for it before touching activations: every __global__ function of the policy calls
# gpu::follow_previous_kernel() (one call per kernel, counted per header).
overlap_check() {
  local header kernels waits status=0
  for header in include/strix/device/hip/*.hpp; do
    kernels=$(grep -v '^ *//' "$header" | grep -c '__global__' || true)
    waits=$(grep -v '^ *//' "$header" | grep -c 'gpu::follow_previous_kernel();' || true)
    if [[ "$kernels" != "$waits" ]]; then
      echo "gpu.sh: $header defines $kernels kernels but calls gpu::follow_previous_kernel() $waits times" >&2
      status=1
    fi
  done
  return $status
}

# Objects of the given sources, compiled in parallel.
nvidia_objects() {
  local source pids=()
  for source in "$@"; do
    echo "== $source for sm_90 (nvcc)"
    "$nvcc_bin" "${nvcc_flags[@]}" "${includes[@]}" "${defines[@]}" -x cu -c "$source" -o "$out/$(basename "$source" .cpp).o" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

# One test program from the compiled test files.
link_tests() {
  local objects=() source
  g++ -std=c++20 -O1 "${includes[@]}" -c tests/test_main.cpp -o "$out/test_main.o"
  for source in "${tests[@]}"; do objects+=("$out/$(basename "$source" .cpp).o"); done
  "$nvcc_bin" -arch=sm_90 "$out/test_main.o" "${objects[@]}" -o "$out/hip_tests"
}

case "$mode" in
  check)
    overlap_check
    amd_check
    if [[ -x "$nvcc_bin" ]]; then
      nvidia_objects "${tests[@]}" "$bench"
      # Linking both test files into one program catches kernels defined once per translation unit.
      link_tests
    else
      echo "gpu.sh: SKIPPED the NVIDIA build: nvcc is not on PATH nor in /usr/local/cuda/bin" >&2
    fi
    ;;
  test)
    nvidia_objects "${tests[@]}"
    link_tests
    "$out/hip_tests" "${@:2}"
    ;;
  bench)
    # Host code without assertions, as CMake's Release builds compile the other benches (a model's
    # host-side steps ran several times slower with tensor_view's bounds checks).
    defines+=(-DNDEBUG)
    nvidia_objects "$bench"
    "$nvcc_bin" -arch=sm_90 "$out/hip_bench.o" -o "$out/hip_bench"
    "$out/hip_bench" "${@:2}"
    ;;
  *)
    echo "usage: bash scripts/gpu.sh check|test|bench [arguments for the test or bench binaries]" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Sets up a Debian 12 machine and runs the whole test suite twice: gcc 12 (release, warnings as
# errors), then clang 19 with AddressSanitizer + UBSan, including bounded runs of the fuzzers; and
# compiles the hip policy's GPU code for AMD gfx1150/gfx1151 and NVIDIA sm_90 (no GPU needed).
# This is the command README.md gives and the one CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage says how long it took: CI has a 40-minute budget to keep.
stage() {
  local start=$SECONDS
  "$@"
  echo "test.sh: '$*' took $((SECONDS - start)) s"
}
stage bash scripts/setup-debian.sh
stage cmake --workflow --preset release
stage bash scripts/gpu.sh check
stage cmake --workflow --preset clang-asan

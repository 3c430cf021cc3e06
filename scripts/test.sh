#!/usr/bin/env bash
# Sets up a Debian 12 machine and runs the whole test suite twice: gcc 12 (release, warnings as
# errors), then clang 19 with AddressSanitizer + UBSan, including bounded runs of the fuzzers.
# This is the command README.md gives and the one CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh
cmake --workflow --preset release
cmake --workflow --preset clang-asan

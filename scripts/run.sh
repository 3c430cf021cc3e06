#!/usr/bin/env bash
# Sets up, builds, and runs strix's main job on a file: `strix inspect` of the given GGUF or
# safetensors path, or of the golden quantization file the project ships when none is given.
# (The gemma4-chat example takes over this role when it lands; see README.md.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh
cmake --preset release >/dev/null
cmake --build --preset release --target strix_tool
exec build/release/examples/strix inspect "${1:-tests/data/quant-golden.gguf}"

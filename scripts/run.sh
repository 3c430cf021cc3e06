#!/usr/bin/env bash
# Sets up, builds, and runs strix's main job: greedy generation with a model. With no argument it
# runs the tiny Gemma 4 model the project ships (tests/data/gemma4-e-tiny, random weights made
# with transformers) on a fixed prompt of token ids; with a path (a Gemma 4 GGUF file or a Gemma 4
# / Qwen3.5 Hugging Face folder) it shows the file and generates 32 tokens after token id 2
# (Gemma's <bos>). Token ids in, ids out until tokenizers and gemma4-chat land (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh
cmake --preset release >/dev/null  # the tool gets the zen5 policy when this CPU has its instruction sets
cmake --build --preset release --target strix_tool
strix=build/release/examples/strix
if [ $# -eq 0 ]; then
  echo "strix generate on tests/data/gemma4-e-tiny (prompt: 8 token ids; 16 new tokens):"
  exec "$strix" generate --model tests/data/gemma4-e-tiny --prompt-tokens 423,378,275,19,244,352,379,479 -n 16
fi
"$strix" inspect "$1" | head -n 40
exec "$strix" generate --model "$1" --prompt-tokens 2 -n 32

#!/usr/bin/env bash
# Sets up, builds, and runs strix's main job: an interactive chat (gemma4-chat). With no argument
# it chats with the tiny Gemma 4-architecture model the project ships
# (models/gemma4-tiny-chat/gemma4-tiny-chat.gguf, trained on Debian and Python documentation);
# with a path (a Gemma 4 GGUF file, or a Gemma 4 / Qwen3.5 Hugging Face folder with its
# tokenizer.json) it chats with that model. Further arguments go to gemma4-chat (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh
cmake --preset release >/dev/null  # the programs get the zen5 policy when this CPU has its instruction sets
cmake --build --preset release --target gemma4_chat
model=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  model=(--model "$1")
  shift
fi
exec build/release/examples/gemma4-chat "${model[@]}" "$@"

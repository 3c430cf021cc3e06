#!/usr/bin/env bash
# strix serve on a Qwen3.5 model (the tiny fixture with its 512-token ChatML tokenizer): DeltaNet
# states and the KV cache batched together by the scheduler. A chat completion, the KV gauges, and
# 8 concurrent greedy clients (chat and completions) whose outputs each equal their run alone.
# Usage: serve_qwen35_check.sh STRIX MODEL_FOLDER TOKENIZER_FOLDER WORKDIR
set -euo pipefail
tool=$1 model=$2 tokenizer=$3 work=$4
mkdir -p "$work/qwen35"
cp "$model/config.json" "$model/model.safetensors" "$tokenizer/tokenizer.json" "$tokenizer/tokenizer_config.json" "$work/qwen35/"
source "$(dirname "$0")/serve_test_lib.sh"
start qwen35 --model "$work/qwen35" --name qwen --max-seqs 4 --ctx 512 --chunk 32

out=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hello there"}],"temperature":0,"max_tokens":16}')
contains "$out" '"usage":{"completion_tokens":16,"prompt_tokens":[1-9][0-9]*' || fail "chat: $out"
contains "$out" '"finish_reason":"length"' || fail "chat finish: $out"
metrics=$(curl -s "$url/metrics")
contains "$metrics" '^strix_kv_blocks_total [1-9]' || fail "KV gauge of the hybrid cache: $metrics"

body_of() {
  if [ $(($1 % 2)) = 0 ]; then
    echo "{\"messages\":[{\"role\":\"user\",\"content\":\"Question $1$(printf ' again%.0s' $(seq $1))\"}],\"temperature\":0,\"max_tokens\":40}"
  else
    echo "{\"prompt\":\"Text $1$(printf ' more%.0s' $(seq $1))\",\"temperature\":0,\"max_tokens\":40}"
  fi
}
endpoint_of() { if [ $(($1 % 2)) = 0 ]; then echo /v1/chat/completions; else echo /v1/completions; fi; }
concurrent_equals_alone 8
echo "qwen35 serve checks passed"

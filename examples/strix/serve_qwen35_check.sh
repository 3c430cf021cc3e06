#!/usr/bin/env bash
# strix serve on a Qwen3.5 model (the tiny fixture with its 512-token ChatML tokenizer): DeltaNet
# states and the KV cache batched together by the scheduler. A chat completion, the KV gauges, and
# 8 concurrent greedy clients (chat and completions) whose outputs each equal their run alone.
# Usage: serve_qwen35_check.sh STRIX MODEL_FOLDER TOKENIZER_FOLDER WORKDIR
set -euo pipefail
tool=$1 model=$2 tokenizer=$3 work=$4
mkdir -p "$work/qwen35"
cp "$model/config.json" "$model/model.safetensors" "$tokenizer/tokenizer.json" "$tokenizer/tokenizer_config.json" "$work/qwen35/"
log=$work/qwen35.log
"$tool" serve --model "$work/qwen35" --name qwen --port 0 --max-seqs 4 --ctx 512 --chunk 32 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] && break
  sleep 0.2
done
fail() { echo "FAIL: $*"; cat "$log"; exit 1; }
[ -n "$port" ] || fail "server did not start"
url=http://127.0.0.1:$port
post() { curl -s -H 'Content-Type: application/json' --data-binary "$2" "$url$1"; }

out=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hello there"}],"temperature":0,"max_tokens":16}')
echo "$out" | grep -q '"usage":{"completion_tokens":16,"prompt_tokens":[1-9][0-9]*' || fail "chat: $out"
echo "$out" | grep -q '"finish_reason":"length"' || fail "chat finish: $out"
metrics=$(curl -s "$url/metrics")
echo "$metrics" | grep -q '^strix_kv_blocks_total [1-9]' || fail "KV gauge of the hybrid cache: $metrics"

body() {
  if [ $(($1 % 2)) = 0 ]; then
    echo "{\"messages\":[{\"role\":\"user\",\"content\":\"Question $1$(printf ' again%.0s' $(seq $1))\"}],\"temperature\":0,\"max_tokens\":40}"
  else
    echo "{\"prompt\":\"Text $1$(printf ' more%.0s' $(seq $1))\",\"temperature\":0,\"max_tokens\":40}"
  fi
}
endpoint() { if [ $(($1 % 2)) = 0 ]; then echo /v1/chat/completions; else echo /v1/completions; fi; }
choices_of() { sed -n 's/.*"choices":\(.*\),"created".*/\1/p'; }
for i in $(seq 8); do post "$(endpoint "$i")" "$(body "$i")" | choices_of >"$work/qwen35_alone_$i"; done
clients=()
for i in $(seq 8); do
  (post "$(endpoint "$i")" "$(body "$i")" | choices_of >"$work/qwen35_together_$i") &
  clients+=($!)
done
wait "${clients[@]}"
for i in $(seq 8); do
  [ -s "$work/qwen35_alone_$i" ] || fail "client $i: empty reply"
  cmp -s "$work/qwen35_alone_$i" "$work/qwen35_together_$i" || fail "client $i: '$(cat "$work/qwen35_together_$i")' together, '$(cat "$work/qwen35_alone_$i")' alone"
done
echo "qwen35 serve checks passed"

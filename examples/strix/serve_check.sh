#!/usr/bin/env bash
# Drives `strix serve` on loopback with curl: health and model list, chat and completions
# (streaming and not), OpenAI-style errors, a client that disconnects mid-stream (its sequence is
# freed), and 16 concurrent greedy clients, on a KV cache small enough to force preemption, whose
# outputs must each equal the output of the same request run alone.
# Usage: serve_check.sh STRIX MODEL WORKDIR
set -euo pipefail
tool=$1 model=$2 work=$3
mkdir -p "$work"
source "$(dirname "$0")/serve_test_lib.sh"
# Six sequences of at most 256 tokens, but KV blocks for 240 global positions in all (the
# sliding-window reserve plus 15 blocks of 16): concurrent requests must be preempted.
start small --model "$model" --name tiny --max-seqs 6 --ctx 256 --chunk 64 --kv-budget 2736K

[ "$(curl -s "$url/health")" = '{"status":"ok"}' ] || fail health
contains "$(curl -s "$url/v1/models")" '"id":"tiny"' || fail models

out=$(post /v1/chat/completions '{"model":"tiny","messages":[{"role":"user","content":"Who are you?"}],"temperature":0,"max_tokens":40}')
contains "$out" '"content":"I am a tiny demonstration model in the Gemma 4 architecture' || fail "chat: $out"
contains "$out" '"usage":{"completion_tokens":[0-9]*,"prompt_tokens":[0-9]*,"total_tokens"' || fail "chat usage: $out"
[ "$(tail -1 <<<"$out")" = 200 ] || fail "chat status: $out"

out=$(curl -s -N -H 'Content-Type: application/json' --data-binary \
  '{"messages":[{"role":"user","content":"Who are you?"}],"temperature":0,"max_tokens":40,"stream":true,"stream_options":{"include_usage":true}}' \
  "$url/v1/chat/completions")
contains "$out" '"object":"chat.completion.chunk"' || fail "stream: $out"
contains "$out" '"delta":{"content":"' || fail "stream content: $out"
contains "$out" '"finish_reason":"stop"' || fail "stream finish: $out"
contains "$out" '"usage":{"completion_tokens"' || fail "stream usage: $out"
[ "$(echo "$out" | grep -v '^$' | tail -1)" = 'data: [DONE]' ] || fail "stream end: $out"
# The streamed pieces are the non-streamed reply.
streamed=$(echo "$out" | sed -n 's/.*"delta":{"content":"\([^"]*\)".*/\1/p' | tr -d '\n')
case "$streamed" in "I am a tiny demonstration model in the Gemma 4 architecture"*) ;; *) fail "streamed text: $streamed";; esac

out=$(post /v1/completions '{"prompt":"Debian is","temperature":0,"max_tokens":12,"stop":["."]}')
contains "$out" '"object":"text_completion"' || fail "completion: $out"
contains "$out" '"text":"[^".]*"' || fail "completion stop string: $out"

# Tools: declarations, an earlier call and its result go into the prompt (Gemma 4's tool syntax);
# the tiny model answers in text.
out=$(post /v1/chat/completions "$(cat <<'JSON'
{"messages":[{"role":"user","content":"Weather in Paris?"},
  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
  {"role":"tool","tool_call_id":"call_1","content":"{\"celsius\":21}"}],
 "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
 "temperature":0,"max_tokens":16}
JSON
)")
[ "$(echo "$out" | tail -1)" = 200 ] || fail "tool round trip: $out"
contains "$out" '"object":"chat.completion"' || fail "tool round trip body: $out"
out=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"nope","content":"x"}]}')
[ "$(echo "$out" | tail -1)" = 400 ] || fail "tool result without a call: $out"

# Errors: status and an OpenAI error object.
expect_error() {
  local status=$1 body=$2 what=$3
  out=$(post /v1/chat/completions "$body")
  [ "$(echo "$out" | tail -1)" = "$status" ] || fail "$what: $out"
  contains "$out" '"error":{' || fail "$what body: $out"
}
expect_error 400 '{"messages": [' "malformed JSON"
expect_error 404 '{"model":"gpt-4","messages":[{"role":"user","content":"hi"}]}' "unknown model"
expect_error 400 '{"messages":[{"role":"user","content":"hi"}],"max_tokens":-1}' "negative max_tokens"
expect_error 400 "{\"messages\":[{\"role\":\"user\",\"content\":\"$(printf 'word %.0s' $(seq 300))\"}]}" "prompt beyond the context"
expect_error 400 "$(printf '{"messages":[{"role":"user","content":"\xff\xfe"}]}')" "invalid UTF-8"
expect_error 400 '{"messages":[{"role":"user","content":"hi"}],"n":2}' "n = 2"

# 16 concurrent greedy clients, each equal to its run alone.
endpoint_of() { echo /v1/completions; }
body_of() { echo "{\"prompt\":\"Question $1: what is a Debian package$(printf ' and %.0s' $(seq $1))?\",\"temperature\":0,\"max_tokens\":48}"; }
concurrent_equals_alone 16
metrics=$(curl -s "$url/metrics")
contains "$metrics" '^strix_time_to_first_token_seconds_count [1-9]' || fail "metrics: $metrics"
echo "preemptions: $(echo "$metrics" | sed -n 's/^strix_preemptions_total //p'), prefix-cache hit tokens: $(echo "$metrics" | sed -n 's/^strix_prefix_cache_hit_tokens_total //p')"

# Speculative decoding per request — n-gram lookup, and the model drafting for itself — gives
# the same greedy replies, also for clients running together.
speculative_equals_plain() {
  local name=$1 i clients=()
  shift
  start "$name" --model "$model" --name tiny --max-seqs 6 --ctx 256 --chunk 64 "$@"
  for i in $(seq 8); do
    (post "$(endpoint_of "$i")" "$(body_of "$i")" | choices_of >"$work/${name}_$i") &
    clients+=($!)
  done
  wait "${clients[@]}"
  for i in $(seq 8); do
    cmp -s "$work/alone_$i" "$work/${name}_$i" || fail "client $i with $*: '$(cat "$work/${name}_$i")', without: '$(cat "$work/alone_$i")'"
  done
  metrics=$(curl -s "$url/metrics")
  contains "$metrics" '^strix_spec_accepted_tokens_total [1-9]' || fail "$* accepted no drafts: $metrics"
  echo "$*: drafted $(sed -n 's/^strix_spec_draft_tokens_total //p' <<<"$metrics"), accepted $(sed -n 's/^strix_spec_accepted_tokens_total //p' <<<"$metrics")"
}
speculative_equals_plain ngram --ngram
speculative_equals_plain self_draft --draft "$model" --draft-max 4

# A client that goes away before its long reply is done, streaming or not: its request is
# cancelled and its sequence freed at once (a server with room for a long reply, so the reply is
# still being generated when the client leaves).
start long --model "$model" --name tiny --max-seqs 2 --ctx 16384
leave_early() {
  local stream=$1 cancelled=$2
  curl -s -N --max-time 0.5 -H 'Content-Type: application/json' --data-binary \
    "{\"prompt\":\"Debian\",\"max_tokens\":16000,\"stream\":$stream,\"temperature\":1,\"ignore_eos\":true}" "$url/v1/completions" >/dev/null || true
  for _ in $(seq 20); do
    contains "$(curl -s "$url/metrics")" "^strix_requests_cancelled_total $cancelled\$" && break
    sleep 0.1
  done
  metrics=$(curl -s "$url/metrics")
  contains "$metrics" "^strix_requests_cancelled_total $cancelled\$" || fail "disconnected request (stream: $stream) not cancelled: $metrics"
  contains "$metrics" '^strix_requests_running 0$' || fail "disconnected request (stream: $stream) still running: $metrics"
}
leave_early true 1
leave_early false 2
contains "$metrics" '^strix_generation_tokens_total [1-9][0-9]*$' || fail "nothing generated before the disconnects: $metrics"
echo "serve checks passed"

# Sourced by the `strix serve` checks: servers on free loopback ports, requests, failure reports
# with the server's log, and the check that concurrent greedy clients each get what they get alone.
# The sourcing script sets `tool` (the strix binary) and `work` (a scratch folder).
servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true' EXIT

# start NAME ARGS...: runs `strix serve ARGS... --port 0`, logging to $work/NAME.log; sets log and url.
start() {
  log=$work/$1.log
  shift
  "$tool" serve "$@" --port 0 >"$log" 2>&1 &
  servers+=($!)
  local port=
  for _ in $(seq 100); do
    port=$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.2
  done
  [ -n "$port" ] || fail "server did not start"
  url=http://127.0.0.1:$port
}

# contains TEXT PATTERN: `echo "$text" | grep -q` fails at random under pipefail, when grep has
# matched and exited before echo wrote its last line (SIGPIPE); a here-string has no writer to kill.
contains() { grep -q -e "$2" <<<"$1"; }

fail() { echo "FAIL: $*"; cat "$log"; exit 1; }

# post PATH BODY: prints the reply body, then the HTTP status on its own line.
post() { curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$url$1"; }

choices_of() { sed -n '1s/.*"choices":\(.*\),"created".*/\1/p'; }

# concurrent_equals_alone N: requests i = 1..N — POST $(endpoint_of i) with $(body_of i), both
# defined by the caller — run one at a time, then all at once; each reply's choices must be equal.
concurrent_equals_alone() {
  local n=$1 i clients=()
  for i in $(seq "$n"); do post "$(endpoint_of "$i")" "$(body_of "$i")" | choices_of >"$work/alone_$i"; done
  for i in $(seq "$n"); do
    (post "$(endpoint_of "$i")" "$(body_of "$i")" | choices_of >"$work/together_$i") &
    clients+=($!)
  done
  wait "${clients[@]}"
  for i in $(seq "$n"); do
    [ -s "$work/alone_$i" ] || fail "client $i: empty reply"
    cmp -s "$work/alone_$i" "$work/together_$i" || fail "client $i: '$(cat "$work/together_$i")' together, '$(cat "$work/alone_$i")' alone"
  done
}

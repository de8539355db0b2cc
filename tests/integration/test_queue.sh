#!/usr/bin/env bash
# The engine's own queue: with more sources than connections, transfers
# wait their turn, and a source's `timeout` starts only when its transfer
# does. 60 sources on one slow host (0.2 s an answer), 4 connections: the
# round takes about 60 / 4 × 0.3 = 4.5 s, longer than each source's 1 s
# timeout, and no source may fail for waiting. (libcurl starts a
# transfer's clock when it is added to the multi handle, so handing it all
# 60 at once made most of them time out while they waited.)
. "$TEST_LIB"

HERE=$(dirname "$0")
python3 "$HERE/slow_server.py" "$WORK/port" 0.2 &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port")
{
  echo "repository: $WORK/snap.git"
  echo "state: $WORK/state"
  echo "http: { max_connections: 4, max_per_host: 2 }"
  echo "sources:"
  for n in $(seq 1 60); do
    echo "  - { name: s$n, plugin: json-api, city: jinan, url: \"http://127.0.0.1:$PORT/task/$n\", timeout: 1s, retries: 0 }"
  done
} >"$WORK/c.yaml"
start=$(date +%s.%N)
check_status "60 sources on one slow host: the round succeeds" 0 "$DUIKOU" sync -c "$WORK/c.yaml"
end=$(date +%s.%N)
check_eq "every source committed" 60 "$(grep -c ' committed ' "$WORK/last.out")"
check_eq "none failed" 0 "$(grep -c FAILED "$WORK/last.out")"
check_eq "60 tasks on main" 60 "$(git --git-dir "$WORK/snap.git" ls-tree -r --name-only main tasks | wc -l)"
check "the per-host limit held (at most 2 at once: $(cat "$WORK/port.max"))" test "$(cat "$WORK/port.max")" -le 2
check "the transfers really waited: the round took longer than one timeout" \
  python3 -c "import sys; sys.exit(0 if $end - $start > 3 else 1)"
finish

#!/bin/bash
# test_citysim.sh [CITY_SIM]: start city-sim on an ephemeral port with a data
# folder, check its routes with curl, stop it with SIGTERM. The binary comes
# from the argument, else from $CITY_SIM.
set -u

sim=${1:-${CITY_SIM:?usage: test_citysim.sh PATH-TO-city-sim (or set CITY_SIM)}}
tmp=$(mktemp -d)
pid=
fails=0

cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    echo "ok - $1"
  else
    echo "not ok - $1: expected '$2', got '$3'"
    fails=$((fails + 1))
  fi
}

mkdir -p "$tmp/data/linyi"
printf '任务编号,完成比例\n1,60\n' > "$tmp/data/linyi/progress.csv"
printf 'hello\n' > "$tmp/data/hello.txt"

"$sim" --port 0 --data "$tmp/data" --port-file "$tmp/port" >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
for _ in $(seq 100); do
  [ -s "$tmp/port" ] && break
  sleep 0.05
done
port=$(cat "$tmp/port" 2>/dev/null)
if [ -z "$port" ]; then
  echo "not ok - city-sim did not write its port file"
  cat "$tmp/stderr"
  exit 1
fi
base="http://127.0.0.1:$port"
check "stdout names the port" "city-sim: listening on $base" "$(head -n1 "$tmp/stdout")"

c() { curl -s --max-time 10 "$@"; }

# 200, validators, the 32 embedded records
c -D "$tmp/h" -o "$tmp/body" "$base/jinan/tasks.json"
check "tasks.json status" "200" "$(head -n1 "$tmp/h" | cut -d' ' -f2)"
etag=$(grep -i '^etag:' "$tmp/h" | cut -d' ' -f2 | tr -d '\r')
check "tasks.json has a strong quoted ETag" "1" "$([[ $etag == \"*\" ]] && echo 1)"
check "tasks.json content type" "application/json; charset=utf-8" \
  "$(grep -i '^content-type:' "$tmp/h" | cut -d' ' -f2- | tr -d '\r')"
check "tasks.json has Last-Modified" "1" "$(grep -ci '^last-modified:' "$tmp/h")"
check "tasks.json is 32 records" "32 plan task" "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
print(len(r), r[0]["kind"], r[1]["kind"])' "$tmp/body")"

check "If-None-Match gives 304" "304" \
  "$(c -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/jinan/tasks.json")"
check "304 has no body" "0" \
  "$(c -H "If-None-Match: $etag" "$base/jinan/tasks.json" | wc -c)"
check "other ETag gives 200" "200" \
  "$(c -o /dev/null -w '%{http_code}' -H 'If-None-Match: "nope"' "$base/jinan/tasks.json")"
check "HEAD has no body" "0" "$(c -I "$base/jinan/tasks.json" -o /dev/null -w '%{size_download}')"
check "healthz" "ok" "$(c "$base/healthz")"

check "missing file is 404" "404" "$(c -o /dev/null -w '%{http_code}' "$base/nope.json")"
code=$(c -o /dev/null -w '%{http_code}' --path-as-is "$base/../etc/passwd")
check "/../etc/passwd is refused" "1" "$([[ $code == 400 || $code == 404 ]] && echo 1)"
code=$(c -o /dev/null -w '%{http_code}' --path-as-is "$base/%2e%2e/%2e%2e/etc/passwd")
check "%2e%2e is refused" "1" "$([[ $code == 400 || $code == 404 ]] && echo 1)"
code=$(c -o /dev/null -w '%{http_code}' --path-as-is "$base/linyi/..%2f..%2f..%2fetc/passwd")
check "..%2f is refused" "1" "$([[ $code == 400 || $code == 404 ]] && echo 1)"
check "POST is 405" "405" "$(c -o /dev/null -w '%{http_code}' -d x=1 "$base/healthz")"

check "file from --data" "hello" "$(c "$base/hello.txt")"
c -D "$tmp/h" -o "$tmp/body" "$base/linyi/progress.csv"
check "csv content type" "text/csv" "$(grep -i '^content-type:' "$tmp/h" | cut -d' ' -f2- | tr -d '\r')"
cmp -s "$tmp/body" "$tmp/data/linyi/progress.csv"
check "csv body verbatim" "0" "$?"
lm=$(grep -i '^last-modified:' "$tmp/h" | cut -d' ' -f2- | tr -d '\r')
check "If-Modified-Since gives 304" "304" \
  "$(c -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $lm" "$base/linyi/progress.csv")"

# Two URLs in one curl: the second must reuse the first connection.
out=$(c -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
  "$base/healthz" "$base/jinan/tasks.json")
check "keep-alive reuses the connection" "200 1,200 0" "$(echo "$out" | paste -sd,)"
out=$(c -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' -H 'Connection: close' \
  "$base/healthz" "$base/healthz")
check "Connection: close is honoured" "200 1,200 1" "$(echo "$out" | paste -sd,)"

# Two pipelined requests in one write; both answers, in order.
out=$(python3 - "$port" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.count(b"HTTP/1.1 200"), data.index(b"hello") < data.rindex(b"ok"))
EOF
)
check "pipelined requests" "2 True" "$out"

kill -TERM "$pid"
wait "$pid"
status=$?
pid=
check "exit status after SIGTERM" "0" "$status"
if [ "$status" != 0 ] || [ "$fails" != 0 ]; then
  echo "--- city-sim stderr"
  cat "$tmp/stderr"
fi
[ "$fails" = 0 ]

#!/usr/bin/env bash
# Retries: connection errors, 5xx and 429 are retried with backoff (honouring
# Retry-After); other 4xx are not; a source that keeps failing gives up and
# leaves the other sources untouched.
. "$TEST_LIB"

DATA="$WORK/www"
mkdir -p "$DATA"
start_sim --data "$DATA"
curl -sf "$SIM_URL/jinan/tasks.json" -o "$DATA/records.json"
head -c 2 "$DATA/records.json" >/dev/null

cat >"$WORK/duikou.yaml" <<YAML
repository: snap.git
state: state
sources:
  - name: flaky-503
    plugin: json-api
    city: jinan
    url: "$SIM_URL/records.json?fail=2&status=503"
    retries: 3
    retry_base: 10ms
  - name: limited-429
    plugin: json-api
    city: linyi
    url: "$SIM_URL/records.json?fail=1&status=429&retry_after=1"
    retries: 2
    retry_base: 10ms
  - name: forbidden-403
    plugin: json-api
    city: province
    url: "$SIM_URL/records.json?fail=5&status=403"
    retries: 3
    retry_base: 10ms
  - name: always-500
    plugin: json-api
    city: other
    url: "$SIM_URL/records.json?fail=100&status=500"
    retries: 2
    retry_base: 10ms
YAML
start=$(date +%s%N)
check_status "a round with failing sources exits 1" 1 "$DUIKOU" sync -c "$WORK/duikou.yaml"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
cp "$WORK/last.out" "$WORK/round.out"; cp "$WORK/last.err" "$WORK/round.err"
check_grep "503 twice, then success: committed" "flaky-503 *committed" "$WORK/round.out"
check_grep "the 503s were retried with a reason" 'source=flaky-503 .*HTTP 503 .*retry 1 of 3' "$WORK/round.err"
check_grep "429 then success: the second source still syncs" "limited-429 *unchanged\|limited-429 *committed" "$WORK/round.out"
check "Retry-After: 1 was honoured (the round took at least a second)" test "$elapsed_ms" -ge 1000
check_grep "403 is not retried" "forbidden-403 *FAILED: HTTP 403 .* 403 Forbidden" "$WORK/round.out"
check_no_grep "403 made no retry" "source=forbidden-403 .*retry" "$WORK/round.err"
check_grep "500 forever gives up after its tries" "always-500 *FAILED: HTTP 500 .*(gave up after 3 tries)" "$WORK/round.out"
check "the repository is sound" git --git-dir "$WORK/snap.git" fsck --strict
check_eq "the good data landed once" 32 "$(git --git-dir "$WORK/snap.git" ls-tree -r --name-only main | wc -l)"

# A connection refused is retried too, then given up.
cat >"$WORK/down.yaml" <<YAML
repository: snap.git
state: state
sources:
  - name: down
    plugin: json-api
    city: jinan
    url: http://127.0.0.1:1/records.json
    retries: 2
    retry_base: 10ms
YAML
check_status "a refused connection fails after its retries, exit 1" 1 "$DUIKOU" sync -c "$WORK/down.yaml"
check_grep "it gave up after 3 tries" "down *FAILED: fetch failed: .*(gave up after 3 tries)" "$WORK/last.out"
# Retry-After as an HTTP-date (libcurl reads it: CURLINFO_RETRY_AFTER): a
# server that answers 503 once, asking for a date two seconds ahead.
cat >"$WORK/date.py" <<'PY'
import email.utils, http.server, sys, time
body = open(sys.argv[1], "rb").read()
seen = []
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        seen.append(time.time())
        if len(seen) == 1:
            self.send_response(503)
            self.send_header("Retry-After", email.utils.formatdate(time.time() + 2, usegmt=True))
            self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$WORK/date.py" "$DATA/records.json" "$WORK/date.port" &
DATE_PID=$!
trap 'kill $DATE_PID 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$WORK/date.port" ] && break; sleep 0.05; done
cat >"$WORK/date.yaml" <<YAML
repository: snap-date.git
state: state-date
sources:
  - name: dated
    plugin: json-api
    city: jinan
    url: http://127.0.0.1:$(cat "$WORK/date.port")/records.json
    retries: 2
    retry_base: 10ms
YAML
start=$(date +%s%N)
check_status "a 503 with an HTTP-date Retry-After, then success, exits 0" 0 "$DUIKOU" sync -c "$WORK/date.yaml"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_grep "the date's source committed" "dated *committed" "$WORK/last.out"
check "Retry-After as a date was honoured (the round took at least a second)" test "$elapsed_ms" -ge 1000
finish

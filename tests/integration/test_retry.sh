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
finish

#!/usr/bin/env bash
# The status listener of a real `duikou daemon` on city-sim sources:
# /healthz 200, then 503 naming a source that stopped answering and 200
# again once it answers; /status as JSON; 404, 405 with Allow, HEAD; a
# listener off loopback refused without a token, and with one 401 without
# it (the token in no log or state file); SIGHUP with a good and a bad
# configuration, and with a status.listen that cannot be bound (the
# listener keeps answering); SIGTERM during a slow sync leaves the
# repository clean.
. "$TEST_LIB"

start_sim
DPID=

start_daemon() {
  local cfg=$1 log=$2; shift 2
  env "$@" "$DUIKOU" daemon -c "$cfg" --log-level debug 2>"$log" &
  DPID=$!
}

stop_daemon() {
  kill -TERM "$DPID"
  wait "$DPID"
  DSTATUS=$?
  DPID=
}

wait_for() {
  for _ in $(seq 1 $(( $3 * 20 ))); do grep -q -- "$1" "$2" && return 0; sleep 0.05; done
  return 1
}

# listener_url LOG: the address the daemon logged, once it did.
listener_url() {
  for _ in $(seq 1 100); do
    local u
    u=$(grep -o 'status listener on http://[^ "]*' "$1" | tail -n 1 | sed 's/^status listener on //')
    [ -n "$u" ] && { echo "$u"; return 0; }
    sleep 0.05
  done
  return 1
}

# http_code URL [curl args...]: the status of a GET.
http_code() {
  local u=$1; shift
  curl -s -o "$WORK/body" -w '%{http_code}' --max-time 5 "$@" "$u"
}

# wait_code WANT SECONDS URL [curl args...]: until the URL answers WANT.
wait_code() {
  local want=$1 secs=$2 u=$3; shift 3
  for _ in $(seq 1 $(( secs * 10 ))); do
    [ "$(http_code "$u" "$@")" = "$want" ] && return 0
    sleep 0.1
  done
  return 1
}

cat >"$WORK/s.yaml" <<YAML
repository: snap.git
state: state
status:
  listen: "127.0.0.1:0"
sources:
  - name: jinan-api
    plugin: json-api
    city: jinan
    url: "$SIM_URL/jinan/tasks.json"
    every: 1s
    retries: 0
YAML

start_daemon "$WORK/s.yaml" "$WORK/s.log"
URL=$(listener_url "$WORK/s.log") || { not_ok "the daemon logs its status listener" "$(tail -n 5 "$WORK/s.log")"; finish; }
ok "the daemon logs its status listener ($URL)"
check "the source syncs" wait_for 'source=jinan-api .*msg="committed' "$WORK/s.log" 10
check "/healthz: 200 while the source syncs" wait_code 200 5 "${URL}healthz"
check_eq "... its body is ok" "ok" "$(cat "$WORK/body")"
HEAD_SIZE=$(curl -s -D "$WORK/head" -o /dev/null -w '%{size_download}' -I --max-time 5 "${URL}healthz")
check_grep "HEAD /healthz: 200" '^HTTP/1.1 200' "$WORK/head"
check_grep "... with the length of its body" '^Content-Length: 3' "$WORK/head"
check_eq "... and no body" 0 "$HEAD_SIZE"
check_eq "an unknown path: 404" 404 "$(http_code "${URL}nope")"
check_eq "POST /healthz: 405" 405 "$(curl -s -D "$WORK/head" -o /dev/null -w '%{http_code}' -X POST "${URL}healthz")"
check_grep "... with Allow" '^Allow: GET, HEAD' "$WORK/head"

check_eq "/status: 200" 200 "$(http_code "${URL}status")"
check "/status: JSON with the source's state and schedule" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] and d["health"]["ok"] is True and d["health"]["reasons"] == [], d["health"]
s = d["sources"][0]
assert s["name"] == "jinan-api" and s["city"] == "jinan" and s["plugin"] == "json-api", s
assert s["schedule"] == {"every": "1s"}, s["schedule"]
assert s["last_success"] and s["records"] > 0 and s["invalid"] == 0 and s["consecutive_failures"] == 0, s
assert d["remotes"] == [] and d["sites"] == []
' "$WORK/body"

# next_run: set while the source waits for its timer
for _ in $(seq 1 30); do
  http_code "${URL}status" >/dev/null
  python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["sources"][0]; sys.exit(0 if s["next_run"] else 1)' "$WORK/body" && break
  sleep 0.1
done
check "/status: the next run, after the last attempt" python3 -c '
import json, sys
from datetime import datetime
s = json.load(open(sys.argv[1]))["sources"][0]
assert datetime.fromisoformat(s["next_run"]) >= datetime.fromisoformat(s["last_attempt"]), s
' "$WORK/body"

# The source stops answering (city-sim answers 503): within 2 of its
# intervals /healthz says so, naming it, and recovers once it answers.
curl -s -o /dev/null -X POST "$SIM_URL/_sim/misbehave?path=/jinan/tasks.json&mode=status&status=503"
check "/healthz: 503 once the source missed its syncs" wait_code 503 15 "${URL}healthz"
check_grep "... naming the source and why" 'source jinan-api: no successful sync for .* (expected every 1s); .* failure.*503' "$WORK/body"
check_status "duikou health without the daemon says the same: exit 1" 1 "$DUIKOU" health -c "$WORK/s.yaml"
check_grep "... naming the source" '^source jinan-api: no successful sync' "$WORK/last.out"
check_status "... --json: the /status document" 1 "$DUIKOU" health -c "$WORK/s.yaml" --json
check "... with health.ok false" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["health"]["ok"] is False and d["sources"][0]["name"] == "jinan-api"' "$WORK/last.out"
http_code "${URL}status" >/dev/null
check "... /status says the same, with the last failure" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["health"]["ok"] is False and "jinan-api" in d["health"]["reasons"][0], d["health"]
s = d["sources"][0]
assert s["consecutive_failures"] >= 1 and "503" in s["last_failure_reason"], s
' "$WORK/body"
curl -s -o /dev/null -X POST "$SIM_URL/_sim/misbehave?path=/jinan/tasks.json&mode=none"
check "/healthz: 200 again once the source answers" wait_code 200 30 "${URL}healthz"
check_status "duikou health: ok, exit 0" 0 "$DUIKOU" health -c "$WORK/s.yaml"
check_eq "... saying ok" ok "$(cat "$WORK/last.out")"

# /metrics on the live daemon: Prometheus' own checker finds nothing to say,
# and the counters hold the story just told (successes, then the 503s).
check_eq "/metrics: 200" 200 "$(curl -s -D "$WORK/head" -o "$WORK/metrics" -w '%{http_code}' --max-time 5 "${URL}metrics")"
check_grep "... in the text exposition format 0.0.4" '^Content-Type: text/plain; version=0.0.4' "$WORK/head"
check "... promtool check metrics: no problem, no lint" sh -c 'out=$(promtool check metrics <"$1" 2>&1) && [ -z "$out" ] || { echo "$out"; exit 1; }' _ "$WORK/metrics"
check "... the source's good fetches and its 503s counted" python3 -c '
import re, sys
series = {}
for line in open(sys.argv[1]):
    m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
    if m:
        labels = frozenset(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(2) or ""))
        series[(m.group(1), labels)] = float(m.group(3))
def v(name, **labels):
    return series.get((name, frozenset(labels.items())), 0)
assert v("duikou_fetches_total", source="jinan-api", city="jinan", result="ok") >= 1, "ok"
assert v("duikou_fetches_total", source="jinan-api", city="jinan", result="http_error") >= 1, "http_error"
assert v("duikou_http_responses_total", source="jinan-api", code="5xx") >= 1, "5xx"
assert v("duikou_source_next_run_timestamp_seconds", source="jinan-api", city="jinan") > 1.7e9, "next run"
assert any(n == "duikou_build_info" and val == 1 for (n, _), val in series.items()), "build info"
assert v("duikou_commit_duration_seconds_count") >= 1, "commit histogram"
' "$WORK/metrics"
check_eq "the dashboard on the same listener: / 200" 200 "$(curl -s -D "$WORK/head" -o "$WORK/dash.html" -w '%{http_code}' --max-time 5 "$URL")"
check_grep "... as HTML" '^Content-Type: text/html; charset=utf-8' "$WORK/head"
check_grep "... naming the source in its panel" 'data-source="jinan-api"' "$WORK/dash.html"

# SIGHUP: a good configuration (the listener keeps its address), a bad one
# (refused), one whose new address is taken (refused, the old one kept).
sed -i 's/every: 1s/every: 2s/' "$WORK/s.yaml"
kill -HUP "$DPID"
check "SIGHUP with a good configuration reloads" wait_for 'SIGHUP: reloading' "$WORK/s.log" 5
check "... the listener answers across the reload" wait_code 200 5 "${URL}status"
check_grep "... and shows the new schedule" '"every": "2s"' "$WORK/body"
cp "$WORK/s.yaml" "$WORK/good.yaml"
printf 'repository: [unclosed\n' >"$WORK/s.yaml"
kill -HUP "$DPID"
check "SIGHUP with a bad configuration is refused" wait_for 'reload refused: .*s.yaml:[0-9]*:[0-9]*: ' "$WORK/s.log" 5
check_eq "... the listener still answers" 200 "$(http_code "${URL}status")"
python3 -c 'import socket, time, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(30)' "$WORK/taken.port" &
HOLDER=$!
for _ in $(seq 1 100); do [ -s "$WORK/taken.port" ] && break; sleep 0.05; done
sed "s/127.0.0.1:0/127.0.0.1:$(cat "$WORK/taken.port")/" "$WORK/good.yaml" >"$WORK/s.yaml"
kill -HUP "$DPID"
check "SIGHUP to an address in use is refused" wait_for "reload refused: status listener: listen 127.0.0.1:$(cat "$WORK/taken.port"): address already in use" "$WORK/s.log" 5
check_eq "... the old listener still answers" 200 "$(http_code "${URL}status")"
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null
check "the daemon still runs" kill -0 "$DPID"
stop_daemon
check_eq "SIGTERM: exit status 0" 0 "$DSTATUS"
check "... the listener is closed" test "$(http_code "${URL}healthz")" = 000

# Off loopback: refused without a token, at load and by check-config.
cat >"$WORK/open.yaml" <<YAML
repository: open.git
state: openstate
status: { listen: "0.0.0.0:0" }
sources:
  - { name: jinan-api, plugin: json-api, city: jinan, url: "$SIM_URL/jinan/tasks.json", every: 1h }
YAML
check_status "check-config refuses a listener off loopback without a token" 2 "$DUIKOU" check-config "$WORK/open.yaml"
check_grep "... naming the key, its line and column" 'open.yaml:3:19: listening on 0.0.0.0 (not loopback) needs a token' "$WORK/last.err"
check_status "the daemon refuses to start with it" 2 "$DUIKOU" daemon -c "$WORK/open.yaml"
check_grep "... saying why" 'needs a token: set status.token_env or status.token_file' "$WORK/last.err"

# With a token: 401 without it or with another, 200 with it; the token in no
# log, state file or repository.
TOKEN="st-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
sed -i 's/status: { listen: "0.0.0.0:0" }/status: { listen: "0.0.0.0:0", token_env: DK_TEST_STATUS_TOKEN }/' "$WORK/open.yaml"
check_status "check-config accepts it with a token" 0 "$DUIKOU" check-config "$WORK/open.yaml"
start_daemon "$WORK/open.yaml" "$WORK/o.log" DK_TEST_STATUS_TOKEN="$TOKEN"
URL=$(listener_url "$WORK/o.log") || { not_ok "the token listener starts" "$(tail -n 5 "$WORK/o.log")"; finish; }
URL=${URL/0.0.0.0/127.0.0.1}
check "... and syncs" wait_for 'source=jinan-api .*msg="\(committed\|unchanged\)' "$WORK/o.log" 10
check_eq "no token: 401" 401 "$(curl -s -D "$WORK/head" -o /dev/null -w '%{http_code}' "${URL}healthz")"
check_grep "... with WWW-Authenticate" '^WWW-Authenticate: Bearer' "$WORK/head"
check_eq "another token: 401" 401 "$(http_code "${URL}healthz" -H "Authorization: Bearer ${TOKEN}x")"
check_eq "a prefix of the token: 401" 401 "$(http_code "${URL}healthz" -H "Authorization: Bearer ${TOKEN%?}")"
check_eq "the token: 200" 200 "$(http_code "${URL}healthz" -H "Authorization: Bearer $TOKEN")"
check_eq "the token: /status 200" 200 "$(http_code "${URL}status" -H "Authorization: Bearer $TOKEN")"
stop_daemon
check_eq "... exit 0" 0 "$DSTATUS"
check "the token is in no log, state file or repository" bash -c "! grep -rqF -- '$TOKEN' '$WORK/o.log' '$WORK/state' '$WORK/snap.git'"
check_status "without its variable the daemon does not start" 1 "$DUIKOU" daemon -c "$WORK/open.yaml"
check_grep "... naming the variable" 'status token: .*DK_TEST_STATUS_TOKEN' "$WORK/last.err"

# Open conflicts: more than conflict_max_open, or older than conflict_max_age.
mkdir -p "$WORK/www"
task12() { printf '[{"kind":"task","id":"jnly-2024/12","plan":"jnly-2024","number":12,"title":"%s","status":"in_progress","updated_at":"2024-06-01T09:00:00+08:00"}]\n' "$1"; }
task12 联合做强两市优势产业 >"$WORK/www/jinan.json"
task12 两市联合做强优势产业 >"$WORK/www/linyi.json"
"$CITY_SIM" --host 127.0.0.1 --port 0 --port-file "$WORK/sim2.port" --quiet --data "$WORK/www" 2>"$WORK/sim2.err" &
SIM2=$!
for _ in $(seq 1 100); do [ -s "$WORK/sim2.port" ] && break; sleep 0.05; done
SIM2_URL="http://127.0.0.1:$(cat "$WORK/sim2.port")"
cat >"$WORK/c.yaml" <<YAML
repository: conflicts.git
state: cstate
reconcile: { default: manual }
status:
  listen: "127.0.0.1:0"
  health: { conflict_max_open: 5, conflict_max_age: 1s }
sources:
  - { name: jinan-tasks, plugin: json-api, city: jinan, url: "$SIM2_URL/jinan.json", every: 1h }
  - { name: linyi-tasks, plugin: json-api, city: linyi, url: "$SIM2_URL/linyi.json", every: 1h }
YAML
"$DUIKOU" sync -c "$WORK/c.yaml" >"$WORK/c.out" 2>&1
check_grep "two cities disagree: a conflict is open" "conflicts/" <(git --git-dir "$WORK/conflicts.git" ls-tree -r --name-only main)
# opened_at is the report's commit time, which may be a second ahead of the
# clock (a report sorts after what main folded in the same second)
sleep 3
start_daemon "$WORK/c.yaml" "$WORK/c.log"
URL=$(listener_url "$WORK/c.log")
check_eq "/healthz: 503 with a conflict open for longer than conflict_max_age" 503 "$(http_code "${URL}healthz")"
check_grep "... saying how many, which and how long" '^conflicts: 1 open for longer than 1s, the oldest conflicts/.* for ' "$WORK/body"
stop_daemon
sed -i 's/conflict_max_open: 5, conflict_max_age: 1s/conflict_max_open: 0/' "$WORK/c.yaml"
start_daemon "$WORK/c.yaml" "$WORK/c2.log"
URL=$(listener_url "$WORK/c2.log")
check_eq "/healthz: 503 with more conflicts open than conflict_max_open" 503 "$(http_code "${URL}healthz")"
check_grep "... saying how many" '^conflicts: 1 open, more than 0 (duikou conflicts list)' "$WORK/body"
stop_daemon

# A round whose share of valid records fell below its usual.
tasks() { # tasks STATUS-OF-13-15 TITLE-SUFFIX
  printf '['
  for n in 12 13 14 15; do
    st=in_progress; [ "$n" != 12 ] && st=$1
    [ "$n" != 12 ] && printf ','
    printf '{"kind":"task","id":"jnly-2024/%s","plan":"jnly-2024","number":%s,"title":"任务%s%s","status":"%s","updated_at":"2024-06-01T09:00:00+08:00"}' "$n" "$n" "$n" "$2" "$st"
  done
  printf ']\n'
}
cat >"$WORK/v.yaml" <<YAML
repository: valid.git
state: vstate
status: { listen: "127.0.0.1:0" }
sources:
  - { name: share, plugin: json-api, city: jinan, url: "$SIM2_URL/share.json", every: 1h }
YAML
tasks in_progress a >"$WORK/www/share.json"
"$DUIKOU" sync -c "$WORK/v.yaml" >"$WORK/v1.out" 2>&1
tasks in_progress b >"$WORK/www/share.json"
"$DUIKOU" sync -c "$WORK/v.yaml" >"$WORK/v2.out" 2>&1
check "after two good rounds the state file keeps the usual share" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["valid_share"] == 1.0 and s["valid_share_usual"] == 1.0 and s["records"] == 4 and s["invalid"] == 0, s
' "$WORK/vstate/sources/share.json"
tasks no-such-status c >"$WORK/www/share.json"
"$DUIKOU" sync -c "$WORK/v.yaml" >"$WORK/v3.out" 2>&1
start_daemon "$WORK/v.yaml" "$WORK/v.log"
URL=$(listener_url "$WORK/v.log")
check_eq "/healthz: 503 when a round's share of valid records fell" 503 "$(http_code "${URL}healthz")"
check_grep "... with the numbers" "^source share: 25% of the last round's records were valid (1 of 4), usually 100%" "$WORK/body"
stop_daemon
kill "$SIM2"; wait "$SIM2" 2>/dev/null

# The exchange: a remote that cannot be reached for longer than
# remote_down_after, and its state in /status.
cat >"$WORK/x.yaml" <<YAML
repository: x.git
state: xstate
site: jinan
remotes:
  - { name: shared, url: "file://$WORK/no-such-remote.git", every: 1s }
status:
  listen: "127.0.0.1:0"
  health: { remote_down_after: 1s }
sources:
  - { name: jinan-api, plugin: json-api, city: jinan, url: "$SIM_URL/jinan/tasks.json", every: 1h }
YAML
start_daemon "$WORK/x.yaml" "$WORK/x.log"
URL=$(listener_url "$WORK/x.log")
check "/healthz: 503 once the remote is down for longer than remote_down_after" wait_code 503 15 "${URL}healthz"
check_grep "... naming the remote and why" '^remote shared: unreachable for [0-9]*s: ' "$WORK/body"
http_code "${URL}status" >/dev/null
check "/status: the remote's state and this site" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["site"] == "jinan", d["site"]
r = d["remotes"][0]
assert r["name"] == "shared" and r["down_since"] and r["error"] and r["last_success"] is None, r
assert any(s["site"] == "jinan" and s["self"] for s in d["sites"]), d["sites"]
' "$WORK/body"
stop_daemon
check_eq "... exit 0" 0 "$DSTATUS"

# SIGTERM while a slow source is syncing: the repository stays clean.
cat >"$WORK/slow.yaml" <<YAML
repository: slow.git
state: slowstate
status: { listen: "127.0.0.1:0" }
sources:
  - { name: quick, plugin: json-api, city: jinan, url: "$SIM_URL/jinan/tasks.json", every: 300ms }
  - name: slow
    plugin: json-api
    city: linyi
    url: "$SIM_URL/jinan/tasks.json?misbehave=slow&delay_ms=1500"
    every: 200ms
    timeout: 10s
YAML
start_daemon "$WORK/slow.yaml" "$WORK/t.log"
check "the quick source commits" wait_for 'source=quick .*msg="committed' "$WORK/t.log" 10
for _ in $(seq 1 100); do
  started=$(grep -c 'source=slow .*run started' "$WORK/t.log")
  ended=$(grep -c 'source=slow .*msg="\(committed\|unchanged\|not modified\|HTTP\)' "$WORK/t.log")
  [ "$started" -gt "$ended" ] && break
  sleep 0.05
done
URL=$(listener_url "$WORK/t.log")
check_eq "/status answers during the slow sync" 200 "$(http_code "${URL}status")"
stop_daemon
check_eq "SIGTERM during a slow sync: exit 0" 0 "$DSTATUS"
check "git fsck --strict on the repository" git --git-dir "$WORK/slow.git" fsck --strict --no-progress
check_eq "no lock file of git's is left" "" "$(find "$WORK/slow.git" -name '*.lock' ! -name 'duikou.*')"

finish

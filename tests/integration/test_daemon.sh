#!/usr/bin/env bash
# duikou daemon: sources on their own timers; a failing source backs off
# without delaying the others; a slow source never runs twice at once;
# SIGHUP reloads (a bad file is refused and the running one kept); SIGTERM
# cancels a fetch in flight and exits 0; systemd's notify protocol; a
# restart keeps each source's rhythm from its state file.
. "$TEST_LIB"

start_sim
DPID=

# start_daemon CONFIG LOG [env...]: starts duikou daemon in the background.
start_daemon() {
  local cfg=$1 log=$2; shift 2
  env "$@" "$DUIKOU" daemon -c "$cfg" --log-level debug 2>"$log" &
  DPID=$!
}

# stop_daemon: SIGTERM, wait; sets DSTATUS and DSTOP_MS (time to exit).
stop_daemon() {
  local t0
  t0=$(date +%s%N)
  kill -TERM "$DPID"
  wait "$DPID"
  DSTATUS=$?
  DSTOP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
  DPID=
}

# wait_for PATTERN FILE SECONDS: until the pattern shows up in the file.
wait_for() {
  for _ in $(seq 1 $(( $3 * 20 ))); do grep -q -- "$1" "$2" && return 0; sleep 0.05; done
  return 1
}

cat >"$WORK/d.yaml" <<YAML
repository: snap.git
state: state
sources:
  - name: good
    plugin: json-api
    city: jinan
    url: "$SIM_URL/jinan/tasks.json"
    every: 1s
  - name: broken
    plugin: json-api
    city: linyi
    url: "$SIM_URL/jinan/tasks.json?fail=100000&status=500"
    every: 500ms
    retries: 0
  - name: slow
    plugin: json-api
    city: province
    url: "$SIM_URL/jinan/tasks.json?misbehave=slow&delay_ms=1200"
    every: 200ms
    timeout: 10s
YAML

# listen_notify SOCKET OUT: datagrams to SOCKET, one line each, until STOPPING=1.
listen_notify() {
  python3 - "$1" >"$2" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
try:
    while True:
        msg = s.recv(4096).decode()
        print(msg, flush=True)
        if msg.startswith("STOPPING=1"):
            break
except socket.timeout:
    pass
PY
  NPID=$!
  for _ in $(seq 1 100); do [ -S "$1" ] && break; sleep 0.05; done
}

NOTIFY="$WORK/notify.sock"
listen_notify "$NOTIFY" "$WORK/notify.out"

start_daemon "$WORK/d.yaml" "$WORK/d.log" NOTIFY_SOCKET="$NOTIFY"
sleep 6
check "the daemon is still running with a failing source" kill -0 "$DPID"

good_runs=$(grep -c 'source=good .*msg="\(committed\|unchanged\|not modified\)' "$WORK/d.log")
broken_runs=$(grep -c 'source=broken .*msg="HTTP 500' "$WORK/d.log")
check "the good source ran on its 1 s rhythm ($good_runs runs in 6 s)" test "$good_runs" -ge 4
check "the failing source backed off ($broken_runs tries in 6 s, not 12)" test "$broken_runs" -le 5
check "... but was tried more than once" test "$broken_runs" -ge 3
check_grep "the backoff is logged with its failures" 'source=broken .*backing off after 3 failures' "$WORK/d.log"
check_eq "the state counts the failures in a row" "$broken_runs" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consecutive_failures"])' "$WORK/state/sources/broken.json")"
check_grep "the state keeps the reason" '"last_failure_reason": "HTTP 500' "$WORK/state/sources/broken.json"

# The slow source (1.2 s a fetch, every 200 ms) never has two runs at once:
# "run started" and its end alternate.
grep -E 'source=slow .*msg="(run started|committed|unchanged|not modified)' "$WORK/d.log" |
  sed -E 's/.*msg="(run started|committed|unchanged|not modified).*/\1/' >"$WORK/slow.seq"
overlap=$(awk '/run started/ { if (open) bad=1; open=1; next } { open=0 } END { print bad+0 }' "$WORK/slow.seq")
slow_runs=$(grep -c 'run started' "$WORK/slow.seq")
check_eq "a slow source never runs twice at once ($slow_runs runs)" 0 "$overlap"
check "the slow source did run" test "$slow_runs" -ge 2

# A second daemon on the same repository cannot start: exit 1, saying why.
check_status "a second daemon on the same repository exits 1" 1 timeout 10 "$DUIKOU" daemon -c "$WORK/d.yaml"
check_grep "... because the first holds it" "in use by another duikou (pid $DPID" "$WORK/last.err"

# SIGHUP with a broken file: refused, the daemon goes on.
cp "$WORK/d.yaml" "$WORK/d.yaml.good"
printf 'repository: snap.git\nsources: 12\n' >"$WORK/d.yaml"
kill -HUP "$DPID"
check "a bad reload is refused and logged" wait_for 'reload refused: .*d.yaml:2:10' "$WORK/d.log" 5
check "the daemon runs on after a refused reload" kill -0 "$DPID"

# SIGHUP with a good file that adds a source: it runs.
cp "$WORK/d.yaml.good" "$WORK/d.yaml"
cat >>"$WORK/d.yaml" <<YAML
  - name: added
    plugin: json-api
    city: central
    url: "$SIM_URL/jinan/tasks.json"
    every: 1h
YAML
kill -HUP "$DPID"
check "SIGHUP reloads the configuration" wait_for 'SIGHUP: reloading' "$WORK/d.log" 5
check "a source added by the reload runs" wait_for 'source=added .*msg="\(committed\|unchanged\)' "$WORK/d.log" 10

# SIGTERM while the slow source is fetching (more runs started than ended):
# canceled, exit 0 at once.
for _ in $(seq 1 100); do
  started=$(grep -c 'source=slow .*run started' "$WORK/d.log")
  ended=$(grep -c 'source=slow .*msg="\(committed\|unchanged\|not modified\|HTTP\)' "$WORK/d.log")
  [ "$started" -gt "$ended" ] && break
  sleep 0.05
done
stop_daemon
check_eq "SIGTERM: exit status 0" 0 "$DSTATUS"
check "SIGTERM does not wait for a slow fetch ($DSTOP_MS ms)" test "$DSTOP_MS" -lt 1000
check_grep "the fetch in flight was canceled" 'source=slow .*run canceled' "$WORK/d.log"
check_grep "stopped is logged" 'msg="stopped"' "$WORK/d.log"
check_no_grep "a cancellation is not a failure of the source" '"last_failure_reason": "canceled' "$WORK/state/sources/slow.json"
check "the repository is sound" git --git-dir "$WORK/snap.git" fsck --strict

wait "$NPID"
check_grep "systemd was told READY=1" '^READY=1' "$WORK/notify.out"
check_grep "... RELOADING=1 on SIGHUP" '^RELOADING=1' "$WORK/notify.out"
check_grep "... STOPPING=1 on SIGTERM" '^STOPPING=1' "$WORK/notify.out"
check_no_grep "... and no WATCHDOG=1 without \$WATCHDOG_USEC" 'WATCHDOG=1' "$WORK/notify.out"


# A restart keeps the rhythm: `added` (every 1h) ran a moment ago, so it does
# not run again at start; a source never attempted runs at once.
cat >"$WORK/r.yaml" <<YAML
repository: snap.git
state: state
sources:
  - name: added
    plugin: json-api
    city: central
    url: "$SIM_URL/jinan/tasks.json"
    every: 1h
  - name: fresh
    plugin: json-api
    city: other
    url: "$SIM_URL/jinan/tasks.json"
    every: 1h
YAML
# ... with systemd's watchdog: WATCHDOG_USEC=400000 means WATCHDOG=1 every 200 ms.
listen_notify "$WORK/wd.sock" "$WORK/wd.out"
WD_T0=$(date +%s%N)
start_daemon "$WORK/r.yaml" "$WORK/r.log" NOTIFY_SOCKET="$WORK/wd.sock" WATCHDOG_USEC=400000
sleep 2
check "a never-run source runs at once after start" wait_for 'source=fresh .*msg="\(committed\|unchanged\)' "$WORK/r.log" 10
check_no_grep "a source that ran recently waits for its turn" 'source=added .*run started' "$WORK/r.log"
check_grep "its next run is planned about an hour after the last" 'source=added .*next run in [0-9]\{7\} ms' "$WORK/r.log"
stop_daemon
WD_MS=$((($(date +%s%N) - WD_T0) / 1000000))
check_eq "exit 0 again" 0 "$DSTATUS"
wait "$NPID"
wd=$(grep -c '^WATCHDOG=1' "$WORK/wd.out")
# one every 200 ms of the daemon's life (measured, as a loaded machine
# stretches it): at least 40% of them, and no more than there was time for
check "WATCHDOG=1 every 200 ms with WATCHDOG_USEC=400000 ($wd in $WD_MS ms)" \
  test "$wd" -ge $((WD_MS * 2 / 1000)) -a "$wd" -le $((WD_MS / 200 + 1)) -a "$wd" -ge 6
# $WATCHDOG_PID naming another process: that one is watched, not duikou.
listen_notify "$WORK/wd2.sock" "$WORK/wd2.out"
start_daemon "$WORK/r.yaml" "$WORK/r2.log" NOTIFY_SOCKET="$WORK/wd2.sock" WATCHDOG_USEC=400000 WATCHDOG_PID=1
wait_for '^READY=1' "$WORK/wd2.out" 10
sleep 1
stop_daemon
wait "$NPID"
check_grep "with WATCHDOG_PID of another process: READY=1" '^READY=1' "$WORK/wd2.out"
check_no_grep "... but no WATCHDOG=1" 'WATCHDOG=1' "$WORK/wd2.out"

# A configuration that cannot be loaded: exit 2 with the error.
printf 'repository: snap.git\nsources: []\n' >"$WORK/bad.yaml"
check_status "a bad configuration: exit 2" 2 "$DUIKOU" daemon -c "$WORK/bad.yaml"
check_grep "... with the place of the problem" 'bad.yaml:2:10' "$WORK/last.err"
check_status "daemon --help: exit 0" 0 "$DUIKOU" daemon --help
check_grep "--help names SIGHUP" 'SIGHUP' "$WORK/last.out"
finish

#!/usr/bin/env bash
# Every misbehaviour of city-sim, one at a time, against three real sources —
# Jinan's paginated task register (json-api, bearer token), Linyi's GBK
# progress export (csv) and the 2023 plan document (plan-text) — each checked
# for: the misbehaving source ends in the documented state (README.md, "When
# a source misbehaves"), the other sources are untouched, every record that
# was valid and fully received gets through, the repository stays sound, and
# the source recovers once the server does. A daemon runs beside the whole
# test on its own repository and must still be running at the end.
. "$TEST_LIB"

TOKEN="misbehave-test-token-$$"
export JINAN_TOKEN="$TOKEN"
start_sim --token "$TOKEN" --date 2024-06-30
G="git --git-dir $WORK/snap.git"

write_config() { # write_config FILE REPO STATE WHO
  cat >"$1" <<YAML
repository: $2
state: $3
sources:
  - name: jinan-tasks
    plugin: json-api
    city: jinan
    url: "$SIM_URL/jinan/api/tasks?page=1&per_page=10"
    every: 1s
    retries: 1
    retry_base: 10ms
    timeout: 1500ms
    auth: { bearer_env: JINAN_TOKEN }
    options:
      records: /data/items
      link_header: true
      constants: { kind: task }
      map: { id: /code, plan: /plan_code, number: /no, title: /name, text: /content,
             section: /category, units: /depts, status: /state, updated_at: /modified }
  - name: linyi-progress
    plugin: csv
    city: linyi
    url: "$SIM_URL/linyi/export/progress.csv?who=$4"
    every: 1s
    retries: 1
    retry_base: 10ms
    timeout: 1500ms
    max_body: 1M
    options:
      encoding: GBK
      task_prefix: jnly-2024/
      columns: { 任务编号: task, 进展情况: summary, 完成比例: percent, 填报单位: unit, 填报时间: reported_at }
  - name: plans
    plugin: plan-text
    city: other
    url: "$SIM_URL/plans/jnly-2023.md?who=$4"
    every: 1s
    retries: 1
    retry_base: 10ms
    options: { plans: [jnly-2023-division, jnly-2023] }
YAML
}
# The daemon's URLs differ from the rounds' by ?who=, so that a misbehaviour
# limited to one request (count=1) can be aimed at the round (query=who=round).
write_config "$WORK/d.yaml" snap.git state round
write_config "$WORK/daemon.yaml" daemon.git daemon-state daemon

"$DUIKOU" daemon -c "$WORK/daemon.yaml" 2>"$WORK/daemon.log" &
DAEMON=$!

sim() { curl -sf -X POST "$SIM_URL$1" >/dev/null; }
misbehave() { sim "/_sim/misbehave?path=$1&$2"; }
clear_all() { for p in /jinan/api/tasks /linyi/export/progress.csv /plans/jnly-2023.md; do misbehave "$p" mode=none; done; }
advance() { sim "/_sim/clock?advance=$1"; }
state_of() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2]))' \
  "$WORK/state/sources/$1.json" "$2"; }
tree_of() { $G ls-tree -r main "$@" | sort; }

# round NAME: one sync; its output in $WORK/NAME.out / .err
round() {
  "$DUIKOU" sync -c "$WORK/d.yaml" >"$WORK/$1.out" 2>"$WORK/$1.err"
  echo $? >"$WORK/$1.status"
}
line_of() { grep "^$2 " "$WORK/$1.out"; }

# --- a good round first ------------------------------------------------------
round base
check_eq "baseline: exit 0" 0 "$(cat "$WORK/base.status")"
check_grep "baseline: 31 tasks over 4 pages (Link header)" "jinan-tasks *committed .*31 records" "$WORK/base.out"
check_grep "baseline: Linyi's progress" "linyi-progress *committed" "$WORK/base.out"
check_grep "baseline: the 2023 plans (2 plans, 96 tasks)" "plans *committed .*98 records" "$WORK/base.out"
check_grep "the commit says 4 pages" "Duikou-Pages: 4" <($G log -1 --first-parent --format=%B main -- tasks/jnly-2024)

# expect_others ROUND: the two other sources succeeded in that round.
expect_others() {
  local r=$1 bad=$2
  for s in jinan-tasks linyi-progress plans; do
    [ "$s" = "$bad" ] && continue
    if line_of "$r" "$s" | grep -q "committed\|unchanged\|not modified"; then ok "$r: $s untouched"
    else not_ok "$r: $s untouched" "$(line_of "$r" "$s")"; fi
  done
}

# after_failure ROUND SOURCE PATTERN: the documented failed state.
after_failure() {
  local r=$1 s=$2 pat=$3
  check_eq "$r: the round exits 1" 1 "$(cat "$WORK/$r.status")"
  if line_of "$r" "$s" | grep -q "FAILED: .*$pat"; then ok "$r: $s FAILED with [$pat]"
  else not_ok "$r: $s FAILED with [$pat]" "$(line_of "$r" "$s")"; fi
  check "$r: $s's state counts the failure" test "$(state_of "$s" consecutive_failures)" -ge 1
  if state_of "$s" last_failure_reason | grep -q -- "$pat"; then ok "$r: its state keeps the reason"
  else not_ok "$r: its state keeps the reason" "$(state_of "$s" last_failure_reason)"; fi
  check "$r: the repository is sound" $G fsck --strict
  expect_others "$r" "$s"
}

# recover ROUND SOURCE: clear misbehaviour; the next round succeeds.
recover() {
  clear_all
  round "$1-recovered"
  if line_of "$1-recovered" "$2" | grep -q "committed\|unchanged\|not modified"; then ok "$1: $2 recovers"
  else not_ok "$1: $2 recovers" "$(line_of "$1-recovered" "$2")"; fi
  check_eq "$1: failures reset" 0 "$(state_of "$2" consecutive_failures)"
}

# --- 500s: retried, then the source fails; nothing of it committed ----------
advance 7
before=$(tree_of progress)
misbehave /linyi/export/progress.csv "mode=status&status=500"
round s500
after_failure s500 linyi-progress "HTTP 500 .*gave up after 2 tries"
check_eq "s500: Linyi's records are as before" "$before" "$(tree_of progress)"
recover s500 linyi-progress

# --- 429 with Retry-After once: waited for, then success ----------------------
advance 7
misbehave /linyi/export/progress.csv "mode=status&status=429&retry_after=1&count=1&query=who=round"
t0=$(date +%s%N)
round s429
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_eq "s429: exit 0" 0 "$(cat "$WORK/s429.status")"
check_grep "s429: Linyi committed after the wait" "linyi-progress *committed" "$WORK/s429.out"
check "s429: Retry-After: 1 honoured ($ms ms)" test "$ms" -ge 1000
check_grep "s429: the retry is logged" "source=linyi-progress .*HTTP 429.*retry 1 of 1" "$WORK/s429.err"

# --- slow: past the source's timeout, the source fails; others unaffected ----
advance 7
misbehave /linyi/export/progress.csv "mode=slow&delay_ms=4000"
round slow
after_failure slow linyi-progress "fetch failed: .*[Tt]ime"
recover slow linyi-progress

# --- truncated body on page 3: pages 1-2 committed, the rest kept ------------
# (on 2024-09-30 tasks of both halves have changed since July)
sim "/_sim/clock?date=2024-09-30"
before=$(tree_of tasks/jnly-2024)
misbehave /jinan/api/tasks "mode=truncate&query=page=3"
round trunc
after_failure trunc jinan-tasks "fetch failed"
check_grep "trunc: the pages fully received were committed" "the 20 valid records of the 2 pages received were committed" "$WORK/trunc.out"
partial=$($G log -1 --first-parent --format=%H main -- tasks/jnly-2024)
check_grep "trunc: the commit says it is partial" "Duikou-Partial: yes" <($G show -s --format=%B "$partial")
changed=$($G diff-tree --no-commit-id --name-only -r "$partial^1" "$partial")
check "trunc: only tasks of pages 1-2 changed" bash -c "! echo '$changed' | grep -v '^tasks/jnly-2024/\(0[1-9]\|1[0-9]\|20\)\.json$'"
check "trunc: some did change (the clock moved 30 days)" test -n "$changed"
check_eq "trunc: tasks 21-31 are as before" "$(echo "$before" | grep -E '/(2[1-9]|3[01])\.json$')" \
  "$(tree_of tasks/jnly-2024 | grep -E '/(2[1-9]|3[01])\.json$')"
check_eq "trunc: the validators were dropped" "None" "$(state_of jinan-tasks etag)"
recover trunc jinan-tasks
last=$($G log -1 --first-parent --format=%H main -- tasks/jnly-2024)
check "trunc: the rest came in on recovery" bash -c "$G diff-tree --no-commit-id --name-only -r $last^1 $last | grep -q 'tasks/jnly-2024/2[1-9]\|3[01]'"

# --- an HTML login page instead of the CSV -------------------------------------
advance 7
misbehave /linyi/export/progress.csv "mode=wrong-type"
round wtype
after_failure wtype linyi-progress "expected CSV, got text/html"
recover wtype linyi-progress

# --- invalid JSON on page 1: nothing of the source committed -------------------
advance 30
before=$(tree_of tasks)
misbehave /jinan/api/tasks "mode=invalid-json&query=page=1"
round ijson
after_failure ijson jinan-tasks "could not parse page 1"
check_eq "ijson: the tasks are as before" "$before" "$(tree_of tasks)"
recover ijson jinan-tasks

# --- invalid UTF-8 in page 2 of the JSON: page 1 committed ---------------------
advance 30
misbehave /jinan/api/tasks "mode=invalid-utf8&query=page=2"
round iutf8
after_failure iutf8 jinan-tasks "page 2"
check_grep "iutf8: page 1's records were kept" "the 10 valid records of the 1 page received" "$WORK/iutf8.out"
recover iutf8 jinan-tasks

# --- invalid bytes in one row of the GBK CSV: that row refused, others in ------
advance 30
misbehave /linyi/export/progress.csv "mode=invalid-utf8"
round igbk
check_eq "igbk: the round succeeds" 0 "$(cat "$WORK/igbk.status")"
check_grep "igbk: Linyi committed with one row refused" "linyi-progress *committed .*, 1 rejected" "$WORK/igbk.out"
check_grep "igbk: the refused row is logged with its line" 'source=linyi-progress where="line [0-9]*"' "$WORK/igbk.err"
expect_others igbk linyi-progress
recover igbk linyi-progress

# --- a body over max_body: aborted, not retried ---------------------------------
advance 7
misbehave /linyi/export/progress.csv "mode=oversize&bytes=3000000"
round big
after_failure big linyi-progress "larger than the limit of 1048576 bytes"
check_no_grep "big: not retried" "source=linyi-progress .*retry" "$WORK/big.err"
recover big linyi-progress

# --- the connection reset: retried, then failed ---------------------------------
misbehave /plans/jnly-2023.md "mode=reset"
round reset
after_failure reset plans "fetch failed"
recover reset plans

# --- the daemon beside it all ----------------------------------------------------
check "the daemon is still running" kill -0 "$DAEMON"
kill -TERM "$DAEMON"
wait "$DAEMON"
check_eq "the daemon exits 0 on SIGTERM" 0 $?
check_grep "the daemon saw failures" "level=error source=" "$WORK/daemon.log"
check "the daemon's repository is sound" git --git-dir "$WORK/daemon.git" fsck --strict
check "the daemon committed too" test "$(commits "$WORK/daemon.git")" -ge 3
check_no_grep "the token never reaches a log" "$TOKEN" "$WORK/daemon.log"
check_no_grep "... nor the repository" "$TOKEN" <($G log --format=%B main)
check_no_grep "... nor a state file" "$TOKEN" <(cat "$WORK"/state/sources/*.json)
finish

#!/usr/bin/env bash
# The audit trail: `duikou log`, `show`, `diff`, `blame` and `conflicts` on a
# history built by the real tools — the demo on 2024-06-30, then three
# simulated months later — and on conflicts written with plain git plumbing,
# settled by `duikou conflicts resolve` and checked with the real git.
. "$TEST_LIB"
cd "$WORK"
unset DUIKOU_CONFIG DUIKOU_USER
R="$WORK/duikou-demo.git"
G="git --git-dir $R"
A() { "$DUIKOU" "$@" --repo "$R"; }
# run NAME CMD...: stdout to NAME.out, stderr to NAME.err, status in RC
run() { local n=$1; shift; "$@" >"$WORK/$n.out" 2>"$WORK/$n.err"; RC=$?; }
out() { cat "$WORK/$1.out"; }
# pyjson "what" FILE EXPR: EXPR (Python, the document as d) must be true
pyjson() {
  if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$2" "$3" \
      2>"$WORK/py.err"; then ok "$1"; else not_ok "$1" "$3 on $(head -c 400 "$2") $(cat "$WORK/py.err")"; fi
}
when() { $G log -1 --format=%cI "$1"; }

check_status "demo on 2024-06-30" 0 "$DUIKOU" demo --dir "$WORK" --date 2024-06-30 --log-level warn
# commit times have a resolution of one second, and a run dates a report a
# second after what main folded when they would share one: keep the two
# runs apart, past the first one's newest commit time
t=$($G log -1 --format=%ct main)
while [ "$(date +%s)" -le "$t" ]; do sleep 0.2; done
sleep 1.1
check_status "demo on 2024-09-30" 0 "$DUIKOU" demo --dir "$WORK" --date 2024-09-30 --log-level warn
J1=$($G log --first-parent --format=%H --author='^jinan-tasks' main | tail -n 1)
J2=$($G log --first-parent --format=%H --author='^jinan-tasks' main | head -n 1)
FIRST=$($G rev-parse main~2) # the first run's last commit
MAIN=$($G rev-parse main)
check "two commits by jinan-tasks" test -n "$J1" -a -n "$J2" -a "$J1" != "$J2"

# ---- log ----
run log A log jnly-2024/12
check_eq "log: task 12's history, newest first, field by field" \
"${J2:0:12}  $(when "$J2")  jinan-tasks
    status: in_progress → completed
    updated_at: 2024-05-25T09:00:00+08:00 → 2024-09-28T09:00:00+08:00

${J1:0:12}  $(when "$J1")  jinan-tasks
    added" "$(out log)"
run log_path A log tasks/jnly-2024/12.json --limit 1
check_eq "log by path, --limit 1" "$(out log | head -n 3)" "$(out log_path)"
run log_json A log jnly-2024/12 --json
pyjson "log --json: the status change, its source and time" "$WORK/log_json.out" \
  "d['id'] == 'jnly-2024/12' and d['kind'] == 'task' and [h['commit'] for h in d['history']] == ['$J2', '$J1']
   and d['history'][0]['source'] == 'jinan-tasks' and d['history'][0]['time'] == '$(when "$J2")'
   and {'field': 'status', 'old': 'in_progress', 'new': 'completed'} in d['history'][0]['changes']
   and d['history'][1]['action'] == 'added'"
run log_prog A log jnly-2024/12/linyi/2024-09
check_grep "log of a progress report: added by linyi-progress" "  linyi-progress$" "$WORK/log_prog.out"
check_status "log of a record never synced exits 1" 1 A log jnly-2024/99
check_grep "... saying so" "tasks/jnly-2024/99.json has no history on main" "$WORK/last.err"
check_status "log of a malformed id exits 2" 2 A log 'Tasks/../x'
check_status "log --limit 0 exits 2" 2 A log jnly-2024/12 --limit 0
check_status "log with no repository there exits 2" 2 "$DUIKOU" log jnly-2024/12 --repo "$WORK/nowhere.git"
check_grep "... naming the path" "no repository at $WORK/nowhere.git" "$WORK/last.err"
check "... and does not create it" test ! -e "$WORK/nowhere.git"
check_status "log with neither --repo nor a configuration exits 2" 2 "$DUIKOU" log jnly-2024/12
cat >"$WORK/duikou.yaml" <<EOF
repository: duikou-demo.git
state: duikou-demo/state
timezone: UTC
sources:
  - { name: jinan-tasks, plugin: json-api, city: jinan, url: "http://127.0.0.1:9/" }
EOF
run log_cfg "$DUIKOU" log jnly-2024/12 -c "$WORK/duikou.yaml" --limit 1
check_eq "log -c FILE: the configured repository, times in the configured zone" \
  "${J2:0:12}  $(date -u -d "@$($G log -1 --format=%ct "$J2")" +%Y-%m-%dT%H:%M:%S+00:00)  jinan-tasks" \
  "$(out log_cfg | head -n 1)"

# ---- show ----
run show1 A show jnly-2024/12 --at "$J1"
check_eq "show --at COMMIT: the header" "# tasks/jnly-2024/12.json at ${J1:0:12} ($(when "$J1"), jinan-tasks)" \
  "$(out show1 | head -n 1)"
check_eq "... then the record's canonical bytes at that commit" "$($G show "$J1:tasks/jnly-2024/12.json")" \
  "$(out show1 | tail -n +2)"
check_grep "... with the old status" '"status": "in_progress"' "$WORK/show1.out"
run show2 A show jnly-2024/12 --at "$(when "$FIRST")"
expect="# tasks/jnly-2024/12.json at ${FIRST:0:12} ($(when "$FIRST"), $($G log -1 --format=%an "$FIRST" | sed 's/ (.*//'))"
[ "$FIRST" != "$J1" ] && expect="$expect; last changed in ${J1:0:12} ($(when "$J1"), jinan-tasks)"
check_eq "show --at RFC 3339: main as it was then, and where the version comes from" "$expect" "$(out show2 | head -n 1)"
check_grep "... the old status" '"status": "in_progress"' "$WORK/show2.out"
run show3 A show jnly-2024/12
check_grep "show: main by default, the new status" '"status": "completed"' "$WORK/show3.out"
run show4 A show tasks/jnly-2024/12.json --at "$(date +%Y-%m-%d)" --json
pyjson "show --at DATE (today: the end of the day) --json" "$WORK/show4.out" \
  "d['record']['status'] == 'completed' and d['at']['commit'] == '$MAIN' and d['changed_in']['commit'] == '$J2'
   and d['path'] == 'tasks/jnly-2024/12.json'"
run show5 A show jnly-2024/12 --at main~2 --json
pyjson "show --at main~2 --json" "$WORK/show5.out" "d['at']['commit'] == '$FIRST' and d['record']['status'] == 'in_progress'"
check_status "show --at a date before any commit exits 1" 1 A show jnly-2024/12 --at 2024-01-01
check_grep "... saying so" "main has no commit at or before 2024-01-01T23:59:59+08:00" "$WORK/last.err"
check_status "show of September's report as of the first run exits 1" 1 A show jnly-2024/12/linyi/2024-09 --at "$FIRST"
check_grep "... saying it was not there" "progress/jnly-2024/12/linyi/2024-09.json is not in ${FIRST:0:12}" "$WORK/last.err"
check_status "show --at an unknown revision exits 1" 1 A show jnly-2024/12 --at nosuchbranch
check_status "show --at a date that does not exist exits 2" 2 A show jnly-2024/12 --at 2024-02-30
check_status "show --at a date-time without its offset exits 2" 2 A show jnly-2024/12 --at 2024-07-01T00:00:00

# ---- diff ----
count() { $G diff --name-status "$FIRST" "$MAIN" -- "$1" | grep -c "^$2"; }
run diff A diff "$FIRST"
check_eq "diff A: the summary line, counted as git counts" \
  "from ${FIRST:0:12} ($(when "$FIRST"), $FIRST) to ${MAIN:0:12} ($(when "$MAIN"), main): $(count . A) added, $(count . M) changed" \
  "$(out diff | head -n 1)"
check_grep "diff groups the tasks" "^tasks: $(count tasks M) changed$" "$WORK/diff.out"
check_grep "... and the progress reports" "^progress: $(count progress A) added$" "$WORK/diff.out"
check_eq "... task 12 with its field changes" \
"  ~ tasks/jnly-2024/12.json
      status: in_progress → completed
      updated_at: 2024-05-25T09:00:00+08:00 → 2024-09-28T09:00:00+08:00" \
  "$(grep -A2 '^  ~ tasks/jnly-2024/12.json' "$WORK/diff.out")"
check_grep "... September's report on task 12 added" "^  + progress/jnly-2024/12/linyi/2024-09.json$" "$WORK/diff.out"
run diff_json A diff "$FIRST" main --json
pyjson "diff --json: groups by kind, field changes" "$WORK/diff_json.out" \
  "[g['kind'] for g in d['groups']] == ['task', 'progress'] and d['from']['commit'] == '$FIRST'
   and {'field': 'status', 'old': 'in_progress', 'new': 'completed'} in
       [r for r in d['groups'][0]['records'] if r['id'] == 'jnly-2024/12'][0]['changes']
   and all(r['action'] == 'added' for r in d['groups'][1]['records'])"
run diff_same A diff "$J1" "$J1"
check_grep "diff of a commit with itself: no differences" ": no differences$" "$WORK/diff_same.out"
check_status "diff without arguments exits 2" 2 A diff

# ---- blame ----
run blame A blame jnly-2024/12
check_grep "blame: status to the second jinan-tasks commit" \
  "^${J2:0:12}  $(when "$J2")  jinan-tasks  status: completed$" "$WORK/blame.out"
check_grep "... title to the first" "^${J1:0:12}  $(when "$J1")  jinan-tasks  title: 联合做强两市优势产业$" "$WORK/blame.out"
check_grep "... keyed array elements field by field" \
  "^${J1:0:12}  .*  units\[临沂市工业和信息化局\].role: shared$" "$WORK/blame.out"
run blame_json A blame jnly-2024/12 --json
pyjson "blame --json" "$WORK/blame_json.out" \
  "{f['field']: f['commit'] for f in d['fields']}['status'] == '$J2'
   and {f['field']: f['commit'] for f in d['fields']}['title'] == '$J1'
   and {f['field']: f['commit'] for f in d['fields']}['section.title'] == '$J1'"
run blame_old A blame jnly-2024/12 --at "$J1"
check_grep "blame --at: status as of the first commit" "^${J1:0:12}  .*  status: in_progress$" "$WORK/blame_old.out"

# ---- conflicts ----
# fabricate PATH JSON: commit an open-conflict file to main as a sync would,
# with plain plumbing (a temporary index, compare-and-swap on the ref).
fabricate() {
  local blob tree old new idx="$WORK/fabricate.index"
  blob=$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), ensure_ascii=False, indent=2, sort_keys=True))' "$2" \
         | $G hash-object -w --stdin) || return 1
  old=$($G rev-parse main)
  GIT_INDEX_FILE=$idx $G read-tree main &&
    GIT_INDEX_FILE=$idx $G update-index --add --cacheinfo "100644,$blob,$1" &&
    tree=$(GIT_INDEX_FILE=$idx $G write-tree) &&
    new=$(printf 'sync linyi-tasks: 1 conflict\n\nDuikou-Source: linyi-tasks\nDuikou-City: linyi\n' |
          GIT_AUTHOR_NAME='linyi-tasks (linyi)' GIT_AUTHOR_EMAIL=linyi-tasks@linyi.duikou.invalid \
          GIT_COMMITTER_NAME=duikou GIT_COMMITTER_EMAIL=duikou@localhost $G commit-tree -p main "$tree") &&
    $G update-ref refs/heads/main "$new" "$old"
  local rc=$?
  rm -f "$idx"
  return $rc
}
entry() { # entry FIELD BASE OURS THEIRS (JSON values; "" leaves the key out)
  printf '{"field": "%s", %s%s%s"source": "linyi-tasks", "city": "linyi", "policy": "manual", "opened_at": "2024-09-30T17:00:00+08:00"}' \
    "$1" "${2:+\"base\": $2, }" "${3:+\"ours\": $3, }" "${4:+\"theirs\": $4, }"
}
conflict() { # conflict NN ENTRY...
  local nn=$1; shift
  local IFS=,
  printf '{"kind": "task", "id": "jnly-2024/%s", "path": "tasks/jnly-2024/%s.json", "fields": [%s]}' "$nn" "$nn" "$*"
}
check "fabricate a conflict on task 12 (status and section.title)" fabricate conflicts/task/jnly-2024/12.json \
  "$(conflict 12 "$(entry status '"in_progress"' '"completed"' '"delayed"')" \
                 "$(entry section.title '"推进产业深度合作"' '"推进产业深度合作"' '"推进两市产业深度合作"')")"
check "... on task 08" fabricate conflicts/task/jnly-2024/08.json \
  "$(conflict 08 "$(entry status '"not_started"' '"in_progress"' '"delayed"')")"
check "... on task 03" fabricate conflicts/task/jnly-2024/03.json \
  "$(conflict 03 "$(entry status '"in_progress"' '"completed"' '"delayed"')")"
check "... on task 31, the whole record (linyi-tasks deletes it)" fabricate conflicts/task/jnly-2024/31.json \
  "$(conflict 31 "$(entry '' '' "$($G show main:tasks/jnly-2024/31.json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))')" '')")"
check "the fabricated history passes git fsck --strict" $G fsck --strict

run list A conflicts
check_eq "conflicts: the open ones" \
"task jnly-2024/03: status; from linyi-tasks; opened 2024-09-30T17:00:00+08:00
task jnly-2024/08: status; from linyi-tasks; opened 2024-09-30T17:00:00+08:00
task jnly-2024/12: status, section.title; from linyi-tasks; opened 2024-09-30T17:00:00+08:00
task jnly-2024/31: (record); from linyi-tasks; opened 2024-09-30T17:00:00+08:00
4 open conflicts" "$(out list)"
run list_json A conflicts list --json
pyjson "conflicts list --json" "$WORK/list_json.out" \
  "[c['id'] for c in d['conflicts']] == ['jnly-2024/03', 'jnly-2024/08', 'jnly-2024/12', 'jnly-2024/31']
   and d['conflicts'][2]['file'] == 'conflicts/task/jnly-2024/12.json'
   and d['conflicts'][2]['fields'][1]['theirs'] == '推进两市产业深度合作'"
run cshow A conflicts show jnly-2024/12
check_eq "conflicts show" \
"task jnly-2024/12 (tasks/jnly-2024/12.json), open in conflicts/task/jnly-2024/12.json
  status: from linyi-tasks (linyi), policy manual, opened 2024-09-30T17:00:00+08:00
    base:   in_progress
    ours:   completed   (main)
    theirs: delayed   (linyi-tasks)
  section.title: from linyi-tasks (linyi), policy manual, opened 2024-09-30T17:00:00+08:00
    base:   推进产业深度合作
    ours:   推进产业深度合作   (main)
    theirs: 推进两市产业深度合作   (linyi-tasks)" "$(out cshow)"
check_status "conflicts show of a record with none open exits 1" 1 A conflicts show jnly-2024/13

# errors change nothing
before=$($G rev-parse main)
check_status "resolve: a record with no open conflict exits 2" 2 A conflicts resolve jnly-2024/13 --take main
check_grep "... saying so" "no open conflict on tasks/jnly-2024/13.json" "$WORK/last.err"
check_status "resolve: no such field exits 2" 2 A conflicts resolve jnly-2024/12 --field percent --take main
check_grep "... naming the fields there are" 'has no field "percent" (its fields: status, section.title)' "$WORK/last.err"
check_status "resolve: a source not in the conflict exits 2" 2 A conflicts resolve jnly-2024/12 --take jinan-tasks
check_status "resolve: both --take and --value exit 2" 2 A conflicts resolve jnly-2024/12 --take main --value '"x"'
check_status "resolve: neither exits 2" 2 A conflicts resolve jnly-2024/12
check_status "resolve: --value that is not JSON exits 2" 2 A conflicts resolve jnly-2024/12 --field status --value completed
check_grep "... with the hint about quotes" "a string needs its quotes" "$WORK/last.err"
check_status "resolve: --value the schema refuses exits 2" 2 A conflicts resolve jnly-2024/12 --field status --value '"done"'
check_grep "... with the rule" '/status: "done" is not one of' "$WORK/last.err"
check_status "resolve: a malformed id exits 2" 2 A conflicts resolve 'jnly-2024/../12' --take main
check_status "conflicts: an unknown action exits 2" 2 A conflicts settle jnly-2024/12
check_eq "... and none of them committed anything" "$before" "$($G rev-parse main)"

# --take SOURCE, one field
run r1 A conflicts resolve jnly-2024/12 --field status --take linyi-tasks --by wang.li
R1=$($G rev-parse main)
check_eq "resolve --field status --take linyi-tasks" \
"resolved tasks/jnly-2024/12.json: status → delayed (take linyi-tasks)
committed ${R1:0:12} to main; still open: section.title" "$(out r1)"
check_grep "... the value applied" '"status": "delayed"' <($G show main:tasks/jnly-2024/12.json)
check_eq "... the field's entry removed, the other kept" "section.title" \
  "$($G show main:conflicts/task/jnly-2024/12.json | python3 -c 'import json,sys; print(",".join(f["field"] for f in json.load(sys.stdin)["fields"]))')"
check_eq "... authored by --by, committed by duikou" "wang.li <wang.li@operator.duikou.invalid> / duikou" \
  "$($G log -1 --format='%an <%ae> / %cn' main)"
check_eq "... its subject" "resolve tasks/jnly-2024/12.json: status → delayed (take linyi-tasks)" "$($G log -1 --format=%s main)"
check_eq "... its trailers" "Duikou-Resolved-By: wang.li
Duikou-Resolution: take linyi-tasks" "$($G log -1 --format='%(trailers:key=Duikou-Resolved-By,key=Duikou-Resolution)' main | sed '/^$/d')"
# git plumbing wrote the conflicts on main: the fold first takes main as it
# stands (one commit, its tree unchanged), then folds the resolution
check_eq "... main as plumbing left it is taken as it stands first" "fold: main taken as it stands $($G rev-parse "$before^{tree}")" \
  "$($G log -1 --format=%s main^) $($G rev-parse main^^{tree})"
check_eq "... one parent each: the main it started from" "$before 1 1" \
  "$($G rev-parse main^^) $($G rev-list --no-walk --parents main | wc -w | awk '{print $1-1}') $($G rev-list --no-walk --parents main^ | wc -w | awk '{print $1-1}')"
check "... git fsck --strict is clean" $G fsck --strict

# a nested field, --take SOURCE: the last entry, so the file goes
run r2 A conflicts resolve tasks/jnly-2024/12.json --field section.title --take linyi-tasks --by wang.li
R2=$($G rev-parse main)
check_eq "resolve a nested field (section.title)" \
  "resolved tasks/jnly-2024/12.json: section.title → 推进两市产业深度合作 (take linyi-tasks)" "$(out r2 | head -n 1)"
check_grep "... no field left open: the file is removed" "conflicts/task/jnly-2024/12.json removed, no field left open" "$WORK/r2.out"
check_status "... and gone from main" 128 $G cat-file -e main:conflicts/task/jnly-2024/12.json
check_eq "... the record's section" '{"number": "四", "title": "推进两市产业深度合作"}' \
  "$($G show main:tasks/jnly-2024/12.json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["section"], ensure_ascii=False))')"
check_status "resolving it again exits 2" 2 A conflicts resolve jnly-2024/12 --take linyi-tasks

# --value
run r3 A conflicts resolve jnly-2024/08 --value '"completed"' --by li.ming --json
pyjson "resolve --value '\"completed\"' --json" "$WORK/r3.out" \
  "d['resolution'] == 'value' and d['by'] == 'li.ming' and d['remaining'] == []
   and d['fields'] == [{'field': 'status', 'old': 'in_progress', 'new': 'completed'}] and d['commit'] == '$($G rev-parse main)'"
check_grep "... the value applied" '"status": "completed"' <($G show main:tasks/jnly-2024/08.json)
check_eq "... Duikou-Resolution: value" "value" "$($G log -1 --format='%(trailers:key=Duikou-Resolution,valueonly)' main | sed '/^$/d')"

# --take main, the operator from $DUIKOU_USER
blob=$($G rev-parse main:tasks/jnly-2024/03.json)
run r4 env DUIKOU_USER=zhao.min "$DUIKOU" conflicts resolve jnly-2024/03 --take main --repo "$R"
check_eq "resolve --take main" "resolved tasks/jnly-2024/03.json: status → completed (keep main)" "$(out r4 | head -n 1)"
check_eq "... the record untouched" "$blob" "$($G rev-parse main:tasks/jnly-2024/03.json)"
check_eq "... only the conflict file goes" "D	conflicts/task/jnly-2024/03.json" "$($G diff --name-status main^ main)"
check_eq "... the author from \$DUIKOU_USER" "zhao.min" "$($G log -1 --format=%an main)"
check_eq "... Duikou-Resolution: keep main" "keep main" "$($G log -1 --format='%(trailers:key=Duikou-Resolution,valueonly)' main | sed '/^$/d')"

# the whole record: linyi-tasks deletes it
run r5 A conflicts resolve jnly-2024/31 --field '' --take linyi-tasks --by wang.li
check_eq "resolve the record-level conflict with the deleting source" \
  "resolved tasks/jnly-2024/31.json: (record) → (none) (take linyi-tasks)" "$(out r5 | head -n 1)"
check_status "... the record is deleted" 128 $G cat-file -e main:tasks/jnly-2024/31.json
run log31 A log jnly-2024/31 --limit 1
check_eq "... log says so, and who" "$($G rev-parse --short=12 main)  $(when main)  wang.li
    deleted" "$(out log31)"

run list2 A conflicts
check_eq "no conflict left open" "no open conflicts" "$(out list2)"
run list2j A conflicts --json
pyjson "... --json: an empty list" "$WORK/list2j.out" "d == {'conflicts': []}"

# the audit sees the resolutions
run log12 A log jnly-2024/12 --limit 2
check_eq "log shows the resolutions, by their operator" \
"${R2:0:12}  $(when "$R2")  wang.li
    section.title: 推进产业深度合作 → 推进两市产业深度合作

${R1:0:12}  $(when "$R1")  wang.li
    status: completed → delayed" "$(out log12)"
run blame2 A blame jnly-2024/12
check_grep "blame gives status to the resolution" "^${R1:0:12}  .*  wang.li      status: delayed$" "$WORK/blame2.out"
check_grep "... title still to the first sync" "^${J1:0:12}  .*  jinan-tasks  title: 联合做强两市优势产业$" "$WORK/blame2.out"
check_grep "git log shows the resolve commits" "resolve tasks/jnly-2024/12.json: status → delayed (take linyi-tasks)" \
  <($G log --format=%s main)
check "the repository is sound at the end (git fsck --strict)" $G fsck --strict
finish

#!/usr/bin/env bash
# `duikou demo`: the embedded defaults, end to end, with no network: Jinan's
# task register (json-api, 4 pages, bearer token), Linyi's GBK progress export
# (csv) and the 2023 plan document (plan-text) from the in-process city-sim.
. "$TEST_LIB"
cd "$WORK"
G="git --git-dir duikou-demo.git"
check_status "duikou demo exits 0" 0 "$DUIKOU" demo --log-level warn
cp "$WORK/last.out" "$WORK/demo1.out"
check_grep "demo prints the git log command" "git --git-dir .*duikou-demo.git log" "$WORK/demo1.out"
check_grep "Jinan's tasks come through json-api" "jinan-tasks *committed .*: 31 records, 31 changed" "$WORK/demo1.out"
check_grep "Linyi's progress comes through csv" "linyi-progress *committed" "$WORK/demo1.out"
check_grep "the plan documents come through plan-text: 2 plans, 96 tasks, 94 departments" "plan-documents *committed .*: 192 records" "$WORK/demo1.out"
check "the demo repository passes git fsck --strict" $G fsck --strict
check_eq "94 departments as unit records" 94 "$($G ls-tree -r --name-only main units | wc -l)"
check_grep "... one name with its aliases (临沂市商城管委会 is 临沂商城管委会)" '"临沂市商城管委会"' <($G show "main:units/linyi/临沂商城管委会.json")
check_eq "31 tasks of 2024" 31 "$($G ls-tree -r --name-only main tasks/jnly-2024 | wc -l)"
check_eq "2023: 53 tasks of the division plan" 53 "$($G ls-tree -r --name-only main tasks/jnly-2023-division | wc -l)"
check_eq "2023: 43 tasks of the work points" 43 "$($G ls-tree -r --name-only main tasks/jnly-2023 | wc -l)"
check_eq "2 plans of 2023" "plans/jnly-2023-division.json plans/jnly-2023.json" \
  "$($G ls-tree -r --name-only main plans | tr '\n' ' ' | sed 's/ $//')"
$G show main:tasks/jnly-2024/12.json >"$WORK/t12.json"
check_grep "Jinan's own field names were mapped: title" '"title": "联合做强两市优势产业"' "$WORK/t12.json"
check_grep "... status" '"status": "in_progress"' "$WORK/t12.json"
check_grep "... units" '"name": "临沂市工业和信息化局"' "$WORK/t12.json"
$G show main:progress/jnly-2024/12/linyi/2024-06.json >"$WORK/p12.json"
check_grep "Linyi's GBK CSV decoded: the unit" '"unit": "临沂市工业和信息化局"' "$WORK/p12.json"
check_grep "... the percent" '"percent": 25' "$WORK/p12.json"
check_grep "... the report time in +08:00" '"reported_at": "2024-06-30T17:00:00+08:00"' "$WORK/p12.json"
check_grep "the commit names its 4 pages" 'Duikou-Pages: 4' <($G log --first-parent --format=%B main -- tasks/jnly-2024)
check_no_grep "the demo's token never reaches the repository" 'demo-[0-9a-f]\{16\}' \
  <($G log --format=%B main; $G grep -h demo- main -- . 2>/dev/null)
check_no_grep "... nor the state files" 'demo-[0-9a-f]\{16\}' <(cat duikou-demo/state/sources/*.json)
n=$(commits duikou-demo.git)
check_eq "one commit per source" 3 "$n"

check_status "a second demo exits 0" 0 "$DUIKOU" demo --log-level warn
check_eq "a second demo makes no new commit" "$n" "$(commits duikou-demo.git)"
check_grep "... the CSV and the document answer 304" "linyi-progress *not modified" "$WORK/last.out"

# Three months later: progress is committed, with the fields that changed.
check_status "demo --date 2024-09-30 exits 0" 0 "$DUIKOU" demo --date 2024-09-30 --log-level warn
check_grep "the register's changes are committed" "jinan-tasks *committed" "$WORK/last.out"
check_grep "... and Linyi's new reports" "linyi-progress *committed" "$WORK/last.out"
check_grep "the plan document did not change" "plan-documents *not modified" "$WORK/last.out"
check_eq "two more commits" $((n + 2)) "$(commits duikou-demo.git)"
check_grep "a task's status change is in its commit body" \
  'tasks/jnly-2024/12.json: status in_progress → completed' <($G log --first-parent --format=%B main -- tasks/jnly-2024/12.json)
check "September's report on task 12 is there" $G cat-file -e main:progress/jnly-2024/12/linyi/2024-09.json
check "the repository is still sound" $G fsck --strict
check_status "a bad --date is refused" 2 "$DUIKOU" demo --date 2024-13-01
check_grep "... with what was wrong" 'not a date' "$WORK/last.err"
finish

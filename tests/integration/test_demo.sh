#!/usr/bin/env bash
# `duikou demo`: the story, end to end, with no network: the in-process
# city-sim with its story on, two sites (jinan: Jinan's register, its monthly
# progress reports and the plan documents; linyi: Linyi's ledger and its GBK progress export) syncing nine
# simulated month ends and exchanging through a local bare remote. Then the
# single-site demo of one simulated day (--date).
. "$TEST_LIB"
cd "$WORK"
D="$WORK/duikou-demo"
J="git --git-dir $D/jinan.git"
L="git --git-dir $D/linyi.git"
# field REPO REV PATH FIELD: a field of the record at PATH in REV
field() { git --git-dir "$1" show "$2:$3" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$4"; }
# at REV-DATE: main's last first-parent commit at or before the date (Jinan's site)
at() { $J rev-list -1 --first-parent --before="$1" main; }

t0=$(date +%s%N)
check_status "duikou demo --once exits 0" 0 "$DUIKOU" demo --once --dir "$WORK"
t1=$(date +%s%N)
cp "$WORK/last.out" "$WORK/story.out"
ms=$(((t1 - t0) / 1000000))
echo "# the story took ${ms} ms (the goal: under 10 s)"
check "... in under 30 s (a sanity bound only)" test "$ms" -lt 30000
check_grep "it tells a line per month, April to December" "^2024-12  已完成" "$WORK/story.out"
check_eq "... nine of them" 9 "$(grep -c '^2024-[01][0-9]  已完成' "$WORK/story.out")"

# ---- both sites, one main ----
tj=$($J rev-parse main^{tree})
check_eq "both sites' main have the same tree" "$tj" "$($L rev-parse main^{tree} 2>&1)"
check_grep "... and the demo says so" "Both sites hold the same main (tree ${tj:0:12})" "$WORK/story.out"
for r in jinan linyi shared; do
  check "git fsck --strict: $r.git" git --git-dir "$D/$r.git" fsck --strict
done
check "Linyi holds Jinan's reports as Jinan's input" $L rev-parse --verify -q refs/duikou/sites/jinan/sources/jinan-tasks
check "... and Jinan Linyi's" $J rev-parse --verify -q refs/duikou/sites/linyi/sources/linyi-progress
check_eq "each site's configuration names its site" "site: jinan site: linyi" \
  "$(grep -h '^site:' "$D/jinan/duikou.yaml" "$D/linyi/duikou.yaml" | tr '\n' ' ' | sed 's/ $//')"

# ---- the months ----
check_eq "main's first-parent history has commits in each month, dated on the simulated days" \
  "2024-04 2024-05 2024-06 2024-07 2024-08 2024-09 2024-10 2024-11 2024-12" \
  "$($J log --first-parent --format=%cd --date=format:%Y-%m main | sort -u | tr '\n' ' ' | sed 's/ $//')"
check_eq "... the first one on 30 April at 17:00 in UTC+8" "2024-04-30 17:00:00 +0800" \
  "$($J log --first-parent --reverse --format=%ci main | head -n 1)"
check_eq "task 12 moves: not started in April, in progress in June, completed in September" \
  "not_started in_progress completed" \
  "$(for d in 2024-04-30 2024-06-30 2024-09-30; do field "$D/jinan.git" "$(at "${d}T23:59:59+08:00")" tasks/jnly-2024/12.json status; done | tr '\n' ' ' | sed 's/ $//')"
p=$(for m in 05 06 07 08; do field "$D/jinan.git" main progress/jnly-2024/13/linyi/2024-$m.json percent; done | tr '\n' ' ')
check "Linyi's reports on task 13 rise month by month ($p)" python3 -c 'import sys; v=[float(x) for x in sys.argv[1].split()]; sys.exit(0 if len(v) == 4 and v == sorted(v) and v[0] < v[-1] else 1)' "$p"

# ---- a task falls behind ----
check_eq "task 08 is delayed on main, on both sites" "delayed delayed" \
  "$(field "$D/jinan.git" main tasks/jnly-2024/08.json status) $(field "$D/linyi.git" main tasks/jnly-2024/08.json status)"
check_eq "... since September" "in_progress" "$(field "$D/jinan.git" "$(at 2024-08-31T23:59:59+08:00)" tasks/jnly-2024/08.json status)"
check_eq "... and Linyi's reports stay at 30%" "30 30 30" \
  "$(for m in 09 10 12; do field "$D/jinan.git" main progress/jnly-2024/08/linyi/2024-$m.json percent; done | tr '\n' ' ' | sed 's/ $//')"
check_grep "the story line of September says so" "^2024-09 .*转为滞后 08" "$WORK/story.out"

# ---- both cities' monthly reports ----
missing=$(for n in $(seq -w 1 31); do for c in jinan linyi; do
  $J cat-file -e "main:progress/jnly-2024/$n/$c/2024-12.json" 2>/dev/null || echo "$n/$c"; done; done | tr '\n' ' ')
check_eq "every task has both cities' December reports on main" "" "$missing"
# differ MONTH: how many tasks the two cities' reports of the month give different percents
differ() {
  for n in $(seq -w 1 31); do
    [ "$(field "$D/jinan.git" main "progress/jnly-2024/$n/jinan/$1.json" percent 2>/dev/null)" != \
      "$(field "$D/jinan.git" main "progress/jnly-2024/$n/linyi/$1.json" percent 2>/dev/null)" ] && echo "$n"
  done | wc -l
}
d12=$(differ 2024-12) d09=$(differ 2024-09)
check "... their percents differ on the tasks still under way in December ($d12 of 31): each city reports its own view" test "$d12" -ge 2
check "... and on many in September ($d09 of 31)" test "$d09" -ge 6
check "... but stay close (within 15 points)" python3 -c '
import json, subprocess, sys
def pct(n, c):
    return json.loads(subprocess.check_output(["git", "--git-dir", sys.argv[1], "show", "main:progress/jnly-2024/%02d/%s/2024-12.json" % (n, c)]))["percent"]
sys.exit(0 if all(abs(pct(n, "jinan") - pct(n, "linyi")) <= 15 for n in range(1, 32)) else 1)' "$D/jinan.git"
check_eq "task 08 delayed in both cities' December reports, at 30%" "delayed 30 delayed 30" \
  "$(for c in jinan linyi; do for f in status percent; do field "$D/jinan.git" main progress/jnly-2024/08/$c/2024-12.json $f; done; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "task 05 completed in Jinan's October report" "completed 100" \
  "$(for f in status percent; do field "$D/jinan.git" main progress/jnly-2024/05/jinan/2024-10.json $f; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "Jinan's reports come from Jinan's system, with its unit" "jinan 济南市农业农村局" \
  "$(field "$D/jinan.git" main progress/jnly-2024/08/jinan/2024-12.json city) $(field "$D/jinan.git" main progress/jnly-2024/08/jinan/2024-12.json unit)"
check "Linyi holds Jinan's progress reports as Jinan's input" $L rev-parse --verify -q refs/duikou/sites/jinan/sources/jinan-progress
check_grep "the month line gives both cities' averages" "^2024-12 .*济南填报平均 [0-9]*% · 临沂填报平均 [0-9]*%" "$WORK/story.out"

# ---- a conflict settled by the policy ----
check_eq "task 05: Jinan's newer 'completed' kept over Linyi's older 'delayed'" completed \
  "$(field "$D/jinan.git" main tasks/jnly-2024/05.json status)"
check_grep "... by the latest policy, written in the fold's commit" \
  'tasks/jnly-2024/05.json status: base in_progress, main completed, linyi/linyi-ledger delayed → main (latest)' \
  <($J log --first-parent --format=%B main)

# ---- a conflict left open for a person ----
check_eq "task 14's text: a conflicts/ file on both sites" \
  "conflicts/task/jnly-2024/14.json conflicts/task/jnly-2024/14.json" \
  "$($J ls-tree -r --name-only main conflicts) $($L ls-tree -r --name-only main conflicts)"
$J show main:conflicts/task/jnly-2024/14.json >"$WORK/c14.json"
check_grep "... with Jinan's text" "济南11月补充" "$WORK/c14.json"
check_grep "... and Linyi's" "临沂11月补充" "$WORK/c14.json"
check_grep "... left to a person (manual)" '"policy": "manual"' "$WORK/c14.json"
check_status "duikou conflicts lists it" 0 "$DUIKOU" conflicts --repo "$D/jinan.git"
check_grep "... one open" "^task jnly-2024/14: text" "$WORK/last.out"

# ---- an invalid record quarantined ----
check_status "duikou quarantine list on Linyi's site" 0 "$DUIKOU" quarantine list -c "$D/linyi/duikou.yaml"
cp "$WORK/last.out" "$WORK/q.out"
check_grep "... names the source and the record" "linyi-ledger  *jnly-2024/08" "$WORK/q.out"
check_grep "... the field and the rule" '/status: "进行中" is not one of .* (enum)' "$WORK/q.out"
check_grep "... one entry" "^1 entry in quarantine" "$WORK/q.out"
check "everything valid of July is still committed (Linyi's July reports)" \
  $J cat-file -e "$(at 2024-07-31T23:59:59+08:00):progress/jnly-2024/12/linyi/2024-07.json"
check_grep "the story line of July says one record was quarantined" "^2024-07 .*隔离 1 条无效记录" "$WORK/story.out"

# ---- the commands it prints work ----
grep -E '^  (duikou|git) ' "$WORK/story.out" | sed 's/^  //' >"$WORK/cmds"
check_eq "three commands to try" 3 "$(wc -l <"$WORK/cmds")"
i=0
while read -r cmd; do
  i=$((i + 1))
  # shellcheck disable=SC2086
  case $cmd in duikou\ *) set -- "$DUIKOU" ${cmd#duikou } ;; *) set -- $cmd ;; esac
  check_status "printed command $i works: $cmd" 0 "$@"
  cp "$WORK/last.out" "$WORK/cmd$i.out"
done <"$WORK/cmds"
check_grep "... duikou log shows task 08 turning delayed" "status: in_progress → delayed" "$WORK/cmd1.out"
check_grep "... duikou blame names jinan-tasks for task 05's status" "jinan-tasks  status: completed" "$WORK/cmd2.out"
check_grep "... git log --graph shows the merges" "^|\\\\" "$WORK/cmd3.out"

check_no_grep "the demo's token never reaches the repositories" 'demo-[0-9a-f]\{16\}' \
  <(for r in jinan linyi; do git --git-dir "$D/$r.git" log --all --format=%B; git --git-dir "$D/$r.git" grep -h demo- main -- . 2>/dev/null; done)
check_no_grep "... nor the configurations and state files" 'demo-[0-9a-f]\{16\}' <(cat "$D"/*/duikou.yaml "$D"/*/state/sources/*.json)

# ---- again in the same folder: the story starts over ----
n1=$(commits "$D/jinan.git")
tasks1=$($J rev-parse main:tasks)
check_status "a second demo in the same folder exits 0" 0 "$DUIKOU" demo --once --dir "$WORK"
# (the plan records name the simulator's URL, whose port changes)
check_eq "... and ends on the same tasks" "$tasks1" "$($J rev-parse main:tasks)"
check_eq "... with a history of the same length, not one continued" "$n1" "$(commits "$D/jinan.git")"
mkdir -p "$WORK/other/duikou-demo/jinan.git"
check_status "a duikou-demo/ that is not the demo's is refused" 1 "$DUIKOU" demo --once --dir "$WORK/other"
check_grep "... saying why" "jinan.git exists and was not made by duikou demo" "$WORK/last.err"
check "... and left alone" test -d "$WORK/other/duikou-demo/jinan.git"
check_status "--listen must be ADDR:PORT" 2 "$DUIKOU" demo --once --listen 127.0.0.1:notaport
check_grep "... saying so" 'is not ADDR:PORT' "$WORK/last.err"
check_status "... a port from 1 to 65535" 2 "$DUIKOU" demo --once --listen 127.0.0.1:70000
check_status "... an address" 2 "$DUIKOU" demo --once --listen nowhere:80

# ---- city-sim's story on its own (--story) ----
start_sim --story --date 2024-07-31
curl -sf "$SIM_URL/linyi/api/ledger" >"$WORK/ledger.json"
check_eq "Linyi's ledger lists the story's tasks" "jnly-2024/05 jnly-2024/08 jnly-2024/14" \
  "$(python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(open(sys.argv[1]))))' "$WORK/ledger.json")"
check_grep "... with July's typo" '"status":"进行中"' "$WORK/ledger.json"
curl -sf -X POST "$SIM_URL/_sim/clock?date=2024-09-30" >/dev/null
check_grep "... and task 08 delayed in September" '"id":"jnly-2024/08".*"status":"delayed"\|"status":"delayed".*"id":"jnly-2024/08"' \
  <(curl -sf "$SIM_URL/linyi/api/ledger" | python3 -c 'import json,sys; [print(json.dumps(r, ensure_ascii=False, separators=(",", ":"), sort_keys=True)) for r in json.load(sys.stdin)]')
JP="$SIM_URL/jinan/api/progress"
AUTH="Authorization: Bearer jinan-demo-token"
check_eq "Jinan's progress API wants the token" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$JP")"
curl -sf -H "$AUTH" "$JP?month=2024-09&per_page=20" >"$WORK/jp1.json"
check_eq "... pages its September reports like the register: 20 of 31, then the next page" \
  "20 31 /jinan/api/progress?month=2024-09&page=2&per_page=20" \
  "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["data"]["items"]), d["data"]["total"], d["links"]["next"])' "$WORK/jp1.json")"
check_grep "... task 08 delayed at 30%, reported on 30 September" \
  '"code":"jnly-2024/08/jinan/2024-09","task_code":"jnly-2024/08","month":"2024-09","state":"delayed","rate":30,.*"report_time":"2024-09-30T16:00:00+08:00"' \
  <(python3 -c 'import json,sys; [print(json.dumps(i, ensure_ascii=False, separators=(",", ":"))) for i in json.load(open(sys.argv[1]))["data"]["items"]]' "$WORK/jp1.json")
check_eq "... none for a month to come" 0 \
  "$(curl -sf -H "$AUTH" "$JP?month=2024-10" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["total"])')"
check_eq "... a bad month refused" 400 "$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$JP?month=2024-13")"
curl -sf "$SIM_URL/linyi/export/progress.csv" | iconv -f GBK -t UTF-8 >"$WORK/ly.csv"
check_grep "Linyi's story export says task 08 is delayed" '^8,进度滞后，正在加紧推进,30%,临沂市农业农村局,2024-09-30 17:00,滞后' "$WORK/ly.csv"
stop_sim
start_sim --date 2024-09-30
check_eq "without --story the ledger is empty" "[]" "$(curl -sf "$SIM_URL/linyi/api/ledger")"
check_eq "... Jinan reports no progress" 0 \
  "$(curl -sf -H "Authorization: Bearer jinan-demo-token" "$SIM_URL/jinan/api/progress" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["total"])')"
check_grep "... and Linyi's export has its plain header" '^任务编号,进展情况,完成比例,填报单位,填报时间.$' \
  <(curl -sf "$SIM_URL/linyi/export/progress.csv" | iconv -f GBK -t UTF-8 | head -n 1)
check_grep "... and task 08 is not delayed in Jinan's register" '"state":"in_progress"' \
  <(curl -sf -H "Authorization: Bearer jinan-demo-token" "$SIM_URL/jinan/api/tasks?page=1&per_page=10" | python3 -c 'import json,sys; [print(json.dumps(i, ensure_ascii=False, separators=(",", ":"))) for i in json.load(sys.stdin)["data"]["items"] if i["no"] == 8]')
stop_sim

# ---- the single-site demo of one day (--date) ----
G="git --git-dir duikou-demo.git"
check_status "demo --date 2024-06-30 exits 0" 0 "$DUIKOU" demo --dir "$WORK" --date 2024-06-30
check_grep "Jinan's tasks come through json-api" "jinan-tasks *committed .*: 31 records, 31 changed" "$WORK/last.out"
check_grep "Linyi's progress comes through csv" "linyi-progress *committed" "$WORK/last.out"
check_grep "the plan documents come through plan-text: 2 plans, 96 tasks, 94 departments" "plan-documents *committed .*: 192 records" "$WORK/last.out"
check "the repository passes git fsck --strict" $G fsck --strict
check_eq "31 tasks of 2024" 31 "$($G ls-tree -r --name-only main tasks/jnly-2024 | wc -l)"
$G show main:progress/jnly-2024/12/linyi/2024-06.json >"$WORK/p12.json"
check_grep "Linyi's GBK CSV decoded: the unit" '"unit": "临沂市工业和信息化局"' "$WORK/p12.json"
check_grep "... the percent" '"percent": 25' "$WORK/p12.json"
n=$(commits duikou-demo.git)
check_eq "one commit per source" 3 "$n"
check_status "the same day again exits 0" 0 "$DUIKOU" demo --dir "$WORK" --date 2024-06-30
check_eq "... and makes no new commit" "$n" "$(commits duikou-demo.git)"
check_status "demo --date 2024-09-30 exits 0" 0 "$DUIKOU" demo --dir "$WORK" --date 2024-09-30
check_eq "... two more commits" $((n + 2)) "$(commits duikou-demo.git)"
check_eq "... task 08 in progress: the story is off" "in_progress" \
  "$(field "$WORK/duikou-demo.git" main tasks/jnly-2024/08.json status)"
check_eq "the story's sites were left as they were" "$tasks1" "$($J rev-parse main:tasks)"
check_status "a bad --date is refused" 2 "$DUIKOU" demo --date 2024-13-01
check_grep "... with what was wrong" 'not a date' "$WORK/last.err"
finish

#!/usr/bin/env bash
# `duikou sync --metrics-file` against city-sim: three real sources, one
# record invalid and one source failing (city-sim's misbehave API); the file
# passes `promtool check metrics` with no lint, and its counters hold the
# numbers the round printed.
. "$TEST_LIB"
. "$GIT_SERVERS"

DATA="$WORK/www"
mkdir -p "$DATA"
start_sim --data "$DATA" --date 2024-06-30
curl -sf "$SIM_URL/jinan/tasks.json" -o "$DATA/records.json"
# one task invalid: a status the schema does not know
python3 - "$DATA/records.json" <<'PY'
import json,sys
p=sys.argv[1]; recs=json.load(open(p,encoding="utf-8"))
for r in recs:
    if r["id"]=="jnly-2024/05": r["status"]="no-such-status"
recs.append(42)  # not an object: the plugin rejects it
json.dump(recs,open(p,"w",encoding="utf-8"),ensure_ascii=False)
PY

cat >"$WORK/duikou.yaml" <<YAML
repository: snap.git
state: state
sources:
  - name: jinan-tasks
    plugin: json-api
    city: jinan
    url: $SIM_URL/records.json
  - name: linyi-progress
    plugin: csv
    city: linyi
    url: $SIM_URL/linyi/export/progress.csv
    options:
      encoding: GBK
      task_prefix: jnly-2024/
      columns: { 任务编号: task, 进展情况: summary, 完成比例: percent, 填报单位: unit, 填报时间: reported_at }
  - name: plans
    plugin: plan-text
    city: other
    url: $SIM_URL/plans/jnly-2023.md
    retries: 0
    options: { plans: [jnly-2023-division, jnly-2023] }
YAML
check "the plans document answers 503 from now on" curl -sf -X POST "$SIM_URL/_sim/misbehave?path=/plans/jnly-2023.md&mode=status&status=503"

PROM="$WORK/prom/duikou.prom"
mkdir -p "$WORK/prom"

# promtool_clean FILE: exit 0 and not a line of lint
promtool_clean() {
  local out
  out=$(promtool check metrics <"$1" 2>&1)
  local rc=$?
  [ "$rc" -eq 0 ] && [ -z "$out" ] && return 0
  echo "promtool: status $rc: $out"
  return 1
}
# val NAME{LABELS}: the sample's value in $PROM ("" when absent)
val() { awk -v k="$1" '$1 == k { print $2 }' "$PROM"; }
# sum REGEX: the sum of the samples whose name and labels match
sum() { awk -v re="$1" '$1 ~ re { s += $2 } END { print s + 0 }' "$PROM"; }
# printed SOURCE FIELD: a number the round printed for the source ("31 records")
printed() { grep "^$1 " "$WORK/last.out" | grep -o "[0-9]* $2" | cut -d' ' -f1; }

# --- round 1: one source fails, one record is invalid -----------------------
check_status "round 1 exits 1 (plans fails)" 1 "$DUIKOU" sync -c "$WORK/duikou.yaml" --metrics-file "$PROM"
cp "$WORK/last.out" "$WORK/round1.out"
check_grep "round 1: plans failed with the 503" "^plans .*FAILED.*HTTP 503" "$WORK/last.out"
check_grep "round 1: jinan-tasks committed" "^jinan-tasks *committed" "$WORK/last.out"
check "round 1: the file is there" test -s "$PROM"
check "round 1: promtool check metrics passes, with no lint" promtool_clean "$PROM"
check_eq "round 1: no temporary file left" "duikou.prom" "$(ls "$WORK/prom")"
check_eq "round 1: the file is readable by a collector (0644)" 644 "$(stat -c %a "$PROM")"

check_eq "fetches: jinan-tasks ok" 1 "$(val 'duikou_fetches_total{source="jinan-tasks",city="jinan",result="ok"}')"
check_eq "fetches: linyi-progress ok" 1 "$(val 'duikou_fetches_total{source="linyi-progress",city="linyi",result="ok"}')"
check_eq "fetches: plans http_error" 1 "$(val 'duikou_fetches_total{source="plans",city="other",result="http_error"}')"
check_eq "fetches: three runs in all" 3 "$(sum '^duikou_fetches_total')"
check_eq "HTTP: plans' 5xx" 1 "$(val 'duikou_http_responses_total{source="plans",code="5xx"}')"
check_eq "HTTP: jinan-tasks' 2xx" 1 "$(val 'duikou_http_responses_total{source="jinan-tasks",code="2xx"}')"
check_eq "bytes: jinan-tasks' body" "$(stat -c %s "$DATA/records.json")" \
  "$(val 'duikou_fetched_bytes_total{source="jinan-tasks"}')"
for s in jinan-tasks linyi-progress; do
  check_eq "records: $s's valid ones are the records printed" "$(printed $s records)" \
    "$(sum "^duikou_records_total\\{source=\"$s\",kind=\"[a-z]+\",result=\"valid\"\\}")"
  check_eq "records: $s's changed ones are the changes printed" "$(printed $s changed)" \
    "$(sum "^duikou_records_total\\{source=\"$s\",kind=\"[a-z]+\",result=\"changed\"\\}")"
done
check_eq "records: jinan-tasks' invalid task" "$(printed jinan-tasks invalid)" \
  "$(val 'duikou_records_total{source="jinan-tasks",kind="task",result="invalid"}')"
check_eq "records: the one invalid is the one printed" 1 "$(printed jinan-tasks invalid)"
check_eq "records: jinan-tasks' plan" 1 "$(val 'duikou_records_total{source="jinan-tasks",kind="plan",result="valid"}')"
check_eq "records: the rejected item is the one printed" "$(printed jinan-tasks rejected)" \
  "$(val 'duikou_records_total{source="jinan-tasks",kind="unknown",result="rejected"}')"
check_eq "records: one rejected" 1 "$(printed jinan-tasks rejected)"
check_eq "quarantine: the invalid task and the rejected item" 2 "$(val 'duikou_quarantine_records{source="jinan-tasks"}')"
check_eq "quarantine: plans' none" 0 "$(val 'duikou_quarantine_records{source="plans"}')"
check_eq "commits: two timed (plans never got a page)" 2 "$(val 'duikou_commit_duration_seconds_count')"
check_eq "commits: the +Inf bucket is the count" 2 "$(val 'duikou_commit_duration_seconds_bucket{le="+Inf"}')"
check_eq "conflicts: none open on main" 0 "$(sum '^duikou_conflicts_open\{')"
check "conflicts: the family is read from main" test -n "$(val 'duikou_conflicts_open{kind="task"}')"
last=$(python3 -c 'import json,sys,datetime; print(int(datetime.datetime.fromisoformat(json.load(open(sys.argv[1]))["last_success"]).timestamp()))' \
  "$WORK/state/sources/jinan-tasks.json")
check_eq "last success: jinan-tasks' state file's time" "$last" \
  "$(val 'duikou_source_last_success_timestamp_seconds{source="jinan-tasks",city="jinan"}')"
check_eq "last success: none for plans" "" "$(val 'duikou_source_last_success_timestamp_seconds{source="plans",city="other"}')"
check_eq "failures in a row: plans' 1" 1 "$(val 'duikou_source_consecutive_failures{source="plans",city="other"}')"
check_grep "build info: version and libraries" '^duikou_build_info{version="[0-9.]*",libgit2="[0-9.]*",libcurl="[0-9.]*",libuv="[0-9.]*"} 1$' "$PROM"
check_no_grep "no next run without a scheduler" "duikou_source_next_run_timestamp_seconds" "$PROM"
check_no_grep "no secret, no URL in the file" "$SIM_URL" "$PROM"

# --- round 2: one task changed, plans back ------------------------------------
python3 - "$DATA/records.json" <<'PY'
import json,sys
p=sys.argv[1]; recs=json.load(open(p,encoding="utf-8"))
for r in recs:
    if isinstance(r, dict) and r["id"]=="jnly-2024/12": r["title"]="联合做强两市优势产业(修订)"
json.dump(recs,open(p,"w",encoding="utf-8"),ensure_ascii=False)
PY
check "plans' misbehaviour cleared" curl -sf -X POST "$SIM_URL/_sim/misbehave?path=/plans/jnly-2023.md&mode=none"
check_status "round 2 exits 0" 0 "$DUIKOU" sync -c "$WORK/duikou.yaml" --metrics-file "$PROM"
check "round 2: promtool check metrics passes, with no lint" promtool_clean "$PROM"
check_eq "round 2: jinan-tasks changed one record" 1 "$(printed jinan-tasks changed)"
check_eq "round 2: the changed counter says so" 1 \
  "$(sum '^duikou_records_total\{source="jinan-tasks",kind="[a-z]+",result="changed"\}')"
check_eq "round 2: and the others unchanged" "$(( $(printed jinan-tasks records) - 1 ))" \
  "$(sum '^duikou_records_total\{source="jinan-tasks",kind="[a-z]+",result="unchanged"\}')"
check_eq "round 2: plans ok" 1 "$(val 'duikou_fetches_total{source="plans",city="other",result="ok"}')"
check_eq "round 2: linyi-progress not modified (304)" 1 \
  "$(val 'duikou_fetches_total{source="linyi-progress",city="linyi",result="not_modified"}')"
check_eq "round 2: its 304 is a 3xx" 1 "$(val 'duikou_http_responses_total{source="linyi-progress",code="3xx"}')"
check_eq "round 2: plans' failures in a row back to 0" 0 \
  "$(val 'duikou_source_consecutive_failures{source="plans",city="other"}')"
check "round 2: plans' last success now" test -n "$(val 'duikou_source_last_success_timestamp_seconds{source="plans",city="other"}')"

# --- a file that cannot be written: said, and the round counts as failed ------
check_status "a metrics file in a missing folder: exit 1" 1 "$DUIKOU" sync -c "$WORK/duikou.yaml" \
  --metrics-file "$WORK/no/such/dir/duikou.prom"
check_grep "the error names the file" "the metrics file: .*no/such/dir" "$WORK/last.err"
check_status "--metrics-file is sync's only" 2 "$DUIKOU" check-config "$WORK/duikou.yaml" --metrics-file "$PROM"

# --- two sites: a conflict opened, the exchange, convergence ------------------
task() { # task N TITLE STATUS UPDATED TEXT
  printf '{"kind":"task","id":"jnly-2024/%s","plan":"jnly-2024","number":%d,"title":"%s","status":"%s","updated_at":"%s","text":"%s"}' \
    "$1" "$((10#$1))" "$2" "$3" "$4" "$5"
}
serve() { printf '[%s]\n' "$2" >"$DATA/$1.json.tmp"; mv "$DATA/$1.json.tmp" "$DATA/$1.json"; }
site_config() { # site_config SITE DIR
  mkdir -p "$2"
  cat >"$2/duikou.yaml" <<YAML
repository: snap.git
state: state
site: $1
reconcile:
  default: latest
  fields: { task.text: manual }
sources:
  - { name: $1-tasks, plugin: json-api, city: $1, url: "$SIM_URL/$1.json" }
remotes:
  - { name: shared, url: "$(gs_file_url shared)" }
YAML
}
S="$WORK/sites"
gs_bare shared >/dev/null
site_config jinan "$S/jinan"
site_config linyi "$S/linyi"
dk() { local d=$1; shift; (cd "$d" && "$DUIKOU" "$@" -c duikou.yaml); }
serve jinan "$(task 12 联合做强两市优势产业 in_progress 2024-06-01T09:00:00+08:00 推动两市企业开展对接)"
serve linyi "$(task 12 联合做强两市优势产业 in_progress 2024-06-01T09:00:00+08:00 推动两市企业开展对接)"
check "sites: Jinan syncs and exchanges" dk "$S/jinan" sync
check "sites: ... exchanges" dk "$S/jinan" exchange
sleep 1
serve linyi "$(task 12 联合做强两市优势产业 in_progress 2024-06-15T09:00:00+08:00 临沂修订)"
check "sites: Linyi syncs" dk "$S/linyi" sync
check "sites: ... exchanges" dk "$S/linyi" exchange
sleep 1
# Jinan changes the same text otherwise: its fold meets Linyi's, manual
serve jinan "$(task 12 联合做强两市优势产业 in_progress 2024-06-16T09:00:00+08:00 济南修订)"
check "sites: Jinan fetches Linyi's first" dk "$S/jinan" exchange
PROM="$S/jinan.prom"
check_status "sites: Jinan's round exits 0" 0 dk "$S/jinan" sync --metrics-file "$PROM"
check "sites: promtool check metrics passes, with no lint" promtool_clean "$PROM"
check_eq "sites: main holds the open conflict" "conflicts/task/jnly-2024/12.json" \
  "$(git --git-dir "$S/jinan/snap.git" ls-tree -r --name-only main conflicts)"
# the counters are the round's commit's tally: "…, N conflicts (M open)"
subj=$(git --git-dir "$S/jinan/snap.git" log -1 --first-parent --format=%s main)
check_grep "sites: Jinan's round committed, meeting the conflict" "^sync jinan-tasks: .*conflict" <(echo "$subj")
met=$(echo "$subj" | grep -o '[0-9]* conflicts*' | cut -d' ' -f1)
left=$(echo "$subj" | grep -o '([0-9]* open)' | tr -dc 0-9)
check_eq "sites: opened: the commit's open ones" "${left:-0}" "$(val duikou_conflicts_opened_total)"
check_eq "sites: settled: the others" "$(( met - ${left:-0} ))" "$(val duikou_conflicts_settled_total)"
check_eq "sites: one task conflict open" 1 "$(val 'duikou_conflicts_open{kind="task"}')"
check_eq "sites: no progress conflict" 0 "$(val 'duikou_conflicts_open{kind="progress"}')"
check "sites: the last exchange's time" test -n "$(val 'duikou_remote_last_success_timestamp_seconds{remote="shared"}')"
check_eq "sites: Linyi's view differs (Jinan's main moved since)" 0 "$(val 'duikou_site_converged{site="linyi"}')"
check "sites: Jinan sends its view" dk "$S/jinan" exchange
check "sites: Linyi folds it" dk "$S/linyi" exchange
check "sites: ... and sends its view" dk "$S/linyi" exchange
check "sites: Jinan takes Linyi's view" dk "$S/jinan" exchange
check_status "sites: Jinan's next round exits 0" 0 dk "$S/jinan" sync --metrics-file "$PROM"
check_eq "sites: duikou sites and the gauge agree: converged" "1 1" \
  "$(dk "$S/jinan" sites | grep -c '^linyi .*main converged') $(val 'duikou_site_converged{site="linyi"}')"
check "sites: promtool again" promtool_clean "$PROM"

finish

#!/usr/bin/env bash
# kill -9 at random moments during a long run of syncs, many times over.
# After each kill the repository passes `git fsck --strict`, main points at a
# complete commit and the lock is free; at the end one more sync finishes the
# work, and main holds exactly what a clean run at the same simulated day
# gives: nothing lost, nothing doubled.
. "$TEST_LIB"

ROUNDS=${CRASH_ROUNDS:-40}
SEED=${CRASH_SEED:-$$}
RANDOM=$SEED
echo "# seed $SEED (CRASH_SEED=$SEED reproduces the kill times)"

export JINAN_TOKEN="crash-token-$$"
start_sim --token "$JINAN_TOKEN" --date 2024-05-10

write_config() { # FILE REPO STATE
  cat >"$1" <<YAML
repository: $2
state: $3
reconcile: { default: latest, kinds: { progress: owner } }
sources:
  - name: jinan-tasks
    plugin: json-api
    city: jinan
    url: "$SIM_URL/jinan/api/tasks?page=1&per_page=5"
    auth: { bearer_env: JINAN_TOKEN }
    options:
      records: /data/items
      next: /links/next
      constants: { kind: task }
      map: { id: /code, plan: /plan_code, number: /no, title: /name, text: /content,
             section: /category, units: /depts, status: /state, updated_at: /modified }
  - name: linyi-progress
    plugin: csv
    city: linyi
    url: "$SIM_URL/linyi/export/progress.csv"
    options:
      encoding: GBK
      task_prefix: jnly-2024/
      columns: { 任务编号: task, 进展情况: summary, 完成比例: percent, 填报单位: unit, 填报时间: reported_at }
  - name: plans
    plugin: plan-text
    city: other
    url: "$SIM_URL/plans/jnly-2023.md"
    options: { plans: [jnly-2023-division, jnly-2023] }
YAML
}
write_config "$WORK/c.yaml" crash.git state
G="git --git-dir $WORK/crash.git"

# How long one run takes here (a throwaway repository): the kills are spread
# over that span, so that most land inside a run, whatever the machine.
write_config "$WORK/t.yaml" timing.git tstate
t0=$(date +%s%N)
"$DUIKOU" sync -c "$WORK/t.yaml" --log-level error >/dev/null 2>&1
span=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$span" -lt 20 ] && span=20
echo "# one run takes $span ms; kills fall in 0-$span ms"

killed=0 fsck_bad=0 incomplete=0 locked=0
for i in $(seq 1 "$ROUNDS"); do
  curl -sf -X POST "$SIM_URL/_sim/clock?advance=3" >/dev/null
  "$DUIKOU" sync -c "$WORK/c.yaml" --log-level error >/dev/null 2>>"$WORK/crash.err" &
  pid=$!
  # before, during and after the fetches, the merges and the commits
  ms=$((RANDOM % span))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null
  if [ -d "$WORK/crash.git" ] && $G rev-parse -q --verify main >/dev/null; then
    $G fsck --strict >/dev/null 2>"$WORK/fsck.$i" || { fsck_bad=$((fsck_bad + 1)); echo "# fsck failed after kill $i"; }
    $G cat-file -e 'main^{tree}' 2>/dev/null || incomplete=$((incomplete + 1))
  fi
  # the kernel drops the flock of a killed process: the next run is never refused
  grep -q 'in use by another duikou' "$WORK/crash.err" && locked=$((locked + 1))
done
check "many runs were killed mid-way ($killed of $ROUNDS)" test "$killed" -ge $((ROUNDS / 6))
check_eq "git fsck --strict clean after every kill" 0 "$fsck_bad"
check_eq "main always points at a complete commit" 0 "$incomplete"
check_eq "a killed run never leaves the repository locked" 0 "$locked"

# A ref lock file left by a writer killed inside the ref update itself (the
# moment is too short to hit at random): removed, and the run goes on.
curl -sf -X POST "$SIM_URL/_sim/clock?advance=3" >/dev/null
$G rev-parse main >"$WORK/crash.git/refs/heads/main.lock"
check_status "the next run finishes the work" 0 "$DUIKOU" sync -c "$WORK/c.yaml"
check_grep "... removing the stale ref lock, and saying so" 'ref=refs/heads/main .*removed .*main.lock' "$WORK/last.err"
check "... which is gone" test ! -e "$WORK/crash.git/refs/heads/main.lock"
check "git fsck --strict" $G fsck --strict

# The window between main and the source branch, made by hand: main merged
# a source commit, the branch was left behind, the state names the commit.
# The next run moves the branch first, so its merge starts from the right base.
# (one more round first, so that Jinan's last commit on main is a merge even
# when every earlier run was killed and main began with it)
# (and one before it, so that the source branch has a commit before the one
# merged, whichever runs were killed)
for _ in 1 2; do
  curl -sf -X POST "$SIM_URL/_sim/clock?advance=3" >/dev/null
  check_status "a round with Jinan's changes" 0 "$DUIKOU" sync -c "$WORK/c.yaml"
done
merged=$($G log -1 --first-parent --format=%H --author='^jinan-tasks' main)
src=$($G rev-parse "$merged^2")
$G update-ref refs/duikou/sources/jinan-tasks "$src~1" "$src"
python3 - "$WORK/state/sources/jinan-tasks.json" "$src" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["pending_source_commit"] = sys.argv[2]; d.pop("etag", None)
json.dump(d, open(sys.argv[1], "w"))
PY
check_status "a run after a stop between main and the source branch" 0 "$DUIKOU" sync -c "$WORK/c.yaml"
check_grep "... moves the source branch to what main merged" 'source=jinan-tasks .*its source branch is moved there now' "$WORK/last.err"
check_eq "... which is where it points now" "$src" "$($G rev-parse refs/duikou/sources/jinan-tasks)"
check_no_grep "... and forgets the pending commit" pending_source_commit "$WORK/state/sources/jinan-tasks.json"
# A stop between main and a source branch, and the source answers 304
# next (its validators kept): nothing to commit, and the branch is mended
# all the same (here Linyi's progress, its ref gone altogether).
lmerged=$($G log -1 --first-parent --format=%H --author='^linyi-progress' main)
lsrc=$($G rev-parse "$lmerged^2")
$G update-ref -d refs/duikou/sources/linyi-progress
python3 - "$WORK/state/sources/linyi-progress.json" "$lsrc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["pending_source_commit"] = sys.argv[2]
json.dump(d, open(sys.argv[1], "w"))
PY
check_status "a run after such a stop, answered 304" 0 "$DUIKOU" sync -c "$WORK/c.yaml"
check_grep "... is not modified" 'linyi-progress *not modified' "$WORK/last.out"
check_eq "... and moves the source branch all the same" "$lsrc" "$($G rev-parse refs/duikou/sources/linyi-progress)"
check_no_grep "... forgetting the pending commit" pending_source_commit "$WORK/state/sources/linyi-progress.json"

# The same simulated day, synced once into a fresh repository.
write_config "$WORK/ref.yaml" ref.git refstate
check_status "a clean run at the same day" 0 "$DUIKOU" sync -c "$WORK/ref.yaml"
R="git --git-dir $WORK/ref.git"
for d in plans tasks progress; do
  check_eq "$d: the same records as the clean run" "$($R ls-tree -r main $d | md5sum)" "$($G ls-tree -r main $d | md5sum)"
done
check_eq "no conflict was invented by the crashes" "" "$($G ls-tree -r --name-only main conflicts)"
check_eq "each source branch equals the clean run's" \
  "$($R for-each-ref --format='%(refname) %(objectname)' refs/duikou/sources | while read -r ref _; do $R rev-parse "$ref^{tree}"; done)" \
  "$($G for-each-ref --format='%(refname) %(objectname)' refs/duikou/sources | while read -r ref _; do $G rev-parse "$ref^{tree}"; done)"
finish

#!/usr/bin/env bash
# Rounds that end together are committed together: from `group_commits`
# sources ready at once, each source still gets its own branch commit, and
# main gets one commit for all of them, whose parents are main and each
# source commit. The audit names, for each record, the report that changed
# it; the tree is the one a main commit per source gives.
. "$TEST_LIB"

gen() { # gen DIR ROUND: 12 sources, each 5 tasks of the 2024 plan and their progress
  python3 - "$@" <<'PY'
import json, os, sys
out, rnd = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
for s in range(1, 13):
    recs = []
    for k in range(5):
        n = (s - 1) * 5 + k + 1
        tid = "jnly-2024/%02d" % n
        recs.append({"kind": "task", "id": tid, "plan": "jnly-2024", "number": n,
                     "title": "联合做强两市优势产业 第%d项" % n,
                     "status": "completed" if rnd == 2 and k == 0 else "in_progress"})
        for city in ["jinan", "linyi"]:
            recs.append({"kind": "progress", "id": "%s/%s/2024-06" % (tid, city), "task": tid, "city": city,
                         "period": "2024-06", "status": "in_progress",
                         "percent": 40 + (20 if rnd == 2 and k == 1 and city == "linyi" else 0),
                         "reported_at": "2024-06-28T17:00:00+08:00"})
    json.dump(recs, open(os.path.join(out, "s%02d.json" % s), "w"), ensure_ascii=False)
PY
}
conf() { # conf FILE REPO STATE GROUP
  {
    echo "repository: $2"
    echo "state: $3"
    echo "group_commits: $4"
    echo "sources:"
    for s in $(seq -w 1 12); do
      echo "  - { name: s$s, plugin: json-api, city: $([ $((10#$s % 2)) = 0 ] && echo linyi || echo jinan), url: \"file://$WORK/body/s$s.json\" }"
    done
  } >"$1"
}
G="git --git-dir $WORK/g.git"
O="git --git-dir $WORK/one.git"
conf "$WORK/g.yaml" "$WORK/g.git" "$WORK/gstate" 4
conf "$WORK/one.yaml" "$WORK/one.git" "$WORK/ostate" 0

gen "$WORK/body" 1
check_status "12 sources, group_commits 4: the round succeeds" 0 "$DUIKOU" sync -c "$WORK/g.yaml"
check_eq "every source committed" 12 "$(grep -c ' committed ' "$WORK/last.out")"
check_eq "... all into one main commit" 1 "$(grep ' committed ' "$WORK/last.out" | awk '{print $3}' | sort -u | wc -l)"
check_eq "main has that one commit" 1 "$($G rev-list --count main)"
check_grep "its subject counts the sources" "^sync 12 sources: 60 tasks added, 120 progress added$" <($G log -1 --format=%s main)
check_grep "... its body names each report" "^s07 (jinan): 15 records, 15 changed$" <($G log -1 --format=%b main)
check_no_grep "... and no single source" "^Duikou-Source:" <($G log -1 --format=%b main)
check_grep "... the fold's checkpoint lists every input" "^Duikou-Fold: refs/duikou/sources/s12 " <($G log -1 --format=%b main)
for s in 01 12; do
  check_eq "s$s's branch has its own report commit" "report s$s: 15 records, 15 changed" \
    "$($G log -1 --format=%s refs/duikou/sources/s$s)"
done
check "git fsck --strict" $G fsck --strict

gen "$WORK/body" 2
# traced (when ptrace is allowed): the flushes to disk of a grouped round
traced=
if command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null; then
  traced=1
  # LeakSanitizer stops the threads with ptrace, which a traced process cannot
  check_status "a second round: one task and one report changed in each source" 0 env ASAN_OPTIONS=detect_leaks=0 \
    strace -f -qq -e trace=syncfs,rename,renameat,renameat2 -o "$WORK/round2.trace" "$DUIKOU" sync -c "$WORK/g.yaml"
else
  echo "# strace cannot trace here: the flush checks are left out"
  check_status "a second round: one task and one report changed in each source" 0 "$DUIKOU" sync -c "$WORK/g.yaml"
fi
if [ -n "$traced" ]; then
  # The pending states, main's objects, main, the 12 branches, the final
  # states: a flush each, not one before and after each branch's move.
  n=$(grep -c 'syncfs(' "$WORK/round2.trace")
  check "... the round flushes to disk at most 6 times, not twice a branch ($n)" test "$n" -le 6
  # every branch is moved, and flushed, before a state file says it moved
  python3 - "$WORK/round2.trace" <<'PY' >"$WORK/order.out"
import re, sys
ev = []
for line in open(sys.argv[1]):
    if "syncfs(" in line:
        ev.append("flush")
    elif re.search(r'refs/duikou/sources/s[0-9]+"\) = 0', line):
        ev.append("branch")
    elif re.search(r'"s[0-9]+\.json"\) = 0', line):
        ev.append("state")
last = max(i for i, e in enumerate(ev) if e == "branch")
first_state = min(i for i, e in enumerate(ev) if e == "state" and i > last)
print("branches moved: %d; flushed before the states: %s" % (ev.count("branch"), "flush" in ev[last:first_state]))
PY
  check_grep "... the 12 branches are made durable before the state files say so" \
    "^branches moved: 12; flushed before the states: True$" "$WORK/order.out"
fi
check_eq "... one more main commit" 2 "$($G rev-list --count --first-parent main)"
check_eq "... a merge of main and the 12 source commits" 13 "$($G cat-file -p main | grep -c '^parent ')"
want=$( { $G rev-parse main~1; for s in $(seq -w 1 12); do $G rev-parse refs/duikou/sources/s$s; done; } | sort)
check_eq "... its parents are main and every source branch's head" "$want" \
  "$($G cat-file -p main | sed -n 's/^parent //p' | sort)"
check_grep "... whose subject counts what changed" "^sync 12 sources: 12 tasks changed, 12 progress changed$" \
  <($G log -1 --format=%s main)
check "git fsck --strict, again" $G fsck --strict

# who changed it, and from which system: the report, not the commit's author
"$DUIKOU" blame jnly-2024/31 --repo "$WORK/g.git" >"$WORK/blame.out" 2>"$WORK/blame.err"
check_grep "blame: task 31's status to s07, the source that sent it" "^[0-9a-f]\{12\}  [^ ]*  s07  status: completed$" \
  "$WORK/blame.out"
"$DUIKOU" log jnly-2024/32/linyi/2024-06 --repo "$WORK/g.git" >"$WORK/log.out" 2>"$WORK/log.err"
check_grep "log: a progress report's change names s07" "^[0-9a-f]\{12\}  [^ ]*  s07$" "$WORK/log.out"
check_grep "... and the field" "percent: 40 → 60" "$WORK/log.out"

# the same inputs, a main commit per source: the same records
gen "$WORK/body" 1
check_status "group_commits 0: round 1, a main commit per source" 0 "$DUIKOU" sync -c "$WORK/one.yaml"
check_eq "... 12 of them" 12 "$($O rev-list --count --first-parent main)"
gen "$WORK/body" 2
check_status "... round 2" 0 "$DUIKOU" sync -c "$WORK/one.yaml"
check_eq "... the same main tree as the grouped commits" "$($G rev-parse main^{tree})" "$($O rev-parse main^{tree})"

# A crash after the state named the round's source commit, before its pack
# was written: the commit is nowhere, and the next round starts afresh.
python3 - "$WORK/gstate/sources/s03.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["pending_source_commit"] = "1" * 40; json.dump(d, open(sys.argv[1], "w"))
PY
check_status "a pending source commit that never reached the disk: the next round runs" 0 \
  "$DUIKOU" sync -c "$WORK/g.yaml"
check_no_grep "... and forgets it" pending_source_commit "$WORK/gstate/sources/s03.json"

check_status "a negative group_commits is refused" 2 "$DUIKOU" sync -c <(sed 's/group_commits: 4/group_commits: -1/' "$WORK/g.yaml")
check_grep "... at its place" "group_commits" "$WORK/last.err"
finish

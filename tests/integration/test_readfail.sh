#!/usr/bin/env bash
# A libgit2 failure is an error that stops the commit, never a record taken
# as absent or new: a record's blob is removed from the repository, the
# source then changes that record, and the sync must fail with main and the
# source branch where they were.
. "$TEST_LIB"

task() { printf '{"kind": "task", "id": "jnly-2024/%s", "plan": "jnly-2024", "number": %d, "title": "%s"}' "$1" "$((10#$1))" "$2"; }
printf '[%s, %s]\n' "$(task 01 "联合做强两市优势产业")" "$(task 02 "深化教育合作")" >"$WORK/records.json"
cat >"$WORK/c.yaml" <<YAML
repository: $WORK/snap.git
state: $WORK/state
sources:
  - name: file-tasks
    plugin: json-api
    city: jinan
    url: file://$WORK/records.json
YAML
G="git --git-dir $WORK/snap.git"
check_status "the first sync commits" 0 "$DUIKOU" sync -c "$WORK/c.yaml"
main1=$($G rev-parse main)
src1=$($G rev-parse refs/duikou/sources/file-tasks)
blob=$($G rev-parse main:tasks/jnly-2024/01.json)
check "the record's blob is a loose object" test -f "$WORK/snap.git/objects/${blob:0:2}/${blob:2}"
rm -f "$WORK/snap.git/objects/${blob:0:2}/${blob:2}"
printf '[%s, %s]\n' "$(task 01 "联合做强两市优势产业（修订）")" "$(task 02 "深化教育合作")" >"$WORK/records.json"
check_status "a sync that cannot read the record's last version fails" 1 "$DUIKOU" sync -c "$WORK/c.yaml"
check_grep "... saying the repository could not be read" "FAILED: .*$blob\|FAILED: .*object\|FAILED: .*not found" "$WORK/last.out"
check_eq "... main did not move" "$main1" "$($G rev-parse main)"
check_eq "... nor the source branch" "$src1" "$($G rev-parse refs/duikou/sources/file-tasks)"
finish

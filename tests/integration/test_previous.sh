#!/usr/bin/env bash
# A re-sync walks each page against the page served last time at its URL
# (state/sources/NAME.prev): an item equal byte for byte to the one at its
# place last time is the record the branch holds, and is neither scanned,
# hashed nor looked up. Items changed, inserted or removed are found as
# such, and what lands is what a sync from scratch of the same body gives.
# The file counts only while the branch is at the commit it was written
# for, and a damaged one is not used.
. "$TEST_LIB"

gen() { # gen FILE [CHANGED [INSERT [DROP]]]: 300 tasks and progress reports, compact
  python3 "$(dirname "$0")/gen_register.py" "$1" ${2:+--changed "$2"} ${3:+--insert "$3"} ${4:+--drop "$4"}
}
mkconf() { # mkconf NAME: a repository and state of its own, one source on body.json
  cat >"$WORK/$1.yaml" <<YAML
repository: $WORK/$1.git
state: $WORK/$1-state
sources:
  - { name: register, plugin: json-api, city: jinan, url: "file://$WORK/body.json" }
YAML
}
mkconf p
G="git --git-dir $WORK/p.git"
P="$WORK/p-state/sources/register.prev"
S="$WORK/p-state/sources/register.seen"
state() { python3 -c "import json,sys; d=json.load(open('$WORK/p-state/sources/register.json')); print(d.get('previous', {}).get(sys.argv[1], ''))" "$1"; }

gen "$WORK/body.json"
check_status "a first sync of 300 records commits" 0 "$DUIKOU" sync -c "$WORK/p.yaml"
check "... and keeps the page as served" test -s "$P"
check_eq "... the state names it, for the branch's commit" "$($G rev-parse refs/duikou/sources/register)" "$(state commit)"
check "... with a tag of 32 hex digits" grep -qE '^[0-9a-f]{32}$' <(state tag)
check_eq "... the file starts with its magic" "DKPREV1" "$(head -c 7 "$P")"
before=$(stat -c '%i %Y %s' "$P")
tag=$(state tag)

# without the .seen table, only the previous page can know the records
rm -f "$S"
sleep 1
"$DUIKOU" sync -c "$WORK/p.yaml" >"$WORK/2.out" 2>"$WORK/2.err"
check_grep "the same page again: every item known from it, none parsed" \
  "unchanged: 300 records, 0 changed, 0 invalid, 0 rejected (300 known as served before: not parsed)" "$WORK/2.err"
check_eq "... and the file is not written again" "$before" "$(stat -c '%i %Y %s' "$P")"
check_eq "... nor its tag changed" "$tag" "$(state tag)"

rm -f "$S"
gen "$WORK/body.json" 7
"$DUIKOU" sync -c "$WORK/p.yaml" >"$WORK/3.out" 2>"$WORK/3.err"
check_grep "one item changed in place: it alone is parsed and committed" \
  "committed: 300 records, 1 changed, 0 invalid, 0 rejected (299 known as served before: not parsed)" "$WORK/3.err"
check_eq "... the change is on main" 50 "$($G show main:progress/jnly-2024/007/linyi/2024-03.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["percent"])')"
check "... a new file, with a new tag" test "$tag" != "$(state tag)"
check_eq "... for the new commit" "$($G rev-parse refs/duikou/sources/register)" "$(state commit)"

rm -f "$S"
gen "$WORK/body.json" 7 20 60
"$DUIKOU" sync -c "$WORK/p.yaml" >"$WORK/4.out" 2>"$WORK/4.err"
# the inserted item is parsed; so is the first item after the 3 removed
# (past the look-ahead: the second miss in a row looks the rest up)
check_grep "an item inserted and a task with its 2 reports removed: the walk keeps in step" \
  "committed: 298 records, 1 changed, 0 invalid, 0 rejected (296 known as served before: not parsed)" "$WORK/4.err"
# the same body synced from scratch lands the same tree
mkconf q
check_status "a sync from scratch of the same body" 0 "$DUIKOU" sync -c "$WORK/q.yaml"
check_eq "... gives the source branch the same tree" \
  "$(git --git-dir "$WORK/q.git" rev-parse 'refs/duikou/sources/register^{tree}')" \
  "$($G rev-parse 'refs/duikou/sources/register^{tree}')"
# main keeps what the source stopped listing (no delete_after): those 3 only
check_eq "... and main the same but for the 3 records no longer listed" \
  "progress/jnly-2024/060/jinan/2024-03.json progress/jnly-2024/060/linyi/2024-03.json tasks/jnly-2024/060.json" \
  "$(comm -13 <(git --git-dir "$WORK/q.git" ls-tree -r main | sort) <($G ls-tree -r main | sort) | cut -f2 | sort | tr '\n' ' ' | sed 's/ $//')"

# a damaged file: a warning, then every item is walked whole
python3 - "$P" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[60] ^= 0xFF; open(sys.argv[1], "wb").write(bytes(b))
PY
rm -f "$S"
"$DUIKOU" sync -c "$WORK/p.yaml" >"$WORK/5.out" 2>"$WORK/5.err"
check_grep "a damaged file is named and not used" "register.prev is damaged: not used" "$WORK/5.err"
check_grep "... every item parsed (no table either), nothing changes" \
  "unchanged: 298 records, 0 changed, 0 invalid, 0 rejected\"$" "$WORK/5.err"
check "... and a sound file is written again" grep -qE '^[0-9a-f]{32}$' <(state tag)

# the branch no longer at the file's commit: the file is not used
python3 - "$WORK/p-state/sources/register.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["previous"]["commit"] = "0" * 40; json.dump(d, open(sys.argv[1], "w"))
PY
rm -f "$S"
"$DUIKOU" sync -c "$WORK/p.yaml" >"$WORK/6.out" 2>"$WORK/6.err"
check_grep "written for another commit: not used" "unchanged: 298 records, 0 changed, 0 invalid, 0 rejected\"$" "$WORK/6.err"
rm -f "$S"
check_grep "... and the next round uses the file written then" "(298 known as served before: not parsed)" \
  <("$DUIKOU" sync -c "$WORK/p.yaml" 2>&1)

# other text around the items: walked whole, and still right
rm -f "$S"
python3 -c "
import json; d = json.load(open('$WORK/body.json')); open('$WORK/body.json', 'w').write(json.dumps({'records': d}, ensure_ascii=False, separators=(',', ':')))"
"$DUIKOU" sync -c "$WORK/p.yaml" >"$WORK/7.out" 2>"$WORK/7.err"
check_grep "the array moved into an object: known by its blobs, nothing changes" \
  "unchanged: 298 records, 0 changed, 0 invalid, 0 rejected" "$WORK/7.err"
check "the repository is sound" $G fsck --strict

# a URL that holds a secret of the configuration: the page is not written down
export PREV_TOKEN=tok-5f0c2a9e71
mkdir -p "$WORK/$PREV_TOKEN"
gen "$WORK/$PREV_TOKEN/body.json"
cat >"$WORK/s.yaml" <<YAML
repository: $WORK/s.git
state: $WORK/s-state
sources:
  - { name: register, plugin: json-api, city: jinan, url: "file://$WORK/$PREV_TOKEN/body.json", auth: { bearer_env: PREV_TOKEN }, other_origin: without_auth }
YAML
check_status "a source whose URL holds its token syncs" 0 "$DUIKOU" sync -c "$WORK/s.yaml"
check "... and keeps no previous page" test ! -e "$WORK/s-state/sources/register.prev"
check "... nor names one" test -z "$(grep -l previous "$WORK/s-state/sources/register.json")"
check "... and the token is in no state file" test -z "$(grep -rlF "$PREV_TOKEN" "$WORK/s-state")"
finish

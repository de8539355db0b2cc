#!/usr/bin/env bash
# A re-sync does not parse what the source serves as before: a record whose
# text is the blob its branch holds (canonical bytes), or the text it was
# served as last time (state/sources/NAME.seen), counts as listed again.
# Only changed records are parsed and validated; a change of the schemas
# validates everything again; what lands is the same either way.
. "$TEST_LIB"

gen() { # gen FILE FORM [CHANGED [DAY]]: 300 tasks and their progress, compact or canonical
  python3 "$(dirname "$0")/gen_register.py" "$1" --form "$2" ${3:+--changed "$3"} ${4:+--day "$4"}
}
cat >"$WORK/h.yaml" <<YAML
repository: $WORK/h.git
state: $WORK/state
sources:
  - { name: register, plugin: json-api, city: jinan, url: "file://$WORK/body.json" }
YAML
G="git --git-dir $WORK/h.git"
gen "$WORK/body.json" compact
check_status "a first sync of 300 records commits" 0 "$DUIKOU" sync -c "$WORK/h.yaml"
check "... and keeps what each record was served as" test -s "$WORK/state/sources/register.seen"
check_eq "... a pair for each of the 300 texts" 12008 "$(stat -c %s "$WORK/state/sources/register.seen")"
ino=$(stat -c %i "$WORK/state/sources/register.seen")
first=$($G rev-parse main)
"$DUIKOU" sync -c "$WORK/h.yaml" >"$WORK/2.out" 2>"$WORK/2.err"
check_grep "the same body again: no record parsed" "unchanged: 300 records, 0 changed, 0 invalid, 0 rejected (300 known as served before: not parsed)" "$WORK/2.err"
check_eq "... and nothing committed" "$first" "$($G rev-parse main)"
gen "$WORK/body.json" compact 7
"$DUIKOU" sync -c "$WORK/h.yaml" >"$WORK/3.out" 2>"$WORK/3.err"
check_grep "one record changed: it alone is parsed and committed" "committed: 300 records, 1 changed, 0 invalid, 0 rejected (299 known as served before: not parsed)" "$WORK/3.err"
check_eq "... the change is on main" 50 "$($G show main:progress/jnly-2024/007/linyi/2024-03.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["percent"])')"
# The table grows by what changed: 8 bytes of magic and 40 a pair.
T="$WORK/state/sources/register.seen"
check_eq "... and its one new text is appended to the table, which is not written again" "12048 $ino" \
  "$(stat -c '%s %i' "$T")"
# a pair cut short (the machine stopped in an append): left out, and the table written whole
truncate -s -10 "$T"
gen "$WORK/body.json" compact 8
"$DUIKOU" sync -c "$WORK/h.yaml" >"$WORK/3b.out" 2>"$WORK/3b.err"
check_grep "a table cut short: the record of its last pair is parsed again" \
  "committed: 300 records, 2 changed, 0 invalid, 0 rejected (298 known as served before: not parsed)" "$WORK/3b.err"
check_eq "... and the table is written whole, with what this round served" 12008 "$(stat -c %s "$T")"
# rounds that change every record append until the table holds more than
# twice what is served (and 256 pairs): then it is written whole again
sizes=
for d in 1 2 3; do
  gen "$WORK/body.json" compact 8 $d
  "$DUIKOU" sync -c "$WORK/h.yaml" >/dev/null 2>&1
  sizes="$sizes $(stat -c %s "$T")"
done
check_eq "... the 200 progress reports appended twice, then the table rewritten" " 20008 28008 12008" "$sizes"
gen "$WORK/body.json" compact 8 3
check_grep "... and it still knows every record" "(300 known as served before: not parsed)" <("$DUIKOU" sync -c "$WORK/h.yaml" 2>&1)
gen "$WORK/body.json" compact 7
check_status "back to the body of round 3" 0 "$DUIKOU" sync -c "$WORK/h.yaml"
gen "$WORK/body.json" canonical 7
"$DUIKOU" sync -c "$WORK/h.yaml" >"$WORK/4.out" 2>"$WORK/4.err"
check_grep "the canonical form is known by its blob, with no table" "unchanged: 300 records, 0 changed, 0 invalid, 0 rejected (300 known as served before: not parsed)" "$WORK/4.err"
# A record the source serves byte for byte as before, but that the schemas
# now refuse, must not slip through: another digest validates all again.
python3 - "$WORK/state/sources/register.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["schemas"] = "0" * 64; json.dump(d, open(sys.argv[1], "w"))
PY
"$DUIKOU" sync -c "$WORK/h.yaml" >"$WORK/5.out" 2>"$WORK/5.err"
check_grep "other schemas: every record validated again" "unchanged: 300 records, 0 changed, 0 invalid, 0 rejected\"$" "$WORK/5.err"
check "... and the digest is recorded again" grep -q "\"schemas\": \"[0-9a-f]\{64\}\"" "$WORK/state/sources/register.json"
check_grep "... so the next round holds them again" "(300 known as served before: not parsed)" \
  <("$DUIKOU" sync -c "$WORK/h.yaml" 2>&1)
# A table that does not match the branch any more is harmless: a blob it
# names that the branch does not hold at that path is parsed.
printf 'DKSEEN1\ngarbage' >"$WORK/state/sources/register.seen"
gen "$WORK/body.json" compact 7
"$DUIKOU" sync -c "$WORK/h.yaml" >"$WORK/6.out" 2>"$WORK/6.err"
check_grep "a corrupt table: everything parsed, nothing changes" "unchanged: 300 records, 0 changed, 0 invalid, 0 rejected\"$" "$WORK/6.err"
check "the repository is sound" $G fsck --strict
finish

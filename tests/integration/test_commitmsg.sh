#!/usr/bin/env bash
# A commit that changes many records lists the first 200 and counts the
# rest by kind; `duikou diff` gives the full list.
. "$TEST_LIB"

python3 - "$WORK/records.json" <<'PY'
import json, sys
recs = [{"kind": "task", "id": "jnly-2024/%02d" % n, "plan": "jnly-2024", "number": n,
         "title": "联合做强两市优势产业 %d" % n} for n in range(10, 260)]
recs.append({"kind": "plan", "id": "jnly-2024", "title": "济南—临沂对口合作2024年工作要点", "year": 2024})
json.dump(recs, open(sys.argv[1], "w"), ensure_ascii=False)
PY
cat >"$WORK/c.yaml" <<YAML
repository: $WORK/snap.git
state: $WORK/state
sources:
  - { name: register, plugin: json-api, city: jinan, url: "file://$WORK/records.json" }
YAML
G="git --git-dir $WORK/snap.git"
check_status "a sync of 251 records commits" 0 "$DUIKOU" sync -c "$WORK/c.yaml"
$G log -1 --format=%B main >"$WORK/msg"
check_eq "the message lists 200 records" 200 "$(grep -c '^tasks/jnly-2024/.*: added$\|^plans/.*: added$' "$WORK/msg")"
check_grep "... and counts the rest by kind (in path order: the plan is listed first)" '^\.\.\. and 51 more records (duikou diff lists them all): 51 tasks$' "$WORK/msg"
check_grep "... the summary still counts them all" '^sync register: 1 plan added, 250 tasks added$' "$WORK/msg"
check_eq "... and the trailers follow" "Duikou-Source: register" "$(grep '^Duikou-Source:' "$WORK/msg")"
python3 - "$WORK/records.json" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))
recs[0]["title"] = "联合做强两市优势产业（修订）"
json.dump(recs, open(sys.argv[1], "w"), ensure_ascii=False)
PY
check_status "a sync that changes one record" 0 "$DUIKOU" sync -c "$WORK/c.yaml"
check_eq "... lists it, and counts nothing more" "tasks/jnly-2024/10.json: title 联合做强两市优势产业 10 → 联合做强两市优势产业（修订）|0" \
  "$($G log -1 --format=%B main | grep '^tasks/')|$($G log -1 --format=%B main | grep -c 'more records')"
finish

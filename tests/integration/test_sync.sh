#!/usr/bin/env bash
# A sync end to end: a real HTTP server on loopback (city-sim) serving
# canonical records, `duikou sync`, and the repository checked with git.
. "$TEST_LIB"

DATA="$WORK/www"
mkdir -p "$DATA"
start_sim --data "$DATA"
# The simulator's built-in records (the published 2024 plan: 1 plan, 31 tasks)
# become the files this test serves and changes.
curl -sf "$SIM_URL/jinan/tasks.json" -o "$DATA/records.json"
check_eq "the served payload holds 32 records" 32 "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$DATA/records.json")"

REPO="$WORK/snap.git"
export JINAN_TOKEN="s3cret-jinan-token-value"
cat >"$WORK/duikou.yaml" <<YAML
repository: snap.git
state: state
sources:
  - name: jinan-tasks
    plugin: json-api
    city: jinan
    url: $SIM_URL/records.json
    auth: { bearer_env: JINAN_TOKEN }
YAML

check_status "first sync exits 0" 0 "$DUIKOU" sync -c "$WORK/duikou.yaml" --log-level debug
cp "$WORK/last.err" "$WORK/sync1.log"
check_grep "first sync reports a commit" "jinan-tasks *committed" "$WORK/last.out"
check "the repository is bare" test "$(git --git-dir "$REPO" rev-parse --is-bare-repository)" = true
check "git fsck --strict is clean" git --git-dir "$REPO" fsck --strict
check_eq "one commit on main" 1 "$(commits "$REPO")"
check_eq "HEAD is main" "refs/heads/main" "$(git --git-dir "$REPO" symbolic-ref HEAD)"
check_eq "32 files in the tree" 32 "$(git --git-dir "$REPO" ls-tree -r --name-only main | wc -l)"
check "plans/jnly-2024.json is there" git --git-dir "$REPO" cat-file -e main:plans/jnly-2024.json
git --git-dir "$REPO" show main:tasks/jnly-2024/12.json >"$WORK/t12.json"
check_grep "task 12 has its title, in Chinese, unescaped" '"title": "联合做强两市优势产业"' "$WORK/t12.json"
check_grep "task 12 names its units" '济南市工业和信息化局' "$WORK/t12.json"
# canonical form: the file is exactly what a sorted, 2-space, unescaped dump gives
check "task 12 is canonical JSON" python3 -c '
import json,sys
raw=open(sys.argv[1],encoding="utf-8").read()
want=json.dumps(json.loads(raw),ensure_ascii=False,indent=2,sort_keys=True,separators=(",",": "))+"\n"
sys.exit(0 if raw==want else 1)' "$WORK/t12.json"
git --git-dir "$REPO" log -1 --format='%an <%ae>%n%cn%n%B' main >"$WORK/msg1"
check_grep "commit subject counts records" "^sync jinan-tasks: 1 plan added, 31 tasks added$" "$WORK/msg1"
check_grep "author is the source" "^jinan-tasks (jinan) <jinan-tasks@jinan.duikou.invalid>" "$WORK/msg1"
check_grep "committer is duikou" "^duikou$" "$WORK/msg1"
check_grep "trailer: source" "^Duikou-Source: jinan-tasks" "$WORK/msg1"
check_grep "trailer: plugin and version" "^Duikou-Plugin: json-api " "$WORK/msg1"
check_grep "trailer: URL" "^Duikou-URL: $SIM_URL/records.json" "$WORK/msg1"
check_grep "trailer: ETag" "^Duikou-ETag: \"" "$WORK/msg1"
check_grep "trailer: body SHA-256" "^Duikou-Body-SHA256: $(sha256sum "$DATA/records.json" | cut -d' ' -f1)" "$WORK/msg1"
check "the state file is written" test -s "$WORK/state/sources/jinan-tasks.json"
check_grep "the state keeps the ETag" '"etag": "\\"' "$WORK/state/sources/jinan-tasks.json"
check_grep "the state keeps the body's hash" "\"body_sha256\": \"$(sha256sum "$DATA/records.json" | cut -d' ' -f1)\"" "$WORK/state/sources/jinan-tasks.json"
check_grep "the state keeps the last success" '"last_success": "20' "$WORK/state/sources/jinan-tasks.json"

# Second sync: the server answers 304 to the ETag, and nothing is committed.
check_status "second sync exits 0" 0 "$DUIKOU" sync -c "$WORK/duikou.yaml" --log-level debug
cat "$WORK/last.err" >>"$WORK/sync1.log"
check_grep "second sync is not modified" "not modified" "$WORK/last.out"
check_eq "still one commit after the second sync" 1 "$(commits "$REPO")"

# Without the validators (state gone) the body is fetched again, but the
# same records give the same bytes: still no commit.
rm -rf "$WORK/state"
check_status "sync without state exits 0" 0 "$DUIKOU" sync -c "$WORK/duikou.yaml"
check_grep "sync without state finds nothing changed" "unchanged" "$WORK/last.out"
check_eq "still one commit when the content is the same" 1 "$(commits "$REPO")"

# A change of one field of one task: one commit, the body names the field.
python3 - "$DATA/records.json" <<'PY'
import json,sys
p=sys.argv[1]; recs=json.load(open(p,encoding="utf-8"))
for r in recs:
    if r["id"]=="jnly-2024/12": r["title"]="联合做强两市优势产业(修订)"
json.dump(recs,open(p,"w",encoding="utf-8"),ensure_ascii=False)
PY
check_status "sync after a change exits 0" 0 "$DUIKOU" sync -c "$WORK/duikou.yaml"
check_eq "two commits after the change" 2 "$(commits "$REPO")"
git --git-dir "$REPO" log -1 --format=%B main >"$WORK/msg2"
check_grep "subject says one task changed" "^sync jinan-tasks: 1 task changed$" "$WORK/msg2"
check_grep "body names the record and field" "^tasks/jnly-2024/12.json: title 联合做强两市优势产业 → 联合做强两市优势产业(修订)" "$WORK/msg2"
check_eq "the commit touches one path" "tasks/jnly-2024/12.json" "$(git --git-dir "$REPO" diff-tree --no-commit-id --name-only -r main^1 main)"
check "git fsck --strict is clean after the change" git --git-dir "$REPO" fsck --strict

# Invalid records are refused with source, record, field and rule; the valid
# ones still land.
python3 - "$DATA/records.json" <<'PY'
import json,sys
p=sys.argv[1]; recs=json.load(open(p,encoding="utf-8"))
recs.append({"kind":"task","id":"../../etc/passwd","title":"escape"})
recs.append({"kind":"memo","id":"x"})
recs.append({"kind":"task","id":"jnly-2024/32","plan":"jnly-2024","number":32,"title":"新增任务"})
recs.append({"kind":"task","id":"jnly-2024/33","plan":"jnly-2024","number":33,"title":"x",
             "units":[{"name":"教育局","city":"jinnan","role":"lead"}]})
json.dump(recs,open(p,"w",encoding="utf-8"),ensure_ascii=False)
PY
check_status "sync with invalid records still exits 0" 0 "$DUIKOU" sync -c "$WORK/duikou.yaml"
check_grep "the escaping id is refused with source and field" 'source=jinan-tasks record=../../etc/passwd msg="invalid record: /id: ' "$WORK/last.err"
check_grep "the unknown kind is refused with the rule" '/kind: \\"memo\\" is not one of plan, task, progress, unit' "$WORK/last.err"
check_grep "a schema violation names source, record, field and rule" \
  'source=jinan-tasks record=jnly-2024/33 msg="invalid record: /units/0/city: \\"jinnan\\" is not one of jinan, linyi, province, central, other (enum)"' "$WORK/last.err"
check_grep "the result counts 3 invalid" "3 invalid" "$WORK/last.out"
check "the schema-invalid task is not committed" bash -c "! git --git-dir '$REPO' cat-file -e main:tasks/jnly-2024/33.json"
check "the valid new task landed" git --git-dir "$REPO" cat-file -e main:tasks/jnly-2024/32.json
check "nothing escaped the tree" test -z "$(git --git-dir "$REPO" ls-tree -r --name-only main | grep -v -E '^(plans|tasks)/jnly-2024')"

# A source whose options its plugin refuses fails before any request, naming
# the option and the rule.
cp "$WORK/duikou.yaml" "$WORK/badopts.yaml"
printf '    options: { records: 5, colour: red }\n' >>"$WORK/badopts.yaml"
check_status "sync with options the plugin refuses exits 1" 1 "$DUIKOU" sync -c "$WORK/badopts.yaml"
check_grep "the refused option is named with its rule" 'plugin json-api refuses the options: .*/sources/0/options/records: expected a string, found an integer' "$WORK/last.out"
check_grep "the unknown option is named" 'property \"colour\" is not allowed' "$WORK/last.out"

# An HTTP error fails the source with the status, exit 1, and commits nothing.
sed -i "s#$SIM_URL/records.json#$SIM_URL/missing.json#" "$WORK/duikou.yaml"
before=$(commits "$REPO")
check_status "sync of a 404 exits 1" 1 "$DUIKOU" sync -c "$WORK/duikou.yaml"
check_grep "the failure names the status" "HTTP 404" "$WORK/last.out"
check_eq "no commit on failure" "$before" "$(commits "$REPO")"
check_grep "the failure is in the state" '"consecutive_failures": [1-9]' "$WORK/state/sources/jinan-tasks.json"

# A missing secret is a clear error that names the variable, not a value.
unset JINAN_TOKEN
check_status "sync without its token exits 1" 1 "$DUIKOU" sync -c "$WORK/duikou.yaml"
check_grep "the missing token is named" "JINAN_TOKEN" "$WORK/last.out"

# Secrets never reach logs, state or the repository.
check_no_grep "the token is not in the logs" "s3cret-jinan-token-value" "$WORK/sync1.log"
check "the token is not in the state" bash -c "! grep -r s3cret-jinan-token-value '$WORK/state'"
check "the token is not in the repository" bash -c "! git --git-dir '$REPO' log -p --all | grep -q s3cret-jinan-token-value"

# The published plan documents through plan-text, from city-sim.
cat >"$WORK/plans.yaml" <<YAML
repository: plans.git
state: plans-state
sources:
  - { name: plan-2024, plugin: plan-text, city: other, url: "$SIM_URL/plans/jnly-2024.txt" }
  - name: plan-2023
    plugin: plan-text
    city: other
    url: "$SIM_URL/plans/jnly-2023.md"
    options: { plans: [jnly-2023-division, jnly-2023] }
YAML
check_status "the plan documents sync" 0 "$DUIKOU" sync -c "$WORK/plans.yaml"
P="git --git-dir $WORK/plans.git"
check_eq "2024: 1 plan" "plans/jnly-2024.json" "$($P ls-tree -r --name-only main plans | grep 2024)"
check_eq "2024: 31 tasks" 31 "$($P ls-tree -r --name-only main tasks/jnly-2024 | wc -l)"
check_eq "2024: 9 sections" 9 "$($P show main:plans/jnly-2024.json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sections"]))')"
check_eq "2024: every task has its units" 31 "$(for t in $($P ls-tree -r --name-only main tasks/jnly-2024); do
  $P show "main:$t" | python3 -c 'import json,sys; print(1 if json.load(sys.stdin).get("units") else 0)'; done | grep -c 1)"
check_eq "2023: 53 tasks of the division plan" 53 "$($P ls-tree -r --name-only main tasks/jnly-2023-division | wc -l)"
check_eq "2023: 43 tasks of the work points" 43 "$($P ls-tree -r --name-only main tasks/jnly-2023 | wc -l)"
check_eq "2024 as the plan document says it = the demo's register data" \
  "$(python3 -c 'import json,sys; [print(json.dumps(r, sort_keys=True, ensure_ascii=False)) for r in json.load(open(sys.argv[1])) if r["kind"]=="task"]' "$CITY_SIM_DATA/jnly-2024.json" | md5sum)" \
  "$(for t in $($P ls-tree -r --name-only main tasks/jnly-2024); do $P show "main:$t" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True, ensure_ascii=False))'; done | md5sum)"

# The server is stopped: a connection error fails the source, exit 1.
stop_sim
check_status "sync with the server down exits 1" 1 "$DUIKOU" sync -c "$WORK/duikou.yaml"
finish

#!/usr/bin/env bash
# json-api: a source in its own field names, mapped by JSON Pointers, over
# two pages linked by a next-URL field in the body.
. "$TEST_LIB"
DATA="$WORK/www"
mkdir -p "$DATA/api"
cat >"$DATA/api/tasks-1.json" <<'JSON'
{"data": {"items": [
  {"code": "jnly-2024/12", "name": "联合做强两市优势产业", "no": 12, "plan_code": "jnly-2024", "dept": "x"},
  {"code": "jnly-2024/13", "name": "强化项目招引落地", "no": 13, "plan_code": "jnly-2024"}]},
 "links": {"next": "/api/tasks-2.json"}}
JSON
cat >"$DATA/api/tasks-2.json" <<'JSON'
{"data": {"items": [
  {"code": "jnly-2024/14", "name": "加强成果转化协同合作", "no": 14, "plan_code": "jnly-2024"}]},
 "links": {"next": null}}
JSON
start_sim --data "$DATA"
cat >"$WORK/duikou.yaml" <<YAML
repository: snap.git
state: state
sources:
  - name: jinan-tasks
    plugin: json-api
    city: jinan
    url: $SIM_URL/api/tasks-1.json
    options:
      records: /data/items
      map: { id: /code, title: /name, number: /no, plan: /plan_code }
      constants: { kind: task }
      next: /links/next
YAML
check_status "a two-page mapped source syncs, exit 0" 0 "$DUIKOU" sync -c "$WORK/duikou.yaml"
check_grep "three records from two pages" "jinan-tasks *committed .*: 3 records" "$WORK/last.out"
check_eq "three tasks in the tree" 3 "$(git --git-dir "$WORK/snap.git" ls-tree -r --name-only main tasks | wc -l)"
git --git-dir "$WORK/snap.git" show main:tasks/jnly-2024/14.json >"$WORK/t14.json"
check_grep "the second page's task is mapped" '"title": "加强成果转化协同合作"' "$WORK/t14.json"
check_no_grep "unmapped source fields are left out" '"dept"' "$WORK/t14.json"
check_grep "the commit says two pages" "^Duikou-Pages: 2" <(git --git-dir "$WORK/snap.git" log -1 --format=%B main)

# page_param: the next page is the same URL with page=N+1, while pages bring records.
check_status "parse with page_param" 0 "$DUIKOU" parse --plugin json-api --url "http://h.example/api/tasks?year=2024" \
  --options '{"records": "/data/items", "map": {"id": "/code", "title": "/name", "number": "/no", "plan": "/plan_code"}, "constants": {"kind": "task"}, "page_param": "page"}' \
  "$DATA/api/tasks-2.json"
check_grep "it asks for page 2" "next page: http://h.example/api/tasks?year=2024&page=2" "$WORK/last.err"
echo '{"data": {"items": []}}' >"$WORK/empty.json"
check_status "an empty page" 0 "$DUIKOU" parse --plugin json-api --url "http://h.example/api/tasks?page=3" \
  --options '{"records": "/data/items", "page_param": "page"}' "$WORK/empty.json"
check_no_grep "an empty page ends the pagination" "next page" "$WORK/last.err"
finish

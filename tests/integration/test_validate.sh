#!/usr/bin/env bash
# `duikou validate` and `check-config` on the schemas: exact places of errors.
. "$TEST_LIB"

cat >"$WORK/good-task.json" <<'JSON'
{"kind": "task", "id": "jnly-2024/12", "plan": "jnly-2024", "number": 12, "title": "联合做强两市优势产业",
 "units": [{"name": "济南市工业和信息化局", "city": "jinan", "role": "shared"}]}
JSON
check_status "a good task validates, exit 0" 0 "$DUIKOU" validate "$WORK/good-task.json"
check_grep "it says valid" "good-task.json: valid" "$WORK/last.out"

cat >"$WORK/bad-task.json" <<'JSON'
{"kind": "task", "id": "jnly-2024/12", "plan": "jnly-2024", "number": 12, "title": "x",
 "units": [{"name": "教育局", "city": "jinnan", "role": "lead"}]}
JSON
check_status "a bad task exits 1" 1 "$DUIKOU" validate "$WORK/bad-task.json"
check_grep "the error names file, pointer and rule" \
  'bad-task.json: /units/0/city: "jinnan" is not one of jinan, linyi, province, central, other' "$WORK/last.out"

check_status "--output basic exits 1 on the bad task" 1 "$DUIKOU" validate --output basic "$WORK/bad-task.json"
check "basic output is the specification's shape" python3 -c '
import json,sys
o=json.loads(open(sys.argv[1]).readline())
assert o["valid"] is False, o
e=o["errors"][0]
assert e["instanceLocation"]=="/units/0/city", e
assert e["keywordLocation"].endswith("/enum"), e
assert e["absoluteKeywordLocation"].startswith("https://duikou.invalid/schemas/"), e
assert "jinnan" in e["error"], e' "$WORK/last.out"

# The demo's records: an array, all valid.
check_status "the 2024 plan's records all validate" 0 "$DUIKOU" validate "$CITY_SIM_DATA/jnly-2024.json"

# --kind and --schema
echo '{"kind": "unit", "id": "linyi/教育局", "name": "临沂市教育局"}' >"$WORK/unit.json"
check_status "--kind unit finds the missing city" 1 "$DUIKOU" validate --kind unit "$WORK/unit.json"
check_grep "missing property is named" 'unit.json: /: .*city' "$WORK/last.out"
echo '{"type": "object", "required": ["a"]}' >"$WORK/schema.json"
echo '{"b": 1}' >"$WORK/inst.json"
check_status "--schema FILE exits 1 on an invalid instance" 1 "$DUIKOU" validate --schema "$WORK/schema.json" "$WORK/inst.json"
echo '{"format": "date"}' >"$WORK/fmt.json"
echo '"2024-13-01"' >"$WORK/notadate.json"
check_status "--schema: format is an annotation by default" 0 "$DUIKOU" validate --schema "$WORK/fmt.json" "$WORK/notadate.json"
check_status "--schema --assert-formats makes it an assertion" 1 "$DUIKOU" validate --schema "$WORK/fmt.json" --assert-formats "$WORK/notadate.json"
check_grep "the bad date is named" '"2024-13-01" is not a valid date' "$WORK/last.out"
echo '{"type": 12}' >"$WORK/badschema.json"
check_status "a schema that breaks its metaschema is refused, exit 2" 2 "$DUIKOU" validate --schema "$WORK/badschema.json" "$WORK/inst.json"
check_status "--schema with --kind is a usage error" 2 "$DUIKOU" validate --schema "$WORK/schema.json" --kind task "$WORK/inst.json"
printf '{"kind": "task",' >"$WORK/notjson.json"
check_status "a file that is not JSON exits 1" 1 "$DUIKOU" validate "$WORK/notjson.json"
check_grep "not JSON is named with line and column" "notjson.json:1:[0-9]*: not JSON" "$WORK/last.out"

printf '{"kind": "task", "title": "\xff\xfe"}' >"$WORK/badutf8.json"
check_status "invalid UTF-8 is refused, exit 1" 1 "$DUIKOU" validate "$WORK/badutf8.json"
check_grep "invalid UTF-8 is named with its place" "badutf8.json:1:[0-9]*: not JSON: unable to decode byte 0xff" "$WORK/last.out"

# check-config reports schema errors at their YAML line and column.
cat >"$WORK/cfg.yaml" <<'YAML'
repository: repo.git
sources:
  - name: linyi-progress
    plugin: csv
    city: jinnan
    url: http://127.0.0.1:1/progress.csv
    every: 30m
    cron: "0 */2 * * *"
YAML
check_status "check-config exits 2 on schema errors" 2 "$DUIKOU" check-config "$WORK/cfg.yaml"
check_grep "the bad city is at its line and column" 'cfg.yaml:5:11: "jinnan" is not one of jinan, linyi, province, central, other (at /sources/0/city)' "$WORK/last.err"
sed -i 's/city: jinnan/city: linyi/' "$WORK/cfg.yaml"
check_status "check-config exits 2 on every and cron together" 2 "$DUIKOU" check-config "$WORK/cfg.yaml"
check_grep "every and cron together are refused at cron" 'cfg.yaml:8:11: give either every or cron, not both (at /sources/0/cron)' "$WORK/last.err"
finish

#!/usr/bin/env bash
# `duikou parse`: one plugin on a local file, records with their validation.
. "$TEST_LIB"

check_status "the 2024 plan's records parse, all valid, exit 0" 0 "$DUIKOU" parse --plugin json-api "$CITY_SIM_DATA/jnly-2024.json"
check_eq "32 lines, one per record" 32 "$(wc -l <"$WORK/last.out")"
check_eq "every record is valid" 32 "$(grep -c '"valid":true' "$WORK/last.out")"
check_grep "each line names the record's path" '"path":"tasks/jnly-2024/12.json"' "$WORK/last.out"
check_grep "the summary goes to stderr" "32 records (0 invalid), 0 rejected" "$WORK/last.err"

echo '[{"kind":"task","id":"jnly-2024/01","plan":"jnly-2024","number":1,"title":"x"},
       {"kind":"task","id":"jnly-2024/02","plan":"jnly-2024","number":2,"title":"y","units":[{"name":"教育局","city":"jinnan","role":"lead"}]},
       5]' >"$WORK/mixed.json"
check_status "invalid and rejected items make exit 1" 1 "$DUIKOU" parse --plugin json-api "$WORK/mixed.json"
check_grep "the invalid record carries its errors" '"instanceLocation":"/units/0/city"' "$WORK/last.out"
check_grep "the rejected item says where and why" '"rejected":{"error":"a record must be a JSON object","raw":"5","where":"/2"}' "$WORK/last.out"

echo '{"data": {"items": [{"kind":"plan","id":"jnly-2024","title":"t","year":2024}]}}' >"$WORK/nested.json"
check_status "--options points the plugin at the records" 0 "$DUIKOU" parse --plugin json-api --options '{"records": "/data/items"}' "$WORK/nested.json"
check_grep "the nested record came out" '"id":"jnly-2024"' "$WORK/last.out"
check_status "options the plugin refuses exit 2" 2 "$DUIKOU" parse --plugin json-api --options '{"records": 5}' "$WORK/nested.json"
check_grep "the refused option is named" "/options/records: expected a string, found an integer" "$WORK/last.err"
printf 'not json' >"$WORK/garbage.txt"
check_status "a body the plugin cannot parse exits 1" 1 "$DUIKOU" parse --plugin json-api "$WORK/garbage.txt"
check_grep "the plugin's reason is shown" "could not parse: response is not JSON" "$WORK/last.err"
check_status "an unknown plugin exits 2" 2 "$DUIKOU" parse --plugin nope "$WORK/garbage.txt"
check_grep "the unknown plugin is named with what exists" 'no plugin "nope" in .* (found: .*json-api' "$WORK/last.err"
check_status "parse --help exits 0" 0 "$DUIKOU" parse --help

# plan-text on the published 2024 document gives exactly the demo's records
# (which contrib/tools/seed-records.py made from the same text).
check_status "plan-text parses the 2024 seed, all valid" 0 "$DUIKOU" parse --plugin plan-text --options '{"plan": "jnly-2024"}' "$DK_SOURCE_ROOT/contrib/city-sim/data/seeds/jnly-2024-work-points.txt"
check "plan-text's records equal the demo data record for record" python3 -c '
import json,sys
got=sorted((json.loads(l)["record"] for l in open(sys.argv[1])), key=lambda r: r["id"])
want=sorted(json.load(open(sys.argv[2])), key=lambda r: r["id"])
sys.exit(0 if got==want else 1)' "$WORK/last.out" "$CITY_SIM_DATA/jnly-2024.json"
finish

#!/usr/bin/env bash
# The Bowtie harness answers protocol version 1.
. "$TEST_LIB"
out=$(printf '%s\n' \
  '{"cmd": "start", "version": 1}' \
  '{"cmd": "dialect", "dialect": "https://json-schema.org/draft/2020-12/schema"}' \
  '{"cmd": "run", "seq": 1, "case": {"description": "ref to registry", "schema": {"$ref": "http://example.com/s.json"}, "registry": {"http://example.com/s.json": {"type": "integer"}}, "tests": [{"description": "int", "instance": 1}, {"description": "str", "instance": "a"}]}}' \
  '{"cmd": "run", "seq": 2, "case": {"description": "bad ref", "schema": {"$ref": "http://example.com/none.json"}, "tests": [{"description": "x", "instance": 1}]}}' \
  '{"cmd": "dialect", "dialect": "http://json-schema.org/draft-07/schema#"}' \
  '{"cmd": "stop"}' | "$BOWTIE")
echo "$out" >"$WORK/bowtie.out"
check_eq "six commands, five answers" 5 "$(wc -l <"$WORK/bowtie.out")"
check "start answers ready with the implementation" python3 -c '
import json,sys
lines=[json.loads(l) for l in open(sys.argv[1])]
s=lines[0]; assert s["ready"] is True and s["version"]==1, s
assert s["implementation"]["language"]=="c" and s["implementation"]["name"]=="duikou", s
assert "https://json-schema.org/draft/2020-12/schema" in s["implementation"]["dialects"], s
assert lines[1]=={"ok": True}, lines[1]
assert lines[2]=={"seq": 1, "results": [{"valid": True}, {"valid": False}]}, lines[2]
assert lines[3]["seq"]==2 and lines[3]["errored"] is True and lines[3]["context"]["message"], lines[3]
assert lines[4]=={"ok": False}, lines[4]' "$WORK/bowtie.out"
finish

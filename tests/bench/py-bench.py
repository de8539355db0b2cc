#!/usr/bin/python3
"""The Python jsonschema peer of bench_validate (Debian's python3-jsonschema).
Usage: py-bench.py SCHEMA_DIR RECORDS.jsonl [N]: validates the first N records
(default 10000: Python is slow, and records per second is what is compared)."""
import json
import os
import sys
import time

import jsonschema

schema_dir, records_file = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
schemas = {}
for f in ["defs", "plan", "task", "progress", "unit"]:
    s = json.load(open(os.path.join(schema_dir, f + ".schema.json"), encoding="utf-8"))
    schemas[s["$id"]] = s
try:
    from referencing import Registry, Resource
    registry = Registry().with_resources([(k, Resource.from_contents(v)) for k, v in schemas.items()])
    mk = lambda s: jsonschema.Draft202012Validator(s, registry=registry, format_checker=jsonschema.FormatChecker())
except ImportError:  # older jsonschema: RefResolver
    resolver_store = dict(schemas)
    mk = lambda s: jsonschema.Draft202012Validator(
        s, resolver=jsonschema.RefResolver.from_schema(s, store=resolver_store), format_checker=jsonschema.FormatChecker())
validators = {k: mk(schemas["https://duikou.invalid/schemas/%s.schema.json" % k]) for k in ["plan", "task", "progress", "unit"]}
lines = [l for l in open(records_file, encoding="utf-8").read().split("\n") if l][:limit]
recs = [json.loads(l) for l in lines]
best, valid = 1e9, 0
for _ in range(3):
    t0 = time.perf_counter()
    valid = sum(1 for r in recs if validators[r["kind"]].is_valid(r))
    best = min(best, time.perf_counter() - t0)
print("validate %d rps (%d records, %d valid)" % (len(recs) / best, len(recs), valid))
t0 = time.perf_counter()
for l in lines:
    r = json.loads(l)
    validators[r["kind"]].is_valid(r)
print("parse+validate %d rps" % (len(lines) / (time.perf_counter() - t0)))

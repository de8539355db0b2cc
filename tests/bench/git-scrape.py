#!/usr/bin/python3
"""The git scraping peer of run.sh e2e: git-scrape.py SCHEMA_DIR WORKTREE URL...

For each URL (one source) in turn: curl the body, validate every record with
Python's jsonschema (Debian's python3-jsonschema) against duikou's schemas,
write each valid record as a canonical file (sorted keys, two-space indent,
UTF-8, one trailing newline: the bytes duikou stores) at the path duikou gives
it (tasks/<plan>/<NNN>.json, progress/<task>/<city>/<period>.json), then
`git add -A && git commit` in WORKTREE, as a scraper run from cron does.
Every file of the body is written again, changed or not, as scrapers do.
Prints "records N invalid N commits N"."""
import json
import os
import subprocess
import sys

import jsonschema

schema_dir, tree, urls = sys.argv[1], sys.argv[2], sys.argv[3:]
schemas = {}
for f in ["defs", "plan", "task", "progress", "unit"]:
    s = json.load(open(os.path.join(schema_dir, f + ".schema.json"), encoding="utf-8"))
    schemas[s["$id"]] = s
try:
    from referencing import Registry, Resource
    registry = Registry().with_resources([(k, Resource.from_contents(v)) for k, v in schemas.items()])
    mk = lambda s: jsonschema.Draft202012Validator(s, registry=registry, format_checker=jsonschema.FormatChecker())
except ImportError:  # older jsonschema: RefResolver
    mk = lambda s: jsonschema.Draft202012Validator(
        s, resolver=jsonschema.RefResolver.from_schema(s, store=dict(schemas)), format_checker=jsonschema.FormatChecker())
validators = {k: mk(schemas["https://duikou.invalid/schemas/%s.schema.json" % k]) for k in ["plan", "task", "progress", "unit"]}
folder = {"plan": "plans", "task": "tasks", "progress": "progress", "unit": "units"}

nrec = ninvalid = ncommits = 0
made = set()
for url in urls:
    body = subprocess.run(["curl", "-sSf", url], check=True, stdout=subprocess.PIPE).stdout
    for r in json.loads(body):
        nrec += 1
        v = validators.get(r.get("kind"))
        if v is None or not v.is_valid(r):
            ninvalid += 1
            continue
        path = os.path.join(tree, folder[r["kind"]], r["id"] + ".json")
        d = os.path.dirname(path)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True, indent=2) + "\n")
    subprocess.run(["git", "-C", tree, "add", "-A"], check=True)
    if subprocess.run(["git", "-C", tree, "diff", "--cached", "--quiet"]).returncode != 0:
        subprocess.run(["git", "-C", tree, "commit", "-q", "-m", "scrape " + url], check=True)
        ncommits += 1
print("records %d invalid %d commits %d" % (nrec, ninvalid, ncommits))

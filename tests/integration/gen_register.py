#!/usr/bin/env python3
"""The register the held-record tests serve: 100 tasks of the 2024 plan
and each city's March progress report, 300 records.

gen_register.py FILE [--form compact|canonical] [--changed N] [--day D]
                     [--insert N] [--drop N]

--changed N: task N's Linyi report at 50% instead of 40; --day D: every
report's day; --insert N: a new task after task N's reports; --drop N:
task N and its reports left out. compact is JSON without spaces; canonical
is duikou's own form (sorted keys, two spaces, a newline after each)."""
import argparse
import json

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--form", default="compact", choices=["compact", "canonical"])
ap.add_argument("--changed", type=int, default=-1)
ap.add_argument("--day", type=int, default=28)
ap.add_argument("--insert", type=int, default=0)
ap.add_argument("--drop", type=int, default=0)
a = ap.parse_args()
recs = []
for n in range(1, 101):
    tid = "jnly-2024/%03d" % n
    if n == a.drop:
        continue
    recs.append({"kind": "task", "id": tid, "plan": "jnly-2024", "number": n,
                 "title": "联合做强两市优势产业 %d" % n, "status": "in_progress"})
    for city in ["jinan", "linyi"]:
        pct = 40 + (10 if n == a.changed and city == "linyi" else 0)
        recs.append({"kind": "progress", "id": "%s/%s/2024-03" % (tid, city), "task": tid, "city": city,
                     "period": "2024-03", "status": "in_progress", "percent": pct,
                     "reported_at": "2024-03-%02dT17:00:00+08:00" % a.day})
    if n == a.insert:
        recs.append({"kind": "task", "id": "jnly-2024/%03d" % (500 + n), "plan": "jnly-2024", "number": 500 + n,
                     "title": "新增任务 %d" % n, "status": "not_started"})
if a.form == "compact":
    body = json.dumps(recs, ensure_ascii=False, separators=(",", ":"))
else:
    body = "[" + ",".join(json.dumps(r, ensure_ascii=False, indent=2, sort_keys=True) + "\n" for r in recs) + "]"
open(a.file, "w").write(body)

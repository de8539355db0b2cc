#!/usr/bin/env python3
"""gen-records.py OUT.jsonl [N]: N realistic task and progress records (one
JSON object per line), derived from the published 2024 plan that city-sim
serves: its 31 tasks, then monthly progress reports of both cities on them.
Deterministic (fixed seed), so every run measures the same bytes.

gen-records.py --e2e OUTDIR [PER_SOURCE]: the end-to-end benchmark's
bodies (run.sh e2e), each a JSON array of canonical records. 100 plans of 100
tasks (jnly-2024-p001/001 ...), each task one of the 2024 plan's 31 with its
section, text and units, a status and updated_at, followed by 9 monthly
progress reports (2024-01 to 2024-09, the two cities in turn): 10 records a
task, 100,000 in all. OUTDIR/v1/NNN.json: 100,000 / PER_SOURCE bodies
(50 by default) of PER_SOURCE records (default 2,000); OUTDIR/v2/: the same with 1% of the
records changed (every 100th: a task's status and updated_at, a report's
status, percent, summary and updated_at); OUTDIR/k/NNNN.json: the v1 records
again in bodies of 100 (1,000 sources)."""
import json
import os
import random
import sys

here = os.path.dirname(os.path.abspath(__file__))
plan = json.load(open(os.path.join(here, "../../contrib/city-sim/data/jnly-2024.json"), encoding="utf-8"))
tasks = [r for r in plan if r["kind"] == "task"]
rnd = random.Random(2024)
statuses = ["not_started", "in_progress", "in_progress", "completed", "delayed"]
summaries = ["按计划推进，已完成阶段性目标。", "组织召开对接会，签订合作协议。", "受项目审批影响，进度略有滞后。",
             "已完成年度任务，形成典型经验做法。", "持续推进中，下一步加强协调调度。"]


def e2e(outdir, per):
    recs = []
    for p in range(1, 101):
        plan_id = f"jnly-2024-p{p:03d}"
        for n in range(1, 101):
            t = tasks[(p * 7 + n - 1) % len(tasks)]
            tid = f"{plan_id}/{n:03d}"
            task = dict(t, id=tid, plan=plan_id, number=n, status=statuses[rnd.randrange(len(statuses))],
                        updated_at=f"2024-{1 + rnd.randrange(9):02d}-{1 + rnd.randrange(28):02d}T09:{rnd.randrange(60):02d}:00+08:00")
            recs.append(task)
            for j in range(9):
                city, month = ("jinan", "linyi")[j % 2], j + 1
                period = f"2024-{month:02d}"
                status = statuses[rnd.randrange(len(statuses))]
                pct = {"not_started": 0, "completed": 100}.get(status, rnd.randrange(5, 96))
                units = [u["name"] for u in t.get("units", []) if u["city"] == city] or \
                    ["%s市发展改革委" % ("济南" if city == "jinan" else "临沂")]
                recs.append({
                    "kind": "progress", "id": f"{tid}/{city}/{period}", "task": tid, "city": city,
                    "period": period, "status": status, "percent": pct,
                    "summary": summaries[rnd.randrange(len(summaries))], "unit": units[0],
                    "milestones": [{"id": f"m{k}", "title": f"第{k}阶段工作", "done": k <= pct // 34,
                                    "date": f"2024-{month:02d}-{10 + k:02d}"} for k in range(1, 1 + rnd.randrange(1, 4))],
                    "reported_at": f"2024-{month:02d}-28T17:00:00+08:00",
                    "updated_at": f"2024-{month:02d}-28T17:{rnd.randrange(60):02d}:00+08:00",
                })
    changed = []
    for i, r in enumerate(recs):
        r = dict(r)
        if i % 100 == 37:
            if r["kind"] == "task":
                r["status"] = "completed" if r.get("status") != "completed" else "in_progress"
                r["updated_at"] = "2024-10-08T10:30:00+08:00"
            else:
                r["status"], r["percent"] = "in_progress", min(99, r["percent"] + 1) if r["percent"] < 99 else 50
                r["summary"] = "已报送季度进展，下一步加强协调调度。"
                r["updated_at"] = r["updated_at"][:17] + "59+08:00"
        changed.append(r)

    def write(sub, rs, size, width):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)
        for k in range(0, len(rs) // size):
            with open(os.path.join(outdir, sub, f"{k + 1:0{width}d}.json"), "w", encoding="utf-8") as f:
                json.dump(rs[k * size:(k + 1) * size], f, ensure_ascii=False, separators=(",", ":"))
                f.write("\n")
    write("v1", recs, per, 3)
    write("v2", changed, per, 3)
    write("k", recs, 100, 4)


if sys.argv[1] == "--e2e":
    e2e(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
    sys.exit(0)
out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100000
with open(out, "w", encoding="utf-8") as f:
    for i in range(n):
        t = tasks[i % len(tasks)]
        if i % 10 == 0:
            rec = dict(t)  # a task record, as the plan gives it
        else:
            city = "jinan" if i % 2 else "linyi"
            month = 1 + (i // len(tasks)) % 12
            year = 2024 + (i // (len(tasks) * 12)) % 3
            period = f"{year}-{month:02d}"
            status = statuses[rnd.randrange(len(statuses))]
            pct = {"not_started": 0, "completed": 100}.get(status, rnd.randrange(5, 96))
            units = [u["name"] for u in t.get("units", []) if u["city"] == city] or ["%s市发展改革委" % ("济南" if city == "jinan" else "临沂")]
            rec = {
                "kind": "progress", "id": f"{t['id']}/{city}/{period}", "task": t["id"], "city": city,
                "period": period, "status": status, "percent": pct, "summary": summaries[rnd.randrange(len(summaries))],
                "unit": units[0],
                "milestones": [{"id": f"m{k}", "title": f"第{k}阶段工作", "done": k <= pct // 34, "date": f"{year}-{month:02d}-{10 + k:02d}"}
                               for k in range(1, 1 + rnd.randrange(1, 4))],
                "reported_at": f"{year}-{month:02d}-28T17:00:00+08:00",
                "updated_at": f"{year}-{month:02d}-28T17:{rnd.randrange(60):02d}:00+08:00",
            }
        f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")

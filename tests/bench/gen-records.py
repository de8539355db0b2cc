#!/usr/bin/env python3
"""gen-records.py OUT.jsonl [N]: N realistic task and progress records (one
JSON object per line), derived from the published 2024 plan that city-sim
serves: its 31 tasks, then monthly progress reports of both cities on them.
Deterministic (fixed seed), so every run measures the same bytes."""
import json
import os
import random
import sys

here = os.path.dirname(os.path.abspath(__file__))
plan = json.load(open(os.path.join(here, "../../contrib/city-sim/data/jnly-2024.json"), encoding="utf-8"))
tasks = [r for r in plan if r["kind"] == "task"]
out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100000
rnd = random.Random(2024)
statuses = ["not_started", "in_progress", "in_progress", "completed", "delayed"]
summaries = ["按计划推进，已完成阶段性目标。", "组织召开对接会，签订合作协议。", "受项目审批影响，进度略有滞后。",
             "已完成年度任务，形成典型经验做法。", "持续推进中，下一步加强协调调度。"]
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

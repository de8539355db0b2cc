#!/usr/bin/env python3
"""Check a rendered dashboard page (or period report) against the snapshot
repository: every task of the plan on main is on the page, and each city's
percent and status shown is what main's progress records hold.

  dashboard_check.py index REPO PLAN PAGE [--city CITY] [--status S] [--unit U]
  dashboard_check.py task  REPO PLAN N PAGE
  dashboard_check.py csv   REPO PLAN PERIOD FILE
  dashboard_check.py dom   REPO PLAN DOMFILE      (what Chromium's --dump-dom gives)

Prints one line per problem and exits 1 when there is any."""
import csv
import io
import html.parser
import json
import subprocess
import sys

CITIES = ("jinan", "linyi")
WORDS = {"delayed": "滞后", "not_started": "未开始", "in_progress": "进行中", "completed": "已完成",
         "cancelled": "已取消", None: "未报送"}
RANK = {"delayed": 0, "not_started": 1, None: 2, "in_progress": 3, "completed": 4, "cancelled": 5}


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", repo] + list(args), check=True, capture_output=True,
                          text=True).stdout


def main_data(repo, plan):
    """tasks: id -> record; reports: (task id, city) -> [records sorted by period]."""
    tasks, reports = {}, {}
    for path in git(repo, "ls-tree", "-r", "--name-only", "main", "tasks/" + plan).split("\n"):
        if path.endswith(".json"):
            rec = json.loads(git(repo, "show", "main:" + path))
            tasks[rec["id"]] = rec
    for path in git(repo, "ls-tree", "-r", "--name-only", "main", "progress/" + plan).split("\n"):
        if path.endswith(".json"):
            rec = json.loads(git(repo, "show", "main:" + path))
            reports.setdefault((rec["task"], rec["city"]), []).append(rec)
    for v in reports.values():
        v.sort(key=lambda r: r["period"])
    return tasks, reports


class Page(html.parser.HTMLParser):
    """Rows of class "task": their data-task, and each city cell's data-percent and status words."""

    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.cities_in_head = {}, None, None, set()
        self.bad_tags = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "iframe", "object", "embed", "link") or (tag == "img" and "src" in a):
            self.bad_tags.append(tag)
        if tag == "tr" and a.get("class") == "task":
            self.row = {"cities": {}}
            self.rows[a.get("data-task")] = self.row
        elif tag == "td" and self.row is not None and "data-city" in a:
            self.cell = {"percent": a.get("data-percent"), "text": ""}
            self.row["cities"][a["data-city"]] = self.cell

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None
        elif tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data


def num(v):
    return "%g" % v


def check_index(repo, plan, page, city=None, status=None, unit=None):
    tasks, reports = main_data(repo, plan)
    p = Page()
    p.feed(open(page, encoding="utf-8").read())
    problems = ["the page has a <%s>" % t for t in p.bad_tags]
    want = set()
    for tid, t in tasks.items():
        latest = {c: (reports.get((tid, c)) or [None])[-1] for c in CITIES}
        units = {u["name"] for u in t.get("units", [])} | {r.get("unit") for c in CITIES
                                                          for r in reports.get((tid, c), []) if r.get("unit")}
        if city and not (reports.get((tid, city)) or any(u["city"] == city for u in t.get("units", []))):
            continue
        if unit and unit not in units:
            continue
        if status:
            if city:
                s = latest[city]["status"] if latest[city] else None
                if s != status:
                    continue
            elif t.get("status") != status and not any(latest[c] and latest[c]["status"] == status
                                                       for c in CITIES):
                continue
        want.add(tid)
    got = set(p.rows)
    for tid in sorted(want - got):
        problems.append("task %s is not on the page" % tid)
    for tid in sorted(got - want):
        problems.append("task %s is on the page but should not be" % tid)
    for tid in sorted(want & got):
        for c in CITIES:
            cell = p.rows[tid]["cities"].get(c)
            if city and c != city:
                if cell is not None:
                    problems.append("%s: %s shown though the filter is %s" % (tid, c, city))
                continue
            if cell is None:
                problems.append("%s: no %s cell" % (tid, c))
                continue
            r = (reports.get((tid, c)) or [None])[-1]
            if r is None:
                if cell["percent"] is not None or WORDS[None] not in cell["text"]:
                    problems.append("%s %s: no report on main, the page shows %r" % (tid, c, cell))
                continue
            if "percent" in r and cell["percent"] != num(r["percent"]):
                problems.append("%s %s: main holds %s%%, the page shows %s" % (tid, c, num(r["percent"]),
                                                                               cell["percent"]))
            if WORDS[r["status"]] not in cell["text"] or r["period"] not in cell["text"]:
                problems.append("%s %s: main holds %s of %s, the page shows %r" % (tid, c, r["status"],
                                                                                 r["period"], cell["text"]))
    return problems, len(got)


def check_task(repo, plan, n, page):
    tasks, reports = main_data(repo, plan)
    tid = "%s/%02d" % (plan, int(n))
    text = open(page, encoding="utf-8").read()
    unescape = html.unescape(text)
    problems = []
    t = tasks[tid]
    for what in (t["title"], t.get("text", "")):
        if what and what not in unescape:
            problems.append("%s: %r is not on its page" % (tid, what[:40]))
    for c in CITIES:
        for r in reports.get((tid, c), []):
            if r.get("summary") and r["summary"] not in unescape:
                problems.append("%s %s %s: the summary is not on the page" % (tid, c, r["period"]))
            if "<td>%s</td>" % r["period"] not in text:
                problems.append("%s %s: period %s is not in its table" % (tid, c, r["period"]))
    return problems, 1


def check_csv(repo, plan, period, path):
    tasks, reports = main_data(repo, plan)
    raw = open(path, "rb").read()
    problems = []
    if not raw.startswith(b"\xef\xbb\xbf"):
        problems.append("no UTF-8 BOM")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    head, body = rows[0], [r for r in rows[1:] if r and r[0] == plan]
    if head[:3] != ["计划", "序号", "任务"]:
        problems.append("header %r" % head)
    if len(body) != len(tasks):
        problems.append("%d rows of %s, main has %d tasks" % (len(body), plan, len(tasks)))
    ranks = []
    for row in body:
        tid = "%s/%02d" % (plan, int(row[1]))
        if tid not in tasks:
            problems.append("row of unknown task %s" % tid)
            continue
        rk = []
        for i, c in enumerate(CITIES):
            r = next((x for x in reports.get((tid, c), []) if x["period"] == period), None)
            st, pct, summ = row[5 + 3 * i:8 + 3 * i]
            want = (WORDS[r["status"] if r else None], num(r["percent"]) if r and "percent" in r else "",
                    r.get("summary", "") if r else "")
            if (st, pct, summ) != want:
                problems.append("%s %s: csv has %r, main %r" % (tid, c, (st, pct, summ), want))
            if r:
                rk.append(RANK[r["status"]])
        ranks.append(min(rk) if rk else RANK[None])
    if ranks != sorted(ranks):
        problems.append("rows are not delayed and not started first: %r" % ranks)
    return problems, len(body)


def main():
    args = sys.argv[1:]
    mode = args[0]
    if mode == "index":
        opts = dict(zip(args[4::2], args[5::2]))
        problems, n = check_index(args[1], args[2], args[3], opts.get("--city"), opts.get("--status"),
                                  opts.get("--unit"))
    elif mode == "dom":
        problems, n = check_index(args[1], args[2], args[3])
    elif mode == "task":
        problems, n = check_task(args[1], args[2], args[3], args[4])
    elif mode == "csv":
        problems, n = check_csv(args[1], args[2], args[3], args[4])
    else:
        sys.exit("unknown mode " + mode)
    for p in problems:
        print(p)
    print("rows %d" % n)
    sys.exit(1 if problems else 0)


main()

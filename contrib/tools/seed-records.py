#!/usr/bin/env python3
"""Turn the published 2024 work points into canonical demo records.

seed-records.py [SEED.txt] [OUT.json]

Reads contrib/city-sim/data/seeds/jnly-2024-work-points.txt (the text of 济南—临沂对口合作
2024年工作要点 as published) and writes contrib/city-sim/data/jnly-2024.json:
one plan record and one task record per numbered task, as canonical JSON
(sorted keys, two-space indent, UTF-8 unescaped, trailing newline). The output
is committed; the build never runs this script. Run from the repository root.
"""
import json
import re
import sys

PLAN_ID = "jnly-2024"
CITIES = ("济南市", "临沂市")
JINAN_PARTS = ("历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区",
               "济阳区", "莱芜区", "钢城区", "平阴县", "商河县", "济南高新区")
LINYI_PARTS = ("兰山区", "罗庄区", "河东区", "沂南县", "郯城县", "沂水县", "兰陵县",
               "费县", "平邑县", "莒南县", "蒙阴县", "临沭县", "临沂高新区", "沂蒙干部学院")
# An item carrying any of these already says whose it is; a group prefix does not apply.
OWN_PREFIXES = ("济南", "临沂", "两市", "山东", "省", "中国") + JINAN_PARTS + LINYI_PARTS

SECTION_RE = re.compile(r"^([一二三四五六七八九十]+)、(.+)$")
TASK_RE = re.compile(r"^(\d+)[.．、]\s*(.+)$")
UNITS_RE = re.compile(r"[(（]责任单位[:：](.+?)[)）]\s*$")
DATE_RE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
DOCNO_RE = re.compile(r"[\u4e00-\u9fff]+〔\d{4}〕\d+号")


def city_of(name):
    if name.startswith("中国人民银行"):
        # A central-bank branch counts where it sits: 山东省分行 → province,
        # but its 营业管理部 is the branch's office in Jinan.
        if name.endswith("营业管理部"):
            return "jinan"
        name = name[len("中国人民银行"):]
    if name.startswith("济南"):
        return "jinan"
    if name.startswith("临沂"):
        return "linyi"
    if name.startswith(("山东省", "省")):
        return "province"
    if name.startswith(JINAN_PARTS):
        return "jinan"
    if name.startswith(LINYI_PARTS):
        return "linyi"
    return "other"


def split_units(clause):
    """Unit names of one 责任单位 clause, in order, 两市 expanded."""
    names = []
    for group in re.split(r"[，,]", clause):
        items = [i.strip() for i in group.split("、") if i.strip()]
        if not items:
            continue
        if items[0].startswith("两市"):
            # 两市市委党校 is 济南市委党校 and 临沂市委党校, as the documents write them
            for item in [items[0][2:]] + items[1:]:
                names += [(c[:-1] if item.startswith("市委") else c) + item for c in CITIES]
            continue
        prefix = next((c for c in CITIES if items[0].startswith(c)), None)
        for item in items:
            if prefix and not item.startswith(OWN_PREFIXES):
                item = prefix + item
            names.append(item)
    out = []
    for n in names:
        if n not in out:
            out.append(n)
    return out


def parse(text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    plan = {"kind": "plan", "id": PLAN_ID, "year": 2024, "sections": []}
    tasks = []
    section = None
    for i, line in enumerate(lines):
        m = DATE_RE.match(line)
        if m and "published" not in plan:
            plan["published"] = "%04d-%02d-%02d" % tuple(int(g) for g in m.groups())
            plan["issuers"] = lines[i - 1].split()
            continue
        if re.fullmatch(r"济南—临沂对口合作\d{4}年工作要点", line):
            plan["title"] = line
            continue
        m = SECTION_RE.match(line)
        if m:
            section = {"number": m.group(1), "title": m.group(2)}
            plan["sections"].append(section)
            continue
        m = TASK_RE.match(line)
        if not m:
            continue
        number, body = int(m.group(1)), m.group(2)
        um = UNITS_RE.search(body)
        if not um:
            sys.exit("task %d: no 责任单位 clause" % number)
        body = body[:um.start()].strip()
        title, _, rest = body.partition("。")
        names = split_units(um.group(1))
        role = "sole" if len(names) == 1 else "shared"
        tasks.append({
            "kind": "task", "id": "%s/%02d" % (PLAN_ID, number), "plan": PLAN_ID,
            "number": number, "section": dict(section), "title": title,
            "text": rest.strip(),
            "units": [{"name": n, "city": city_of(n), "role": role} for n in names],
        })
    m = DOCNO_RE.search(text)
    if m:
        plan["doc_number"] = m.group(0)
    return plan, tasks


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "contrib/city-sim/data/seeds/jnly-2024-work-points.txt"
    dst = sys.argv[2] if len(sys.argv) > 2 else "contrib/city-sim/data/jnly-2024.json"
    with open(src, encoding="utf-8") as f:
        plan, tasks = parse(f.read())
    numbers = [t["number"] for t in tasks]
    if numbers != list(range(1, len(tasks) + 1)):
        sys.exit("task numbers are not 1..N: %r" % numbers)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(json.dumps([plan] + tasks, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    units = {u["name"] for t in tasks for u in t["units"]}
    print("%s: 1 plan, %d sections, %d tasks, %d units (%d distinct)" % (
        dst, len(plan["sections"]), len(tasks), sum(len(t["units"]) for t in tasks), len(units)))


if __name__ == "__main__":
    main()

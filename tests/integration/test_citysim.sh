#!/bin/bash
# test_citysim.sh [CITY_SIM]: start city-sim on an ephemeral port with a data
# folder, check every route, the clock, the progress model and every
# misbehaviour with the real curl, stop it with SIGTERM. The binary comes
# from the argument, else from $CITY_SIM.
CITY_SIM=${1:-${CITY_SIM:?usage: test_citysim.sh PATH-TO-city-sim (or set CITY_SIM)}}
. "${TEST_LIB:-$(dirname "$0")/lib.sh}"
ROOT=${DK_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SEEDS=$ROOT/contrib/city-sim/data/seeds
TOKEN=jinan-demo-token
tmp=$WORK

c() { curl -s --max-time 20 "$@"; }
# hdr NAME FILE: the value of header NAME in a curl -D dump
hdr() { grep -i "^$1:" "$2" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
code() { c -o /dev/null -w '%{http_code}' "$@"; }
jinan() { c -H "Authorization: Bearer $TOKEN" "$@"; }
sim_post() { c -X POST "$SIM_URL$1"; }

mkdir -p "$tmp/data/linyi"
printf '任务编号,完成比例\n1,60\n' > "$tmp/data/linyi/progress.csv"
printf 'hello\n' > "$tmp/data/hello.txt"

# Not start_sim: this one logs (the misbehaviour lines are checked).
env -u CITY_SIM_TOKEN "$CITY_SIM" --port 0 --data "$tmp/data" --port-file "$tmp/port" \
  >"$tmp/stdout" 2>"$tmp/stderr" &
SIM_PID=$!
for _ in $(seq 100); do
  [ -s "$tmp/port" ] && break
  sleep 0.05
done
if [ ! -s "$tmp/port" ]; then
  not_ok "city-sim did not write its port file" "$(cat "$tmp/stderr")"
  finish
fi
SIM_URL="http://127.0.0.1:$(cat "$tmp/port")"
base=$SIM_URL
check_eq "stdout names the port" "city-sim: listening on $base" "$(head -n1 "$tmp/stdout")"

# ---- what city-sim did before: tasks.json, files, validators, keep-alive

c -D "$tmp/h" -o "$tmp/body" "$base/jinan/tasks.json"
check_eq "tasks.json status" "200" "$(head -n1 "$tmp/h" | cut -d' ' -f2)"
etag=$(hdr etag "$tmp/h")
check_eq "tasks.json has a strong quoted ETag" "1" "$([[ $etag == \"*\" ]] && echo 1)"
check_eq "tasks.json content type" "application/json; charset=utf-8" "$(hdr content-type "$tmp/h")"
check_eq "tasks.json has Last-Modified" "1" "$(grep -ci '^last-modified:' "$tmp/h")"
check_eq "tasks.json is 32 records" "32 plan task" "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
print(len(r), r[0]["kind"], r[1]["kind"])' "$tmp/body")"

check_eq "If-None-Match gives 304" "304" "$(code -H "If-None-Match: $etag" "$base/jinan/tasks.json")"
check_eq "304 has no body" "0" "$(c -H "If-None-Match: $etag" "$base/jinan/tasks.json" | wc -c)"
check_eq "other ETag gives 200" "200" "$(code -H 'If-None-Match: "nope"' "$base/jinan/tasks.json")"
check_eq "HEAD has no body" "0" "$(c -I "$base/jinan/tasks.json" -o /dev/null -w '%{size_download}')"
check_eq "healthz" "ok" "$(c "$base/healthz")"

check_eq "missing file is 404" "404" "$(code "$base/nope.json")"
st=$(code --path-as-is "$base/../etc/passwd")
check_eq "/../etc/passwd is refused" "1" "$([[ $st == 400 || $st == 404 ]] && echo 1)"
st=$(code --path-as-is "$base/%2e%2e/%2e%2e/etc/passwd")
check_eq "%2e%2e is refused" "1" "$([[ $st == 400 || $st == 404 ]] && echo 1)"
st=$(code --path-as-is "$base/linyi/..%2f..%2f..%2fetc/passwd")
check_eq "..%2f is refused" "1" "$([[ $st == 400 || $st == 404 ]] && echo 1)"
check_eq "POST is 405" "405" "$(code -d x=1 "$base/healthz")"

check_eq "file from --data" "hello" "$(c "$base/hello.txt")"
c -D "$tmp/h" -o "$tmp/body" "$base/linyi/progress.csv"
check_eq "csv content type" "text/csv" "$(hdr content-type "$tmp/h")"
check "csv body verbatim" cmp "$tmp/body" "$tmp/data/linyi/progress.csv"
lm=$(hdr last-modified "$tmp/h")
check_eq "If-Modified-Since gives 304" "304" \
  "$(code -H "If-Modified-Since: $lm" "$base/linyi/progress.csv")"

# Two URLs in one curl: the second must reuse the first connection.
out=$(c -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
  "$base/healthz" "$base/jinan/tasks.json")
check_eq "keep-alive reuses the connection" "200 1,200 0" "$(echo "$out" | paste -sd,)"
out=$(c -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' -H 'Connection: close' \
  "$base/healthz" "$base/healthz")
check_eq "Connection: close is honoured" "200 1,200 1" "$(echo "$out" | paste -sd,)"

# Two pipelined requests in one write; both answers, in order.
out=$(python3 - "${base##*:}" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.count(b"HTTP/1.1 200"), data.index(b"hello") < data.rindex(b"ok"))
EOF
)
check_eq "pipelined requests" "2 True" "$out"

check_eq "fail= still fails the first request" "503 200" \
  "$(code "$base/healthz?fail=1"; echo -n ' '; code "$base/healthz?fail=1")"

# ---- the clock

check_eq "clock starts at 2024-06-30" '{"date":"2024-06-30"}' "$(c "$base/_sim/clock")"
check_eq "POST ?date= sets it" '{"date":"2024-09-30"}' "$(sim_post '/_sim/clock?date=2024-09-30')"
check_eq "POST ?advance=-92 moves it back" '{"date":"2024-06-30"}' \
  "$(sim_post '/_sim/clock?advance=-92')"
check_eq "a date that does not exist is 400" "400" "$(code -X POST "$base/_sim/clock?date=2024-02-30")"
check_eq "a malformed date is 400" "400" "$(code -X POST "$base/_sim/clock?date=30.6.2024")"
check_eq "a non-number advance is 400" "400" "$(code -X POST "$base/_sim/clock?advance=3x")"
check_eq "date and advance together are 400" "400" \
  "$(code -X POST "$base/_sim/clock?date=2024-06-30&advance=1")"
check_eq "leaving 2000-2099 is 400" "400" "$(code -X POST "$base/_sim/clock?advance=99999")"
check_eq "a refused change leaves the date" '{"date":"2024-06-30"}' "$(c "$base/_sim/clock")"

# ---- Jinan's task register

c -D "$tmp/h" -o "$tmp/body" "$base/jinan/api/tasks"
check_eq "no token: 401" "401" "$(head -n1 "$tmp/h" | cut -d' ' -f2)"
check_eq "no token: WWW-Authenticate" 'Bearer realm="jinan"' "$(hdr www-authenticate "$tmp/h")"
check_eq "no token: JSON message" '{"code":401,"message":"missing or wrong bearer token"}' \
  "$(cat "$tmp/body")"
check_eq "wrong token: 401" "401" "$(code -H 'Authorization: Bearer nope' "$base/jinan/api/tasks")"
check_eq "right token: 200" "200" \
  "$(code -H "Authorization: Bearer $TOKEN" "$base/jinan/api/tasks")"

# Follow links.next from page 1; check each page's Link header against it.
rm -f "$tmp"/page*
url="/jinan/api/tasks"
pages=0
while [ -n "$url" ] && [ "$pages" -lt 10 ]; do
  pages=$((pages + 1))
  jinan -D "$tmp/page$pages.h" -o "$tmp/page$pages.json" "$base$url"
  url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["links"]["next"] or "")' \
    "$tmp/page$pages.json")
  link=$(hdr link "$tmp/page$pages.h")
  if [ -n "$url" ]; then
    check_eq "page $pages: Link is the absolute next" "<$base$url>; rel=\"next\"" "$link"
  else
    check_eq "page $pages (last): no Link" "" "$link"
  fi
done
check_eq "31 tasks make 4 pages of 10" "4" "$pages"
check_eq "page 1 links to page 2" "/jinan/api/tasks?page=2&per_page=10" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["links"]["next"])' "$tmp/page1.json")"
check_eq "pages hold tasks 1-31 once, in order, total 31" "ok" "$(python3 - "$tmp" <<'EOF'
import json, sys
nos, totals = [], set()
for p in range(1, 5):
    d = json.load(open(f"{sys.argv[1]}/page{p}.json", encoding="utf-8"))
    assert d["code"] == 0 and d["message"] == "ok", d
    assert d["data"]["page"] == p and d["data"]["per_page"] == 10
    totals.add(d["data"]["total"])
    nos += [i["no"] for i in d["data"]["items"]]
print("ok" if nos == list(range(1, 32)) and totals == {31} else (nos, totals))
EOF
)"
want='{"code":0,"message":"ok","data":{"page":1,"per_page":10,"total":31,"items":[{"code":"jnly-2024/01",'
check_eq "body is compact JSON" "$want" "$(head -c ${#want} "$tmp/page1.json")"
check_eq "Jinan's field names" "code plan_code no name content category depts state modified" \
  "$(python3 -c 'import json,sys; print(*json.load(open(sys.argv[1]))["data"]["items"][0])' "$tmp/page1.json")"
check_eq "Jinan content type" "application/json; charset=utf-8" "$(hdr content-type "$tmp/page1.h")"
check_eq "Last-Modified is the simulated date 17:00 +08:00" "Sun, 30 Jun 2024 09:00:00 GMT" \
  "$(hdr last-modified "$tmp/page1.h")"
check_eq "a page past the end is empty, next null" '[] None' "$(jinan "$base/jinan/api/tasks?page=5" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["data"]["items"], d["links"]["next"])')"
check_eq "per_page=31: one page, no next" "31 None" \
  "$(jinan "$base/jinan/api/tasks?per_page=31" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["data"]["items"]), d["links"]["next"])')"
for q in per_page=0 per_page=101 page=0 page=x 'per_page='; do
  check_eq "?$q is 400" "400" \
    "$(code -H "Authorization: Bearer $TOKEN" "$base/jinan/api/tasks?$q")"
done
etag=$(hdr etag "$tmp/page2.h")
check_eq "page 2 has a strong ETag" "1" "$([[ $etag == \"*\" ]] && echo 1)"
check_eq "If-None-Match on page 2 gives 304" "304" \
  "$(code -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $etag" \
    "$base/jinan/api/tasks?page=2&per_page=10")"
check_eq "page 3 does not match page 2's ETag" "200" \
  "$(code -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $etag" \
    "$base/jinan/api/tasks?page=3&per_page=10")"

# ---- the progress model, recomputed here from the documented formula

cat > "$tmp/model.py" <<'EOF'
import datetime as dt
START = dt.date(2024, 5, 1)

def progress(n, day):
    """(percent, status, modified, start) of task n on `day`, per README.md."""
    s = START + dt.timedelta((n * 37) % 60)
    d = 90 + (n * 53) % 150
    pct = max(0, min(100, ((day - s).days * 20) // d * 5))
    status = "not_started" if pct == 0 else "completed" if pct == 100 else "in_progress"
    if n % 10 == 3 and pct < 80 and day >= dt.date(2024, 9, 1):
        status = "delayed"
    e = s + dt.timedelta(d)
    mod = e if e <= day else s if s <= day else None
    mod = f"{mod}T09:00:00+08:00" if mod else "2024-04-24T09:00:00+08:00"
    return pct, status, mod, s
EOF
# check_model DATE: every task's state and modified on page 1-4 match.
check_model() {
  local all
  all=$(for p in 1 2 3 4; do jinan "$base/jinan/api/tasks?page=$p"; echo; done)
  check_eq "$1: every task's state and modified follow the formula" "ok" \
    "$(echo "$all" | python3 -c '
import datetime as dt, json, sys
sys.path.insert(0, sys.argv[2])
from model import progress
day = dt.date.fromisoformat(sys.argv[1])
bad = []
for line in sys.stdin:
    for it in json.loads(line)["data"]["items"]:
        _, status, mod, _ = progress(it["no"], day)
        if (it["state"], it["modified"]) != (status, mod):
            bad.append((it["no"], it["state"], it["modified"], status, mod))
print("ok" if not bad else bad)' "$1" "$tmp")"
}
task12() { jinan "$base/jinan/api/tasks?page=2" |
  python3 -c 'import json,sys; print(*[(i["state"], i["modified"]) for i in json.load(sys.stdin)["data"]["items"] if i["no"] == 12][0])'; }
# Task 12: s = 2024-05-25, d = 126 days.
check_eq "task 12 on 2024-06-30: in progress since its start" "in_progress 2024-05-25T09:00:00+08:00" "$(task12)"
check_model 2024-06-30
sim_post '/_sim/clock?date=2024-09-30' >/dev/null
check_eq "task 12 on 2024-09-30: completed on 2024-09-28" "completed 2024-09-28T09:00:00+08:00" "$(task12)"
check_model 2024-09-30
sim_post '/_sim/clock?date=2024-04-30' >/dev/null
check_eq "task 12 before any start: the plan's publication" "not_started 2024-04-24T09:00:00+08:00" "$(task12)"
sim_post '/_sim/clock?date=2024-06-30' >/dev/null

# ---- Linyi's progress export

P=/linyi/export/progress.csv
# check_csv DATE: the export is GBK, CRLF, and row for row the formula.
check_csv() {
  c -D "$tmp/csv.h" -o "$tmp/csv.raw" "$base$P"
  check_eq "$1: csv content type" "text/csv; charset=GBK" "$(hdr content-type "$tmp/csv.h")"
  check "$1: csv decodes as GBK" iconv -f GBK -t UTF-8 -o "$tmp/csv.txt" "$tmp/csv.raw"
  check_status "$1: csv is not UTF-8" 1 iconv -f UTF-8 -t UTF-8 -o /dev/null "$tmp/csv.raw"
  check_eq "$1: csv header row" "任务编号,进展情况,完成比例,填报单位,填报时间" "$(head -n1 "$tmp/csv.txt" | tr -d '\r')"
  check_eq "$1: every line ends in CRLF" "0" "$(grep -vc $'\r$' "$tmp/csv.txt")"
  check_eq "$1: rows follow the formula" "ok" "$(python3 - "$1" "$tmp" <<'EOF'
import csv, datetime as dt, io, json, os, sys
sys.path.insert(0, sys.argv[2])
from model import progress
day = dt.date.fromisoformat(sys.argv[1])
tasks = json.load(open(os.environ["CITY_SIM_DATA"] + "/jnly-2024.json", encoding="utf-8"))[1:]
want = []
for t in tasks:
    linyi = [u["name"] for u in t["units"] if u["city"] == "linyi"]
    if not linyi:
        continue
    y, m = 2024, 5
    while (y, m) <= (day.year, day.month):
        nxt = dt.date(y + m // 12, m % 12 + 1, 1)
        report = day if (y, m) == (day.year, day.month) else nxt - dt.timedelta(1)
        pct, _, _, s = progress(t["number"], report)
        if s <= report:
            want.append([str(t["number"]), f"{pct}%", linyi[0], f"{report} 17:00"])
        y, m = nxt.year, nxt.month
text = open(sys.argv[2] + "/csv.txt", encoding="utf-8", newline="").read()
rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
got = [[r[0], r[2], r[3], r[4]] for r in rows]
bad = [r for r in rows if len(r) != 5 or not r[1]]
print("ok" if got == want and not bad else f"{len(got)} rows, wanted {len(want)}; {bad[:2]}")
EOF
)"
}
export CITY_SIM_DATA=${CITY_SIM_DATA:-$ROOT/contrib/city-sim/data}
check_csv 2024-06-30
rows0=$(($(wc -l < "$tmp/csv.txt") - 1))
check_eq "task 12's June report is 25%" '12,已启动，正在制定工作方案,25%,临沂市工业和信息化局,2024-06-30 17:00' \
  "$(grep '^12,' "$tmp/csv.txt" | tail -n1 | tr -d '\r')"
check_eq "the CSV's Last-Modified is the simulated date" "Sun, 30 Jun 2024 09:00:00 GMT" \
  "$(hdr last-modified "$tmp/csv.h")"
etag=$(hdr etag "$tmp/csv.h")
check_eq "If-None-Match on the CSV gives 304" "304" "$(code -H "If-None-Match: $etag" "$base$P")"
check_eq "POST ?advance=30" '{"date":"2024-07-30"}' "$(sim_post '/_sim/clock?advance=30')"
check_eq "the old ETag no longer matches" "200" "$(code -H "If-None-Match: $etag" "$base$P")"
check_csv 2024-07-30
rows1=$(($(wc -l < "$tmp/csv.txt") - 1))
check_eq "a month later: one more row per task (31)" "31" "$((rows1 - rows0))"
sim_post '/_sim/clock?date=2024-12-31' >/dev/null
check_csv 2024-12-31
check_grep "tasks done before the month: quoted field with a comma" '^12,"已完成,转入常态化推进",100%,' "$tmp/csv.txt"
sim_post '/_sim/clock?date=2024-06-30' >/dev/null

# ---- the plan documents

c -D "$tmp/h" -o "$tmp/body" "$base/plans/jnly-2024.txt"
check "jnly-2024.txt is the seed, byte for byte" cmp "$tmp/body" "$SEEDS/jnly-2024-work-points.txt"
check_eq "jnly-2024.txt content type" "text/plain; charset=utf-8" "$(hdr content-type "$tmp/h")"
check_eq "jnly-2024.txt Last-Modified: published 2024-04-24" "Tue, 23 Apr 2024 16:00:00 GMT" \
  "$(hdr last-modified "$tmp/h")"
check_eq "jnly-2024.txt honours If-None-Match" "304" \
  "$(code -H "If-None-Match: $(hdr etag "$tmp/h")" "$base/plans/jnly-2024.txt")"
c -D "$tmp/h" -o "$tmp/body" "$base/plans/jnly-2023.md"
check "jnly-2023.md is the seed, byte for byte" cmp "$tmp/body" \
  "$SEEDS/jnly-2023-division-plan-and-work-points.md"
check_eq "jnly-2023.md content type" "text/markdown; charset=utf-8" "$(hdr content-type "$tmp/h")"
check_eq "jnly-2023.md Last-Modified: published 2023-06-01" "Wed, 31 May 2023 16:00:00 GMT" \
  "$(hdr last-modified "$tmp/h")"
check_eq "jnly-2023.md honours If-Modified-Since" "304" \
  "$(code -H "If-Modified-Since: $(hdr last-modified "$tmp/h")" "$base/plans/jnly-2023.md")"

# ---- misbehaviour

J="/jinan/api/tasks"
jinan -o "$tmp/jinan.real" "$base$J?page=2"
c -o "$tmp/csv.real" "$base$P"
c -o "$tmp/plan.real" "$base/plans/jnly-2024.txt"

check_eq "no misbehaviour set" '{"misbehaviours":[]}' "$(c "$base/_sim/misbehave")"

# status, with count=1: once, then cleared
sim_post "/_sim/misbehave?path=$J&mode=status&status=429&retry_after=3&count=1" >/dev/null
check_grep "GET /_sim/misbehave lists it" '"path":"/jinan/api/tasks","query":null,"mode":"status","remaining":1,"status":429,"retry_after":3' \
  <(c "$base/_sim/misbehave")
jinan -D "$tmp/h" -o "$tmp/body" "$base$J?page=2"
check_eq "status: 429" "429" "$(head -n1 "$tmp/h" | cut -d' ' -f2)"
check_eq "status: Retry-After" "3" "$(hdr retry-after "$tmp/h")"
check_eq "status: a short text body" "429 Too Many Requests" "$(cat "$tmp/body")"
check_eq "count=1: the next request is served" "200" \
  "$(code -H "Authorization: Bearer $TOKEN" "$base$J?page=2")"
check_eq "count=1: the rule is gone" '{"misbehaviours":[]}' "$(c "$base/_sim/misbehave")"
check_eq "status defaults to 500" "500" "$(code "$base/healthz?misbehave=status")"

# slow: waits without blocking other connections
sim_post "/_sim/misbehave?path=/plans/jnly-2024.txt&mode=slow&delay_ms=1500&count=1" >/dev/null
c -o "$tmp/slow.body" -w '%{time_total}' "$base/plans/jnly-2024.txt" > "$tmp/slow.time" &
slow_pid=$!
sleep 0.3
check_eq "slow: other connections are served meanwhile" "ok fast" \
  "$(c -w ' %{time_total}' "$base/healthz" | awk '{print $1, ($2 < 1.0 ? "fast" : "slow " $2)}')"
wait "$slow_pid"
check_eq "slow: took at least delay_ms" "1" "$(awk '{print ($1 >= 1.5)}' "$tmp/slow.time")"
check "slow: then the real body" cmp "$tmp/slow.body" "$tmp/plan.real"
check_eq "slow per request (?misbehave=slow&delay_ms=400)" "1" \
  "$(c -o /dev/null -w '%{time_total}' "$base/healthz?misbehave=slow&delay_ms=400" | awk '{print ($1 >= 0.4)}')"

# truncate
sim_post "/_sim/misbehave?path=$P&mode=truncate&count=1" >/dev/null
check_status "truncate: curl exit 18 (partial file)" 18 curl -s --max-time 10 -o "$tmp/trunc" "$base$P"
check_eq "truncate: the first half arrived" "$(($(stat -c %s "$tmp/csv.real") / 2))" "$(stat -c %s "$tmp/trunc")"
check_status "truncate per request on tasks.json" 18 curl -s --max-time 10 -o /dev/null \
  "$base/jinan/tasks.json?misbehave=truncate"

# wrong-type
c -D "$tmp/h" -o "$tmp/body" -H "Authorization: Bearer $TOKEN" "$base$J?misbehave=wrong-type"
check_eq "wrong-type: 200" "200" "$(head -n1 "$tmp/h" | cut -d' ' -f2)"
check_eq "wrong-type: an HTML page" "text/html; charset=utf-8" "$(hdr content-type "$tmp/h")"
check_grep "wrong-type: an SSO login page" "统一身份认证 登录" "$tmp/body"

# invalid-json
sim_post "/_sim/misbehave?path=$J&mode=invalid-json" >/dev/null
jinan -o "$tmp/body" "$base$J?page=2"
check_status "invalid-json: a complete response (curl exit 0)" 0 curl -s --max-time 10 \
  -H "Authorization: Bearer $TOKEN" -o /dev/null "$base$J?page=2"
check_status "invalid-json: python3 -m json.tool refuses it" 1 python3 -m json.tool "$tmp/body"
check_eq "invalid-json: the first half and '}'" "ok" "$(python3 -c '
import sys
real, got = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
print("ok" if got == real[:len(real) // 2] + b"}" else len(got))' "$tmp/jinan.real" "$tmp/body")"
sim_post "/_sim/misbehave?path=$J&mode=none" >/dev/null
check_eq "mode=none clears the path" "200 0" \
  "$(jinan -o "$tmp/body" -w '%{http_code} ' "$base$J?page=2"; python3 -m json.tool "$tmp/body" >/dev/null; echo $?)"

# invalid-utf8, at the documented place, in the GBK CSV and the UTF-8 JSON
cat > "$tmp/utf8spot.py" <<'EOF'
import sys
real, got = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
i = len(real) // 2
while i < len(real) and real[i] >= 0x80:
    i += 1
while i < len(real) and real[i] < 0x80:
    i += 1
print("ok" if got == real[:i] + b"\xff\xfe" + real[i:] else f"no: {len(got)} bytes, 0xff at {got.find(0xff)}, want {i}")
EOF
sim_post "/_sim/misbehave?path=$P&mode=invalid-utf8&count=1" >/dev/null
c -o "$tmp/body" "$base$P"
check_eq "invalid-utf8: 0xFF 0xFE inserted at the documented place (CSV)" "ok" \
  "$(python3 "$tmp/utf8spot.py" "$tmp/csv.real" "$tmp/body")"
check_status "invalid-utf8: the CSV is no longer GBK" 1 iconv -f GBK -t UTF-8 -o /dev/null "$tmp/body"
jinan -o "$tmp/body" "$base$J?page=2&misbehave=invalid-utf8"
check_eq "invalid-utf8: 0xFF 0xFE inserted at the documented place (JSON)" "ok" \
  "$(python3 "$tmp/utf8spot.py" "$tmp/jinan.real" "$tmp/body")"
check_status "invalid-utf8: the JSON is no longer UTF-8" 1 iconv -f UTF-8 -t UTF-8 -o /dev/null "$tmp/body"

# oversize
jinan -o "$tmp/body" "$base$J?page=2&misbehave=oversize"
check_eq "oversize: body + 8 MiB by default" "$(($(stat -c %s "$tmp/jinan.real") + 8388608))" \
  "$(stat -c %s "$tmp/body")"
check_eq "oversize: JSON padded with spaces stays the same JSON" "True" "$(python3 -c '
import json, sys
print(json.load(open(sys.argv[1], "rb")) == json.load(open(sys.argv[2], "rb")))' "$tmp/jinan.real" "$tmp/body")"
sim_post "/_sim/misbehave?path=$P&mode=oversize&bytes=100000&count=1" >/dev/null
c -o "$tmp/body" "$base$P"
check_eq "oversize: bytes=100000" "$(($(stat -c %s "$tmp/csv.real") + 100000))" "$(stat -c %s "$tmp/body")"
check_eq "oversize: CSV padded with newlines" "ok" "$(python3 -c '
import sys
real, got = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
print("ok" if got == real + b"\n" * 100000 else "no")' "$tmp/csv.real" "$tmp/body")"

# reset
sim_post "/_sim/misbehave?path=/healthz&mode=reset&count=1" >/dev/null
curl -s --max-time 10 -o /dev/null "$base/healthz"
rc=$?
check_eq "reset: curl exit 52 or 56 ($rc)" "1" "$([[ $rc == 52 || $rc == 56 ]] && echo 1)"
check_eq "reset: count=1, then healthy" "ok" "$(c "$base/healthz")"

# query= filter: only page 3 fails
sim_post "/_sim/misbehave?path=$J&mode=status&status=503&query=page=3" >/dev/null
check_eq "query=page=3: page 3 fails" "503" "$(code -H "Authorization: Bearer $TOKEN" "$base$J?page=3")"
check_eq "query=page=3: page 2 is served" "200" "$(code -H "Authorization: Bearer $TOKEN" "$base$J?page=2")"
check_eq "query=page=3: no count, so it stays" "503" \
  "$(code -H "Authorization: Bearer $TOKEN" "$base$J?page=3&per_page=10")"
check_grep "the rule lists its query filter" '"query":"page=3"' <(c "$base/_sim/misbehave")
sim_post "/_sim/misbehave?path=$J&mode=none" >/dev/null
check_eq "mode=none: page 3 is served again" "200" \
  "$(code -H "Authorization: Bearer $TOKEN" "$base$J?page=3")"
check_eq "mode=none: nothing listed" '{"misbehaviours":[]}' "$(c "$base/_sim/misbehave")"

# per request, with count: the first request of that URL only
check_eq "?misbehave=status&count=1: once per URL" "500 200" \
  "$(code "$base/hello.txt?misbehave=status&count=1"; echo -n ' '; code "$base/hello.txt?misbehave=status&count=1")"

check_eq "unknown mode is 400" "400" "$(code -X POST "$base/_sim/misbehave?path=$P&mode=explode")"
check_eq "a typo'd parameter is 400" "400" "$(code -X POST "$base/_sim/misbehave?path=$P&mode=slow&delay=5")"
check_eq "a missing path is 400" "400" "$(code -X POST "$base/_sim/misbehave?mode=reset")"
check_eq "?misbehave=explode is 400" "400" "$(code "$base/healthz?misbehave=explode")"
check_grep "the log names the mode" 'misbehave=truncate' "$tmp/stderr"
check_grep "the log names reset" 'misbehave=reset' "$tmp/stderr"

kill -TERM "$SIM_PID"
wait "$SIM_PID"
status=$?
SIM_PID=
check_eq "exit status after SIGTERM" "0" "$status"

# ---- options: --date, --token, $CITY_SIM_TOKEN

start_sim --date 2024-09-30 --token s3cret
check_eq "--date sets the clock" '{"date":"2024-09-30"}' "$(c "$SIM_URL/_sim/clock")"
check_eq "--token: the default token is refused" "401" \
  "$(code -H "Authorization: Bearer $TOKEN" "$SIM_URL/jinan/api/tasks")"
check_eq "--token: its token is accepted" "200" \
  "$(code -H "Authorization: Bearer s3cret" "$SIM_URL/jinan/api/tasks")"
# Stopping while a slow answer waits and an oversize one is half sent.
curl -s --max-time 10 -o /dev/null "$SIM_URL/healthz?misbehave=slow&delay_ms=8000" &
slow_pid=$!
curl -s --max-time 5 --limit-rate 100k -o /dev/null \
  "$SIM_URL/jinan/tasks.json?misbehave=oversize&bytes=100000000" &
big_pid=$!
sleep 0.5
stop_sim
check_eq "SIGTERM with answers in flight: exit status 0" "0" "$SIM_STATUS"
wait "$slow_pid"
rc=$?
check_eq "the waiting client is let go (curl exit 52)" "52" "$rc"
wait "$big_pid"
rc=$? # 18, or 28 while the kernel still drains what was queued
check_eq "the oversize download does not complete (curl exit $rc)" "1" "$([ "$rc" != 0 ] && echo 1)"
CITY_SIM_TOKEN=from-env start_sim
check_eq "CITY_SIM_TOKEN is used without --token" "200" \
  "$(code -H "Authorization: Bearer from-env" "$SIM_URL/jinan/api/tasks")"
stop_sim
check_eq "exit status 0" "0" "$SIM_STATUS"
check_status "a bad --date is refused" 1 "$CITY_SIM" --port 0 --date 2024-02-30

if [ "$FAILED" != 0 ]; then
  echo "--- city-sim stderr (last 20 lines)"
  tail -n 20 "$tmp/stderr"
fi
finish

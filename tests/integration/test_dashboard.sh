#!/usr/bin/env bash
# The dashboard and `duikou report` on a real demo repository (two simulated
# dates, so that the history has a plot): every task of main on the page
# with each city's percent as main holds it, filters that narrow the list,
# a task's page, 404 and 500, escaping of a hostile title, the period report
# as CSV (parsed by python3's csv, delayed first) and HTML; the page loaded
# in headless Chromium from a live `duikou demo` (its screenshot kept as
# DK_ARTEFACTS/dashboard.png).
. "$TEST_LIB"
cd "$WORK"
CHECK="python3 $(dirname "${BASH_SOURCE[0]}")/dashboard_check.py"
REPO="$WORK/duikou-demo.git"
G="git --git-dir $REPO"
check_status "demo on 2024-06-30" 0 "$DUIKOU" demo --dir "$WORK" --date 2024-06-30 --log-level warn
check_status "demo on 2024-09-30" 0 "$DUIKOU" demo --dir "$WORK" --date 2024-09-30 --log-level warn
cat >dash.yaml <<YAML
repository: duikou-demo.git
state: duikou-demo/state
timezone: Asia/Shanghai
sources:
  - {name: jinan-tasks, plugin: json-api, city: jinan, url: "http://127.0.0.1:9/tasks", every: 30m}
  - {name: linyi-progress, plugin: csv, city: linyi, url: "http://127.0.0.1:9/progress.csv", cron: "0 18 * * *"}
  - {name: plan-documents, plugin: plan-text, city: province, url: "http://127.0.0.1:9/plans/", every: 1d}
YAML
# page PATH [QUERY] > FILE: the status line goes to FILE.status
page() { "$DASHBOARD_TOOL" dash.yaml "$@" 2>"$WORK/page.status"; }
status_of() { cut -d' ' -f1 "$WORK/page.status"; }

page / >index.html
check_eq "/ answers 200" 200 "$(status_of)"
check_grep "... as HTML in UTF-8" "text/html; charset=utf-8" page.status
check "every task of jnly-2024 on main is on /, with each city's latest percent and status as main holds them" \
  $CHECK index "$REPO" jnly-2024 index.html
check_eq "... 31 task rows" 31 "$(grep -c '<tr class="task"' index.html)"
check_grep "the newest plan is the one shown" 'data-task="jnly-2024/12"' index.html
check_no_grep "... not the 2023 ones" 'data-task="jnly-2023/' index.html
check_grep "the other plans are linked" 'href="/?plan=jnly-2023"' index.html
check_grep "Chinese first: 任务进展" "任务进展" index.html
check_grep "... 临沂 as a column" "<th>临沂</th>" index.html
check_grep "each task links to its page" 'href="/tasks/jnly-2024/12"' index.html
check_grep "a chart per task, inline SVG" '<svg class="chart"' index.html
check_grep "the sources panel lists linyi-progress" 'data-source="linyi-progress"' index.html
check_grep "... with its next run" "$(date -d @$(( $(date +%s) + 600 )) +%Y-%m-%d)" index.html
check_grep "recent changes in words: 进度报告：新增 93 项" "进度报告：新增 93 项" index.html
check_no_grep "no commit id on the main view" "$($G rev-parse --short=12 main)" index.html
check_no_grep "nothing fetched from the network" 'src="http\|href="http\|@import\|url(' index.html
check_no_grep "no script" "<script" index.html
check_grep "printable" "@media print" index.html

page / "city=linyi&status=completed" >linyi-done.html
check "?city=linyi&status=completed: exactly the tasks whose latest Linyi report is completed, Linyi only" \
  $CHECK index "$REPO" jnly-2024 linyi-done.html --city linyi --status completed
n_done=$(grep -c '<tr class="task"' linyi-done.html)
check "... fewer than all" test "$n_done" -gt 0 -a "$n_done" -lt 31
page / "status=not_started" >ns.html
check "?status=not_started narrows the list to what main says" $CHECK index "$REPO" jnly-2024 ns.html --status not_started
UNIT=临沂市工业和信息化局
page / "unit=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$UNIT")" >unit.html
check "?unit=$UNIT: the tasks that unit is responsible for" $CHECK index "$REPO" jnly-2024 unit.html --unit "$UNIT"
check_grep "... the unit is selected in the form" "selected>$UNIT</option>" unit.html
page / "plan=jnly-2023" >p2023.html
check_eq "?plan=jnly-2023: its 43 tasks" 43 "$(grep -c '<tr class="task"' p2023.html)"

page /tasks/jnly-2024/12 >t12.html
check_eq "/tasks/jnly-2024/12 answers 200" 200 "$(status_of)"
check "... its title, text, and each Linyi report (period and summary)" $CHECK task "$REPO" jnly-2024 12 t12.html
check_grep "... its history in words (duikou log): the status change" "状态：进行中 → 已完成" t12.html
check_grep "... who last changed the status (duikou blame)" "<td>状态</td><td>已完成</td><td>jinan-tasks（济南）</td>" t12.html
page /tasks/jnly-2024/99 >404.html
check_eq "an unknown task is 404" 404 "$(status_of)"
check_grep "... with a page saying so" "任务不存在" 404.html
page /tasks/jnly-2099/1 >/dev/null
check_eq "... and so is a task of an unknown plan" 404 "$(status_of)"
page /nope >/dev/null
check_eq "an unknown path is 404" 404 "$(status_of)"
sed 's|repository: duikou-demo.git|repository: gone.git|' dash.yaml >gone.yaml
"$DASHBOARD_TOOL" gone.yaml / >gone.html 2>page.status
check_eq "a repository that cannot be read: 500" 500 "$(status_of)"
check_grep "... with a message page" "数据读取失败" gone.html

# the period report
check_status "duikou report --period 2024-06 --format csv" 0 "$DUIKOU" report --repo "$REPO" --period 2024-06 --format csv -o r06.csv
check_grep "... says what it wrote" "31 tasks of 2024-06 written to r06.csv" last.out
check "... parses with python3's csv: BOM, every task, both cities as main holds them, delayed and not started first" \
  $CHECK csv "$REPO" jnly-2024 2024-06 r06.csv
check "... RFC 4180 line ends (CRLF)" grep -q $'\r$' r06.csv
check_status "duikou report --period 2024-09 (html, the default)" 0 "$DUIKOU" report --repo "$REPO" --period 2024-09 -o r09.html
check_grep "... a document titled with the month" "工作进展报告 2024年9月" r09.html
check_eq "... every task" 31 "$(grep -c '<tr class="task"' r09.html)"
check_no_grep "... self-contained" "<script\|src=\"http" r09.html
(cd "$WORK" && "$DUIKOU" report --repo "$REPO" --period 2024-07 --format csv >/dev/null 2>&1)
check "... the default file name is duikou-report-YYYY-MM.FMT" test -s duikou-report-2024-07.csv
check_status "a period that is not YYYY-MM: exit 2" 2 "$DUIKOU" report --repo "$REPO" --period 2024-6 -o bad.csv
check_grep "... saying why" "is not a month as YYYY-MM" last.err
check_status "a month with no report: exit 1" 1 "$DUIKOU" report --repo "$REPO" --period 2023-01 -o none.csv
check_grep "... saying so" "no progress report for 2023-01" last.err
check "... and no file is left" test ! -e none.csv
check_status "no repository: exit 1" 1 "$DUIKOU" report --repo "$WORK/none.git" --period 2024-06 -o none.csv
check_grep "... naming it" "none.git" last.err
check_status "an unknown format: exit 2" 2 "$DUIKOU" report --repo "$REPO" --period 2024-06 --format pdf

# Headless Chromium against a demo instance: `duikou demo` tells its story,
# then serves both sites' dashboards until SIGINT; the DOM Chromium builds
# from the Jinan site's page holds every task with both cities' values as
# that site's main holds them, and the screenshot is kept (DK_ARTEFACTS).
command -v chromium >/dev/null 2>&1 || { echo "chromium is missing (the Makefile's DEBS installs it)" >&2; exit 1; }
mkdir -p story
"$DUIKOU" demo --dir "$WORK/story" --listen 127.0.0.1:0 >story.out 2>story.err &
DEMO_PID=$!
for _ in $(seq 1 300); do grep -q "Serving until Ctrl-C" story.out && break; sleep 0.1; done
URL=$(sed -n "s/^  Jinan's site  \(http:[^ ]*\)$/\1/p" story.out)
LURL=$(sed -n "s/^  Linyi's site  \(http:[^ ]*\)$/\1/p" story.out)
check "the demo serves Jinan's and Linyi's dashboards after its story" test -n "$URL" -a -n "$LURL"
SREPO="$WORK/story/duikou-demo/jinan.git"
timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chrome" --dump-dom "$URL" \
  >dom.html 2>chrome.err
check "Chromium's DOM of the demo's / holds every task with both cities' values as main holds them" \
  $CHECK dom "$SREPO" jnly-2024 dom.html
check_eq "... all 31 tasks of the 2024 plan" 31 "$(grep -c '<tr class="task"' dom.html)"
check "... each with a report of both cities (no 未报送 in a task's row)" python3 -c '
import re, sys
rows = re.findall(r"<tr class=\"task\".*?</tr>", open(sys.argv[1]).read(), re.S)
assert len(rows) == 31, len(rows)
bad = [re.search(r"data-task=\"([^\"]+)\"", r).group(1) for r in rows if "未报送" in r]
assert not bad, bad
' dom.html
check_grep "... the delayed task first in its section, shown as 滞后" 'data-task="jnly-2024/08"' dom.html
timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chrome" --dump-dom \
  "${URL}tasks/jnly-2024/08" >dom08.html 2>>chrome.err
T08=$(git --git-dir "$SREPO" show main:tasks/jnly-2024/08.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["title"])')
check_grep "... the task page of 08 in Chromium: its title as main holds it" "$T08" dom08.html
check_grep "... and its history" "历史" dom08.html
timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chrome" --dump-dom "$LURL" \
  >domly.html 2>>chrome.err
check "Linyi's site shows the same tasks and values (the sites converged)" \
  $CHECK dom "$WORK/story/duikou-demo/linyi.git" jnly-2024 domly.html
check_grep "... its recent changes name Jinan's system for what came through the exchange" "jinan/jinan-tasks（济南）" domly.html
check_no_grep "... not the site that folded them in, as if by hand" "duikou (linyi)（人工）" domly.html
"$DUIKOU" blame --repo "$WORK/story/duikou-demo/linyi.git" jnly-2024/16 >blame16.out 2>&1
check_grep "Linyi's blame of a Jinan task: Jinan's register, which wrote it" '  jinan/jinan-tasks  *title: ' blame16.out
check_no_grep "... not every Jinan input of the same fold (the plan documents wrote no task)" "plan-documents" blame16.out
mkdir -p "${DK_ARTEFACTS:-$WORK/artefacts}"
SHOT="${DK_ARTEFACTS:-$WORK/artefacts}/dashboard.png"
rm -f "$SHOT"
timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chrome" --hide-scrollbars \
  --window-size=1300,2400 --screenshot="$SHOT" "$URL" >/dev/null 2>>chrome.err
check "the screenshot is kept ($SHOT)" test -s "$SHOT"
check "... a PNG" python3 -c 'import sys; sys.exit(open(sys.argv[1],"rb").read(8) != b"\x89PNG\r\n\x1a\n")' "$SHOT"
kill -INT "$DEMO_PID"
wait "$DEMO_PID"
check_eq "Ctrl-C ends the demo's serving with exit 0" 0 "$?"
check_grep "... saying so" "stopped serving" story.out
# A hostile title on main (as a source could send it): escaped on every page and in the report.
EVIL='<script>alert("x")</script><img src=x onerror=alert(1)> & 济南'
python3 - "$REPO" "$EVIL" <<'PY'
import json, subprocess, sys, os
repo, evil = sys.argv[1], sys.argv[2]
g = lambda *a, **k: subprocess.run(["git", "--git-dir", repo] + list(a), check=True, capture_output=True, text=True, **k).stdout
rec = json.loads(g("show", "main:tasks/jnly-2024/05.json"))
rec["title"] = evil
blob = g("hash-object", "-w", "--stdin", input=json.dumps(rec, ensure_ascii=False)).strip()
env = dict(os.environ, GIT_INDEX_FILE=repo + "/evil.index")
subprocess.run(["git", "--git-dir", repo, "read-tree", "main"], check=True, env=env)
subprocess.run(["git", "--git-dir", repo, "update-index", "--cacheinfo", "100644," + blob + ",tasks/jnly-2024/05.json"], check=True, env=env)
tree = subprocess.run(["git", "--git-dir", repo, "write-tree"], check=True, env=env, capture_output=True, text=True).stdout.strip()
os.remove(repo + "/evil.index")
commit = subprocess.run(["git", "--git-dir", repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", tree,
                         "-p", "main", "-m", "a hostile title"], check=True, capture_output=True, text=True).stdout.strip()
g("update-ref", "refs/heads/main", commit)
PY
page / >evil.html
page /tasks/jnly-2024/5 >evil5.html
"$DUIKOU" report --repo "$REPO" --period 2024-09 -o evil-report.html >/dev/null
for f in evil.html evil5.html evil-report.html; do
  check_no_grep "$f: the title's markup is not markup" "<script\|<img" $f
  check_grep "$f: ... it is shown as text" "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; 济南" $f
done
check "the page with the hostile title still checks against main" $CHECK index "$REPO" jnly-2024 evil.html

finish

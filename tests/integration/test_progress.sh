#!/usr/bin/env bash
# duikou sync on a terminal (a pseudo-terminal from script(1)): while a
# round takes longer than a second, a status line per running source,
# redrawn in place and erased before each log line and at the end, the
# result lines after it as usual; a round shorter than a second shows none;
# without a terminal the output is today's, byte for byte.
. "$TEST_LIB"
start_sim

write_config() { # write_config FILE DIR
  mkdir -p "$2"
  cat >"$1" <<YAML
repository: $2/snap.git
state: $2/state
sources:
  - name: good
    plugin: json-api
    city: jinan
    url: "$SIM_URL/jinan/tasks.json"
  - name: slow
    plugin: json-api
    city: linyi
    url: "$SIM_URL/jinan/tasks.json?misbehave=slow&delay_ms=2000"
    timeout: 20s
YAML
}

# tty_sync OUT ARGS...: duikou sync on a pseudo-terminal; OUT gets what the terminal got.
tty_sync() {
  local out=$1; shift
  local cmd
  printf -v cmd '%q ' "$DUIKOU" sync "$@"
  TERM=xterm COLUMNS=100 script -qec "$cmd" /dev/null >"$out" 2>&1
}

write_config "$WORK/t.yaml" "$WORK/t"
check "sync on a terminal" tty_sync "$WORK/tty.out" -c "$WORK/t.yaml"
check_status "the terminal saw the slow source's status line" 0 \
  grep -aq 'slow  *fetching page 1 (0 pages, 0 B, 0 records)' "$WORK/tty.out"

# What the terminal shows at the end: the bytes after the last erase
# (CR, ESC [ J) hold the result lines and no status line; each log line
# starts on a line of its own (after an erase or a newline), never inside
# a status line.
python3 - "$WORK/tty.out" >"$WORK/tty.check" 2>&1 <<'PY'
import re, sys
data = open(sys.argv[1], 'rb').read().decode()
erase = '\r\x1b[J'
draws = data.count(erase)
tail = data[data.rindex(erase) + len(erase):] if erase in data else ''
lines = tail.replace('\r\n', '\n').split('\n')
problems = []
if draws < 3:
    problems.append('only %d redraws in 2 s' % draws)
if 'fetching' in tail:
    problems.append('a status line is left at the end: %r' % tail)
results = [l for l in lines if re.match(r'^(good|slow) {16,}', l)]
if [l.split()[0] for l in results] != ['good', 'slow']:
    problems.append('the result lines are not after the last erase: %r' % tail)
for m in re.finditer(r'ts=\d{4}-', data):
    before = data[:m.start()]
    if not (before.endswith(erase) or before.endswith('\n') or before == ''):
        problems.append('a log line inside a status line: %r' % data[max(0, m.start() - 60):m.start() + 20])
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
check "the display is erased at the end and before each log line" test $? -eq 0 -a ! -s "$WORK/tty.check"
[ -s "$WORK/tty.check" ] && sed 's/^/#   /' "$WORK/tty.check"

# A round shorter than a second (good alone, now not modified): nothing but
# today's line.
check "a short round on a terminal" tty_sync "$WORK/short.out" -c "$WORK/t.yaml" --source good
check_eq "... shows no status line (no escape sequence)" 0 "$(grep -c $'\e' "$WORK/short.out")"
check_grep "... and its result line" '^good  *not modified (HTTP 304), no commit' "$WORK/short.out"

# Without a terminal: exactly today's output, the same lines the terminal
# got after the display (line endings aside; commit ids differ).
write_config "$WORK/p.yaml" "$WORK/p"
check_status "sync with stdout to a file" 0 "$DUIKOU" sync -c "$WORK/p.yaml"
check_eq "no escape or carriage return in it" 0 "$(grep -c $'[\e\r]' "$WORK/last.out")"
mask() { sed -E 's/committed [0-9a-f]{12}/committed COMMIT/' "$1"; }
python3 -c '
import sys
d = open(sys.argv[1], "rb").read().decode()
e = "\r\x1b[J"
t = d[d.rindex(e) + len(e):].replace("\r\n", "\n")
sys.stdout.write("".join(l + "\n" for l in t.split("\n") if l.startswith(("good ", "slow "))))
' "$WORK/tty.out" >"$WORK/tty.results"
check_eq "the file has the terminal's result lines, byte for byte" "$(mask "$WORK/tty.results")" "$(mask "$WORK/last.out")"
check_grep "... in today's format" '^good                 committed [0-9a-f]\{12\}: 32 records, 32 changed, 0 invalid, 0 rejected$' "$WORK/last.out"
check_eq "... two lines, one a source" 2 "$(wc -l <"$WORK/last.out")"
# TERM=dumb: a terminal that cannot move the cursor gets no display.
printf -v cmd '%q ' "$DUIKOU" sync -c "$WORK/p.yaml"
TERM=dumb script -qec "$cmd" /dev/null >"$WORK/dumb.out" 2>&1
check_eq "TERM=dumb: no escape sequence" 0 "$(grep -c $'\e' "$WORK/dumb.out")"
finish

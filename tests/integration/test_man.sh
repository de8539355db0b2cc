#!/usr/bin/env bash
# duikou(1) against --help: every command `duikou --help` lists has its
# section, with every option and usage line of `duikou COMMAND --help`; the
# page renders with groff without a warning; it is what the generator makes
# of this binary now (not a stale copy).
. "$TEST_LIB"
MAN="$DK_BUILD_ROOT/duikou.1"
check "the man page was built" test -s "$MAN"

# check_page PAGE: every command and option of --help is in PAGE; prints what is missing.
check_page() {
  python3 - "$DUIKOU" "$1" <<'PY'
import re, subprocess, sys
exe, page = sys.argv[1], sys.argv[2]
env = {'LC_ALL': 'C.UTF-8', 'PATH': '/usr/bin:/bin', 'ASAN_OPTIONS': 'detect_leaks=0'}
def helptext(*a):
    return subprocess.run([exe, *a, '--help'], stdout=subprocess.PIPE, env=env, check=True).stdout.decode()
def unroff(s):
    s = re.sub(r'\\\[u([0-9A-F]{4,5})\]', lambda m: chr(int(m.group(1), 16)), s)
    return s.replace('\\-', '-').replace('\\e', '\\').replace('\\&', '')
roff = unroff(open(page, encoding='ascii').read())
sections = re.split(r'^\.SS "duikou (\S+)"$', roff, flags=re.M)
by_cmd = {sections[i]: sections[i + 1] for i in range(1, len(sections) - 1, 2)}
top = helptext()
cmds = re.findall(r'^  (\S+)\s+\S', top.split('Commands:\n', 1)[1].split('\n\n', 1)[0], flags=re.M)
missing = []
if len(cmds) < 10:
    missing.append('only %d commands found in --help' % len(cmds))
for c in cmds:
    sec = by_cmd.get(c)
    if sec is None:
        missing.append('command %s' % c)
        continue
    text = helptext(c)
    for opt in sorted(set(re.findall(r'(?<![\w-])--[a-z][\w-]*', text))):
        if not re.search(r'(?<![\w-])' + re.escape(opt) + r'(?![\w-])', sec):
            missing.append('%s %s' % (c, opt))
    entries = set(l[3:] for l in sec.split('\n') if l.startswith('.B '))
    for line in text.split('\n'):
        m = re.match(r'^ {2,6}((?:-\w, )?--[\w-]+(?: \S+)?)(?: {2,}|$)', line)
        if m and m.group(1) not in entries:
            missing.append('%s option entry "%s"' % (c, m.group(1)))
        if line.startswith('usage: ') or line.startswith('       duikou '):
            if line[7:].strip() not in sec:
                missing.append('%s usage "%s"' % (c, line[7:].strip()))
for m in missing:
    print('missing from the man page:', m)
sys.exit(1 if missing else 0)
PY
}
check_status "every command, option and usage line of --help is in the man page" 0 check_page "$MAN"
check_eq "... nothing missing" "" "$(cat "$WORK/last.out")"

# The check fails when the page lacks an option, or a command.
sed '/^\.B \\-\\-source NAME$/d' "$MAN" >"$WORK/no-source.1"
check_status "a page without --source fails the check" 1 check_page "$WORK/no-source.1"
check_grep "... naming it" 'missing from the man page: sync option entry "--source NAME"' "$WORK/last.out"
sed 's/^\.SS "duikou blame"$/.SS "duikou blam"/' "$MAN" >"$WORK/no-blame.1"
check_status "a page without blame fails the check" 1 check_page "$WORK/no-blame.1"
check_grep "... naming it" 'missing from the man page: command blame' "$WORK/last.out"

# It is the generator's output for this binary, now.
check "the generator runs" python3 "$DK_SOURCE_ROOT/contrib/man/duikou-man.py" "$DUIKOU" \
  "$("$DUIKOU" version | sed -n 's/^duikou \([^ ]*\).*/\1/p')" "$WORK/fresh.1"
check "the built page is the fresh one" cmp "$MAN" "$WORK/fresh.1"

# groff renders it without a warning (-ww: all of them), in UTF-8.
if command -v groff >/dev/null; then
  check_status "groff -man -ww renders it" 0 groff -man -Tutf8 -ww -z "$MAN"
  check_eq "... without a warning" "" "$(cat "$WORK/last.err")"
  groff -man -Tutf8 -P-cbou "$MAN" >"$WORK/page.txt" 2>&1
  check_grep "the rendered page has its title" '^DUIKOU(1)' "$WORK/page.txt"
  check_grep "... the Chinese name of the plan" '济南—临沂对口合作' "$WORK/page.txt"
  check_grep "... and a command's section" 'duikou conflicts resolve ID' "$WORK/page.txt"
else
  not_ok "groff is installed (Debian's groff-base, in the Makefile's DEBS)"
fi
finish

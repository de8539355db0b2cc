#!/usr/bin/env bash
# meson install: every file where a Debian system expects it (with this
# build's prefix, and with prefix /usr from a second configuration); the
# staged binary runs and finds its staged plugins; the installed systemd unit
# passes systemd-analyze verify and its exposure score is at most the one
# the README states.
. "$TEST_LIB"
STAGE="$WORK/stage"
check "meson install --destdir" meson install -C "$DK_BUILD_ROOT" --destdir "$STAGE" --quiet

# The build's own directories, as meson holds them.
opt() {
  meson introspect --buildoptions "$DK_BUILD_ROOT" |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]][0])' "$1"
}
prefix=$(opt prefix); bindir=$(opt bindir); libdir=$(opt libdir); datadir=$(opt datadir); mandir=$(opt mandir)
case $libdir in /*) ;; *) libdir="$prefix/$libdir" ;; esac
case $bindir in /*) ;; *) bindir="$prefix/$bindir" ;; esac
case $datadir in /*) ;; *) datadir="$prefix/$datadir" ;; esac
case $mandir in /*) ;; *) mandir="$prefix/$mandir" ;; esac
if [ "$prefix" = /usr ]; then unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
else unitdir="$prefix/lib/systemd/system"; fi

BIN="$STAGE$bindir/duikou"
for f in "$bindir/duikou" \
         "$libdir/duikou/plugins/json-api.so" "$libdir/duikou/plugins/csv.so" "$libdir/duikou/plugins/plan-text.so" \
         "$datadir/duikou/schemas/defs.schema.json" "$datadir/duikou/schemas/plan.schema.json" \
         "$datadir/duikou/schemas/task.schema.json" "$datadir/duikou/schemas/progress.schema.json" \
         "$datadir/duikou/schemas/unit.schema.json" "$datadir/duikou/schemas/config.schema.json" \
         "$datadir/doc/duikou/examples/duikou.example.yaml" \
         "$mandir/man1/duikou.1" "$unitdir/duikou.service" \
         "$libdir/pkgconfig/duikou-plugin.pc" "$prefix/include/duikou/plugin.h"; do
  check "installed: $f" test -f "$STAGE$f"
done
check "the binary is executable" test -x "$BIN"
for s in defs plan task progress unit config; do
  check "the installed $s schema is the source's" cmp "$STAGE$datadir/duikou/schemas/$s.schema.json" \
    "$DK_SOURCE_ROOT/schemas/$s.schema.json"
done

# The staged binary, with no plugin folder named anywhere, finds the staged
# plugins from its own folder (not the prefix's, which holds none).
check_status "the staged binary runs: version" 0 env -u DUIKOU_PLUGIN_DIR "$BIN" version
check_grep "... and says its version" '^duikou [0-9]' "$WORK/last.out"
check_status "duikou plugins from the stage" 0 env -u DUIKOU_PLUGIN_DIR "$BIN" plugins
check_grep "... the plugin folder is the staged one" "^plugin folder: $STAGE" "$WORK/last.out"
for p in json-api csv plan-text; do check_grep "... with $p" "^  $p " "$WORK/last.out"; done
# The installed example configuration is sound, its plugins found, its
# schemas (built in) applied to their options.
check_status "the installed example configuration passes check-config" 0 \
  env -u DUIKOU_PLUGIN_DIR "$BIN" check-config "$STAGE$datadir/doc/duikou/examples/duikou.example.yaml"
# A binary copied away from its tree falls back to the folder it was built for.
cp "$BIN" "$WORK/lonely-duikou"
env -u DUIKOU_PLUGIN_DIR "$WORK/lonely-duikou" plugins >"$WORK/lonely.out" 2>&1
check_grep "... the one of its prefix" "$libdir/duikou/plugins" "$WORK/lonely.out"

# The unit: ExecStart is the installed binary; the sandbox is there.
UNIT="$STAGE$unitdir/duikou.service"
check_grep "the unit starts the installed binary" "^ExecStart=$bindir/duikou daemon " "$UNIT"
for d in DynamicUser=yes StateDirectory=duikou ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
         PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
         ProtectControlGroups=yes ProtectClock=yes ProtectHostname=yes RestrictNamespaces=yes \
         RestrictRealtime=yes RestrictSUIDSGID=yes LockPersonality=yes 'CapabilityBoundingSet=$' \
         'AmbientCapabilities=$' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$' \
         'SystemCallFilter=@system-service$' SystemCallArchitectures=native MemoryDenyWriteExecute=yes \
         UMask=0077 'WatchdogSec=[1-9]' Type=notify; do
  check_grep "the unit has $d" "^$d" "$UNIT"
done
if ! command -v systemd-analyze >/dev/null; then
  not_ok "systemd-analyze is installed (Debian's systemd, in the Makefile's DEBS)"
  finish
fi
# verify wants ExecStart's binary and the man page of Documentation=: a copy
# of the unit pointing at the staged binary, man looking in the stage.
mkdir -p "$WORK/unit"
sed "s|^ExecStart=$bindir/duikou|ExecStart=$BIN|" "$UNIT" >"$WORK/unit/duikou.service"
check_status "systemd-analyze verify passes" 0 env MANPATH="$STAGE$mandir" systemd-analyze verify "$WORK/unit/duikou.service"
check_eq "... saying nothing" "" "$(cat "$WORK/last.out" "$WORK/last.err")"
systemd-analyze security --offline=yes "$WORK/unit/duikou.service" >"$WORK/security.out" 2>&1
score=$(sed -n 's/.*Overall exposure level for duikou.service: \([0-9.]*\).*/\1/p' "$WORK/security.out")
stated=$(sed -n 's/.*exposure level of \*\*\([0-9.]*\) OK\*\*.*/\1/p' "$DK_SOURCE_ROOT/README.md" | head -n 1)
check "the README states the exposure level" test -n "$stated"
check "the exposure level ($score) is at most the README's ($stated)" \
  python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "${score:-99}" "${stated:-0}"
# The checks can fail: a unit whose binary is missing fails verify; a
# directive it cannot parse is reported (verify then exits 0, hence the
# "saying nothing" above).
sed "s|^ExecStart=$BIN|ExecStart=$WORK/absent|" "$WORK/unit/duikou.service" >"$WORK/unit/absent.service"
MANPATH="$STAGE$mandir" systemd-analyze verify "$WORK/unit/absent.service" >"$WORK/absent.out" 2>&1
check "a unit without its binary fails verify" test $? -ne 0
sed 's/^Type=notify/Type=bogus/' "$WORK/unit/duikou.service" >"$WORK/unit/bogus.service"
MANPATH="$STAGE$mandir" systemd-analyze verify "$WORK/unit/bogus.service" >"$WORK/bogus.out" 2>&1
check_grep "a directive verify cannot parse is reported" 'Failed to parse service type' "$WORK/bogus.out"

# MemoryDenyWriteExecute=yes: PCRE2's JIT is refused, and duikou's patterns
# must still work (in PCRE2's interpreter). The kernel's own MDWE
# (prctl PR_SET_MDWE, Linux 6.3) is what systemd's seccomp filter enforces.
cat >"$WORK/mdwe.py" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
if sys.argv[1] == '--jit':
    p = ctypes.CDLL('libpcre2-8.so.0')
    p.pcre2_compile_8.restype = ctypes.c_void_p
    p.pcre2_compile_8.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p,
                                  ctypes.c_void_p, ctypes.c_void_p]
    p.pcre2_jit_compile_8.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    e, o = ctypes.c_int(), ctypes.c_size_t()
    code = p.pcre2_compile_8(b'^a+b$', 5, 0, ctypes.byref(e), ctypes.byref(o), None)
    sys.exit(0 if p.pcre2_jit_compile_8(code, 1) < 0 else 1)
os.execv(sys.argv[1], sys.argv[1:])
PY
python3 "$WORK/mdwe.py" --jit
mdwe=$?
if [ "$mdwe" = 77 ]; then
  echo "# this kernel has no PR_SET_MDWE (Linux < 6.3): the MemoryDenyWriteExecute checks are left out"
else
  check_eq "under MDWE, PCRE2's JIT is refused" 0 "$mdwe"
  printf '%s\n' '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",' \
    ' "properties": {"id": {"type": "string", "pattern": "^jnly-[0-9]{4}/[0-9]+$"}}}' >"$WORK/pat.schema.json"
  echo '{"id": "jnly-2024/12"}' >"$WORK/pat-good.json"
  echo '{"id": "jnly-2024/x"}' >"$WORK/pat-bad.json"
  check_status "under MDWE, a record matching a pattern is valid" 0 \
    python3 "$WORK/mdwe.py" "$BIN" validate --schema "$WORK/pat.schema.json" "$WORK/pat-good.json"
  check_status "... and one that does not match is not" 1 \
    python3 "$WORK/mdwe.py" "$BIN" validate --schema "$WORK/pat.schema.json" "$WORK/pat-bad.json"
  check_grep "... saying so" 'does not match pattern' "$WORK/last.out"
fi

# SystemCallFilter=@system-service ~@privileged @resources and
# RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6: every system call and
# socket family duikou uses, in a sync round and in the daemon (start, a round,
# SIGHUP, the watchdog, SIGTERM), traced with strace, is one the filter
# allows (systemd-analyze syscall-filter says which those are).
cat >"$WORK/sysfilter.py" <<'PY'
import re, subprocess, sys
out = subprocess.run(['systemd-analyze', 'syscall-filter'], stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, check=True).stdout.decode()
groups, cur = {}, None
for line in out.split('\n'):
    if re.match(r'^@[\w-]+$', line):
        cur = groups.setdefault(line, set())
    elif cur is not None and line.startswith('    ') and line.strip() and not line.strip().startswith('#'):
        cur.add(line.strip())
def expand(name):
    r = set()
    for x in groups.get(name, ()):
        r |= expand(x) if x.startswith('@') else {x}
    return r
allowed = expand('@system-service') - expand('@privileged') - expand('@resources')
if len(allowed) < 100:
    sys.exit('systemd-analyze syscall-filter: only %d calls read' % len(allowed))
seen = set()
for path in sys.argv[1:]:
    for line in open(path):
        line = re.sub(r'^\d+ +', '', line)
        m = re.match(r'^<\.\.\. (\w+) resumed>', line) or re.match(r'^(\w+)\(', line)
        if m:
            seen.add(m.group(1))
if len(seen) < 10:
    sys.exit('only %d system calls traced' % len(seen))
families = set()
for path in sys.argv[1:]:
    families |= set(re.findall(r'\bsocket\((AF_\w+)', open(path).read()))
denied = sorted((seen - allowed) | (families - {'AF_UNIX', 'AF_INET', 'AF_INET6'}))
print('denied: ' + ' '.join(denied) if denied else 'all %d allowed' % len(seen))
sys.exit(1 if denied else 0)
PY
if [ "$(opt b_sanitize)" != none ]; then
  # the sanitizers' own calls (setrlimit, ptrace for LeakSanitizer) are not duikou's
  echo "# a build with b_sanitize=$(opt b_sanitize): the system call checks are left out"
elif command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null; then
  start_sim
  mkdir -p "$WORK/sf"
  cat >"$WORK/sf/d.yaml" <<YAML
repository: $WORK/sf/snap.git
state: $WORK/sf/state
sources:
  - name: jinan
    plugin: json-api
    city: jinan
    url: "$SIM_URL/jinan/tasks.json"
    every: 1s
YAML
  check "a sync round under strace" strace -f -qq -o "$WORK/sf/sync.trace" "$DUIKOU" sync -c "$WORK/sf/d.yaml"
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])' "$WORK/sf/n.sock" &
  env NOTIFY_SOCKET="$WORK/sf/n.sock" WATCHDOG_USEC=200000 \
    strace -f -qq -o "$WORK/sf/daemon.trace" "$DUIKOU" daemon -c "$WORK/sf/d.yaml" 2>"$WORK/sf/daemon.log" &
  spid=$!
  for _ in $(seq 1 200); do grep -q 'msg="\(committed\|unchanged\)' "$WORK/sf/daemon.log" && break; sleep 0.05; done
  # strace is the job: its tracee is the daemon.
  dpid=$(pgrep -P "$spid" -x duikou || true)
  [ -n "$dpid" ] && kill -HUP "$dpid"
  sleep 1.5
  [ -n "$dpid" ] && kill -TERM "$dpid"
  wait "$spid"
  check "the daemon under strace reloaded" grep -q 'SIGHUP: reloading' "$WORK/sf/daemon.log"
  check "... and stopped" grep -q 'msg="stopped"' "$WORK/sf/daemon.log"
  check "... sending WATCHDOG=1" grep -q 'sendto(.*"WATCHDOG=1"' "$WORK/sf/daemon.trace"
  check_status "every system call and socket family of the round and the daemon passes the unit's filters" 0 \
    python3 "$WORK/sysfilter.py" "$WORK/sf/sync.trace" "$WORK/sf/daemon.trace"
  check_grep "... all allowed" '^all [0-9]* allowed' "$WORK/last.out"
  strace -f -qq -o "$WORK/sf/nice.trace" nice -n 1 true
  check_status "the check can fail: nice(1) calls what @resources holds" 1 python3 "$WORK/sysfilter.py" "$WORK/sf/nice.trace"
  check_grep "... naming it" '^denied: .*setpriority' "$WORK/last.out"
else
  not_ok "strace runs here (Debian's strace, in the Makefile's DEBS; ptrace allowed)"
fi

# With prefix /usr (Debian's): a second configuration of the same sources
# (configured, not built) installs where Debian expects.
if meson setup "$WORK/b-usr" "$DK_SOURCE_ROOT" --prefix=/usr -Dtests=false >"$WORK/usr-setup.log" 2>&1; then
  meson introspect --installed "$WORK/b-usr" >"$WORK/usr.json"
  want_unit=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)
  multi=$(meson introspect --buildoptions "$WORK/b-usr" |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"][0])')
  for f in /usr/bin/duikou "/usr/$multi/duikou/plugins/json-api.so" /usr/share/duikou/schemas/task.schema.json \
           /usr/share/doc/duikou/examples/duikou.example.yaml /usr/share/man/man1/duikou.1 "$want_unit/duikou.service"; do
    check "prefix /usr installs $f" python3 -c 'import json,sys; sys.exit(0 if sys.argv[2] in json.load(open(sys.argv[1])).values() else 1)' "$WORK/usr.json" "$f"
  done
  check_grep "prefix /usr: the unit starts /usr/bin/duikou" '^ExecStart=/usr/bin/duikou daemon ' "$WORK/b-usr/contrib/systemd/duikou.service"
else
  not_ok "meson setup --prefix=/usr" "$(tail -n 5 "$WORK/usr-setup.log")"
fi
finish

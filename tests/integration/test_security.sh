#!/usr/bin/env bash
# What an adversarial pass found, each against the real thing: a hostile
# HTTP server on loopback (hostile_server.py), the real duikou, a real git
# repository checked with git. Secrets that a server echoes never reach any
# output, file or object; credentials go only to the source's origin; links
# planted below the state folder or repository are refused; names that git
# or a terminal cannot carry are refused and escaped; records that blow up
# are quarantined, their siblings land; a full disk and a file-size limit
# are reported; check-config checks plugins; top-level plugins win.
. "$TEST_LIB"

HERE=$(dirname "$0")
TOKEN="planted-secret-$$-Xy7"
export HOSTILE_TOKEN="$TOKEN"
PIDS=()
stop_servers() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap 'stop_servers; cleanup' EXIT

start_hostile() { # start_hostile NAME [OTHER_PORT]: sets PORT_<NAME>
  local pf="$WORK/$1.port"
  python3 "$HERE/hostile_server.py" "$pf" "$WORK/$1.log" ${2:-} &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || { not_ok "hostile server $1 starts"; finish; }
  printf -v "PORT_$1" %s "$(cat "$pf")"
}
start_hostile other
start_hostile main "$PORT_other"
BASE="http://127.0.0.1:$PORT_main"

# config NAME PATH [extra source lines...]: one json-api source with the token
config() {
  local name=$1 path=$2; shift 2
  {
    echo "repository: $WORK/$name.git"
    echo "state: $WORK/$name-state"
    echo "sources:"
    echo "  - name: hostile"
    echo "    plugin: json-api"
    echo "    city: jinan"
    echo "    url: $BASE$path"
    echo "    retries: 0"
    echo "    auth: { bearer_env: HOSTILE_TOKEN }"
    for l in "$@"; do echo "    $l"; done
  } >"$WORK/$name.yaml"
}
sync_() { "$DUIKOU" sync -c "$WORK/$1.yaml" >"$WORK/$1.out" 2>"$WORK/$1.err"; }

# grep_everywhere NAME: 0 when the token is in no output, file or object
leaks() {
  local name=$1 hits=""
  grep -rlF "$TOKEN" "$WORK/$name.out" "$WORK/$name.err" "$WORK/$name-state" 2>/dev/null && hits=files
  if [ -d "$WORK/$name.git" ]; then
    for o in $(git --git-dir "$WORK/$name.git" cat-file --batch-all-objects --batch-check='%(objectname)'); do
      git --git-dir "$WORK/$name.git" cat-file -p "$o" | grep -qF "$TOKEN" && hits="$hits object:$o"
    done
    grep -rlF "$TOKEN" "$WORK/$name.git" && hits="$hits repo-files"
  fi
  [ -n "$hits" ]
}
b64=$(printf 'Bearer %s' "$TOKEN" | base64 -w0)

echo "# 1. secrets"
config echo /echo-error
sync_ echo
check_grep "an echoing error page fails the source" "HTTP 500" "$WORK/echo.out"
check_grep "... its reason is shown, redacted" "\[secret redacted\]" "$WORK/echo.out"
check_grep "... the state file keeps the redacted reason" "\[secret redacted\]" "$WORK/echo-state/sources/hostile.json"
if leaks echo; then not_ok "the echoed token reaches no output, state file or object"; else ok "the echoed token reaches no output, state file or object"; fi

config echorec /echo-record
sync_ echorec
check_grep "a record holding the token is refused, naming the rule" "holds a secret of the configuration" "$WORK/echorec.err"
check_eq "... its sibling is committed" "jnly-2024/01" "$(git --git-dir "$WORK/echorec.git" show main:tasks/jnly-2024/01.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
"$DUIKOU" quarantine list -c "$WORK/echorec.yaml" >>"$WORK/echorec.out" 2>>"$WORK/echorec.err"
"$DUIKOU" quarantine list --json -c "$WORK/echorec.yaml" >>"$WORK/echorec.out" 2>>"$WORK/echorec.err"
check_grep "... and quarantined" "jnly-2024/02" "$WORK/echorec.out"
if leaks echorec; then not_ok "the token is in no output, quarantine entry or object"; else ok "the token is in no output, quarantine entry or object"; fi
if grep -rqF "$b64" "$WORK"/echo* 2>/dev/null; then not_ok "nor its base64 form"; else ok "nor its base64 form"; fi

: >"$WORK/other.log"
config xorigin /page1 'options: { records: /records, next: /next }'
sync_ xorigin
check_status "a next page on another origin is refused by default" 1 "$DUIKOU" sync -c "$WORK/xorigin.yaml"
check_grep "... saying why" "on another origin than the source's url" "$WORK/xorigin.out"
check_eq "... and the other origin was never asked" "" "$(cat "$WORK/other.log")"
config xorigin2 /page1 'options: { records: /records, next: /next }' 'other_origin: without_auth'
sync_ xorigin2
check_grep "with other_origin: without_auth it is fetched" "committed" "$WORK/xorigin2.out"
check_eq "... without the credentials" "/page2 no" "$(cat "$WORK/other.log")"
check_grep "... and the log says so" "fetched without its credentials" "$WORK/xorigin2.err"
check_grep "... while the source's own origin had them" "/page1 yes" "$WORK/main.log"

echo "# 2. links planted below the state folder and the repository"
config links /echo-record
sync_ links
echo precious >"$WORK/victim"
rm -f "$WORK/links-state/sources/hostile.json"
ln -s "$WORK/victim" "$WORK/links-state/sources/hostile.json"
sync_ links
check_eq "a state file that is a link is not written through" "precious" "$(cat "$WORK/victim")"
check_grep "... and the error names the path" "links-state/sources/hostile.json is a symbolic link" "$WORK/links.err"
rm "$WORK/links-state/sources/hostile.json"
rm -rf "$WORK/links-state/quarantine/hostile"
mkdir -p "$WORK/elsewhere"
ln -s "$WORK/elsewhere" "$WORK/links-state/quarantine/hostile"
sync_ links
check_eq "a quarantine folder that is a link is not written through" "" "$(ls "$WORK/elsewhere")"
check_grep "... the error names it" "quarantine/hostile is a symbolic link" "$WORK/links.err"
rm "$WORK/links-state/quarantine/hostile"
rm -f "$WORK/links.git/duikou.lock"
ln -s "$WORK/victim" "$WORK/links.git/duikou.lock"
check_status "a lock file that is a link stops the sync" 1 "$DUIKOU" sync -c "$WORK/links.yaml"
check_grep "... naming it" "duikou.lock is a symbolic link" "$WORK/last.err"
check_eq "... and the target is untouched" "precious" "$(cat "$WORK/victim")"
rm "$WORK/links.git/duikou.lock"
ln -s "$WORK/links-state" "$WORK/state-link"
sed "s|state: .*|state: $WORK/state-link|" "$WORK/links.yaml" >"$WORK/links2.yaml"
check_status "a configured state folder that is itself a link keeps working" 0 "$DUIKOU" sync -c "$WORK/links2.yaml"
check "... and no temporary file is left" test -z "$(find "$WORK/links-state" -name '*.tmp.*')"

echo "# 3. names git and terminals can carry"
config names /names
sync_ names
check_grep "a unit name over 250 bytes is refused" "a unit name may not be empty or over 250 bytes" "$WORK/names.err"
check_eq "only the good unit is committed" "units/jinan/教育局.json" "$(git -c core.quotePath=false --git-dir "$WORK/names.git" ls-tree -r --name-only main)"
check_eq "four hostile names are quarantined" 5 "$(ls "$WORK/names-state/quarantine/hostile" | wc -l)"
check "a clone of the repository works" git clone -q "$WORK/names.git" "$WORK/names-clone"
if LC_ALL=C grep -qP '\x1b|\xc2\x85|\xc2\x9b|\xe2\x80\xae' "$WORK/names.err"; then not_ok "log lines carry no control or bidi character"; else ok "log lines carry no control or bidi character"; fi
check_grep "... they are escaped" 'esc\\x1b\[31mred' "$WORK/names.err"
long=$(grep -F "aaaaaaaaaa" "$WORK/names.err" | head -n 1)
case "$long" in *"msg="*"may not be empty or over 250 bytes"*) ok "a log line with a 10,000-byte id keeps its message";;
  *) not_ok "a log line with a 10,000-byte id keeps its message" "${long:0:200}...${long: -200}";; esac
"$DUIKOU" quarantine list -c "$WORK/names.yaml" >"$WORK/qlist.out" 2>&1
"$DUIKOU" quarantine list --json -c "$WORK/names.yaml" >>"$WORK/qlist.out" 2>&1
if LC_ALL=C grep -qP '\x1b|\xc2\x85|\xc2\x9b|\xe2\x80\xae' "$WORK/qlist.out"; then not_ok "quarantine list prints no raw control character"; else ok "quarantine list prints no raw control character"; fi
check_grep "... but escapes them" 'u{202E}' "$WORK/qlist.out"
check_grep "... also in JSON" '\\u202e' "$WORK/qlist.out"

echo "# 4. records that blow up"
config nested /nested
python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdout=open(sys.argv[1] + ".out", "w"), stderr=open(sys.argv[1] + ".err", "w"))
open(sys.argv[1] + ".rss", "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))' \
  "$WORK/nested" "$DUIKOU" sync -c "$WORK/nested.yaml"
check_grep "a record nested 2,000 levels is refused at the limit" "nested deeper than 32 levels (limits.depth)" "$WORK/nested.err"
check_grep "a record over 1 MB is refused at the limit" "larger than 1048576 bytes as canonical JSON (limits.record_size)" "$WORK/nested.err"
check_eq "their sibling lands" "tasks/jnly-2024/01.json" "$(git --git-dir "$WORK/nested.git" ls-tree -r --name-only main)"
check "resident memory stays under 200 MB" test "$(cat "$WORK/nested.rss")" -lt 200000
qbytes=$(du -sk "$WORK/nested-state/quarantine" | cut -f1)
check "the quarantine keeps bounded excerpts (${qbytes} KB)" test "$qbytes" -lt 200
config nested2 /nested 'limits: { depth: 2100, record_size: 100M }'
check_status "limits.depth above 256 is refused by check-config" 2 "$DUIKOU" check-config "$WORK/nested2.yaml"

echo "# 5. full disks and file-size limits"
config disk /echo-record
mkdir -p "$WORK/tiny"
if mount -t tmpfs -o size=400k tmpfs "$WORK/tiny" 2>"$WORK/mount.err"; then
  sed -i "s|repository: .*|repository: $WORK/tiny/disk.git|" "$WORK/disk.yaml"
  sync_ disk
  check "a sync on a small disk commits" grep -q committed "$WORK/disk.out"
  good=$(git --git-dir "$WORK/tiny/disk.git" rev-parse main)
  head -c 2000000 /dev/urandom >"$WORK/tiny/filler" 2>/dev/null
  sed -i "s|url: .*|url: $BASE/many|" "$WORK/disk.yaml"
  sync_ disk
  check_grep "a full disk is reported as such" "no space left on the device holding $WORK/tiny/disk.git" "$WORK/disk.out"
  check_eq "... main stays at the last good commit" "$good" "$(git --git-dir "$WORK/tiny/disk.git" rev-parse main)"
  rm -f "$WORK/tiny/filler"
  sync_ disk
  check "... and once space is back the next sync commits" grep -q committed "$WORK/disk.out"
  check "... into a sound repository" git --git-dir "$WORK/tiny/disk.git" fsck --strict
  umount "$WORK/tiny"
else
  not_ok "a tmpfs can be mounted for the full-disk test (run as root)" "$(cat "$WORK/mount.err")"
fi
config fsize /many
( ulimit -f 8; "$DUIKOU" sync -c "$WORK/fsize.yaml" >"$WORK/fsize.out" 2>"$WORK/fsize.err"; echo $? >"$WORK/fsize.rc" )
check_eq "under ulimit -f the process is not killed by SIGXFSZ" 1 "$(cat "$WORK/fsize.rc")"
check_grep "... it says the file-size limit stops it" "file-size limit" "$WORK/fsize.out"
check_status "... and with the limit gone the next sync commits" 0 "$DUIKOU" sync -c "$WORK/fsize.yaml"
check "... into a sound repository" git --git-dir "$WORK/fsize.git" fsck --strict

echo "# 6. check-config checks what sync would refuse"
config nopl /echo-record
sed -i 's/plugin: json-api/plugin: jsn-api/' "$WORK/nopl.yaml"
check_status "check-config refuses a plugin that does not exist" 2 "$DUIKOU" check-config "$WORK/nopl.yaml"
check_grep "... naming the source" '/sources/0/plugin: no plugin "jsn-api"' "$WORK/last.err"
config badopt /echo-record 'options: { records: 5 }'
check_status "check-config refuses options the plugin's schema refuses" 2 "$DUIKOU" check-config "$WORK/badopt.yaml"
check_grep "... naming the option" "/sources/0/options/records" "$WORK/last.err"
config goodcfg /echo-record
check_status "a good configuration is ok" 0 "$DUIKOU" check-config "$WORK/goodcfg.yaml"

echo "# 7. numbers jansson cannot hold"
config numbers /numbers
sync_ numbers
check_grep "a 30-digit integer fails its record, naming the number" "the number 123456789012345678901234567890 fits neither" "$WORK/numbers.err"
check_grep "1e999999 fails its record" "the number 1e999999 fits neither" "$WORK/numbers.err"
check_eq "the valid record beside them is committed" "tasks/jnly-2024/01.json" "$(git --git-dir "$WORK/numbers.git" ls-tree -r --name-only main)"

echo "# 8. plugin precedence"
mkdir -p "$WORK/pl/0"
cp "$DUIKOU_PLUGIN_DIR/csv/csv.so" "$WORK/pl/csv.so"
cp "$DUIKOU_PLUGIN_DIR/csv/csv.so" "$WORK/pl/0/zz-shadow.so"
"$DUIKOU" plugins --plugin-dir "$WORK/pl" >"$WORK/pl.out" 2>&1
check_grep "a plugin one folder down does not win over the top level" "0/zz-shadow.so: plugin name \"csv\" is already taken by $WORK/pl/csv.so" "$WORK/pl.out"

finish

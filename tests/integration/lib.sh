# Shared helpers of the integration tests (sourced, bash).
# Each check prints "ok - what" or "not ok - what"; finish prints the plain
# "N passed, N failed" line and sets the exit status.
set -u
PASSED=0
FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/duikou-test.XXXXXX")
mkdir -p "$HOME"
SIM_PID=

cleanup() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; fi
  if [ "$FAILED" -eq 0 ]; then rm -rf "$WORK"; else echo "# work folder kept: $WORK"; fi
}
trap cleanup EXIT

ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $1"; [ $# -gt 1 ] && printf '#   %s\n' "$2"; return 0; }

# check "what" command...: passes when the command exits 0
check() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what" "$(echo "$out" | tail -n 5)"; fi
}

# check_eq "what" expected actual
check_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected [$2], got [$3]"; fi
}

# check_status "what" expected-status command...
check_status() {
  local what=$1 want=$2; shift 2
  "$@" >"$WORK/last.out" 2>"$WORK/last.err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$what"; else not_ok "$what" "exit $got, wanted $want: $(tail -n 3 "$WORK/last.err")"; fi
}

# check_grep "what" pattern file
check_grep() {
  if grep -q -- "$2" "$3"; then ok "$1"; else not_ok "$1" "no [$2] in $3: $(head -c 300 "$3")"; fi
}

check_no_grep() {
  if grep -q -- "$2" "$3"; then not_ok "$1" "[$2] found in $3"; else ok "$1"; fi
}

# start_sim [city-sim options...]: starts the simulator on a free loopback
# port; sets SIM_PID and SIM_URL.
start_sim() {
  local pf="$WORK/sim.port"
  rm -f "$pf"
  "$CITY_SIM" --host 127.0.0.1 --port 0 --port-file "$pf" --quiet "$@" >"$WORK/sim.out" 2>"$WORK/sim.err" &
  SIM_PID=$!
  for _ in $(seq 1 100); do [ -s "$pf" ] && break; sleep 0.05; done
  if [ ! -s "$pf" ]; then not_ok "city-sim starts" "$(cat "$WORK/sim.err")"; finish; fi
  SIM_URL="http://127.0.0.1:$(cat "$pf")"
}

stop_sim() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID"; wait "$SIM_PID"; SIM_STATUS=$?; SIM_PID=; fi
}

# commits on main (its first-parent line: the source-branch commits merged
# into it are not counted)
commits() { git --git-dir "$1" rev-list --count --first-parent main 2>/dev/null || echo 0; }

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] && exit 0
  exit 1
}

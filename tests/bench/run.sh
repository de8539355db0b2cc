#!/usr/bin/env bash
# Benchmarks, each side by side with its usual peer on the same data in the
# same run:
#   validate  duikou vs ajv 8 vs Python's jsonschema, on the same 100,000
#             records. Installs its peers on first use (npm ci of
#             package-lock.json into tests/bench/node_modules, Debian's
#             python3-jsonschema).
#   commit    duikou's store vs git scraping (files in a work tree, git add -A
#             && git commit): 1, 100 and 10,000 changed records in
#             repositories of 1,000 and 100,000 records (bench_commit.c).
#   e2e       end to end: 100,000 records (10,000 tasks, 90,000 progress
#             reports, gen-records.py --e2e) served as 50 JSON bodies by a
#             Python server on 127.0.0.1 (e2e.py, with ETags): duikou's full
#             sync into an empty repository, the same bodies without 304,
#             1% changed, all 304; git scraping (git-scrape.py: curl, Python
#             jsonschema, files, git add -A && git commit) on full and 1%;
#             the floor (bench_floor.c: parse, canonical JSON, SHA-1,
#             deflate, one thread); duikou on 1,000 sources of 100 records.
#             Seconds, peak MB and ratios. Installs python3-jsonschema, git
#             and curl when missing. About 8 minutes on 2 cores.
#             E2E_ONLY=duikou: only duikou's four rounds and the floor.
#   tests/bench/run.sh [validate|commit|e2e|all ...] [BUILD_DIR]
#             (default: all, and the build folder build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
benches=()
for arg in "$@"; do
  case $arg in
    validate | commit | e2e) benches+=("$arg") ;;
    all) benches+=(validate commit e2e) ;;
    *) build=$arg ;;
  esac
done
[ ${#benches[@]} -gt 0 ] || benches=(validate commit e2e)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bench_validate() {
  # Only what is missing: a node from elsewhere (nodesource, with its own npm)
  # conflicts with Debian's npm package.
  local missing=
  dpkg-query -W -f='${Status}' python3-jsonschema 2>/dev/null | grep -q 'install ok installed' ||
    missing=python3-jsonschema
  command -v node >/dev/null || missing="$missing nodejs"
  command -v npm >/dev/null || missing="$missing npm"
  command -v bc >/dev/null || missing="$missing bc"
  if [ -n "$missing" ]; then
    local sudo=${SUDO:-$([ "$(id -u)" = 0 ] || echo sudo)}
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
  if [ ! -d "$here/node_modules/ajv" ]; then
    (cd "$here" && npm ci --silent --no-audit --no-fund >/dev/null)
  fi
  meson compile -C "$build" bench_validate >/dev/null

  python3 "$here/gen-records.py" "$work/records.jsonl" 100000
  echo "100,000 records (1 in 10 a task, the rest monthly progress reports), schemas/*.schema.json"
  dk=$("$build/tests/bench/bench_validate" "$work/records.jsonl")
  aj=$(node "$here/ajv-bench.js" "$root/schemas" "$work/records.jsonl")
  py=$(/usr/bin/python3 "$here/py-bench.py" "$root/schemas" "$work/records.jsonl" 10000)
  rps() { echo "$1" | awk -v k="$2" '$1==k {print $2}'; }
  printf '%-16s %14s %14s %14s\n' "" duikou "ajv 8" "py jsonschema"
  for k in validate parse+validate; do
    d=$(rps "$dk" $k); a=$(rps "$aj" $k); p=$(rps "$py" $k)
    printf '%-16s %10s rps %10s rps %10s rps   duikou/ajv %.2f  duikou/python %.1f\n' \
      "$k" "$d" "$a" "$p" "$(echo "$d/$a" | bc -l)" "$(echo "$d/$p" | bc -l)"
  done
}

# The repositories go under $work, so an interrupted run leaves nothing.
bench_commit() {
  meson compile -C "$build" bench_commit >/dev/null
  TMPDIR=$work "$build/tests/bench/bench_commit" 1000 100000
}

# The bodies, repositories and the scraper's work tree go under $work.
bench_e2e() {
  local missing=
  dpkg-query -W -f='${Status}' python3-jsonschema 2>/dev/null | grep -q 'install ok installed' ||
    missing=python3-jsonschema
  command -v git >/dev/null || missing="$missing git"
  command -v curl >/dev/null || missing="$missing curl"
  if [ -n "$missing" ]; then
    local sudo=${SUDO:-$([ "$(id -u)" = 0 ] || echo sudo)}
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
  meson compile -C "$build" >/dev/null
  local t0=$SECONDS
  python3 "$here/gen-records.py" --e2e "$work/e2e"
  # Every record must be one duikou accepts (and so does the peer).
  "$build/duikou" validate "$work"/e2e/v1/*.json "$work"/e2e/v2/*.json >"$work/validate.out" ||
    { head -n 20 "$work/validate.out"; echo "e2e: invalid records generated" >&2; return 1; }
  echo "generated and validated (duikou validate, all 200,000 records of v1 and v2): $((SECONDS - t0)) s"
  # No user or system git configuration may change what the peer does.
  GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C.UTF-8 TZ=Asia/Shanghai \
    /usr/bin/python3 "$here/e2e.py" "$root" "$build" "$work/e2e"
  echo "e2e took $((SECONDS - t0)) s in all"
}

for b in "${benches[@]}"; do
  "bench_$b"
  echo
done

#!/usr/bin/env bash
# The command line: help, usage errors, exit codes, check-config.
. "$TEST_LIB"

check_status "duikou --help exits 0" 0 "$DUIKOU" --help
check_grep "--help lists the commands" "check-config" "$WORK/last.out"
check_status "duikou with no command exits 2" 2 "$DUIKOU"
check_status "duikou frobnicate exits 2" 2 "$DUIKOU" frobnicate
check_grep "unknown command is named on stderr" 'unknown command "frobnicate"' "$WORK/last.err"
check_grep "usage goes to stderr" "usage: duikou COMMAND" "$WORK/last.err"
for c in sync demo check-config plugins version; do
  check_status "duikou $c --help exits 0" 0 "$DUIKOU" "$c" --help
  check_grep "duikou $c --help prints its usage" "usage: duikou $c" "$WORK/last.out"
done
check_status "unknown option exits 2" 2 "$DUIKOU" sync --frobnicate
check_grep "unknown option is named" "unknown option --frobnicate" "$WORK/last.err"
check_status "bad --log-level exits 2" 2 "$DUIKOU" sync --log-level loud
check_status "duikou version exits 0" 0 "$DUIKOU" version
check_grep "version names libgit2" "libgit2" "$WORK/last.out"

# check-config: a good file, a YAML syntax error with line and column, a
# wrong type named by its path and line.
cat >"$WORK/good.yaml" <<'YAML'
repository: repo.git
sources:
  - name: jinan-tasks
    plugin: json-api
    city: jinan
    url: http://127.0.0.1:1/tasks.json
YAML
check_status "check-config accepts a good file" 0 "$DUIKOU" check-config "$WORK/good.yaml"
check_grep "check-config says ok" ": ok (1 source" "$WORK/last.out"

printf 'repository: repo.git\nsources:\n  - name: a\n    url: [unclosed\n' >"$WORK/broken.yaml"
check_status "check-config refuses broken YAML with exit 2" 2 "$DUIKOU" check-config "$WORK/broken.yaml"
check_grep "syntax error names file:line:column" "broken.yaml:[0-9]*:[0-9]*: " "$WORK/last.err"

cat >"$WORK/wrongtype.yaml" <<'YAML'
repository: repo.git
sources:
  - name: jinan-tasks
    plugin: json-api
    city: jinan
    url: 42
YAML
check_status "check-config refuses a wrong type with exit 2" 2 "$DUIKOU" check-config "$WORK/wrongtype.yaml"
check_grep "wrong type names line, column and path" "wrongtype.yaml:6:10: .*(at /sources/0/url)" "$WORK/last.err"

check_status "check-config of a missing file exits 2" 2 "$DUIKOU" check-config "$WORK/nope.yaml"

# plugins: the shipped plugin is found in the build tree.
check_status "duikou plugins exits 0" 0 "$DUIKOU" plugins
check_grep "plugins lists json-api" "json-api" "$WORK/last.out"

# log_level in the file applies, unless --log-level says otherwise (even
# when it names the default level).
cat >"$WORK/debug.yaml" <<'YAML'
repository: repo.git
log_level: debug
sources:
  - name: down
    plugin: json-api
    city: jinan
    url: http://127.0.0.1:1/tasks.json
    retries: 0
YAML
check_status "a sync of a source that is down exits 1" 1 "$DUIKOU" sync -c "$WORK/debug.yaml"
check_grep "the file's log_level: debug applies" "level=debug" "$WORK/last.err"
check_status "the same sync with --log-level info exits 1" 1 "$DUIKOU" sync -c "$WORK/debug.yaml" --log-level info
check_no_grep "--log-level info wins over the file" "level=debug" "$WORK/last.err"

# The loader refuses what it cannot trust, and says what to do.
mkdir -p "$WORK/plugins/sub"
cp "$BAD_PLUGIN_DIR"/*.so "$WORK/plugins/"
cp "$DUIKOU_PLUGIN_DIR"/json-api/json-api.so "$WORK/plugins/sub/"
check_status "duikou plugins with refused plugins exits 1" 1 "$DUIKOU" plugins --plugin-dir "$WORK/plugins"
check_grep "a wrong ABI is refused" "bad-abi.so: plugin ABI version 999, this duikou speaks 2: rebuild the plugin" "$WORK/last.out"
check_grep "a missing symbol is refused" 'no-symbol.so: no symbol "duikou_plugin": not a duikou plugin' "$WORK/last.out"
check_grep "a duplicate name is refused, naming both" 'sub/json-api.so: plugin name "json-api" is already taken by .*dup-name.so' "$WORK/last.out"
check_status "a plugin folder that does not exist exits 1" 1 "$DUIKOU" plugins --plugin-dir "$WORK/nowhere"
check_grep "the missing folder is named" "cannot read plugin folder $WORK/nowhere" "$WORK/last.err"
finish

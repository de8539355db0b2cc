#!/usr/bin/env bash
# `duikou demo`: the embedded defaults, end to end, with no network.
. "$TEST_LIB"
cd "$WORK"
check_status "duikou demo exits 0" 0 "$DUIKOU" demo --log-level warn
check_grep "demo prints the git log command" "git --git-dir .*duikou-demo.git log" "$WORK/last.out"
check_grep "demo reports the commit" "jinan-tasks *committed" "$WORK/last.out"
check "the demo repository passes git fsck --strict" git --git-dir duikou-demo.git fsck --strict
check_eq "the demo committed 31 tasks" 31 "$(git --git-dir duikou-demo.git ls-tree -r --name-only main tasks | wc -l)"
check_status "a second demo exits 0" 0 "$DUIKOU" demo --log-level warn
check_eq "a second demo makes no new commit" 1 "$(commits duikou-demo.git)"
finish

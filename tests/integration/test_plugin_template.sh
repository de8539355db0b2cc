#!/usr/bin/env bash
# contrib/plugin-template builds out of tree against an installed duikou
# (header + duikou-plugin.pc) and loads through the real loader.
. "$TEST_LIB"
STAGE="$WORK/stage"
check "duikou installs into a staging folder" meson install -C "$DK_BUILD_ROOT" --destdir "$STAGE" --quiet
pc=$(find "$STAGE" -name duikou-plugin.pc | head -n 1)
check "the install has duikou-plugin.pc" test -n "$pc"
check "the install has the public header" test -n "$(find "$STAGE" -path '*/duikou/plugin.h')"
cp -r "$DK_SOURCE_ROOT/contrib/plugin-template" "$WORK/tpl"
# The staged .pc still names the real prefix: point it at the stage.
prefix=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --variable=prefix duikou-plugin)
export PKG_CONFIG_PATH="$(dirname "$pc")"
check "the template builds with its Makefile and pkg-config" \
  make -C "$WORK/tpl" PKG_CONFIG="pkg-config --define-variable=prefix=$STAGE$prefix"
check_status "duikou plugins finds the template" 0 "$DUIKOU" plugins --plugin-dir "$WORK/tpl"
check_grep "it is listed with its version" "template *0.1.0" "$WORK/last.out"
check_status "duikou parse runs it: one block is refused, exit 1" 1 "$DUIKOU" parse --plugin-dir "$WORK/tpl" --plugin template --options '{"plan": "jnly-2024"}' "$WORK/tpl/example.txt"
check_eq "two valid task records" 2 "$(grep -c '"valid":true' "$WORK/last.out")"
check_grep "the refused block names its line" '"where":"line 7"' "$WORK/last.out"
check_status "its options schema is enforced" 2 "$DUIKOU" parse --plugin-dir "$WORK/tpl" --plugin template --options '{"plan": "BAD PLAN"}' "$WORK/tpl/example.txt"
finish

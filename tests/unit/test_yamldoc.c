#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "yamldoc.h"

static const char *data_dir(void) {
  const char *d = getenv("DK_TEST_DATA");
  return d ? d : "tests/data";
}

static char *data_path(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/config/%s", data_dir(), name);
  return buf;
}

static int load(struct dk_yamldoc *doc, const char *text) {
  return dk_yamldoc_load_string(doc, "t.yaml", text, strlen(text));
}

/* Load `text`, expect failure with exactly `want` as the message. */
static void expect_error(const char *text, int code, const char *want) {
  struct dk_yamldoc doc;
  assert_int_equal(load(&doc, text), code);
  assert_string_equal(doc.err, want);
  assert_null(doc.root);
  dk_yamldoc_free(&doc);
}

static void assert_mark(const struct dk_yamldoc *doc, const char *pointer, int line, int column) {
  int l = 0, c = 0;
  assert_int_equal(dk_yamldoc_mark(doc, pointer, &l, &c), 0);
  if (l != line || c != column)
    fail_msg("mark of \"%s\" is %d:%d, expected %d:%d", pointer, l, c, line, column);
}

static void test_core_schema_scalars(void **state) {
  struct dk_yamldoc doc;
  const char *text =
      "nulls: [null, Null, NULL, ~, \"\"]\n"
      "empty:\n"
      "bools: [true, True, FALSE, yes, 'true']\n"
      "ints: [0, -12, +7, 0x1F, 0o17, 017, 9223372036854775807, \"5\"]\n"
      "floats: [1.5, -.5, 1e3, 2.]\n"
      "strings: [abc, 0x, 1.2.3, '~', !!str 12]\n"
      "tagged: [!!int 3, !!float 2, !!bool true, !!null '']\n"
      "block: |\n"
      "  line one\n"
      "  line two\n";
  assert_int_equal(load(&doc, text), 0);
  json_t *want = json_loads(
      "{\"nulls\": [null, null, null, null, \"\"], \"empty\": null,"
      " \"bools\": [true, true, false, \"yes\", \"true\"],"
      " \"ints\": [0, -12, 7, 31, 15, 17, 9223372036854775807, \"5\"],"
      " \"floats\": [1.5, -0.5, 1000.0, 2.0],"
      " \"strings\": [\"abc\", \"0x\", \"1.2.3\", \"~\", \"12\"],"
      " \"tagged\": [3, 2.0, true, null],"
      " \"block\": \"line one\\nline two\\n\"}",
      0, NULL);
  assert_non_null(want);
  if (!json_equal(doc.root, want)) {
    char *got = json_dumps(doc.root, JSON_SORT_KEYS);
    fail_msg("got %s", got);
  }
  /* integers stay integers, floats stay reals */
  assert_true(json_is_integer(json_array_get(json_object_get(doc.root, "ints"), 3)));
  assert_true(json_is_real(json_array_get(json_object_get(doc.root, "floats"), 2)));
  json_decref(want);
  dk_yamldoc_free(&doc);
}

static void test_numbers_json_cannot_hold(void **state) {
  expect_error("a: .nan\n", DK_EPARSE, "t.yaml:1:4: .nan is not a number JSON can hold");
  expect_error("a:\n  - -.inf\n", DK_EPARSE, "t.yaml:2:5: -.inf is not a number JSON can hold");
  expect_error("a: 9223372036854775808\n", DK_EPARSE,
               "t.yaml:1:4: integer 9223372036854775808 is out of range");
  expect_error("a: 0x8000000000000000\n", DK_EPARSE,
               "t.yaml:1:4: integer 0x8000000000000000 is out of range");
  expect_error("a: 1e999\n", DK_EPARSE, "t.yaml:1:4: number 1e999 is out of range");
  /* quoted, they are plain strings */
  struct dk_yamldoc doc;
  assert_int_equal(load(&doc, "a: '.nan'\nb: \"9223372036854775808\"\n"), 0);
  assert_string_equal(json_string_value(json_object_get(doc.root, "a")), ".nan");
  dk_yamldoc_free(&doc);
}

static void test_syntax_error_position(void **state) {
  expect_error("a: 1\nb: [1, 2\nc: 3\n", DK_EPARSE,
               "t.yaml:3:2: did not find expected ',' or ']' (while parsing a flow sequence)");
  expect_error("a: b: c\n", DK_EPARSE, "t.yaml:1:5: mapping values are not allowed in this context");
  expect_error("a: 1\n\tb: 2\n", DK_EPARSE,
               "t.yaml:2:1: found a tab character that violates indentation (while scanning a plain scalar)");
  expect_error("a: [1, , 2]\n", DK_EPARSE,
               "t.yaml:1:8: did not find expected node content (while parsing a flow node)");
  expect_error("a: \xff\n", DK_EPARSE, "t.yaml:1:4: invalid leading UTF-8 octet");

  char path[4096];
  snprintf(path, sizeof path, "%s", data_path("syntax.yaml"));
  struct dk_yamldoc doc;
  assert_int_equal(dk_yamldoc_load_file(&doc, path), DK_EPARSE);
  char want[8192];
  snprintf(want, sizeof want,
           "%s:5:11: did not find expected ',' or ']' (while parsing a flow sequence)", path);
  assert_string_equal(doc.err, want);
  dk_yamldoc_free(&doc);
}

static void test_duplicate_key(void **state) {
  expect_error("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n", DK_EPARSE, "t.yaml:5:3: duplicate key \"c\"");
  /* same key, different quoting */
  expect_error("{a: 1, \"a\": 2}\n", DK_EPARSE, "t.yaml:1:8: duplicate key \"a\"");
}

static void test_non_scalar_key(void **state) {
  expect_error("? [a, b]\n: 1\n", DK_EPARSE, "t.yaml:1:3: a mapping key must be a scalar");
  expect_error("{ {a: 1}: 2 }\n", DK_EPARSE, "t.yaml:1:3: a mapping key must be a scalar");
}

static void test_aliases_expanded(void **state) {
  struct dk_yamldoc doc;
  assert_int_equal(load(&doc, "base: &b {x: 1, y: [2]}\ncopy: *b\nkey: &k name\n*k : 3\n"), 0);
  json_t *want = json_loads("{\"base\": {\"x\": 1, \"y\": [2]}, \"copy\": {\"x\": 1, \"y\": [2]},"
                            " \"key\": \"name\", \"name\": 3}", 0, NULL);
  assert_true(json_equal(doc.root, want));
  /* the alias itself is marked where it is used, what it expands to where
   * it was written */
  assert_mark(&doc, "/copy", 2, 7);
  assert_mark(&doc, "/copy/y/0", 1, 21);
  json_decref(want);
  dk_yamldoc_free(&doc);
  expect_error("a: *nope\n", DK_EPARSE, "t.yaml:1:4: alias *nope refers to no anchor defined before it");
  expect_error("a: &a [*a]\n", DK_EPARSE, "t.yaml:1:8: alias *a refers to no anchor defined before it");
}

static void test_alias_bomb_refused(void **state) {
  struct dk_yamldoc doc;
  char path[4096];
  snprintf(path, sizeof path, "%s", data_path("alias_bomb.yaml"));
  assert_int_equal(dk_yamldoc_load_file(&doc, path), DK_EPARSE);
  assert_non_null(strstr(doc.err, ": too many nodes (alias expansion)"));
  assert_null(doc.root);
  dk_yamldoc_free(&doc);
}

static void test_nesting_limit(void **state) {
  size_t n = 100000;
  char *text = malloc(2 * n + 1);
  memset(text, '[', n);
  memset(text + n, ']', n);
  text[2 * n] = '\0';
  struct dk_yamldoc doc;
  assert_int_equal(load(&doc, text), DK_EPARSE);
  assert_non_null(strstr(doc.err, "nesting too deep"));
  dk_yamldoc_free(&doc);
  free(text);
}

static void test_marks_of_nested_nodes(void **state) {
  struct dk_yamldoc doc;
  assert_int_equal(dk_yamldoc_load_file(&doc, data_path("nested.yaml")), 0);
  assert_mark(&doc, "", 1, 1);
  assert_mark(&doc, "/top", 2, 3);
  assert_mark(&doc, "/top/list", 3, 5);
  assert_mark(&doc, "/top/list/0", 3, 7);
  assert_mark(&doc, "/top/list/1", 4, 7);
  assert_mark(&doc, "/top/list/1/b", 4, 12);
  assert_mark(&doc, "/top/list/1/c~1d", 4, 22);
  assert_mark(&doc, "/top/list/1/c~1d/1", 4, 26);
  assert_mark(&doc, "/top/e~0f", 5, 10);
  assert_mark(&doc, "/anchor/k", 7, 6);
  assert_mark(&doc, "/copy", 8, 7);
  assert_mark(&doc, "/copy/k", 7, 6);
  /* a node that does not exist: its nearest existing ancestor */
  assert_mark(&doc, "/top/list/1/missing", 4, 7);
  assert_mark(&doc, "/nothing/here", 1, 1);
  assert_true(json_is_null(json_object_get(json_object_get(doc.root, "top"), "e~f")));
  dk_yamldoc_free(&doc);

  /* nothing loaded: no marks */
  int l, c;
  assert_int_equal(dk_yamldoc_mark(&doc, "", &l, &c), DK_ENOENT);
}

static void test_documents(void **state) {
  struct dk_yamldoc doc;
  assert_int_equal(load(&doc, ""), 0);
  assert_true(json_is_null(doc.root));
  assert_mark(&doc, "", 1, 1);
  dk_yamldoc_free(&doc);
  assert_int_equal(load(&doc, "# only a comment\n"), 0);
  assert_true(json_is_null(doc.root));
  dk_yamldoc_free(&doc);
  assert_int_equal(load(&doc, "---\na: 1\n...\n"), 0);
  assert_int_equal(json_integer_value(json_object_get(doc.root, "a")), 1);
  dk_yamldoc_free(&doc);
  /* a byte order mark, as Windows editors write it */
  assert_int_equal(load(&doc, "\xef\xbb\xbf" "city: \xe6\xb5\x8e\xe5\x8d\x97\n"), 0);
  assert_string_equal(json_string_value(json_object_get(doc.root, "city")), "\xe6\xb5\x8e\xe5\x8d\x97");
  assert_mark(&doc, "/city", 1, 7);
  dk_yamldoc_free(&doc);
  expect_error("a: 1\n---\nb: 2\n", DK_EPARSE, "t.yaml:2:1: more than one document in the file");
}

static void test_tags(void **state) {
  expect_error("a: !!int x\n", DK_EPARSE, "t.yaml:1:4: \"x\" is not a valid !!int");
  expect_error("a: !custom x\n", DK_EPARSE, "t.yaml:1:4: unsupported tag !custom");
}

static void test_missing_file(void **state) {
  struct dk_yamldoc doc;
  assert_int_equal(dk_yamldoc_load_file(&doc, data_path("does-not-exist.yaml")), DK_EIO);
  assert_non_null(strstr(doc.err, "does-not-exist.yaml: cannot open"));
  dk_yamldoc_free(&doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_core_schema_scalars),
    cmocka_unit_test(test_numbers_json_cannot_hold),
    cmocka_unit_test(test_syntax_error_position),
    cmocka_unit_test(test_duplicate_key),
    cmocka_unit_test(test_non_scalar_key),
    cmocka_unit_test(test_aliases_expanded),
    cmocka_unit_test(test_alias_bomb_refused),
    cmocka_unit_test(test_nesting_limit),
    cmocka_unit_test(test_marks_of_nested_nodes),
    cmocka_unit_test(test_documents),
    cmocka_unit_test(test_tags),
    cmocka_unit_test(test_missing_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

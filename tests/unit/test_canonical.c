/* The canonical JSON writer: stable bytes, sorted keys, Chinese unescaped. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "canonical.h"

static char *dump_text(const char *json) {
  json_error_t e;
  json_t *v = json_loads(json, JSON_DECODE_ANY, &e);
  assert_non_null(v);
  char *s = dk_canonical_dump(v, NULL);
  json_decref(v);
  return s;
}

static void test_sorted_indented(void **state) {
  char *s = dump_text("{\"b\": 1, \"a\": {\"d\": [1, 2], \"c\": null}, \"c\": true}");
  assert_string_equal(s,
                      "{\n"
                      "  \"a\": {\n"
                      "    \"c\": null,\n"
                      "    \"d\": [\n"
                      "      1,\n"
                      "      2\n"
                      "    ]\n"
                      "  },\n"
                      "  \"b\": 1,\n"
                      "  \"c\": true\n"
                      "}\n");
  free(s);
}

static void test_key_order_does_not_matter(void **state) {
  char *a = dump_text("{\"id\": \"jnly-2024/12\", \"kind\": \"task\", \"number\": 12, \"units\": [{\"role\": \"shared\", \"name\": \"x\"}]}");
  char *b = dump_text("{\"units\": [{\"name\": \"x\", \"role\": \"shared\"}], \"number\": 12, \"kind\": \"task\", \"id\": \"jnly-2024/12\"}");
  assert_string_equal(a, b);
  free(a);
  free(b);
}

static void test_chinese_unescaped(void **state) {
  char *s = dump_text("{\"title\": \"\\u8054\\u5408\\u505a\\u5f3a\\u4e24\\u5e02\\u4f18\\u52bf\\u4ea7\\u4e1a\"}");
  assert_string_equal(s, "{\n  \"title\": \"联合做强两市优势产业\"\n}\n");
  free(s);
}

static void test_escapes(void **state) {
  char *s = dump_text("[\"a\\\"b\\\\c\\n\\t\\u0001\\u007f/\"]");
  assert_string_equal(s, "[\n  \"a\\\"b\\\\c\\n\\t\\u0001\\u007f/\"\n]\n");
  free(s);
}

static void test_empty_containers_and_scalars(void **state) {
  char *s = dump_text("{\"a\": [], \"b\": {}, \"c\": false, \"d\": \"\", \"e\": -7}");
  assert_string_equal(s, "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": false,\n  \"d\": \"\",\n  \"e\": -7\n}\n");
  free(s);
  s = dump_text("\"x\"");
  assert_string_equal(s, "\"x\"\n");
  free(s);
}

static void test_numbers(void **state) {
  /* 60.0 and 60 are the same JSON value: the same bytes. */
  char *a = dump_text("{\"percent\": 60.0}"), *b = dump_text("{\"percent\": 60}");
  assert_string_equal(a, b);
  free(a);
  free(b);
  char buf[64];
  dk_canonical_real(0.1, buf, sizeof buf);
  assert_string_equal(buf, "0.1");
  dk_canonical_real(-2.5, buf, sizeof buf);
  assert_string_equal(buf, "-2.5");
  dk_canonical_real(1e300, buf, sizeof buf);
  assert_string_equal(buf, "1e+300");
  dk_canonical_real(-0.0, buf, sizeof buf);
  assert_string_equal(buf, "0");
  dk_canonical_real(1.0 / 3.0, buf, sizeof buf);
  assert_true(strtod(buf, NULL) == 1.0 / 3.0);
  assert_string_equal(buf, "0.3333333333333333");
}

static void test_stable_bytes(void **state) {
  /* The same record dumped twice, and after a round trip, is byte-identical. */
  char *a = dump_text("{\"kind\": \"progress\", \"percent\": 12.5, \"summary\": \"进展顺利\", \"milestones\": [{\"id\": \"m1\", \"done\": true}]}");
  char *b = dump_text(a);
  assert_string_equal(a, b);
  size_t len;
  json_t *v = json_loads(a, 0, NULL);
  char *c = dk_canonical_dump(v, &len);
  assert_int_equal(len, strlen(a));
  assert_memory_equal(a, c, len);
  assert_int_equal(c[len - 1], '\n');
  json_decref(v);
  free(a);
  free(b);
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sorted_indented),
    cmocka_unit_test(test_key_order_does_not_matter),
    cmocka_unit_test(test_chinese_unescaped),
    cmocka_unit_test(test_escapes),
    cmocka_unit_test(test_empty_containers_and_scalars),
    cmocka_unit_test(test_numbers),
    cmocka_unit_test(test_stable_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

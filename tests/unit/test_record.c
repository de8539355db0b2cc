/* Record ids and their paths: one id, one path, nothing escapes its folder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "record.h"

static char *path_of(const char *json, int *rc, char *err) {
  json_t *v = json_loads(json, 0, NULL);
  assert_non_null(v);
  char *p = NULL;
  *rc = dk_record_path(v, &p, err);
  json_decref(v);
  return p;
}

static void test_paths(void **state) {
  static const struct { const char *json, *path; } cases[] = {
    {"{\"kind\": \"plan\", \"id\": \"jnly-2024\"}", "plans/jnly-2024.json"},
    {"{\"kind\": \"task\", \"id\": \"jnly-2024/12\"}", "tasks/jnly-2024/12.json"},
    {"{\"kind\": \"progress\", \"id\": \"jnly-2024/12/linyi/2024-06\"}", "progress/jnly-2024/12/linyi/2024-06.json"},
    {"{\"kind\": \"unit\", \"id\": \"linyi/教育局\"}", "units/linyi/教育局.json"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc;
    char err[DK_ERRBUF_SIZE] = "";
    char *p = path_of(cases[i].json, &rc, err);
    assert_int_equal(rc, 0);
    assert_string_equal(p, cases[i].path);
    free(p);
  }
}

static void test_refusals(void **state) {
  static const struct { const char *json, *msg; } cases[] = {
    {"{\"kind\": \"task\", \"id\": \"../../etc/passwd\"}", "/id: id \"../../etc/passwd\": each segment must match"},
    {"{\"kind\": \"task\", \"id\": \"jnly-2024\"}", "a task id has 2 segments, this one has 1"},
    {"{\"kind\": \"task\", \"id\": \"JNLY-2024/12\"}", "each segment must match [a-z0-9][a-z0-9._-]*"},
    {"{\"kind\": \"task\", \"id\": \"jnly-2024//12\"}", "each segment must match"},
    {"{\"kind\": \"unit\", \"id\": \"linyi/..\"}", "a unit name may not"},
    {"{\"kind\": \"unit\", \"id\": \"linyi/a\\u0001b\"}", "a unit name may not"},
    {"{\"kind\": \"unit\", \"id\": \"linyi/a/b\"}", "a unit id has 2 segments, this one has 3"},
    {"{\"kind\": \"memo\", \"id\": \"x\"}", "/kind: \"memo\" is not one of plan, task, progress, unit"},
    {"{\"id\": \"x\"}", "/kind: required"},
    {"{\"kind\": \"plan\", \"id\": 7}", "/id: required, must be a string"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc;
    char err[DK_ERRBUF_SIZE] = "";
    char *p = path_of(cases[i].json, &rc, err);
    assert_int_equal(rc, DK_EINVALID);
    assert_null(p);
    if (strstr(err, cases[i].msg) == NULL) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
  }
}

static void test_parse_name(void **state) {
  static const struct { const char *name; enum dk_kind kind; const char *id; } cases[] = {
    {"jnly-2024/12", DK_KIND_TASK, "jnly-2024/12"},
    {"tasks/jnly-2024/12.json", DK_KIND_TASK, "jnly-2024/12"},
    {"tasks/jnly-2024/12", DK_KIND_TASK, "jnly-2024/12"},
    {"jnly-2024", DK_KIND_PLAN, "jnly-2024"},
    {"jnly-2024/12/linyi/2024-06", DK_KIND_PROGRESS, "jnly-2024/12/linyi/2024-06"},
    {"linyi/教育局", DK_KIND_UNIT, "linyi/教育局"},
    {"units/jinan/教育局.json", DK_KIND_UNIT, "jinan/教育局"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    enum dk_kind k = DK_KIND_NONE;
    char *id = NULL;
    assert_int_equal(dk_record_parse_name(cases[i].name, &k, &id), 0);
    assert_int_equal(k, cases[i].kind);
    assert_string_equal(id, cases[i].id);
    free(id);
  }
  enum dk_kind k;
  char *id = NULL;
  assert_int_equal(dk_record_parse_name("tasks/../x", &k, &id), DK_EINVAL);
  assert_null(id);
  assert_int_equal(dk_record_parse_name("a/b/c", &k, &id), DK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_paths),
    cmocka_unit_test(test_refusals),
    cmocka_unit_test(test_parse_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

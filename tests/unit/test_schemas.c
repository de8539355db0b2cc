/* duikou's record and configuration schemas: good and bad examples of each
 * kind, with the message and location a data officer would read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "schemas.h"

/* Validate json; expect `valid`, and when invalid an error at `where` whose
 * message contains `msg`. */
static void expect(const char *json, int valid, const char *where, const char *msg) {
  json_error_t jerr;
  json_t *rec = json_loads(json, 0, &jerr);
  if (rec == NULL) fail_msg("bad test JSON: %s: %s", jerr.text, json);
  struct dk_vresult res = {0};
  char err[DK_ERRBUF_SIZE] = "";
  int rc = dk_schemas_validate_record(rec, &res, err);
  if (rc != valid) {
    for (size_t i = 0; i < res.nerrors; i++)
      print_error("  %s: %s\n", res.errors[i].instance_location, res.errors[i].message);
    fail_msg("%s: expected %s, got %d", json, valid ? "valid" : "invalid", rc);
  }
  if (!valid) {
    int found = 0;
    for (size_t i = 0; i < res.nerrors; i++)
      if (strcmp(res.errors[i].instance_location, where) == 0 && strstr(res.errors[i].message, msg)) found = 1;
    if (!found) {
      for (size_t i = 0; i < res.nerrors; i++)
        print_error("  %s: %s\n", res.errors[i].instance_location, res.errors[i].message);
      fail_msg("%s: no error at \"%s\" saying \"%s\"", json, where, msg);
    }
  }
  dk_vresult_free(&res);
  json_decref(rec);
}

static void test_plan(void **state) {
  expect("{\"kind\": \"plan\", \"id\": \"jnly-2024\", \"title\": \"济南—临沂对口合作2024年工作要点\", \"year\": 2024,"
         " \"published\": \"2024-04-24\", \"issuers\": [\"济南市人民政府办公厅\", \"临沂市人民政府办公室\"],"
         " \"doc_number\": \"济政办字〔2023〕28号\", \"sections\": [{\"number\": \"一\", \"title\": \"传承弘扬红色文化\"}]}",
         1, NULL, NULL);
  expect("{\"kind\": \"plan\", \"id\": \"jnly-2024\", \"title\": \"x\", \"year\": 2024, \"published\": \"2024-13-01\"}", 0,
         "/published", "2024-13-01");
  expect("{\"kind\": \"plan\", \"id\": \"jnly-2024\", \"year\": 2024}", 0, "", "title");
  expect("{\"kind\": \"plan\", \"id\": \"jnly-2024\", \"title\": \"x\", \"year\": \"2024\"}", 0, "/year", "integer");
}

static void test_task(void **state) {
  const char *good = "{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 12,"
                     " \"section\": {\"number\": \"四\", \"title\": \"推进产业深度合作\"}, \"title\": \"联合做强两市优势产业\","
                     " \"units\": [{\"name\": \"济南市工业和信息化局\", \"city\": \"jinan\", \"role\": \"shared\"}],"
                     " \"targets\": [{\"metric\": \"teachers_sent\", \"value\": 20, \"unit\": \"名\", \"city\": \"jinan\"}]}";
  expect(good, 1, NULL, NULL);
  expect("{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 12, \"title\": \"x\","
         " \"units\": [{\"name\": \"教育局\", \"city\": \"jinnan\", \"role\": \"lead\"}]}",
         0, "/units/0/city", "\"jinnan\" is not one of jinan, linyi, province, central, other");
  expect("{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 12, \"title\": \"x\","
         " \"owner\": \"someone\"}", 0, "/owner", "property \"owner\" is not allowed");
  expect("{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 0, \"title\": \"x\"}", 0,
         "/number", "minimum");
  expect("{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 12, \"title\": \"x\","
         " \"units\": [{\"name\": \"x\", \"city\": \"linyi\", \"role\": \"boss\"}]}", 0, "/units/0/role", "boss");
}

static void test_progress(void **state) {
  expect("{\"kind\": \"progress\", \"id\": \"jnly-2024/12/linyi/2024-06\", \"task\": \"jnly-2024/12\", \"city\": \"linyi\","
         " \"period\": \"2024-06\", \"status\": \"in_progress\", \"percent\": 60, \"summary\": \"进展顺利\","
         " \"unit\": \"临沂市工业和信息化局\", \"milestones\": [{\"id\": \"m1\", \"title\": \"签约\", \"done\": true,"
         " \"date\": \"2024-05-20\"}], \"reported_at\": \"2024-06-30T17:00:00+08:00\","
         " \"updated_at\": \"2024-06-30T17:00:00+08:00\"}",
         1, NULL, NULL);
  expect("{\"kind\": \"progress\", \"id\": \"jnly-2024/12/linyi/2024-H1\", \"task\": \"jnly-2024/12\", \"city\": \"linyi\","
         " \"period\": \"2024-H1\", \"status\": \"completed\"}", 1, NULL, NULL);
  expect("{\"kind\": \"progress\", \"id\": \"jnly-2024/12/linyi/2024-06\", \"task\": \"jnly-2024/12\", \"city\": \"linyi\","
         " \"period\": \"2024-06\", \"status\": \"done\"}", 0, "/status", "\"done\" is not one of");
  expect("{\"kind\": \"progress\", \"id\": \"jnly-2024/12/linyi/2024-06\", \"task\": \"jnly-2024/12\", \"city\": \"linyi\","
         " \"period\": \"2024-06\", \"status\": \"in_progress\", \"percent\": 120}", 0, "/percent", "100");
  expect("{\"kind\": \"progress\", \"id\": \"jnly-2024/12/linyi/2024-06\", \"task\": \"jnly-2024/12\", \"city\": \"linyi\","
         " \"period\": \"2024-06\", \"status\": \"in_progress\", \"reported_at\": \"yesterday\"}", 0, "/reported_at",
         "yesterday");
  expect("{\"kind\": \"progress\", \"id\": \"jnly-2024/12/linyi/2024-13\", \"task\": \"jnly-2024/12\", \"city\": \"linyi\","
         " \"period\": \"2024-13\", \"status\": \"in_progress\"}", 0, "/period", "pattern");
}

static void test_unit(void **state) {
  expect("{\"kind\": \"unit\", \"id\": \"linyi/教育局\", \"name\": \"临沂市教育局\", \"city\": \"linyi\","
         " \"aliases\": [\"两市教育局\"]}", 1, NULL, NULL);
  expect("{\"kind\": \"unit\", \"id\": \"linyi/教育局\", \"name\": \"临沂市教育局\"}", 0, "", "city");
  expect("{\"kind\": \"unit\", \"id\": \"linyi/教育局\", \"name\": \"\", \"city\": \"linyi\"}", 0, "/name", "");
}

static void test_config_schema(void **state) {
  char err[DK_ERRBUF_SIZE];
  const struct dk_schema *s = dk_schemas_config(err);
  assert_non_null(s);
  json_t *good = json_loads("{\"repository\": \"r.git\", \"sources\": [{\"name\": \"jinan-tasks\", \"plugin\": \"json-api\","
                            " \"city\": \"jinan\", \"url\": \"https://x.example/\", \"every\": \"30m\","
                            " \"auth\": {\"bearer_env\": \"JINAN_TOKEN\"}}]}", 0, NULL);
  assert_int_equal(dk_schema_validate(s, good, NULL), 1);
  /* an unknown key under auth (a token written in the file, say) is refused */
  json_object_set_new(json_object_get(json_array_get(json_object_get(good, "sources"), 0), "auth"), "token",
                      json_string("x"));
  assert_int_equal(dk_schema_validate(s, good, NULL), 0);
  json_decref(good);
}

static void test_every_shipped_record_is_valid(void **state) {
  /* The demo's records (the published 2024 plan) all pass. */
  const char *dir = getenv("DK_TEST_DATA");
  assert_non_null(dir);
  char path[1024];
  snprintf(path, sizeof path, "%s/../../contrib/city-sim/data/jnly-2024.json", dir);
  json_t *all = json_load_file(path, 0, NULL);
  assert_non_null(all);
  assert_int_equal(json_array_size(all), 32);
  size_t i;
  json_t *rec;
  char err[DK_ERRBUF_SIZE];
  json_array_foreach(all, i, rec) assert_int_equal(dk_schemas_validate_record(rec, NULL, err), 1);
  json_decref(all);
}

static int teardown(void **state) {
  dk_schemas_shutdown();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_plan),
    cmocka_unit_test(test_task),
    cmocka_unit_test(test_progress),
    cmocka_unit_test(test_unit),
    cmocka_unit_test(test_config_schema),
    cmocka_unit_test(test_every_shipped_record_is_valid),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}

/* plan-text through the real loader: the published seeds give the plans,
 * sections and tasks a data officer counts by hand, with valid records. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "loader.h"
#include "schemas.h"
#include "plugin_harness.h"


/* Parse tests/data/<rel> with `options` (JSON text); returns the records. */
static json_t *run(const char *rel, const char *content_type, const char *options) {
  const char *root = getenv("DK_BUILD_ROOT"), *data = getenv("DK_TEST_DATA");
  if (root == NULL || data == NULL) fail_msg("DK_BUILD_ROOT and DK_TEST_DATA must be set (meson test does)");
  char path[4096];
  snprintf(path, sizeof path, "%s/plugins/plan-text/plan-text.so", root);
  struct dk_loader ld = {0};
  const struct dk_plugin_entry *entry = NULL;
  if (dk_loader_open(&ld, path, &entry) != 0) fail_msg("%s: %s", path, ld.err);
  const struct dk_plugin *p = entry->plugin;
  assert_non_null(p);
  assert_string_equal(p->name, "plan-text");

  json_t *opts = json_loads(options, 0, NULL);
  assert_non_null(opts);
  char err[DK_ERRBUF_SIZE] = "";
  if (dk_schemas_check_options(p, opts, NULL, err) != 0) fail_msg("options refused: %s", err);
  struct dk_source src = {.name = "plan", .city = "jinan", .url = "https://example.invalid/plan", .options = opts};
  void *state = NULL;
  if (p->init(&state, &src, err, sizeof err) != 0) fail_msg("init: %s", err);

  snprintf(path, sizeof path, "%s/%s", data, rel);
  size_t len;
  char *body = slurp(path, &len);
  struct dk_response resp = {.page = 1, .status = 200, .url = src.url, .content_type = content_type,
                             .body = body, .body_len = len};
  struct collect c;
  collect_init(&c);
  enum dk_result res = p->parse(state, &resp, &c.emit);
  if (res != DK_OK) fail_msg("parse %s: %d: %s", rel, res, c.failed);
  if (p->fini) p->fini(state);
  free(body);
  json_decref(opts);
  dk_loader_free(&ld);

  size_t i;
  json_t *rec;
  json_array_foreach(c.records, i, rec) {
    struct dk_vresult vr = {0};
    int rc = dk_schemas_validate_record(rec, &vr, err);
    if (rc != 1) {
      for (size_t k = 0; k < vr.nerrors; k++) print_error("  %s: %s\n", vr.errors[k].instance_location, vr.errors[k].message);
      dk_vresult_free(&vr);
      fail_msg("%s: invalid record %s", rel, json_string_value(json_object_get(rec, "id")));
    }
  }
  if (json_array_size(c.rejects) > 0)
    fail_msg("unexpected reject at %s: %s", json_string_value(json_object_get(json_array_get(c.rejects, 0), "where")),
             json_string_value(json_object_get(json_array_get(c.rejects, 0), "why")));
  json_decref(c.rejects);
  return c.records;
}

static const json_t *find(const json_t *recs, const char *id) {
  size_t i;
  json_t *rec;
  json_array_foreach(recs, i, rec)
    if (strcmp(json_string_value(json_object_get(rec, "id")), id) == 0) return rec;
  fail_msg("no record %s", id);
  return NULL;
}

/* Count plans, and the tasks / distinct sections / distinct subsections of `plan`. */
static void counts(const json_t *recs, const char *plan, size_t *nplans, size_t *ntasks, size_t *nsec, size_t *nsub) {
  char secs[64][32] = {{0}}, subs[64][32] = {{0}};
  *nplans = *ntasks = *nsec = *nsub = 0;
  size_t i;
  json_t *rec;
  json_array_foreach(recs, i, rec) {
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    if (strcmp(kind, "plan") == 0) { (*nplans)++; continue; }
    if (strcmp(json_string_value(json_object_get(rec, "plan")), plan) != 0) continue;
    (*ntasks)++;
    const char *s = json_string_value(json_object_get(json_object_get(rec, "section"), "number"));
    const char *u = json_string_value(json_object_get(json_object_get(rec, "subsection"), "number"));
    assert_non_null(s);
    size_t k;
    for (k = 0; k < *nsec && strcmp(secs[k], s) != 0; k++) {}
    if (k == *nsec && k < 64) snprintf(secs[(*nsec)++], 32, "%s", s);
    if (u == NULL) continue;
    for (k = 0; k < *nsub && strcmp(subs[k], u) != 0; k++) {}
    if (k == *nsub && k < 64) snprintf(subs[(*nsub)++], 32, "%s", u);
  }
}

/* Units of a task must be exactly `want`: "name|city|role" strings, NULL-terminated. */
static void expect_units(const json_t *recs, const char *id, const char *const *want) {
  const json_t *units = json_object_get(find(recs, id), "units");
  size_t n = 0;
  while (want[n]) n++;
  if (json_array_size(units) != n) fail_msg("%s: %zu units, expected %zu", id, json_array_size(units), n);
  for (size_t i = 0; i < n; i++) {
    const json_t *u = json_array_get(units, i);
    char got[256];
    snprintf(got, sizeof got, "%s|%s|%s", json_string_value(json_object_get(u, "name")),
             json_string_value(json_object_get(u, "city")), json_string_value(json_object_get(u, "role")));
    if (strcmp(got, want[i]) != 0) fail_msg("%s unit %zu: %s, expected %s", id, i, got, want[i]);
  }
}

static void test_2024(void **state) {
  (void)state;
  json_t *recs = run("seeds/jnly-2024-work-points.txt", "text/plain; charset=utf-8", "{\"plan\": \"jnly-2024\"}");
  size_t nplans, ntasks, nsec, nsub;
  counts(recs, "jnly-2024", &nplans, &ntasks, &nsec, &nsub);
  assert_int_equal(nplans, 1);
  assert_int_equal(ntasks, 31);
  assert_int_equal(nsec, 9);
  assert_int_equal(nsub, 0);

  const json_t *plan = find(recs, "jnly-2024");
  assert_string_equal(json_string_value(json_object_get(plan, "title")), "济南—临沂对口合作2024年工作要点");
  assert_string_equal(json_string_value(json_object_get(plan, "published")), "2024-04-24");
  assert_int_equal(json_integer_value(json_object_get(plan, "year")), 2024);
  assert_int_equal(json_array_size(json_object_get(plan, "sections")), 9);
  assert_int_equal(json_array_size(json_object_get(plan, "issuers")), 2);

  size_t i;
  json_t *rec;
  json_array_foreach(recs, i, rec) {
    if (strcmp(json_string_value(json_object_get(rec, "kind")), "task") == 0 &&
        json_array_size(json_object_get(rec, "units")) == 0)
      fail_msg("%s has no unit", json_string_value(json_object_get(rec, "id")));
  }
  const json_t *t1 = find(recs, "jnly-2024/01");
  assert_string_equal(json_string_value(json_object_get(t1, "title")), "突出沂蒙精神教育培训");
  assert_null(strstr(json_string_value(json_object_get(t1, "text")), "责任单位"));

  expect_units(recs, "jnly-2024/01",
               (const char *const[]){"济南市市委党校|jinan|shared", "临沂市市委党校|linyi|shared",
                                     "沂蒙干部学院|linyi|shared", NULL});
  expect_units(recs, "jnly-2024/09",
               (const char *const[]){"济南市交通运输局|jinan|shared", "临沂市交通运输局|linyi|shared",
                                     "济南市发展改革委|jinan|shared", "临沂市发展改革委|linyi|shared",
                                     "济南市口岸物流办|jinan|shared", "临沂市公路事业发展中心|linyi|shared",
                                     "临沂市铁路民航事业发展中心|linyi|shared", NULL});
  expect_units(recs, "jnly-2024/18",
               (const char *const[]){"济南市生态环境局|jinan|shared", "临沂市生态环境局|linyi|shared",
                                     "济南市农业农村局|jinan|shared", "临沂市农业农村局|linyi|shared",
                                     "济南市园林和林业绿化局|jinan|shared", "济南市水务局|jinan|shared",
                                     "临沂市林业局|linyi|shared", "临沂市水利局|linyi|shared", NULL});
  expect_units(recs, "jnly-2024/28", (const char *const[]){"蒙阴县政府|linyi|sole", NULL});
  json_decref(recs);
}

static void test_2023(void **state) {
  (void)state;
  json_t *recs = run("seeds/jnly-2023-division-plan-and-work-points.md", NULL,
                     "{\"plans\": [\"jnly-2023-division\", \"jnly-2023\"]}");
  size_t nplans, ntasks, nsec, nsub;
  counts(recs, "jnly-2023-division", &nplans, &ntasks, &nsec, &nsub);
  assert_int_equal(nplans, 2);
  assert_int_equal(ntasks, 53);
  assert_int_equal(nsec, 8);
  assert_int_equal(nsub, 22);
  counts(recs, "jnly-2023", &nplans, &ntasks, &nsec, &nsub);
  assert_int_equal(ntasks, 43);
  assert_int_equal(nsec, 9);

  const json_t *div = find(recs, "jnly-2023-division");
  assert_string_equal(json_string_value(json_object_get(div, "doc_number")), "济政办字〔2023〕28号");
  assert_string_equal(json_string_value(json_object_get(div, "published")), "2023-06-29");
  assert_string_equal(json_string_value(json_object_get(find(recs, "jnly-2023"), "title")),
                      "济南—临沂对口合作2023年工作要点");
  /* Lead and shared in one clause; a line broken by a page joined again. */
  expect_units(recs, "jnly-2023-division/11",
               (const char *const[]){"济南市农业农村局|jinan|lead", "临沂市农业农村局|linyi|lead",
                                     "临沂市检验检测中心|linyi|shared", NULL});
  expect_units(recs, "jnly-2023-division/07", (const char *const[]){"临沂市乡村振兴局|linyi|sole", NULL});
  assert_non_null(strstr(json_string_value(json_object_get(find(recs, "jnly-2023-division/07"), "title")),
                         "培育一批助力巩固拓展脱贫攻坚成果"));
  json_decref(recs);
}

static void test_html_default_ids(void **state) {
  (void)state;
  json_t *recs = run("../../plugins/plan-text/fixtures/plan.html", "text/html", "{}");
  size_t nplans, ntasks, nsec, nsub;
  counts(recs, "jnly-2025", &nplans, &ntasks, &nsec, &nsub);
  assert_int_equal(nplans, 1);
  assert_int_equal(ntasks, 2);
  const json_t *t = find(recs, "jnly-2025/02");
  assert_string_equal(json_string_value(json_object_get(t, "text")), "开展A&B合作<试点>。");
  expect_units(recs, "jnly-2025/01",
               (const char *const[]){"济南市教育局|jinan|lead", "临沂市教育局|linyi|support", NULL});
  expect_units(recs, "jnly-2025/02",
               (const char *const[]){"济南市有关部门|jinan|shared", "临沂市有关部门|linyi|shared", NULL});
  json_decref(recs);
}

static int teardown(void **state) {
  (void)state;
  dk_schemas_shutdown();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_2024),
      cmocka_unit_test(test_2023),
      cmocka_unit_test(test_html_default_ids),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}

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

/* The documents live beside the simulator that serves them (DK_TEST_DATA
 * is tests/data). */
#define SEED_2024 "../../contrib/city-sim/data/seeds/jnly-2024-work-points.txt"
#define SEED_2023 "../../contrib/city-sim/data/seeds/jnly-2023-division-plan-and-work-points.md"


/* Parse tests/data/<rel> with `options` (JSON text). Returns the records,
 * all valid, or NULL with the plugin's failure message in failed. */
static json_t *parse_doc(const char *rel, const char *content_type, const char *options, char failed[512]) {
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
  struct dk_source src = {.size = sizeof src, .name = "plan", .city = "jinan", .url = "https://example.invalid/plan", .options = opts};
  void *state = NULL;
  if (p->init(&state, &src, err, sizeof err) != 0) fail_msg("init: %s", err);

  snprintf(path, sizeof path, "%s/%s", data, rel);
  size_t len;
  char *body = slurp(path, &len);
  struct dk_response resp = {.size = sizeof resp, .page = 1, .status = 200, .url = src.url, .content_type = content_type,
                             .body = body, .body_len = len};
  struct collect c;
  collect_init(&c);
  enum dk_result res = p->parse(state, &resp, &c.emit);
  if (p->fini) p->fini(state);
  free(body);
  json_decref(opts);
  dk_loader_free(&ld);
  snprintf(failed, 512, "%s", c.failed);
  if (res != DK_OK) {
    collect_free(&c);
    return NULL;
  }
  check_records(c.records);
  if (json_array_size(c.rejects) > 0)
    fail_msg("unexpected reject at %s: %s", json_string_value(json_object_get(json_array_get(c.rejects, 0), "where")),
             json_string_value(json_object_get(json_array_get(c.rejects, 0), "why")));
  json_t *recs = json_incref(c.records);
  collect_free(&c);
  return recs;
}

/* Parse tests/data/<rel>, which must succeed; returns the records. */
static json_t *run(const char *rel, const char *content_type, const char *options) {
  char failed[512];
  json_t *recs = parse_doc(rel, content_type, options, failed);
  if (recs == NULL) fail_msg("parse %s: %s", rel, failed);
  return recs;
}

/* Parse tests/data/<rel>, which must be refused with a message containing want. */
static void refused(const char *rel, const char *content_type, const char *want) {
  char failed[512];
  json_t *recs = parse_doc(rel, content_type, "{}", failed);
  if (recs) fail_msg("%s: parsed into %zu records, expected a refusal", rel, json_array_size(recs));
  if (strstr(failed, want) == NULL) fail_msg("%s: refused with \"%s\", expected \"%s\" in it", rel, failed, want);
}

#define FIXTURES "../../plugins/plan-text/fixtures/"

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
  json_t *recs = run(SEED_2024, "text/plain; charset=utf-8", "{\"plan\": \"jnly-2024\"}");
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
               (const char *const[]){"济南市委党校|jinan|shared", "临沂市委党校|linyi|shared",
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
  json_t *recs = run(SEED_2023, NULL,
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
  json_t *recs = run(FIXTURES "plan.html", "text/html", "{}");
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

/* "一、title" / "（一）title" of a numbered_title, as a golden file writes it. */
static void heading(const json_t *nt, const char *open, const char *close, char *out, size_t n) {
  if (nt == NULL) { snprintf(out, n, "null"); return; }
  snprintf(out, n, "%s%s%s%s", open, json_string_value(json_object_get(nt, "number")), close,
           json_string_value(json_object_get(nt, "title")));
}

/* Units of a task record as "name|city|role" strings. */
static json_t *unit_strings(const json_t *task) {
  json_t *out = json_array();
  size_t i;
  json_t *u;
  json_array_foreach(json_object_get(task, "units"), i, u) {
    char s[512];
    snprintf(s, sizeof s, "%s|%s|%s", json_string_value(json_object_get(u, "name")),
             json_string_value(json_object_get(u, "city")), json_string_value(json_object_get(u, "role")));
    json_array_append_new(out, json_string(s));
  }
  return out;
}

/* Compare one field; print and count a difference. */
static void field(const char *id, const char *name, const char *got, const char *want, int *diffs) {
  if (strcmp(got, want) == 0) return;
  print_error("%s %s:\n  got      %s\n  expected %s\n", id, name, got, want);
  (*diffs)++;
}

/* The tasks of recs against a golden file (JSON lines: plan, number,
 * section, subsection, title, units), field by field, every difference
 * printed. Tasks numbered above `upto` (0: all) are not expected. */
static void check_golden(const json_t *recs, const char *golden_rel, int upto) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", getenv("DK_TEST_DATA"), golden_rel);
  size_t len, expected = 0;
  char *text = slurp(path, &len);
  int diffs = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    json_error_t jerr;
    json_t *g = json_loads(line, 0, &jerr);
    if (g == NULL) fail_msg("%s: %s", golden_rel, jerr.text);
    int number = (int)json_integer_value(json_object_get(g, "number"));
    if (upto && number > upto) { json_decref(g); continue; }
    expected++;
    char id[128], got[1024];
    snprintf(id, sizeof id, "%s/%02d", json_string_value(json_object_get(g, "plan")), number);
    const json_t *t = find(recs, id);
    heading(json_object_get(t, "section"), "", "、", got, sizeof got);
    field(id, "section", got, json_string_value(json_object_get(g, "section")), &diffs);
    const json_t *sub = json_object_get(g, "subsection");
    heading(json_object_get(t, "subsection"), "（", "）", got, sizeof got);
    field(id, "subsection", got, json_is_string(sub) ? json_string_value(sub) : "null", &diffs);
    field(id, "title", json_string_value(json_object_get(t, "title")), json_string_value(json_object_get(g, "title")),
          &diffs);
    json_t *units = unit_strings(t), *want = json_object_get(g, "units");
    for (size_t i = 0; i < json_array_size(units) || i < json_array_size(want); i++) {
      char what[32];
      snprintf(what, sizeof what, "unit %zu", i + 1);
      const char *gs = json_string_value(json_array_get(units, i)), *ws = json_string_value(json_array_get(want, i));
      field(id, what, gs ? gs : "(none)", ws ? ws : "(none)", &diffs);
    }
    json_decref(units);
    json_decref(g);
  }
  free(text);
  size_t ntasks = 0, i;
  json_t *rec;
  json_array_foreach(recs, i, rec) ntasks += strcmp(json_string_value(json_object_get(rec, "kind")), "task") == 0;
  if (ntasks != expected) fail_msg("%s: %zu tasks parsed, %zu in the golden file", golden_rel, ntasks, expected);
  if (diffs) fail_msg("%s: %d fields differ", golden_rel, diffs);
}

/* The records of two parses are the same, one by one. */
static void same_records(const json_t *a, const json_t *b) {
  assert_int_equal(json_array_size(a), json_array_size(b));
  for (size_t i = 0; i < json_array_size(a); i++) {
    if (json_equal(json_array_get(a, i), json_array_get(b, i))) continue;
    char *x = json_dumps(json_array_get(a, i), JSON_COMPACT), *y = json_dumps(json_array_get(b, i), JSON_COMPACT);
    print_error("%s\n%s\n", x, y);
    free(x);
    free(y);
    fail_msg("record %zu differs", i);
  }
}

static void test_golden_2024(void **state) {
  (void)state;
  json_t *recs = run(SEED_2024, "text/plain; charset=utf-8", "{\"plan\": \"jnly-2024\"}");
  check_golden(recs, "seeds/jnly-2024-work-points.golden.jsonl", 0);
  json_decref(recs);
}

static void test_golden_2023(void **state) {
  (void)state;
  json_t *recs = run(SEED_2023, NULL,
                     "{\"plans\": [\"jnly-2023-division\", \"jnly-2023\"]}");
  check_golden(recs, "seeds/jnly-2023-division-plan-and-work-points.golden.jsonl", 0);
  json_decref(recs);
}

/* The 2024 work points with every line break lost read as the original. */
static void test_one_line(void **state) {
  (void)state;
  const char *opts = "{\"plan\": \"jnly-2024\"}";
  json_t *lines = run(SEED_2024, "text/plain", opts);
  json_t *one = run(FIXTURES "jnly-2024-one-line.txt", "text/plain", opts);
  check_golden(one, "seeds/jnly-2024-work-points.golden.jsonl", 0);
  same_records(lines, one);
  json_decref(lines);
  json_decref(one);
  /* Two plans in one line: the second title follows the last clause of the first. */
  one = run(FIXTURES "jnly-2023-one-line.txt", "text/plain", "{\"plans\": [\"jnly-2023-division\", \"jnly-2023\"]}");
  check_golden(one, "seeds/jnly-2023-division-plan-and-work-points.golden.jsonl", 0);
  assert_string_equal(json_string_value(json_object_get(find(one, "jnly-2023-division"), "doc_number")),
                      "济政办字〔2023〕28号");
  json_decref(one);
}

/* Traditional characters: the structure and role words are read, the text
 * stays as published, unit names are the canonical (simplified) ones. */
static void test_traditional(void **state) {
  (void)state;
  json_t *recs = run(FIXTURES "jnly-2023-traditional.md", NULL, "{\"plans\": [\"jnly-2023-division\", \"jnly-2023\"]}");
  check_golden(recs, FIXTURES "jnly-2023-traditional.golden.jsonl", 0);
  const json_t *t = find(recs, "jnly-2023/01");
  assert_non_null(strstr(json_string_value(json_object_get(t, "text")), "組織開展“紅色文化主題月”活動"));
  assert_string_equal(json_string_value(json_object_get(find(recs, "jnly-2023"), "title")), "濟南—臨沂對口合作2023年工作要點");
  assert_string_equal(json_string_value(json_object_get(find(recs, "jnly-2023-division"), "doc_number")),
                      "濟政辦字〔2023〕28號");
  json_decref(recs);
  /* A short one: a notice of a few lines. */
  recs = run(FIXTURES "linyi-notice-traditional.txt", "text/plain", "{}");
  expect_units(recs, "linyi-jnly-2025-notice/01",
               (const char *const[]){"临沂市工业和信息化局|linyi|lead", "临沂市发展改革委|linyi|support",
                                     "临沂市投资促进服务中心|linyi|support", NULL});
  expect_units(recs, "linyi-jnly-2025-notice/02", (const char *const[]){"临沂市卫生健康委|linyi|sole", NULL});
  assert_string_equal(json_string_value(json_object_get(find(recs, "linyi-jnly-2025-notice/02"), "title")), "推進醫療合作");
  json_decref(recs);
}

/* The PDF as published (a CJK font, lines wrapped by width). */
static void test_pdf(void **state) {
  (void)state;
  char failed[512];
  json_t *recs = parse_doc(FIXTURES "jnly-2024-part.pdf", "application/pdf", "{}", failed);
  if (recs == NULL && strstr(failed, "without poppler")) skip();
  if (recs == NULL) fail_msg("parse PDF: %s", failed);
  check_golden(recs, "seeds/jnly-2024-work-points.golden.jsonl", 8);
  const json_t *plan = find(recs, "jnly-2024");
  assert_string_equal(json_string_value(json_object_get(plan, "published")), "2024-04-24");
  assert_int_equal(json_array_size(json_object_get(plan, "issuers")), 2);
  /* A clause wrapped over two lines is read whole, the text glued back. */
  json_t *seed = run(SEED_2024, "text/plain", "{}");
  for (int n = 1; n <= 8; n++) {
    char id[32];
    snprintf(id, sizeof id, "jnly-2024/%02d", n);
    assert_string_equal(json_string_value(json_object_get(find(recs, id), "text")),
                        json_string_value(json_object_get(find(seed, id), "text")));
  }
  json_decref(seed);
  json_decref(recs);
}

static void test_refused(void **state) {
  (void)state;
  refused(FIXTURES "not-a-plan.txt", "text/plain", "not a plan document: looked for a title ending in 工作要点");
  refused(FIXTURES "scanned.pdf", NULL, "no text layer");
  refused(FIXTURES "plan.html", "application/pdf", "PDF");
}

/* A province plan: 鲁政办字, provincial departments (省 carried to the next
 * item), 牵头/配合, a list without role words, central agencies' offices,
 * a span of years, an id from issuer and title. */
static void test_province(void **state) {
  (void)state;
  json_t *recs = run(FIXTURES "province-action-plan.txt", "text/plain", "{}");
  const json_t *plan = find(recs, "sd-jnly-2025-2027-action");
  assert_string_equal(json_string_value(json_object_get(plan, "title")), "济南—临沂对口合作三年行动方案（2025—2027年）");
  assert_int_equal(json_integer_value(json_object_get(plan, "year")), 2025);
  assert_int_equal(json_integer_value(json_object_get(plan, "until")), 2027);
  assert_string_equal(json_string_value(json_object_get(plan, "doc_number")), "鲁政办字〔2025〕9号");
  assert_string_equal(json_string_value(json_object_get(plan, "published")), "2025-03-10");
  const json_t *t = find(recs, "sd-jnly-2025-2027-action/04");
  assert_string_equal(json_string_value(json_object_get(t, "title")), "加强金融保障");
  assert_string_equal(json_string_value(json_object_get(json_object_get(t, "subsection"), "title")), "强化要素保障");
  expect_units(recs, "sd-jnly-2025-2027-action/01",
               (const char *const[]){"省委宣传部|province|lead", "省委组织部|province|support",
                                     "省文化和旅游厅|province|support", "济南市政府|jinan|support",
                                     "临沂市政府|linyi|support", NULL});
  expect_units(recs, "sd-jnly-2025-2027-action/02",
               (const char *const[]){"省文化和旅游厅|province|shared", "省退役军人事务厅|province|shared", NULL});
  expect_units(recs, "sd-jnly-2025-2027-action/03",
               (const char *const[]){"省发展改革委|province|shared", "省交通运输厅|province|shared",
                                     "民航山东监管局|province|shared", "济南市政府|jinan|shared",
                                     "临沂市政府|linyi|shared", NULL});
  expect_units(recs, "sd-jnly-2025-2027-action/04",
               (const char *const[]){"省委金融办|province|lead", "中国人民银行山东省分行|province|support",
                                     "国家金融监督管理总局山东监管局|province|support", "山东证监局|province|support",
                                     "国家金融监督管理总局临沂监管分局|linyi|support", NULL});
  expect_units(recs, "sd-jnly-2025-2027-action/05",
               (const char *const[]){"济南海关|province|shared", "省商务厅|province|shared",
                                     "省交通运输厅|province|shared", "罗庄区政府|linyi|shared", NULL});
  expect_units(recs, "sd-jnly-2025-2027-action/06",
               (const char *const[]){"省发展改革委|province|lead", "济南市政府|jinan|support",
                                     "临沂市政府|linyi|support", NULL});
  assert_null(json_object_get(find(recs, "sd-jnly-2025-2027-action/06"), "subsection"));
  json_decref(recs);

  /* A province 实施意见 whose （一） items are the tasks, one wrapped over two lines. */
  recs = run(FIXTURES "province-opinions.txt", "text/plain", "{}");
  size_t nplans, ntasks, nsec, nsub;
  counts(recs, "sd-jnly-2025-opinions", &nplans, &ntasks, &nsec, &nsub);
  assert_int_equal(nplans, 1);
  assert_int_equal(ntasks, 3);
  assert_int_equal(nsub, 0);
  t = find(recs, "sd-jnly-2025-opinions/02");
  assert_string_equal(json_string_value(json_object_get(t, "title")), "畅通综合交通通道");
  assert_string_equal(json_string_value(json_object_get(t, "text")), "加快莱芜至临沂高铁规划建设，支持临沂启阳机场打造区域枢纽机场。");
  assert_string_equal(json_string_value(json_object_get(json_object_get(t, "section"), "title")), "重点任务");
  expect_units(recs, "sd-jnly-2025-opinions/01",
               (const char *const[]){"省委宣传部|province|lead", "省文化和旅游厅|province|support",
                                     "济南市政府|jinan|support", "临沂市政府|linyi|support", NULL});
  expect_units(recs, "sd-jnly-2025-opinions/02",
               (const char *const[]){"省发展改革委|province|shared", "省交通运输厅|province|shared",
                                     "民航山东监管局|province|shared", NULL});
  expect_units(recs, "sd-jnly-2025-opinions/03", (const char *const[]){"省发展改革委|province|sole", NULL});
  assert_string_equal(json_string_value(json_object_get(json_object_get(find(recs, "sd-jnly-2025-opinions/03"), "section"), "number")), "三");
  json_decref(recs);
}

/* One expected task of a plan in chapters: section, subsection, title, text. */
static void expect_item(const json_t *recs, const char *id, const char *sec, const char *sub, const char *title,
                        const char *text) {
  const json_t *t = find(recs, id);
  char got[1024];
  heading(json_object_get(t, "section"), "第", "章 ", got, sizeof got);
  assert_string_equal(got, sec);
  heading(json_object_get(t, "subsection"), "第", "节 ", got, sizeof got);
  assert_string_equal(got, sub);
  assert_string_equal(json_string_value(json_object_get(t, "title")), title);
  assert_string_equal(json_string_value(json_object_get(t, "text")), text);
  assert_null(json_object_get(t, "units"));
}

static void test_chapters(void **state) {
  (void)state;
  json_t *recs = run(FIXTURES "jnly-planning-chapters.txt", "text/plain", "{}");
  size_t nplans, ntasks, nsec, nsub;
  counts(recs, "jnly-2024-2026-planning", &nplans, &ntasks, &nsec, &nsub);
  assert_int_equal(nplans, 1);
  assert_int_equal(ntasks, 8);
  const json_t *plan = find(recs, "jnly-2024-2026-planning");
  assert_int_equal(json_array_size(json_object_get(plan, "sections")), 3);
  assert_int_equal(json_integer_value(json_object_get(plan, "until")), 2026);
  const char *red = "第二章 传承弘扬红色文化", *infra = "第三章 完善基础设施";
  expect_item(recs, "jnly-2024-2026-planning/01", red, "第一节 红色教育", "沂蒙精神教育培训",
              "将弘扬沂蒙精神作为两市市委党校党性教育重要内容，在学制1个月及以上主体班次中设置学习专题。");
  expect_item(recs, "jnly-2024-2026-planning/02", red, "第一节 红色教育", "红色教育基地",
              "合力做好烈士纪念设施规划建设修缮管理维护“五年行动”，进一步深化济南革命烈士陵园与华东革命烈士陵园对口共建。");
  expect_item(recs, "jnly-2024-2026-planning/03", red, "第二节 红色文旅", "红色文旅融合",
              "贯彻落实《济南—临沂红色旅游合作方案》，开展两市红色旅游对接交流活动，完善红色文化旅游配套服务。");
  expect_item(recs, "jnly-2024-2026-planning/04", red, "第二节 红色文旅", "专栏1红色文旅重点项目",
              "1.济南—临沂红色研学交流活动\n2.“红色文化主题月”系列活动");
  expect_item(recs, "jnly-2024-2026-planning/05", infra, "第一节 交通", "公路",
              "加快推进临临高速、临滕高速、董梁高速等项目，密切两地互联互通。");
  expect_item(recs, "jnly-2024-2026-planning/06", infra, "第一节 交通", "铁路",
              "加快推进潍宿高铁临沂段建设，合力推动莱芜至临沂高铁规划建设。");
  expect_item(recs, "jnly-2024-2026-planning/07", infra, "第一节 交通", "民航", "加快推进济南遥墙国际机场二期改扩建。");
  expect_item(recs, "jnly-2024-2026-planning/08", infra, "第一节 交通", "专栏2交通重点项目",
              "潍宿高铁临沂段\n莱芜至临沂高铁\n济南遥墙国际机场二期改扩建");
  json_decref(recs);
}

/* A 关于…通知 that is itself the plan (signed after its last task), and
 * a 实施意见 whose title names its issuer. */
static void test_notice_and_opinions(void **state) {
  (void)state;
  json_t *recs = run(FIXTURES "linyi-notice.txt", "text/plain", "{}");
  const json_t *plan = find(recs, "linyi-jnly-2025-notice");
  assert_string_equal(json_string_value(json_object_get(plan, "title")), "关于做好2025年济南—临沂对口合作工作的通知");
  assert_string_equal(json_string_value(json_object_get(plan, "published")), "2025-02-10");
  assert_string_equal(json_string_value(json_array_get(json_object_get(plan, "issuers"), 0)), "临沂市人民政府办公室");
  expect_units(recs, "linyi-jnly-2025-notice/01",
               (const char *const[]){"临沂市工业和信息化局|linyi|lead", "临沂市发展改革委|linyi|support",
                                     "临沂市投资促进服务中心|linyi|support", NULL});
  expect_units(recs, "linyi-jnly-2025-notice/02", (const char *const[]){"临沂市卫生健康委|linyi|sole", NULL});
  assert_string_equal(json_string_value(json_object_get(find(recs, "linyi-jnly-2025-notice/02"), "text")),
                      "鼓励两地医疗机构共建医联体。");
  json_decref(recs);

  recs = run(FIXTURES "jinan-opinions.txt", "text/plain", "{}");
  plan = find(recs, "jinan-jnly-2025-opinions");
  assert_string_equal(json_string_value(json_object_get(plan, "doc_number")), "济政办发〔2025〕3号");
  expect_units(recs, "jinan-jnly-2025-opinions/02",
               (const char *const[]){"济南高新区管委会|jinan|shared", "济南市发展改革委|jinan|shared", NULL});
  json_decref(recs);
}

/* Find the unit record units/<id> in recs, or NULL. */
static const json_t *unit_record(const json_t *recs, const char *id) {
  size_t i;
  json_t *rec;
  json_array_foreach(recs, i, rec)
    if (!strcmp(json_string_value(json_object_get(rec, "kind")), "unit") &&
        !strcmp(json_string_value(json_object_get(rec, "id")), id))
      return rec;
  return NULL;
}

/* options.units: one unit record per unit, with its aliases (built in and
 * configured); a configured alias in a clause gives the canonical name. */
static void test_unit_records(void **state) {
  (void)state;
  json_t *recs = run(SEED_2023, NULL,
                     "{\"plans\": [\"jnly-2023-division\", \"jnly-2023\"], \"units\": true}");
  const json_t *u = unit_record(recs, "linyi/临沂商城管委会");
  assert_non_null(u);
  assert_string_equal(json_string_value(json_object_get(u, "city")), "linyi");
  char *aliases = json_dumps(json_object_get(u, "aliases"), JSON_COMPACT);
  assert_non_null(strstr(aliases, "临沂市商城管委会"));
  assert_non_null(strstr(aliases, "临沂商场管委会"));
  free(aliases);
  assert_non_null(unit_record(recs, "jinan/济南市市场监管局"));
  assert_null(unit_record(recs, "jinan/济南市场监管局"));
  assert_non_null(unit_record(recs, "linyi/中国人民银行临沂市分行"));
  json_decref(recs);

  recs = run(FIXTURES "linyi-notice.txt", "text/plain",
             "{\"units\": true, \"aliases\": {\"临沂市卫生健康委员会\": [\"临沂市卫生健康委\", \"临沂市卫健委\"]}}");
  expect_units(recs, "linyi-jnly-2025-notice/02", (const char *const[]){"临沂市卫生健康委员会|linyi|sole", NULL});
  u = unit_record(recs, "linyi/临沂市卫生健康委员会");
  assert_non_null(u);
  assert_int_equal(json_array_size(json_object_get(u, "aliases")), 2);
  json_decref(recs);
  /* Without the option: tasks only. */
  recs = run(FIXTURES "linyi-notice.txt", "text/plain", "{}");
  assert_null(unit_record(recs, "linyi/临沂市卫生健康委"));
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
      cmocka_unit_test(test_golden_2024),
      cmocka_unit_test(test_golden_2023),
      cmocka_unit_test(test_one_line),
      cmocka_unit_test(test_traditional),
      cmocka_unit_test(test_pdf),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_province),
      cmocka_unit_test(test_chapters),
      cmocka_unit_test(test_notice_and_opinions),
      cmocka_unit_test(test_unit_records),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}

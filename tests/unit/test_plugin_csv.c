/* csv through the real loader: the fixtures of plugins/csv/fixtures/ in
 * UTF-8 (with BOM), GBK and GB18030 give the progress records a data officer
 * expects, bad rows are rejected with their line while the rest go on, an
 * HTML page is refused by its Content-Type, and every record emitted is
 * valid. */
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


/* Parse `body`, served as `content_type`, with `options` (JSON text) for a
 * source of `city`; returns the parse result with c filled. Every record
 * must validate. */
static enum dk_result run_typed(const char *body, size_t len, const char *city, const char *content_type,
                                const char *options, struct collect *c) {
  struct dk_loader ld;
  const struct dk_plugin *p = plugin_load(&ld, "csv");
  json_t *opts = json_loads(options, 0, NULL);
  assert_non_null(opts);
  char err[DK_ERRBUF_SIZE] = "";
  if (dk_schemas_check_options(p, opts, NULL, err) != 0) fail_msg("options refused: %s", err);
  struct dk_source src = {.size = sizeof src, .name = "linyi-progress", .city = city, .url = "https://oa.linyi.example/export.csv",
                          .options = opts};
  void *state = NULL;
  if (p->init(&state, &src, err, sizeof err) != 0) fail_msg("init: %s", err);
  struct test_resp r;
  resp_init(&r, 1, src.url, content_type, body, len);
  collect_init(c);
  enum dk_result res = p->parse(state, &r.resp, &c->emit);
  p->fini(state);
  json_decref(opts);
  dk_loader_free(&ld);
  check_records(c->records);
  return res;
}

/* run_typed for a body served as text/csv. */
static enum dk_result run_body(const char *body, size_t len, const char *city, const char *options,
                               struct collect *c) {
  return run_typed(body, len, city, "text/csv", options, c);
}

static enum dk_result run(const char *fixture, const char *city, const char *options, struct collect *c) {
  const char *data = getenv("DK_TEST_DATA");
  if (data == NULL) {
    fail_msg("DK_TEST_DATA must be set (meson test does)");
    return DK_ERROR;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/../../plugins/csv/fixtures/%s", data, fixture);
  size_t len = 0;
  char *body = slurp(path, &len);
  enum dk_result res = run_body(body, len, city, options, c);
  free(body);
  return res;
}

static void done(struct collect *c) {
  collect_free(c);
}

static const json_t *find(const json_t *recs, const char *id) {
  size_t i;
  json_t *rec;
  json_array_foreach(recs, i, rec)
    if (strcmp(json_string_value(json_object_get(rec, "id")), id) == 0) return rec;
  fail_msg("no record %s", id);
  return NULL;
}

static const char *str(const json_t *rec, const char *field) {
  const char *s = json_string_value(json_object_get(rec, field));
  if (s == NULL) fail_msg("%s is not a string", field);
  return s;
}

static const char linyi_columns[] =
    "\"columns\": {\"任务编号\": \"task\", \"状态\": \"status\", \"完成比例\": \"percent\","
    " \"进展情况\": \"summary\", \"填报单位\": \"unit\", \"填报时间\": \"reported_at\"}";

static void test_utf8_bom_crlf(void **st) {
  (void)st;
  char opts[1024];
  snprintf(opts, sizeof opts, "{%s}", linyi_columns);
  struct collect c;
  assert_int_equal(run("progress-utf8-bom.csv", "linyi", opts, &c), DK_OK);
  assert_int_equal(json_array_size(c.rejects), 0);
  assert_int_equal(json_array_size(c.records), 3);

  const json_t *r = find(c.records, "jnly-2024/12/linyi/2024-06");
  assert_string_equal(str(r, "kind"), "progress");
  assert_string_equal(str(r, "task"), "jnly-2024/12");
  assert_string_equal(str(r, "city"), "linyi");
  assert_string_equal(str(r, "period"), "2024-06");
  assert_string_equal(str(r, "status"), "in_progress");
  assert_int_equal(json_integer_value(json_object_get(r, "percent")), 60); /* "60%" */
  assert_string_equal(str(r, "summary"), "联合做强两市优势产业：签约项目3个，总投资12亿元");
  assert_string_equal(str(r, "unit"), "临沂市工业和信息化局");
  assert_string_equal(str(r, "reported_at"), "2024-06-30T17:00:00+08:00");

  r = find(c.records, "jnly-2024/01/linyi/2024-06"); /* "jnly-2024/1" padded */
  assert_string_equal(str(r, "status"), "completed");
  assert_string_equal(str(r, "summary"), "红色文化研学线路\"沂蒙—泉城\"已开通");
  assert_string_equal(str(r, "reported_at"), "2024-06-28T09:30:00+08:00");

  r = find(c.records, "jnly-2024/05/linyi/2024-06");
  assert_string_equal(str(r, "status"), "delayed");
  assert_string_equal(str(r, "summary"), "教师交流：\r\n已派出5名，计划20名"); /* kept as exported */
  assert_string_equal(str(r, "reported_at"), "2024-06-29T08:00:00+08:00");
  done(&c);
}

static void test_gbk(void **st) {
  (void)st;
  struct collect c;
  /* the source says "other": the constant wins */
  assert_int_equal(run("progress-gbk.csv", "other",
                       "{\"encoding\": \"GBK\", \"task_prefix\": \"jnly-2024/\","
                       " \"constants\": {\"city\": \"linyi\"},"
                       " \"columns\": {\"任务编号\": \"task\", \"进展情况\": \"summary\", \"完成比例\": \"percent\","
                       "  \"填报单位\": \"unit\", \"填报时间\": \"reported_at\"}}",
                       &c),
                   DK_OK);
  assert_int_equal(json_array_size(c.rejects), 0);
  assert_int_equal(json_array_size(c.records), 3);

  const json_t *r = find(c.records, "jnly-2024/12/linyi/2024-06");
  assert_string_equal(str(r, "task"), "jnly-2024/12");
  assert_string_equal(str(r, "status"), "in_progress"); /* from percent 60 */
  assert_string_equal(str(r, "summary"), "联合做强两市优势产业，推进“链长制”协作，已对接企业28家");
  assert_string_equal(str(r, "unit"), "临沂市工业和信息化局");
  assert_string_equal(str(r, "reported_at"), "2024-06-30T17:00:00+08:00"); /* from "2024/6/30 17:00:00" */

  r = find(c.records, "jnly-2024/03/linyi/2024-06");
  assert_string_equal(str(r, "status"), "not_started");
  assert_string_equal(str(r, "summary"), "共建产业园区：\n一期完成规划，\n二期未启动");
  assert_string_equal(str(r, "unit"), "临沂市发展和改革委员会");

  r = find(c.records, "jnly-2024/07/linyi/2024-06");
  assert_string_equal(str(r, "status"), "completed");
  assert_string_equal(str(r, "unit"), "临沂市委组织部");
  assert_string_equal(str(r, "reported_at"), "2024-06-25T10:15:00+08:00");
  done(&c);
}

static void test_gb18030_pipe(void **st) {
  (void)st;
  struct collect c;
  /* 東 is 0x96 0x7C in GB18030: its trail byte is the delimiter */
  assert_int_equal(run("progress-gb18030.csv", "linyi",
                       "{\"encoding\": \"GB18030\", \"delimiter\": \"|\", \"timezone\": \"+08:00\","
                       " \"columns\": {\"任务编号\": \"task\", \"进展情况\": \"summary\", \"完成比例\": \"percent\","
                       "  \"填报单位\": \"unit\", \"填报时间\": \"reported_at\"}}",
                       &c),
                   DK_OK);
  assert_int_equal(json_array_size(c.rejects), 0);
  assert_int_equal(json_array_size(c.records), 2);
  const json_t *r = find(c.records, "jnly-2024/12/linyi/2024-05");
  assert_string_equal(str(r, "summary"), "山东㐀达科技签约落户，山東合作项目推进");
  assert_true(json_real_value(json_object_get(r, "percent")) == 45.5);
  assert_string_equal(str(r, "status"), "in_progress");
  r = find(c.records, "jnly-2024/20/linyi/2024-05");
  assert_string_equal(str(r, "summary"), "文旅“一卡通”互认");
  done(&c);
}

static void expect_reject(const struct collect *c, size_t i, const char *where, const char *raw_part,
                          const char *why_part) {
  const json_t *r = json_array_get(c->rejects, i);
  if (r == NULL) fail_msg("no reject #%zu (want %s)", i, where);
  assert_string_equal(str(r, "where"), where);
  if (strstr(str(r, "raw"), raw_part) == NULL) fail_msg("%s: raw \"%s\" lacks \"%s\"", where, str(r, "raw"), raw_part);
  if (strstr(str(r, "why"), why_part) == NULL) fail_msg("%s: \"%s\" lacks \"%s\"", where, str(r, "why"), why_part);
}

static void test_bad_rows(void **st) {
  (void)st;
  char opts[1024];
  snprintf(opts, sizeof opts, "{%s}", linyi_columns);
  struct collect c;
  assert_int_equal(run("bad-rows.csv", "linyi", opts, &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 2);
  find(c.records, "jnly-2024/12/linyi/2024-06");
  const json_t *last = find(c.records, "jnly-2024/20/linyi/2024-06"); /* after all the bad ones */
  assert_string_equal(str(last, "status"), "cancelled");
  assert_null(json_object_get(last, "percent"));

  assert_int_equal(json_array_size(c.rejects), 7);
  expect_reject(&c, 0, "line 3", "jnly-2024/13,推进中,50,少了一列,2024-06-30 17:00", "5 fields, the header has 6");
  expect_reject(&c, 1, "line 4", "六成", "完成比例: \"六成\" is not a number");
  expect_reject(&c, 2, "line 5", "jnly-2024/15,推进中,40,\xEF\xBF\xBD(坏字节", "not UTF-8");
  expect_reject(&c, 3, "line 6", "未知", "status \"未知\"");
  expect_reject(&c, 4, "line 7", "\"时间不对\n两行\"", "not a date and time");
  expect_reject(&c, 5, "line 9", "150", "percent");
  expect_reject(&c, 6, "line 11", "多余", "7 fields, the header has 6");
  done(&c);
}

static void test_bad_gbk_bytes(void **st) {
  (void)st;
  struct collect c;
  assert_int_equal(run("bad-rows-gbk.csv", "linyi",
                       "{\"encoding\": \"GBK\", \"task_prefix\": \"jnly-2024/\","
                       " \"columns\": {\"任务编号\": \"task\", \"进展情况\": \"summary\", \"完成比例\": \"percent\","
                       "  \"填报单位\": \"unit\", \"填报时间\": \"reported_at\"}}",
                       &c),
                   DK_OK);
  assert_int_equal(json_array_size(c.records), 2);
  assert_string_equal(str(find(c.records, "jnly-2024/14/linyi/2024-06"), "summary"), "也好");
  assert_int_equal(json_array_size(c.rejects), 1);
  /* the raw text is decoded where it can be */
  expect_reject(&c, 0, "line 3", "临沂市商务局", "not GBK");
  done(&c);
}

static void test_bare_task_needs_prefix(void **st) {
  (void)st;
  static const char body[] = "task,percent,reported_at\n12,50,2024-06-30\njnly-2024/13,50,2024-06-30\n";
  struct collect c;
  assert_int_equal(run_body(body, sizeof body - 1, "linyi", "{}", &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 1);
  assert_string_equal(str(json_array_get(c.records, 0), "reported_at"), "2024-06-30T00:00:00+08:00");
  expect_reject(&c, 0, "line 2", "12,50,2024-06-30", "task_prefix");
  done(&c);
}

static void test_unparseable(void **st) {
  (void)st;
  char opts[1024];
  snprintf(opts, sizeof opts, "{%s}", linyi_columns);
  struct collect c;
  assert_int_equal(run("unterminated.csv", "linyi", opts, &c), DK_ERROR);
  if (strstr(c.failed, "line 3") == NULL) fail_msg("%s", c.failed);
  assert_non_null(strstr(c.failed, "unterminated"));
  done(&c);

  assert_int_equal(run_body("", 0, "linyi", opts, &c), DK_ERROR);
  assert_non_null(strstr(c.failed, "no header"));
  done(&c);

  /* a header from which no record could get a task */
  static const char body[] = "编号,完成比例\n12,50\n";
  assert_int_equal(run_body(body, sizeof body - 1, "linyi", opts, &c), DK_ERROR);
  assert_non_null(strstr(c.failed, "task"));
  assert_int_equal(json_array_size(c.records), 0);
  done(&c);
}

/* Bodies cut short in odd places end cleanly, never past the buffer (ASan). */
static void test_edges(void **st) {
  (void)st;
  struct collect c;
  static const char *const no_header[] = {"\xEF\xBB\xBF", "\n\r\n\n"};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(run_body(no_header[i], strlen(no_header[i]), "linyi", "{}", &c), DK_ERROR);
    assert_non_null(strstr(c.failed, "no header"));
    done(&c);
  }
  static const char open_quote[] = "task,percent,reported_at\n\"";
  assert_int_equal(run_body(open_quote, sizeof open_quote - 1, "linyi", "{}", &c), DK_ERROR);
  assert_non_null(strstr(c.failed, "line 2"));
  done(&c);

  /* a GBK lead byte with nothing after it; no final newline */
  static const char cut[] = "task,percent,reported_at\njnly-2024/12,50,2024-06-30\xD2";
  assert_int_equal(run_body(cut, sizeof cut - 1, "linyi", "{\"encoding\": \"GBK\"}", &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 0);
  expect_reject(&c, 0, "line 2", "jnly-2024/12,50,2024-06-30\xEF\xBF\xBD", "not GBK");
  done(&c);

  static const char stray[] = "task,percent,reported_at\n\"jnly-2024/12\"x,50,2024-06-30\njnly-2024/13,50,2024-06-30";
  assert_int_equal(run_body(stray, sizeof stray - 1, "linyi", "{}", &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 1);
  expect_reject(&c, 0, "line 2", "\"jnly-2024/12\"x", "after a closing quote");
  done(&c);
}

/* A login page where the export should be. */
static const char login_page[] =
    "<!DOCTYPE html>\r\n<html>\n  <head>\n    <title>统一身份认证平台 - 登录</title>\n  </head>\n"
    "  <body><form action=\"/sso/login\" method=\"post\"></form></body>\n</html>\n";
/* ... as the message shows it: blanks folded, the first 80 characters. */
static const char login_start[] =
    "<!DOCTYPE html> <html> <head> <title>统一身份认证平台 - 登录</title> </head> <body><form a…";

/* An HTML page is refused whatever its case or parameters, with the start
 * of the page; the many other types CSV is served as, or none, are taken. */
static void test_content_type(void **st) {
  (void)st;
  static const char csv[] = "task,percent,reported_at\njnly-2024/12,50,2024-06-30\n";
  struct collect c;
  static const char *const html[] = {"text/html", "text/html; charset=utf-8", "TEXT/HTML;charset=GBK",
                                     " application/xhtml+xml"};
  for (size_t i = 0; i < sizeof html / sizeof *html; i++) {
    assert_int_equal(run_typed(login_page, sizeof login_page - 1, "linyi", html[i], "{}", &c), DK_ERROR);
    char want[512];
    snprintf(want, sizeof want, "expected CSV, got %s: %s", i < 3 ? "text/html" : "application/xhtml+xml",
             login_start);
    assert_string_equal(c.failed, want);
    assert_int_equal(json_array_size(c.records), 0);
    done(&c);
  }
  /* even a page that would scan as CSV */
  assert_int_equal(run_typed(csv, sizeof csv - 1, "linyi", "text/html", "{}", &c), DK_ERROR);
  assert_string_equal(c.failed, "expected CSV, got text/html: task,percent,reported_at jnly-2024/12,50,2024-06-30");
  done(&c);
  assert_int_equal(run_typed("", 0, "linyi", "text/html", "{}", &c), DK_ERROR);
  assert_string_equal(c.failed, "expected CSV, got text/html: (empty body)");
  done(&c);

  static const char *const other[] = {"text/csv", "text/csv; charset=GBK", "text/plain",
                                      "application/vnd.ms-excel", "application/octet-stream", "", NULL};
  for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
    assert_int_equal(run_typed(csv, sizeof csv - 1, "linyi", other[i], "{}", &c), DK_OK);
    assert_int_equal(json_array_size(c.records), 1);
    done(&c);
  }
}

/* options.content_types: only the types listed, parameters ignored. */
static void test_content_type_allowed(void **st) {
  (void)st;
  static const char csv[] = "task,percent,reported_at\njnly-2024/12,50,2024-06-30\n";
  static const char opts[] = "{\"content_types\": [\"text/csv\", \"application/vnd.ms-excel\"]}";
  struct collect c;
  static const char *const ok[] = {"text/csv", "Text/CSV; charset=GBK", "application/vnd.ms-excel"};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    assert_int_equal(run_typed(csv, sizeof csv - 1, "linyi", ok[i], opts, &c), DK_OK);
    assert_int_equal(json_array_size(c.records), 1);
    done(&c);
  }
  assert_int_equal(run_typed(csv, sizeof csv - 1, "linyi", "text/plain", opts, &c), DK_ERROR);
  assert_string_equal(c.failed, "expected CSV, got text/plain (not in options.content_types): "
                                "task,percent,reported_at jnly-2024/12,50,2024-06-30");
  assert_int_equal(json_array_size(c.records), 0);
  done(&c);
  assert_int_equal(run_typed(csv, sizeof csv - 1, "linyi", NULL, opts, &c), DK_ERROR);
  assert_non_null(strstr(c.failed, "expected CSV, got no Content-Type (not in options.content_types): "));
  done(&c);
  assert_int_equal(run_typed(login_page, sizeof login_page - 1, "linyi", "text/html", opts, &c), DK_ERROR);
  assert_non_null(strstr(c.failed, login_start));
  done(&c);
  /* the allow-list replaces the HTML rule */
  assert_int_equal(run_typed(csv, sizeof csv - 1, "linyi", "text/html", "{\"content_types\": [\"text/html\"]}", &c),
                   DK_OK);
  assert_int_equal(json_array_size(c.records), 1);
  done(&c);
}

static void test_options_schema(void **st) {
  (void)st;
  struct dk_loader ld;
  const struct dk_plugin *p = plugin_load(&ld, "csv");
  static const char *const refused[] = {
    "{\"encoding\": \"latin1\"}", "{\"unknown\": 1}", "{\"delimiter\": \";;\"}",
    "{\"types\": {\"percent\": \"float\"}}", "{\"columns\": {\"任务编号\": 12}}", "{\"timezone\": \"CST\"}",
    "{\"content_types\": \"text/csv\"}", "{\"content_types\": []}", "{\"content_types\": [\"csv\"]}",
    "{\"content_types\": [\"text/csv; charset=GBK\"]}",
  };
  char err[DK_ERRBUF_SIZE];
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    json_t *o = json_loads(refused[i], 0, NULL);
    assert_non_null(o);
    if (dk_schemas_check_options(p, o, NULL, err) == 0) fail_msg("accepted %s", refused[i]);
    json_decref(o);
  }
  json_t *o = json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:s, s:s, s:s, s:[s,s]}", "encoding",
                        "GB18030", "delimiter", ";", "kind", "progress", "columns", "任务编号", "task", "constants",
                        "city", "linyi", "types", "percent", "integer", "id", "{task}/{city}/{period}",
                        "period_from", "reported_at", "task_prefix", "jnly-2024/", "content_types", "text/csv",
                        "application/vnd.ms-excel");
  if (dk_schemas_check_options(p, o, NULL, err) != 0) fail_msg("refused: %s", err);
  json_decref(o);
  dk_loader_free(&ld);
}

static int teardown(void **st) {
  (void)st;
  dk_schemas_shutdown();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_utf8_bom_crlf),
    cmocka_unit_test(test_gbk),
    cmocka_unit_test(test_gb18030_pipe),
    cmocka_unit_test(test_bad_rows),
    cmocka_unit_test(test_bad_gbk_bytes),
    cmocka_unit_test(test_bare_task_needs_prefix),
    cmocka_unit_test(test_unparseable),
    cmocka_unit_test(test_edges),
    cmocka_unit_test(test_content_type),
    cmocka_unit_test(test_content_type_allowed),
    cmocka_unit_test(test_options_schema),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}

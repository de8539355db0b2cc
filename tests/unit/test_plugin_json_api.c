/* json-api through the real loader: records taken as served or mapped by
 * JSON Pointers, items that are not objects refused with their place, bodies
 * that are not JSON failing with where, the three kinds of pagination (a
 * next field, page_param, the Link header) with relative URLs resolved
 * against the response's, and HTML refused by its Content-Type. */
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

static const char api_url[] = "https://jinan.example/api/v1/tasks?page=1";

/* When not 0: the size of the emit struct handed to the plugin, as a core
 * built against an older header would have it. */
static size_t older_core;

/* Parse the response r with `options` (JSON text); returns the parse result
 * with c filled (next pages allowed). Every record must validate. */
static enum dk_result run_resp(const char *options, struct test_resp *r, struct collect *c) {
  struct dk_loader ld;
  const struct dk_plugin *p = plugin_load(&ld, "json-api");
  json_t *opts = json_loads(options, 0, NULL);
  assert_non_null(opts);
  char err[DK_ERRBUF_SIZE] = "";
  if (dk_schemas_check_options(p, opts, NULL, err) != 0) fail_msg("options refused: %s", err);
  struct dk_source src = {.size = sizeof src, .name = "jinan-tasks", .city = "jinan", .url = api_url, .options = opts};
  void *state = NULL;
  if (p->init(&state, &src, err, sizeof err) != 0) fail_msg("init: %s", err);
  collect_init(c);
  if (older_core) collect_as_older_core(c, older_core);
  c->paging = true;
  enum dk_result res = p->parse(state, &r->resp, &c->emit);
  p->fini(state);
  json_decref(opts);
  dk_loader_free(&ld);
  check_records(c->records);
  return res;
}

/* run_resp for page 1 of `body`, served from `url` as `content_type`. */
static enum dk_result run(const char *body, const char *url, const char *content_type, const char *options,
                          struct collect *c) {
  struct test_resp r;
  resp_init(&r, 1, url, content_type, body, strlen(body));
  return run_resp(options, &r, c);
}

/* The single next page asked for, or NULL when none was. */
static const char *next_page(const struct collect *c) {
  if (json_array_size(c->next_pages) > 1) fail_msg("%zu next pages", json_array_size(c->next_pages));
  return json_string_value(json_array_get(c->next_pages, 0));
}

/* Fail the test unless `got` equals the JSON text `want_text`. */
static void assert_json(const json_t *got, const char *want_text) {
  json_t *want = json_loads(want_text, 0, NULL);
  assert_non_null(want);
  if (!json_equal(got, want)) {
    char *dump = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    print_error("got %s\n", dump ? dump : "?");
    free(dump);
    fail_msg("want %s", want_text);
  }
  json_decref(want);
}

#define TASK12 \
  "{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 12, \"title\": \"联合做强两市优势产业\"}"
#define TASK13 \
  "{\"kind\": \"task\", \"id\": \"jnly-2024/13\", \"plan\": \"jnly-2024\", \"number\": 13, \"title\": \"强化项目招引落地\"}"

/* Canonical records are taken as they are, from a top-level array or /records. */
static void test_records_as_served(void **st) {
  (void)st;
  struct collect c;
  assert_int_equal(run("[" TASK12 ", " TASK13 "]", api_url, "application/json", "{}", &c), DK_OK);
  assert_json(c.records, "[" TASK12 ", " TASK13 "]");
  assert_int_equal(json_array_size(c.rejects), 0);
  assert_null(next_page(&c));
  collect_free(&c);

  assert_int_equal(run("{\"records\": [" TASK13 "], \"total\": 1}", api_url, "application/json", "{}", &c), DK_OK);
  assert_json(c.records, "[" TASK13 "]");
  collect_free(&c);

  /* a UTF-8 byte order mark is skipped */
  assert_int_equal(run("\xEF\xBB\xBF[" TASK12 "]", api_url, "application/json", "{}", &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 1);
  collect_free(&c);

  assert_int_equal(run("{\"data\": []}", api_url, "application/json", "{}", &c), DK_ERROR);
  assert_string_equal(c.failed, "no array of records at the top level or /records");
  collect_free(&c);
}

/* options.records + map + constants build tasks from the source's own fields. */
static void test_mapped_fixture(void **st) {
  (void)st;
  const char *data = getenv("DK_TEST_DATA");
  if (data == NULL) fail_msg("DK_TEST_DATA must be set (meson test does)");
  char path[4096];
  snprintf(path, sizeof path, "%s/../../plugins/json-api/fixtures/jinan-tasks-page1.json", data);
  size_t len;
  char *body = slurp(path, &len);
  struct test_resp r;
  resp_init(&r, 1, api_url, "application/json;charset=UTF-8", body, len);
  struct collect c;
  assert_int_equal(run_resp("{\"records\": \"/data/items\","
                            " \"map\": {\"id\": \"/code\", \"title\": \"/name\", \"number\": \"/no\","
                            "  \"plan\": \"/plan_code\", \"text\": \"/missing\"},"
                            " \"constants\": {\"kind\": \"task\"}, \"next\": \"/links/next\"}",
                            &r, &c),
                   DK_OK);
  /* a field whose pointer finds nothing is left out */
  assert_json(c.records, "[" TASK12 ", " TASK13 "]");
  assert_int_equal(json_array_size(c.rejects), 0);
  assert_string_equal(next_page(&c), "https://jinan.example/api/tasks?page=2");
  collect_free(&c);

  /* pointers reach into arrays and escape '/' and '~'; "01" is no index */
  assert_int_equal(run("{\"a/b\": [{\"x~y\": [\"jnly-2024/12\", 12]}]}", api_url, NULL,
                       "{\"records\": \"/a~1b\", \"map\": {\"id\": \"/x~0y/0\", \"number\": \"/x~0y/1\","
                       " \"text\": \"/x~0y/01\"}, \"constants\": {\"kind\": \"task\", \"plan\": \"jnly-2024\","
                       " \"title\": \"t\"}}",
                       &c),
                   DK_OK);
  assert_json(c.records, "[{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"number\": 12, \"plan\": \"jnly-2024\","
                         " \"title\": \"t\"}]");
  collect_free(&c);
  free(body);
}

/* Reject #i is at `where`, with `raw` as its text, for not being an object. */
static void expect_reject(const struct collect *c, size_t i, const char *where, const char *raw) {
  const json_t *r = json_array_get(c->rejects, i);
  if (r == NULL) fail_msg("no reject #%zu (want %s)", i, where);
  assert_string_equal(json_string_value(json_object_get(r, "where")), where);
  assert_string_equal(json_string_value(json_object_get(r, "raw")), raw);
  assert_string_equal(json_string_value(json_object_get(r, "why")), "a record must be a JSON object");
}

/* An item that is not an object is refused with its place; the rest go on. */
static void test_not_an_object(void **st) {
  (void)st;
  struct collect c;
  assert_int_equal(run("{\"records\": [" TASK12 ", 3, \"x\", [1], null, " TASK13 "]}", api_url, NULL, "{}", &c),
                   DK_OK);
  assert_json(c.records, "[" TASK12 ", " TASK13 "]");
  assert_int_equal(json_array_size(c.rejects), 4);
  expect_reject(&c, 0, "/records/1", "3");
  expect_reject(&c, 1, "/records/2", "\"x\"");
  expect_reject(&c, 2, "/records/3", "[1]");
  expect_reject(&c, 3, "/records/4", "null");
  collect_free(&c);

  assert_int_equal(run("[true, " TASK12 "]", api_url, NULL, "{}", &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 1);
  expect_reject(&c, 0, "/0", "true");
  collect_free(&c);

  assert_int_equal(run("{\"data\": {\"items\": [" TASK12 ", 1.5]}}", api_url, NULL, "{\"records\": \"/data/items\"}",
                       &c),
                   DK_OK);
  assert_int_equal(json_array_size(c.records), 1);
  expect_reject(&c, 0, "/data/items/1", "1.5");
  collect_free(&c);
}

/* A body that is not JSON, or not UTF-8, fails the parse with line and column. */
static void test_not_json(void **st) {
  (void)st;
  struct collect c;
  assert_int_equal(run("{\"records\": [\n  {\"id\": 1,}\n]}", api_url, NULL, "{}", &c), DK_ERROR);
  if (strncmp(c.failed, "response is not JSON: ", 22) != 0 || strstr(c.failed, "at line 2, column 12") == NULL)
    fail_msg("%s", c.failed);
  collect_free(&c);

  assert_int_equal(run("", api_url, NULL, "{}", &c), DK_ERROR);
  assert_non_null(strstr(c.failed, "response is not JSON"));
  collect_free(&c);

  /* a bad byte, a sequence cut short, an overlong '/', a surrogate */
  static const char *const bad[] = {"[{\"title\": \"\xFF\"}]", "[{\"title\": \"\xE8\xAF\"}]",
                                    "[{\"title\": \"\xC0\xAF\"}]", "[{\"title\": \"\xED\xA0\x80\"}]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(run(bad[i], api_url, NULL, "{}", &c), DK_ERROR);
    if (strstr(c.failed, "response is not JSON") == NULL || strstr(c.failed, "line 1, column") == NULL)
      fail_msg("#%zu: %s", i, c.failed);
    assert_int_equal(json_array_size(c.records), 0);
    collect_free(&c);
  }
}

/* options.next: the URL in the body, resolved against the response's URL. */
static void test_next_field(void **st) {
  (void)st;
  static const char opts[] = "{\"records\": \"/items\", \"next\": \"/next\"}";
  static const struct {
    const char *next, *url, *want;
  } cases[] = {
    {"\"https://api.jinan.example/v2/tasks?cursor=abc\"", api_url, "https://api.jinan.example/v2/tasks?cursor=abc"},
    {"\"/api/tasks?page=2\"", api_url, "https://jinan.example/api/tasks?page=2"},
    {"\"tasks?page=2\"", api_url, "https://jinan.example/api/v1/tasks?page=2"},
    {"\"../v2/tasks\"", api_url, "https://jinan.example/api/v2/tasks"},
    {"\"?page=2\"", api_url, "https://jinan.example/api/v1/tasks?page=2"},
    {"\"//cdn.jinan.example/t.json\"", api_url, "https://cdn.jinan.example/t.json"},
    /* "://" in a query does not make a URL absolute */
    {"\"/go?to=http://x.example/\"", api_url, "https://jinan.example/go?to=http://x.example/"},
    /* a base with no path */
    {"\"tasks.json\"", "http://jinan.example?x=1", "http://jinan.example/tasks.json"},
    {"\"/a/./b/../c\"", "http://jinan.example:8080", "http://jinan.example:8080/a/c"},
    {"null", api_url, NULL},
    {"\"\"", api_url, NULL},
    {"2", api_url, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char body[256];
    snprintf(body, sizeof body, "{\"items\": [" TASK12 "], \"next\": %s}", cases[i].next);
    struct collect c;
    assert_int_equal(run(body, cases[i].url, NULL, opts, &c), DK_OK);
    assert_int_equal(json_array_size(c.records), 1);
    const char *got = next_page(&c);
    if (cases[i].want == NULL ? got != NULL : got == NULL || strcmp(got, cases[i].want) != 0)
      fail_msg("next %s from %s: got %s, want %s", cases[i].next, cases[i].url, got ? got : "none",
               cases[i].want ? cases[i].want : "none");
    collect_free(&c);
  }
  /* no next field at all */
  struct collect c;
  assert_int_equal(run("{\"items\": [" TASK12 "]}", api_url, NULL, opts, &c), DK_OK);
  assert_null(next_page(&c));
  collect_free(&c);

  /* http and https may lead to each other, files to files, but a server's
   * body must not send the core to a local file */
  assert_int_equal(run("{\"items\": [], \"next\": \"http://jinan.example/p2\"}", api_url, NULL, opts, &c), DK_OK);
  assert_string_equal(next_page(&c), "http://jinan.example/p2");
  collect_free(&c);
  assert_int_equal(run("{\"items\": [], \"next\": \"p2.json\"}", "file:///srv/p1.json", NULL, opts, &c), DK_OK);
  assert_string_equal(next_page(&c), "file:///srv/p2.json");
  collect_free(&c);
  assert_int_equal(run("{\"items\": [" TASK12 "], \"next\": \"FILE:///etc/passwd\"}", api_url, NULL, opts, &c),
                   DK_ERROR);
  assert_string_equal(c.failed, "the next page FILE:///etc/passwd would leave "
                                "https://jinan.example/api/v1/tasks?page=1 for another scheme; refused");
  assert_null(next_page(&c));
  collect_free(&c);
}

/* options.page_param: page N+1 while page N brought items. */
static void test_page_param(void **st) {
  (void)st;
  static const char opts[] = "{\"page_param\": \"page\"}";
  static const struct {
    unsigned page;
    const char *url, *want;
  } cases[] = {
    {1, "http://h.example/api/tasks?year=2024", "http://h.example/api/tasks?year=2024&page=2"},
    {1, "http://h.example/api/tasks", "http://h.example/api/tasks?page=2"},
    {2, "http://h.example/api/tasks?page=2&year=2024", "http://h.example/api/tasks?year=2024&page=3"},
    {3, "http://h.example/api/tasks?pagesize=10&page=3", "http://h.example/api/tasks?pagesize=10&page=4"},
    {9, "http://h.example/api/tasks?page=9#top", "http://h.example/api/tasks?page=10"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct test_resp r;
    static const char body[] = "[" TASK12 "]";
    resp_init(&r, cases[i].page, cases[i].url, "application/json", body, sizeof body - 1);
    struct collect c;
    assert_int_equal(run_resp(opts, &r, &c), DK_OK);
    const char *got = next_page(&c);
    if (got == NULL || strcmp(got, cases[i].want) != 0)
      fail_msg("page %u of %s: got %s, want %s", cases[i].page, cases[i].url, got ? got : "none", cases[i].want);
    collect_free(&c);
  }
  /* an empty page ends the listing */
  struct test_resp r;
  resp_init(&r, 4, "http://h.example/api/tasks?page=4", NULL, "[]", 2);
  struct collect c;
  assert_int_equal(run_resp(opts, &r, &c), DK_OK);
  assert_null(next_page(&c));
  collect_free(&c);
  /* a page whose items were all refused is not empty: the listing goes on */
  resp_init(&r, 4, "http://h.example/api/tasks?page=4", NULL, "[1]", 3);
  assert_int_equal(run_resp(opts, &r, &c), DK_OK);
  assert_int_equal(json_array_size(c.rejects), 1);
  assert_string_equal(next_page(&c), "http://h.example/api/tasks?page=5");
  collect_free(&c);
}

/* options.link_header: the rel="next" target of the Link header, resolved. */
static void test_link_header(void **st) {
  (void)st;
  static const char opts[] = "{\"link_header\": true}";
  static const char body[] = "[" TASK12 "]";
  static const struct {
    const char *link, *want;
  } cases[] = {
    {"<http://h/x?page=2>; rel=\"next\"", "http://h/x?page=2"},
    {"<http://h/x?page=1>; rel=\"prev\", <http://h/x?page=3>; rel=\"next\"", "http://h/x?page=3"},
    {"<http://h/x?page=3>; rel=\"next\", <http://h/x?page=1>; rel=\"prev\"", "http://h/x?page=3"},
    {"<http://h/x?page=1>; rel=prev, <http://h/x?page=3>; rel=next", "http://h/x?page=3"},
    {"<http://h/x?page=1>;rel=prev,<http://h/x?page=3>;rel=next", "http://h/x?page=3"},
    {"<http://h/x?page=9>; rel=\"last\"; title=\"a, b; rel=next\", <http://h/x?page=3> ; REL = \"Next\"",
     "http://h/x?page=3"},
    {"<http://h/x?page=3>; rel=\"next last\"", "http://h/x?page=3"},
    {"</api/v1/tasks?page=2>; rel=\"next\"", "https://jinan.example/api/v1/tasks?page=2"},
    {"<?page=2>; rel=\"next\"", "https://jinan.example/api/v1/tasks?page=2"},
    {"<tasks-2.json>; rel=\"next\"", "https://jinan.example/api/v1/tasks-2.json"},
    {"<http://h/x?page=1>; rel=\"prev\", <http://h/x?page=9>; rel=\"last\"", NULL},
    {"<http://h/x?page=2>; rel=\"next-archive\"", NULL},
    {"<http://h/x?page=2>; rel=\"prev\"; rel=\"next\"", NULL}, /* only the first rel counts */
    {"<http://h/x?page=2", NULL},
    {"<x>; rel=prev, junk, <http://h/x?page=3>; rel=next", "http://h/x?page=3"},
    {"", NULL},
    {NULL, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct test_resp r;
    resp_init(&r, 1, api_url, "application/json", body, sizeof body - 1);
    resp_header(&r, "Content-Type", "application/json");
    if (cases[i].link) resp_header(&r, "Link", cases[i].link);
    struct collect c;
    assert_int_equal(run_resp(opts, &r, &c), DK_OK);
    assert_int_equal(json_array_size(c.records), 1);
    const char *got = next_page(&c);
    if (cases[i].want == NULL ? got != NULL : got == NULL || strcmp(got, cases[i].want) != 0)
      fail_msg("Link: %s: got %s, want %s", cases[i].link ? cases[i].link : "(none)", got ? got : "none",
               cases[i].want ? cases[i].want : "none");
    collect_free(&c);
  }
}

/* A login page where the data should be. */
static const char login_page[] =
    "<!DOCTYPE html>\r\n<html>\n  <head>\n    <title>统一身份认证平台 - 登录</title>\n  </head>\n"
    "  <body><form action=\"/sso/login\" method=\"post\"></form></body>\n</html>\n";

/* HTML is refused with the start of the page; other types or none are taken,
 * unless options.content_types lists the only ones accepted. */
static void test_content_type(void **st) {
  (void)st;
  struct collect c;
  static const char *const html[] = {"text/html", "text/html; charset=utf-8", "Text/HTML ;charset=GBK",
                                     "application/xhtml+xml"};
  for (size_t i = 0; i < sizeof html / sizeof *html; i++) {
    assert_int_equal(run(login_page, api_url, html[i], "{}", &c), DK_ERROR);
    char want[512];
    snprintf(want, sizeof want,
             "expected JSON, got %s: <!DOCTYPE html> <html> <head> <title>统一身份认证平台 - 登录</title> </head> "
             "<body><form a…",
             i < 3 ? "text/html" : "application/xhtml+xml");
    assert_string_equal(c.failed, want);
    assert_int_equal(json_array_size(c.records), 0);
    collect_free(&c);
  }
  /* refused before parsing, even when the body is JSON; bytes that are not UTF-8 are shown as U+FFFD */
  assert_int_equal(run("[\"\xFF\"]", api_url, "text/html", "{}", &c), DK_ERROR);
  assert_string_equal(c.failed, "expected JSON, got text/html: [\"\xEF\xBF\xBD\"]");
  collect_free(&c);

  static const char *const other[] = {"application/json", "application/json; charset=utf-8", "text/plain",
                                      "application/octet-stream", "text/javascript", NULL};
  for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
    assert_int_equal(run("[" TASK12 "]", api_url, other[i], "{}", &c), DK_OK);
    assert_int_equal(json_array_size(c.records), 1);
    collect_free(&c);
  }

  static const char allow[] = "{\"content_types\": [\"application/json\", \"application/vnd.api+json\"]}";
  static const char *const allowed[] = {"application/json", "APPLICATION/JSON; charset=utf-8",
                                        "application/vnd.api+json"};
  for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
    assert_int_equal(run("[" TASK12 "]", api_url, allowed[i], allow, &c), DK_OK);
    assert_int_equal(json_array_size(c.records), 1);
    collect_free(&c);
  }
  assert_int_equal(run("[" TASK12 "]", api_url, "text/plain", allow, &c), DK_ERROR);
  assert_string_equal(c.failed, "expected JSON, got text/plain (not in options.content_types): "
                                "[{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", "
                                "\"number\": 12, \"titl…");
  assert_int_equal(json_array_size(c.records), 0);
  collect_free(&c);
  assert_int_equal(run("[]", api_url, NULL, allow, &c), DK_ERROR);
  assert_string_equal(c.failed, "expected JSON, got no Content-Type (not in options.content_types): []");
  collect_free(&c);
  assert_int_equal(run(login_page, api_url, "text/html", allow, &c), DK_ERROR);
  assert_non_null(strstr(c.failed, "expected JSON, got text/html (not in options.content_types): <!DOCTYPE"));
  collect_free(&c);
}

/* The options schema refuses what the plugin could not use. */
static void test_options_schema(void **st) {
  (void)st;
  struct dk_loader ld;
  const struct dk_plugin *p = plugin_load(&ld, "json-api");
  static const char *const refused[] = {
    "{\"records\": \"data\"}", "{\"unknown\": 1}", "{\"map\": {\"id\": 1}}", "{\"link_header\": \"yes\"}",
    "{\"page_param\": \"a b\"}", "{\"content_types\": \"application/json\"}", "{\"content_types\": []}",
    "{\"content_types\": [\"json\"]}", "{\"content_types\": [\"application/json; charset=utf-8\"]}",
  };
  char err[DK_ERRBUF_SIZE];
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    json_t *o = json_loads(refused[i], 0, NULL);
    assert_non_null(o);
    if (dk_schemas_check_options(p, o, NULL, err) == 0) fail_msg("accepted %s", refused[i]);
    json_decref(o);
  }
  json_t *o = json_loads("{\"records\": \"/data/items\", \"map\": {\"id\": \"/code\"},"
                         " \"constants\": {\"kind\": \"task\"}, \"next\": \"/links/next\", \"link_header\": false,"
                         " \"page_param\": \"page\","
                         " \"content_types\": [\"application/json\", \"text/plain\"]}",
                         0, NULL);
  assert_non_null(o);
  if (dk_schemas_check_options(p, o, NULL, err) != 0) fail_msg("refused: %s", err);
  json_decref(o);
  dk_loader_free(&ld);
}

/* options.deleted: an item marked deleted becomes a tombstone, not a record. */
static void test_tombstones(void **st) {
  (void)st;
  struct collect c;
  const char *body = "{\"items\": ["
                     "{\"code\": \"jnly-2024/12\", \"plan_code\": \"jnly-2024\", \"no\": 12, \"name\": \"x\"},"
                     "{\"code\": \"jnly-2024/13\", \"is_deleted\": true, \"why\": \"merged into task 12\"},"
                     "{\"code\": \"jnly-2024/14\", \"is_deleted\": \"withdrawn by the plan's revision\"},"
                     "{\"code\": \"jnly-2024/15\", \"is_deleted\": false, \"plan_code\": \"jnly-2024\","
                     " \"no\": 15, \"name\": \"y\"},"
                     "{\"code\": \"../escape\", \"is_deleted\": true}]}";
  const char *opts = "{\"records\": \"/items\", \"constants\": {\"kind\": \"task\"},"
                     " \"map\": {\"id\": \"/code\", \"plan\": \"/plan_code\", \"number\": \"/no\", \"title\": \"/name\"},"
                     " \"deleted\": \"/is_deleted\", \"deleted_reason\": \"/why\"}";
  assert_int_equal(run(body, api_url, "application/json", opts, &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 2);
  assert_json(c.tombstones, "[{\"kind\": \"task\", \"id\": \"jnly-2024/13\", \"reason\": \"merged into task 12\"},"
                            " {\"kind\": \"task\", \"id\": \"jnly-2024/14\", \"reason\": \"withdrawn by the plan's revision\"},"
                             " {\"kind\": \"task\", \"id\": \"../escape\", \"reason\": null}]");
  collect_free(&c);
}

/* In a core that has no tombstone or resolve_url (an emit struct as an
 * older header had it): a deleted item is rejected rather than lost, an
 * absolute next page is taken as it is, a relative one refused, saying why. */
static void test_older_core(void **st) {
  (void)st;
  struct collect c;
  older_core = offsetof(struct dk_emit, tombstone);
  const char *opts = "{\"records\": \"/items\", \"deleted\": \"/gone\", \"next\": \"/next\"}";
  assert_int_equal(run("{\"items\": [{\"kind\": \"task\", \"id\": \"jnly-2024/13\", \"gone\": true}],"
                       " \"next\": \"https://jinan.example/api/v1/tasks?page=2\"}", api_url, NULL, opts, &c), DK_OK);
  assert_null(c.tombstones);
  assert_int_equal(json_array_size(c.rejects), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(c.rejects, 0), "why")),
                      "a deleted item cannot be passed on: this duikou takes no tombstones (upgrade duikou)");
  assert_string_equal(next_page(&c), "https://jinan.example/api/v1/tasks?page=2");
  collect_free(&c);
  assert_int_equal(run("{\"items\": [], \"next\": \"?page=2\"}", api_url, NULL, opts, &c), DK_ERROR);
  assert_string_equal(c.failed, "the next page ?page=2 is relative, and this duikou cannot resolve URLs for plugins "
                                "(no resolve_url): upgrade duikou");
  assert_null(next_page(&c));
  collect_free(&c);
  /* a core with tombstone but not resolve_url */
  older_core = offsetof(struct dk_emit, resolve_url);
  assert_int_equal(run("{\"items\": [{\"kind\": \"task\", \"id\": \"jnly-2024/13\", \"gone\": true}]}", api_url,
                       NULL, opts, &c), DK_OK);
  assert_int_equal(json_array_size(c.tombstones), 1);
  assert_int_equal(json_array_size(c.rejects), 0);
  collect_free(&c);
  older_core = 0;
}

static int teardown(void **st) {
  (void)st;
  dk_schemas_shutdown();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_records_as_served),
    cmocka_unit_test(test_mapped_fixture),
    cmocka_unit_test(test_not_an_object),
    cmocka_unit_test(test_not_json),
    cmocka_unit_test(test_next_field),
    cmocka_unit_test(test_page_param),
    cmocka_unit_test(test_link_header),
    cmocka_unit_test(test_content_type),
    cmocka_unit_test(test_options_schema),
    cmocka_unit_test(test_tombstones),
    cmocka_unit_test(test_older_core),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}

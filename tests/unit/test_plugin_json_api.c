/* json-api through the real loader: records taken as served or mapped by
 * JSON Pointers, items that are not objects refused with their place, bodies
 * that are not JSON failing with where, the three kinds of pagination (a
 * next field, page_param, the Link header) with relative URLs resolved
 * against the response's, and HTML refused by its Content-Type. Every test
 * also runs with emit->held offered (holding nothing), where the scanner
 * takes the page, and must give the same; the held tests check that what
 * the core holds is not emitted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "canonical.h"
#include "loader.h"
#include "schemas.h"
#include "plugin_harness.h"

static const char api_url[] = "https://jinan.example/api/v1/tasks?page=1";

/* When not 0: the size of the emit struct handed to the plugin, as a core
 * built against an older header would have it. */
static size_t older_core;
/* When set: the emit offers held(), answering 1 for the texts of hold_texts
 * (a JSON array of strings, or NULL for none). */
static int offer_held;
static void (*offer_prev)(struct collect *c); /* sets c's previous page before the parse */
static json_t *hold_texts;

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
  if (offer_held) collect_offer_held(c);
  size_t k;
  json_t *t;
  json_array_foreach(hold_texts, k, t) collect_hold(c, json_string_value(t), json_string_length(t));
  if (older_core) collect_as_older_core(c, older_core);
  if (offer_prev) offer_prev(c);
  c->body = r->resp.body;
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


#define TASK14 \
  "{\"kind\": \"task\", \"id\": \"jnly-2024/14\", \"plan\": \"jnly-2024\", \"number\": 14, \"title\": \"t14\"}"
/* A task carrying `extra` (any object: room for nesting and numbers). */
#define TASKX(extra) \
  "{\"kind\": \"task\", \"id\": \"jnly-2024/20\", \"plan\": \"jnly-2024\", \"number\": 20, \"title\": \"t\", \"extra\": " extra "}"

/* Hold these texts (NULL-terminated) in the runs that follow; none with NULL. */
static void hold(const char *const *texts) {
  json_decref(hold_texts);
  hold_texts = NULL;
  if (texts == NULL) return;
  hold_texts = json_array();
  for (; *texts; texts++) assert_int_equal(json_array_append_new(hold_texts, json_string(*texts)), 0);
}

/* Whether two collected values are the same (NULL only equals NULL). */
static bool same(const json_t *a, const json_t *b) {
  return (a == NULL && b == NULL) || json_equal(a, b);
}

/* Parse body (len bytes) with `options` the old way (no held) and with
 * held offered but holding nothing: the same result, records, rejects,
 * tombstones, next pages and failure, `want` as the result. `fast` says
 * whether the scanner must have taken the page (held was asked) or left it
 * to the full parse. */
static void assert_both_ways(const char *body, size_t len, const char *options, enum dk_result want, bool fast) {
  struct test_resp r;
  struct collect old, scan;
  resp_init(&r, 1, api_url, "application/json", body, len);
  offer_held = 0;
  enum dk_result res_old = run_resp(options, &r, &old);
  offer_held = 1;
  enum dk_result res_scan = run_resp(options, &r, &scan);
  offer_held = 0;
  if (res_old != want || res_scan != want)
    fail_msg("%.80s: results %d and %d, want %d (%s)", body, res_old, res_scan, want, old.failed);
  if (!same(old.records, scan.records) || !same(old.rejects, scan.rejects) || !same(old.tombstones, scan.tombstones) ||
      !same(old.next_pages, scan.next_pages) || strcmp(old.failed, scan.failed) != 0) {
    char *a = json_dumps(scan.records, JSON_COMPACT), *b = json_dumps(scan.rejects, JSON_COMPACT);
    print_error("scanner: %s %s \"%s\"\n", a ? a : "?", b ? b : "?", scan.failed);
    free(a);
    free(b);
    a = json_dumps(old.records, JSON_COMPACT), b = json_dumps(old.rejects, JSON_COMPACT);
    print_error("full parse: %s %s \"%s\"\n", a ? a : "?", b ? b : "?", old.failed);
    free(a);
    free(b);
    fail_msg("%.120s: the two ways differ", body);
  }
  assert_int_equal(scan.nheld, 0);
  if (fast != (scan.held_asked > 0)) fail_msg("%.120s: held asked %zu times", body, scan.held_asked);
  collect_free(&old);
  collect_free(&scan);
}

/* `n` levels of array around "1" ("[[1]]" for 2), malloc'd. */
static char *nested(unsigned short n) {
  char *s = malloc(2 * (size_t)n + 2);
  assert_non_null(s);
  memset(s, '[', n);
  s[n] = '1';
  memset(s + n + 1, ']', n);
  s[2 * (size_t)n + 1] = '\0';
  return s;
}

/* Holding nothing, the scanner gives what the full parse gives: bodies it
 * takes (whitespace, strings with escaped quotes and brackets, unicode
 * escapes, numbers, nesting, pointers, next pages) and bodies it leaves to
 * the full parse (not JSON, not UTF-8, cut short, no array), which fail as
 * they did. */
static void test_held_same_output(void **st) {
  (void)st;
  static const struct {
    const char *body, *options;
    enum dk_result want;
    bool fast;
  } cases[] = {
    {"[" TASK12 " , \n\t" TASK13 "\r\n]", "{}", DK_OK, true},
    {" \n{\"total\": 2, \"records\" : [ " TASK12 " ] , \"tail\": {\"a\": [1, {\"b\": \"]}\\\"[\"}]}} \r\n", "{}", DK_OK, true},
    {"\xEF\xBB\xBF[" TASK12 "]", "{}", DK_OK, true},
    {"[{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 12,"
     " \"title\": \"a\\\"]}\\\\\", \"text\": \"\\\\\\\"[{\"}]", "{}", DK_OK, true},
    {"[{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 12,"
     " \"title\": \"\\u8054\\u5408 \\ud83d\\ude00 \\u00E9 \\/ \\b\\f\\n\\r\\t 联合 \xF0\x9F\x98\x80\"}]", "{}", DK_OK, true},
    {"[" TASKX("{\"f\": -1.5e-3, \"z\": 0, \"n\": -0, \"e\": 1E+2, \"g\": 2.5E-400, \"i\": -9223372036854775808,"
               " \"big\": 123456789012345678901234567890, \"inf\": 1e999999, \"l\": [true, false, null]}") "]",
     "{}", DK_OK, true},
    {"{\"records\": [" TASK12 ", 3, \"x\\\"]\", [1, [2]], null, true, -2.5, 1e999999,"
     " 123456789012345678901234567890], \"total\": 1e999999}", "{}", DK_OK, true},
    {"{\"a/b\": [{\"x~y\": [" TASK12 "]}]}", "{\"records\": \"/a~1b/0/x~0y\"}", DK_OK, true},
    {"{\"data\": {\"items\": [" TASK13 "]}, \"links\": {\"next\": \"/api/tasks?page=2\"}}",
     "{\"records\": \"/data/items\", \"next\": \"/links/next\"}", DK_OK, true},
    {"{\"items\": [" TASK13 "], \"next\": null}", "{\"records\": \"/items\", \"next\": \"/next\"}", DK_OK, true},
    {"{\"items\": [" TASK13 "], \"next\": 2}", "{\"records\": \"/items\", \"next\": \"/next\"}", DK_OK, true},
    {"{\"items\": [" TASK13 "], \"next\": 1e999999}", "{\"records\": \"/items\", \"next\": \"/next\"}", DK_OK, true},
    {"{\"items\": [" TASK13 "], \"next\": \"FILE:///etc/passwd\"}", "{\"records\": \"/items\", \"next\": \"/next\"}",
     DK_ERROR, true},
    {"{\"items\": [" TASK13 "]}", "{\"records\": \"/items\", \"next\": \"/nope/x\"}", DK_OK, true},
    {"[" TASK12 "]", "{\"records\": \"\"}", DK_OK, true},
    /* left to the full parse, which gives what it gave */
    {"{\"items\": [" TASK13 "], \"n\\u0065xt\": \"p3\", \"next\": \"p2\"}", "{\"records\": \"/items\", \"next\": \"/next\"}",
     DK_OK, false},
    {"{\"records\": [" TASK12 "], \"records\": [" TASK13 "]}", "{}", DK_OK, false},
    {"[" TASK12 ", {\"kind\": \"task\", \"title\": \"\xFF\"}]", "{}", DK_ERROR, false},
    {"[" TASK12 ", {\"kind\": \"task\", \"title\": \"\xE8\xAF\"}]", "{}", DK_ERROR, false},
    {"[" TASK12 ", {\"kind\": \"task\", \"title\": \"\xED\xA0\x80\"}]", "{}", DK_ERROR, false},
    {"[" TASK12 ", {\"kind\": \"task\", \"title\": \"a\x01\"}]", "{}", DK_ERROR, false},
    {"[" TASK12 ", {\"kind\": \"task\", \"title\": \"a\\u0000b\"}]", "{}", DK_ERROR, false},
    {"[" TASK12 ", {\"kind\": \"task\", \"title\": \"\\ud800\"}]", "{}", DK_ERROR, false},
    {"[" TASK12 ", {\"kind\": \"task\", \"title\": \"\\x\"}]", "{}", DK_ERROR, false},
    {"[" TASK12 ", {\"kind\": ", "{}", DK_ERROR, false},
    {"[" TASK12 ",]", "{}", DK_ERROR, false},
    {"[" TASK12 "] x", "{}", DK_ERROR, false},
    {"[" TASK12 ", 01]", "{}", DK_ERROR, false},
    {"[" TASK12 ", 1.]", "{}", DK_ERROR, false},
    {"[" TASK12 ", -]", "{}", DK_ERROR, false},
    {"[" TASK12 ", tru]", "{}", DK_ERROR, false},
    {"{\"records\": {\"a\": " TASK12 "}}", "{}", DK_ERROR, false},
    {"{\"data\": {\"items\": 3}}", "{\"records\": \"/data/items\"}", DK_ERROR, false},
    {"{\"data\": []}", "{}", DK_ERROR, false},
    {"3", "{}", DK_ERROR, false},
    {"", "{}", DK_ERROR, false},
    {"   ", "{}", DK_ERROR, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    assert_both_ways(cases[i].body, strlen(cases[i].body), cases[i].options, cases[i].want, cases[i].fast);

  /* a NUL byte in a string, or between values */
  static const char nul1[] = "[" TASK12 ", {\"kind\": \"t\0\"}]", nul2[] = "[" TASK12 ",\0 1]";
  assert_both_ways(nul1, sizeof nul1 - 1, "{}", DK_ERROR, false);
  assert_both_ways(nul2, sizeof nul2 - 1, "{}", DK_ERROR, false);

  /* nesting: within the scanner's depth, past it (left to jansson, which
   * takes it), past jansson's (the page fails) */
  static const struct {
    unsigned short depth;
    enum dk_result want;
    bool fast;
  } deep[] = {{300, DK_OK, true}, {600, DK_OK, false}, {3000, DK_ERROR, false}};
  for (size_t i = 0; i < sizeof deep / sizeof *deep; i++) {
    char *n = nested(deep[i].depth);
    size_t cap = 3 * strlen(n) + 512;
    char *body = malloc(cap);
    assert_non_null(body);
    snprintf(body, cap, "{\"records\": [" TASKX("{\"d\": %s}") ", %s], \"tail\": %s}", n, n, n);
    assert_both_ways(body, strlen(body), "{}", deep[i].want, deep[i].fast);
    free(body);
    free(n);
  }
}

/* What the core holds is counted, not emitted; the rest comes in order,
 * with the places of rejects and the next page as before. */
static void test_held_records(void **st) {
  (void)st;
  struct collect c;
  offer_held = 1;
  hold((const char *const[]){TASK12, TASK14, NULL});
  assert_int_equal(run("{\"data\": {\"items\": [" TASK12 ", 3, " TASK13 ", " TASK14 ", [1]]},"
                       " \"links\": {\"next\": \"/api/tasks?page=2\"}}",
                       api_url, "application/json", "{\"records\": \"/data/items\", \"next\": \"/links/next\"}", &c),
                   DK_OK);
  assert_json(c.records, "[" TASK13 "]");
  assert_int_equal(c.nheld, 2);
  assert_int_equal(c.held_asked, 3); /* objects only */
  assert_int_equal(json_array_size(c.rejects), 2);
  expect_reject(&c, 0, "/data/items/1", "3");
  expect_reject(&c, 1, "/data/items/4", "[1]");
  assert_string_equal(next_page(&c), "https://jinan.example/api/tasks?page=2");
  collect_free(&c);

  /* byte for byte: the same record spaced otherwise is not held */
  hold((const char *const[]){"{\"kind\":\"task\",\"id\":\"jnly-2024/12\",\"plan\":\"jnly-2024\",\"number\":12,"
                             "\"title\":\"联合做强两市优势产业\"}", NULL});
  assert_int_equal(run("[" TASK12 ", {\"kind\":\"task\",\"id\":\"jnly-2024/12\",\"plan\":\"jnly-2024\",\"number\":12,"
                       "\"title\":\"联合做强两市优势产业\"}, " TASK13 "]", api_url, NULL, "{}", &c),
                   DK_OK);
  assert_json(c.records, "[" TASK12 ", " TASK13 "]");
  assert_int_equal(c.nheld, 1);
  collect_free(&c);

  /* a page whose items are all held is not empty: the listing goes on */
  hold((const char *const[]){TASK12, NULL});
  struct test_resp r;
  static const char one[] = "[" TASK12 "]";
  resp_init(&r, 4, "http://h.example/api/tasks?page=4", NULL, one, sizeof one - 1);
  assert_int_equal(run_resp("{\"page_param\": \"page\"}", &r, &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 0);
  assert_int_equal(c.nheld, 1);
  assert_string_equal(next_page(&c), "http://h.example/api/tasks?page=5");
  collect_free(&c);

  /* a deleted item is a tombstone even when held; one not deleted is held */
  static const char gone[] = TASKX("{\"gone\": true}"), kept[] = TASKX("{\"gone\": \"\"}");
  hold((const char *const[]){gone, kept, TASK12, NULL});
  assert_int_equal(run("[" TASK12 ", " TASKX("{\"gone\": true}") ", " TASKX("{\"gone\": \"\"}") ", " TASK13 "]", api_url,
                       NULL, "{\"deleted\": \"/extra/gone\"}", &c),
                   DK_OK);
  assert_json(c.records, "[" TASK13 "]");
  assert_json(c.tombstones, "[{\"kind\": \"task\", \"id\": \"jnly-2024/20\", \"reason\": null}]");
  assert_int_equal(c.nheld, 2);
  assert_int_equal(c.held_asked, 3);
  collect_free(&c);

  /* a map builds other records than the items: held is not asked */
  hold((const char *const[]){"{\"code\": \"jnly-2024/12\"}", NULL});
  assert_int_equal(run("[{\"code\": \"jnly-2024/12\"}]", api_url, NULL,
                       "{\"map\": {\"id\": \"/code\"}, \"constants\": {\"kind\": \"task\", \"plan\": \"jnly-2024\","
                       " \"number\": 12, \"title\": \"t\"}}",
                       &c),
                   DK_OK);
  assert_int_equal(json_array_size(c.records), 1);
  assert_int_equal(c.held_asked, 0);
  collect_free(&c);

  /* a core without held (an emit struct as an older header had it) */
  hold((const char *const[]){TASK12, NULL});
  older_core = offsetof(struct dk_emit, held);
  assert_int_equal(run("[" TASK12 ", " TASK13 "]", api_url, NULL, "{}", &c), DK_OK);
  assert_json(c.records, "[" TASK12 ", " TASK13 "]");
  assert_int_equal(c.held_asked, 0);
  collect_free(&c);
  older_core = 0;
  hold(NULL);
  offer_held = 0;
}

/* 20,000 canonical records: 99% held leaves the other 1%, in order; none
 * held gives every record, as the full parse does. */
static void test_held_large(void **st) {
  (void)st;
  enum { N = 20000 };
  json_t *texts = json_array();
  size_t cap = 1 << 20, len = 0;
  char *body = malloc(cap);
  assert_non_null(body);
  len += (size_t)sprintf(body, "{\"records\": [\n");
  for (int i = 0; i < N; i++) {
    char id[48], plan[16], title[64];
    snprintf(plan, sizeof plan, "p%d-2024", i / 500); /* an id's number has 2 or 3 digits */
    snprintf(id, sizeof id, "%s/%d", plan, i % 500 + 100);
    snprintf(title, sizeof title, "任务 %d: \"a\\\"]}\" é", i + 1);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:s, s:{s:[i, f, b], s:n}}", "kind", "task", "id", id, "plan",
                            plan, "number", i % 500 + 100, "title", title, "extra", "n", i, 2.5, i % 2, "z");
    size_t n;
    char *dump = dk_canonical_dump(rec, &n);
    assert_non_null(dump);
    json_decref(rec);
    if (len + n + 8 > cap) assert_non_null(body = realloc(body, cap *= 2));
    memcpy(body + len, dump, n);
    len += n;
    body[len++] = i + 1 < N ? ',' : '\n';
    /* a blob ends with a newline, the record's text before it */
    size_t tn = n > 0 && dump[n - 1] == '\n' ? n - 1 : n;
    if (i % 100 != 0) assert_int_equal(json_array_append_new(texts, json_stringn(dump, tn)), 0);
    free(dump);
  }
  memcpy(body + len, "]}", 3);
  len += 2;

  hold_texts = texts;
  offer_held = 1;
  struct test_resp r;
  struct collect c;
  resp_init(&r, 1, api_url, "application/json", body, len);
  assert_int_equal(run_resp("{}", &r, &c), DK_OK);
  assert_int_equal(c.nheld, N - N / 100);
  assert_int_equal(json_array_size(c.records), N / 100);
  for (size_t i = 0; i < N / 100; i++) {
    char id[32];
    snprintf(id, sizeof id, "p%zu-2024/%zu", i / 5, i * 100 % 500 + 100);
    assert_string_equal(json_string_value(json_object_get(json_array_get(c.records, i), "id")), id);
  }
  collect_free(&c);
  hold(NULL);
  offer_held = 0;

  assert_both_ways(body, len, "{}", DK_OK, true);
  free(body);
}

static int teardown(void **st) {
  (void)st;
  dk_schemas_shutdown();
  return 0;
}

/* Run a test with held offered (holding nothing): the scanner's way. */
static int held_on(void **st) {
  (void)st;
  offer_held = 1;
  return 0;
}

static int held_off(void **st) {
  (void)st;
  offer_held = 0;
  return 0;
}

/* Each test as it is, then through the scanner. */
#define BOTH_WAYS(t) cmocka_unit_test(t), {#t " (held offered)", t, held_on, held_off, NULL}

/* The previous page as the core would keep it from a first parse. */
static const char *prev_body;
static size_t prev_items[16][2], prev_n, prev_region[2];
static void set_prev(struct collect *c) {
  collect_offer_previous(c, prev_body, strlen(prev_body), prev_region[0], prev_region[1],
                         (const size_t(*)[2])prev_items, prev_n);
}

#define TASKN(n, t) "{\"kind\": \"task\", \"id\": \"jnly-2024/" #n "\", \"plan\": \"jnly-2024\", \"number\": " #n \
                    ", \"title\": \"" t "\"}"

/* A page walked against the previous one: the items equal to one of it
 * are taken by held_previous, not asked about nor parsed; the others
 * (changed, added) are; a removed one leaves the walk in step; other text
 * around the items sends the page to the scanner. */
static void test_previous_page(void **st) {
  (void)st;
  struct collect c;
  offer_held = 1;
  static const char one[] = "[" TASKN(21, "a") ", " TASKN(22, "b") ",\n " TASKN(23, "c") "," TASKN(24, "d") ", " TASKN(25, "e") "]";
  assert_int_equal(run(one, api_url, "application/json", "{}", &c), DK_OK);
  assert_int_equal(json_array_size(c.records), 5);
  assert_true(c.has_region);
  assert_int_equal(c.region[0], 1);
  assert_int_equal(c.region[1], sizeof one - 2);
  assert_int_equal(json_array_size(c.asked), 5);
  prev_body = one;
  prev_n = json_array_size(c.asked);
  prev_region[0] = c.region[0], prev_region[1] = c.region[1];
  for (size_t k = 0; k < prev_n; k++)
    for (size_t j = 0; j < 2; j++)
      prev_items[k][j] = (size_t)json_integer_value(json_array_get(json_array_get(c.asked, k), j));
  collect_free(&c);

  offer_prev = set_prev;
  static const char two[] = "[" TASKN(21, "a") ", " TASKN(22, "B") ",\n " TASKN(23, "c") ", " TASKN(25, "e") ", " TASKN(26, "f") "]";
  assert_int_equal(run(two, api_url, "application/json", "{}", &c), DK_OK);
  assert_json(c.held_prev, "[0, 2, 4]");
  assert_json(c.records, "[" TASKN(22, "B") ", " TASKN(26, "f") "]");
  assert_int_equal(c.held_asked, 2); /* only the two it did not find */
  assert_int_equal(c.region[0], 1);
  assert_int_equal(c.region[1], sizeof two - 2);
  collect_free(&c);

  /* the same page: all five taken, none parsed */
  assert_int_equal(run(one, api_url, "application/json", "{}", &c), DK_OK);
  assert_json(c.held_prev, "[0, 1, 2, 3, 4]");
  assert_int_equal(json_array_size(c.records), 0);
  assert_int_equal(c.held_asked, 0);
  collect_free(&c);

  /* other text around the items: the whole page through the scanner */
  static const char wrapped[] = "{\"records\": [" TASKN(21, "a") "]}";
  assert_int_equal(run(wrapped, api_url, "application/json", "{}", &c), DK_OK);
  assert_null(c.held_prev);
  assert_int_equal(c.held_asked, 1);
  assert_json(c.records, "[" TASKN(21, "a") "]");
  collect_free(&c);

  /* an item that is not JSON fails the walk, and the scanner says why */
  static const char bad[] = "[" TASKN(21, "a") ", {\"kind\": } ]";
  assert_int_equal(run(bad, api_url, "application/json", "{}", &c), DK_ERROR);
  assert_null(c.held_prev);
  assert_true(c.failed[0] != '\0');
  collect_free(&c);
  offer_prev = NULL;
  offer_held = 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    BOTH_WAYS(test_records_as_served),
    BOTH_WAYS(test_mapped_fixture),
    BOTH_WAYS(test_not_an_object),
    BOTH_WAYS(test_not_json),
    BOTH_WAYS(test_next_field),
    BOTH_WAYS(test_page_param),
    BOTH_WAYS(test_link_header),
    BOTH_WAYS(test_content_type),
    cmocka_unit_test(test_options_schema),
    BOTH_WAYS(test_tombstones),
    BOTH_WAYS(test_older_core),
    cmocka_unit_test(test_held_same_output),
    cmocka_unit_test(test_held_records),
    cmocka_unit_test(test_previous_page),
    cmocka_unit_test(test_held_large),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}

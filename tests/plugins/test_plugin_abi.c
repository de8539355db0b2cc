/* The plugin ABI's compatibility rules, both ways (duikou/plugin.h): a
 * plugin built against an older header (a smaller struct dk_plugin) and one
 * built against a newer header (larger structs, members this core lacks)
 * both load and run through the real loader and the real adapters
 * (plugin_host.c); a plugin handed an emit struct whose size says it has no
 * tombstone or resolve_url does without; a struct smaller than the base is
 * refused; a code a plugin may not return becomes DK_EPLUGIN. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "loader.h"
#include "plugin_harness.h"
#include "plugin_host.h"
#include "run.h"

/* tests/plugins/<name>.so of the build tree through the real loader: the
 * loader's answer, with *out the plugin (NULL when refused). */
static int load(struct dk_loader *ld, const char *name, const struct dk_plugin **out) {
  const char *root = getenv("DK_BUILD_ROOT");
  if (root == NULL) fail_msg("DK_BUILD_ROOT must be set (meson test does)");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/plugins/%s.so", root, name);
  memset(ld, 0, sizeof *ld);
  const struct dk_plugin_entry *e = NULL;
  int rc = dk_loader_open(ld, path, &e);
  *out = e ? e->plugin : NULL;
  return rc;
}

/* A run as the engine sets one up, as far as the adapters look. */
struct fake_run {
  struct dk__run r;
  struct dk_source_conf src;
  struct dk_source_result res;
  json_t *options;
};

static void fake_run_init(struct fake_run *f, const struct dk_plugin *p, const char *options) {
  memset(f, 0, sizeof *f);
  f->options = json_loads(options ? options : "{}", 0, NULL);
  assert_non_null(f->options);
  f->src = (struct dk_source_conf){.name = "abi", .plugin = (char *)p->name, .city = "jinan",
                                   .url = "https://h.example/api/v1/tasks", .options = f->options};
  f->r.src = &f->src;
  f->r.plugin = p;
  f->r.res = &f->res;
  f->r.records = json_array();
  f->r.tombstones = json_array();
  f->r.page = 1;
  f->r.url = strdup(f->src.url);
}

static void fake_run_free(struct fake_run *f) {
  dk__plugin_fini(&f->r);
  json_decref(f->r.records);
  json_decref(f->r.tombstones);
  free(f->r.url);
  free(f->r.next_url);
  for (size_t i = 0; i < f->r.nheaders; i++) free(f->r.headers[i]);
  free(f->r.headers);
  json_decref(f->options);
}

/* init, prepare and parse of one page through the real adapters. */
static enum dk_result fake_run_page(struct fake_run *f, const char *body) {
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk__plugin_init(&f->r, err, sizeof err), 0);
  assert_int_equal(f->r.pub.size, sizeof(struct dk_source));
  assert_int_equal(dk__plugin_prepare(&f->r), 0);
  struct dk_http_res res = {.status = 200, .body = (char *)body, .body_len = strlen(body),
                            .effective_url = f->r.url, .content_type = "application/json"};
  return dk__plugin_parse(&f->r, &res);
}

/* Built against the first header of ABI 2: no `accept`. Taken, run, and
 * nothing past its struct_size read (the ASan build would see it). */
static void test_older_plugin(void **st) {
  (void)st;
  struct dk_loader ld;
  const struct dk_plugin *p;
  assert_int_equal(load(&ld, "old-header", &p), 0);
  assert_non_null(p);
  assert_true(p->struct_size < sizeof(struct dk_plugin));
  assert_int_equal(p->struct_size, DK_PLUGIN_BASE_SIZE);
  assert_false(DK_PLUGIN_HAS(p, accept));
  assert_true(DK_PLUGIN_HAS(p, fini));
  struct fake_run f;
  fake_run_init(&f, p, NULL);
  assert_int_equal(fake_run_page(&f, "[]"), DK_OK);
  assert_int_equal(f.r.nheaders, 0); /* no Accept: the plugin has none */
  assert_int_equal(json_array_size(f.r.records), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(f.r.records, 0), "title")), "old header");
  fake_run_free(&f);
  dk_loader_free(&ld);
}

/* Built against a newer header: its structs are larger than this core's.
 * Taken, its `accept` sent, and in this core it finds tombstone and
 * resolve_url but not the member the core does not have. */
static void test_newer_plugin(void **st) {
  (void)st;
  struct dk_loader ld;
  const struct dk_plugin *p;
  assert_int_equal(load(&ld, "new-header", &p), 0);
  assert_non_null(p);
  assert_true(p->struct_size > sizeof(struct dk_plugin));
  assert_true(DK_PLUGIN_HAS(p, accept));
  struct fake_run f;
  fake_run_init(&f, p, NULL);
  assert_int_equal(fake_run_page(&f, "{}"), DK_OK);
  assert_int_equal(f.r.nheaders, 1);
  assert_string_equal(f.r.headers[0], "Accept: application/x-probe");
  json_t *want = json_pack("[{s:s, s:b, s:b, s:b, s:s}]", "kind", "probe", "tombstone", 1, "resolve_url", 1,
                           "future", 0, "resolved", "https://h.example/api/next?page=2");
  assert_true(json_equal(f.r.records, want));
  json_decref(want);
  assert_int_equal(json_array_size(f.r.tombstones), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(f.r.tombstones, 0), "reason")), "gone");
  fake_run_free(&f);
  dk_loader_free(&ld);
}

/* The same plugin handed the emit struct of a core built before tombstone
 * (and resolve_url) were appended: it asks, and does without. */
static void test_older_core(void **st) {
  (void)st;
  struct dk_loader ld;
  const struct dk_plugin *p;
  assert_int_equal(load(&ld, "new-header", &p), 0);
  json_t *opts = json_object();
  struct dk_source src = {.size = sizeof src, .name = "abi", .city = "jinan", .url = "https://h.example/a",
                          .options = opts};
  void *state = NULL;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(p->init(&state, &src, err, sizeof err), 0);
  static const struct {
    size_t size;
    int tombstone, resolve_url;
  } cores[] = {
    {offsetof(struct dk_emit, tombstone), 0, 0},
    {offsetof(struct dk_emit, resolve_url), 1, 0},
    {sizeof(struct dk_emit), 1, 1},
  };
  for (size_t i = 0; i < sizeof cores / sizeof *cores; i++) {
    struct collect c;
    collect_init(&c);
    collect_as_older_core(&c, cores[i].size);
    struct test_resp r;
    resp_init(&r, 1, "https://h.example/api/v1/tasks", "application/json", "{}", 2);
    assert_int_equal(p->parse(state, &r.resp, &c.emit), DK_OK);
    json_t *rec = json_array_get(c.records, 0);
    assert_int_equal(json_is_true(json_object_get(rec, "tombstone")), cores[i].tombstone);
    assert_int_equal(json_is_true(json_object_get(rec, "resolve_url")), cores[i].resolve_url);
    assert_false(json_is_true(json_object_get(rec, "future")));
    assert_int_equal(json_array_size(c.tombstones), (size_t)cores[i].tombstone);
    assert_int_equal(json_array_size(c.rejects), (size_t)!cores[i].tombstone);
    if (cores[i].resolve_url)
      assert_string_equal(json_string_value(json_object_get(rec, "resolved")), "https://h.example/api/next?page=2");
    else
      assert_true(json_is_null(json_object_get(rec, "resolved")));
    collect_free(&c);
  }
  json_decref(opts);
  dk_loader_free(&ld);
}

/* Smaller than the base: refused, before any callback is looked at. */
static void test_too_small(void **st) {
  (void)st;
  struct dk_loader ld;
  const struct dk_plugin *p;
  assert_int_equal(load(&ld, "too-small", &p), DK_EABI);
  assert_null(p);
  assert_non_null(strstr(ld.err, "smaller than ABI 2 requires"));
  dk_loader_free(&ld);
}

/* A plugin's own codes pass; a core-only one (DK_EGIT) becomes DK_EPLUGIN. */
static void test_plugin_codes(void **st) {
  (void)st;
  struct dk_loader ld;
  const struct dk_plugin *p;
  assert_int_equal(load(&ld, "new-header", &p), 0);
  static const struct {
    int rc, want;
  } cases[] = {{DK_ECONFIG, DK_ECONFIG}, {DK_ENOMEM, DK_ENOMEM}, {DK_EGIT, DK_EPLUGIN}, {-1000, DK_EPLUGIN}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char opts[64], err[DK_ERRBUF_SIZE];
    snprintf(opts, sizeof opts, "{\"init_rc\": %d}", cases[i].rc);
    struct fake_run f;
    fake_run_init(&f, p, opts);
    assert_int_equal(dk__plugin_init(&f.r, err, sizeof err), cases[i].want);
    assert_false(f.r.pstate_live);
    fake_run_free(&f);
  }
  dk_loader_free(&ld);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_older_plugin), cmocka_unit_test(test_newer_plugin), cmocka_unit_test(test_older_core),
    cmocka_unit_test(test_too_small), cmocka_unit_test(test_plugin_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

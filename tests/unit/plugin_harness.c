#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "plugin_harness.h"
#include "error.h"
#include "http.h"
#include "schemas.h"
#include "util.h"

static int c_record(struct dk_emit *e, json_t *rec) {
  struct collect *c = (struct collect *)e;
  return json_array_append_new(c->records, rec) == 0 ? 0 : DK_ENOMEM;
}

static void c_reject(struct dk_emit *e, const char *where, const char *raw, const char *fmt, ...) {
  struct collect *c = (struct collect *)e;
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  json_t *r = json_pack("{s:s, s:s, s:s}", "where", where, "raw", raw, "why", why);
  assert_non_null(r);
  json_array_append_new(c->rejects, r);
}

static void c_next_page(struct dk_emit *e, const char *url) {
  struct collect *c = (struct collect *)e;
  if (!c->paging) fail_msg("unexpected next_page %s", url);
  /* made on first use: callers that free the arrays by hand know only two */
  if (c->next_pages == NULL) c->next_pages = json_array();
  assert_int_equal(json_array_append_new(c->next_pages, json_string(url)), 0);
}

static void c_fail(struct dk_emit *e, const char *fmt, ...) {
  struct collect *c = (struct collect *)e;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->failed, sizeof c->failed, fmt, ap);
  va_end(ap);
}

static void c_log(struct dk_emit *e, enum dk_log_level level, const char *fmt, ...) {}

static int c_tombstone(struct dk_emit *e, const char *kind, const char *id, const char *reason) {
  struct collect *c = (struct collect *)e;
  if (c->tombstones == NULL) c->tombstones = json_array();
  assert_int_equal(json_array_append_new(c->tombstones, json_pack("{s:s, s:s, s:s?}", "kind", kind, "id", id,
                                                                   "reason", reason)), 0);
  return 0;
}

/* The core's own resolver, as the real emit adapter offers it. */
static const char *c_resolve_url(struct dk_emit *e, const char *base, const char *ref) {
  struct collect *c = (struct collect *)e;
  char *url = dk_http_resolve(base, ref);
  if (url == NULL) return NULL;
  if (c->resolved == NULL) c->resolved = json_array();
  assert_int_equal(json_array_append_new(c->resolved, json_string(url)), 0);
  free(url);
  return json_string_value(json_array_get(c->resolved, json_array_size(c->resolved) - 1));
}

/* The core's held(), from a set of texts instead of blob ids. */
static int c_held(struct dk_emit *e, const char *json, size_t len) {
  struct collect *c = (struct collect *)e;
  c->held_asked++;
  if (c->body) {
    if (c->asked == NULL) c->asked = json_array();
    json_array_append_new(c->asked, json_pack("[I, I]", (json_int_t)(json - c->body), (json_int_t)len));
  }
  if (json_object_getn(c->holds, json, len) == NULL) return 0;
  c->nheld++;
  return 1;
}

static void c_region(struct dk_emit *e, const char *first, const char *end) {
  struct collect *c = (struct collect *)e;
  assert_non_null(c->body);
  c->region[0] = (size_t)(first - c->body);
  c->region[1] = (size_t)(end - c->body);
  c->has_region = true;
}

static const char *c_previous(struct dk_emit *e, size_t *len, size_t *first, size_t *end) {
  struct collect *c = (struct collect *)e;
  *len = c->prev_len;
  *first = c->prev_first;
  *end = c->prev_end;
  return c->prev;
}

static const char *c_previous_item(struct dk_emit *e, size_t k, size_t *len) {
  struct collect *c = (struct collect *)e;
  if (c->prev == NULL || k >= c->nprev) return NULL;
  *len = c->prev_items[k][1];
  return c->prev + c->prev_items[k][0];
}

static int c_held_previous(struct dk_emit *e, size_t k, const char *json) {
  struct collect *c = (struct collect *)e;
  if (k >= c->nprev) return DK_EINVAL;
  /* the plugin's claim is checked here: the item is that one, byte for byte */
  assert_memory_equal(json, c->prev + c->prev_items[k][0], c->prev_items[k][1]);
  if (c->held_prev == NULL) c->held_prev = json_array();
  json_array_append_new(c->held_prev, json_integer((json_int_t)k));
  return 0;
}

void collect_offer_previous(struct collect *c, const char *prev, size_t len, size_t first, size_t end,
                            const size_t (*items)[2], size_t n) {
  collect_offer_held(c);
  c->prev = prev;
  c->prev_len = len;
  c->prev_first = first;
  c->prev_end = end;
  c->prev_items = items;
  c->nprev = n;
  c->emit.previous = c_previous;
  c->emit.previous_item = c_previous_item;
  c->emit.held_previous = c_held_previous;
}

void collect_offer_held(struct collect *c) {
  if (c->holds == NULL) c->holds = json_object();
  assert_non_null(c->holds);
  c->emit.held = c_held;
}

void collect_hold(struct collect *c, const char *json, size_t len) {
  collect_offer_held(c);
  assert_int_equal(json_object_setn_new(c->holds, json, len, json_true()), 0);
}

void collect_init(struct collect *c) {
  *c = (struct collect){.emit = {.size = sizeof c->emit, .record = c_record, .reject = c_reject,
                                 .next_page = c_next_page, .fail = c_fail, .log = c_log,
                                 .tombstone = c_tombstone, .resolve_url = c_resolve_url, .region = c_region},
                        .records = json_array(), .rejects = json_array()};
}

void collect_as_older_core(struct collect *c, size_t size) {
  c->emit.size = (uint32_t)size;
  /* what an older core's struct ends before is not there at all */
  if (!DK_EMIT_HAS(&c->emit, resolve_url)) c->emit.resolve_url = NULL;
  if (!DK_EMIT_HAS(&c->emit, tombstone)) c->emit.tombstone = NULL;
  if (!DK_EMIT_HAS(&c->emit, held)) c->emit.held = NULL;
  if (!DK_EMIT_HAS(&c->emit, region)) c->emit.region = NULL;
  if (!DK_EMIT_HAS(&c->emit, held_previous))
    c->emit.previous = NULL, c->emit.previous_item = NULL, c->emit.held_previous = NULL;
}

void collect_free(struct collect *c) {
  json_decref(c->records);
  json_decref(c->rejects);
  json_decref(c->asked);
  json_decref(c->held_prev);
  json_decref(c->next_pages);
  json_decref(c->tombstones);
  json_decref(c->resolved);
  json_decref(c->holds);
  c->records = c->rejects = c->next_pages = c->tombstones = c->resolved = c->holds = NULL;
}

static const char *r_header(const struct dk_response *resp, const char *name) {
  const struct test_resp *r = (const struct test_resp *)resp;
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->names[i], name) == 0) return r->values[i];
  return NULL;
}

void resp_init(struct test_resp *r, unsigned page, const char *url, const char *content_type, const char *body,
               size_t len) {
  *r = (struct test_resp){.resp = {.size = sizeof r->resp, .page = page, .status = 200, .url = url, .content_type = content_type,
                                   .body = body, .body_len = len, .header = r_header}};
}

void resp_header(struct test_resp *r, const char *name, const char *value) {
  if (r->nheaders == sizeof r->names / sizeof *r->names) fail_msg("too many headers");
  r->names[r->nheaders] = name;
  r->values[r->nheaders++] = value;
}

const struct dk_plugin *plugin_load(struct dk_loader *ld, const char *name) {
  const char *root = getenv("DK_BUILD_ROOT");
  if (root == NULL) fail_msg("DK_BUILD_ROOT must be set (meson test does)");
  char path[4096];
  snprintf(path, sizeof path, "%s/plugins/%s/%s.so", root, name, name);
  memset(ld, 0, sizeof *ld);
  const struct dk_plugin_entry *entry = NULL;
  if (dk_loader_open(ld, path, &entry) != 0) fail_msg("%s: %s", path, ld->err);
  assert_non_null(entry->plugin);
  assert_string_equal(entry->plugin->name, name);
  return entry->plugin;
}

void check_records(const json_t *records) {
  size_t i;
  json_t *rec;
  json_array_foreach(records, i, rec) {
    char err[DK_ERRBUF_SIZE] = "";
    struct dk_vresult vr = {0};
    int rc = dk_schemas_validate_record(rec, &vr, err);
    if (rc != 1) {
      for (size_t k = 0; k < vr.nerrors; k++)
        print_error("  %s: %s\n", vr.errors[k].instance_location, vr.errors[k].message);
      dk_vresult_free(&vr);
      char *dump = json_dumps(rec, JSON_COMPACT);
      print_error("%s\n", dump ? dump : "?");
      free(dump);
      const char *id = json_string_value(json_object_get(rec, "id"));
      fail_msg("invalid record %s %s", id ? id : "(no id)", rc < 0 ? err : "");
    }
  }
}

char *slurp(const char *path, size_t *len) {
  char err[DK_ERRBUF_SIZE], *data = NULL;
  if (dk_read_file(path, &data, len, err) != 0) fail_msg("%s", err);
  return data;
}

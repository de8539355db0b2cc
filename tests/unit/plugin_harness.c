#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "plugin_harness.h"
#include "error.h"
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

static void c_next_page(struct dk_emit *e, const char *url) { fail_msg("unexpected next_page %s", url); }

static void c_fail(struct dk_emit *e, const char *fmt, ...) {
  struct collect *c = (struct collect *)e;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->failed, sizeof c->failed, fmt, ap);
  va_end(ap);
}

static void c_log(struct dk_emit *e, enum dk_log_level level, const char *fmt, ...) {}

void collect_init(struct collect *c) {
  *c = (struct collect){.emit = {c_record, c_reject, c_next_page, c_fail, c_log},
                        .records = json_array(), .rejects = json_array()};
}

void collect_free(struct collect *c) {
  json_decref(c->records);
  json_decref(c->rejects);
  c->records = c->rejects = NULL;
}

char *slurp(const char *path, size_t *len) {
  char err[DK_ERRBUF_SIZE], *data = NULL;
  if (dk_read_file(path, &data, len, err) != 0) fail_msg("%s", err);
  return data;
}

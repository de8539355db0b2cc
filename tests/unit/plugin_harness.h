/* What the plugin tests share: loading a plugin of the build tree, an
 * emitter that collects what a plugin hands over (records, rejected items,
 * next pages, the failure message), resolves URLs with the core's
 * resolver and, when asked to, answers held() from a set of texts, a
 * response with headers, a record check
 * and a file reader that fails the test when the file is missing. */
#ifndef DK_TEST_PLUGIN_HARNESS_H
#define DK_TEST_PLUGIN_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include "duikou/plugin.h"
#include "loader.h"

struct collect {
  struct dk_emit emit; /* first: the plugin gets &collect.emit */
  json_t *records;
  json_t *rejects;     /* [{"where", "raw", "why"}] */
  json_t *next_pages;  /* URLs asked for with next_page; NULL until one is */
  json_t *tombstones;  /* [{"kind", "id", "reason"}]; NULL until one is */
  json_t *resolved;    /* what resolve_url gave (owned here); NULL until it gave one */
  json_t *holds;       /* the texts held() answers 1 for (keys); NULL: the emit has no held */
  size_t nheld;        /* how many times held() answered 1: records counted as emitted */
  size_t held_asked;   /* how many times held() was called */
  bool paging;         /* false (the default): a next_page fails the test */
  const char *body;    /* the body being parsed, for the places below (set by the caller) */
  json_t *asked;       /* [[off, len]] of each text held() was asked about, in body */
  size_t region[2];    /* what region() said, as offsets in body */
  bool has_region;
  /* the previous page, as collect_offer_previous set it */
  const char *prev;
  size_t prev_len, prev_first, prev_end;
  const size_t (*prev_items)[2];
  size_t nprev;
  json_t *held_prev;   /* the k of each held_previous, in order */
  char failed[512];
};

/* A fresh collector; release with collect_free. */
void collect_init(struct collect *c);
void collect_free(struct collect *c);
/* Make c's emit look like the one of a core built against an older header:
 * `size` bytes (offsetof(struct dk_emit, tombstone), say), and the members
 * past it NULL, as they would be memory that is not there. */
void collect_as_older_core(struct collect *c, size_t size);
/* Give c's emit a held callback, as a core that keeps its records' blob ids
 * does; it answers 1 for the texts collect_hold adds (none yet). */
void collect_offer_held(struct collect *c);
/* Make held() answer 1 for the JSON text `json` (len bytes, UTF-8), byte
 * for byte; offers held if it was not. */
void collect_hold(struct collect *c, const char *json, size_t len);

/* Give c's emit region, previous, previous_item and held_previous, as a
 * core that kept the page `prev` (len bytes, its items in [first, end),
 * items[k] the offset and length of its k-th kept item) does. Borrowed. */
void collect_offer_previous(struct collect *c, const char *prev, size_t len, size_t first, size_t end,
                            const size_t (*items)[2], size_t n);

/* A response as the core hands it to parse (status 200); its `header`
 * callback answers, case-insensitively, from the headers added with
 * resp_header. Everything is borrowed. */
struct test_resp {
  struct dk_response resp; /* first: the plugin gets &test_resp.resp */
  const char *names[8], *values[8];
  size_t nheaders;
};

void resp_init(struct test_resp *r, unsigned page, const char *url, const char *content_type, const char *body,
               size_t len);
/* Add a header; fails the test past 8. */
void resp_header(struct test_resp *r, const char *name, const char *value);

/* plugins/<name>/<name>.so of the build tree ($DK_BUILD_ROOT) through the
 * real loader; fails the test when it cannot be loaded or has another name.
 * Release with dk_loader_free(ld). */
const struct dk_plugin *plugin_load(struct dk_loader *ld, const char *name);
/* Fail the test unless every record validates against its kind's schema. */
void check_records(const json_t *records);
/* The whole file, NUL-terminated (caller frees); fails the test if unreadable. */
char *slurp(const char *path, size_t *len);

#endif

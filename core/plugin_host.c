#include "plugin_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "index.h"
#include "log.h"
#include "pack.h"
#include "previous.h"
#include "seen.h"
#include "quarantine.h"
#include "record.h"
#include "util.h"

struct dk__emit {
  struct dk_emit pub; /* first: the plugin sees only this */
  struct dk__run *run;
  char **urls; /* what resolve_url gave, freed after the parse */
  size_t nurls;
};

/* The code a plugin returned, or DK_EPLUGIN when it is not one of those a
 * plugin may return (DK_PLUGIN_ERRNO_MAP): a plugin's DK_EGIT must not pass
 * for the snapshot repository's. */
static int dk__plugin_code(int rc) {
  switch (rc) {
#define DK__OK_CODE(name, value, text) case DK_##name:
    DK_PLUGIN_ERRNO_MAP(DK__OK_CODE)
#undef DK__OK_CODE
    case 0:
      return rc;
  }
  return DK_EPLUGIN;
}

static int dk__emit_record(struct dk_emit *e, json_t *rec) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  if (rec == NULL) return DK_EINVAL;
  size_t i = json_array_size(r->records);
  if (i >= r->capraws) {
    size_t cap = r->capraws ? 2 * r->capraws : 256;
    r->raws = dk_realloc(r->raws, cap * sizeof *r->raws);
    memset(r->raws + r->capraws, 0, (cap - r->capraws) * sizeof *r->raws);
    r->capraws = cap;
  }
  r->raws[i].set = r->has_pending_raw;
  r->raws[i].span = (struct dk__span){0};
  if (r->has_pending_raw) r->raws[i].oid = r->pending_raw, r->raws[i].span = r->pending_span;
  r->has_pending_raw = 0;
  json_array_append_new(r->records, rec);
  return 0;
}

/* Where json (len bytes) lies in the page being parsed, or no span when
 * it is not in it. */
static struct dk__span dk__span_of(const struct dk__run *r, const char *json, size_t len) {
  if (r->cur_body == NULL || json < r->cur_body || (size_t)(json - r->cur_body) > r->cur_len ||
      len > r->cur_len - (size_t)(json - r->cur_body))
    return (struct dk__span){0};
  return (struct dk__span){r->page, (size_t)(json - r->cur_body), len};
}

static struct dk__held *dk__held_add(struct dk__run *r) {
  if (r->nheld == r->capheld) {
    r->capheld = r->capheld ? 2 * r->capheld : 256;
    r->held = dk_realloc(r->held, r->capheld * sizeof *r->held);
  }
  struct dk__held *h = &r->held[r->nheld++];
  memset(h, 0, sizeof *h);
  return h;
}

/* The record's text as served is the blob the source branch holds (the
 * canonical bytes end in a newline the served array does not carry). */
static int dk__emit_held(struct dk_emit *e, const char *json, size_t len) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  r->has_pending_raw = 0;
  if (r->ctx->index == NULL || json == NULL) return 0;
  git_oid oid, raw;
  int has_raw = 0;
  const char *path = NULL;
  /* Two ways to know a record: its text is the blob the branch holds (less
   * its last newline), or its text's hash maps to such a blob (.seen). A
   * source serves all its records in one form: the way that knew the last
   * one is tried first, so that each record is hashed once. */
  for (int k = 0; k < 2 && path == NULL && !r->revalidate; k++) {
    if ((k == 0) == (r->held_by_raw != 0)) {
      dk_object_id(GIT_OBJECT_BLOB, json, len, &raw);
      has_raw = 1;
      if (dk_seen_get(dk__run_seen(r), &raw, &oid)) path = dk_index_source_by_oid(r->ctx->index, r->sidx, &oid);
      if (path) r->held_by_raw = 1;
    } else {
      dk_object_id2(GIT_OBJECT_BLOB, json, len, "\n", 1, &oid);
      path = dk_index_source_by_oid(r->ctx->index, r->sidx, &oid);
      if (path) r->held_by_raw = 0;
    }
  }
  if (path == NULL) {
    if (!has_raw) dk_object_id(GIT_OBJECT_BLOB, json, len, &raw);
    r->pending_raw = raw;
    r->pending_span = dk__span_of(r, json, len);
    r->has_pending_raw = 1;
    return 0;
  }
  struct dk__held *h = dk__held_add(r);
  h->path = path;
  h->oid = oid;
  h->has_raw = has_raw;
  if (has_raw) h->raw = raw;
  h->span = dk__span_of(r, json, len);
  return 1;
}

static void dk__emit_region(struct dk_emit *e, const char *first, const char *end) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  if (end < first || r->npages == 0) return;
  struct dk__span s = dk__span_of(r, first, (size_t)(end - first));
  if (s.page == 0) return;
  struct dk__page *pg = &r->pages[r->npages - 1]; /* the page being parsed (dk__plugin_parse) */
  pg->first = s.off;
  pg->end = s.off + s.len;
  pg->has_region = 1;
}

/* The previous file, loaded on the first parse that may use it (on the
 * parse's worker: only the run touches it), or NULL. */
static const struct dk_prev *dk__prev_load(struct dk__run *r) {
  if (!r->prev_ok || r->revalidate) return NULL;
  if (!r->prev_tried) {
    r->prev_tried = 1;
    char err[DK_ERRBUF_SIZE];
    int rc = dk_prev_load(r->ctx->cfg->state, r->src->name, r->prev_tag, &r->prev, err);
    if (rc == DK_EINVALID) dk_log(DK_LOG_WARN, "source", r->src->name, NULL, "%s: not used", err);
  }
  return r->prev;
}

static const char *dk__emit_previous(struct dk_emit *e, size_t *len, size_t *first, size_t *end) {
  const struct dk_prev_page *pg = ((struct dk__emit *)e)->run->prev_page;
  if (pg == NULL) return NULL;
  *len = pg->len;
  *first = pg->first;
  *end = pg->end;
  return pg->body;
}

static const char *dk__emit_previous_item(struct dk_emit *e, size_t k, size_t *len) {
  const struct dk_prev_page *pg = ((struct dk__emit *)e)->run->prev_page;
  if (pg == NULL || k >= pg->nitems) return NULL;
  *len = pg->items[k].len;
  return pg->body + pg->items[k].off;
}

static int dk__emit_held_previous(struct dk_emit *e, size_t k, const char *json) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  const struct dk_prev_page *pg = r->prev_page;
  if (pg == NULL || k >= pg->nitems) return DK_EINVAL;
  const struct dk_prev_item *it = &pg->items[k];
  r->has_pending_raw = 0;
  struct dk__held *h = dk__held_add(r);
  h->path = dk_prev_path(r->prev, it);
  memcpy(h->oid.id, it->oid, GIT_OID_RAWSZ);
  h->has_raw = it->has_raw != 0;
  if (h->has_raw) memcpy(h->raw.id, it->raw, GIT_OID_RAWSZ);
  h->raw_filed = 1;
  h->span = dk__span_of(r, json, it->len);
  return 0;
}

static void dk__emit_reject(struct dk_emit *e, const char *where, const char *raw, const char *fmt, ...) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  r->has_pending_raw = 0;
  char msg[DK_ERRBUF_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  r->res->rejected++;
  dk_log(DK_LOG_WARN, "source", r->src->name, "where", where, NULL, "item refused by plugin %s: %s",
         r->plugin->name, msg);
  json_t *errors = json_pack("[s]", msg);
  char name[DK_QUARANTINE_NAME_LEN + 1], err[DK_ERRBUF_SIZE];
  struct dk_quarantine_item it = {.source = r->src->name, .city = r->src->city, .url = r->url, .where = where,
                                  .raw = raw ? raw : "", .errors = errors};
  if (dk_quarantine_put(r->ctx->cfg->state, &it, name, err) < 0)
    dk_log(DK_LOG_ERROR, "source", r->src->name, "where", where, NULL, "cannot quarantine: %s", err);
  else
    r->quarantined_rejects++;
  json_decref(errors);
}

static int dk__emit_tombstone(struct dk_emit *e, const char *kind, const char *id, const char *reason) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  r->has_pending_raw = 0;
  json_t *probe = json_pack("{s:s?, s:s?}", "kind", kind, "id", id);
  char *path = NULL, err[DK_ERRBUF_SIZE];
  int rc = probe ? dk_record_path(probe, &path, err) : DK_EINVAL;
  json_decref(probe);
  if (rc != 0) {
    dk_log(DK_LOG_WARN, "source", r->src->name, "record", id, NULL, "tombstone refused: %s", err);
    return DK_EINVAL;
  }
  json_array_append_new(r->tombstones, json_pack("{s:s, s:s}", "path", path, "reason",
                                                 reason && *reason ? reason : "deleted by the source"));
  free(path);
  return 0;
}

static int dk__is_http(const char *url) {
  return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* A next page may only be http(s) after an http(s) page: a body must never
 * send the engine to a local file or another protocol. */
static void dk__emit_next(struct dk_emit *e, const char *url) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  free(r->next_url);
  r->next_url = NULL;
  if (url == NULL) return;
  if (dk__is_http(r->url) ? !dk__is_http(url) : strncmp(url, "file:", 5) != 0) {
    char ex[120];
    snprintf(r->failmsg, sizeof r->failmsg, "next page refused: %s is not a URL of the same kind as %s",
             dk_excerpt(ex, sizeof ex, url, strlen(url)), r->src->url);
    r->next_url = dk_strdup(""); /* marks the refusal; checked after parse */
    return;
  }
  r->next_url = dk_strdup(url);
}

static const char *dk__emit_resolve(struct dk_emit *e, const char *base, const char *ref) {
  struct dk__emit *em = (struct dk__emit *)e;
  char *url = dk_http_resolve(base, ref);
  if (url == NULL) return NULL;
  em->urls = dk_realloc(em->urls, (em->nurls + 1) * sizeof *em->urls);
  em->urls[em->nurls++] = url;
  return url;
}

static void dk__emit_fail(struct dk_emit *e, const char *fmt, ...) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->failmsg, sizeof r->failmsg, fmt, ap);
  va_end(ap);
}

static void dk__emit_log(struct dk_emit *e, enum dk_log_level level, const char *fmt, ...) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  const char *kv[] = {"source", r->src->name, "plugin", r->plugin->name, NULL};
  va_list ap;
  va_start(ap, fmt);
  dk_vlog(level, kv, fmt, ap);
  va_end(ap);
}

struct dk__req {
  struct dk_request pub;
  struct dk__run *run;
};

static int dk__req_set_url(struct dk_request *req, const char *url) {
  struct dk__run *r = ((struct dk__req *)req)->run;
  if (url == NULL) return DK_EINVAL;
  free(r->url);
  r->url = dk_strdup(url);
  req->url = r->url;
  return 0;
}

static int dk__req_add_header(struct dk_request *req, const char *name, const char *value) {
  struct dk__run *r = ((struct dk__req *)req)->run;
  if (name == NULL || value == NULL || strpbrk(name, ":\r\n") || strpbrk(value, "\r\n")) return DK_EINVAL;
  if (strcasecmp(name, "authorization") == 0) return DK_EINVAL; /* the core's business */
  r->headers = dk_realloc(r->headers, (r->nheaders + 2) * sizeof *r->headers);
  r->headers[r->nheaders++] = dk_asprintf("%s: %s", name, value);
  r->headers[r->nheaders] = NULL;
  return 0;
}

struct dk__resp {
  struct dk_response pub;
  const struct dk_http_res *res;
};

static const char *dk__resp_header(const struct dk_response *resp, const char *name) {
  return dk_http_res_header(((const struct dk__resp *)resp)->res, name);
}

int dk__plugin_init(struct dk__run *r, char *err, size_t n) {
  r->pub = (struct dk_source){.size = sizeof r->pub, .name = r->src->name, .city = r->src->city,
                              .url = r->src->url, .options = r->src->options};
  err[0] = '\0';
  int rc = dk__plugin_code(r->plugin->init(&r->pstate, &r->pub, err, n));
  if (rc == 0) r->pstate_live = 1;
  return rc;
}

void dk__plugin_fini(struct dk__run *r) {
  if (r->pstate_live && r->plugin->fini) r->plugin->fini(r->pstate);
  r->pstate_live = 0;
  free(r->held);
  free(r->raws);
  r->held = NULL;
  r->raws = NULL;
  dk__plugin_pages_free(r);
  dk_prev_free(r->prev);
  r->prev = NULL;
  r->prev_page = NULL;
  r->prev_tried = 0;
  r->nheld = r->capheld = r->capraws = 0;
}

/* Whether prepare() added a header called `name` (lowercase). */
static int dk__has_header(const struct dk__run *r, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < r->nheaders; i++)
    if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':') return 1;
  return 0;
}

int dk__plugin_prepare(struct dk__run *r) {
  for (size_t i = 0; i < r->nheaders; i++) free(r->headers[i]);
  free(r->headers);
  r->headers = NULL;
  r->nheaders = 0;
  struct dk__req req = {.pub = {.size = sizeof req.pub, .page = r->page, .set_url = dk__req_set_url,
                                .add_header = dk__req_add_header, .url = r->url},
                        .run = r};
  int rc = r->plugin->prepare ? dk__plugin_code(r->plugin->prepare(r->pstate, &req.pub)) : 0;
  const char *accept = DK_PLUGIN_HAS(r->plugin, accept) ? r->plugin->accept : NULL;
  if (rc == 0 && accept && *accept && !dk__has_header(r, "accept")) rc = dk__req_add_header(&req.pub, "Accept", accept);
  return rc;
}

void dk__plugin_pages_free(struct dk__run *r) {
  for (size_t i = 0; i < r->npages; i++) {
    free(r->pages[i].url);
    free(r->pages[i].body);
  }
  free(r->pages);
  r->pages = NULL;
  r->npages = 0;
}

void dk__plugin_keep_page(struct dk__run *r, struct dk_http_res *res) {
  if (r->npages == 0) return;
  struct dk__page *pg = &r->pages[r->npages - 1];
  if (!pg->has_region || pg->body) return;
  pg->url = dk_strdup(r->url);
  pg->body = res->body;
  pg->len = res->body_len;
  res->body = NULL; /* body_len stays: the page's size, for the progress */
}

enum dk_result dk__plugin_parse(struct dk__run *r, const struct dk_http_res *res) {
  struct dk__resp resp = {
    .pub = {.size = sizeof resp.pub, .page = r->page, .status = res->status, .url = res->effective_url ? res->effective_url : r->url,
            .content_type = res->content_type, .body = res->body, .body_len = res->body_len,
            .header = dk__resp_header},
    .res = res,
  };
  struct dk__emit em = {
    .pub = {.size = sizeof em.pub, .record = dk__emit_record, .reject = dk__emit_reject,
            .next_page = dk__emit_next, .fail = dk__emit_fail, .log = dk__emit_log,
            .tombstone = dk__emit_tombstone, .resolve_url = dk__emit_resolve,
            .held = dk__emit_held, .region = dk__emit_region, .previous = dk__emit_previous,
            .previous_item = dk__emit_previous_item, .held_previous = dk__emit_held_previous},
    .run = r,
  };
  /* the body is kept as a page of the round until its ingest (taken after
   * a good parse: dk__plugin_keep_page) */
  r->pages = dk_realloc(r->pages, (r->npages + 1) * sizeof *r->pages);
  r->pages[r->npages++] = (struct dk__page){0};
  r->cur_body = res->body;
  r->cur_len = res->body_len;
  r->prev_page = dk_prev_page(dk__prev_load(r), r->page, r->url);
  free(r->next_url);
  r->next_url = NULL;
  r->failmsg[0] = '\0';
  size_t before = json_array_size(r->records), tbefore = json_array_size(r->tombstones), hbefore = r->nheld;
  enum dk_result pr = r->plugin->parse(r->pstate, &resp.pub, &em.pub);
  r->has_pending_raw = 0;
  r->cur_body = NULL;
  r->cur_len = 0;
  r->prev_page = NULL;
  if (pr != DK_OK) r->npages--; /* tried again, or the round fails */
  for (size_t i = 0; i < em.nurls; i++) free(em.urls[i]);
  free(em.urls);
  if (pr != DK_OK) {
    while (json_array_size(r->records) > before) json_array_remove(r->records, json_array_size(r->records) - 1);
    r->nheld = hbefore;
    while (json_array_size(r->tombstones) > tbefore)
      json_array_remove(r->tombstones, json_array_size(r->tombstones) - 1);
  }
  return pr;
}

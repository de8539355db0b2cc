#include "sync.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/evp.h>

#include <unistd.h>

#include "backoff.h"
#include "fsafe.h"
#include "canonical.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "merge.h"
#include "quarantine.h"
#include "record.h"
#include "redact.h"
#include "schemas.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define DK__MAX_PAGES 10000
#define DK__RAW_MAX 16384 /* bytes of a record over its limits kept in quarantine */
#define DK__MAIN "refs/heads/main"

struct dk__run;

struct dk__emit {
  struct dk_emit pub; /* first: the plugin sees only this */
  struct dk__run *run;
};

enum dk__wait { DK__WAIT_NONE, DK__WAIT_START, DK__WAIT_RETRY, DK__WAIT_FINISH };

struct dk__run {
  struct dk_engine *engine;
  struct dk__run *prev, *next; /* the engine's runs in progress */
  dk_run_cb cb;
  void *cb_arg;
  const struct dk_source_conf *src;
  const struct dk_plugin *plugin;
  void *pstate;
  int pstate_live;
  struct dk_source pub;
  char *auth;           /* Authorization value: a secret, wiped on free */
  char *proxy_auth;     /* Proxy-Authorization value: a secret, wiped on free */
  json_t *records;      /* what the source said this round, in order */
  json_t *tombstones;   /* [{path, reason}]: what it says no longer exists */
  size_t quarantined_rejects; /* refused items put in quarantine */
  json_t *state;        /* state file contents (owned) */
  unsigned page;
  char *url;            /* current page URL */
  char *next_url;       /* asked for by the plugin */
  json_t *seen_urls;    /* loop guard for pagination */
  char **headers;       /* from prepare() */
  size_t nheaders;
  char failmsg[DK_ERRBUF_SIZE];
  /* provenance of the round, for the commit trailers */
  char *etag, *last_modified, *fetched_url;
  char fetched_at[40];
  EVP_MD_CTX *sha;      /* over every page body */
  char body_sha[65];    /* hex SHA-256 of the round's bodies, once finished */
  unsigned attempt;     /* tries of the current page so far */
  uv_timer_t timer;     /* the first fetch, a retry's wait, or a deferred finish */
  int timer_live;
  enum dk__wait wait;   /* what the timer is armed for */
  struct dk_source_result result;
  struct dk_source_result *res; /* &result */
};

struct dk_engine {
  uv_loop_t *loop;
  const struct dk_config *cfg;
  struct dk_http *http;
  struct dk_store *store;
  struct dk_loader loader;
  struct dk_reconcile *rc;
  struct dk__run *active; /* runs in progress */
  size_t nactive;
  size_t nlive;           /* runs not yet freed (a closing timer keeps one alive) */
  int closing;
  void (*closed)(void *arg);
  void *closed_arg;
};

struct dk_sync {
  struct dk_engine *engine;
  const struct dk_source_conf **srcs;
  struct dk_source_result *results;
  size_t nruns, pending;
  dk_sync_done_cb done;
  void *done_arg;
};

/* --- state ------------------------------------------------------------- */

static void dk__iso_now(char *out, size_t n) { dk_time_iso(time(NULL), out, n); }

static void dk__state_save(struct dk__run *r) {
  char err[DK_ERRBUF_SIZE];
  if (dk_state_save(r->engine->cfg->state, r->src->name, r->state, err) != 0)
    dk_log(DK_LOG_ERROR, "source", r->src->name, NULL, "cannot save state: %s", err);
}

/* --- the plugin's side -------------------------------------------------- */

static int dk__emit_record(struct dk_emit *e, json_t *rec) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
  if (rec == NULL) return DK_EINVAL;
  json_array_append_new(r->records, rec);
  return 0;
}

static void dk__emit_reject(struct dk_emit *e, const char *where, const char *raw, const char *fmt, ...) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
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
  if (dk_quarantine_put(r->engine->cfg->state, &it, name, err) < 0)
    dk_log(DK_LOG_ERROR, "source", r->src->name, "where", where, NULL, "cannot quarantine: %s", err);
  else
    r->quarantined_rejects++;
  json_decref(errors);
}

static int dk__emit_tombstone(struct dk_emit *e, const char *kind, const char *id, const char *reason) {
  struct dk__run *r = ((struct dk__emit *)e)->run;
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

static const char *dk__resp_header(const struct dk_response *resp, const char *name);

struct dk__resp {
  struct dk_response pub;
  const struct dk_http_res *res;
};

static const char *dk__resp_header(const struct dk_response *resp, const char *name) {
  return dk_http_res_header(((const struct dk__resp *)resp)->res, name);
}

/* --- the round ---------------------------------------------------------- */

static void dk__run_finish(struct dk__run *r);
static void dk__fetch(struct dk__run *r);

static void dk__vset_failed(struct dk__run *r, const char *fmt, va_list ap) {
  vsnprintf(r->res->error, sizeof r->res->error, fmt, ap);
  dk_redact_buf(r->res->error, sizeof r->res->error); /* a server may echo the token */
  r->res->outcome = DK_SOURCE_FAILED;
  dk_log(DK_LOG_ERROR, "source", r->src->name, "url", r->url, NULL, "%s", r->res->error);
}

/* Mark the run failed and log why, without ending it. */
static void dk__set_failed(struct dk__run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dk__set_failed(struct dk__run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk__vset_failed(r, fmt, ap);
  va_end(ap);
}

/* Mark the run failed and end it. */
static void dk__fail(struct dk__run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dk__fail(struct dk__run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk__vset_failed(r, fmt, ap);
  va_end(ap);
  dk__run_finish(r);
}

static void dk__cancel(struct dk__run *r) {
  if (r->res->outcome == DK_SOURCE_PENDING) {
    r->res->outcome = DK_SOURCE_CANCELED;
    snprintf(r->res->error, sizeof r->res->error, "canceled: duikou is stopping");
  }
  dk__run_finish(r);
}

static void dk__on_timer(uv_timer_t *t) {
  struct dk__run *r = t->data;
  enum dk__wait w = r->wait;
  r->wait = DK__WAIT_NONE;
  if (w == DK__WAIT_FINISH) dk__run_finish(r);
  else dk__fetch(r);
}

static void dk__arm(struct dk__run *r, enum dk__wait why, uint64_t delay_ms) {
  if (!r->timer_live) {
    uv_timer_init(r->engine->loop, &r->timer);
    r->timer.data = r;
    r->timer_live = 1;
  }
  r->wait = why;
  uv_timer_start(&r->timer, dk__on_timer, delay_ms, 0);
}

/* The page failed in a way worth another try (connection error, 5xx, 429,
 * a plugin's RETRY): wait with full-jitter backoff, honouring the server's
 * Retry-After, or give up when the tries are spent. The engine owns retries;
 * plugins only say RETRY. */
static void dk__retry_or_fail(struct dk__run *r, const char *retry_after, const char *why) {
  struct dk_backoff b = {.base_ms = (uint64_t)(r->src->retry_base_ms > 0 ? r->src->retry_base_ms : 1000),
                         .cap_ms = 30000, .max_tries = (unsigned)r->src->retries + 1};
  int64_t ra = dk_retry_after_ms(retry_after, time(NULL));
  int64_t delay = dk_backoff_delay(&b, r->attempt, ra > 0 ? (uint64_t)ra : 0, (double)rand() / ((double)RAND_MAX + 1));
  if (delay < 0) {
    dk__fail(r, "%s (gave up after %u tr%s)", why, r->attempt, r->attempt == 1 ? "y" : "ies");
    return;
  }
  dk_log(DK_LOG_WARN, "source", r->src->name, "url", r->url, NULL, "%s; retry %u of %d in %lld ms", why,
         r->attempt, r->src->retries, (long long)delay);
  dk__arm(r, DK__WAIT_RETRY, (uint64_t)delay);
}

static void dk__on_response(void *arg, const struct dk_http_res *res) {
  struct dk__run *r = arg;
  r->attempt++;
  if (res->err == DK_ECANCELED && r->engine->closing) {
    dk__cancel(r);
    return;
  }
  if (res->err != 0) {
    char why[DK_ERRBUF_SIZE + 32];
    snprintf(why, sizeof why, "fetch failed: %s", res->errmsg);
    if (res->err == DK_ETOOBIG || res->err == DK_ECANCELED) dk__fail(r, "%s", why);
    else dk__retry_or_fail(r, NULL, why);
    return;
  }
  if (res->status == 304 && r->page == 1) {
    r->res->outcome = DK_SOURCE_NOT_MODIFIED;
    dk__run_finish(r);
    return;
  }
  if (res->status != 200 && !(res->status == 0 && strncmp(r->url, "file:", 5) == 0)) {
    char snip[200], why[DK_ERRBUF_SIZE];
    dk_excerpt(snip, sizeof snip, res->body, res->body_len);
    snprintf(why, sizeof why, "HTTP %ld from %s: %s", res->status, res->effective_url ? res->effective_url : r->url,
             snip);
    if (dk_http_retryable(res->status)) dk__retry_or_fail(r, res->retry_after, why);
    else dk__fail(r, "%s", why);
    return;
  }
  if (r->page == 1) {
    free(r->etag);
    free(r->last_modified);
    free(r->fetched_url);
    r->etag = dk_strdup(res->etag);
    r->last_modified = dk_strdup(res->last_modified);
    r->fetched_url = dk_strdup(res->effective_url ? res->effective_url : r->url);
    dk__iso_now(r->fetched_at, sizeof r->fetched_at);
  }

  struct dk__resp resp = {
    .pub = {.page = r->page, .status = res->status, .url = res->effective_url ? res->effective_url : r->url,
            .content_type = res->content_type, .body = res->body, .body_len = res->body_len,
            .header = dk__resp_header},
    .res = res,
  };
  struct dk__emit em = {
    .pub = {.record = dk__emit_record, .reject = dk__emit_reject, .next_page = dk__emit_next,
            .fail = dk__emit_fail, .log = dk__emit_log, .tombstone = dk__emit_tombstone},
    .run = r,
  };
  free(r->next_url);
  r->next_url = NULL;
  r->failmsg[0] = '\0';
  size_t before = json_array_size(r->records), tbefore = json_array_size(r->tombstones);
  enum dk_result pr = r->plugin->parse(r->pstate, &resp.pub, &em.pub);
  if (pr != DK_OK) {
    /* what a failed parse emitted is not kept (the ABI's promise) */
    while (json_array_size(r->records) > before) json_array_remove(r->records, json_array_size(r->records) - 1);
    while (json_array_size(r->tombstones) > tbefore)
      json_array_remove(r->tombstones, json_array_size(r->tombstones) - 1);
    char why[DK_ERRBUF_SIZE + 64];
    snprintf(why, sizeof why, "plugin %s %s page %u: %s", r->plugin->name,
             pr == DK_RETRY ? "asked to retry" : "could not parse", r->page,
             r->failmsg[0] ? r->failmsg : "no reason given");
    if (pr == DK_RETRY) dk__retry_or_fail(r, NULL, why);
    else dk__fail(r, "%s", why);
    return;
  }
  if (r->next_url && r->next_url[0] == '\0') {
    dk__fail(r, "plugin %s page %u: %s", r->plugin->name, r->page, r->failmsg);
    return;
  }
  EVP_DigestUpdate(r->sha, res->body, res->body_len);
  r->res->pages++;
  if (r->next_url) {
    if (json_object_get(r->seen_urls, r->next_url)) {
      dk__fail(r, "pagination loops: page %u asks for %s again", r->page, r->next_url);
      return;
    }
    if (r->page >= DK__MAX_PAGES) {
      dk__fail(r, "more than %d pages: giving up", DK__MAX_PAGES);
      return;
    }
    free(r->url);
    r->url = r->next_url;
    r->next_url = NULL;
    r->page++;
    r->attempt = 0;
    dk__fetch(r);
    return;
  }
  dk__run_finish(r);
}

static void dk__fetch(struct dk__run *r) {
  if (r->engine->closing) {
    dk__cancel(r);
    return;
  }
  for (size_t i = 0; i < r->nheaders; i++) free(r->headers[i]);
  free(r->headers);
  r->headers = NULL;
  r->nheaders = 0;
  struct dk__req req = {.pub = {.page = r->page, .set_url = dk__req_set_url,
                                .add_header = dk__req_add_header, .url = r->url},
                        .run = r};
  if (r->plugin->prepare) {
    int rc = r->plugin->prepare(r->pstate, &req.pub);
    if (rc != 0) {
      dk__fail(r, "plugin %s could not prepare page %u: %s", r->plugin->name, r->page, dk_strerror(rc));
      return;
    }
  }
  /* Credentials go only to the origin of the source's url (as curl does on
   * redirects): a page elsewhere is refused, or fetched without them. */
  const char *auth = r->auth;
  if (auth && !dk_http_same_origin(r->src->url, r->url)) {
    if (!r->src->other_origin_without_auth) {
      dk__fail(r, "page %u refused: %s is on another origin than the source's url, and its credentials go only "
               "there (other_origin: without_auth fetches such pages without them)", r->page, r->url);
      return;
    }
    dk_log(DK_LOG_WARN, "source", r->src->name, "url", r->url, NULL,
           "page %u is on another origin than the source's url: fetched without its credentials", r->page);
    auth = NULL;
  }
  json_object_set_new(r->seen_urls, r->url, json_true());
  /* Conditional GET only for a source whose last good round was one page:
   * the first page of a paginated source says nothing about the others. */
  json_t *st = r->state;
  int conditional = r->page == 1 && json_integer_value(json_object_get(st, "pages")) == 1;
  struct dk_http_req hr = {
    .url = r->url,
    .headers = (const char *const *)r->headers,
    .authorization = auth,
    .if_none_match = conditional ? json_string_value(json_object_get(st, "etag")) : NULL,
    .if_modified_since = conditional ? json_string_value(json_object_get(st, "last_modified")) : NULL,
    .timeout_ms = r->src->timeout_ms,
    .connect_timeout_ms = r->engine->cfg->http.connect_timeout_ms,
    .low_speed_secs = r->engine->cfg->http.low_speed_secs,
    .max_body = r->src->max_body > 0 ? (size_t)r->src->max_body : 0,
    .proxy = r->src->proxy,
    .proxy_authorization = r->proxy_auth,
    .ca_file = r->src->ca_file,
  };
  dk_log(DK_LOG_DEBUG, "source", r->src->name, "url", r->url, NULL, "fetching page %u", r->page);
  int rc = dk_http_get(r->engine->http, &hr, dk__on_response, r);
  if (rc != 0) dk__fail(r, "cannot start the request: %s", dk_strerror(rc));
}

/* A value for a commit body line: strings as they are, others as compact
 * JSON, cut to a readable length. */
static char *dk__show(const json_t *v) {
  char *s;
  if (v == NULL) return dk_strdup("(none)");
  if (json_is_string(v)) s = dk_strdup(json_string_value(v));
  else s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
  if (s == NULL) return dk_strdup("?");
  size_t n = strlen(s);
  if (n > 80) {
    size_t k = 77;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    s[k] = '\0';
    char *t = dk_asprintf("%s...", s);
    free(s);
    return t;
  }
  for (char *c = s; *c; c++)
    if (*c == '\n') *c = ' ';
  return s;
}

/* The SHA-256 of every page body of the round, in hex (finished once). */
static const char *dk__body_sha(struct dk__run *r) {
  if (r->body_sha[0] == '\0') {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(r->sha, md, &mdlen);
    for (unsigned j = 0; j < mdlen && j < 32; j++) snprintf(r->body_sha + 2 * j, 3, "%02x", md[j]);
  }
  return r->body_sha;
}

/* A commit failed: say so. A partial commit keeps the round's first error. */
static void dk__commit_failed(struct dk__run *r, int partial, const char *what, const char *why) {
  if (!partial) {
    dk__set_failed(r, "%s: %s", what, why);
    return;
  }
  size_t n = strlen(r->res->error);
  snprintf(r->res->error + n, sizeof r->res->error - n, "; the pages received could not be committed: %s", why);
  dk_redact_buf(r->res->error, sizeof r->res->error);
  dk_log(DK_LOG_ERROR, "source", r->src->name, NULL, "%s: %s", what, why);
}

/* --- reconcile ----------------------------------------------------------- */

#define DK__SRC_PREFIX "refs/duikou/sources/"
#define DK__MAX_CAS_TRIES 5

enum dk__chg_kind {
  DK__CHG_REPORT,    /* the source says the record is theirs */
  DK__CHG_TOMBSTONE, /* the source says it is gone: merged like a change */
  DK__CHG_ABSENT     /* gone from delete_after full listings: main's record goes */
};

/* A changed record of this round: its path, what the source said before
 * (base, from its branch) and says now (theirs; NULL for a deletion). */
struct dk__chg {
  char *path;
  json_t *base, *theirs;
  enum dk__chg_kind kind;
  char *reason; /* of a deletion */
};

struct dk__round {
  struct dk__run *r;
  json_t *valid;      /* path -> record, this round's valid records */
  json_t *invalid;    /* path -> true: listed, but invalid (kept as they were on the branch) */
  struct dk__chg *chg;
  size_t nchg, capchg;
  size_t quarantined;
};

static void dk__chg_add(struct dk__round *rd, const char *path, json_t *base, json_t *theirs,
                        enum dk__chg_kind kind, const char *reason) {
  if (rd->nchg == rd->capchg) {
    rd->capchg = rd->capchg ? 2 * rd->capchg : 64;
    rd->chg = dk_realloc(rd->chg, rd->capchg * sizeof *rd->chg);
  }
  rd->chg[rd->nchg++] = (struct dk__chg){dk_strdup(path), base, theirs, kind, reason ? dk_strdup(reason) : NULL};
}

static json_t *dk__parse_blob(const char *data) { return data ? json_loads(data, 0, NULL) : NULL; }

/* A record's version on a ref (NULL when absent or unreadable). */
static json_t *dk__read_record(struct dk_store *st, const char *ref, const char *path) {
  char *data = NULL;
  size_t len;
  if (dk_store_read(st, ref, NULL, path, &data, &len) != 0) return NULL;
  json_t *v = dk__parse_blob(data);
  free(data);
  return v;
}

static void dk__quarantine(struct dk__run *r, const char *where, const json_t *record, const char *raw,
                           json_t *errors, struct dk__round *rd) {
  char name[DK_QUARANTINE_NAME_LEN + 1], err[DK_ERRBUF_SIZE];
  struct dk_quarantine_item it = {.source = r->src->name, .city = r->src->city, .url = r->url, .where = where,
                                  .record = record, .raw = raw, .errors = errors};
  int rc = dk_quarantine_put(r->engine->cfg->state, &it, name, err);
  if (rc < 0) dk_log(DK_LOG_ERROR, "source", r->src->name, "record", where, NULL, "cannot quarantine: %s", err);
  else if (rd) rd->quarantined++;
}

/* Validate every record of the round: the valid ones into rd->valid (the
 * later of two with one path wins), the others into quarantine. */
static void dk__validate_round(struct dk__run *r, struct dk__round *rd) {
  size_t i;
  json_t *rec;
  json_array_foreach(r->records, i, rec) {
    char *path = NULL, err[DK_ERRBUF_SIZE];
    const char *id = json_string_value(json_object_get(rec, "id"));
    char where[32];
    snprintf(where, sizeof where, "record %zu", i + 1);
    json_t *errors = json_array();
    char *raw = NULL;
    if (dk_record_check_shape(rec, r->src->max_depth, r->src->max_record, err) != 0) {
      /* kept as a bounded excerpt: the record itself may be what blows up */
      json_array_append_new(errors, json_string(err));
      char *full = json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);
      size_t n = full ? strlen(full) : 0;
      raw = full && n > DK__RAW_MAX ? dk_asprintf("%.*s... (%zu bytes)", DK__RAW_MAX, full, n) : dk_strdup(full);
      free(full);
      dk_record_path(rec, &path, err);
    } else if (dk_record_path(rec, &path, err) != 0) {
      json_array_append_new(errors, json_string(err));
    } else {
      struct dk_vresult vr = {0};
      int vrc = dk_schemas_validate_record(rec, &vr, err);
      if (vrc < 0)
        json_array_append_new(errors, json_string(vrc == DK_ETOOBIG ? "nested too deeply to validate" : err));
      for (size_t e = 0; vrc != 1 && e < vr.nerrors; e++) {
        char *line = dk_schemas_format_error(&vr.errors[e]);
        json_array_append_new(errors, json_string(line));
        free(line);
      }
      dk_vresult_free(&vr);
    }
    if (json_array_size(errors) > 0) {
      r->res->invalid++;
      if (path) json_object_set_new(rd->invalid, path, json_true());
      size_t k;
      json_t *m;
      json_array_foreach(errors, k, m)
        dk_log(DK_LOG_WARN, "source", r->src->name, "record", id ? id : where, NULL, "invalid record: %s",
               json_string_value(m));
      dk__quarantine(r, id ? id : where, raw ? NULL : rec, raw ? raw : NULL, errors, rd);
    } else {
      if (json_object_get(rd->valid, path))
        dk_log(DK_LOG_WARN, "source", r->src->name, "record", id, NULL,
               "record appears twice in one round; the later one is kept");
      json_object_set(rd->valid, path, rec);
      r->res->records++;
    }
    json_decref(errors);
    free(raw);
    free(path);
  }
}

struct dk__absent_ctx {
  struct dk__round *rd;
  json_t *listed_before; /* paths of the source branch not listed now */
};

static int dk__collect_absent(const char *path, void *arg) {
  struct dk__absent_ctx *a = arg;
  if (!json_object_get(a->rd->valid, path) && !json_object_get(a->rd->invalid, path))
    json_object_set_new(a->listed_before, path, json_true());
  return 0;
}

/* What every other configured source last said of `path` (its branch):
 * fills others[] (records owned by held[], NULL where a source does not hold
 * it; both sized for every source) and returns how many were filled. The
 * caller releases held[0..n). */
static size_t dk__others(struct dk__run *r, const char *path, struct dk_merge_other *others, json_t **held) {
  const struct dk_config *cfg = r->engine->cfg;
  size_t n = 0;
  for (size_t s = 0; s < cfg->nsources; s++) {
    if (strcmp(cfg->sources[s].name, r->src->name) == 0) continue;
    char *ref = dk_asprintf(DK__SRC_PREFIX "%s", cfg->sources[s].name);
    held[n] = dk__read_record(r->engine->store, ref, path);
    free(ref);
    others[n] = (struct dk_merge_other){cfg->sources[s].name, cfg->sources[s].city, held[n]};
    n++;
  }
  return n;
}

/* Does another source's branch hold `path`? */
static int dk__held_elsewhere(struct dk__run *r, const char *path) {
  size_t cap = r->engine->cfg->nsources ? r->engine->cfg->nsources : 1;
  struct dk_merge_other *others = dk_calloc(cap, sizeof *others);
  json_t **held = dk_calloc(cap, sizeof *held);
  size_t n = dk__others(r, path, others, held);
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    any |= held[i] != NULL;
    json_decref(held[i]);
  }
  free(others);
  free(held);
  return any;
}

/* The source branch for this round: puts every valid record, removes what a
 * tombstone names and — after a full listing — what the source no longer
 * lists, so that the branch holds exactly what the source last said.
 * Collects the changes (with their base) into rd. Records that have been
 * absent from delete_after full listings in a row become deletions. */
static int dk__source_branch(struct dk__run *r, struct dk__round *rd, struct dk_txn *stx, int partial) {
  const char *path;
  json_t *rec;
  json_object_foreach(rd->valid, path, rec) {
    size_t len;
    char *data = dk_canonical_dump(rec, &len);
    int rc = dk_txn_put(stx, path, data, len);
    free(data);
    if (rc < 0) return rc;
    if (rc == 1) {
      char *old = NULL;
      dk_txn_base_read(stx, path, &old, NULL);
      dk__chg_add(rd, path, dk__parse_blob(old), json_incref(rec), DK__CHG_REPORT, NULL);
      free(old);
    }
  }
  size_t i;
  json_t *t;
  json_array_foreach(r->tombstones, i, t) {
    const char *tp = json_string_value(json_object_get(t, "path"));
    if (json_object_get(rd->valid, tp)) continue; /* listed and deleted in one round: the record wins */
    char *old = NULL;
    dk_txn_base_read(stx, tp, &old, NULL);
    int rc = dk_txn_remove(stx, tp);
    if (rc < 0) {
      free(old);
      return rc;
    }
    dk__chg_add(rd, tp, dk__parse_blob(old), NULL, DK__CHG_TOMBSTONE, json_string_value(json_object_get(t, "reason")));
    free(old);
  }
  /* Absences count only after a full listing that brought something: an
   * empty page or a failed round never deletes anything. */
  if (partial || json_object_size(rd->valid) == 0) return 0;
  struct dk__absent_ctx a = {rd, json_object()};
  int rc = dk_txn_base_paths(stx, NULL, dk__collect_absent, &a);
  if (rc < 0) {
    json_decref(a.listed_before);
    return rc;
  }
  json_t *absent = json_object_get(r->state, "absent");
  json_t *next = json_object();
  void *tmp;
  json_object_foreach(a.listed_before, path, t) json_object_set_new(next, path, json_integer(0));
  json_object_foreach(absent, path, t)
    if (!json_object_get(rd->valid, path) && !json_object_get(rd->invalid, path))
      json_object_set_new(next, path, json_integer(json_integer_value(t)));
  json_object_foreach_safe(next, tmp, path, t) {
    json_int_t n = json_integer_value(t) + 1;
    json_object_set_new(next, path, json_integer(n));
    if (json_object_get(a.listed_before, path) && (rc = dk_txn_remove(stx, path)) < 0) break;
    if (r->src->delete_after > 0 && n >= r->src->delete_after) {
      if (dk__held_elsewhere(r, path)) {
        dk_log(DK_LOG_INFO, "source", r->src->name, "path", path, NULL,
               "absent from %lld full listings, but another source still lists it: kept", (long long)n);
      } else {
        char reason[128];
        snprintf(reason, sizeof reason, "absent from %lld consecutive full listings (delete_after: %d)", (long long)n,
                 r->src->delete_after);
        dk__chg_add(rd, path, NULL, NULL, DK__CHG_ABSENT, reason);
      }
      json_object_del(next, path);
    }
  }
  json_object_set_new(r->state, "absent", next);
  json_decref(a.listed_before);
  return rc < 0 ? rc : 0;
}

/* "status in_progress → completed, percent 40 → 60": the field changes. */
static void dk__describe_changes(struct dk_buf *b, const struct dk_merge_out *mo) {
  for (size_t i = 0; i < mo->nchanges; i++) {
    char *from = dk__show(mo->changes[i].from), *to = dk__show(mo->changes[i].to);
    dk_buf_printf(b, "%s%s %s \xe2\x86\x92 %s", i ? ", " : "", mo->changes[i].field, from, to);
    free(from);
    free(to);
  }
}

/* Update conflicts/<kind>/<id>.json on main: this source's entries are
 * replaced by the conflicts it leaves open now (none: removed). */
static int dk__conflict_file(struct dk__run *r, struct dk_txn *mtx, const char *kind, const char *id,
                             const char *path, const struct dk_merge_out *mo, const char *when) {
  char *cpath = dk_asprintf("conflicts/%s/%s.json", kind, id), *old = NULL;
  json_t *doc = NULL;
  if (dk_txn_base_read(mtx, cpath, &old, NULL) == 0) doc = dk__parse_blob(old);
  free(old);
  if (doc == NULL && mo->open == 0) {
    free(cpath);
    return 0;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    doc = json_pack("{s:s, s:s, s:s, s:[]}", "kind", kind, "id", id, "path", path, "fields");
  }
  json_t *fields = json_object_get(doc, "fields"), *kept = json_array();
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    const char *fs = json_string_value(json_object_get(f, "source"));
    if (fs == NULL || strcmp(fs, r->src->name) != 0) json_array_append(kept, f);
  }
  for (size_t c = 0; c < mo->nconflicts; c++) {
    const struct dk_merge_conflict *k = &mo->conflicts[c];
    if (strcmp(k->winner, "open") != 0) continue;
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "field", k->field, "source", r->src->name, "city",
                          r->src->city, "policy", dk_policy_name(k->policy), "opened_at", when);
    if (k->base) json_object_set(e, "base", k->base);
    if (k->ours) json_object_set(e, "ours", k->ours);
    if (k->theirs) json_object_set(e, "theirs", k->theirs);
    json_array_append_new(kept, e);
  }
  int rc;
  if (json_array_size(kept) == 0) {
    rc = dk_txn_remove(mtx, cpath);
  } else {
    json_object_set_new(doc, "fields", kept);
    kept = NULL;
    size_t len;
    char *data = dk_canonical_dump(doc, &len);
    rc = dk_txn_put(mtx, cpath, data, len);
    free(data);
  }
  json_decref(kept);
  json_decref(doc);
  free(cpath);
  return rc < 0 ? rc : 0;
}

struct dk__tally {
  size_t added[DK_KIND_COUNT], changed[DK_KIND_COUNT], deleted[DK_KIND_COUNT];
  size_t conflicts, open;
};

/* Merge every change of the round into a main transaction; the body lists
 * records and conflicts. Returns 0 or a DK_E* code. */
static int dk__reconcile(struct dk__run *r, struct dk__round *rd, struct dk_txn *mtx, struct dk_buf *body,
                         struct dk_buf *conf, struct dk__tally *tl, const char *when) {
  struct dk_engine *e = r->engine;
  const struct dk_config *cfg = e->cfg;
  struct dk_merge_other *others = dk_calloc(cfg->nsources ? cfg->nsources : 1, sizeof *others);
  json_t **held = dk_calloc(cfg->nsources ? cfg->nsources : 1, sizeof *held);
  int ret = 0;
  for (size_t i = 0; i < rd->nchg && ret == 0; i++) {
    struct dk__chg *c = &rd->chg[i];
    char *old = NULL;
    dk_txn_base_read(mtx, c->path, &old, NULL);
    json_t *ours = dk__parse_blob(old);
    free(old);
    enum dk_kind kind;
    char *id = NULL;
    if (dk_record_parse_name(c->path, &kind, &id) != 0) {
      json_decref(ours);
      continue;
    }
    if (c->kind == DK__CHG_ABSENT) {
      /* a configured absence: main's record goes, whoever changed it */
      if (ours) {
        if ((ret = dk_txn_remove(mtx, c->path)) >= 0) {
          ret = 0;
          tl->deleted[kind]++;
          dk_buf_printf(body, "%s: deleted (%s)\n", c->path, c->reason);
        }
      }
      json_decref(ours);
      free(id);
      continue;
    }
    size_t no = dk__others(r, c->path, others, held);
    struct dk_merge_in in = {.rc = e->rc, .source = r->src->name, .city = r->src->city, .base = c->base,
                             .ours = ours, .theirs = c->theirs, .tombstone = c->kind == DK__CHG_TOMBSTONE,
                             .tombstone_reason = c->reason, .others = others, .nothers = no};
    struct dk_merge_out mo = {0};
    char err[DK_ERRBUF_SIZE];
    if (dk_merge(&in, &mo, err) != 0) {
      dk_log(DK_LOG_ERROR, "source", r->src->name, "record", id, NULL, "cannot merge: %s", err);
    } else {
      int rc = 0;
      if (mo.action == DK_MERGE_DELETE) {
        rc = dk_txn_remove(mtx, c->path);
        tl->deleted[kind]++;
        dk_buf_printf(body, "%s: deleted (%s)\n", c->path, c->reason ? c->reason : "tombstone");
      } else if (mo.action != DK_MERGE_NONE) {
        size_t len;
        char *data = dk_canonical_dump(mo.merged, &len);
        rc = dk_txn_put(mtx, c->path, data, len);
        free(data);
        if (mo.action == DK_MERGE_ADD) {
          tl->added[kind]++;
          dk_buf_printf(body, "%s: added\n", c->path);
        } else {
          tl->changed[kind]++;
          dk_buf_printf(body, "%s: ", c->path);
          dk__describe_changes(body, &mo);
          dk_buf_puts(body, "\n");
        }
      }
      for (size_t k = 0; k < mo.nconflicts; k++) {
        const struct dk_merge_conflict *x = &mo.conflicts[k];
        char *b = dk__show(x->base), *o = dk__show(x->ours), *t = dk__show(x->theirs);
        dk_buf_printf(conf, "%s %s: base %s, main %s, %s %s \xe2\x86\x92 %s (%s)\n", c->path,
                      x->field[0] ? x->field : "(record)", b, o, r->src->name, t,
                      strcmp(x->winner, "open") == 0 ? "open, main kept" : x->winner, dk_policy_name(x->policy));
        free(b);
        free(o);
        free(t);
      }
      tl->conflicts += mo.nconflicts;
      tl->open += mo.open;
      if (rc >= 0) rc = dk__conflict_file(r, mtx, dk_kind_name(kind), id, c->path, &mo, when);
      if (rc < 0) ret = rc;
      dk_merge_out_free(&mo);
    }
    for (size_t s = 0; s < no; s++) json_decref(held[s]);
    json_decref(ours);
    free(id);
  }
  free(others);
  free(held);
  return ret;
}

static void dk__summary(struct dk_buf *msg, const struct dk__tally *tl) {
  int parts = 0;
  for (int k = 0; k < DK_KIND_COUNT; k++) {
    const char *one = dk_kind_name((enum dk_kind)k), *many = dk_kind_folder((enum dk_kind)k);
    if (tl->changed[k])
      dk_buf_printf(msg, "%s %zu %s changed", parts++ ? "," : "", tl->changed[k], tl->changed[k] == 1 ? one : many);
    if (tl->added[k])
      dk_buf_printf(msg, "%s %zu %s added", parts++ ? "," : "", tl->added[k], tl->added[k] == 1 ? one : many);
    if (tl->deleted[k])
      dk_buf_printf(msg, "%s %zu %s deleted", parts++ ? "," : "", tl->deleted[k], tl->deleted[k] == 1 ? one : many);
  }
  if (tl->conflicts)
    dk_buf_printf(msg, "%s %zu conflict%s", parts++ ? "," : "", tl->conflicts, tl->conflicts == 1 ? "" : "s");
  if (tl->open) dk_buf_printf(msg, " (%zu open)", tl->open);
  if (parts == 0) dk_buf_puts(msg, " no change");
}

static void dk__trailers(struct dk_buf *msg, struct dk__run *r, size_t quarantined, int partial) {
  dk_buf_printf(msg, "\nDuikou-Source: %s\nDuikou-City: %s\nDuikou-Plugin: %s %s\nDuikou-URL: %s\n"
                "Duikou-Fetched-At: %s\nDuikou-Pages: %zu\n",
                r->src->name, r->src->city, r->plugin->name, r->plugin->version ? r->plugin->version : "?",
                r->fetched_url ? r->fetched_url : r->src->url, r->fetched_at, r->res->pages);
  if (r->etag) dk_buf_printf(msg, "Duikou-ETag: %s\n", r->etag);
  if (partial) dk_buf_puts(msg, "Duikou-Partial: yes\n");
  dk_buf_printf(msg, "Duikou-Body-SHA256: %s\nDuikou-Records: %zu valid, %zu invalid, %zu rejected\n"
                "Duikou-Quarantined: %zu\n",
                dk__body_sha(r), r->res->records, r->res->invalid, r->res->rejected, quarantined);
}

/* A run that died after main merged its source commit but before the
 * source branch moved (see dk__commit) left the commit's id as
 * `pending_source_commit` in the state: when main holds it, move the branch
 * there now, so that the next merge starts from the right base; otherwise
 * main never moved and the commit is forgotten. Returns 0 or DK_EGIT. */
static int dk__repair_source_branch(struct dk__run *r, const char *sref) {
  struct dk_store *st = r->engine->store;
  const char *hex = json_string_value(json_object_get(r->state, "pending_source_commit"));
  git_oid pending, main_oid;
  int found = 0, rc = 0;
  if (hex == NULL) return 0;
  if (git_oid_fromstr(&pending, hex) == 0 && dk_store_ref(st, DK__MAIN, &main_oid, &found) == 0 && found &&
      (git_oid_equal(&main_oid, &pending) || git_graph_descendant_of(st->repo, &main_oid, &pending) == 1)) {
    struct dk_txn *stx = NULL;
    git_oid cur;
    int have = 0;
    if (dk_store_ref(st, sref, &cur, &have) == 0 && !(have && git_oid_equal(&cur, &pending)) &&
        (rc = dk_txn_begin(st, sref, &stx)) == 0) {
      rc = dk_txn_move(stx, &pending);
      if (rc == 0)
        dk_log(DK_LOG_WARN, "source", r->src->name, "commit", hex, NULL,
               "the last run stopped after merging into main: its source branch is moved there now");
    }
    dk_txn_free(stx);
  }
  if (rc == 0) {
    json_object_del(r->state, "pending_source_commit");
    dk__state_save(r);
  }
  return rc;
}

static void dk__round_free(struct dk__round *rd) {
  for (size_t i = 0; i < rd->nchg; i++) {
    free(rd->chg[i].path);
    json_decref(rd->chg[i].base);
    json_decref(rd->chg[i].theirs);
    free(rd->chg[i].reason);
  }
  free(rd->chg);
  json_decref(rd->valid);
  json_decref(rd->invalid);
}

/* Validate the round's records (the invalid ones to quarantine), commit what
 * the source said to its branch, and reconcile the changes into main: a
 * merge commit whose parents are the previous main and the source-branch
 * commit. main moves first, then the source branch, both by
 * compare-and-swap; the source commit is named in the state file
 * (pending_source_commit) before main moves, so that a crash in between is
 * mended by the next run (dk__repair_source_branch).
 * Sets the outcome (COMMITTED or UNCHANGED; FAILED when the repository
 * fails) — unless `partial`: the round already failed after some pages, whose
 * records are committed while the outcome stays FAILED. */
static void dk__commit(struct dk__run *r, int partial) {
  struct dk_store *st = r->engine->store;
  r->res->partial = partial;
  struct dk__round rd = {.r = r, .valid = json_object(), .invalid = json_object()};
  dk__validate_round(r, &rd);
  rd.quarantined += r->quarantined_rejects;
  char *sref = dk_asprintf(DK__SRC_PREFIX "%s", r->src->name);
  char when[40];
  dk__iso_now(when, sizeof when);
  char email[256], author[256];
  snprintf(email, sizeof email, "%s@%s.duikou.invalid", r->src->name, r->src->city);
  snprintf(author, sizeof author, "%s (%s)", r->src->name, r->src->city);
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  struct dk_commit_meta meta = {.author_name = author, .author_email = email, .committer_name = "duikou",
                                .committer_email = "duikou@localhost", .when = (git_time_t)now,
                                .offset_minutes = (int)(tm.tm_gmtoff / 60)};
  struct dk_txn *stx = NULL, *mtx = NULL;
  struct dk_buf smsg = {0}, msg = {0}, body = {0}, conf = {0};
  git_oid scommit, mcommit;
  int rc = dk__repair_source_branch(r, sref);
  if (rc < 0) {
    dk__commit_failed(r, partial, "source branch", st->err);
    goto out;
  }
  rc = dk_txn_begin(st, sref, &stx);
  if (rc == 0) rc = dk__source_branch(r, &rd, stx, partial);
  if (rc < 0) {
    dk__commit_failed(r, partial, "repository", st->err);
    goto out;
  }
  if (dk_txn_changes(stx) == 0) {
    if (!partial) r->res->outcome = DK_SOURCE_UNCHANGED;
    goto out;
  }
  dk_buf_printf(&smsg, "report %s: %zu record%s, %zu changed%s\n", r->src->name, r->res->records,
                r->res->records == 1 ? "" : "s", dk_txn_changes(stx), partial ? " (partial)" : "");
  dk__trailers(&smsg, r, rd.quarantined, partial);
  meta.message = dk_buf_cstr(&smsg);
  if ((rc = dk_txn_write(stx, &meta, 0, &scommit)) < 0) {
    dk__commit_failed(r, partial, "source branch", st->err);
    goto out;
  }
  /* Should this run die between main and its source branch, the next one
   * must know which source commit main already merged. */
  char shex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(shex, sizeof shex, &scommit);
  json_object_set_new(r->state, "pending_source_commit", json_string(shex));
  dk__state_save(r);
  /* main: merge, and start again from the new main when it moved (a person
   * resolving a conflict meanwhile) */
  for (int attempt = 1;; attempt++) {
    struct dk__tally tl = {0};
    dk_buf_free(&body);
    dk_buf_free(&conf);
    dk_buf_free(&msg);
    dk_txn_free(mtx);
    mtx = NULL;
    if ((rc = dk_txn_begin(st, DK__MAIN, &mtx)) < 0 || (rc = dk__reconcile(r, &rd, mtx, &body, &conf, &tl, when)) < 0) {
      dk__commit_failed(r, partial, "reconcile", st->err);
      goto out;
    }
    /* The first commit of main is a root: main's first-parent line is its
     * own history (the source commit is named in the trailer); every later
     * one merges the source-branch commit as its second parent. */
    if (dk_txn_has_base(mtx)) dk_txn_add_parent(mtx, &scommit);
    dk_buf_printf(&msg, "sync %s:", r->src->name);
    dk__summary(&msg, &tl);
    dk_buf_puts(&msg, "\n\n");
    if (partial)
      dk_buf_printf(&msg, "Partial: the round failed after %zu page%s; their records are committed, nothing\n"
                    "else is changed. Why: %s\n\n", r->res->pages, r->res->pages == 1 ? "" : "s", r->res->error);
    dk_buf_append(&msg, body.data, body.len);
    if (conf.len) {
      dk_buf_printf(&msg, "%sConflicts:\n", body.len ? "\n" : "");
      dk_buf_append(&msg, conf.data, conf.len);
    }
    dk__trailers(&msg, r, rd.quarantined, partial);
    if (tl.conflicts) dk_buf_printf(&msg, "Duikou-Conflicts: %zu (%zu open)\n", tl.conflicts, tl.open);
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, &scommit);
    dk_buf_printf(&msg, "Duikou-Source-Commit: %s\n", hex);
    meta.message = dk_buf_cstr(&msg);
    r->res->changed = dk_txn_changes(mtx);
    /* a conflict is recorded in history even when main keeps its values */
    rc = dk_txn_commit(mtx, &meta, tl.conflicts > 0, &mcommit);
    if (rc == DK_EEXIST && attempt < DK__MAX_CAS_TRIES) {
      dk_log(DK_LOG_INFO, "source", r->src->name, NULL, "main moved meanwhile; merging again");
      continue;
    }
    break;
  }
  if (rc < 0) {
    dk__commit_failed(r, partial, "commit failed", st->err);
    goto out;
  }
  if (rc == 1) git_oid_tostr(r->res->commit, sizeof r->res->commit, &mcommit);
  if ((rc = dk_txn_move(stx, &scommit)) < 0) {
    dk__commit_failed(r, partial, "source branch", st->err);
    goto out;
  }
  json_object_del(r->state, "pending_source_commit");
  if (!partial) r->res->outcome = r->res->commit[0] ? DK_SOURCE_COMMITTED : DK_SOURCE_UNCHANGED;
out:
  dk_txn_free(stx);
  dk_txn_free(mtx);
  dk_buf_free(&smsg);
  dk_buf_free(&msg);
  dk_buf_free(&body);
  dk_buf_free(&conf);
  free(sref);
  dk__round_free(&rd);
}

static void dk__engine_maybe_freed(struct dk_engine *e);

static void dk__run_free(struct dk__run *r) {
  struct dk_engine *e = r->engine;
  if (r->pstate_live && r->plugin->fini) r->plugin->fini(r->pstate);
  if (r->auth) {
    explicit_bzero(r->auth, strlen(r->auth));
    free(r->auth);
  }
  if (r->proxy_auth) {
    explicit_bzero(r->proxy_auth, strlen(r->proxy_auth));
    free(r->proxy_auth);
  }
  json_decref(r->records);
  json_decref(r->tombstones);
  json_decref(r->state);
  json_decref(r->seen_urls);
  free(r->url);
  free(r->next_url);
  for (size_t i = 0; i < r->nheaders; i++) free(r->headers[i]);
  free(r->headers);
  free(r->etag);
  free(r->last_modified);
  free(r->fetched_url);
  if (r->sha) EVP_MD_CTX_free(r->sha);
  free(r);
  e->nlive--;
  dk__engine_maybe_freed(e);
}

static void dk__run_timer_closed(uv_handle_t *h) { dk__run_free(h->data); }

/* The run has ended: commit what it brought (all of it, or on a failure the
 * records of the pages fully received), update and save the state, tell the
 * caller, then release the run. */
static void dk__run_finish(struct dk__run *r) {
  struct dk_engine *e = r->engine;
  if (r->timer_live) uv_timer_stop(&r->timer);
  r->wait = DK__WAIT_NONE;
  if (r->res->outcome == DK_SOURCE_PENDING) dk__commit(r, 0);
  else if (r->res->outcome == DK_SOURCE_FAILED && r->pstate_live &&
           json_array_size(r->records) + json_array_size(r->tombstones) > 0)
    dk__commit(r, 1);
  char now[40];
  dk__iso_now(now, sizeof now);
  if (r->res->outcome == DK_SOURCE_CANCELED) {
    dk_log(DK_LOG_INFO, "source", r->src->name, NULL, "run canceled: duikou is stopping");
  } else if (r->res->outcome == DK_SOURCE_FAILED) {
    json_object_set_new(r->state, "last_attempt", json_string(now));
    json_object_set_new(r->state, "last_failure", json_string(now));
    json_object_set_new(r->state, "last_failure_reason", json_string(r->res->error));
    json_object_set_new(r->state, "consecutive_failures",
                        json_integer(json_integer_value(json_object_get(r->state, "consecutive_failures")) + 1));
    /* The next round fetches everything again: no validators of a round
     * that did not end well. */
    json_object_del(r->state, "etag");
    json_object_del(r->state, "last_modified");
    if (r->res->partial)
      dk_log(DK_LOG_WARN, "source", r->src->name, "commit", r->res->commit[0] ? r->res->commit : NULL, NULL,
             "failed after %zu page%s; their %zu valid records were kept (%s)", r->res->pages,
             r->res->pages == 1 ? "" : "s", r->res->records, r->res->commit[0] ? "committed" : "no change");
  } else {
    json_object_set_new(r->state, "last_attempt", json_string(now));
    json_object_set_new(r->state, "last_success", json_string(now));
    json_object_set_new(r->state, "consecutive_failures", json_integer(0));
    if (r->res->outcome != DK_SOURCE_NOT_MODIFIED) {
      json_object_set_new(r->state, "pages", json_integer((json_int_t)r->res->pages));
      json_object_set_new(r->state, "etag", r->etag ? json_string(r->etag) : json_null());
      json_object_set_new(r->state, "last_modified", r->last_modified ? json_string(r->last_modified) : json_null());
      json_object_set_new(r->state, "body_sha256", json_string(dk__body_sha(r)));
    }
    const char *what = r->res->outcome == DK_SOURCE_COMMITTED ? "committed"
                       : r->res->outcome == DK_SOURCE_UNCHANGED ? "unchanged" : "not modified (304)";
    char counts[160];
    snprintf(counts, sizeof counts, "%zu records, %zu changed, %zu invalid, %zu rejected", r->res->records,
             r->res->changed, r->res->invalid, r->res->rejected);
    dk_log(DK_LOG_INFO, "source", r->src->name, "commit", r->res->commit[0] ? r->res->commit : NULL, NULL,
           "%s: %s", what, counts);
  }
  if (r->res->outcome != DK_SOURCE_CANCELED && r->state) dk__state_save(r);
  if (r->prev) r->prev->next = r->next;
  else e->active = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  e->nactive--;
  if (r->cb) r->cb(r->cb_arg, r->res);
  if (r->timer_live) {
    r->timer_live = 0;
    uv_close((uv_handle_t *)&r->timer, dk__run_timer_closed);
  } else {
    dk__run_free(r);
  }
}

/* Set up a run. Returns 0 when it should fetch; otherwise its result says
 * why it failed. */
static int dk__run_setup(struct dk__run *r) {
  const struct dk_source_conf *src = r->src;
  struct dk_engine *e = r->engine;
  char err[DK_ERRBUF_SIZE];
  r->records = json_array();
  r->tombstones = json_array();
  r->seen_urls = json_object();
  r->sha = EVP_MD_CTX_new();
  EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL);
  r->state = dk_state_load(e->cfg->state, src->name);
  r->url = dk_strdup(src->url);
  r->page = 1;
  r->plugin = dk_loader_find(&e->loader, src->plugin);
  if (r->plugin == NULL) {
    dk_failf(r->res->error, DK_EPLUGIN, "%s", e->loader.err);
    return DK_EPLUGIN;
  }
  if (dk_auth_header(&src->auth, &r->auth, err) != 0) {
    dk_failf(r->res->error, DK_ECONFIG, "auth: %s", err);
    return DK_ECONFIG;
  }
  if (r->src->proxy == NULL || r->src->proxy[0] != '\0') {
    if (dk_auth_header(&e->cfg->http.proxy_auth, &r->proxy_auth, err) != 0) {
      dk_failf(r->res->error, DK_ECONFIG, "http.proxy_auth: %s", err);
      return DK_ECONFIG;
    }
  }
  if (dk_schemas_check_options(r->plugin, src->options, src->pointer, err) != 0) {
    dk_failf(r->res->error, DK_ECONFIG, "%s", err);
    return DK_ECONFIG;
  }
  r->pub.name = src->name;
  r->pub.city = src->city;
  r->pub.url = src->url;
  r->pub.options = src->options;
  err[0] = '\0';
  int rc = r->plugin->init(&r->pstate, &r->pub, err, sizeof err);
  if (rc != 0) {
    dk_failf(r->res->error, rc, "plugin %s refused the source's options: %s", r->plugin->name,
             err[0] ? err : dk_strerror(rc));
    return rc;
  }
  r->pstate_live = 1;
  return 0;
}

int dk_engine_open(uv_loop_t *loop, const struct dk_config *cfg, const char *plugin_dir, struct dk_engine **out,
                   char *err) {
  *out = NULL;
  int sfd, rc = dk_fs_dir(cfg->state, "sources", 1, &sfd, err);
  if (rc != 0) return rc;
  close(sfd);
  struct dk_engine *e = dk_calloc(1, sizeof *e);
  e->loop = loop;
  e->cfg = cfg;
  if ((rc = dk_store_open(cfg->repository, &e->store, err)) != 0) {
    free(e);
    return rc;
  }
  if ((rc = dk_store_lock(e->store, "duikou sync, daemon or demo", err)) != 0 ||
      (rc = dk_reconcile_new(cfg->reconcile, &e->rc, err)) != 0) {
    dk_reconcile_free(e->rc);
    dk_store_close(e->store);
    free(e);
    return rc;
  }
  const char *pdir = dk_loader_pick_dir(plugin_dir, cfg->plugins);
  if ((rc = dk_loader_scan(&e->loader, pdir)) != 0) {
    dk_failf(err, rc, "%s", e->loader.err);
    dk_loader_free(&e->loader);
    dk_reconcile_free(e->rc);
    dk_store_close(e->store);
    free(e);
    return rc;
  }
  for (size_t i = 0; i < e->loader.nentries; i++)
    if (e->loader.entries[i].error)
      dk_log(DK_LOG_WARN, "plugin", e->loader.entries[i].path, NULL, "refused: %s", e->loader.entries[i].error);
  if ((rc = dk_http_new(loop, cfg->http.max_connections, cfg->http.max_per_host, &e->http)) != 0) {
    dk_failf(err, rc, "cannot start the HTTP client");
    dk_loader_free(&e->loader);
    dk_reconcile_free(e->rc);
    dk_store_close(e->store);
    free(e);
    return rc;
  }
  *out = e;
  return 0;
}

/* Whether `src` has a run in progress. */
static int dk__engine_busy(const struct dk_engine *e, const struct dk_source_conf *src) {
  for (const struct dk__run *r = e->active; r; r = r->next)
    if (r->src == src || strcmp(r->src->name, src->name) == 0) return 1;
  return 0;
}

size_t dk_engine_active(const struct dk_engine *e) { return e->nactive; }

int dk_engine_run(struct dk_engine *e, const struct dk_source_conf *src, dk_run_cb cb, void *arg) {
  if (e->closing) return DK_ECANCELED;
  if (dk__engine_busy(e, src)) return DK_EBUSY;
  struct dk__run *r = dk_calloc(1, sizeof *r);
  r->engine = e;
  r->src = src;
  r->cb = cb;
  r->cb_arg = arg;
  r->res = &r->result;
  r->res->name = src->name;
  r->next = e->active;
  if (e->active) e->active->prev = r;
  e->active = r;
  e->nactive++;
  e->nlive++;
  dk_log(DK_LOG_DEBUG, "source", src->name, NULL, "run started");
  /* The first fetch (or the report of a failed setup) comes from the loop,
   * so that cb is never called before this function has returned. */
  if (dk__run_setup(r) != 0) {
    r->res->outcome = DK_SOURCE_FAILED;
    dk_log(DK_LOG_ERROR, "source", src->name, NULL, "%s", r->res->error);
    dk__arm(r, DK__WAIT_FINISH, 0);
  } else {
    dk__arm(r, DK__WAIT_START, 0);
  }
  return 0;
}

static void dk__engine_maybe_freed(struct dk_engine *e) {
  if (!e->closing || e->http != NULL || e->nlive > 0) return;
  void (*closed)(void *) = e->closed;
  void *arg = e->closed_arg;
  dk_loader_free(&e->loader);
  dk_store_close(e->store);
  dk_reconcile_free(e->rc);
  free(e);
  if (closed) closed(arg);
}

static void dk__engine_http_closed(void *arg) {
  struct dk_engine *e = arg;
  e->http = NULL;
  dk__engine_maybe_freed(e);
}

void dk_engine_close(struct dk_engine *e, void (*done)(void *arg), void *arg) {
  if (e->closing) return;
  e->closing = 1;
  e->closed = done;
  e->closed_arg = arg;
  /* Runs waiting on a timer end now; runs in a transfer end through the
   * HTTP client's cancellation below. */
  struct dk__run *next;
  for (struct dk__run *r = e->active; r; r = next) {
    next = r->next;
    if (r->wait == DK__WAIT_FINISH) dk__run_finish(r);
    else if (r->wait != DK__WAIT_NONE) dk__cancel(r);
  }
  dk_http_close(e->http, dk__engine_http_closed, e);
}

/* --- a round ---------------------------------------------------------------- */

static void dk__sync_engine_closed(void *arg) {
  struct dk_sync *s = arg;
  s->engine = NULL;
  if (s->done) s->done(s, s->done_arg);
}

static void dk__sync_on_result(void *arg, const struct dk_source_result *res) {
  struct dk_sync *s = arg;
  for (size_t i = 0; i < s->nruns; i++)
    if (s->results[i].name == res->name) s->results[i] = *res;
  if (--s->pending == 0) dk_engine_close(s->engine, dk__sync_engine_closed, s);
}

int dk_sync_start(uv_loop_t *loop, const struct dk_config *cfg, const struct dk_sync_opts *opts,
                  dk_sync_done_cb done, void *arg, struct dk_sync **out, char *err) {
  *out = NULL;
  size_t n = 0;
  for (size_t i = 0; i < cfg->nsources; i++)
    if (opts->only_source == NULL || strcmp(opts->only_source, cfg->sources[i].name) == 0) n++;
  if (n == 0)
    return dk_failf(err, DK_ENOENT, opts->only_source ? "no source named \"%s\" in the configuration"
                                                      : "the configuration has no sources%s",
                    opts->only_source ? opts->only_source : "");
  struct dk_sync *s = dk_calloc(1, sizeof *s);
  int rc = dk_engine_open(loop, cfg, opts->plugin_dir, &s->engine, err);
  if (rc != 0) {
    free(s);
    return rc;
  }
  s->done = done;
  s->done_arg = arg;
  s->results = dk_calloc(n, sizeof *s->results);
  s->srcs = dk_calloc(n, sizeof *s->srcs);
  for (size_t i = 0; i < cfg->nsources; i++) {
    const struct dk_source_conf *src = &cfg->sources[i];
    if (opts->only_source && strcmp(opts->only_source, src->name) != 0) continue;
    s->srcs[s->nruns] = src;
    s->results[s->nruns].name = src->name;
    s->nruns++;
  }
  *out = s;
  /* From here on the round reports through `done`, whatever happens. */
  s->pending = s->nruns;
  for (size_t i = 0; i < s->nruns; i++) {
    s->results[i].outcome = DK_SOURCE_PENDING;
    if ((rc = dk_engine_run(s->engine, s->srcs[i], dk__sync_on_result, s)) != 0) {
      s->results[i].outcome = DK_SOURCE_FAILED;
      dk_failf(s->results[i].error, rc, "cannot start: %s", dk_strerror(rc));
      s->pending--;
    }
  }
  if (s->pending == 0) dk_engine_close(s->engine, dk__sync_engine_closed, s);
  return 0;
}

const struct dk_source_result *dk_sync_results(const struct dk_sync *s, size_t *n) {
  *n = s->nruns;
  return s->results;
}

int dk_sync_failed(const struct dk_sync *s) {
  for (size_t i = 0; i < s->nruns; i++)
    if (s->results[i].outcome != DK_SOURCE_COMMITTED && s->results[i].outcome != DK_SOURCE_UNCHANGED &&
        s->results[i].outcome != DK_SOURCE_NOT_MODIFIED)
      return 1;
  return 0;
}

void dk_sync_free(struct dk_sync *s) {
  if (s == NULL) return;
  free(s->results);
  free(s->srcs);
  free(s);
}

static void dk__run_done(struct dk_sync *s, void *arg) { *(int *)arg = 1; }

int dk_sync_run(const struct dk_config *cfg, const struct dk_sync_opts *opts, struct dk_sync **out, char *err) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int finished = 0;
  int rc = dk_sync_start(&loop, cfg, opts, dk__run_done, &finished, out, err);
  if (rc == 0) uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}

/* status: the status listener (status.h). */
#include "status.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "converge.h"
#include "exchange.h"
#include "health.h"
#include "httpd.h"
#include "log.h"
#include "state.h"
#include "store.h"

#define DK__STATUS_MAX_PAGES 16

struct dk__page {
  char *prefix;
  dk_status_page_fn fn;
  void *arg;
};

struct dk_status {
  uv_loop_t *loop;
  const struct dk_config *cfg;
  const struct dk_sched *sched;
  struct dk_httpd *httpd;  /* NULL: not listening */
  char *token;             /* a secret (wiped), or NULL */
  char *url;
  char *host;              /* what httpd is bound to */
  int port;                /* as configured (0: any) */
  struct dk__page pages[DK__STATUS_MAX_PAGES];
  size_t npages;
  int closing, open;       /* open: httpd instances not yet closed */
  void (*done)(void *arg);
  void *done_arg;
};

/* ---- /status ---------------------------------------------------------- */

static void dk__copy_keys(json_t *to, const json_t *from, const char *const *keys) {
  for (; *keys; keys++) {
    json_t *v = json_object_get(from, *keys);
    json_object_set(to, *keys, v ? v : json_null());
  }
}

json_t *dk_status_json(const struct dk_config *cfg, const struct dk_sched *sched, time_t now) {
  static const char *const source_keys[] = {"last_attempt", "last_success", "last_failure", "last_failure_reason",
                                            "consecutive_failures", "records", "invalid", "valid_share",
                                            "valid_share_usual", NULL};
  static const char *const remote_keys[] = {"last_attempt", "last_success", "down_since", "error", "received",
                                            "pushed", "alarms", NULL};
  char iso[40];
  json_t *reasons = dk_health_check(cfg, now);
  json_t *doc = json_pack("{s:s, s:s?, s:s, s:{s:b, s:o}}", "version", DK_VERSION, "site", cfg->site, "time",
                          dk_time_iso(now, iso, sizeof iso), "health", "ok", json_array_size(reasons) == 0,
                          "reasons", reasons);
  json_t *sources = json_array();
  for (size_t i = 0; i < cfg->nsources; i++) {
    const struct dk_source_conf *src = &cfg->sources[i];
    json_t *st = dk_state_load(cfg->state, src->name);
    json_t *o = json_pack("{s:s, s:s, s:s}", "name", src->name, "plugin", src->plugin, "city", src->city);
    json_object_set_new(o, "schedule", src->cron    ? json_pack("{s:s}", "cron", src->cron)
                                       : src->every ? json_pack("{s:s}", "every", src->every)
                                                    : json_pack("{s:s}", "every", "30m"));
    dk__copy_keys(o, st, source_keys);
    time_t next;
    json_object_set_new(o, "next_run", dk_sched_next_run(sched, src->name, &next) == 1
                                           ? json_string(dk_time_iso(next, iso, sizeof iso))
                                           : json_null());
    json_array_append_new(sources, o);
    json_decref(st);
  }
  json_object_set_new(doc, "sources", sources);
  json_t *remotes = json_array();
  for (size_t i = 0; i < cfg->nremotes; i++) {
    json_t *st = dk_exchange_state(cfg, cfg->remotes[i].name);
    json_t *o = json_pack("{s:s, s:b}", "name", cfg->remotes[i].name, "push", cfg->remotes[i].push);
    dk__copy_keys(o, st, remote_keys);
    json_array_append_new(remotes, o);
    json_decref(st);
  }
  json_object_set_new(doc, "remotes", remotes);
  json_t *sites = NULL;
  struct dk_store *store = NULL;
  char err[DK_ERRBUF_SIZE];
  if (cfg->site && dk_store_open_existing(cfg->repository, &store, err) == 0) {
    json_t *all = NULL;
    if (dk_converge_sites(store, cfg, &all) == 0) sites = json_incref(json_object_get(all, "sites"));
    json_decref(all);
    dk_store_close(store);
  }
  json_object_set_new(doc, "sites", sites ? sites : json_array());
  return doc;
}

/* ---- requests --------------------------------------------------------- */

/* Whether the request carries the token; constant time in the token. */
static int dk__authorized(struct dk_status *s, struct dk_httpd_req *req) {
  if (s->token == NULL) return 1;
  const char *h = dk_httpd_header(req, "Authorization");
  if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) return 0;
  h += 7;
  while (*h == ' ') h++;
  size_t n = strlen(s->token), m = strlen(h);
  unsigned char diff = (unsigned char)(n != m);
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(s->token[i] ^ (i < m ? h[i] : 0));
  return diff == 0;
}

static const char dk__nocache[] = "Cache-Control: no-store\r\n";

static void dk__healthz(struct dk_status *s, struct dk_httpd_req *req) {
  json_t *reasons = dk_health_check(s->cfg, time(NULL));
  struct dk_buf b = {0};
  size_t i;
  json_t *r;
  json_array_foreach(reasons, i, r) dk_buf_printf(&b, "%s\n", json_string_value(r));
  if (b.len == 0) dk_buf_puts(&b, "ok\n");
  dk_httpd_respond(req, json_array_size(reasons) ? 503 : 200, "text/plain; charset=utf-8", dk__nocache, b.data,
                   b.len);
  dk_buf_free(&b);
  json_decref(reasons);
}

static void dk__status(struct dk_status *s, struct dk_httpd_req *req) {
  json_t *doc = dk_status_json(s->cfg, s->sched, time(NULL));
  char *text = json_dumps(doc, JSON_INDENT(2));
  json_decref(doc);
  if (text == NULL) {
    dk_httpd_error(req, 500, NULL);
    return;
  }
  struct dk_buf b = {0};
  dk_buf_puts(&b, text);
  dk_buf_append(&b, "\n", 1);
  free(text);
  dk_httpd_respond(req, 200, "application/json; charset=utf-8", dk__nocache, b.data, b.len);
  dk_buf_free(&b);
}

/* The page serving `path`: its exact path, else the longest prefix. */
static const struct dk__page *dk__find_page(const struct dk_status *s, const char *path) {
  const struct dk__page *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < s->npages; i++) {
    const char *p = s->pages[i].prefix;
    size_t n = strlen(p);
    if (p[n - 1] != '/') {
      if (strcmp(path, p) == 0) return &s->pages[i];
    } else if (strncmp(path, p, n) == 0 && n > best_len) {
      best = &s->pages[i];
      best_len = n;
    }
  }
  return best;
}

static void dk__on_request(void *arg, struct dk_httpd_req *req) {
  struct dk_status *s = arg;
  if (!dk__authorized(s, req)) {
    dk_httpd_error(req, 401, "WWW-Authenticate: Bearer realm=\"duikou\"\r\n");
    return;
  }
  const struct dk__page *page = NULL;
  int known = strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/status") == 0 ||
              (page = dk__find_page(s, req->path)) != NULL;
  if (!known) {
    dk_httpd_error(req, 404, NULL);
    return;
  }
  if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
    dk_httpd_error(req, 405, "Allow: GET, HEAD\r\n");
    return;
  }
  if (page == NULL && strcmp(req->path, "/healthz") == 0) {
    dk__healthz(s, req);
  } else if (page == NULL) {
    dk__status(s, req);
  } else {
    struct dk_buf b = {0};
    const char *ctype = "text/plain; charset=utf-8";
    int code = page->fn(page->arg, req->path, req->query, &b, &ctype);
    if (code < 100 || code > 599) code = 500;
    dk_httpd_respond(req, code, ctype, dk__nocache, b.data, b.len);
    dk_buf_free(&b);
  }
}

/* ---- the listener ----------------------------------------------------- */

static void dk__status_maybe_free(struct dk_status *s) {
  if (!s->closing || s->open > 0) return;
  void (*done)(void *) = s->done;
  void *arg = s->done_arg;
  for (size_t i = 0; i < s->npages; i++) free(s->pages[i].prefix);
  dk_secret_wipe(s->token);
  free(s->url);
  free(s->host);
  free(s);
  if (done) done(arg);
}

static void dk__httpd_closed(void *arg) {
  struct dk_status *s = arg;
  s->open--;
  dk__status_maybe_free(s);
}

/* A listener for cfg's status.listen into *out (NULL when off). Returns 0
 * or DK_E* with err. */
static int dk__listen(struct dk_status *s, const struct dk_config *cfg, struct dk_httpd **out, char **url,
                      char *err) {
  *out = NULL;
  *url = NULL;
  if (!cfg->status.listen) return 0;
  struct dk_httpd_opts o = {.host = cfg->status.host, .port = cfg->status.port, .server = "duikou"};
  char why[DK_ERRBUF_SIZE];
  int rc = dk_httpd_start(s->loop, &o, dk__on_request, s, out, why);
  if (rc != 0) return dk_failf(err, rc, "status listener: %s", why);
  int v6 = strchr(cfg->status.host, ':') != NULL;
  *url = dk_asprintf("http://%s%s%s:%d/", v6 ? "[" : "", cfg->status.host, v6 ? "]" : "", dk_httpd_port(*out));
  return 0;
}

/* The token cfg names into *out (NULL: none). Returns 0 or DK_E*. */
static int dk__read_token(const struct dk_config *cfg, char **out, char *err) {
  *out = NULL;
  if (!cfg->status.token_env && !cfg->status.token_file) return 0;
  char why[DK_ERRBUF_SIZE];
  int rc = dk_secret_read(cfg->status.token_env, cfg->status.token_file, out, why);
  if (rc != 0) return dk_failf(err, rc, "status token: %s", why);
  return 0;
}

int dk_status_start(uv_loop_t *loop, const struct dk_config *cfg, struct dk_status **out, char *err) {
  *out = NULL;
  struct dk_status *s = dk_calloc(1, sizeof *s);
  s->loop = loop;
  s->cfg = cfg;
  int rc = dk__read_token(cfg, &s->token, err);
  if (rc == 0) rc = dk__listen(s, cfg, &s->httpd, &s->url, err);
  if (rc != 0) {
    dk_secret_wipe(s->token);
    free(s);
    return rc;
  }
  if (s->httpd) {
    s->open = 1;
    s->host = dk_strdup(cfg->status.host);
    s->port = cfg->status.port;
    dk_log(DK_LOG_INFO, NULL, "status listener on %s%s", s->url, s->token ? " (bearer token required)" : "");
  }
  *out = s;
  return 0;
}

int dk_status_use(struct dk_status *s, const struct dk_config *cfg, char *err) {
  char *token = NULL;
  int rc = dk__read_token(cfg, &token, err);
  if (rc != 0) return rc;
  const struct dk_status_conf *c = &cfg->status;
  int same = s->httpd ? c->listen && strcmp(c->host, s->host) == 0 && c->port == s->port : !c->listen;
  if (!same) {
    struct dk_httpd *h = NULL;
    char *url = NULL;
    if ((rc = dk__listen(s, cfg, &h, &url, err)) != 0) {
      dk_secret_wipe(token);
      return rc;
    }
    if (s->httpd) dk_httpd_close(s->httpd, dk__httpd_closed, s);
    free(s->url);
    free(s->host);
    s->httpd = h;
    s->url = url;
    s->host = h ? dk_strdup(c->host) : NULL;
    s->port = c->port;
    if (h) {
      s->open++;
      dk_log(DK_LOG_INFO, NULL, "status listener on %s%s", s->url, token ? " (bearer token required)" : "");
    } else {
      dk_log(DK_LOG_INFO, NULL, "status listener closed (status.listen is off)");
    }
  }
  dk_secret_wipe(s->token);
  s->token = token;
  s->cfg = cfg;
  return 0;
}

void dk_status_set_sched(struct dk_status *s, const struct dk_sched *sched) {
  s->sched = sched;
}

const char *dk_status_url(const struct dk_status *s) {
  return s->url;
}

int dk_status_add_page(struct dk_status *s, const char *prefix, dk_status_page_fn fn, void *arg) {
  if (prefix == NULL || prefix[0] != '/' || fn == NULL) return DK_EINVAL;
  if (s->npages == DK__STATUS_MAX_PAGES) return DK_ENOMEM;
  s->pages[s->npages++] = (struct dk__page){dk_strdup(prefix), fn, arg};
  return 0;
}

void dk_status_close(struct dk_status *s, void (*done)(void *arg), void *arg) {
  s->closing = 1;
  s->done = done;
  s->done_arg = arg;
  s->sched = NULL;
  if (s->httpd) dk_httpd_close(s->httpd, dk__httpd_closed, s);
  s->httpd = NULL;
  dk__status_maybe_free(s);
}

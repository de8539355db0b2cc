#include "fetch.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backoff.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "plugin_host.h"
#include "util.h"

#define DK__MAX_PAGES 10000
#define DK__MAX_BUSY 2 /* rounds parsed and not yet committed, at most */

/* The page failed in a way worth another try (connection error, 5xx, 429,
 * a plugin's RETRY): wait with full-jitter backoff, honouring the server's
 * Retry-After (`ra` ms, -1: none), or give up when the tries are spent.
 * The engine owns retries; plugins only say RETRY. */
static void dk__retry_or_fail(struct dk__run *r, int64_t ra, const char *why) {
  struct dk_backoff b = {.base_ms = (uint64_t)(r->src->retry_base_ms > 0 ? r->src->retry_base_ms : 1000),
                         .cap_ms = 30000, .max_tries = (unsigned)r->src->retries + 1};
  int64_t delay = dk_backoff_delay(&b, r->attempt, ra > 0 ? (uint64_t)ra : 0, (double)rand() / ((double)RAND_MAX + 1));
  if (delay < 0) {
    dk__run_fail(r, "%s (gave up after %u tr%s)", why, r->attempt, r->attempt == 1 ? "y" : "ies");
    return;
  }
  dk_log(DK_LOG_WARN, "source", r->src->name, "url", r->url, NULL, "%s; retry %u of %d in %lld ms", why,
         r->attempt, r->src->retries, (long long)delay);
  dk__run_arm(r, DK__WAIT_RETRY, (uint64_t)delay);
}

/* A transport error or a status other than 200: retry, fail, or (304 on
 * the first page) end as not modified. Returns 1 when it handled the
 * response. */
static int dk__http_trouble(struct dk__run *r, const struct dk_http_res *res) {
  if (res->err == DK_ECANCELED && r->ctx->closing) {
    dk__run_cancel(r);
    return 1;
  }
  if (res->err != 0) {
    char why[DK_ERRBUF_SIZE + 32];
    snprintf(why, sizeof why, "fetch failed: %s", res->errmsg);
    if (res->err == DK_ETOOBIG || res->err == DK_ECANCELED) dk__run_fail(r, "%s", why);
    else dk__retry_or_fail(r, -1, why);
    return 1;
  }
  if (res->status == 304 && r->page == 1) {
    /* nothing to commit, but a branch a stopped run left behind main is
     * mended now, not at the next change */
    if (json_object_get(r->state, "pending_source_commit") && r->ready(r) != 0) {
      dk__run_fail(r, "the repository: %s", r->ctx->store->err);
      return 1;
    }
    r->res->outcome = DK_SOURCE_NOT_MODIFIED;
    r->finish(r);
    return 1;
  }
  if (res->status != 200 && !(res->status == 0 && strncmp(r->url, "file:", 5) == 0)) {
    char snip[200], why[DK_ERRBUF_SIZE];
    dk_excerpt(snip, sizeof snip, res->body, res->body_len);
    snprintf(why, sizeof why, "HTTP %ld from %s: %s", res->status, res->effective_url ? res->effective_url : r->url,
             snip);
    if (dk_http_retryable(res->status)) dk__retry_or_fail(r, res->retry_after_ms, why);
    else dk__run_fail(r, "%s", why);
    return 1;
  }
  return 0;
}

/* The first page's validators and provenance, for the state and trailers. */
static void dk__first_page(struct dk__run *r, const struct dk_http_res *res) {
  free(r->etag);
  free(r->last_modified);
  free(r->fetched_url);
  r->etag = dk_strdup(res->etag);
  r->last_modified = dk_strdup(res->last_modified);
  r->fetched_url = dk_strdup(res->effective_url ? res->effective_url : r->url);
  dk__iso_now(r->fetched_at, sizeof r->fetched_at);
}

/* Go on to the page the plugin asked for, or end the run. */
static void dk__next_or_finish(struct dk__run *r) {
  if (r->next_url == NULL) {
    r->finish(r);
    return;
  }
  if (json_object_get(r->seen_urls, r->next_url)) {
    dk__run_fail(r, "pagination loops: page %u asks for %s again", r->page, r->next_url);
    return;
  }
  if (r->page >= DK__MAX_PAGES) {
    dk__run_fail(r, "more than %d pages: giving up", DK__MAX_PAGES);
    return;
  }
  free(r->url);
  r->url = r->next_url;
  r->next_url = NULL;
  r->page++;
  r->attempt = 0;
  dk__fetch_page(r);
}

/* The plugin's parse of a page, on a worker thread: it touches only the
 * run (its records, its plugin state) and what is read-only by now. */
static void dk__parse_work(uv_work_t *w) {
  struct dk__run *r = w->data;
  const struct dk_http_res *res = r->page_res;
  r->parse_rc = dk__plugin_parse(r, res);
  if (r->parse_rc == DK_OK) EVP_DigestUpdate(r->sha, res->body, res->body_len);
  if (r->parse_rc == DK_OK) dk__plugin_keep_page(r, r->page_res);
  if (r->parse_rc == DK_OK && r->next_url == NULL && r->after_last_parse && r->is_ready) r->after_last_parse(r);
}

/* Back on the loop: the page's outcome. */
static void dk__parse_done(uv_work_t *w, int status) {
  struct dk__run *r = w->data;
  enum dk_result pr = status == 0 ? r->parse_rc : DK_ERROR;
  r->progress_bytes += r->page_res->body_len;
  r->progress_records = r->early ? r->res->records + r->res->invalid : json_array_size(r->records) + r->nheld;
  dk_http_res_free(r->page_res);
  r->page_res = NULL;
  if (pr != DK_OK) {
    r->mresult = "parse_error";
    char why[DK_ERRBUF_SIZE + 64];
    snprintf(why, sizeof why, "plugin %s %s page %u: %s", r->plugin->name,
             pr == DK_RETRY ? "asked to retry" : "could not parse", r->page,
             r->failmsg[0] ? r->failmsg : "no reason given");
    if (pr == DK_RETRY) dk__retry_or_fail(r, -1, why);
    else dk__run_fail(r, "%s", why);
    return;
  }
  if (r->next_url && r->next_url[0] == '\0') {
    dk__run_fail(r, "plugin %s page %u: %s", r->plugin->name, r->page, r->failmsg);
    return;
  }
  r->res->pages++;
  dk__next_or_finish(r);
}

/* The page (r->page_res) to the plugin, off the loop: parsing (and what
 * the plugin asks of the core meanwhile) is the work of a page that splits
 * across cores. */
static void dk__parse_start(struct dk__run *r) {
  r->work.data = r;
  if (uv_queue_work(r->ctx->loop, &r->work, dk__parse_work, dk__parse_done) != 0) {
    dk__parse_work(&r->work);
    dk__parse_done(&r->work, 0);
  }
}

static void dk__on_response(void *arg, const struct dk_http_res *res) {
  struct dk__run *r = arg;
  r->attempt++;
  dk__metrics_response(r, res);
  if (dk__http_trouble(r, res)) return;
  if (r->page == 1) dk__first_page(r, res);
  if (r->ready(r) != 0) {
    dk__run_fail(r, "the repository: %s", r->ctx->store->err);
    return;
  }
  r->page_res = dk_http_res_copy(res);
  struct dk__ctx *c = r->ctx;
  if (!r->has_slot && c->busy >= DK__MAX_BUSY) {
    /* what a parsed round holds (its records as JSON) is many times its
     * body: only a few rounds are parsed and not yet committed at once */
    if (c->wait_tail) c->wait_tail->wait_next = r;
    else c->wait_head = r;
    c->wait_tail = r;
    return;
  }
  if (!r->has_slot) {
    r->has_slot = 1;
    c->busy++;
  }
  dk__parse_start(r);
}

void dk__fetch_release(struct dk__run *r) {
  struct dk__ctx *c = r->ctx;
  if (!r->has_slot) return;
  r->has_slot = 0;
  c->busy--;
  struct dk__run *next = c->wait_head;
  if (next == NULL) return;
  c->wait_head = next->wait_next;
  if (c->wait_head == NULL) c->wait_tail = NULL;
  next->wait_next = NULL;
  next->has_slot = 1;
  c->busy++;
  dk__parse_start(next);
}

void dk__fetch_page(struct dk__run *r) {
  if (r->ctx->closing) {
    dk__run_cancel(r);
    return;
  }
  int prc = dk__plugin_prepare(r);
  if (prc != 0) {
    dk__run_fail(r, "plugin %s could not prepare page %u: %s", r->plugin->name, r->page, dk_strerror(prc));
    return;
  }
  /* Credentials go only to the origin of the source's url (as curl does on
   * redirects): a page elsewhere is refused, or fetched without them. */
  static const struct dk_credentials none = {0};
  const struct dk_credentials *auth = &r->auth;
  if ((auth->bearer || auth->user) && !dk_http_same_origin(r->src->url, r->url)) {
    if (!r->src->other_origin_without_auth) {
      dk__run_fail(r, "page %u refused: %s is on another origin than the source's url, and its credentials go only "
               "there (other_origin: without_auth fetches such pages without them)", r->page, r->url);
      return;
    }
    dk_log(DK_LOG_WARN, "source", r->src->name, "url", r->url, NULL,
           "page %u is on another origin than the source's url: fetched without its credentials", r->page);
    auth = &none;
  }
  json_object_set_new(r->seen_urls, r->url, json_true());
  /* Conditional GET only for a source whose last good round was one page:
   * the first page of a paginated source says nothing about the others. */
  json_t *st = r->state;
  int conditional = r->page == 1 && json_integer_value(json_object_get(st, "pages")) == 1;
  struct dk_http_req hr = {
    .url = r->url,
    .headers = (const char *const *)r->headers,
    .authorization = auth->bearer,
    .username = auth->user,
    .password = auth->password,
    .if_none_match = conditional ? json_string_value(json_object_get(st, "etag")) : NULL,
    .if_modified_since = conditional ? json_string_value(json_object_get(st, "last_modified")) : NULL,
    .timeout_ms = r->src->timeout_ms,
    .connect_timeout_ms = r->ctx->cfg->http.connect_timeout_ms,
    .low_speed_secs = r->ctx->cfg->http.low_speed_secs,
    .max_body = r->src->max_body > 0 ? (size_t)r->src->max_body : 0,
    .proxy = r->src->proxy,
    .proxy_authorization = r->proxy_auth.bearer,
    .proxy_username = r->proxy_auth.user,
    .proxy_password = r->proxy_auth.password,
    .ca_file = r->src->ca_file,
  };
  dk_log(DK_LOG_DEBUG, "source", r->src->name, "url", r->url, NULL, "fetching page %u", r->page);
  int rc = dk_http_get(r->ctx->http, &hr, dk__on_response, r);
  if (rc != 0) dk__run_fail(r, "cannot start the request: %s", dk_strerror(rc));
}


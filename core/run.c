#include "run.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "redact.h"
#include "state.h"
#include "util.h"

void dk__iso_now(char *out, size_t n) { dk_time_iso(time(NULL), out, n); }

void dk__run_vset_failed(struct dk__run *r, const char *fmt, va_list ap) {
  vsnprintf(r->res->error, sizeof r->res->error, fmt, ap);
  dk_redact_buf(r->res->error, sizeof r->res->error); /* a server may echo the token */
  r->res->outcome = DK_SOURCE_FAILED;
  dk_log(DK_LOG_ERROR, "source", r->src->name, "url", r->url, NULL, "%s", r->res->error);
}

void dk__run_set_failed(struct dk__run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk__run_vset_failed(r, fmt, ap);
  va_end(ap);
}

void dk__run_fail(struct dk__run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk__run_vset_failed(r, fmt, ap);
  va_end(ap);
  r->finish(r);
}

void dk__run_cancel(struct dk__run *r) {
  if (r->res->outcome == DK_SOURCE_PENDING) {
    r->res->outcome = DK_SOURCE_CANCELED;
    snprintf(r->res->error, sizeof r->res->error, "canceled: duikou is stopping");
  }
  r->finish(r);
}

static void dk__on_timer(uv_timer_t *t) {
  struct dk__run *r = t->data;
  enum dk__wait w = r->wait;
  r->wait = DK__WAIT_NONE;
  if (w == DK__WAIT_FINISH) r->finish(r);
  else dk__fetch_page(r);
}

void dk__run_arm(struct dk__run *r, enum dk__wait why, uint64_t delay_ms) {
  if (!r->timer_live) {
    uv_timer_init(r->ctx->loop, &r->timer);
    r->timer.data = r;
    r->timer_live = 1;
  }
  r->wait = why;
  uv_timer_start(&r->timer, dk__on_timer, delay_ms, 0);
}

const char *dk__run_body_sha(struct dk__run *r) {
  if (r->body_sha[0] == '\0') {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(r->sha, md, &mdlen);
    dk_hex(md, mdlen < 32 ? mdlen : 32, r->body_sha);
  }
  return r->body_sha;
}

struct dk_seen *dk__run_seen(struct dk__run *r) {
  if (r->seen == NULL) r->seen = dk_state_load_seen(r->ctx->cfg->state, r->src->name);
  return r->seen;
}

void dk__run_save_state(struct dk__run *r) {
  char err[DK_ERRBUF_SIZE];
  if (dk_state_save(r->ctx->cfg->state, r->src->name, r->state, err) != 0)
    dk_log(DK_LOG_ERROR, "source", r->src->name, NULL, "cannot save state: %s", err);
}

#include "publish.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

/* A kicked exchange waits this long, so that the commits of one round go
 * out together. */
#define DK__KICK_DELAY_MS 2000

struct dk__remote {
  struct dk_publish *p;
  const struct dk_remote_conf *rc;
  struct dk_exchange_creds creds;
  uv_timer_t every, kick;
  uv_work_t work;
  int running, again, open_handles;
  struct dk_exchange_report rep;
  int code;
};

struct dk_publish {
  uv_loop_t *loop;
  const struct dk_config *cfg;
  dk_publish_fold_cb fold;
  void *arg;
  struct dk__remote *r;
  size_t n;
  int closing;
  size_t open_handles;
  void (*closed)(void *);
  void *closed_arg;
  struct dk_metrics *metrics;
};

static void dk__start(struct dk__remote *x);

/* On the worker: a store of its own (the engine's is the loop's), the
 * exchange, the store closed again. */
static void dk__work(uv_work_t *w) {
  struct dk__remote *x = w->data;
  struct dk_store *st = NULL;
  char err[DK_ERRBUF_SIZE];
  memset(&x->rep, 0, sizeof x->rep);
  if ((x->code = dk_store_open_existing(x->p->cfg->repository, &st, err)) != 0) {
    snprintf(x->rep.remote, sizeof x->rep.remote, "%s", x->rc->name);
    snprintf(x->rep.err, sizeof x->rep.err, "%s", err);
    x->rep.code = x->code;
    x->rep.alarms = json_array();
    return;
  }
  x->code = dk_exchange(st, x->p->cfg, x->rc, &x->creds, &x->rep);
  dk_store_close(st);
}

static void dk__maybe_closed(struct dk_publish *p);

static void dk__done(uv_work_t *w, int status) {
  (void)status;
  struct dk__remote *x = w->data;
  struct dk_publish *p = x->p;
  x->running = 0;
  dk__metrics_exchange(p->metrics, x->rc, x->code, &x->rep);
  if (x->code == 0)
    dk_log(x->rep.nin || x->rep.nout ? DK_LOG_INFO : DK_LOG_DEBUG, "remote", x->rc->name, NULL,
           "exchanged: %zu ref%s received, %zu pushed, %zu alarm%s", x->rep.nin, x->rep.nin == 1 ? "" : "s",
           x->rep.nout, json_array_size(x->rep.alarms), json_array_size(x->rep.alarms) == 1 ? "" : "s");
  if (x->code == 0 && x->rep.nin > 0 && !p->closing && p->fold) p->fold(p->arg, x->rc->name);
  dk_exchange_report_clear(&x->rep);
  if (p->closing) {
    dk__maybe_closed(p);
    return;
  }
  if (x->again) {
    x->again = 0;
    dk__start(x);
  }
}

static void dk__start(struct dk__remote *x) {
  if (x->p->closing) return;
  if (x->running) {
    x->again = 1;
    return;
  }
  x->running = 1;
  x->work.data = x;
  if (uv_queue_work(x->p->loop, &x->work, dk__work, dk__done) != 0) {
    x->running = 0;
    dk_log(DK_LOG_ERROR, "remote", x->rc->name, NULL, "cannot start an exchange: no worker thread");
  }
}

static void dk__on_every(uv_timer_t *t) { dk__start(t->data); }
static void dk__on_kick(uv_timer_t *t) { dk__start(t->data); }

int dk_publish_open(uv_loop_t *loop, const struct dk_config *cfg, dk_publish_fold_cb fold, void *arg,
                    struct dk_publish **out, char *err) {
  *out = NULL;
  if (cfg->nremotes == 0) return 0;
  struct dk_publish *p = dk_calloc(1, sizeof *p);
  p->loop = loop;
  p->cfg = cfg;
  p->fold = fold;
  p->arg = arg;
  p->r = dk_calloc(cfg->nremotes, sizeof *p->r);
  p->n = cfg->nremotes;
  for (size_t i = 0; i < p->n; i++) {
    int rc = dk_exchange_creds_read(&cfg->remotes[i], &p->r[i].creds, err);
    if (rc != 0) {
      char why[DK_ERRBUF_SIZE];
      snprintf(why, sizeof why, "%s", err);
      dk_failf(err, rc, "remote %s: %s", cfg->remotes[i].name, why);
      for (size_t k = 0; k <= i; k++) dk_exchange_creds_wipe(&p->r[k].creds);
      free(p->r);
      free(p);
      return rc;
    }
  }
  for (size_t i = 0; i < p->n; i++) {
    struct dk__remote *x = &p->r[i];
    x->p = p;
    x->rc = &cfg->remotes[i];
    uv_timer_init(loop, &x->every);
    uv_timer_init(loop, &x->kick);
    x->every.data = x->kick.data = x;
    p->open_handles += 2;
    /* the first exchange soon after the start: what the other sites did meanwhile */
    uv_timer_start(&x->every, dk__on_every, 1000, (uint64_t)x->rc->every_ms);
  }
  *out = p;
  return 0;
}

void dk_publish_set_metrics(struct dk_publish *p, struct dk_metrics *m) {
  if (p) p->metrics = m;
}

void dk_publish_kick(struct dk_publish *p) {
  if (p == NULL || p->closing) return;
  for (size_t i = 0; i < p->n; i++)
    if (p->r[i].rc->after_commit && !uv_is_active((uv_handle_t *)&p->r[i].kick))
      uv_timer_start(&p->r[i].kick, dk__on_kick, DK__KICK_DELAY_MS, 0);
}

static void dk__handle_closed(uv_handle_t *h) {
  struct dk__remote *x = h->data;
  x->p->open_handles--;
  dk__maybe_closed(x->p);
}

static void dk__maybe_closed(struct dk_publish *p) {
  for (size_t i = 0; i < p->n; i++)
    if (p->r[i].running) return;
  if (p->open_handles > 0) return;
  void (*cb)(void *) = p->closed;
  void *arg = p->closed_arg;
  for (size_t i = 0; i < p->n; i++) dk_exchange_creds_wipe(&p->r[i].creds);
  free(p->r);
  free(p);
  if (cb) cb(arg);
}

void dk_publish_close(struct dk_publish *p, void (*cb)(void *), void *arg) {
  if (p == NULL) {
    if (cb) cb(arg);
    return;
  }
  p->closing = 1;
  p->closed = cb;
  p->closed_arg = arg;
  for (size_t i = 0; i < p->n; i++) {
    uv_close((uv_handle_t *)&p->r[i].every, dk__handle_closed);
    uv_close((uv_handle_t *)&p->r[i].kick, dk__handle_closed);
  }
}

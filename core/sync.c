#include "sync.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct dk_sync {
  struct dk_engine *engine;
  const struct dk_source_conf **srcs;
  struct dk_source_result *results;
  size_t nruns, pending;
  dk_sync_done_cb done;
  void *done_arg;
};

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
  dk_engine_set_metrics(s->engine, opts->metrics);
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

void dk_sync_progress(const struct dk_sync *s, void (*cb)(void *arg, const struct dk_run_progress *p), void *arg) {
  if (s->engine) dk_engine_progress(s->engine, cb, arg);
}

struct dk__run_ticker {
  uv_timer_t timer;
  int live;
  struct dk_sync *sync;
  const struct dk_sync_opts *opts;
};

static void dk__run_tick(uv_timer_t *t) {
  struct dk__run_ticker *k = t->data;
  if (k->sync && k->sync->engine) k->opts->tick(k->sync, k->opts->tick_arg);
}

static void dk__run_done(struct dk_sync *s, void *arg) {
  struct dk__run_ticker *k = arg;
  if (k->live) uv_close((uv_handle_t *)&k->timer, NULL);
  k->live = 0;
}

int dk_sync_run(const struct dk_config *cfg, const struct dk_sync_opts *opts, struct dk_sync **out, char *err) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct dk__run_ticker k = {.opts = opts};
  int rc = dk_sync_start(&loop, cfg, opts, dk__run_done, &k, out, err);
  if (rc == 0 && opts->tick && *out && (*out)->engine) {
    k.sync = *out;
    uv_timer_init(&loop, &k.timer);
    k.timer.data = &k;
    uv_timer_start(&k.timer, dk__run_tick, opts->tick_delay_ms, opts->tick_ms ? opts->tick_ms : 250);
    k.live = 1;
  }
  if (rc == 0) uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}

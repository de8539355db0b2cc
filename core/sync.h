/* A round: every configured source (or one) run once on an engine of its
 * own (engine.h), for `duikou sync` and `duikou demo`. */
#ifndef DK_SYNC_H
#define DK_SYNC_H

#include <stddef.h>
#include <uv.h>
#include "config.h"
#include "engine.h"
#include "error.h"

struct dk_sync;

struct dk_sync_opts {
  const char *only_source; /* NULL: all */
  const char *plugin_dir;  /* --plugin-dir, or NULL */
  /* dk_sync_run only: tick(sync, tick_arg) from the loop every tick_ms once
   * the round has run for tick_delay_ms (a progress display); NULL: none. */
  void (*tick)(struct dk_sync *sync, void *arg);
  void *tick_arg;
  unsigned tick_delay_ms, tick_ms;
  struct dk_metrics *metrics; /* what the round's engine counts into (metrics.h), or NULL */
};
typedef void (*dk_sync_done_cb)(struct dk_sync *sync, void *arg);

/* Start a round on `loop`. Returns 0 (done is called once every source has
 * finished and every handle the round opened is closed) or a negative DK_E*
 * code with err saying why (done is never called). `cfg` must outlive the
 * round. */
int dk_sync_start(uv_loop_t *loop, const struct dk_config *cfg, const struct dk_sync_opts *opts,
                  dk_sync_done_cb done, void *arg, struct dk_sync **out, char *err);
/* Results, one per source run, valid until dk_sync_free. */
const struct dk_source_result *dk_sync_results(const struct dk_sync *sync, size_t *n);
/* 0 when every source succeeded (committed, unchanged or not modified), 1 otherwise. */
int dk_sync_failed(const struct dk_sync *sync);
void dk_sync_free(struct dk_sync *sync);
/* Call cb for each of the round's runs in progress (dk_engine_progress);
 * from the loop's thread, while the round runs. */
void dk_sync_progress(const struct dk_sync *sync, void (*cb)(void *arg, const struct dk_run_progress *p), void *arg);

/* Convenience: a round on a private loop, run to the end. Returns 0 when it
 * ran (see dk_sync_failed for its outcome) or a negative DK_E* code. */
int dk_sync_run(const struct dk_config *cfg, const struct dk_sync_opts *opts, struct dk_sync **out, char *err);

#endif

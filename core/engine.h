/* The engine of runs: a source fetched, parsed by its plugin, checked,
 * and committed to the snapshot repository.
 *
 * The engine holds what runs share — the HTTP client, the repository, the
 * plugins — and runs any source on request, never two runs of one source at
 * once; the scheduler and `duikou daemon` drive it, and a round (sync.h)
 * runs every source once. A run goes through the stages of the data flow in
 * order (run.h): fetch, plugin_host, ingest, branch, reconcile, commitmsg.
 *
 * Sources run concurrently on the loop; commits are made one at a time on
 * the loop thread, so a commit is never interrupted by another event. A
 * source's trouble (HTTP error, bad payload, invalid records) is that
 * source's result and never stops the others. */
#ifndef DK_ENGINE_H
#define DK_ENGINE_H

#include <stddef.h>
#include <uv.h>
#include "config.h"
#include "error.h"

enum dk_source_outcome {
  DK_SOURCE_PENDING = 0,
  DK_SOURCE_COMMITTED,  /* new data, committed */
  DK_SOURCE_UNCHANGED,  /* fetched, nothing changed: no commit */
  DK_SOURCE_NOT_MODIFIED, /* the server said 304: nothing parsed */
  DK_SOURCE_FAILED,     /* the valid records of the pages fully received were still committed */
  DK_SOURCE_CANCELED    /* stopped by shutdown: not counted as the source's failure */
};

struct dk_source_result {
  const char *name;      /* borrowed from the config */
  enum dk_source_outcome outcome;
  size_t records;        /* valid records received */
  size_t invalid;        /* records refused by validation */
  size_t rejected;       /* items the plugin could not turn into records */
  size_t changed;        /* paths changed by the commit */
  size_t pages;
  int partial;           /* failed after some pages: what they held was kept (commit set if it changed anything) */
  char commit[40 + 1];
  char error[DK_ERRBUF_SIZE]; /* why it failed */
};

struct dk_engine;

/* Called once when a run has ended; `res` is valid during the call only. */
typedef void (*dk_run_cb)(void *arg, const struct dk_source_result *res);

/* Open what runs need on `loop`: the repository (created if missing), the
 * plugins (plugin_dir, else the configured or installed folder), the HTTP
 * client with cfg->http's limits. Returns 0, or a negative DK_E* code with
 * err saying why. `cfg` must outlive the engine. */
int dk_engine_open(uv_loop_t *loop, const struct dk_config *cfg, const char *plugin_dir, struct dk_engine **out,
                   char *err);
/* Start a run of `src` (a source of the engine's configuration). Returns 0,
 * and cb is called once, later, from the loop; or DK_EBUSY (the source is
 * running) or DK_ECANCELED (the engine is closing), and cb is never called. */
int dk_engine_run(struct dk_engine *e, const struct dk_source_conf *src, dk_run_cb cb, void *arg);
/* Runs in progress. */
size_t dk_engine_active(const struct dk_engine *e);

/* Where a run in progress is, for a progress display. */
enum dk_run_phase {
  DK_RUN_WAITING,    /* its first fetch is planned */
  DK_RUN_FETCHING,   /* a request is in flight */
  DK_RUN_RETRYING,   /* waiting to try a page again */
  DK_RUN_PARSING,    /* a page is with the plugin (or waits for a place among the rounds parsed) */
  DK_RUN_COMMITTING  /* the round is checked and committed */
};
struct dk_run_progress {
  const char *name;        /* the source's (borrowed from the config) */
  size_t index;            /* its place in the configuration's sources */
  enum dk_run_phase phase;
  unsigned page;           /* the page being fetched or parsed (1 = the first) */
  size_t pages;            /* pages parsed so far */
  unsigned long long bytes; /* the bodies of those pages */
  size_t records;          /* records they held */
};
/* Call cb once for each run in progress, in no particular order; from the
 * loop's thread. `p` is valid during the call only. */
void dk_engine_progress(const struct dk_engine *e, void (*cb)(void *arg, const struct dk_run_progress *p),
                        void *arg);
/* Close: runs still fetching or waiting to retry are canceled (their cb gets
 * DK_SOURCE_CANCELED; their state records no failure); no commit is ever cut
 * short. done(arg) is called once every handle is closed and the engine is
 * freed. */
void dk_engine_close(struct dk_engine *e, void (*done)(void *arg), void *arg);
/* Start exchanging with the configuration's remotes (publish.h): after
 * each commit that changed something and on their schedules, main folded
 * again when another site's inputs arrive. For the daemon: its timers keep
 * the loop running until dk_engine_close. Returns 0 (also with no remotes),
 * or DK_ECONFIG with err (a remote's credentials missing). */
int dk_engine_publish(struct dk_engine *e, char *err);
struct dk_metrics;
/* Count what the engine's runs and exchanges do in m (metrics.h; NULL:
 * nothing). m is the caller's and must outlive the engine, or be unset
 * first: it survives an engine replaced by a reload. */
void dk_engine_set_metrics(struct dk_engine *e, struct dk_metrics *m);

#endif

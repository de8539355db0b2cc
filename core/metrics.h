/* Metrics: a small registry of counters, gauges and histograms with labels,
 * rendered in the Prometheus text exposition format 0.0.4 (`/metrics`, and
 * `duikou sync --metrics-file` for the node_exporter textfile collector).
 *
 * One process-wide object, owned by whoever created it (the daemon, or
 * `duikou sync`), so that counters survive an engine replaced by a SIGHUP
 * reload. Not thread-safe: every update and every rendering happens on the
 * loop thread (the engine counts in its loop callbacks, never in the
 * workers' parse or ingest). A NULL registry is accepted everywhere and
 * counts nothing.
 *
 * What the registry cannot count as it happens (the quarantine's size, the
 * open conflicts, each source's last success, the next run, convergence) is
 * read when the page is rendered (dk_metrics_collect): from the state
 * folder and the repository, so that it is right after a restart. */
#ifndef DK_METRICS_H
#define DK_METRICS_H

#include <stddef.h>
#include <time.h>
#include "config.h"
#include "error.h"
#include "util.h"

enum dk_metric_type { DK_METRIC_COUNTER, DK_METRIC_GAUGE, DK_METRIC_HISTOGRAM };

struct dk_metrics;

/* A new registry with duikou's families declared (README, "Metrics").
 * Never NULL; free with dk_metrics_free. */
struct dk_metrics *dk_metrics_new(void);
void dk_metrics_free(struct dk_metrics *m);

/* Declare a family: `labels` its label names, comma-separated ("" or NULL:
 * none); a histogram's upper bounds `buckets` (increasing; +Inf is added).
 * Names follow Prometheus' rules ([a-zA-Z_:][a-zA-Z0-9_:]* for metrics,
 * [a-zA-Z_][a-zA-Z0-9_]* for labels, never "le" or a leading "__"; at
 * most 16 labels); a counter's name ends in _total, and only a counter's. Returns 0, DK_EEXIST (the name is taken)
 * or DK_EINVAL, with err saying why. */
int dk_metrics_declare(struct dk_metrics *m, enum dk_metric_type type, const char *name, const char *help,
                       const char *labels, const double *buckets, size_t nbuckets, char *err);

/* Update the series of family `name` whose label values follow `v` (as
 * many `const char *` as the family has labels; NULL is taken as ""):
 * add v (a counter: v >= 0; a gauge: any), set a gauge, observe a value
 * in a histogram. Returns 0, DK_ENOENT (no such family) or DK_EINVAL (the
 * wrong type, a negative counter increment, a value that is not finite). */
int dk_metrics_add(struct dk_metrics *m, const char *name, double v, ...);
int dk_metrics_set(struct dk_metrics *m, const char *name, double v, ...);
int dk_metrics_observe(struct dk_metrics *m, const char *name, double v, ...);
/* The value of a counter or gauge series (0 when it does not exist yet);
 * a histogram's count. For tests and the status page. */
double dk_metrics_get(const struct dk_metrics *m, const char *name, ...);
/* Drop every series of family `name` (a gauge read again from its source). */
void dk_metrics_reset(struct dk_metrics *m, const char *name);

/* The text exposition format into out: families sorted by name, each with
 * # HELP and # TYPE, its series sorted by their label values; a family
 * with no series is left out. Label values and help text escaped. */
void dk_metrics_render(const struct dk_metrics *m, struct dk_buf *out);

/* When a source runs next, from the scheduler: returns 1 with *when, 0 when
 * it has no next run. */
typedef int (*dk_metrics_next_run_fn)(void *arg, const char *source, time_t *when);

/* What the page shows: the registry (NULL: only what is read at render
 * time), the configuration whose sources, state folder and repository are
 * read, and the scheduler's next runs (NULL: no such family). */
struct dk_metrics_view {
  struct dk_metrics *m;
  const struct dk_config *cfg;
  dk_metrics_next_run_fn next_run;
  void *next_arg;
};

/* Read into m what is read at render time (see above) for cfg. A part
 * that cannot be read (a repository not created yet) is left out and
 * logged at debug level: a scrape never fails for it. */
void dk_metrics_collect(struct dk_metrics *m, const struct dk_config *cfg, dk_metrics_next_run_fn next_run,
                        void *next_arg);

/* The status listener's page callback for GET /metrics: arg is a struct
 * dk_metrics_view. Collects, renders into body and sets *ctype to the
 * format's content type. Returns the HTTP status (200; 404 for a path
 * other than /metrics). */
int dk_metrics_page(void *arg, const char *path, const char *query, struct dk_buf *body, const char **ctype);
#define DK_METRICS_CTYPE "text/plain; version=0.0.4; charset=utf-8"

/* Collect and write the page to `path` atomically (a temporary file in the
 * same folder, renamed), mode 0644: the textfile collector's convention.
 * Returns 0 or a DK_E* code with err naming the path. */
int dk_metrics_write_file(const struct dk_metrics_view *v, const char *path, char *err);

/* --- what the stages count (all on the loop thread) ---------------------- */

struct dk__run;
struct dk__round;
struct dk_http_res;
struct dk_exchange_report;
struct dk_remote_conf;

/* A response to one of the run's requests: its status class and bytes;
 * the run's failure class (r->mresult) follows it. */
void dk__metrics_response(struct dk__run *r, const struct dk_http_res *res);
/* The round's records by kind: valid (changed or unchanged), invalid and
 * rejected. */
void dk__metrics_round(struct dk__run *r, const struct dk__round *rd);
/* A commit of the run took `secs`. */
void dk__metrics_commit(struct dk__run *r, double secs);
/* A fold committed on main met `conflicts`, and left `open` of them open
 * (the others the policies settled), as its commit's summary counts them. */
void dk__metrics_fold(struct dk_metrics *m, size_t conflicts, size_t open);
/* The run's end: its outcome as duikou_fetches_total's result. */
void dk__metrics_run_end(struct dk__run *r);
/* An exchange with remote `rc` ended with `code` (0: reached). */
void dk__metrics_exchange(struct dk_metrics *m, const struct dk_remote_conf *rc, int code,
                          const struct dk_exchange_report *rep);

#endif

/* The scheduler: when each source runs next.
 *
 * A source runs every `every` (with ±10 % jitter, so that sources configured
 * alike do not hit one server together) or at the minutes its `cron`
 * expression names, in the configured time zone. The next run is planned
 * only once the last one has ended, so one source never runs twice at once.
 * After k consecutive failures the wait is the normal interval times
 * 2^(k-1), at most max(interval, 6 h): a failing source backs off, and
 * never delays another, since each source has a timer of its own.
 *
 * At start a source whose last attempt (from its state file) is older than
 * its interval runs at once (after a jitter of up to a tenth of the
 * interval, at most 10 s); otherwise it keeps its rhythm. A cron source runs
 * at once when a slot was missed while duikou was down. */
#ifndef DK_SCHEDULER_H
#define DK_SCHEDULER_H

#include <stdint.h>
#include <time.h>
#include <uv.h>
#include "config.h"
#include "cron.h"
#include "sync.h"

#define DK_SCHED_BACKOFF_CAP_MS (6LL * 3600 * 1000)

/* How one source is scheduled. */
struct dk_sched_rule {
  int64_t every_ms;     /* > 0 for `every` */
  int has_cron;
  struct dk_cron cron;  /* when has_cron */
};

/* The rule of a source: its every or cron; a source with neither runs every
 * 30 minutes. Returns 0 or DK_EINVAL (bad cron; err says why). */
int dk_sched_rule(const struct dk_source_conf *src, struct dk_sched_rule *out, char *err);

/* Milliseconds from `now` to the next run after a run that ended at `now`
 * with `failures` consecutive failures (0 after a success); `rnd` in [0, 1)
 * draws the jitter. Never negative. */
int64_t dk_sched_next_ms(const struct dk_sched_rule *rule, time_t now, unsigned failures, double rnd);

/* Milliseconds from `now` to the first run when duikou starts, given the
 * last attempt recorded (0: none) and the failures recorded. */
int64_t dk_sched_first_ms(const struct dk_sched_rule *rule, time_t now, time_t last_attempt, unsigned failures,
                          double rnd);

struct dk_sched;

/* Schedule every source of `cfg` on the engine's loop. Returns 0 or a
 * negative DK_E* code with err saying why (nothing is scheduled then). */
int dk_sched_start(uv_loop_t *loop, const struct dk_config *cfg, struct dk_engine *engine, struct dk_sched **out,
                   char *err);
/* Stop planning runs. Runs in progress go on (the engine owns them); their
 * end is still recorded. done(arg) once every timer is closed and the
 * scheduler is freed. */
void dk_sched_stop(struct dk_sched *s, void (*done)(void *arg), void *arg);
/* When source `source` runs next: 1 with *when while its timer is set, 0
 * otherwise (running now, stopping, unknown source, or s NULL). */
int dk_sched_next_run(const struct dk_sched *s, const char *source, time_t *when);

#endif

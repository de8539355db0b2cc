#include "scheduler.h"
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define DK__DEFAULT_EVERY_MS (30LL * 60 * 1000)
#define DK__START_JITTER_CAP_MS 10000LL

int dk_sched_rule(const struct dk_source_conf *src, struct dk_sched_rule *out, char *err) {
  memset(out, 0, sizeof *out);
  if (src->cron) {
    int rc = dk_cron_parse(src->cron, &out->cron, err);
    if (rc != 0) return rc;
    out->has_cron = 1;
    return 0;
  }
  out->every_ms = DK__DEFAULT_EVERY_MS;
  if (src->every) {
    /* the configuration loader has checked the form */
    char *end;
    long long v = strtoll(src->every, &end, 10);
    long long mult = strcmp(end, "ms") == 0 ? 1 : *end == 's' ? 1000 : *end == 'm' ? 60000
                     : *end == 'h' ? 3600000 : *end == 'd' ? 86400000 : 0;
    if (v > 0 && mult > 0) out->every_ms = v * mult;
  }
  return 0;
}

/* The normal gap of a cron rule around `now`: between its next two slots. */
static int64_t dk__cron_gap_ms(const struct dk_cron *c, time_t now) {
  time_t a = dk_cron_next(c, now);
  if (a == (time_t)-1) return -1;
  time_t b = dk_cron_next(c, a);
  if (b == (time_t)-1) return -1;
  return (int64_t)(b - a) * 1000;
}

/* interval × 2^(failures-1), at most max(interval, the cap). */
static int64_t dk__backed_off(int64_t interval, unsigned failures) {
  int64_t cap = interval > DK_SCHED_BACKOFF_CAP_MS ? interval : DK_SCHED_BACKOFF_CAP_MS;
  int64_t v = interval;
  for (unsigned i = 1; i < failures && v < cap; i++) v *= 2;
  return v < cap ? v : cap;
}

int64_t dk_sched_next_ms(const struct dk_sched_rule *rule, time_t now, unsigned failures, double rnd) {
  if (!rule->has_cron) {
    int64_t base = failures ? dk__backed_off(rule->every_ms, failures) : rule->every_ms;
    return (int64_t)((double)base * (0.9 + 0.2 * rnd));
  }
  if (failures == 0) {
    time_t t = dk_cron_next(&rule->cron, now);
    return t == (time_t)-1 ? DK_SCHED_BACKOFF_CAP_MS : (int64_t)(t - now) * 1000;
  }
  /* Backing off on a cron rule skips slots: the first slot after
   * now + backoff - gap (so one failure keeps the normal next slot). */
  int64_t gap = dk__cron_gap_ms(&rule->cron, now);
  if (gap <= 0) return DK_SCHED_BACKOFF_CAP_MS;
  int64_t wait = dk__backed_off(gap, failures);
  time_t t = dk_cron_next(&rule->cron, now + (time_t)((wait - gap) / 1000));
  return t == (time_t)-1 ? DK_SCHED_BACKOFF_CAP_MS : (int64_t)(t - now) * 1000;
}

int64_t dk_sched_first_ms(const struct dk_sched_rule *rule, time_t now, time_t last_attempt, unsigned failures,
                          double rnd) {
  int64_t jitter_cap = DK__START_JITTER_CAP_MS;
  if (!rule->has_cron && rule->every_ms / 10 < jitter_cap) jitter_cap = rule->every_ms / 10;
  int64_t start_now = (int64_t)((double)jitter_cap * rnd);
  if (last_attempt <= 0 || last_attempt > now) return start_now;
  if (!rule->has_cron) {
    int64_t wait = failures ? dk__backed_off(rule->every_ms, failures) : rule->every_ms;
    int64_t due = (int64_t)(last_attempt - now) * 1000 + wait;
    return due > start_now ? due : start_now;
  }
  /* A cron slot passed since the last attempt: it was missed; run now. */
  time_t missed = dk_cron_next(&rule->cron, last_attempt);
  if (missed != (time_t)-1 && missed <= now && failures == 0) return start_now;
  if (failures == 0) return dk_sched_next_ms(rule, now, 0, rnd);
  /* after failures, keep the backoff counted from the last attempt */
  int64_t from_last = dk_sched_next_ms(rule, last_attempt, failures, rnd) - (int64_t)(now - last_attempt) * 1000;
  return from_last > start_now ? from_last : start_now;
}

/* --- on the loop ------------------------------------------------------------ */

struct dk__entry {
  struct dk_sched *sched;
  const struct dk_source_conf *src;
  struct dk_sched_rule rule;
  uv_timer_t timer;
  unsigned failures;
  time_t due;           /* when the timer is set: its time, else 0 */
};

struct dk_sched {
  struct dk_engine *engine;
  struct dk__entry *entries;
  size_t n;
  size_t open_timers;
  size_t running;
  int stopping;
  void (*done)(void *arg);
  void *done_arg;
};

static double dk__rnd(void) { return (double)rand() / ((double)RAND_MAX + 1); }

static void dk__plan(struct dk__entry *en, int64_t delay_ms);

static void dk__maybe_stopped(struct dk_sched *s) {
  if (!s->stopping || s->open_timers > 0 || s->running > 0) return;
  void (*done)(void *) = s->done;
  void *arg = s->done_arg;
  free(s->entries);
  free(s);
  if (done) done(arg);
}

static void dk__on_run_end(void *arg, const struct dk_source_result *res) {
  struct dk__entry *en = arg;
  struct dk_sched *s = en->sched;
  s->running--;
  if (res->outcome == DK_SOURCE_FAILED) en->failures++;
  else if (res->outcome != DK_SOURCE_CANCELED) en->failures = 0;
  if (s->stopping) {
    dk__maybe_stopped(s);
    return;
  }
  dk__plan(en, dk_sched_next_ms(&en->rule, time(NULL), en->failures, dk__rnd()));
}

static void dk__on_due(uv_timer_t *t) {
  struct dk__entry *en = t->data;
  struct dk_sched *s = en->sched;
  en->due = 0;
  if (s->stopping) return;
  int rc = dk_engine_run(s->engine, en->src, dk__on_run_end, en);
  if (rc == 0) {
    s->running++;
    return;
  }
  /* Only `duikou sync --source` in this process could hold it: try again
   * on the normal rhythm. */
  dk_log(DK_LOG_WARN, "source", en->src->name, NULL, "not started: %s", dk_strerror(rc));
  dk__plan(en, dk_sched_next_ms(&en->rule, time(NULL), en->failures, dk__rnd()));
}

static void dk__plan(struct dk__entry *en, int64_t delay_ms) {
  if (delay_ms < 0) delay_ms = 0;
  char when[40];
  dk_time_iso(time(NULL) + (time_t)((delay_ms + 999) / 1000), when, sizeof when);
  if (en->failures)
    dk_log(DK_LOG_INFO, "source", en->src->name, "next", when, NULL,
           "next run in %lld ms (backing off after %u failure%s)", (long long)delay_ms, en->failures,
           en->failures == 1 ? "" : "s");
  else
    dk_log(DK_LOG_DEBUG, "source", en->src->name, "next", when, NULL, "next run in %lld ms", (long long)delay_ms);
  en->due = time(NULL) + (time_t)((delay_ms + 999) / 1000);
  uv_timer_start(&en->timer, dk__on_due, (uint64_t)delay_ms, 0);
}

int dk_sched_next_run(const struct dk_sched *s, const char *source, time_t *when) {
  if (s == NULL || s->stopping) return 0;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->entries[i].src->name, source) == 0 && s->entries[i].due != 0) {
      *when = s->entries[i].due;
      return 1;
    }
  return 0;
}

/* What the state file says of the last attempt: its time and the failures
 * in a row. Missing or unreadable state: never attempted. */
static void dk__read_state(const struct dk_config *cfg, const char *name, time_t *last, unsigned *failures) {
  json_t *st = dk_state_load(cfg->state, name);
  const char *t = json_string_value(json_object_get(st, "last_attempt"));
  if (t == NULL) t = json_string_value(json_object_get(st, "last_success"));
  time_t v = dk_time_parse_iso(t);
  *last = v != (time_t)-1 ? v : 0;
  json_int_t f = json_integer_value(json_object_get(st, "consecutive_failures"));
  *failures = f > 0 && f < 64 ? (unsigned)f : 0;
  json_decref(st);
}

int dk_sched_start(uv_loop_t *loop, const struct dk_config *cfg, struct dk_engine *engine, struct dk_sched **out,
                   char *err) {
  *out = NULL;
  struct dk_sched_rule *rules = dk_calloc(cfg->nsources ? cfg->nsources : 1, sizeof *rules);
  for (size_t i = 0; i < cfg->nsources; i++) {
    char why[DK_ERRBUF_SIZE];
    int rc = dk_sched_rule(&cfg->sources[i], &rules[i], why);
    if (rc != 0) {
      free(rules);
      return dk_failf(err, rc, "source %s: cron %s", cfg->sources[i].name, why);
    }
  }
  struct dk_sched *s = dk_calloc(1, sizeof *s);
  s->engine = engine;
  s->n = cfg->nsources;
  s->entries = dk_calloc(s->n ? s->n : 1, sizeof *s->entries);
  time_t now = time(NULL);
  for (size_t i = 0; i < s->n; i++) {
    struct dk__entry *en = &s->entries[i];
    en->sched = s;
    en->src = &cfg->sources[i];
    en->rule = rules[i];
    uv_timer_init(loop, &en->timer);
    en->timer.data = en;
    s->open_timers++;
    time_t last;
    dk__read_state(cfg, en->src->name, &last, &en->failures);
    dk__plan(en, dk_sched_first_ms(&en->rule, now, last, en->failures, dk__rnd()));
  }
  free(rules);
  *out = s;
  return 0;
}

static void dk__timer_closed(uv_handle_t *h) {
  struct dk__entry *en = h->data;
  struct dk_sched *s = en->sched;
  s->open_timers--;
  dk__maybe_stopped(s);
}

void dk_sched_stop(struct dk_sched *s, void (*done)(void *arg), void *arg) {
  if (s->stopping) return;
  s->stopping = 1;
  s->done = done;
  s->done_arg = arg;
  size_t n = s->n;
  for (size_t i = 0; i < n; i++) uv_close((uv_handle_t *)&s->entries[i].timer, dk__timer_closed);
  if (n == 0) dk__maybe_stopped(s);
}

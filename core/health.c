/* health: the data-aware health (health.h). */
#include "health.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "converge.h"
#include "exchange.h"
#include "scheduler.h"
#include "state.h"
#include "util.h"

char *dk_health_duration(long long secs, char *out, size_t n) {
  if (secs < 0) secs = 0;
  if (secs >= 86400)
    snprintf(out, n, "%lldd %lldh", secs / 86400, secs % 86400 / 3600);
  else if (secs >= 3600)
    snprintf(out, n, "%lldh %lldm", secs / 3600, secs % 3600 / 60);
  else if (secs >= 60)
    snprintf(out, n, "%lldm", secs / 60);
  else
    snprintf(out, n, "%llds", secs);
  return out;
}

static void dk__reason(json_t *reasons, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dk__reason(json_t *reasons, const char *fmt, ...) {
  struct dk_buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  dk_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  /* one line each: a reason quoted from a server must not start another */
  for (size_t i = 0; i < b.len; i++)
    if (b.data[i] == '\n' || b.data[i] == '\r') b.data[i] = ' ';
  json_t *s = json_string(dk_buf_cstr(&b));
  if (s == NULL) s = json_string("(a reason that is not UTF-8)");
  json_array_append_new(reasons, s);
  dk_buf_free(&b);
}

/* A source's syncs and its share of valid records. */
static void dk__check_source(json_t *reasons, const struct dk_config *cfg, const struct dk_source_conf *src,
                             time_t now) {
  char why[DK_ERRBUF_SIZE], d1[32], d2[32];
  struct dk_sched_rule rule;
  if (dk_sched_rule(src, &rule, why) != 0) return; /* refused at load */
  json_t *st = dk_state_load(cfg->state, src->name);
  time_t ok = dk_time_parse_iso(json_string_value(json_object_get(st, "last_success")));
  json_int_t fails = json_integer_value(json_object_get(st, "consecutive_failures"));
  const char *lastwhy = json_string_value(json_object_get(st, "last_failure_reason"));
  char tail[600] = "";
  if (fails > 0 && lastwhy)
    snprintf(tail, sizeof tail, "; %lld failure%s in a row, the last: %.400s", (long long)fails, fails == 1 ? "" : "s",
             lastwhy);
  if (ok == (time_t)-1) {
    if (fails >= 2) dk__reason(reasons, "source %s: never synced successfully%s", src->name, tail);
  } else if (rule.has_cron) {
    time_t slot1 = dk_cron_next(&rule.cron, ok);
    time_t slot2 = slot1 == (time_t)-1 ? (time_t)-1 : dk_cron_next(&rule.cron, slot1);
    if (slot2 != (time_t)-1 && now > slot2)
      dk__reason(reasons, "source %s: no successful sync for %s, missing 2 cron slots of \"%s\"%s", src->name,
                 dk_health_duration(now - ok, d1, sizeof d1), src->cron, tail);
  } else if ((long long)(now - ok) * 1000 > 2 * rule.every_ms) {
    dk__reason(reasons, "source %s: no successful sync for %s (expected every %s)%s", src->name,
               dk_health_duration(now - ok, d1, sizeof d1), dk_health_duration(rule.every_ms / 1000, d2, sizeof d2),
               tail);
  }
  json_t *share = json_object_get(st, "valid_share"), *usual = json_object_get(st, "valid_share_usual");
  if (json_is_number(share) && json_is_number(usual) &&
      json_number_value(share) < json_number_value(usual) - cfg->status.valid_share_drop)
    dk__reason(reasons, "source %s: %.0f%% of the last round's records were valid (%lld of %lld), usually %.0f%%",
               src->name, 100 * json_number_value(share),
               (long long)json_integer_value(json_object_get(st, "records")),
               (long long)(json_integer_value(json_object_get(st, "records")) +
                           json_integer_value(json_object_get(st, "invalid"))),
               100 * json_number_value(usual));
  json_decref(st);
}

/* The repository and its folders where commits write. */
static void dk__check_writable(json_t *reasons, const struct dk_config *cfg) {
  static const char *const sub[] = {"", "/objects", "/refs"};
  struct stat sb;
  if (stat(cfg->repository, &sb) != 0) {
    int e = errno;
    char *dir = dk_dirname(cfg->repository);
    if (e == ENOENT && dir && access(dir, W_OK) == 0) {
      free(dir);
      return; /* made at the first commit */
    }
    dk__reason(reasons, "repository %s: %s", cfg->repository, strerror(e));
    free(dir);
    return;
  }
  if (!S_ISDIR(sb.st_mode)) {
    dk__reason(reasons, "repository %s: not a folder", cfg->repository);
    return;
  }
  for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
    char *p = dk_asprintf("%s%s", cfg->repository, sub[i]);
    if (access(p, W_OK) != 0 && errno != ENOENT) {
      dk__reason(reasons, "repository %s: not writable: %s", p, strerror(errno));
      free(p);
      return;
    }
    free(p);
  }
}

/* Open conflicts on main: too many, too old; and the sites' views. */
static void dk__check_repository(json_t *reasons, const struct dk_config *cfg, time_t now) {
  char err[DK_ERRBUF_SIZE], d1[32], d2[32];
  struct dk_audit *a = NULL;
  int rc = dk_audit_open(cfg->repository, &a, err);
  if (rc == DK_ENOENT) return; /* nothing synced yet: the sources say so */
  if (rc != 0) {
    dk__reason(reasons, "repository: cannot be read: %s", err);
    return;
  }
  git_oid main;
  json_t *list = NULL;
  rc = dk_audit_main(a, &main);
  if (rc == 0) rc = dk_audit_conflicts(a, &main, &list);
  if (rc != 0 && rc != DK_ENOENT) dk__reason(reasons, "repository: cannot list the open conflicts: %s", a->err);
  size_t n = json_array_size(list), old = 0, i;
  time_t oldest = 0;
  const char *oldest_file = NULL;
  json_t *c;
  json_array_foreach(list, i, c) {
    /* a conflict file opens field by field: its age is its oldest field's */
    time_t at = dk_time_parse_iso(json_string_value(json_object_get(c, "opened_at")));
    size_t k;
    json_t *fld;
    json_array_foreach(json_object_get(c, "fields"), k, fld) {
      time_t t = dk_time_parse_iso(json_string_value(json_object_get(fld, "opened_at")));
      if (t != (time_t)-1 && (at == (time_t)-1 || t < at)) at = t;
    }
    if (at == (time_t)-1) continue;
    if ((long long)(now - at) * 1000 > cfg->status.conflict_max_age_ms) old++;
    if (oldest_file == NULL || at < oldest) oldest = at, oldest_file = json_string_value(json_object_get(c, "file"));
  }
  if ((long)n > cfg->status.conflict_max_open)
    dk__reason(reasons, "conflicts: %zu open, more than %ld (duikou conflicts list)", n, cfg->status.conflict_max_open);
  if (old > 0)
    dk__reason(reasons, "conflicts: %zu open for longer than %s, the oldest %s for %s (duikou conflicts list)", old,
               dk_health_duration(cfg->status.conflict_max_age_ms / 1000, d1, sizeof d1),
               oldest_file ? oldest_file : "?", dk_health_duration(now - oldest, d2, sizeof d2));
  json_decref(list);
  if (cfg->site && cfg->nremotes > 0) {
    json_t *sites = NULL;
    if (dk_converge_sites(a->st, cfg, &sites) == 0) {
      json_array_foreach(json_object_get(sites, "sites"), i, c) {
        const char *m = json_string_value(json_object_get(c, "main"));
        const char *pol = json_string_value(json_object_get(c, "policies"));
        if (json_is_true(json_object_get(c, "self"))) continue;
        /* A site that has not folded this site's newest reports yet only
         * lags (a remote down says so on its own); one that folded the same
         * inputs into another tree, or under other policies, diverges. */
        if (pol && strcmp(pol, "differ") == 0)
          dk__reason(reasons, "site %s: its reconcile policies differ from this site's, so main cannot converge "
                     "(duikou sites)", json_string_value(json_object_get(c, "site")));
        else if (m && strcmp(m, "differs") == 0 && json_array_size(json_object_get(c, "differs")) == 0)
          dk__reason(reasons, "site %s: its main holds the same inputs as this site's but another tree "
                     "(duikou sites)", json_string_value(json_object_get(c, "site")));
      }
    }
    json_decref(sites);
  }
  dk_audit_close(a);
}

/* Each remote down for longer than allowed. */
static void dk__check_remotes(json_t *reasons, const struct dk_config *cfg, time_t now) {
  char d1[32];
  for (size_t i = 0; i < cfg->nremotes; i++) {
    json_t *st = dk_exchange_state(cfg, cfg->remotes[i].name);
    time_t down = dk_time_parse_iso(json_string_value(json_object_get(st, "down_since")));
    if (down != (time_t)-1 && (long long)(now - down) * 1000 > cfg->status.remote_down_after_ms)
      dk__reason(reasons, "remote %s: unreachable for %s: %.400s", cfg->remotes[i].name,
                 dk_health_duration(now - down, d1, sizeof d1),
                 json_string_value(json_object_get(st, "error")) ? json_string_value(json_object_get(st, "error"))
                                                                 : "?");
    json_decref(st);
  }
}

json_t *dk_health_check(const struct dk_config *cfg, time_t now) {
  json_t *reasons = json_array();
  for (size_t i = 0; i < cfg->nsources; i++) dk__check_source(reasons, cfg, &cfg->sources[i], now);
  dk__check_writable(reasons, cfg);
  dk__check_repository(reasons, cfg, now);
  dk__check_remotes(reasons, cfg, now);
  return reasons;
}

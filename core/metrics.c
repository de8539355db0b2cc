#include "metrics.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "audit.h"
#include "converge.h"
#include "exchange.h"
#include "fold.h"
#include "fsafe.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "quarantine.h"
#include "record.h"
#include "run.h"
#include "state.h"
#include "store.h"

#ifndef DK_VERSION
#define DK_VERSION "0"
#endif

#define DK__MAX_LABELS 16

struct dk__mseries {
  char **values;   /* one per label */
  double v;        /* a counter's or gauge's value */
  double *counts;  /* a histogram's: per bucket, not cumulative; the last is +Inf */
  double sum;
  double count;
};

struct dk__mfamily {
  char *name, *help;
  enum dk_metric_type type;
  char **labels;
  size_t nlabels;
  double *bounds; /* a histogram's upper bounds, without +Inf */
  size_t nbounds;
  struct dk__mseries *s;
  size_t ns, caps;
};

struct dk_metrics {
  struct dk__mfamily *f;
  size_t nf, capf;
};

/* --- the registry ------------------------------------------------------------ */

static int dk__name_ok(const char *s, int colon) {
  if (s == NULL || s[0] == '\0') return 0;
  for (const char *p = s; *p; p++) {
    int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (colon && *p == ':');
    if (!alpha && !(p > s && *p >= '0' && *p <= '9')) return 0;
  }
  return 1;
}

static int dk__ends_with(const char *s, const char *end) {
  size_t n = strlen(s), k = strlen(end);
  return n >= k && strcmp(s + n - k, end) == 0;
}

static void dk__family_free(struct dk__mfamily *f) {
  for (size_t i = 0; i < f->ns; i++) {
    for (size_t k = 0; k < f->nlabels; k++) free(f->s[i].values[k]);
    free(f->s[i].values);
    free(f->s[i].counts);
  }
  free(f->s);
  for (size_t k = 0; k < f->nlabels; k++) free(f->labels[k]);
  free(f->labels);
  free(f->bounds);
  free(f->name);
  free(f->help);
}

int dk_metrics_declare(struct dk_metrics *m, enum dk_metric_type type, const char *name, const char *help,
                       const char *labels, const double *buckets, size_t nbuckets, char *err) {
  if (!dk__name_ok(name, 1))
    return dk_failf(err, DK_EINVAL, "metric name \"%s\" is not [a-zA-Z_:][a-zA-Z0-9_:]*", name ? name : "");
  if (type == DK_METRIC_COUNTER && !dk__ends_with(name, "_total"))
    return dk_failf(err, DK_EINVAL, "counter %s: a counter's name ends in _total", name);
  if (type != DK_METRIC_COUNTER && dk__ends_with(name, "_total"))
    return dk_failf(err, DK_EINVAL, "%s: only a counter's name ends in _total", name);
  for (size_t i = 0; i < m->nf; i++)
    if (strcmp(m->f[i].name, name) == 0) return dk_failf(err, DK_EEXIST, "metric %s is declared twice", name);
  struct dk__mfamily f = {.type = type};
  /* the label names, checked */
  const char *p = labels ? labels : "";
  while (*p) {
    const char *q = strchr(p, ',');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    char *l = dk_strndup(p, n);
    int bad = !dk__name_ok(l, 0) || strncmp(l, "__", 2) == 0 || (type == DK_METRIC_HISTOGRAM && strcmp(l, "le") == 0);
    for (size_t k = 0; !bad && k < f.nlabels; k++) bad = strcmp(f.labels[k], l) == 0;
    f.labels = dk_realloc(f.labels, (f.nlabels + 1) * sizeof *f.labels);
    f.labels[f.nlabels++] = l;
    if (bad) {
      dk_failf(err, DK_EINVAL, "metric %s: label \"%s\" is not a valid label name, or given twice", name, l);
      dk__family_free(&f);
      return DK_EINVAL;
    }
    p = q ? q + 1 : p + n;
  }
  if (f.nlabels > DK__MAX_LABELS) {
    dk__family_free(&f);
    return dk_failf(err, DK_EINVAL, "metric %s: more than %d labels", name, DK__MAX_LABELS);
  }
  if (type == DK_METRIC_HISTOGRAM) {
    for (size_t i = 0; i < nbuckets; i++)
      if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
        dk__family_free(&f);
        return dk_failf(err, DK_EINVAL, "histogram %s: bucket bounds must be finite and increasing", name);
      }
    f.bounds = dk_malloc((nbuckets ? nbuckets : 1) * sizeof *f.bounds);
    if (nbuckets) memcpy(f.bounds, buckets, nbuckets * sizeof *f.bounds);
    f.nbounds = nbuckets;
  }
  f.name = dk_strdup(name);
  f.help = dk_strdup(help ? help : "");
  if (m->nf == m->capf) {
    m->capf = m->capf ? m->capf * 2 : 32;
    m->f = dk_realloc(m->f, m->capf * sizeof *m->f);
  }
  m->f[m->nf++] = f;
  return 0;
}

static struct dk__mfamily *dk__family(const struct dk_metrics *m, const char *name) {
  for (size_t i = 0; m && i < m->nf; i++)
    if (strcmp(m->f[i].name, name) == 0) return &m->f[i];
  return NULL;
}

/* The series of f whose label values are the next f->nlabels arguments of
 * ap, created when `create`; NULL otherwise when it does not exist. */
static struct dk__mseries *dk__series(struct dk__mfamily *f, va_list ap, int create) {
  const char *v[DK__MAX_LABELS];
  size_t n = f->nlabels;
  for (size_t k = 0; k < n; k++) {
    v[k] = va_arg(ap, const char *);
    if (v[k] == NULL) v[k] = "";
  }
  for (size_t i = 0; i < f->ns; i++) {
    size_t k = 0;
    while (k < n && strcmp(f->s[i].values[k], v[k]) == 0) k++;
    if (k == n) return &f->s[i];
  }
  if (!create) return NULL;
  if (f->ns == f->caps) {
    f->caps = f->caps ? f->caps * 2 : 8;
    f->s = dk_realloc(f->s, f->caps * sizeof *f->s);
  }
  struct dk__mseries *s = &f->s[f->ns++];
  memset(s, 0, sizeof *s);
  s->values = dk_calloc(f->nlabels ? f->nlabels : 1, sizeof *s->values);
  for (size_t k = 0; k < n; k++) s->values[k] = dk_strdup(v[k]);
  if (f->type == DK_METRIC_HISTOGRAM) s->counts = dk_calloc(f->nbounds + 1, sizeof *s->counts);
  return s;
}

enum dk__op { DK__ADD, DK__SET, DK__OBSERVE };

static int dk__update(struct dk_metrics *m, const char *name, enum dk__op op, double v, va_list ap) {
  if (m == NULL) return 0;
  struct dk__mfamily *f = dk__family(m, name);
  if (f == NULL) return DK_ENOENT;
  if (!isfinite(v)) return DK_EINVAL;
  if (op == DK__ADD && (f->type == DK_METRIC_HISTOGRAM || (f->type == DK_METRIC_COUNTER && v < 0))) return DK_EINVAL;
  if (op == DK__SET && f->type != DK_METRIC_GAUGE) return DK_EINVAL;
  if (op == DK__OBSERVE && f->type != DK_METRIC_HISTOGRAM) return DK_EINVAL;
  struct dk__mseries *s = dk__series(f, ap, 1);
  if (op == DK__ADD) s->v += v;
  else if (op == DK__SET) s->v = v;
  else {
    size_t b = 0;
    while (b < f->nbounds && v > f->bounds[b]) b++;
    s->counts[b]++;
    s->sum += v;
    s->count++;
  }
  return 0;
}

int dk_metrics_add(struct dk_metrics *m, const char *name, double v, ...) {
  va_list ap;
  va_start(ap, v);
  int rc = dk__update(m, name, DK__ADD, v, ap);
  va_end(ap);
  return rc;
}

int dk_metrics_set(struct dk_metrics *m, const char *name, double v, ...) {
  va_list ap;
  va_start(ap, v);
  int rc = dk__update(m, name, DK__SET, v, ap);
  va_end(ap);
  return rc;
}

int dk_metrics_observe(struct dk_metrics *m, const char *name, double v, ...) {
  va_list ap;
  va_start(ap, v);
  int rc = dk__update(m, name, DK__OBSERVE, v, ap);
  va_end(ap);
  return rc;
}

double dk_metrics_get(const struct dk_metrics *m, const char *name, ...) {
  struct dk__mfamily *f = dk__family(m, name);
  if (f == NULL) return 0;
  va_list ap;
  va_start(ap, name);
  struct dk__mseries *s = dk__series(f, ap, 0);
  va_end(ap);
  return s == NULL ? 0 : f->type == DK_METRIC_HISTOGRAM ? s->count : s->v;
}

void dk_metrics_reset(struct dk_metrics *m, const char *name) {
  struct dk__mfamily *f = dk__family(m, name);
  if (f == NULL) return;
  for (size_t i = 0; i < f->ns; i++) {
    for (size_t k = 0; k < f->nlabels; k++) free(f->s[i].values[k]);
    free(f->s[i].values);
    free(f->s[i].counts);
  }
  f->ns = 0;
}

/* --- duikou's families --------------------------------------------------------- */

static const double dk__commit_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

static const struct {
  enum dk_metric_type type;
  const char *name, *labels, *help;
} dk__families[] = {
  {DK_METRIC_COUNTER, "duikou_fetches_total", "source,city,result",
   "Runs of a source (fetch, parse, commit) by result: ok, not_modified, http_error, network_error, parse_error, "
   "setup_error, repository_error, error, canceled."},
  {DK_METRIC_COUNTER, "duikou_http_responses_total", "source,code", "HTTP responses from a source by status class."},
  {DK_METRIC_COUNTER, "duikou_fetched_bytes_total", "source", "Bytes of response bodies received from a source."},
  {DK_METRIC_COUNTER, "duikou_records_total", "source,kind,result",
   "Records a source sent, by kind and result: valid (changed or unchanged on the source branch), invalid "
   "(quarantined), rejected (items its plugin could not read, quarantined)."},
  {DK_METRIC_COUNTER, "duikou_conflicts_opened_total", "", "Conflicts the fold left open for a person."},
  {DK_METRIC_COUNTER, "duikou_conflicts_settled_total", "", "Conflicts the fold settled by the reconcile policies."},
  {DK_METRIC_HISTOGRAM, "duikou_commit_duration_seconds", "", "Time to commit a run: its source branch and main."},
  {DK_METRIC_COUNTER, "duikou_remote_fetches_total", "remote,result",
   "Fetches from a remote by result: ok, unreachable, auth_error, error."},
  {DK_METRIC_COUNTER, "duikou_remote_pushes_total", "remote,result",
   "Pushes of this site's refs to a remote by result: ok, unreachable, auth_error, error."},
  {DK_METRIC_COUNTER, "duikou_remote_refs_pushed_total", "remote", "This site's refs a remote took."},
  {DK_METRIC_COUNTER, "duikou_remote_alarms_total", "remote",
   "Alarms of exchanges: refs refused, rival writers, rewritten histories."},
  {DK_METRIC_COUNTER, "duikou_site_inputs_received_total", "site", "Refs of another site accepted from a remote."},
  {DK_METRIC_GAUGE, "duikou_quarantine_records", "source", "Entries in the quarantine."},
  {DK_METRIC_GAUGE, "duikou_conflicts_open", "kind", "Open conflicts on main, waiting for a person."},
  {DK_METRIC_GAUGE, "duikou_source_last_success_timestamp_seconds", "source,city",
   "When a source's last good run ended (Unix time)."},
  {DK_METRIC_GAUGE, "duikou_source_last_attempt_timestamp_seconds", "source,city",
   "When a source's last run ended (Unix time)."},
  {DK_METRIC_GAUGE, "duikou_source_consecutive_failures", "source,city", "A source's failed runs in a row."},
  {DK_METRIC_GAUGE, "duikou_source_next_run_timestamp_seconds", "source,city",
   "When the scheduler runs a source next (Unix time)."},
  {DK_METRIC_GAUGE, "duikou_remote_last_success_timestamp_seconds", "remote",
   "When the last exchange with a remote went through (Unix time)."},
  {DK_METRIC_GAUGE, "duikou_site_converged", "site",
   "1 when another site's view of main is this site's, 0 when it differs or was never received."},
  {DK_METRIC_GAUGE, "duikou_build_info", "version,libgit2,libcurl,libuv", "duikou's version and its libraries'."},
};

/* Gauges read again at every collection. */
static const char *const dk__collected[] = {
  "duikou_quarantine_records", "duikou_conflicts_open", "duikou_source_last_success_timestamp_seconds",
  "duikou_source_last_attempt_timestamp_seconds", "duikou_source_consecutive_failures",
  "duikou_source_next_run_timestamp_seconds", "duikou_remote_last_success_timestamp_seconds",
  "duikou_site_converged", "duikou_build_info",
};

struct dk_metrics *dk_metrics_new(void) {
  struct dk_metrics *m = dk_calloc(1, sizeof *m);
  char err[DK_ERRBUF_SIZE];
  for (size_t i = 0; i < sizeof dk__families / sizeof dk__families[0]; i++) {
    int hist = dk__families[i].type == DK_METRIC_HISTOGRAM;
    if (dk_metrics_declare(m, dk__families[i].type, dk__families[i].name, dk__families[i].help,
                           dk__families[i].labels, hist ? dk__commit_buckets : NULL,
                           hist ? sizeof dk__commit_buckets / sizeof dk__commit_buckets[0] : 0, err) != 0)
      abort(); /* the table above is wrong: a programming error */
  }
  return m;
}

void dk_metrics_free(struct dk_metrics *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->nf; i++) dk__family_free(&m->f[i]);
  free(m->f);
  free(m);
}

/* --- rendering ------------------------------------------------------------------ */

/* A sample value as Prometheus reads it: the shortest text that reads back
 * as the same double; +Inf, -Inf, NaN. */
static void dk__num(struct dk_buf *b, double v) {
  if (isnan(v)) {
    dk_buf_puts(b, "NaN");
    return;
  }
  if (isinf(v)) {
    dk_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char s[40];
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(s, sizeof s, "%.0f", v);
  } else {
    snprintf(s, sizeof s, "%.15g", v);
    if (strtod(s, NULL) != v) snprintf(s, sizeof s, "%.17g", v);
  }
  dk_buf_puts(b, s);
}

/* Label values: backslash, double quote and newline escaped; a byte that
 * is not UTF-8 as '?', so that the page always parses. */
static void dk__label_value(struct dk_buf *b, const char *v) {
  int utf8 = dk_utf8_valid(v, strlen(v));
  for (const char *p = v; *p; p++) {
    if (*p == '\\') dk_buf_puts(b, "\\\\");
    else if (*p == '"') dk_buf_puts(b, "\\\"");
    else if (*p == '\n') dk_buf_puts(b, "\\n");
    else if (!utf8 && (unsigned char)*p >= 0x80) dk_buf_puts(b, "?");
    else dk_buf_append(b, p, 1);
  }
}

/* name{labels[,le="bound"]} */
static void dk__sample_name(struct dk_buf *b, const struct dk__mfamily *f, const struct dk__mseries *s,
                            const char *suffix, const double *le) {
  dk_buf_puts(b, f->name);
  dk_buf_puts(b, suffix);
  if (f->nlabels == 0 && le == NULL) return;
  dk_buf_puts(b, "{");
  for (size_t k = 0; k < f->nlabels; k++) {
    dk_buf_printf(b, "%s%s=\"", k ? "," : "", f->labels[k]);
    dk__label_value(b, s->values[k]);
    dk_buf_puts(b, "\"");
  }
  if (le) {
    dk_buf_printf(b, "%sle=\"", f->nlabels ? "," : "");
    dk__num(b, *le);
    dk_buf_puts(b, "\"");
  }
  dk_buf_puts(b, "}");
}

static int dk__family_cmp(const void *a, const void *b) {
  return strcmp((*(const struct dk__mfamily *const *)a)->name, (*(const struct dk__mfamily *const *)b)->name);
}

static int dk__series_cmp(const void *a, const void *b, void *nlabels) {
  const struct dk__mseries *x = *(const struct dk__mseries *const *)a, *y = *(const struct dk__mseries *const *)b;
  for (size_t k = 0; k < *(const size_t *)nlabels; k++) {
    int c = strcmp(x->values[k], y->values[k]);
    if (c) return c;
  }
  return 0;
}

void dk_metrics_render(const struct dk_metrics *m, struct dk_buf *out) {
  if (m == NULL || m->nf == 0) return;
  const struct dk__mfamily **fs = dk_malloc(m->nf * sizeof *fs);
  for (size_t i = 0; i < m->nf; i++) fs[i] = &m->f[i];
  qsort(fs, m->nf, sizeof *fs, dk__family_cmp);
  static const char *const types[] = {"counter", "gauge", "histogram"};
  for (size_t i = 0; i < m->nf; i++) {
    const struct dk__mfamily *f = fs[i];
    if (f->ns == 0) continue;
    dk_buf_printf(out, "# HELP %s ", f->name);
    for (const char *p = f->help; *p; p++) {
      if (*p == '\\') dk_buf_puts(out, "\\\\");
      else if (*p == '\n') dk_buf_puts(out, "\\n");
      else dk_buf_append(out, p, 1);
    }
    dk_buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
    const struct dk__mseries **ss = dk_malloc(f->ns * sizeof *ss);
    for (size_t k = 0; k < f->ns; k++) ss[k] = &f->s[k];
    qsort_r(ss, f->ns, sizeof *ss, dk__series_cmp, (void *)&f->nlabels);
    for (size_t k = 0; k < f->ns; k++) {
      const struct dk__mseries *s = ss[k];
      if (f->type != DK_METRIC_HISTOGRAM) {
        dk__sample_name(out, f, s, "", NULL);
        dk_buf_puts(out, " ");
        dk__num(out, s->v);
        dk_buf_puts(out, "\n");
        continue;
      }
      double cum = 0, inf = INFINITY;
      for (size_t b = 0; b <= f->nbounds; b++) {
        cum += s->counts[b];
        dk__sample_name(out, f, s, "_bucket", b < f->nbounds ? &f->bounds[b] : &inf);
        dk_buf_puts(out, " ");
        dk__num(out, cum);
        dk_buf_puts(out, "\n");
      }
      dk__sample_name(out, f, s, "_sum", NULL);
      dk_buf_puts(out, " ");
      dk__num(out, s->sum);
      dk_buf_puts(out, "\n");
      dk__sample_name(out, f, s, "_count", NULL);
      dk_buf_puts(out, " ");
      dk__num(out, s->count);
      dk_buf_puts(out, "\n");
    }
    free(ss);
  }
  free(fs);
}

/* --- what is read at render time ------------------------------------------------ */

static void dk__collect_quarantine(struct dk_metrics *m, const struct dk_config *cfg) {
  for (size_t i = 0; i < cfg->nsources; i++) dk_metrics_set(m, "duikou_quarantine_records", 0, cfg->sources[i].name);
  json_t *all = NULL;
  char err[DK_ERRBUF_SIZE];
  if (dk_quarantine_list(cfg->state, NULL, &all, err) != 0) {
    dk_log(DK_LOG_DEBUG, "metrics", "quarantine", NULL, "not read: %s", err);
    return;
  }
  size_t i;
  json_t *e;
  json_array_foreach(all, i, e) {
    const char *src = json_string_value(json_object_get(e, "source"));
    dk_metrics_add(m, "duikou_quarantine_records", 1, src ? src : "");
  }
  json_decref(all);
}

static void dk__collect_conflicts(struct dk_metrics *m, const struct dk_config *cfg) {
  struct dk_audit *a = NULL;
  char err[DK_ERRBUF_SIZE];
  if (dk_audit_open(cfg->repository, &a, err) != 0) {
    dk_log(DK_LOG_DEBUG, "metrics", "repository", NULL, "conflicts not read: %s", err);
    return;
  }
  git_oid main;
  json_t *list = NULL;
  if (dk_audit_main(a, &main) == 0 && dk_audit_conflicts(a, &main, &list) == 0) {
    for (int k = 0; k < DK_KIND_COUNT; k++)
      dk_metrics_set(m, "duikou_conflicts_open", 0, dk_kind_name((enum dk_kind)k));
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
      /* conflicts/<kind>/<id>.json (record.h) */
      const char *file = json_string_value(json_object_get(c, "file"));
      const char *kind = "unknown";
      for (int k = 0; file && k < DK_KIND_COUNT; k++) {
        const char *name = dk_kind_name((enum dk_kind)k);
        size_t n = strlen(name);
        if (strncmp(file, "conflicts/", 10) == 0 && strncmp(file + 10, name, n) == 0 && file[10 + n] == '/')
          kind = name;
      }
      dk_metrics_add(m, "duikou_conflicts_open", 1, kind);
    }
  }
  json_decref(list);
  dk_audit_close(a);
}

/* A state file's ISO time as a gauge; nothing when absent. */
static void dk__collect_time(struct dk_metrics *m, const char *family, const json_t *st, const char *key,
                             const char *l1, const char *l2) {
  const char *s = json_string_value(json_object_get(st, key));
  time_t t = s ? dk_time_parse_iso(s) : (time_t)-1;
  if (t != (time_t)-1) dk_metrics_set(m, family, (double)t, l1, l2);
}

static void dk__collect_sources(struct dk_metrics *m, const struct dk_config *cfg, dk_metrics_next_run_fn next_run,
                                void *next_arg) {
  for (size_t i = 0; i < cfg->nsources; i++) {
    const struct dk_source_conf *src = &cfg->sources[i];
    const char *city = src->city ? src->city : "";
    json_t *st = dk_state_load(cfg->state, src->name);
    dk__collect_time(m, "duikou_source_last_success_timestamp_seconds", st, "last_success", src->name, city);
    dk__collect_time(m, "duikou_source_last_attempt_timestamp_seconds", st, "last_attempt", src->name, city);
    dk_metrics_set(m, "duikou_source_consecutive_failures",
                   (double)json_integer_value(json_object_get(st, "consecutive_failures")), src->name, city);
    json_decref(st);
    time_t when;
    if (next_run && next_run(next_arg, src->name, &when) == 1)
      dk_metrics_set(m, "duikou_source_next_run_timestamp_seconds", (double)when, src->name, city);
  }
}

static void dk__collect_exchange(struct dk_metrics *m, const struct dk_config *cfg) {
  for (size_t i = 0; i < cfg->nremotes; i++) {
    json_t *st = dk_exchange_state(cfg, cfg->remotes[i].name);
    const char *s = json_string_value(json_object_get(st, "last_success"));
    time_t t = s ? dk_time_parse_iso(s) : (time_t)-1;
    if (t != (time_t)-1)
      dk_metrics_set(m, "duikou_remote_last_success_timestamp_seconds", (double)t, cfg->remotes[i].name);
    json_decref(st);
  }
  if (cfg->site == NULL || cfg->nremotes == 0) return;
  struct dk_store *st = NULL;
  char err[DK_ERRBUF_SIZE];
  if (dk_store_open_existing(cfg->repository, &st, err) != 0) {
    dk_log(DK_LOG_DEBUG, "metrics", "repository", NULL, "sites not read: %s", err);
    return;
  }
  json_t *sites = NULL;
  if (dk_converge_sites(st, cfg, &sites) == 0) {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(sites, "sites"), i, s) {
      if (json_is_true(json_object_get(s, "self"))) continue;
      const char *main = json_string_value(json_object_get(s, "main"));
      dk_metrics_set(m, "duikou_site_converged", main && strcmp(main, "converged") == 0 ? 1 : 0,
                     json_string_value(json_object_get(s, "site")));
    }
  } else {
    dk_log(DK_LOG_DEBUG, "metrics", "repository", NULL, "sites not read: %s", st->err);
  }
  json_decref(sites);
  dk_store_close(st);
}

void dk_metrics_collect(struct dk_metrics *m, const struct dk_config *cfg, dk_metrics_next_run_fn next_run,
                        void *next_arg) {
  if (m == NULL) return;
  for (size_t i = 0; i < sizeof dk__collected / sizeof dk__collected[0]; i++) dk_metrics_reset(m, dk__collected[i]);
  int maj, min, rev;
  dk_store_version(&maj, &min, &rev);
  char g2[32];
  snprintf(g2, sizeof g2, "%d.%d.%d", maj, min, rev);
  dk_metrics_set(m, "duikou_build_info", 1, DK_VERSION, g2, curl_version_info(CURLVERSION_NOW)->version,
                 uv_version_string());
  if (cfg == NULL) return;
  dk__collect_quarantine(m, cfg);
  dk__collect_sources(m, cfg, next_run, next_arg);
  dk_store_global_init(); /* counted: a process that holds it already keeps it */
  dk__collect_conflicts(m, cfg);
  dk__collect_exchange(m, cfg);
  dk_store_global_shutdown();
}

int dk_metrics_page(void *arg, const char *path, const char *query, struct dk_buf *body, const char **ctype) {
  (void)query;
  const struct dk_metrics_view *v = arg;
  *ctype = DK_METRICS_CTYPE;
  if (path == NULL || strcmp(path, "/metrics") != 0) {
    dk_buf_puts(body, "not found\n");
    return 404;
  }
  /* without a registry of the daemon's, what is read at render time */
  struct dk_metrics *m = v->m ? v->m : dk_metrics_new();
  dk_metrics_collect(m, v->cfg, v->next_run, v->next_arg);
  dk_metrics_render(m, body);
  if (m != v->m) dk_metrics_free(m);
  return 200;
}

int dk_metrics_write_file(const struct dk_metrics_view *v, const char *path, char *err) {
  struct dk_buf body = {0};
  const char *ctype;
  dk_metrics_page((void *)v, "/metrics", NULL, &body, &ctype);
  /* the collector reads only *.prom: the temporary name never matches */
  char *tmp = dk_asprintf("%s.%ld.tmp", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  int rc = 0;
  if (fd < 0) {
    rc = dk_fs_fail(err, errno, "cannot create", tmp);
  } else {
    size_t off = 0;
    while (rc == 0 && off < body.len) {
      ssize_t n = write(fd, body.data + off, body.len - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) rc = dk_fs_fail(err, errno, "cannot write", tmp);
      else off += (size_t)n;
    }
    if (rc == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0)) rc = dk_fs_fail(err, errno, "cannot write", tmp);
    if (close(fd) != 0 && rc == 0) rc = dk_fs_fail(err, errno, "cannot write", tmp);
    if (rc == 0 && rename(tmp, path) != 0) rc = dk_fs_fail(err, errno, "cannot rename the metrics file to", path);
    if (rc != 0) unlink(tmp);
  }
  free(tmp);
  dk_buf_free(&body);
  return rc;
}

/* --- what the stages count --------------------------------------------------------- */

void dk__metrics_response(struct dk__run *r, const struct dk_http_res *res) {
  struct dk_metrics *m = r->ctx->metrics;
  if (res->err == DK_ECANCELED) return;
  const char *src = r->src->name;
  if (res->err != 0) {
    r->mresult = "network_error";
  } else {
    r->mresult = res->status == 200 || res->status == 304 || res->status == 0 ? NULL : "http_error";
    if (res->status >= 100 && res->status < 600) {
      char code[4] = {(char)('0' + res->status / 100), 'x', 'x', '\0'};
      dk_metrics_add(m, "duikou_http_responses_total", 1, src, code);
    }
  }
  dk_metrics_add(m, "duikou_fetched_bytes_total", (double)res->body_len, src);
}

/* A record path's kind by its folder (DK_KIND_COUNT: none of them), with
 * no allocation: this runs for every record of a round. */
static int dk__path_kind(const char *path) {
  size_t len = strcspn(path, "/");
  for (int k = 0; k < DK_KIND_COUNT; k++) {
    const char *folder = dk_kind_folder((enum dk_kind)k);
    if (strlen(folder) == len && strncmp(path, folder, len) == 0) return k;
  }
  return DK_KIND_COUNT;
}

void dk__metrics_round(struct dk__run *r, const struct dk__round *rd) {
  struct dk_metrics *m = r->ctx->metrics;
  if (m == NULL) return;
  const char *src = r->src->name;
  /* counted here, then added once per kind and result: a round may hold
   * 100,000 records, and the registry's look-up is by name */
  enum { VALID, CHANGED, UNCHANGED, INVALID, NRES };
  static const char *const res[NRES] = {"valid", "changed", "unchanged", "invalid"};
  size_t n[DK_KIND_COUNT + 1][NRES] = {{0}};
  for (size_t i = 0; i < rd->nitems; i++) {
    int k = dk__path_kind(rd->items[i].path);
    n[k][VALID]++;
    n[k][rd->items[i].unchanged ? UNCHANGED : CHANGED]++;
  }
  size_t invalid_known = 0;
  const char *path;
  json_t *v;
  json_object_foreach(rd->invalid, path, v) {
    n[dk__path_kind(path)][INVALID]++;
    invalid_known++;
  }
  /* records with no path (their envelope is what is wrong) */
  if (r->res->invalid > invalid_known) n[DK_KIND_COUNT][INVALID] += r->res->invalid - invalid_known;
  for (int k = 0; k <= DK_KIND_COUNT; k++)
    for (int j = 0; j < NRES; j++)
      if (n[k][j])
        dk_metrics_add(m, "duikou_records_total", (double)n[k][j], src,
                       k < DK_KIND_COUNT ? dk_kind_name((enum dk_kind)k) : "unknown", res[j]);
  /* items the plugin could not turn into records (in quarantine too) */
  if (r->res->rejected > 0)
    dk_metrics_add(m, "duikou_records_total", (double)r->res->rejected, src, "unknown", "rejected");
}

void dk__metrics_commit(struct dk__run *r, double secs) {
  dk_metrics_observe(r->ctx->metrics, "duikou_commit_duration_seconds", secs);
}

void dk__metrics_fold(struct dk_metrics *m, size_t conflicts, size_t open) {
  dk_metrics_add(m, "duikou_conflicts_opened_total", (double)open);
  dk_metrics_add(m, "duikou_conflicts_settled_total", (double)(conflicts > open ? conflicts - open : 0));
}

void dk__metrics_run_end(struct dk__run *r) {
  const char *result;
  switch (r->res->outcome) {
    case DK_SOURCE_COMMITTED:
    case DK_SOURCE_UNCHANGED: result = "ok"; break;
    case DK_SOURCE_NOT_MODIFIED: result = "not_modified"; break;
    case DK_SOURCE_CANCELED: result = "canceled"; break;
    default: result = r->mresult ? r->mresult : "error"; break;
  }
  dk_metrics_add(r->ctx->metrics, "duikou_fetches_total", 1, r->src->name, r->src->city ? r->src->city : "", result);
}

static const char *dk__remote_result(int code) {
  return code == 0 ? "ok" : code == DK_EREMOTE ? "unreachable" : code == DK_EAUTH ? "auth_error" : "error";
}

void dk__metrics_exchange(struct dk_metrics *m, const struct dk_remote_conf *rc, int code,
                          const struct dk_exchange_report *rep) {
  if (m == NULL) return;
  const char *name = rc->name;
  /* a failure before the fetch went through is the fetch's; after it, the push's */
  dk_metrics_add(m, "duikou_remote_fetches_total", 1, name, dk__remote_result(rep->fetched ? 0 : code));
  if (rc->push && (rep->fetched || code == 0))
    dk_metrics_add(m, "duikou_remote_pushes_total", 1, name, dk__remote_result(code));
  dk_metrics_add(m, "duikou_remote_refs_pushed_total", (double)rep->nout, name);
  dk_metrics_add(m, "duikou_remote_alarms_total", (double)json_array_size(rep->alarms), name);
  for (size_t i = 0; i < rep->nin; i++) {
    /* refs/duikou/sites/<site>/… */
    const char *ref = rep->in[i].ref;
    if (strncmp(ref, DK_SITES_PREFIX, strlen(DK_SITES_PREFIX)) != 0) continue;
    const char *p = ref + strlen(DK_SITES_PREFIX), *slash = strchr(p, '/');
    char site[128];
    snprintf(site, sizeof site, "%.*s", (int)(slash ? (size_t)(slash - p) : strlen(p)), p);
    dk_metrics_add(m, "duikou_site_inputs_received_total", 1, site);
  }
}

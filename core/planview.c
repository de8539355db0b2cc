/* A plan's tasks with both cities' progress: see planview.h. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "planview.h"
#include "util.h"

const char *const dk_pv_cities[DK_PV_NCITIES] = {"jinan", "linyi"};

long dk_pv_period_order(const char *period) {
  if (period == NULL || strlen(period) < 4) return -1;
  for (int i = 0; i < 4; i++)
    if (!isdigit((unsigned char)period[i])) return -1;
  long y = (period[0] - '0') * 1000 + (period[1] - '0') * 100 + (period[2] - '0') * 10 + (period[3] - '0');
  const char *r = period + 4;
  if (*r == '\0') return y * 100 + 12;
  if (*r != '-') return -1;
  r++;
  if ((r[0] == 'H' && (r[1] == '1' || r[1] == '2')) && r[2] == '\0') return y * 100 + (r[1] - '0') * 6;
  if ((r[0] == 'Q' && r[1] >= '1' && r[1] <= '4') && r[2] == '\0') return y * 100 + (r[1] - '0') * 3;
  if (isdigit((unsigned char)r[0]) && isdigit((unsigned char)r[1]) && r[2] == '\0') {
    int m = (r[0] - '0') * 10 + (r[1] - '0');
    if (m >= 1 && m <= 12) return y * 100 + m;
  }
  return -1;
}

/* The year in a plan id: its first run of four digits starting 19 or 20, or 0. */
static long dk__plan_year(const char *id) {
  for (const char *p = id; *p; p++)
    if ((p[0] == '1' && p[1] == '9') || (p[0] == '2' && p[1] == '0')) {
      if (isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) && !isdigit((unsigned char)p[4]) &&
          (p == id || !isdigit((unsigned char)p[-1])))
        return strtol(p, NULL, 10);
    }
  return 0;
}

static int dk__collect_plan(const char *path, const git_oid *blob, void *arg) {
  (void)blob;
  json_t *counts = arg;
  const char *p = path + strlen("tasks/"), *slash = strchr(p, '/');
  if (slash == NULL || slash == p) return 0;
  char *plan = dk_strndup(p, (size_t)(slash - p));
  json_object_set_new(counts, plan, json_integer(json_integer_value(json_object_get(counts, plan)) + 1));
  free(plan);
  return 0;
}

struct dk__plansort { const char *id; long year, n; };

static int dk__plan_cmp(const void *a, const void *b) {
  const struct dk__plansort *x = a, *y = b;
  if (x->year != y->year) return x->year > y->year ? -1 : 1;
  if (x->n != y->n) return x->n > y->n ? -1 : 1;
  return strcmp(x->id, y->id);
}

int dk_pv_plans(struct dk_store *st, const git_oid *commit, json_t **plans, char *err) {
  json_t *counts = json_object();
  int rc = dk_store_files(st, commit, "tasks", dk__collect_plan, counts);
  if (rc != 0) {
    json_decref(counts);
    return dk_failf(err, DK_EGIT, "%s", st->err);
  }
  size_t n = json_object_size(counts), i = 0;
  struct dk__plansort *v = dk_calloc(n + 1, sizeof *v);
  const char *k;
  json_t *val;
  json_object_foreach(counts, k, val) {
    v[i].id = k;
    v[i].year = dk__plan_year(k);
    v[i].n = (long)json_integer_value(val);
    i++;
  }
  qsort(v, n, sizeof *v, dk__plan_cmp);
  *plans = json_array();
  for (i = 0; i < n; i++) json_array_append_new(*plans, json_string(v[i].id));
  free(v);
  json_decref(counts);
  return 0;
}

struct dk__files { char **paths; git_oid *blobs; size_t n, cap; };

static int dk__collect(const char *path, const git_oid *blob, void *arg) {
  struct dk__files *f = arg;
  size_t len = strlen(path);
  if (len < 5 || strcmp(path + len - 5, ".json") != 0) return 0;
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 64;
    f->paths = dk_realloc(f->paths, f->cap * sizeof *f->paths);
    f->blobs = dk_realloc(f->blobs, f->cap * sizeof *f->blobs);
  }
  f->paths[f->n] = dk_strdup(path);
  f->blobs[f->n++] = *blob;
  return 0;
}

static void dk__files_free(struct dk__files *f) {
  for (size_t i = 0; i < f->n; i++) free(f->paths[i]);
  free(f->paths);
  free(f->blobs);
}

/* The JSON object in blob `oid`, or NULL (not JSON, not an object). *rc is
 * set to DK_EGIT when the blob cannot be read. */
static json_t *dk__load(struct dk_store *st, const git_oid *oid, int *rc) {
  char *data = NULL;
  size_t len = 0;
  if (dk_store_blob(st, oid, &data, &len) != 0) {
    *rc = DK_EGIT;
    return NULL;
  }
  json_t *j = json_loadb(data, len, 0, NULL);
  free(data);
  if (j && !json_is_object(j)) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

static const char *dk__str(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Reports parsed before, by blob id (content-addressed, so right in any
 * repository): a page after a commit reads and parses only the reports that
 * changed. An entry not met in the last DK__CACHE_AGE loads goes; the table
 * never holds more than DK__CACHE_MAX entries. */
#define DK__CACHE_AGE 8
#define DK__CACHE_MAX 65536
struct dk__centry {
  int used;
  git_oid blob;
  unsigned gen;
  int city;               /* DK_PV_* or -1: not a report of Jinan or Linyi */
  char *task;             /* the report's task id, or NULL */
  struct dk_pv_report r;  /* r.mem owned by the entry */
  size_t memlen;
};
static struct {
  pthread_mutex_t mu;
  struct dk__centry *e;
  size_t cap, n;
  unsigned gen;
} dk__cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t dk__chash(const git_oid *oid) {
  size_t h;
  memcpy(&h, oid->id, sizeof h);
  return h;
}

static struct dk__centry *dk__cfind(const git_oid *oid) {
  if (dk__cache.cap == 0) return NULL;
  for (size_t i = dk__chash(oid) & (dk__cache.cap - 1);; i = (i + 1) & (dk__cache.cap - 1)) {
    struct dk__centry *e = &dk__cache.e[i];
    if (!e->used) return NULL;
    if (git_oid_equal(&e->blob, oid)) return e;
  }
}

static void dk__cfree(struct dk__centry *e) {
  free(e->task);
  free(e->r.mem);
  memset(e, 0, sizeof *e);
}

static void dk__cclear(void) {
  for (size_t i = 0; i < dk__cache.cap; i++)
    if (dk__cache.e[i].used) dk__cfree(&dk__cache.e[i]);
  free(dk__cache.e);
  dk__cache.e = NULL;
  dk__cache.cap = dk__cache.n = 0;
}

/* Rebuild the table with room for `want` entries, keeping those met lately. */
static void dk__crehash(size_t want) {
  size_t cap = 64;
  while (cap < want * 2) cap *= 2;
  struct dk__centry *old = dk__cache.e;
  size_t oldcap = dk__cache.cap;
  dk__cache.e = dk_calloc(cap, sizeof *dk__cache.e);
  dk__cache.cap = cap;
  dk__cache.n = 0;
  for (size_t i = 0; i < oldcap; i++) {
    if (!old[i].used) continue;
    if (dk__cache.gen - old[i].gen > DK__CACHE_AGE) {
      dk__cfree(&old[i]);
      continue;
    }
    size_t j = dk__chash(&old[i].blob) & (cap - 1);
    while (dk__cache.e[j].used) j = (j + 1) & (cap - 1);
    dk__cache.e[j] = old[i];
    dk__cache.n++;
  }
  free(old);
}

/* A copy of report `r` whose strings point into its own block. */
static void dk__report_copy(struct dk_pv_report *dst, const struct dk_pv_report *src, size_t memlen) {
  *dst = *src;
  dst->mem = dk_malloc(memlen);
  memcpy(dst->mem, src->mem, memlen);
  const char **f[5] = {&dst->period, &dst->status, &dst->summary, &dst->unit, &dst->reported_at};
  const char *const g[5] = {src->period, src->status, src->summary, src->unit, src->reported_at};
  for (int k = 0; k < 5; k++) *f[k] = g[k] ? dst->mem + (g[k] - src->mem) : NULL;
}

static void dk__cput(const git_oid *oid, const char *task, int city, const struct dk_pv_report *r, size_t memlen) {
  if (dk__cache.n >= DK__CACHE_MAX) dk__cclear();
  if ((dk__cache.n + 1) * 2 > dk__cache.cap) dk__crehash(dk__cache.n + 1);
  size_t i = dk__chash(oid) & (dk__cache.cap - 1);
  while (dk__cache.e[i].used) i = (i + 1) & (dk__cache.cap - 1);
  struct dk__centry *e = &dk__cache.e[i];
  e->used = 1;
  e->blob = *oid;
  e->gen = dk__cache.gen;
  e->city = city;
  e->task = dk_strdup(task);
  e->memlen = memlen;
  dk__report_copy(&e->r, r, memlen);
  dk__cache.n++;
}

void dk_pv_cache_clear(void) {
  pthread_mutex_lock(&dk__cache.mu);
  dk__cclear();
  pthread_mutex_unlock(&dk__cache.mu);
}



static int dk__task_cmp(const void *a, const void *b) {
  const struct dk_pv_task *x = a, *y = b;
  if (x->number != y->number) return x->number < y->number ? -1 : 1;
  return strcmp(x->path, y->path);
}

static int dk__report_cmp(const void *a, const void *b) {
  const struct dk_pv_report *x = a, *y = b;
  if (x->order != y->order) return x->order < y->order ? -1 : 1;
  return strcmp(x->period ? x->period : "", y->period ? y->period : "");
}

/* Parse report blob `oid` into *r (r->mem owned), its task (malloc'd) and
 * city index (-1 for another city). Returns 1, 0 when it is not a JSON
 * object, DK_EGIT. */
static int dk__parse_report(struct dk_store *st, const git_oid *oid, struct dk_pv_report *r, char **task,
                            int *city, size_t *memlen) {
  int rc = 0;
  json_t *rec = dk__load(st, oid, &rc);
  if (rec == NULL) return rc;
  static const char *const keys[5] = {"period", "status", "summary", "unit", "reported_at"};
  const char *v[5];
  size_t len[5], total = 0;
  for (int k = 0; k < 5; k++) {
    v[k] = dk__str(rec, keys[k]);
    len[k] = v[k] ? strlen(v[k]) + 1 : 0;
    total += len[k];
  }
  memset(r, 0, sizeof *r);
  char *m = r->mem = dk_malloc(total + 1);
  const char **dst[5] = {&r->period, &r->status, &r->summary, &r->unit, &r->reported_at};
  for (int k = 0; k < 5; k++) {
    *dst[k] = v[k] ? memcpy(m, v[k], len[k]) : NULL;
    m += len[k];
  }
  *memlen = total + 1;
  const json_t *pc = json_object_get(rec, "percent");
  r->percent = json_is_number(pc) ? json_number_value(pc) : -1;
  r->order = dk_pv_period_order(r->period);
  *task = dk_strdup(dk__str(rec, "task"));
  const char *c = dk__str(rec, "city");
  *city = -1;
  for (int k = 0; c && k < DK_PV_NCITIES; k++)
    if (strcmp(c, dk_pv_cities[k]) == 0) *city = k;
  json_decref(rec);
  return 1;
}

int dk_pv_load(struct dk_store *st, const git_oid *commit, const char *plan, struct dk_pv_plan *out, char *err) {
  memset(out, 0, sizeof *out);
  out->plan = dk_strdup(plan);
  struct dk__files tf = {0}, pf = {0};
  char *prefix = dk_asprintf("tasks/%s", plan);
  int rc = dk_store_files(st, commit, prefix, dk__collect, &tf);
  free(prefix);
  if (rc == 0) {
    prefix = dk_asprintf("progress/%s", plan);
    rc = dk_store_files(st, commit, prefix, dk__collect, &pf);
    free(prefix);
  }
  if (rc == 0) {
    char *pp = dk_asprintf("plans/%s.json", plan);
    git_oid blob;
    int found = dk_store_blob_at(st, commit, pp, &blob);
    free(pp);
    if (found == 1) out->plan_rec = dk__load(st, &blob, &rc);
    else if (found < 0) rc = DK_EGIT;
  }
  out->tasks = dk_calloc(tf.n + 1, sizeof *out->tasks);
  for (size_t i = 0; rc == 0 && i < tf.n; i++) {
    json_t *rec = dk__load(st, &tf.blobs[i], &rc);
    if (rec == NULL) continue;
    struct dk_pv_task *t = &out->tasks[out->n++];
    t->rec = rec;
    t->path = dk_strdup(tf.paths[i]);
    const json_t *num = json_object_get(rec, "number");
    t->number = json_is_integer(num) ? (long)json_integer_value(num) : 0;
    t->id = dk__str(rec, "id");
    t->title = dk__str(rec, "title");
    t->text = dk__str(rec, "text");
    t->status = dk__str(rec, "status");
    const json_t *sec = json_object_get(rec, "section");
    t->sec_number = dk__str(sec, "number");
    t->sec_title = dk__str(sec, "title");
  }
  qsort(out->tasks, out->n, sizeof *out->tasks, dk__task_cmp);
  size_t last = 0;
  pthread_mutex_lock(&dk__cache.mu);
  dk__cache.gen++;
  for (size_t i = 0; rc == 0 && i < pf.n; i++) {
    struct dk__centry *hit = dk__cfind(&pf.blobs[i]);
    struct dk_pv_report rep;
    char *task = NULL;
    int c = -1;
    size_t memlen = 0;
    if (hit) {
      hit->gen = dk__cache.gen;
      dk__report_copy(&rep, &hit->r, hit->memlen);
      task = dk_strdup(hit->task);
      c = hit->city;
    } else {
      int got = dk__parse_report(st, &pf.blobs[i], &rep, &task, &c, &memlen);
      if (got < 0) rc = got;
      if (got <= 0) continue;
      dk__cput(&pf.blobs[i], task, c, &rep, memlen);
    }
    struct dk_pv_task *t = NULL;
    /* Reports come in path order, task after task: try the last hit first. */
    if (task && last < out->n && out->tasks[last].id && strcmp(out->tasks[last].id, task) == 0)
      t = &out->tasks[last];
    for (size_t k = 0; task && t == NULL && k < out->n; k++)
      if (out->tasks[k].id && strcmp(out->tasks[k].id, task) == 0) {
        t = &out->tasks[k];
        last = k;
      }
    free(task);
    if (t == NULL || c < 0) {
      free(rep.mem);
      continue;
    }
    if (t->nreports[c] == t->capreports[c]) {
      t->capreports[c] = t->capreports[c] ? t->capreports[c] * 2 : 16;
      t->reports[c] = dk_realloc(t->reports[c], t->capreports[c] * sizeof *t->reports[c]);
    }
    t->reports[c][t->nreports[c]++] = rep;
  }
  if (dk__cache.n > 0 && dk__cache.gen % DK__CACHE_AGE == 0) dk__crehash(dk__cache.n);
  pthread_mutex_unlock(&dk__cache.mu);
  for (size_t i = 0; i < out->n; i++)
    for (int c = 0; c < DK_PV_NCITIES; c++)
      if (out->tasks[i].nreports[c] > 1)
        qsort(out->tasks[i].reports[c], out->tasks[i].nreports[c], sizeof(struct dk_pv_report), dk__report_cmp);
  dk__files_free(&tf);
  dk__files_free(&pf);
  if (rc != 0) {
    dk_pv_plan_clear(out);
    return dk_failf(err, DK_EGIT, "cannot read plan %s: %s", plan, st->err);
  }
  return 0;
}

void dk_pv_plan_clear(struct dk_pv_plan *p) {
  for (size_t i = 0; i < p->n; i++) {
    struct dk_pv_task *t = &p->tasks[i];
    for (int c = 0; c < DK_PV_NCITIES; c++) {
      for (size_t k = 0; k < t->nreports[c]; k++) free(t->reports[c][k].mem);
      free(t->reports[c]);
    }
    json_decref(t->rec);
    free(t->path);
  }
  free(p->tasks);
  json_decref(p->plan_rec);
  free(p->plan);
  memset(p, 0, sizeof *p);
}

const struct dk_pv_report *dk_pv_report_for(const struct dk_pv_task *t, int c, const char *period) {
  for (size_t k = 0; k < t->nreports[c]; k++)
    if (t->reports[c][k].period && strcmp(t->reports[c][k].period, period) == 0) return &t->reports[c][k];
  return NULL;
}

const struct dk_pv_report *dk_pv_latest(const struct dk_pv_task *t, int c) {
  return t->nreports[c] ? &t->reports[c][t->nreports[c] - 1] : NULL;
}

static void dk__add_unique(json_t *arr, const char *s) {
  if (s == NULL || *s == '\0') return;
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), s) == 0) return;
  json_array_append_new(arr, json_string(s));
}

json_t *dk_pv_task_units(const struct dk_pv_task *t) {
  json_t *out = json_array(), *u;
  size_t i;
  json_array_foreach(json_object_get(t->rec, "units"), i, u) dk__add_unique(out, dk__str(u, "name"));
  for (int c = 0; c < DK_PV_NCITIES; c++)
    for (size_t k = 0; k < t->nreports[c]; k++) dk__add_unique(out, t->reports[c][k].unit);
  return out;
}

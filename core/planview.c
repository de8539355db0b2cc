/* A plan's tasks with both cities' progress: see planview.h. */
#include <ctype.h>
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
  for (size_t i = 0; rc == 0 && i < pf.n; i++) {
    json_t *rec = dk__load(st, &pf.blobs[i], &rc);
    if (rec == NULL) continue;
    const char *task = dk__str(rec, "task"), *city = dk__str(rec, "city");
    struct dk_pv_task *t = NULL;
    /* Reports come in path order, task after task: try the last hit first. */
    if (task && last < out->n && out->tasks[last].id && strcmp(out->tasks[last].id, task) == 0)
      t = &out->tasks[last];
    for (size_t k = 0; task && t == NULL && k < out->n; k++)
      if (out->tasks[k].id && strcmp(out->tasks[k].id, task) == 0) {
        t = &out->tasks[k];
        last = k;
      }
    int c = -1;
    for (int k = 0; city && k < DK_PV_NCITIES; k++)
      if (strcmp(city, dk_pv_cities[k]) == 0) c = k;
    if (t == NULL || c < 0) {
      json_decref(rec);
      continue;
    }
    if (t->nreports[c] == t->capreports[c]) {
      t->capreports[c] = t->capreports[c] ? t->capreports[c] * 2 : 16;
      t->reports[c] = dk_realloc(t->reports[c], t->capreports[c] * sizeof *t->reports[c]);
    }
    struct dk_pv_report *r = &t->reports[c][t->nreports[c]++];
    static const char *const keys[5] = {"period", "status", "summary", "unit", "reported_at"};
    const char *v[5];
    size_t len[5], total = 0;
    for (int k = 0; k < 5; k++) {
      v[k] = dk__str(rec, keys[k]);
      len[k] = v[k] ? strlen(v[k]) + 1 : 0;
      total += len[k];
    }
    char *m = r->mem = dk_malloc(total + 1);
    const char **dst[5] = {&r->period, &r->status, &r->summary, &r->unit, &r->reported_at};
    for (int k = 0; k < 5; k++) {
      *dst[k] = v[k] ? memcpy(m, v[k], len[k]) : NULL;
      m += len[k];
    }
    const json_t *pc = json_object_get(rec, "percent");
    r->percent = json_is_number(pc) ? json_number_value(pc) : -1;
    r->order = dk_pv_period_order(r->period);
    json_decref(rec);
  }
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

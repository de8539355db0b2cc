/* A plan as people read it: its tasks from main's tasks/<plan>/, each with
 * Jinan's and Linyi's progress reports from progress/<plan>/, read once per
 * tree (the dashboard and the period report render from this, read-only). */
#ifndef DK_PLANVIEW_H
#define DK_PLANVIEW_H

#include <stddef.h>
#include <git2.h>
#include <jansson.h>
#include "error.h"
#include "store.h"

/* One progress report of one city for one period: the fields shown, in one
 * block (the record itself is not kept: a plan has thousands of them). */
struct dk_pv_report {
  char *mem;            /* owns the strings below */
  const char *period, *status, *summary, *unit, *reported_at; /* NULL when absent */
  double percent;       /* -1 when the report has none */
  long order;           /* dk_pv_period_order of period */
};

/* The cities shown side by side. */
enum { DK_PV_JINAN, DK_PV_LINYI, DK_PV_NCITIES };
extern const char *const dk_pv_cities[DK_PV_NCITIES]; /* "jinan", "linyi" */

struct dk_pv_task {
  json_t *rec;          /* the task record (owned) */
  char *path;           /* tasks/<plan>/<n>.json */
  long number;
  const char *id, *title, *text, *status, *sec_number, *sec_title; /* borrowed from rec, NULL when absent */
  struct dk_pv_report *reports[DK_PV_NCITIES]; /* oldest period first */
  size_t nreports[DK_PV_NCITIES], capreports[DK_PV_NCITIES];
};

struct dk_pv_plan {
  char *plan;           /* the plan id */
  json_t *plan_rec;     /* plans/<plan>.json, or NULL */
  struct dk_pv_task *tasks; /* by number */
  size_t n;
};

/* The plan ids main's commit holds tasks of, as a new array sorted newest
 * first (by the year in the id, then by more tasks, then by name). Returns
 * 0 or DK_EGIT with err. */
int dk_pv_plans(struct dk_store *st, const git_oid *commit, json_t **plans, char *err);

/* Read plan `plan` at `commit` into *out (clear with dk_pv_plan_clear). A
 * blob that is not a JSON object is skipped. Returns 0 (n may be 0) or
 * DK_EGIT with err. */
int dk_pv_load(struct dk_store *st, const git_oid *commit, const char *plan, struct dk_pv_plan *out, char *err);
void dk_pv_plan_clear(struct dk_pv_plan *p);
/* Reports are parsed once per blob id and kept (at most 65536, those not
 * met in the last 8 loads dropped); this drops them all. Thread-safe. */
void dk_pv_cache_clear(void);

/* A task's report of city index `c` for `period`, or NULL. The latest report
 * (NULL when none). */
const struct dk_pv_report *dk_pv_report_for(const struct dk_pv_task *t, int c, const char *period);
const struct dk_pv_report *dk_pv_latest(const struct dk_pv_task *t, int c);

/* Where a period ("2024", "2024-H1", "2024-Q2", "2024-06") ends, as
 * year * 100 + month, for sorting; -1 when it is none of these. */
long dk_pv_period_order(const char *period);

/* The unit names of a task (its units[].name and its reports' unit), as a
 * new array without duplicates. */
json_t *dk_pv_task_units(const struct dk_pv_task *t);

#endif

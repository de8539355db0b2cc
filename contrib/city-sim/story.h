/* The demo's story (csim_options.story): the few tasks that depart from the
 * progress model (task_progress in citysim.c) month by month, as each
 * city's system reports them — a task falling behind, the two cities
 * disagreeing on a status and on a text, a typo in one month's export.
 * Data only: citysim.c's handlers apply it. Internal to city-sim. */
#ifndef CITYSIM_STORY_H
#define CITYSIM_STORY_H

/* Whose system reports: Jinan's task register or Linyi's ledger and export. */
enum csim_view { CSIM_VIEW_JINAN, CSIM_VIEW_LINYI };

/* What the story changes of one task on one day, in one city's system. */
struct csim_story {
  const char *status;   /* the status, or NULL: the model's */
  long modified;        /* with status: the day of that change (days since 1970-01-01) */
  int percent;          /* 0-100: the progress stands there; -1: the model's */
  const char *text_add; /* appended to the task's text, or NULL */
};

/* The story of task `n` on `day` in `view`'s system. Returns 1 when it
 * departs from the model, 0 when the model stands; *out is set either way. */
int csim_story_task(enum csim_view view, long n, long day, struct csim_story *out);

/* 1 when Linyi's task ledger (GET /linyi/api/ledger) lists task `n`. */
int csim_story_ledger_has(long n);

/* The status Linyi's ledger shows on `day` for task `n`, whose status is
 * `status`: that status, unless the story has a typo there (in one month
 * only; the next month has it right). */
const char *csim_story_ledger_status(long n, long day, const char *status);

/* Days since 1970-01-01 of y-m-d, m 1-12 (citysim.c). */
long csim__days(long y, long m, long d);

#endif

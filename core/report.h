/* The period report (`duikou report`): for one month, every task of each
 * plan that has a report for it, with Jinan's and Linyi's status, percent
 * and summary for that month, delayed and not-started tasks first. As HTML
 * (the dashboard's look, printable, self-contained) or CSV (UTF-8 with a
 * BOM so that Excel reads the Chinese right, RFC 4180 quoting, CRLF). */
#ifndef DK_REPORT_H
#define DK_REPORT_H

#include "error.h"
#include "util.h"

enum dk_report_format { DK_REPORT_HTML, DK_REPORT_CSV };

/* Whether `period` is a month, YYYY-MM (01 to 12): 1 or 0. */
int dk_report_period_ok(const char *period);

/* Render the report of `period` from the repository at `repo` into out;
 * *ntasks (may be NULL) counts the tasks listed. Returns 0, DK_EINVAL (the
 * period is not YYYY-MM), DK_ENOENT (no repository at `repo`, no main, or no
 * progress report of that period on main) or DK_EGIT; err says which and
 * why; out is then left empty. */
int dk_report_render(const char *repo, const char *period, enum dk_report_format fmt, struct dk_buf *out,
                     size_t *ntasks, char *err);

#endif

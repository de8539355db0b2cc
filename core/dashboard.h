/* The dashboard: the pages an official reads, rendered by duikou itself
 * from the snapshot repository's main, the source state files and the
 * quarantine (read only). Entirely from the binary: inline CSS, no script,
 * nothing fetched from the network, printable. Chinese first; no commit id
 * in the main view; dates in the process's time zone (the configured one).
 *
 *   /                   the current plan (the newest year on main; ?plan=ID
 *                       another), its tasks by section with both cities'
 *                       latest status and percent, a chart of each task's
 *                       percent over time; filters ?city=jinan|linyi,
 *                       ?status=delayed|..., ?unit=NAME; the sources, the
 *                       open conflicts, the quarantine, the recent changes
 *   /tasks/<plan>/<n>   one task: its text, units, each city's reports and
 *                       chart, its history (duikou log) and who last changed
 *                       each field (duikou blame)
 *
 * Each page reads the trees it needs once; nothing is cached between pages. */
#ifndef DK_DASHBOARD_H
#define DK_DASHBOARD_H

#include <time.h>
#include "config.h"
#include "error.h"
#include "util.h"

struct dk_dashboard_opts {
  const struct dk_config *cfg;          /* repository, state folder, sources */
  int (*next_run)(void *arg, const char *source, time_t *when); /* 1 with *when; may be NULL */
  void *next_arg;
};

/* Render the page for path ("/" or "/tasks/..."), query (raw, may be NULL) into body. Returns the
 * HTTP status (200, 404 for an unknown task or path, 500 with a message page when the repository
 * cannot be read; err says why); *ctype is a static string. */
int dk_dashboard_page(const struct dk_dashboard_opts *o, const char *path, const char *query,
                      struct dk_buf *body, const char **ctype, char *err);

/* dk_dashboard_page as a status listener's page (status.h's dk_status_page_fn;
 * arg: a struct dk_dashboard_opts that outlives the listener's use of it):
 * a 500's reason goes to the log, never onto the page. */
int dk_dashboard_serve(void *arg, const char *path, const char *query, struct dk_buf *body, const char **ctype);

/* The value of `key` in a raw query string ("city=linyi&unit=%E6%B5%8E"),
 * percent-decoded ('+' is a space), malloc'd; NULL when absent, empty, or
 * not UTF-8 once decoded. */
char *dk_dashboard_query(const char *query, const char *key);

#endif

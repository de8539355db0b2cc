/* status: the daemon's status listener (`status:` in the configuration),
 * on the daemon's loop through httpd.h.
 *
 *   GET|HEAD /healthz  200 "ok", or 503 with health.h's reasons, one a line
 *   GET|HEAD /status   the same and each source's and remote's state, JSON
 *   pages others add with dk_status_add_page (metrics, the dashboard)
 *
 * Other paths 404, other methods 405 with Allow. With a token (status.
 * token_env or token_file, required off loopback), every request must send
 * "Authorization: Bearer TOKEN", compared in constant time, else 401 with
 * WWW-Authenticate. The token is read with auth.c's dk_secret_read, so it
 * is redacted from every log line, and never written anywhere. */
#ifndef DK_STATUS_H
#define DK_STATUS_H

#include <uv.h>
#include "config.h"
#include "error.h"
#include "scheduler.h"
#include "util.h"

struct dk_status;

/* Returns the HTTP status; fills body; *ctype is a static string. */
typedef int (*dk_status_page_fn)(void *arg, const char *path, const char *query, struct dk_buf *body,
                                 const char **ctype);

/* Listen as cfg->status says (no listener when status.listen is off or
 * `status:` absent: the object still exists, for a later dk_status_use).
 * cfg must outlive its use (see dk_status_use). Returns 0 with *out, or a
 * DK_E* code with err (the address cannot be bound, the token cannot be
 * read); *out is NULL then. Logs "status listener on http://ADDR:PORT/". */
int dk_status_start(uv_loop_t *loop, const struct dk_config *cfg, struct dk_status **out, char *err);
/* Use configuration `cfg` from now on (a reload): the token read again,
 * the listener moved when status.listen changed (the new address bound
 * before the old one closes). Returns 0, or a DK_E* code with err, and then
 * nothing changed (the old configuration and listener are kept). */
int dk_status_use(struct dk_status *s, const struct dk_config *cfg, char *err);
/* The scheduler whose next runs /status shows, or NULL (none now). */
void dk_status_set_sched(struct dk_status *s, const struct dk_sched *sched);
/* "http://ADDR:PORT/", or NULL without a listener. */
const char *dk_status_url(const struct dk_status *s);
/* prefix ending in '/' matches every path below it, else the exact path. Returns 0 or DK_E*. */
/* (/healthz and /status come first; then a page's exact path, then the
 * longest prefix, so "/" as a prefix gets whatever nothing else serves. At
 * most 16 pages: DK_ENOMEM past them, DK_EINVAL for a prefix not starting
 * with '/'.) */
int dk_status_add_page(struct dk_status *s, const char *prefix, dk_status_page_fn fn, void *arg);
/* Close the listener and free s; done(arg) (if not NULL) once every handle
 * is closed. */
void dk_status_close(struct dk_status *s, void (*done)(void *arg), void *arg);

/* The /status document of `cfg` at `now` (sched: for the next runs, or
 * NULL), without a listener. The caller decrefs it. */
json_t *dk_status_json(const struct dk_config *cfg, const struct dk_sched *sched, time_t now);

#endif

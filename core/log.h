/* One line per event on stderr: `ts=… level=warn source=x record=y msg="…"`.
 *
 * Fields are passed as a NULL-terminated list of key, value pairs; values are
 * quoted when they need it. Secrets must never be passed here: the HTTP and
 * configuration modules only ever log names of secrets, never values. */
#ifndef DK_LOG_H
#define DK_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include "duikou/plugin.h"

/* Set the threshold; lines above it are dropped. Default DK_LOG_INFO. Set
 * it before starting threads: it is read without a lock. */
void dk_log_set_level(enum dk_log_level level);
enum dk_log_level dk_log_get_level(void);
/* Parse "error", "warn", "info", "debug". Returns 0 or DK_EINVAL. */
int dk_log_parse_level(const char *s, enum dk_log_level *out);

/* dk_log(DK_LOG_WARN, "source", name, "record", id, NULL, "fetch failed: %s", why)
 * Keys with a NULL value are skipped. Safe from several threads at once:
 * each line is written whole, never interleaved with another. */
void dk_log(enum dk_log_level level, ...);

/* fn(arg) is called before each line is written, under the lock that keeps
 * lines whole (from whichever thread logs): a progress display on the same
 * terminal erases itself there, so that no line lands inside it. NULL:
 * none. Set and unset it while no other thread logs. */
void dk_log_set_before_write(void (*fn)(void *arg), void *arg);
void dk_vlog(enum dk_log_level level, const char **kv, const char *fmt, va_list ap);

#endif

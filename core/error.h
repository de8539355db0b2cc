/* Error codes and the per-object error buffer. */
#ifndef DK_ERROR_H
#define DK_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include "duikou/plugin.h"

#define DK_ERRBUF_SIZE 512

/* Text of a DK_E* code; "unknown error" for anything else. Never NULL. */
const char *dk_strerror(int err);

/* Format a message into buf (size DK_ERRBUF_SIZE) and return err, so that
 * callers can write `return dk_failf(obj->err, DK_EIO, "…", …);`. */
int dk_failf(char *buf, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int dk_vfailf(char *buf, int err, const char *fmt, va_list ap);

#endif

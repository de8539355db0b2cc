/* Secrets never leave the request they were read for.
 *
 * Every secret value the configuration loads (tokens, passwords, proxy
 * credentials, and the base64 form of each basic-auth pair) is registered
 * here when it is read; every text duikou keeps or prints from a response —
 * log lines, failure reasons, the state file, quarantine entries, commit
 * messages — passes through dk_redact() first. Registered values stay for
 * the life of the process (a rotated secret is still redacted). */
#ifndef DK_REDACT_H
#define DK_REDACT_H

#include <stddef.h>

#define DK_REDACTED "[secret redacted]"

/* Register a secret value (copied). Empty strings are ignored. Only before
 * threads start (the configuration is read on the main thread): the table is
 * read without a lock by dk_redact and dk_redact_found, which are then safe
 * from any thread. */
void dk_redact_add(const char *secret);

/* Whether `s` (len bytes) holds a registered secret. */
int dk_redact_found(const char *s, size_t len);

/* A copy of `s` (len bytes) with every registered secret replaced by
 * DK_REDACTED, or NULL when it holds none (the common case: nothing is
 * copied). *outlen, if given, is the copy's length. The caller frees. */
char *dk_redact(const char *s, size_t len, size_t *outlen);

/* The same in place on a NUL-terminated string in a buffer of `cap` bytes;
 * the result is cut (at a UTF-8 boundary) if it does not fit. */
void dk_redact_buf(char *buf, size_t cap);

/* Forget every secret (tests only). */
void dk_redact_reset(void);

#endif

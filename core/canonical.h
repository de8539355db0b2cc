/* Canonical JSON: the one byte form of a record in the snapshot repository.
 *
 * Keys sorted by their UTF-8 bytes (which is code point order), two-space
 * indent, one key or element per line, `"key": value`, empty containers as
 * `{}` and `[]`, strings UTF-8 unescaped except `"`, `\` and control
 * characters, one trailing newline. Numbers: integers as integers; a real
 * whose value is a whole number below 2^53 is written as an integer (1.0 and
 * 1 are the same JSON value, and must give the same bytes); other reals in
 * the shortest form that reads back to the same double. */
#ifndef DK_CANONICAL_H
#define DK_CANONICAL_H

#include <stddef.h>
#include <jansson.h>

/* Serialise `value`. Returns a NUL-terminated buffer the caller frees, and
 * its length (without the NUL) in *len when len is not NULL. Strings must be
 * valid UTF-8 (jansson guarantees it for values it built). */
char *dk_canonical_dump(const json_t *value, size_t *len);

/* A value shown to a person in one line (a commit body, an audit line):
 * "(none)" for NULL, a string as it is, anything else as compact JSON with
 * sorted keys; cut at a character boundary past `max` bytes with "...",
 * newlines shown as spaces and control characters as '?' (dk_excerpt).
 * Returns a malloc'd string the caller frees. */
char *dk_value_short(const json_t *value, size_t max);

/* Shortest decimal form of a finite double that strtod reads back exactly,
 * written into out (at least 32 bytes). */
void dk_canonical_real(double d, char *out, size_t n);

#endif

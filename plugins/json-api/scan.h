/* A JSON scanner for json-api's fast path: it checks a body and finds byte
 * ranges in it without building any value, so that a record the core
 * already holds is never parsed.
 *
 * dk_jscan_check() is at least as strict as jansson's json_loadb with
 * JSON_DECODE_ANY (and stricter in a few corners: \u0000, nesting past
 * DK_JSCAN_MAX_DEPTH), so that whatever it takes jansson takes too, and the
 * caller can fall back to a full parse for everything else. The other
 * functions only read text dk_jscan_check() took. Nothing allocates. */
#ifndef DK_JSONAPI_SCAN_H
#define DK_JSONAPI_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Deeper than this is refused (jansson's own limit is 2048, counted its
 * way: staying well below it keeps the two from disagreeing). */
#define DK_JSCAN_MAX_DEPTH 512

/* A value's bytes: s[off, off + len). */
struct dk_jscan_span {
  size_t off, len;
};

enum dk_jscan_found {
  DK_JSCAN_UNSURE = -1, /* the scanner cannot tell (a key with escapes, a duplicate key on the way) */
  DK_JSCAN_ABSENT = 0,  /* nothing is there, as jansson's document would say */
  DK_JSCAN_FOUND = 1,
};

/* Whether s (len bytes) is one JSON value with only whitespace around it:
 * valid UTF-8, no NUL byte, no \u0000, no lone surrogate escape, nesting
 * at most DK_JSCAN_MAX_DEPTH deep. */
bool dk_jscan_check(const char *s, size_t len);
/* The length of the one JSON value that s (len bytes) starts with, checked
 * as dk_jscan_check checks a whole text (0 when it is not one): for an
 * item among others, checked alone. */
size_t dk_jscan_value(const char *s, size_t len);
/* Whether dk_jscan_check may use the processor's vector instructions (on,
 * the default, where it has them); off checks UTF-8 a byte at a time. For
 * tests, which compare the two. */
void dk_jscan_use_simd(bool on);

/* The value of checked text s (len bytes) that the JSON Pointer `ptr`
 * (RFC 6901, "" for the whole value) names, into *out, resolved as
 * json-api resolves it in a parsed document. */
enum dk_jscan_found dk_jscan_pointer(const char *s, size_t len, const char *ptr, struct dk_jscan_span *out);

/* The elements of an array of checked text, one after the other. */
struct dk_jscan_iter {
  const char *s;
  size_t pos, end; /* end: the closing ']' */
};

/* Start on the array s[arr.off, arr.off + arr.len) (s[arr.off] is '['). */
void dk_jscan_array(struct dk_jscan_iter *it, const char *s, struct dk_jscan_span arr);
/* The next element into *elem, or false after the last. */
bool dk_jscan_next(struct dk_jscan_iter *it, struct dk_jscan_span *elem);

#endif

/* Numbers that jansson cannot hold, for plugins that parse JSON.
 *
 * A 30-digit integer or 1e999999 is valid JSON, but jansson refuses the whole
 * document for it, so one such value would fail the page and hold back the
 * valid records beside it. dk_json_mark_numbers() rewrites each such number
 * as the string DK_NUMBER_MARK + its text (a \u0000 escape, which no real
 * string of the document holds), so that the document parses with
 * JSON_ALLOW_NUL and the core refuses only the record holding the number. */
#ifndef DK_PLUGIN_JSON_NUMBERS_H
#define DK_PLUGIN_JSON_NUMBERS_H

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <duikou/plugin.h>

#include "buf.h"

/* Whether the number text s[0..n) overflows jansson's integer or double. */
static int dk_json__overflows(const char *s, size_t n, int real) {
  char buf[512];
  if (n >= sizeof buf) return 1; /* longer than any number a double or int64 holds exactly */
  memcpy(buf, s, n);
  buf[n] = '\0';
  errno = 0;
  if (!real) {
    (void)strtoll(buf, NULL, 10);
    return errno == ERANGE;
  }
  double d = strtod(buf, NULL);
  return errno == ERANGE && isinf(d);
}

/* The document s (len bytes) with every overflowing number rewritten, as a
 * malloc'd buffer (*outlen bytes), or NULL when there is none to rewrite,
 * when a string of the document already holds \u0000 (a NUL keeps failing
 * the page), or when memory runs out. The caller frees. */
static char *dk_json_mark_numbers(const char *s, size_t len, size_t *outlen) {
  static const char mark[] = "\\u0000duikou:number:";
  struct dk_pbuf out = {0};
  size_t marked = 0;
  if (!dk_pbuf_add(&out, "", 0)) return NULL;
  for (size_t i = 0; i < len;) {
    size_t start = i;
    int number = 0, real = 0;
    if (s[i] == '"') {
      for (i++; i < len && s[i] != '"'; i++) {
        if (s[i] != '\\') continue;
        if (i + 5 < len && memcmp(s + i, "\\u0000", 6) == 0) goto none;
        i++;
      }
      if (i < len) i++;
    } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
      number = 1;
      for (i++; i < len && strchr("0123456789.eE+-", s[i]) != NULL; i++) real |= s[i] == '.' || s[i] == 'e' || s[i] == 'E';
    } else {
      i++;
    }
    bool ok;
    if (number && dk_json__overflows(s + start, i - start, real)) {
      ok = dk_pbuf_add(&out, "\"", 1) && dk_pbuf_add(&out, mark, sizeof mark - 1) &&
           dk_pbuf_add(&out, s + start, i - start) && dk_pbuf_add(&out, "\"", 1);
      marked++;
    } else {
      ok = dk_pbuf_add(&out, s + start, i - start);
    }
    if (!ok) goto none;
  }
  if (marked == 0) goto none;
  *outlen = out.len;
  return out.p;
none:
  dk_pbuf_free(&out);
  return NULL;
}

#endif

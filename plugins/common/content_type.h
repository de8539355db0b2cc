/* The Content-Type check the data plugins share.
 *
 * Sources behind proxies and single sign-on answer 200 with an HTML login
 * page where the data should be; parsing it would fail with a confusing
 * message (or, for CSV, yield one odd "row" per line of HTML). By default
 * only HTML is refused, because servers label JSON and CSV with almost any
 * type (text/plain, application/octet-stream, application/vnd.ms-excel...);
 * the `content_types` option replaces that rule with an allow-list.
 *
 * Header-only with static inline functions: each plugin is a self-contained
 * .so linking nothing but jansson, so there is no library to share. */
#ifndef DK_PLUGINS_CONTENT_TYPE_H
#define DK_PLUGINS_CONTENT_TYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"

/* The `content_types` option, to paste into a plugin's options_schema. Entries
 * are bare media types: a parameter such as charset would only look as if it
 * were checked. */
#define DK_CT_OPTION_SCHEMA                                                                   \
  "\"content_types\": {\"type\": \"array\", \"minItems\": 1,"                                 \
  " \"items\": {\"type\": \"string\","                                                        \
  "  \"pattern\": \"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$\"}," \
  " \"description\": \"the only media types accepted (parameters ignored); default: all but"  \
  " text/html and application/xhtml+xml\"}"

/* Does a media type end at c (before blanks or parameters)? */
static inline bool dk_ct_end(char c) {
  return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

/* Do two Content-Type values name the same media type (ASCII case,
 * parameters and blanks aside)? */
static inline bool dk_ct_same(const char *a, const char *b) {
  while (*a == ' ' || *a == '\t') a++;
  while (*b == ' ' || *b == '\t') b++;
  for (; !dk_ct_end(*a) && !dk_ct_end(*b); a++, b++) {
    char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
    char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
    if (x != y) return false;
  }
  return dk_ct_end(*a) && dk_ct_end(*b);
}

/* The media type of a Content-Type value into out, lowercased, without
 * parameters or blanks ("Text/HTML ; charset=GBK" -> "text/html"); cut to fit.
 * NULL gives "". */
static inline void dk_ct_media(const char *ct, char *out, size_t outlen) {
  size_t n = 0;
  if (ct != NULL) {
    while (*ct == ' ' || *ct == '\t') ct++;
    for (; !dk_ct_end(*ct) && n + 1 < outlen; ct++)
      out[n++] = (*ct >= 'A' && *ct <= 'Z') ? (char)(*ct - 'A' + 'a') : *ct;
  }
  if (outlen > 0) out[n] = '\0';
}

/* The start of a body fit for a one-line message, into out: at most `max`
 * characters, each run of blanks and control characters as one space, bytes
 * that are not UTF-8 as U+FFFD, "…" when there was more. Never splits a
 * character; out is always terminated. */
static inline void dk_ct_snippet(const char *body, size_t len, size_t max, char *out, size_t outlen) {
  static const char repl[] = "\xEF\xBF\xBD", more[] = "\xE2\x80\xA6";
  const unsigned char *p = (const unsigned char *)body, *end = p + (body ? len : 0);
  size_t o = 0, chars = 0;
  bool space = true; /* drops leading blanks */
  if (outlen == 0) return;
  while (p < end) {
    size_t k = dk_utf8_len(p, (size_t)(end - p));
    if (k == 1 && (*p <= ' ' || *p == 0x7F)) {
      if (!space) {
        if (chars == max || o + 1 + sizeof more > outlen) break;
        out[o++] = ' ';
        chars++;
      }
      space = true;
      p++;
      continue;
    }
    const char *src = k ? (const char *)p : repl;
    size_t sl = k ? k : 3;
    if (chars == max || o + sl + sizeof more > outlen) break;
    memcpy(out + o, src, sl);
    o += sl;
    chars++;
    space = false;
    p += k ? k : 1;
  }
  if (o > 0 && out[o - 1] == ' ') o--;
  if (p < end && o + sizeof more <= outlen) {
    memcpy(out + o, more, sizeof more - 1);
    o += sizeof more - 1;
  }
  out[o] = '\0';
}

/* May a response labelled `content_type` (NULL when the server sent none) be
 * parsed? With `allow` NULL (no content_types option) anything but an HTML
 * page may; else only the media types `allow` lists (a JSON array of
 * strings; parameters ignored on both sides), and a response without a type
 * may not. When it may not, returns false with msg (512 bytes hold it all)
 * saying "expected <what>, got <type>: <start of the body>". */
static inline bool dk_ct_accept(const char *content_type, const json_t *allow, const char *what,
                                const char *body, size_t body_len, char *msg, size_t msglen) {
  const char *ct = content_type ? content_type : "";
  bool ok;
  if (allow == NULL) {
    ok = !dk_ct_same(ct, "text/html") && !dk_ct_same(ct, "application/xhtml+xml");
  } else {
    ok = false;
    size_t i;
    const json_t *v;
    json_array_foreach(allow, i, v) {
      const char *want = json_string_value(v);
      if (want && *want && dk_ct_same(ct, want)) ok = true;
    }
  }
  if (ok) return true;
  char media[64];
  dk_ct_media(ct, media, sizeof media);
  char start[256];
  dk_ct_snippet(body, body_len, 80, start, sizeof start);
  snprintf(msg, msglen, "expected %s, got %s%s: %s", what, *media ? media : "no Content-Type",
           allow ? " (not in options.content_types)" : "", *start ? start : "(empty body)");
  return false;
}

#endif

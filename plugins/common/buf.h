/* The growable buffer and the UTF-8 helpers every plugin shares (csv,
 * plan-text, and the other common headers).
 *
 * Header-only with static inline functions, like content_type.h: each
 * plugin is a self-contained .so linking nothing but jansson. */
#ifndef DK_PLUGINS_BUF_H
#define DK_PLUGINS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Bytes that grow, always NUL-terminated once something was added. Start
 * from {0}; p is malloc'd and the owner's to free (or to keep). */
struct dk_pbuf {
  char *p;
  size_t len, cap;
};

/* Append n bytes of s. Returns false when out of memory (b is unchanged). */
static inline bool dk_pbuf_add(struct dk_pbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return false;
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return true;
}

/* Append a NUL-terminated string. */
static inline bool dk_pbuf_str(struct dk_pbuf *b, const char *s) { return dk_pbuf_add(b, s, strlen(s)); }

/* Release the bytes; b is empty after. */
static inline void dk_pbuf_free(struct dk_pbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* The UTF-8 encoding of code point cp into out (1 to 4 bytes), returning
 * its length. What has none (0, a surrogate, past U+10FFFF) is written as
 * U+FFFD. */
static inline size_t dk_utf8_encode(unsigned long cp, char out[4]) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Append code point cp as UTF-8 (see dk_utf8_encode). */
static inline bool dk_pbuf_cp(struct dk_pbuf *b, unsigned long cp) {
  char u[4];
  return dk_pbuf_add(b, u, dk_utf8_encode(cp, u));
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left: no
 * overlong form, surrogate or code point past U+10FFFF), or 0. A NUL byte
 * is a sequence of 1. */
static inline size_t dk_utf8_len(const unsigned char *p, size_t n) {
  if (n == 0) return 0;
  size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  unsigned cp = len == 1 ? p[0] : p[0] & (0x7Fu >> len);
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3Fu);
  }
  static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

#endif

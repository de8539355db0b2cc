#include "escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dk_esc_unsafe(uint32_t c) {
  return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F) || c == 0x061C || c == 0x200E || c == 0x200F ||
         (c >= 0x2028 && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

/* Length of the valid UTF-8 character at s (n bytes left) with its code
 * point in *cp, or 0 when the bytes there are not UTF-8. */
static size_t dk__utf8_at(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  size_t len;
  uint32_t v;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)))
    return 0;
  *cp = v;
  return len;
}

void dk_esc_append(struct dk_buf *b, const char *s, size_t len, int quoted) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, from = 0;
  char tmp[16];
  while (i < len) {
    uint32_t cp = 0;
    size_t n = dk__utf8_at(p + i, len - i, &cp);
    int esc = n == 0 || dk_esc_unsafe(cp) || (quoted && (cp == '"' || cp == '\\'));
    if (!esc) {
      i += n;
      continue;
    }
    dk_buf_append(b, s + from, i - from);
    if (n == 0) snprintf(tmp, sizeof tmp, "\\x%02x", p[i]), n = 1;
    else if (cp == '\n') strcpy(tmp, "\\n");
    else if (cp == '\t') strcpy(tmp, "\\t");
    else if (cp == '\r') strcpy(tmp, "\\r");
    else if (cp == '"' || cp == '\\') snprintf(tmp, sizeof tmp, "\\%c", (char)cp);
    else if (cp < 0x80) snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned)cp);
    else snprintf(tmp, sizeof tmp, "\\u{%04X}", (unsigned)cp);
    dk_buf_puts(b, tmp);
    i += n;
    from = i;
  }
  dk_buf_append(b, s + from, len - from);
}

char *dk_esc(const char *s) {
  struct dk_buf b = {0};
  if (s) dk_esc_append(&b, s, strlen(s), 0);
  dk_buf_cstr(&b);
  return dk_buf_steal(&b);
}

const char *dk_esc_tmp(const char *s) {
  static struct dk_buf ring[16];
  static unsigned next;
  if (s == NULL) return NULL;
  struct dk_buf *b = &ring[next++ % 16];
  b->len = 0;
  dk_esc_append(b, s, strlen(s), 0);
  return dk_buf_cstr(b);
}

char *dk_esc_json(const char *json) {
  struct dk_buf b = {0};
  const unsigned char *p = (const unsigned char *)json;
  size_t len = strlen(json), i = 0, from = 0;
  while (i < len) {
    uint32_t cp = 0;
    size_t n = dk__utf8_at(p + i, len - i, &cp);
    if (n == 0) n = 1;
    else if (cp >= 0x80 && dk_esc_unsafe(cp)) {
      char tmp[16];
      dk_buf_append(&b, json + from, i - from);
      snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
      dk_buf_puts(&b, tmp);
      from = i + n;
    }
    i += n;
  }
  dk_buf_append(&b, json + from, len - from);
  dk_buf_cstr(&b);
  return dk_buf_steal(&b);
}

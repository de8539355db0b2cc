/* See scan.h. */
#include <stdint.h>
#include <string.h>

#include "scan.h"
#include "common/buf.h" /* dk_utf8_len */

static inline bool dk__jscan_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The first position from p on that is not whitespace (or len). */
static inline size_t dk__jscan_skip_ws(const char *s, size_t len, size_t p) {
  while (p < len && dk__jscan_ws(s[p])) p++;
  return p;
}

/* Whether the 8 bytes at p are all plain string bytes: none is '"', '\\',
 * a control character or part of a multi-byte character. (The usual
 * "has a byte less than n" word tricks: they may flag a plain byte next to
 * a special one, never miss a special one; a flag only sends the caller to
 * the byte loop.) */
static inline bool dk__jscan_plain8(const unsigned char *p) {
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
  uint64_t v, q, b;
  memcpy(&v, p, 8);
  q = v ^ (ones * '"');
  b = v ^ (ones * '\\');
  return ((v | ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & high) == 0;
}

/* The value of 4 hex digits at p, or -1. */
static long dk__jscan_hex4(const char *p) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* The length of the escape at s[p] == '\\', or 0 when jansson would refuse
 * it, or it is \u0000 (JSON_ALLOW_NUL is not the plain parse's). */
static size_t dk__jscan_escape(const char *s, size_t len, size_t p) {
  if (p + 1 >= len) return 0;
  switch (s[p + 1]) {
  case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
    return 2;
  case 'u':
    break;
  default:
    return 0;
  }
  if (len - p < 6) return 0;
  long cp = dk__jscan_hex4(s + p + 2);
  if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return 0;
  if (cp < 0xD800 || cp > 0xDBFF) return 6;
  /* a high surrogate: only as the first half of a pair */
  if (len - p < 12 || s[p + 6] != '\\' || s[p + 7] != 'u') return 0;
  long lo = dk__jscan_hex4(s + p + 8);
  return lo >= 0xDC00 && lo <= 0xDFFF ? 12 : 0;
}

/* Past the end of the string at s[p] == '"', or 0 when it is not valid. */
static size_t dk__jscan_string(const char *s, size_t len, size_t p) {
  const unsigned char *u = (const unsigned char *)s;
  for (p++;;) {
    while (len - p >= 8 && dk__jscan_plain8(u + p)) p += 8;
    if (p >= len) return 0;
    unsigned char c = u[p];
    size_t n;
    if (c == '"') return p + 1;
    if (c == '\\') n = dk__jscan_escape(s, len, p);
    else if (c < 0x20) n = 0;
    else if (c >= 0xE1 && c <= 0xEC && len - p >= 3 && (u[p + 1] & 0xC0) == 0x80 && (u[p + 2] & 0xC0) == 0x80)
      n = 3; /* most of CJK: no overlong or surrogate form starts so */
    else if (c >= 0x80) n = dk_utf8_len(u + p, len - p);
    else n = 1;
    if (n == 0) return 0;
    p += n;
  }
}

static inline bool dk__jscan_digit(const char *s, size_t len, size_t p) {
  return p < len && s[p] >= '0' && s[p] <= '9';
}

/* Past the end of the number at s[p] (RFC 8259's grammar), or 0. */
static size_t dk__jscan_number(const char *s, size_t len, size_t p) {
  if (s[p] == '-') p++;
  if (!dk__jscan_digit(s, len, p)) return 0;
  if (s[p++] != '0')
    while (dk__jscan_digit(s, len, p)) p++;
  if (p < len && s[p] == '.') {
    if (!dk__jscan_digit(s, len, ++p)) return 0;
    while (dk__jscan_digit(s, len, p)) p++;
  }
  if (p < len && (s[p] == 'e' || s[p] == 'E')) {
    p++;
    if (p < len && (s[p] == '+' || s[p] == '-')) p++;
    if (!dk__jscan_digit(s, len, p)) return 0;
    while (dk__jscan_digit(s, len, p)) p++;
  }
  return p;
}

/* Past the end of the literal `word` at s[p], or 0. */
static size_t dk__jscan_literal(const char *s, size_t len, size_t p, const char *word) {
  size_t n = strlen(word);
  return len - p >= n && memcmp(s + p, word, n) == 0 ? p + n : 0;
}

bool dk_jscan_check(const char *s, size_t len) {
  char open[DK_JSCAN_MAX_DEPTH]; /* '{' or '[' for each container we are in */
  size_t depth = 0, p = dk__jscan_skip_ws(s, len, 0);
  enum { VALUE, KEY, AFTER } want = VALUE;
  for (;;) {
    if (want == KEY) {
      if (p >= len || s[p] != '"' || (p = dk__jscan_string(s, len, p)) == 0) return false;
      p = dk__jscan_skip_ws(s, len, p);
      if (p >= len || s[p] != ':') return false;
      p = dk__jscan_skip_ws(s, len, p + 1);
      want = VALUE;
    } else if (want == VALUE) {
      if (p >= len) return false;
      char c = s[p];
      if (c == '{' || c == '[') {
        if (depth == DK_JSCAN_MAX_DEPTH) return false;
        open[depth++] = c;
        p = dk__jscan_skip_ws(s, len, p + 1);
        if (p < len && s[p] == (c == '{' ? '}' : ']')) {
          depth--;
          p++;
          want = AFTER;
        } else want = c == '{' ? KEY : VALUE;
        continue;
      }
      if (c == '"') p = dk__jscan_string(s, len, p);
      else if (c == 't') p = dk__jscan_literal(s, len, p, "true");
      else if (c == 'f') p = dk__jscan_literal(s, len, p, "false");
      else if (c == 'n') p = dk__jscan_literal(s, len, p, "null");
      else if (c == '-' || (c >= '0' && c <= '9')) p = dk__jscan_number(s, len, p);
      else return false;
      if (p == 0) return false;
      want = AFTER;
    } else {
      p = dk__jscan_skip_ws(s, len, p);
      if (depth == 0) return p == len;
      if (p >= len) return false;
      char top = open[depth - 1];
      if (s[p] == ',') {
        p = dk__jscan_skip_ws(s, len, p + 1);
        want = top == '{' ? KEY : VALUE;
      } else if (s[p] == (top == '{' ? '}' : ']')) {
        depth--;
        p++;
      } else return false;
    }
  }
}

/* The bytes that open or close something; checked text ends a container
 * with one, so a loop looking for them needs no bound. */
static const bool dk__jscan_structural[256] = {['"'] = true, ['['] = true, [']'] = true, ['{'] = true, ['}'] = true};

/* Past the closing quote of the string at s[p] == '"' of checked text. */
static size_t dk__jscan_skip_string(const char *s, size_t len, size_t p) {
  for (size_t q = p + 1;;) {
    const char *e = memchr(s + q, '"', len - q);
    size_t at = (size_t)(e - s), bs = 0;
    while (s[at - 1 - bs] == '\\') bs++; /* stops at the opening quote at the latest */
    if (bs % 2 == 0) return at + 1;
    q = at + 1;
  }
}

/* Past the end of the value at s[p] of checked text. */
static size_t dk__jscan_skip(const char *s, size_t len, size_t p) {
  char c = s[p];
  if (c == '"') return dk__jscan_skip_string(s, len, p);
  if (c != '{' && c != '[') {
    while (p < len && s[p] != ',' && s[p] != ']' && s[p] != '}' && !dk__jscan_ws(s[p])) p++;
    return p;
  }
  for (size_t depth = 0;;) {
    while (!dk__jscan_structural[(unsigned char)s[p]]) p++;
    c = s[p];
    if (c == '"') {
      p = dk__jscan_skip_string(s, len, p);
      continue;
    }
    if (c == '{' || c == '[') depth++;
    else if ((c == '}' || c == ']') && --depth == 0) return p + 1;
    p++;
  }
}

void dk_jscan_array(struct dk_jscan_iter *it, const char *s, struct dk_jscan_span arr) {
  it->s = s;
  it->pos = arr.off + 1;
  it->end = arr.off + arr.len - 1;
}

bool dk_jscan_next(struct dk_jscan_iter *it, struct dk_jscan_span *elem) {
  size_t p = dk__jscan_skip_ws(it->s, it->end, it->pos);
  if (p >= it->end) return false;
  if (it->s[p] == ',') p = dk__jscan_skip_ws(it->s, it->end, p + 1);
  size_t e = dk__jscan_skip(it->s, it->end, p);
  *elem = (struct dk_jscan_span){p, e - p};
  it->pos = e;
  return true;
}

/* Whether the pointer token tok (tlen bytes) is well formed: '~' only as
 * "~0" or "~1". */
static bool dk__jscan_token_ok(const char *tok, size_t tlen) {
  for (size_t i = 0; i < tlen; i++)
    if (tok[i] == '~' && (i + 1 == tlen || (tok[i + 1] != '0' && tok[i + 1] != '1'))) return false;
  return true;
}

/* Whether the well-formed token tok names the key of klen bytes. */
static bool dk__jscan_token_eq(const char *tok, size_t tlen, const char *key, size_t klen) {
  size_t k = 0;
  for (size_t i = 0; i < tlen; i++, k++) {
    char c = tok[i];
    if (c == '~') c = tok[++i] == '0' ? '~' : '/';
    if (k >= klen || key[k] != c) return false;
  }
  return k == klen;
}

/* The member `tok` of the object at cur, as jansson's document has it. */
static enum dk_jscan_found dk__jscan_member(const char *s, size_t len, struct dk_jscan_span *cur, const char *tok,
                                            size_t tlen) {
  size_t p = dk__jscan_skip_ws(s, len, cur->off + 1);
  bool have = false;
  while (s[p] == '"') {
    size_t kend = dk__jscan_skip_string(s, len, p);
    const char *key = s + p + 1;
    size_t klen = kend - p - 2;
    /* an escaped key would need decoding to compare */
    if (memchr(key, '\\', klen) != NULL) return DK_JSCAN_UNSURE;
    bool match = dk__jscan_token_eq(tok, tlen, key, klen);
    p = dk__jscan_skip_ws(s, len, dk__jscan_skip_ws(s, len, kend) + 1); /* past the ':' */
    size_t vend = dk__jscan_skip(s, len, p);
    if (match) {
      if (have) return DK_JSCAN_UNSURE; /* jansson keeps the last: rare enough to leave to it */
      have = true;
      *cur = (struct dk_jscan_span){p, vend - p};
    }
    p = dk__jscan_skip_ws(s, len, vend);
    if (s[p] != ',') break;
    p = dk__jscan_skip_ws(s, len, p + 1);
  }
  return have ? DK_JSCAN_FOUND : DK_JSCAN_ABSENT;
}

/* Element `tok` (an index: digits, no leading zero) of the array at cur. */
static enum dk_jscan_found dk__jscan_element(const char *s, struct dk_jscan_span *cur, const char *tok, size_t tlen) {
  if (tlen == 0 || (tlen > 1 && tok[0] == '0')) return DK_JSCAN_ABSENT;
  size_t index = 0;
  for (size_t i = 0; i < tlen; i++) {
    if (tok[i] < '0' || tok[i] > '9') return DK_JSCAN_ABSENT;
    if (index > (SIZE_MAX - 9) / 10) return DK_JSCAN_ABSENT; /* more than any array holds */
    index = index * 10 + (size_t)(tok[i] - '0');
  }
  struct dk_jscan_iter it;
  struct dk_jscan_span e;
  dk_jscan_array(&it, s, *cur);
  for (size_t i = 0; dk_jscan_next(&it, &e); i++)
    if (i == index) {
      *cur = e;
      return DK_JSCAN_FOUND;
    }
  return DK_JSCAN_ABSENT;
}

enum dk_jscan_found dk_jscan_pointer(const char *s, size_t len, const char *ptr, struct dk_jscan_span *out) {
  size_t p = dk__jscan_skip_ws(s, len, 0), end = len;
  /* checked text is one value between whitespace: no pass over it to find its end */
  while (end > p && dk__jscan_ws(s[end - 1])) end--;
  struct dk_jscan_span cur = {p, end - p};
  if (ptr != NULL && *ptr != '\0') {
    if (*ptr != '/') return DK_JSCAN_ABSENT;
    for (const char *tok = ptr + 1;; tok++) {
      size_t tlen = strcspn(tok, "/");
      if (!dk__jscan_token_ok(tok, tlen)) return DK_JSCAN_ABSENT;
      enum dk_jscan_found f = s[cur.off] == '{'   ? dk__jscan_member(s, len, &cur, tok, tlen)
                              : s[cur.off] == '[' ? dk__jscan_element(s, &cur, tok, tlen)
                                                  : DK_JSCAN_ABSENT;
      if (f != DK_JSCAN_FOUND) return f;
      tok += tlen;
      if (*tok != '/') break;
    }
  }
  *out = cur;
  return DK_JSCAN_FOUND;
}

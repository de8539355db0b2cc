/* See scan.h. */
#include <stdint.h>
#include <string.h>

#include "scan.h"
#include "common/buf.h" /* dk_utf8_len */

#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#define DK__JSCAN_X86 1
#endif

static inline bool dk__jscan_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The first position from p on that is not whitespace (or len). */
static inline size_t dk__jscan_skip_ws(const char *s, size_t len, size_t p) {
  while (p < len && dk__jscan_ws(s[p])) p++;
  return p;
}

/* Whether the 8 bytes at p are all plain string bytes of text whose UTF-8
 * is known good: none is '"', '\\' or a control character. (The usual
 * "has a byte less than n" word tricks: they may flag a plain byte next to
 * a special one, never miss a special one; a flag only sends the caller to
 * the byte loop.) */
static inline bool dk__jscan_plain8(const unsigned char *p) {
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
  uint64_t v, q, b;
  memcpy(&v, p, 8);
  q = v ^ (ones * '"');
  b = v ^ (ones * '\\');
  return ((((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & high) == 0;
}

/* The position of the first '"', '\\' or control character from p on in
 * s[0, len) (len when none): 16 bytes a step where SSE2 is (every x86-64),
 * 8 elsewhere. */
static inline size_t dk__jscan_special(const unsigned char *u, size_t len, size_t p) {
#ifdef DK__JSCAN_X86
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1F);
  for (; len - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(u + p));
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)); /* v <= 0x1F */
    int bits = _mm_movemask_epi8(m);
    if (bits) return p + (size_t)__builtin_ctz((unsigned)bits);
  }
#endif
  while (len - p >= 8 && dk__jscan_plain8(u + p)) p += 8;
  while (p < len && u[p] != '"' && u[p] != '\\' && u[p] >= 0x20) p++;
  return p;
}

/* UTF-8 checked whole before the grammar: outside strings only ASCII is
 * JSON, so a body whose bytes are well-formed UTF-8 has well-formed
 * strings, and the string scanner looks only for quotes, escapes and
 * control characters. Well-formed: no overlong form, surrogate or code
 * point past U+10FFFF, no sequence cut short (dk_utf8_len's rule, and
 * jansson's). */
static bool dk__utf8_scalar(const unsigned char *u, size_t len) {
  const uint64_t high = 0x8080808080808080u;
  size_t p = 0;
  while (p < len) {
    uint64_t v;
    if (len - p >= 8 && (memcpy(&v, u + p, 8), (v & high) == 0)) {
      p += 8;
      continue;
    }
    if (u[p] < 0x80) {
      p++;
      continue;
    }
    size_t n = dk_utf8_len(u + p, len - p);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

#ifdef DK__JSCAN_X86
/* The same with SSSE3, 16 bytes a step: the lookup-table check of Keiser
 * and Lemire ("Validating UTF-8 in less than one instruction per byte",
 * 2021), as simdjson and simdutf do it. Each byte is classified with the
 * one before it by three table look-ups whose AND has a bit set for each
 * kind of error; where a byte must be the second or third continuation of
 * a 3- or 4-byte sequence (from the bytes two and three back) the 0x80
 * bit must be set, and only there. */
#define DK__U8_TOO_SHORT (1 << 0)  /* 11______ then 0_______ or 11______ */
#define DK__U8_TOO_LONG (1 << 1)   /* 0_______ then 10______ */
#define DK__U8_OVERLONG_3 (1 << 2) /* 11100000 100_____ */
#define DK__U8_TOO_LARGE (1 << 3)  /* 11110100 1001____ and above */
#define DK__U8_SURROGATE (1 << 4)  /* 11101101 101_____ */
#define DK__U8_OVERLONG_2 (1 << 5) /* 1100000_ 10______ */
#define DK__U8_TOO_LARGE_1000 (1 << 6)
#define DK__U8_OVERLONG_4 (1 << 6) /* 11110000 1000____ */
#define DK__U8_TWO_CONTS (1 << 7)  /* 10______ 10______ */
#define DK__U8_CARRY (DK__U8_TOO_SHORT | DK__U8_TOO_LONG | DK__U8_TWO_CONTS)

__attribute__((target("ssse3"))) static inline __m128i dk__u8_block(__m128i in, __m128i prev) {
  const __m128i nib = _mm_set1_epi8(0x0F);
  const __m128i t1 = _mm_setr_epi8(
      /* the high nibble of the byte before: ASCII, continuation, 2-, 3-, 4-byte lead */
      DK__U8_TOO_LONG, DK__U8_TOO_LONG, DK__U8_TOO_LONG, DK__U8_TOO_LONG, DK__U8_TOO_LONG, DK__U8_TOO_LONG,
      DK__U8_TOO_LONG, DK__U8_TOO_LONG, DK__U8_TWO_CONTS, DK__U8_TWO_CONTS, DK__U8_TWO_CONTS, DK__U8_TWO_CONTS,
      DK__U8_TOO_SHORT | DK__U8_OVERLONG_2, DK__U8_TOO_SHORT, DK__U8_TOO_SHORT | DK__U8_OVERLONG_3 | DK__U8_SURROGATE,
      DK__U8_TOO_SHORT | DK__U8_TOO_LARGE | DK__U8_TOO_LARGE_1000 | DK__U8_OVERLONG_4);
  const char L = DK__U8_CARRY | DK__U8_TOO_LARGE | DK__U8_TOO_LARGE_1000;
  const __m128i t2 = _mm_setr_epi8(
      /* its low nibble */
      DK__U8_CARRY | DK__U8_OVERLONG_3 | DK__U8_OVERLONG_2 | DK__U8_OVERLONG_4, DK__U8_CARRY | DK__U8_OVERLONG_2,
      DK__U8_CARRY, DK__U8_CARRY, DK__U8_CARRY | DK__U8_TOO_LARGE, L, L, L, L, L, L, L, L, L | DK__U8_SURROGATE, L, L);
  const char C = DK__U8_TOO_LONG | DK__U8_OVERLONG_2 | DK__U8_TWO_CONTS;
  const __m128i t3 = _mm_setr_epi8(
      /* the high nibble of the byte itself */
      DK__U8_TOO_SHORT, DK__U8_TOO_SHORT, DK__U8_TOO_SHORT, DK__U8_TOO_SHORT, DK__U8_TOO_SHORT, DK__U8_TOO_SHORT,
      DK__U8_TOO_SHORT, DK__U8_TOO_SHORT, C | DK__U8_OVERLONG_3 | DK__U8_TOO_LARGE_1000 | DK__U8_OVERLONG_4,
      C | DK__U8_OVERLONG_3 | DK__U8_TOO_LARGE, C | DK__U8_SURROGATE | DK__U8_TOO_LARGE,
      C | DK__U8_SURROGATE | DK__U8_TOO_LARGE, DK__U8_TOO_SHORT, DK__U8_TOO_SHORT, DK__U8_TOO_SHORT,
      DK__U8_TOO_SHORT);
  __m128i prev1 = _mm_alignr_epi8(in, prev, 15);
  __m128i sc = _mm_and_si128(
      _mm_and_si128(_mm_shuffle_epi8(t1, _mm_and_si128(_mm_srli_epi16(prev1, 4), nib)),
                    _mm_shuffle_epi8(t2, _mm_and_si128(prev1, nib))),
      _mm_shuffle_epi8(t3, _mm_and_si128(_mm_srli_epi16(in, 4), nib)));
  __m128i third = _mm_subs_epu8(_mm_alignr_epi8(in, prev, 14), _mm_set1_epi8((char)(0xE0 - 0x80)));
  __m128i fourth = _mm_subs_epu8(_mm_alignr_epi8(in, prev, 13), _mm_set1_epi8((char)(0xF0 - 0x80)));
  __m128i must23 = _mm_and_si128(_mm_or_si128(third, fourth), _mm_set1_epi8((char)0x80));
  return _mm_xor_si128(must23, sc);
}

/* Nonzero where the block ends inside a sequence: its last byte a lead,
 * the one before a 3- or 4-byte lead, or the third last a 4-byte lead. */
static inline __m128i dk__u8_incomplete(__m128i b) {
  const __m128i max = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)(0xF0 - 1),
                                    (char)(0xE0 - 1), (char)(0xC0 - 1));
  return _mm_subs_epu8(b, max);
}

__attribute__((target("ssse3"))) static bool dk__utf8_ssse3(const unsigned char *u, size_t len) {
  __m128i prev = _mm_setzero_si128(), err = _mm_setzero_si128();
  size_t p = 0;
  for (;; p += 16) {
    __m128i in;
    int last = len - p < 16;
    if (last) { /* the tail, and always a block after the last whole one: zeros, ASCII */
      unsigned char tail[16] = {0};
      memcpy(tail, u + p, len - p);
      in = _mm_loadu_si128((const __m128i *)(const void *)tail);
    } else {
      in = _mm_loadu_si128((const __m128i *)(const void *)(u + p));
    }
    if (_mm_movemask_epi8(in) == 0) err = _mm_or_si128(err, dk__u8_incomplete(prev)); /* ASCII: only what ends before */
    else err = _mm_or_si128(err, dk__u8_block(in, prev));
    prev = in;
    if (last) break;
  }
  return _mm_movemask_epi8(_mm_cmpeq_epi8(err, _mm_setzero_si128())) == 0xFFFF;
}
#endif

static bool dk__jscan_simd = true;

void dk_jscan_use_simd(bool on) { dk__jscan_simd = on; }

/* Whether s[0, len) is well-formed UTF-8. */
static bool dk__utf8_valid(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
#ifdef DK__JSCAN_X86
  static int ssse3 = -1; /* a race here writes the same value */
  if (ssse3 < 0) ssse3 = __builtin_cpu_supports("ssse3") ? 1 : 0;
  if (ssse3 && dk__jscan_simd) return dk__utf8_ssse3(u, len);
#endif
  return dk__utf8_scalar(u, len);
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

/* Past the end of the string at s[p] == '"' of text whose UTF-8 is known
 * good, or 0 when it is not valid. */
static size_t dk__jscan_string(const char *s, size_t len, size_t p) {
  const unsigned char *u = (const unsigned char *)s;
  for (p++;;) {
    p = dk__jscan_special(u, len, p);
    if (p >= len) return 0;
    unsigned char c = u[p];
    if (c == '"') return p + 1;
    size_t n = c == '\\' ? dk__jscan_escape(s, len, p) : 0; /* else a control character */
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

/* Past the end of the one value at s[p] (grammar only: the caller checks
 * UTF-8), or 0. */
static size_t dk__jscan_value_end(const char *s, size_t len, size_t p) {
  char open[DK_JSCAN_MAX_DEPTH]; /* '{' or '[' for each container we are in */
  size_t depth = 0;
  enum { VALUE, KEY, AFTER } want = VALUE;
  for (;;) {
    if (want == KEY) {
      if (p >= len || s[p] != '"' || (p = dk__jscan_string(s, len, p)) == 0) return 0;
      p = dk__jscan_skip_ws(s, len, p);
      if (p >= len || s[p] != ':') return 0;
      p = dk__jscan_skip_ws(s, len, p + 1);
      want = VALUE;
    } else if (want == VALUE) {
      if (p >= len) return 0;
      char c = s[p];
      if (c == '{' || c == '[') {
        if (depth == DK_JSCAN_MAX_DEPTH) return 0;
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
      else return 0;
      if (p == 0) return 0;
      want = AFTER;
    } else {
      if (depth == 0) return p;
      p = dk__jscan_skip_ws(s, len, p);
      if (p >= len) return 0;
      char top = open[depth - 1];
      if (s[p] == ',') {
        p = dk__jscan_skip_ws(s, len, p + 1);
        want = top == '{' ? KEY : VALUE;
      } else if (s[p] == (top == '{' ? '}' : ']')) {
        depth--;
        p++;
      } else return 0;
    }
  }
}

bool dk_jscan_check(const char *s, size_t len) {
  if (!dk__utf8_valid(s, len)) return false;
  size_t e = dk__jscan_value_end(s, len, dk__jscan_skip_ws(s, len, 0));
  return e != 0 && dk__jscan_skip_ws(s, len, e) == len;
}

size_t dk_jscan_value(const char *s, size_t len) {
  size_t e = len ? dk__jscan_value_end(s, len, 0) : 0;
  return e != 0 && dk__utf8_valid(s, e) ? e : 0;
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

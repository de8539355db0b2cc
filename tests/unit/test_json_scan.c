/* json-api's scanner (plugins/json-api/scan.h): what it takes jansson takes
 * (checked on fixed cases and on random mutations), pointers resolved as
 * json-api resolves them, array elements cut at the right bytes, and its
 * speed on a large body (printed, not asserted: sanitizer builds are slow). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>

#include "json-api/scan.h"

/* What jansson says of s: 1 taken, 0 refused, -1 refused for a number it
 * cannot hold (json-api marks those and parses again). */
static int jansson_takes(const char *s, size_t len) {
  json_error_t err;
  json_t *v = json_loadb(s, len, JSON_DECODE_ANY, &err);
  json_decref(v);
  return v ? 1 : json_error_code(&err) == json_error_numeric_overflow ? -1 : 0;
}

static void check_case(const char *s, size_t len, bool want) {
  bool got = dk_jscan_check(s, len);
  if (got != want) fail_msg("dk_jscan_check(%.*s) = %d", (int)len, s, got);
  if (got && jansson_takes(s, len) == 0) fail_msg("taken, but jansson refuses %.*s", (int)len, s);
}

static void test_check(void **st) {
  (void)st;
  static const char *const good[] = {
    "[]", " [ ] ", "{}", "{ }", "0", "-0", "1.5e-3", "1E+2", "-12.25E2", "true", "false", "null", "\"\"",
    "\"a\\\"]}\"", "\"\\\\\"", "\"\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\u8054\"", "\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"",
    "\"联合 é \xF0\x9F\x98\x80\"", "[1,[2,[3,{}]],{\"a\":{\"b\":[]}}]", "{\"a\":1,\"b\":[true,false,null]}",
    "\t\r\n{\"k\" : \"v\" }\n", "123456789012345678901234567890", "1e999999", "\"01234567890123456789\"",
  };
  static const char *const bad[] = {
    "", " ", "[", "]", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{1:2}", "[1 2]", "01", "1.", ".5",
    "-", "+1", "1e", "1e+", "tru", "nul", "True", "[true false]", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u00g0\"",
    "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"a\x01\"", "\"\xFF\"",
    "\"\xE8\xAF\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"", "[1] [2]", "[1]]", "{\"a\":1}}",
    "[\"a\"\"b\"]", "NaN", "Infinity", "'a'", "[1,\xEF\xBB\xBF 2]",
  };
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) check_case(good[i], strlen(good[i]), true);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) check_case(bad[i], strlen(bad[i]), false);
  check_case("[\"a\0\"]", 6, false);
  check_case("[1,\0 2]", 7, false);
  /* a length shorter than the text: only what it covers counts */
  check_case("[1]x", 3, true);
  check_case("\"abc\"", 4, false);

  /* nesting up to the limit, not past it */
  char deep[2 * DK_JSCAN_MAX_DEPTH + 4];
  for (size_t d = DK_JSCAN_MAX_DEPTH; d <= DK_JSCAN_MAX_DEPTH + 1; d++) {
    memset(deep, '[', d);
    memset(deep + d, ']', d);
    check_case(deep, 2 * d, d <= DK_JSCAN_MAX_DEPTH);
  }
}

/* One string holding bytes seq[0, n) after `pad` plain letters, checked
 * with the vector and the byte-at-a-time UTF-8 check, against jansson. */
static void utf8_case(const unsigned char *seq, size_t n, size_t pad) {
  char buf[128];
  size_t len = 0;
  buf[len++] = '[';
  buf[len++] = '"';
  for (size_t i = 0; i < pad; i++) buf[len++] = 'a';
  memcpy(buf + len, seq, n);
  len += n;
  buf[len++] = '"';
  buf[len++] = ']';
  int want = jansson_takes(buf, len) != 0;
  for (int simd = 1; simd >= 0; simd--) {
    dk_jscan_use_simd(simd);
    bool got = dk_jscan_check(buf, len);
    if (got != want)
      fail_msg("%s check: %d, jansson %d, for %zu bytes %02x %02x %02x %02x at %zu", simd ? "vector" : "byte", got,
               want, n, seq[0], n > 1 ? seq[1] : 0, n > 2 ? seq[2] : 0, n > 3 ? seq[3] : 0, pad);
  }
  dk_jscan_use_simd(true);
}

/* Every byte and pair of bytes, the 3- and 4-byte sequences of every lead
 * with the bytes that mark the edges of the ranges (overlong, surrogate,
 * past U+10FFFF, cut short) — a 3-byte lead with every second byte — at
 * every place in a 16-byte block (singles and pairs) and where a sequence
 * ends a block or crosses into the next (3 and 4 bytes): the vector check
 * says what jansson says, and so does the byte check. */
static void test_utf8(void **st) {
  (void)st;
  static const unsigned char edge[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xF4, 0xFF};
  size_t checked = 0;
  unsigned char s[8];
  for (size_t pad = 0; pad < 34; pad++) {
    size_t at = (2 + pad) % 16; /* where the sequence starts in its block: after `["` and the letters */
    int cross3 = at == 0 || at >= 14, cross4 = at == 0 || at >= 13;
    for (unsigned a = 0x20; a < 0x100; a++) {
      s[0] = (unsigned char)a;
      utf8_case(s, 1, pad), checked++;
      for (unsigned b = 0; b < 0x100 && (pad % 11 == 0 || a >= 0xC0); b++) {
        s[1] = (unsigned char)b;
        utf8_case(s, 2, pad), checked++;
        if (a < 0xE0 || !cross3) continue;
        for (size_t c = 0; c < sizeof edge; c++) {
          s[2] = edge[c];
          utf8_case(s, 3, pad), checked++;
        }
      }
      if (a < 0xF0 || !cross4) continue;
      for (size_t b = 0; b < sizeof edge; b++)
        for (size_t c = 0; c < sizeof edge; c++)
          for (size_t d = 0; d < sizeof edge; d++) {
            s[1] = edge[b], s[2] = edge[c], s[3] = edge[d];
            utf8_case(s, 4, pad), checked++;
          }
    }
    /* well-formed text in runs that cross the blocks: 联 (3 bytes), 😀 (4), é (2) */
    static const unsigned char mix[] = "\xE8\x81\x94\xF0\x9F\x98\x80\xC3\xA9x\xE8\x81\x94\xE8\x81\x94";
    for (size_t n = 1; n <= sizeof mix - 1; n++) utf8_case(mix, n, pad), checked++;
  }
  print_message("%zu byte sequences checked\n", checked);
}

/* Random mutations of valid texts: whatever the scanner takes, jansson
 * takes; and what jansson takes the scanner takes too, but for \u0000. */
static void test_check_against_jansson(void **st) {
  (void)st;
  static const char *const seeds[] = {
    "{\"records\": [{\"kind\": \"task\", \"id\": \"a/12\", \"n\": -1.5e3, \"t\": \"x\\\"]}\\\\\"}, [1, 2], null]}",
    "[\"\\u00e9\\ud83d\\ude00\", \"联合\", true, false, {\"a\": {\"b\": [0, 10, 2.5E-2]}}]",
    "{\"data\": {\"items\": [{\"code\": \"jnly\", \"no\": 12}]}, \"links\": {\"next\": \"/p?page=2\"}}",
  };
  static const char alphabet[] = "{}[]\",:\\u0 1-e.E+tnf\t\n\xFF\xC3\xA9\xE8\xAF\x80\xED\xA0";
  srand(20261201);
  size_t taken = 0;
  for (int round = 0; round < 60000; round++) {
    char buf[256];
    const char *seed = seeds[round % (sizeof seeds / sizeof *seeds)];
    size_t len = strlen(seed);
    memcpy(buf, seed, len);
    for (int m = 1 + rand() % 3; m > 0; m--) {
      size_t at = (size_t)rand() % (len + 1);
      char c = alphabet[rand() % (int)(sizeof alphabet - 1)];
      int op = rand() % 3;
      if (op == 0 && at < len) buf[at] = c; /* replace */
      else if (op == 1 && len < sizeof buf - 1) { /* insert */
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = c;
        len++;
      } else if (at < len) { /* delete */
        memmove(buf + at, buf + at + 1, len - at - 1);
        len--;
      }
    }
    bool scan = dk_jscan_check(buf, len);
    int jansson = jansson_takes(buf, len);
    if (scan && jansson == 0) fail_msg("taken, but jansson refuses %.*s", (int)len, buf);
    if (!scan && jansson != 0 && memmem(buf, len, "\\u0000", 6) == NULL)
      fail_msg("refused, but jansson takes %.*s", (int)len, buf);
    taken += scan;
  }
  print_message("%zu of 60000 mutations are JSON\n", taken);
  assert_true(taken > 1000); /* the mutations are not all noise */
}

/* The text of a span, for comparing. */
static void expect_span(const char *s, struct dk_jscan_span sp, const char *want) {
  if (sp.len != strlen(want) || memcmp(s + sp.off, want, sp.len) != 0)
    fail_msg("got %.*s, want %s", (int)sp.len, s + sp.off, want);
}

static void test_pointer(void **st) {
  (void)st;
  static const char doc[] =
      " {\"data\": {\"items\": [1, {\"x\": \"a\\\"]}\"}, [2]], \"n\": null}, \"a/b\": {\"m~n\": [10, 11, 12]},"
      " \"\": {\"\": 5}, \"e\": {\"esc\\u0061ped\": 1}, \"dup\": {\"k\": 1, \"k\": 2}, \"s\": \"x\"} ";
  static const struct {
    const char *ptr;
    enum dk_jscan_found found;
    const char *want;
  } cases[] = {
    {"/data/items", DK_JSCAN_FOUND, "[1, {\"x\": \"a\\\"]}\"}, [2]]"},
    {"/data/items/1/x", DK_JSCAN_FOUND, "\"a\\\"]}\""},
    {"/data/items/2/0", DK_JSCAN_FOUND, "2"},
    {"/data/n", DK_JSCAN_FOUND, "null"},
    {"/a~1b/m~0n/2", DK_JSCAN_FOUND, "12"},
    {"//", DK_JSCAN_FOUND, "5"},
    {"/s", DK_JSCAN_FOUND, "\"x\""},
    {"/dup/x", DK_JSCAN_ABSENT, NULL}, /* "k" twice does not matter on the way to "x" */
    {"/data/items/3", DK_JSCAN_ABSENT, NULL},
    {"/data/items/01", DK_JSCAN_ABSENT, NULL},
    {"/data/items/-1", DK_JSCAN_ABSENT, NULL},
    {"/data/items/", DK_JSCAN_ABSENT, NULL},
    {"/data/items/99999999999999999999999", DK_JSCAN_ABSENT, NULL},
    {"/data/nope", DK_JSCAN_ABSENT, NULL},
    {"/s/0", DK_JSCAN_ABSENT, NULL},
    {"/a~2b", DK_JSCAN_ABSENT, NULL},
    {"/a~", DK_JSCAN_ABSENT, NULL},
    {"data", DK_JSCAN_ABSENT, NULL},
    {"/e/escaped", DK_JSCAN_UNSURE, NULL}, /* a key with an escape on the way */
    {"/e/other", DK_JSCAN_UNSURE, NULL},
    {"/dup/k", DK_JSCAN_UNSURE, NULL},
  };
  size_t len = sizeof doc - 1;
  assert_true(dk_jscan_check(doc, len));
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct dk_jscan_span sp;
    enum dk_jscan_found f = dk_jscan_pointer(doc, len, cases[i].ptr, &sp);
    if (f != cases[i].found) fail_msg("%s: %d, want %d", cases[i].ptr, f, cases[i].found);
    if (cases[i].want) expect_span(doc, sp, cases[i].want);
  }
  struct dk_jscan_span sp;
  assert_int_equal(dk_jscan_pointer(doc, len, "", &sp), DK_JSCAN_FOUND);
  assert_int_equal(sp.off, 1);
  assert_int_equal(sp.len, len - 2);
  assert_int_equal(dk_jscan_pointer(doc, len, NULL, &sp), DK_JSCAN_FOUND);
  assert_int_equal(sp.len, len - 2);
}

static void test_elements(void **st) {
  (void)st;
  static const char doc[] = "[ \"a\\\"]}\" , {\"k\": \"\\\\\", \"l\": [\"]\"]},[1,[2]] ,3,-0.5e1,true\n,\"\\\\\\\"\" ]";
  static const char *const want[] = {"\"a\\\"]}\"", "{\"k\": \"\\\\\", \"l\": [\"]\"]}", "[1,[2]]", "3", "-0.5e1",
                                     "true", "\"\\\\\\\"\""};
  assert_true(dk_jscan_check(doc, sizeof doc - 1));
  struct dk_jscan_span arr, e;
  assert_int_equal(dk_jscan_pointer(doc, sizeof doc - 1, "", &arr), DK_JSCAN_FOUND);
  struct dk_jscan_iter it;
  dk_jscan_array(&it, doc, arr);
  size_t n = 0;
  while (dk_jscan_next(&it, &e)) {
    assert_true(n < sizeof want / sizeof *want);
    expect_span(doc, e, want[n++]);
  }
  assert_int_equal(n, sizeof want / sizeof *want);
  dk_jscan_array(&it, "[ ]", (struct dk_jscan_span){0, 3});
  assert_false(dk_jscan_next(&it, &e));
}

/* 20,000 records, then about 64 MB: every element found, and how fast. */
static void test_large(void **st) {
  (void)st;
  static const char rec[] =
      "{\"kind\": \"task\", \"id\": \"jnly-2024/%d\", \"plan\": \"jnly-2024\", \"number\": %d,"
      " \"title\": \"联合做强两市优势产业 \\\"%d\\\" ]}\", \"extra\": {\"n\": [1, 2.5, -3e2], \"s\": \"\\u00e9\"}}";
  for (size_t n = 20000; n <= 320000; n *= 16) {
    size_t cap = n * (sizeof rec + 32) + 16, len = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    body[len++] = '[';
    for (size_t i = 0; i < n; i++) {
      if (i) body[len++] = ',';
      len += (size_t)snprintf(body + len, cap - len, rec, (int)i, (int)i, (int)i);
    }
    body[len++] = ']';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(dk_jscan_check(body, len));
    struct dk_jscan_span arr, e;
    assert_int_equal(dk_jscan_pointer(body, len, NULL, &arr), DK_JSCAN_FOUND);
    struct dk_jscan_iter it;
    dk_jscan_array(&it, body, arr);
    size_t count = 0;
    while (dk_jscan_next(&it, &e)) {
      if (body[e.off] != '{' || body[e.off + e.len - 1] != '}') fail_msg("element %zu cut wrong", count);
      count++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(count, n);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("%zu records, %.1f MB: checked and cut in %.3f s (%.0f MB/s)\n", n, (double)len / 1e6, s,
                  (double)len / 1e6 / (s > 0 ? s : 1e-9));
    free(body);
  }
}

/* One value at the start of a text, checked alone: its length, or 0. */
static void test_value(void **st) {
  (void)st;
  static const struct {
    const char *s;
    size_t want;
  } cases[] = {
    {"{\"a\":1},{\"b\":2}", 7},
    {"{\"a\":[1,2,{\"c\":\"}\"}]} ,", 21},
    {"12,13", 2},
    {"12", 2},
    {"\"x\\\"y\"]", 6},
    {"true ", 4},
    {"[]", 2},
    {"{\"a\":}", 0},
    {"{\"a\":1", 0},
    {"{\"a\" 1}", 0},
    {"{\"a\":\"\xC3\"}", 0},          /* a sequence cut short inside a string */
    {"{\"a\":\"\xE6\xB5\x8E\"}", 11}, /* 济 */
    {"{\"a\":\"\\u0000\"}", 0},
    {",1", 0},
    {"", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t got = dk_jscan_value(cases[i].s, strlen(cases[i].s));
    if (got != cases[i].want) fail_msg("dk_jscan_value(%s) = %zu, want %zu", cases[i].s, got, cases[i].want);
  }
  /* what it takes, jansson takes alone */
  const char *t = "{\"k\":[1,{\"x\":null}]},2";
  size_t n = dk_jscan_value(t, strlen(t));
  json_error_t e;
  json_t *v = json_loadb(t, n, JSON_DECODE_ANY, &e);
  assert_non_null(v);
  json_decref(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_check),
    cmocka_unit_test(test_value),
    cmocka_unit_test(test_check_against_jansson),
    cmocka_unit_test(test_utf8),
    cmocka_unit_test(test_pointer),
    cmocka_unit_test(test_elements),
    cmocka_unit_test(test_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ECMA-262 regexes on PCRE2: syntax ECMA refuses, the places where the two
 * engines differ, property names, limits, and the JSON-Schema-Test-Suite's
 * optional/ecmascript-regex.json (pattern, patternProperties and
 * format: regex cases; anything else is skipped and counted). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>

#include "jsonschema/jsonschema.h"

/* 1 match, 0 no match, negative: an error code; -100: did not compile. */
static int search(const char *pattern, const char *subject) {
  char err[DK_ERRBUF_SIZE];
  struct dk_regex *re = dk_regex_compile(pattern, strlen(pattern), err);
  if (re == NULL) return -100;
  int rc = dk_regex_search(re, subject, strlen(subject));
  dk_regex_free(re);
  return rc;
}

#define MATCHES(p, s) assert_int_equal(search(p, s), 1)
#define NO_MATCH(p, s) assert_int_equal(search(p, s), 0)

static void test_whitespace_set(void **state) {
  static const char *const space[] = {"\t", "\n", "\v", "\f", "\r", " ", "\u00a0", "\u1680",
                                      "\u2000", "\u2005", "\u200a", "\u2028", "\u2029",
                                      "\u202f", "\u205f", "\u3000", "\ufeff"};
  static const char *const other[] = {"a", "\x01", "\xc2\x85", "\u180e", "\u200b", "\u2013", "_"};
  for (size_t i = 0; i < sizeof space / sizeof space[0]; i++) {
    MATCHES("^\\s$", space[i]);
    NO_MATCH("^\\S$", space[i]);
    MATCHES("^[\\s]$", space[i]);
    NO_MATCH("^[^\\s]$", space[i]);
  }
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
    NO_MATCH("^\\s$", other[i]);
    MATCHES("^\\S$", other[i]);
    MATCHES("^[\\S]$", other[i]);
  }
}

static void test_ecma_semantics(void **state) {
  /* $ is the end of input only */
  MATCHES("^abc$", "abc");
  NO_MATCH("^abc$", "abc\n");
  /* \d \w \b are ASCII */
  MATCHES("^\\d$", "7");
  NO_MATCH("^\\d$", "\u0660");
  NO_MATCH("^\\w$", "\u00e9");
  MATCHES("^\\W$", "\u00e9");
  MATCHES("\\bcole", "l'\u00e9cole");
  /* . stops at ECMA's line terminators only */
  NO_MATCH("^.$", "\n");
  NO_MATCH("^.$", "\r");
  NO_MATCH("^.$", "\u2028");
  MATCHES("^.$", "\xc2\x85");
  MATCHES("^.$", "\U0001F600");
  /* [] and [^] */
  NO_MATCH("[]", "a");
  MATCHES("^[^]$", "\n");
  MATCHES("^a[]?b$", "ab");
  /* escapes */
  MATCHES("^\\cJ$", "\n");
  MATCHES("^\\cj$", "\n");
  MATCHES("^[\\cA]$", "\x01");
  MATCHES("^\\x41\\u0042\\u{43}$", "ABC");
  MATCHES("^\\u{1F600}$", "\U0001F600");
  MATCHES("^\\uD83D\\uDE00$", "\U0001F600");
  NO_MATCH("\\uD83D", "\U0001F600");  /* a lone surrogate matches nothing */
  MATCHES("^[\\b]$", "\b");
  MATCHES("^[a\\-z]+$", "-az");
  MATCHES("^\\/\\.\\*$", "/.*");
  {
    char err[DK_ERRBUF_SIZE];
    struct dk_regex *re = dk_regex_compile("^a\\0b$", 6, err);
    assert_non_null(re);
    assert_int_equal(dk_regex_search(re, "a\0b", 3), 1);
    dk_regex_free(re);
  }
  /* groups */
  MATCHES("^(?<year>\\d{4})-\\k<year>$", "2024-2024");
  NO_MATCH("^(?<year>\\d{4})-\\k<year>$", "2024-2025");
  MATCHES("^(?<\\u0061>x)\\k<a>$", "xx");
  MATCHES("^(a)?\\1b$", "b");     /* a backreference to an unset group matches empty */
  MATCHES("^\\2(a)(b)$", "ab");   /* forward reference */
  MATCHES("^(?i:ab)c$", "ABc");
  NO_MATCH("^(?i:ab)c$", "ABC");
  MATCHES("(?m:^b$)", "a\nb\nc");
  NO_MATCH("^b$", "a\nb\nc");
  MATCHES("(?s:a.b)", "a\nb");
  MATCHES("^(?i:a(?-i:b))$", "Ab");
  NO_MATCH("^(?i:a(?-i:b))$", "AB");
  /* lookarounds, including variable-length lookbehind */
  MATCHES("(?<=\\$)\\d+", "$42");
  NO_MATCH("(?<!\\$)\\b\\d+", "$42");
  MATCHES("(?<=a+)b", "xaab");
  NO_MATCH("(?<=a+)b", "xb");
  MATCHES("(?<!a+)b", "xb");
  NO_MATCH("(?<!a+)b", "aab");
  MATCHES("(?<=^a+)b", "aab");
  NO_MATCH("(?<=^a+)b", "caab");
  MATCHES("(?<=(a)+)b(c)\\2", "aabcc");      /* numbering survives the rewrite */
  NO_MATCH("(?<=(a)+)b(c)\\2", "aabcd");
  MATCHES("(?<=a(?<=x\\w*)b+)c", "xabbc");   /* nested */
  NO_MATCH("(?<=a(?<=x\\w*)b+)c", "yabbc");
  MATCHES("(?=a)\\w", "a");
  /* quantifiers */
  MATCHES("^a{2,3}$", "aaa");
  NO_MATCH("^a{2,3}$", "aaaa");
  MATCHES("^a{2,}?$", "aaaa");
  MATCHES("^(?:ab)+$", "abab");
}

static void test_property_names(void **state) {
  MATCHES("^\\p{Letter}$", "\u00e9");
  MATCHES("^\\p{L}$", "\u00e9");
  MATCHES("^\\p{Lu}$", "\u00c9");
  NO_MATCH("^\\p{Lu}$", "\u00e9");
  MATCHES("^\\p{Uppercase_Letter}$", "A");
  MATCHES("^\\p{digit}+$", "\u09ea\u09e8");
  MATCHES("^\\p{Nd}$", "7");
  MATCHES("^\\p{gc=Decimal_Number}$", "7");
  MATCHES("^\\p{General_Category=Lu}$", "Q");
  MATCHES("^\\p{Script=Greek}$", "\u03b1");
  MATCHES("^\\p{sc=Grek}$", "\u03b1");
  NO_MATCH("^\\p{sc=Greek}$", "a");
  MATCHES("^\\p{scx=Hira}$", "\u30fc");       /* KATAKANA-HIRAGANA PROLONGED SOUND MARK */
  NO_MATCH("^\\p{sc=Hira}$", "\u30fc");
  MATCHES("^\\p{Script=Han}+$", "\u6d4e\u5357");
  MATCHES("^\\P{Assigned}$", "\u0378");
  NO_MATCH("^\\p{Assigned}$", "\u0378");
  MATCHES("^\\p{ASCII}+$", "abc");
  MATCHES("^\\p{Any}$", "\U0010FFFD");
  MATCHES("^\\p{White_Space}$", "\u3000");
  MATCHES("^[\\p{L}\\d]+$", "ab12\u00e9");
  MATCHES("^\\P{L}$", "1");
  MATCHES("^[^\\P{L}]$", "x");
  NO_MATCH("^\\p{sc=Hrkt}$", "\u30a2");
  /* names ECMA does not know, or spells differently */
  assert_int_equal(search("\\p{letter}", "a"), -100);
  assert_int_equal(search("\\p{Greek}", "a"), -100);
  assert_int_equal(search("\\p{IsGreek}", "a"), -100);
  assert_int_equal(search("\\p{Script=Nope}", "a"), -100);
  assert_int_equal(search("\\p{gc=Nope}", "a"), -100);
  assert_int_equal(search("\\p{L", "a"), -100);
  assert_int_equal(search("\\pL", "a"), -100);
  assert_int_equal(search("[\\p{L}-z]", "a"), -100);
}

static void test_refused(void **state) {
  static const char *const bad[] = {
      "\\a", "\\Z", "\\z", "\\A", "\\e", "\\h", "\\R", "\\X", "\\K", "\\Q", "\\G", "\\N", "\\y", "\\-",
      "(?i)abc", "(?ims)abc", "(?P<name>x)", "(?P<n>a)(?P=n)", "(?#comment)a", "(?>a)", "(?|a)",
      "(?<n>a)(?<n>b)", "(?<1a>x)", "(?<>x)", "\\k<nope>(?<n>a)", "\\k", "\\1", "(a)\\2",
      "a++", "a*+", "a?+", "a{2}+", "a**", "a{2,1}", "a{", "a{1", "a{1,", "x{,3}", "{", "}", "]",
      "*a", "+a", "?a", "|*", "(*)", "^*", "$+", "\\b*", "(?=a)*", "(?!a)+", "(?<=a)?", "(?<!a){2}",
      "(", ")", "(a", "a)", "[a", "[z-a]", "[\\d-z]", "[a-\\w]", "[\\1]", "[\\B]",
      "\\c", "\\c1", "\\x", "\\x4", "\\xZZ", "\\u12", "\\u{}", "\\u{110000}", "\\u{12", "\\00", "\\01",
      "(?-:a)", "(?i-i:a)", "(?ii:a)", "(?x:a)", "(?i", "a{99999}", "\xff",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[DK_ERRBUF_SIZE] = "";
    struct dk_regex *re = dk_regex_compile(bad[i], strlen(bad[i]), err);
    if (re != NULL) fail_msg("accepted %s", bad[i]);
    assert_non_null(strstr(err, "invalid regular expression"));
  }
  static const char *const good[] = {
      "", "a|", "|", "()", "(?:)", "[]", "[^]", "[-]", "[a-]", "[-a]", "\\cA", "\\0", "\\u{0}",
      "(?<name>x)", "(?<n>a)\\k<n>", "(?<=a+)b", "(?<=a|bc)d", "(?i:a)", "(?-i:a)", "(?m-s:a)",
      "[\\]\\\\]", "\\/", "[\\b\\-]", "a{0}", "a{0,0}", "a{3,}?", "[{}()|]", "\\p{L}",
      "([abc])+\\s+$", "(?<$_\\u200c>x)", "(?<\u00e9t\u00e9>x)",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char err[DK_ERRBUF_SIZE];
    struct dk_regex *re = dk_regex_compile(good[i], strlen(good[i]), err);
    if (re == NULL) fail_msg("refused %s: %s", good[i], err);
    dk_regex_free(re);
  }
  char err[DK_ERRBUF_SIZE];
  assert_null(dk_regex_compile("a(?P<x>b)", 9, err));
  assert_non_null(strstr(err, "offset 1"));
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_catastrophic(void **state) {
  static const char *const patterns[] = {"^(a+)+$", "^(a|a)*$", "^(a|aa)+$", "^(?:a*)*c$",
                                         "(?<=a+)(a+)+$"};
  const char *subject = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
    char err[DK_ERRBUF_SIZE];
    struct dk_regex *re = dk_regex_compile(patterns[i], strlen(patterns[i]), err);
    assert_non_null(re);
    double t0 = now();
    int rc = dk_regex_search(re, subject, strlen(subject));
    double dt = now() - t0;
    if (rc != DK_ETOOBIG && rc != 0) fail_msg("%s: %d", patterns[i], rc);
    if (i < 3) assert_int_equal(rc, DK_ETOOBIG);
    if (dt > 0.5) fail_msg("%s took %.3f s", patterns[i], dt);
    dk_regex_free(re);
  }
  /* deep recursion is bounded too */
  size_t n = 200000;
  char *big = malloc(n + 1);
  memset(big, 'a', n);
  big[n] = 0;
  int rc = search("^(a|b)*$", big);
  assert_true(rc == 1 || rc == DK_ETOOBIG);
  free(big);
  /* invalid UTF-8 in the subject is an error, not a verdict */
  char err[DK_ERRBUF_SIZE];
  struct dk_regex *re = dk_regex_compile("a", 1, err);
  assert_int_equal(dk_regex_search(re, "\xff", 1), DK_EINVAL);
  dk_regex_free(re);
}

struct thread_arg {
  const struct dk_regex *re;
  int bad;
};

static void *thread_main(void *p) {
  struct thread_arg *a = p;
  for (int i = 0; i < 2000; i++) {
    if (dk_regex_search(a->re, "xaab", 4) != 1) a->bad++;
    if (dk_regex_search(a->re, "xb", 2) != 0) a->bad++;
  }
  return NULL;
}

static void test_threads(void **state) {
  char err[DK_ERRBUF_SIZE];
  struct dk_regex *re = dk_regex_compile("(?<=a+)b", 8, err);
  assert_non_null(re);
  pthread_t th[4];
  struct thread_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (struct thread_arg){re, 0};
    assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].bad, 0);
  }
  dk_regex_free(re);
}

/* --- the suite ----------------------------------------------------------- */

struct suite_count {
  int passed, failed, skipped;
};

/* The verdict of the schemas the driver understands: {"pattern"},
 * {"format": "regex"}, {"patternProperties": {..: true}, "additionalProperties":
 * false}, each optionally with "type". -1: not understood. */
static int evaluate(json_t *schema, json_t *data) {
  const char *key;
  json_t *v;
  json_object_foreach(schema, key, v) {
    if (strcmp(key, "$schema") && strcmp(key, "type") && strcmp(key, "pattern") &&
        strcmp(key, "format") && strcmp(key, "patternProperties") && strcmp(key, "additionalProperties"))
      return -1;
  }
  const char *type = json_string_value(json_object_get(schema, "type"));
  if (type && strcmp(type, "string") == 0 && !json_is_string(data)) return 0;
  if (type && strcmp(type, "object") == 0 && !json_is_object(data)) return 0;
  if (type && strcmp(type, "string") && strcmp(type, "object")) return -1;
  char err[DK_ERRBUF_SIZE];
  const char *pattern = json_string_value(json_object_get(schema, "pattern"));
  if (pattern && json_is_string(data)) {
    struct dk_regex *re = dk_regex_compile(pattern, strlen(pattern), err);
    if (re == NULL) return -1;
    int rc = dk_regex_search(re, json_string_value(data), json_string_length(data));
    dk_regex_free(re);
    if (rc != 1) return 0;
  }
  const char *format = json_string_value(json_object_get(schema, "format"));
  if (format && strcmp(format, "regex")) return -1;
  if (format && json_is_string(data) &&
      dk_format_check("regex", json_string_value(data), json_string_length(data)) != 1)
    return 0;
  json_t *pp = json_object_get(schema, "patternProperties");
  json_t *ap = json_object_get(schema, "additionalProperties");
  if (pp || ap) {
    if (!json_is_object(pp) || !json_is_false(ap)) return -1;
    json_object_foreach(pp, key, v) if (!json_is_true(v)) return -1;
    if (!json_is_object(data)) return 1;
    const char *name;
    json_t *val;
    json_object_foreach(data, name, val) {
      int matched = 0;
      json_object_foreach(pp, key, v) {
        struct dk_regex *re = dk_regex_compile(key, strlen(key), err);
        if (re == NULL) return -1;
        matched |= dk_regex_search(re, name, strlen(name)) == 1;
        dk_regex_free(re);
      }
      if (!matched) return 0;
    }
  }
  return 1;
}

static void run_suite_file(const char *path, struct suite_count *n) {
  json_error_t e;
  json_t *cases = json_load_file(path, JSON_ALLOW_NUL, &e);
  if (!json_is_array(cases)) fail_msg("%s: %s", path, e.text);
  size_t i, j;
  json_t *c, *t;
  json_array_foreach(cases, i, c) {
    json_t *schema = json_object_get(c, "schema");
    json_array_foreach(json_object_get(c, "tests"), j, t) {
      int got = evaluate(schema, json_object_get(t, "data"));
      if (got < 0) {
        n->skipped++;
        continue;
      }
      if (got == json_is_true(json_object_get(t, "valid"))) {
        n->passed++;
      } else {
        n->failed++;
        print_message("FAIL %s / %s\n", json_string_value(json_object_get(c, "description")),
                      json_string_value(json_object_get(t, "description")));
      }
    }
  }
  json_decref(cases);
}

static void test_suite_ecmascript_regex(void **state) {
  const char *root = getenv("DK_TEST_DATA");
  if (root == NULL) skip();
  static const char *const files[] = {"optional/ecmascript-regex.json", "optional/format/ecmascript-regex.json",
                                      "optional/format/regex.json"};
  struct suite_count n = {0};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/json-schema-test-suite/tests/draft2020-12/%s", root, files[i]);
    run_suite_file(path, &n);
  }
  print_message("ecmascript-regex: %d passed, %d failed, %d skipped\n", n.passed, n.failed, n.skipped);
  assert_int_equal(n.failed, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whitespace_set),
      cmocka_unit_test(test_ecma_semantics),
      cmocka_unit_test(test_property_names),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_catastrophic),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_suite_ecmascript_regex),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

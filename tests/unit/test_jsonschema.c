/* The JSON Schema validator beyond the official suite: error messages and
 * locations, the basic output, hostile input, metaschema checking and
 * compile errors. */
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

#include "jsonschema/jsonschema.h"

static json_t *parse(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  if (!v)
    fail_msg("bad test JSON: %s: %s", e.text, text);
  return v;
}

/* Compile `text` (must succeed) in a fresh registry kept in *reg. */
static struct dk_schema *compile_opts(struct dk_registry **reg, const char *text, const struct dk_schema_opts *o) {
  char err[DK_ERRBUF_SIZE];
  struct dk_schema *s = NULL;
  json_t *j = parse(text);
  *reg = dk_registry_new();
  int r = dk_schema_compile(*reg, j, NULL, o, &s, err);
  json_decref(j);
  if (r != 0)
    fail_msg("compile failed: %s", err);
  return s;
}

static struct dk_schema *compile(struct dk_registry **reg, const char *text) {
  struct dk_schema_opts o = { .check_metaschema = 1 };
  return compile_opts(reg, text, &o);
}

/* Validate `inst` collecting errors; returns the validate result. */
static int check(const struct dk_schema *s, const char *inst, struct dk_vresult *res) {
  json_t *j = parse(inst);
  int r = dk_schema_validate(s, j, res);
  int fast = dk_schema_validate(s, j, NULL);
  assert_int_equal(fast, r);
  json_decref(j);
  return r;
}

static const struct dk_verror *find_error(const struct dk_vresult *res, const char *keyword_location) {
  for (size_t i = 0; i < res->nerrors; i++)
    if (strcmp(res->errors[i].keyword_location, keyword_location) == 0)
      return &res->errors[i];
  return NULL;
}

static const char task_schema[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"$id\": \"https://duikou.example/task.schema.json\","
    " \"type\": \"object\", \"required\": [\"title\", \"units\"],"
    " \"properties\": {"
    "   \"title\": {\"type\": \"string\", \"pattern\": \"^[a-z]+$\"},"
    "   \"number\": {\"type\": \"integer\", \"maximum\": 10},"
    "   \"units\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/unit_ref\"}}},"
    " \"additionalProperties\": false,"
    " \"$defs\": {\"unit_ref\": {\"type\": \"object\", \"properties\": {"
    "   \"city\": {\"enum\": [\"jinan\", \"linyi\", \"province\", \"central\", \"other\"]}}}}}";

static void test_error_locations_through_ref(void **state) {
  struct dk_registry *reg;
  struct dk_schema *s = compile(&reg, task_schema);
  struct dk_vresult res;
  assert_int_equal(check(s, "{\"units\": [{\"city\": \"jinan\"}, {\"city\": \"jinnan\"}]}", &res), 0);
  assert_int_equal(res.nerrors, 2);
  const struct dk_verror *e = find_error(&res, "/properties/units/items/$ref/properties/city/enum");
  assert_non_null(e);
  assert_string_equal(e->instance_location, "/units/1/city");
  assert_string_equal(e->absolute_keyword_location,
                      "https://duikou.example/task.schema.json#/$defs/unit_ref/properties/city/enum");
  assert_string_equal(e->message, "\"jinnan\" is not one of jinan, linyi, province, central, other");
  e = find_error(&res, "/required");
  assert_non_null(e);
  assert_string_equal(e->instance_location, "");
  assert_string_equal(e->absolute_keyword_location, "https://duikou.example/task.schema.json#/required");
  assert_string_equal(e->message, "missing required property \"title\"");
  dk_vresult_free(&res);
  dk_schema_free(s);
  dk_registry_free(reg);
}

static void test_messages(void **state) {
  struct dk_registry *reg;
  struct dk_schema *s = compile(&reg, task_schema);
  struct dk_vresult res;
  assert_int_equal(check(s, "{\"title\": 5, \"units\": [], \"number\": 12, \"foo\": 1}", &res), 0);
  assert_int_equal(res.nerrors, 3);
  const struct dk_verror *e = find_error(&res, "/properties/title/type");
  assert_non_null(e);
  assert_string_equal(e->instance_location, "/title");
  assert_string_equal(e->message, "expected a string, found an integer");
  e = find_error(&res, "/properties/number/maximum");
  assert_non_null(e);
  assert_string_equal(e->message, "12 is greater than the maximum 10");
  e = find_error(&res, "/additionalProperties");
  assert_non_null(e);
  assert_string_equal(e->instance_location, "/foo");
  assert_string_equal(e->message, "property \"foo\" is not allowed");
  dk_vresult_free(&res);

  assert_int_equal(check(s, "{\"title\": \"Abc\", \"units\": []}", &res), 0);
  assert_int_equal(res.nerrors, 1);
  assert_string_equal(res.errors[0].keyword_location, "/properties/title/pattern");
  assert_string_equal(res.errors[0].message, "does not match pattern ^[a-z]+$");
  dk_vresult_free(&res);

  assert_int_equal(check(s, "{\"title\": \"abc\", \"units\": [{\"city\": \"linyi\"}]}", &res), 1);
  assert_int_equal(res.nerrors, 0);
  dk_vresult_free(&res);
  dk_schema_free(s);
  dk_registry_free(reg);

  s = compile(&reg, "{\"type\": [\"string\", \"null\"], \"minLength\": 3}");
  assert_int_equal(check(s, "1.5", &res), 0);
  assert_string_equal(res.errors[0].message, "expected null or a string, found a number");
  dk_vresult_free(&res);
  assert_int_equal(check(s, "\"\\u6d4e\\u5357\"", &res), 0); /* two code points */
  assert_string_equal(res.errors[0].keyword_location, "/minLength");
  dk_vresult_free(&res);
  assert_int_equal(check(s, "\"\\u6d4e\\u5357\\u5e02\"", NULL), 1);
  dk_schema_free(s);
  dk_registry_free(reg);
}

static void test_format(void **state) {
  struct dk_registry *reg;
  struct dk_schema_opts o = { .assert_formats = 1, .check_metaschema = 1 };
  struct dk_schema *s = compile_opts(&reg, "{\"format\": \"date\"}", &o);
  struct dk_vresult res;
  assert_int_equal(check(s, "\"2024-13-01\"", &res), 0);
  assert_int_equal(res.nerrors, 1);
  assert_string_equal(res.errors[0].keyword_location, "/format");
  assert_string_equal(res.errors[0].message, "\"2024-13-01\" is not a valid date");
  dk_vresult_free(&res);
  assert_int_equal(check(s, "\"2024-12-01\"", NULL), 1);
  assert_int_equal(check(s, "12", NULL), 1); /* formats only constrain strings */
  dk_schema_free(s);
  dk_registry_free(reg);

  s = compile(&reg, "{\"format\": \"date\"}"); /* an annotation by default */
  assert_int_equal(check(s, "\"2024-13-01\"", NULL), 1);
  dk_schema_free(s);
  dk_registry_free(reg);
}

static void test_basic_output(void **state) {
  struct dk_registry *reg;
  struct dk_schema *s = compile(&reg, task_schema);
  struct dk_vresult res;
  assert_int_equal(check(s, "{\"title\": \"abc\", \"units\": {}}", &res), 0);
  json_t *out = dk_vresult_basic(&res);
  assert_true(json_is_false(json_object_get(out, "valid")));
  json_t *errs = json_object_get(out, "errors");
  assert_int_equal(json_array_size(errs), 1);
  json_t *e = json_array_get(errs, 0);
  assert_int_equal(json_object_size(e), 4);
  assert_string_equal(json_string_value(json_object_get(e, "instanceLocation")), "/units");
  assert_string_equal(json_string_value(json_object_get(e, "keywordLocation")), "/properties/units/type");
  assert_string_equal(json_string_value(json_object_get(e, "absoluteKeywordLocation")),
                      "https://duikou.example/task.schema.json#/properties/units/type");
  assert_string_equal(json_string_value(json_object_get(e, "error")), "expected an array, found an object");
  json_decref(out);
  dk_vresult_free(&res);

  assert_int_equal(check(s, "{\"title\": \"abc\", \"units\": []}", &res), 1);
  out = dk_vresult_basic(&res);
  assert_true(json_is_true(json_object_get(out, "valid")));
  assert_null(json_object_get(out, "errors"));
  json_decref(out);
  dk_vresult_free(&res);
  dk_schema_free(s);
  dk_registry_free(reg);
}

static void test_anonymous_and_keyword_escaping(void **state) {
  struct dk_registry *reg;
  struct dk_schema *s = compile(&reg, "{\"properties\": {\"a/b~c\": {\"const\": 1}}}");
  struct dk_vresult res;
  assert_int_equal(check(s, "{\"a/b~c\": 1.0}", NULL), 1); /* 1 == 1.0 */
  assert_int_equal(check(s, "{\"a/b~c\": 2}", &res), 0);
  assert_string_equal(res.errors[0].instance_location, "/a~1b~0c");
  assert_string_equal(res.errors[0].keyword_location, "/properties/a~1b~0c/const");
  assert_string_equal(res.errors[0].absolute_keyword_location, "urn:duikou:anonymous#/properties/a~1b~0c/const");
  assert_string_equal(res.errors[0].message, "2 is not the constant 1");
  dk_vresult_free(&res);
  dk_schema_free(s);
  dk_registry_free(reg);
}

static void test_nul_in_strings(void **state) {
  struct dk_registry *reg;
  struct dk_schema *s = compile(&reg, "{\"enum\": [\"a\\u0000b\"], \"maxLength\": 3}");
  assert_int_equal(check(s, "\"a\\u0000b\"", NULL), 1);
  assert_int_equal(check(s, "\"a\\u0000c\"", NULL), 0);
  assert_int_equal(check(s, "\"a\"", NULL), 0);
  dk_schema_free(s);
  dk_registry_free(reg);
}

static void test_numbers(void **state) {
  struct dk_registry *reg;
  struct dk_schema *s = compile(&reg, "{\"multipleOf\": 0.0001}");
  assert_int_equal(check(s, "0.0075", NULL), 1);
  assert_int_equal(check(s, "0.00751", NULL), 0);
  assert_int_equal(check(s, "1e308", NULL), 1);
  dk_schema_free(s);
  dk_registry_free(reg);
  s = compile(&reg, "{\"multipleOf\": 0.123456789}");
  assert_int_equal(check(s, "1e308", NULL), 0);
  dk_schema_free(s);
  dk_registry_free(reg);
  s = compile(&reg, "{\"multipleOf\": 0.5, \"exclusiveMaximum\": 9007199254740993}");
  assert_int_equal(check(s, "1e308", NULL), 0);
  assert_int_equal(check(s, "9007199254740992", NULL), 1);
  assert_int_equal(check(s, "9007199254740993", NULL), 0);
  dk_schema_free(s);
  dk_registry_free(reg);
}

/* A chain of `depth` nested arrays, built without the parser (which stops
 * at 2048 levels). */
static json_t *deep_array(size_t depth) {
  json_t *v = json_array();
  for (size_t i = 1; i < depth; i++) {
    json_t *outer = json_array();
    json_array_append_new(outer, v);
    v = outer;
  }
  return v;
}

/* jansson frees recursively: unwind the chain from the top instead. */
static void free_deep(json_t *v) {
  while (v) {
    json_t *inner = json_array_size(v) ? json_incref(json_array_get(v, 0)) : NULL;
    json_decref(v);
    v = inner;
  }
}

static void test_deep_instance(void **state) {
  json_t *deep = deep_array(100000), *deep2 = deep_array(100000);
  struct dk_registry *reg;
  struct dk_vresult res;
  struct dk_schema *s = compile(&reg, "{\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}");
  assert_int_equal(dk_schema_validate(s, deep, NULL), DK_ETOOBIG);
  assert_int_equal(dk_schema_validate(s, deep, &res), DK_ETOOBIG);
  assert_true(res.nerrors >= 1);
  assert_non_null(strstr(res.errors[res.nerrors - 1].message, "deeper than the limit"));
  dk_vresult_free(&res);
  dk_schema_free(s);
  dk_registry_free(reg);

  /* nothing to descend into: fine at any depth */
  s = compile(&reg, "{\"type\": \"array\", \"minItems\": 1}");
  assert_int_equal(dk_schema_validate(s, deep, NULL), 1);
  dk_schema_free(s);
  dk_registry_free(reg);

  /* equality and error rendering of deep values stay bounded */
  s = compile(&reg, "{\"uniqueItems\": true, \"not\": {\"const\": [[[]]]}, \"unevaluatedItems\": {\"enum\": [1]}}");
  json_t *pair = json_pack("[OO]", deep, deep2);
  assert_int_equal(dk_schema_validate(s, pair, NULL), DK_ETOOBIG);
  assert_int_equal(dk_schema_validate(s, pair, &res), DK_ETOOBIG);
  dk_vresult_free(&res);
  assert_int_equal(dk_schema_validate(s, deep, &res), 0);
  dk_vresult_free(&res);
  json_array_clear(pair);
  json_decref(pair);
  dk_schema_free(s);
  dk_registry_free(reg);

  struct dk_schema_opts o = { .max_depth = 10 };
  s = compile_opts(&reg, "{\"items\": {\"$ref\": \"#\"}}", &o);
  json_t *nine = deep_array(9), *twelve = deep_array(12);
  assert_int_equal(dk_schema_validate(s, nine, NULL), 1);
  assert_int_equal(dk_schema_validate(s, twelve, NULL), DK_ETOOBIG);
  json_decref(nine);
  json_decref(twelve);
  dk_schema_free(s);
  dk_registry_free(reg);
  free_deep(deep);
  free_deep(deep2);
}

static void test_reference_loops(void **state) {
  static const char *const loops[] = {
    "{\"$ref\": \"#\"}",
    "{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"allOf\": [{\"$ref\": \"#/$defs/a\"}]}}, \"$ref\": \"#/$defs/a\"}",
    "{\"$id\": \"urn:loop\", \"$dynamicAnchor\": \"x\", \"anyOf\": [{\"$dynamicRef\": \"#x\"}]}",
    "{\"unevaluatedProperties\": false, \"$ref\": \"#\"}",
  };
  for (size_t i = 0; i < sizeof loops / sizeof *loops; i++) {
    struct dk_registry *reg;
    struct dk_schema *s = compile(&reg, loops[i]);
    struct dk_vresult res;
    assert_int_equal(check(s, "{\"a\": 1}", &res), DK_ETOOBIG);
    assert_true(res.nerrors >= 1);
    dk_vresult_free(&res);
    dk_schema_free(s);
    dk_registry_free(reg);
  }
}

static void test_catastrophic_pattern(void **state) {
  struct dk_registry *reg;
  struct dk_schema *s = compile(&reg, "{\"pattern\": \"^(a+)+$\"}");
  char text[20000];
  memset(text, 'a', sizeof text - 2);
  text[sizeof text - 2] = 'b';
  text[sizeof text - 1] = 0;
  json_t *inst = json_string(text);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int r = dk_schema_validate(s, inst, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(r == 0 || r == DK_ETOOBIG);
  assert_true((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < 5.0);
  /* inside "not", a match that gave up must not turn into a pass */
  dk_schema_free(s);
  dk_registry_free(reg);
  s = compile(&reg, "{\"not\": {\"pattern\": \"^(a+)+$\"}}");
  r = dk_schema_validate(s, inst, NULL);
  assert_true(r == 1 || r == DK_ETOOBIG);
  json_decref(inst);
  dk_schema_free(s);
  dk_registry_free(reg);
}

static void test_metaschema_check(void **state) {
  struct dk_registry *reg = dk_registry_new();
  char err[DK_ERRBUF_SIZE];
  struct dk_schema *s = NULL;
  struct dk_schema_opts on = { .check_metaschema = 1 }, off = { 0 };
  json_t *bad = parse("{\"type\": 12}");
  assert_int_equal(dk_schema_compile(reg, bad, NULL, &on, &s, err), DK_ESCHEMA);
  assert_null(s);
  assert_non_null(strstr(err, "metaschema"));
  assert_non_null(strstr(err, "/type"));
  /* without the check the keyword's value is still refused */
  assert_int_equal(dk_schema_compile(reg, bad, NULL, &off, &s, err), DK_ESCHEMA);
  assert_non_null(strstr(err, "type"));
  json_decref(bad);

  json_t *unknown = parse("{\"$schema\": \"https://example.com/no-such-metaschema\"}");
  assert_int_equal(dk_schema_compile(reg, unknown, NULL, &on, &s, err), DK_ESCHEMA);
  assert_non_null(strstr(err, "no-such-metaschema"));
  json_decref(unknown);

  json_t *good = parse("{\"type\": \"object\", \"minProperties\": 1}");
  assert_int_equal(dk_schema_compile(reg, good, NULL, &on, &s, err), 0);
  dk_schema_free(s);
  json_decref(good);
  dk_registry_free(reg);
}

static void test_compile_errors(void **state) {
  struct dk_registry *reg = dk_registry_new();
  char err[DK_ERRBUF_SIZE];
  struct dk_schema *s = NULL;
  struct dk_schema_opts o = { .check_metaschema = 1 };
  json_t *j = parse("{\"properties\": {\"a\": {\"$ref\": \"https://example.com/missing.json#/x\"}}}");
  assert_int_equal(dk_schema_compile(reg, j, NULL, &o, &s, err), DK_ESCHEMA);
  assert_null(s);
  assert_non_null(strstr(err, "https://example.com/missing.json#/x"));
  assert_non_null(strstr(err, "#/properties/a/$ref"));
  json_decref(j);

  j = parse("{\"$defs\": {\"a\": {}}, \"$ref\": \"#/$defs/b\"}");
  assert_int_equal(dk_schema_compile(reg, j, NULL, &o, &s, err), DK_ESCHEMA);
  assert_non_null(strstr(err, "#/$defs/b"));
  json_decref(j);

  j = parse("{\"$ref\": \"#nowhere\"}");
  assert_int_equal(dk_schema_compile(reg, j, NULL, &o, &s, err), DK_ESCHEMA);
  json_decref(j);

  j = parse("{\"pattern\": \"(unclosed\"}");
  assert_int_equal(dk_schema_compile(reg, j, NULL, &o, &s, err), DK_ESCHEMA);
  assert_non_null(strstr(err, "pattern"));
  json_decref(j);

  j = parse("{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\", \"$vocabulary\": {}, "
            "\"$id\": \"https://example.com/m\"}");
  assert_int_equal(dk_registry_add(reg, NULL, j, err), 0);
  json_decref(j);
  j = parse("{\"$id\": \"https://example.com/needs\", \"$vocabulary\": {\"https://example.com/v\": true}}");
  assert_int_equal(dk_registry_add(reg, NULL, j, err), 0);
  json_decref(j);
  j = parse("{\"$schema\": \"https://example.com/needs\"}");
  assert_int_equal(dk_schema_compile(reg, j, NULL, NULL, &s, err), DK_ESCHEMA);
  assert_non_null(strstr(err, "https://example.com/v"));
  json_decref(j);
  dk_registry_free(reg);
}

static void test_registry(void **state) {
  struct dk_registry *reg = dk_registry_new();
  char err[DK_ERRBUF_SIZE];
  json_t *a = parse("{\"$id\": \"https://example.com/a.json\", \"$defs\": {\"n\": {\"$anchor\": \"num\", \"type\": \"number\"},"
                    " \"s\": {\"$id\": \"s.json\", \"type\": \"string\"}}}");
  json_t *a2 = parse("{\"$id\": \"https://example.com/a.json\", \"type\": \"null\"}");
  json_t *rel = parse("{\"$id\": \"relative.json\"}");
  assert_int_equal(dk_registry_add(reg, NULL, a, err), 0);
  assert_int_equal(dk_registry_add(reg, NULL, a, err), 0); /* the same document again */
  assert_int_equal(dk_registry_add(reg, NULL, a2, err), DK_EEXIST);
  assert_int_equal(dk_registry_add(reg, NULL, rel, err), DK_ESCHEMA);
  assert_int_equal(dk_registry_add(reg, "https://example.com/other.json", a2, err), DK_EEXIST);

  struct dk_schema *s = NULL;
  json_t *j = parse("{\"properties\": {\"n\": {\"$ref\": \"https://example.com/a.json#num\"},"
                    " \"s\": {\"$ref\": \"https://example.com/s.json\"},"
                    " \"p\": {\"$ref\": \"https://example.com/a.json#/$defs/s\"}}}");
  assert_int_equal(dk_schema_compile(reg, j, "https://example.com/main.json", NULL, &s, err), 0);
  struct dk_vresult res;
  assert_int_equal(check(s, "{\"n\": 1, \"s\": \"x\", \"p\": \"y\"}", NULL), 1);
  assert_int_equal(check(s, "{\"n\": \"1\", \"s\": 2, \"p\": 3}", &res), 0);
  assert_int_equal(res.nerrors, 3);
  const struct dk_verror *e = find_error(&res, "/properties/n/$ref/type");
  assert_non_null(e);
  assert_string_equal(e->absolute_keyword_location, "https://example.com/a.json#/$defs/n/type");
  e = find_error(&res, "/properties/p/$ref/type");
  assert_non_null(e);
  assert_string_equal(e->absolute_keyword_location, "https://example.com/s.json#/type");
  dk_vresult_free(&res);
  dk_schema_free(s);
  json_decref(j);
  json_decref(a);
  json_decref(a2);
  json_decref(rel);

  const char *data = getenv("DK_TEST_DATA");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/json-schema-test-suite/remotes", data ? data : "tests/data");
  assert_int_equal(dk_registry_add_dir(reg, dir, "http://localhost:1234/", err), 0);
  j = parse("{\"$ref\": \"http://localhost:1234/draft2020-12/subSchemas.json#/$defs/refToInteger\"}");
  assert_int_equal(dk_schema_compile(reg, j, NULL, NULL, &s, err), 0);
  assert_int_equal(check(s, "1", NULL), 1);
  assert_int_equal(check(s, "\"a\"", NULL), 0);
  dk_schema_free(s);
  json_decref(j);
  assert_int_equal(dk_registry_add_dir(reg, "/nonexistent-folder", "x:", err), DK_EIO);
  dk_registry_free(reg);
}

struct thread_arg {
  const struct dk_schema *s;
  json_t *good, *bad;
  int failures;
};

static void *validate_many(void *p) {
  struct thread_arg *a = p;
  for (int i = 0; i < 2000; i++) {
    struct dk_vresult res;
    if (dk_schema_validate(a->s, a->good, NULL) != 1 || dk_schema_validate(a->s, a->bad, &res) != 0)
      a->failures++;
    if (i % 2 == 0)
      dk_vresult_free(&res);
    else if (res.nerrors != 2)
      a->failures++, dk_vresult_free(&res);
    else
      dk_vresult_free(&res);
  }
  return NULL;
}

static void test_threads(void **state) {
  struct dk_registry *reg;
  struct dk_schema *s = compile(&reg,
      "{\"$id\": \"urn:t\", \"$dynamicAnchor\": \"n\", \"type\": \"object\", \"unevaluatedProperties\": false,"
      " \"properties\": {\"kids\": {\"type\": \"array\", \"items\": {\"$dynamicRef\": \"#n\"}}, \"v\": {\"type\": \"integer\"}}}");
  struct thread_arg a = { s, parse("{\"v\": 1, \"kids\": [{\"v\": 2, \"kids\": []}]}"),
                          parse("{\"v\": 1, \"kids\": [{\"v\": \"x\", \"w\": 1}]}"), 0 };
  pthread_t t[4];
  struct thread_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = a;
    pthread_create(&t[i], NULL, validate_many, &args[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(args[i].failures, 0);
  }
  json_decref(a.good);
  json_decref(a.bad);
  dk_schema_free(s);
  dk_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_error_locations_through_ref),
    cmocka_unit_test(test_messages),
    cmocka_unit_test(test_format),
    cmocka_unit_test(test_basic_output),
    cmocka_unit_test(test_anonymous_and_keyword_escaping),
    cmocka_unit_test(test_nul_in_strings),
    cmocka_unit_test(test_numbers),
    cmocka_unit_test(test_deep_instance),
    cmocka_unit_test(test_reference_loops),
    cmocka_unit_test(test_catastrophic_pattern),
    cmocka_unit_test(test_metaschema_check),
    cmocka_unit_test(test_compile_errors),
    cmocka_unit_test(test_registry),
    cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The official JSON-Schema-Test-Suite for draft 2020-12 against duikou's
 * validator. Every required test must pass; optional ones (optional/, and
 * optional/format/ with format assertion on) are counted and listed. Each
 * test is validated twice, without and with error collection, and both
 * modes must agree. Data: $DK_TEST_DATA/json-schema-test-suite. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/jsonschema.h"

struct tally {
  int passed, failed;
};

static int has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && strcmp(s + n - m, suf) == 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json names in dir, sorted; NULL-terminated. */
static char **list_json(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "cannot open %s\n", dir);
    exit(2);
  }
  size_t n = 0;
  char **names = calloc(1, sizeof *names);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!has_suffix(e->d_name, ".json"))
      continue;
    names = realloc(names, (n + 2) * sizeof *names);
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  names[n] = NULL;
  qsort(names, n, sizeof *names, cmp_names);
  return names;
}

static void run_file(struct dk_registry *reg, const char *dir, const char *name, const char *label,
                     int assert_formats, struct tally *t, FILE *failures) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  json_error_t jerr;
  json_t *cases = json_load_file(path, JSON_ALLOW_NUL, &jerr);
  if (!cases) /* bignum.json: integers beyond 64 bits */
    cases = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
  if (!cases) {
    fprintf(failures, "FAIL %s%s: cannot parse: %s\n", label, name, jerr.text);
    t->failed++;
    return;
  }
  size_t i;
  json_t *tc;
  json_array_foreach(cases, i, tc) {
    const char *cdesc = json_string_value(json_object_get(tc, "description"));
    struct dk_schema_opts opts = { .assert_formats = assert_formats, .check_metaschema = 1 };
    struct dk_schema *s = NULL;
    char err[DK_ERRBUF_SIZE];
    int rc = dk_schema_compile(reg, json_object_get(tc, "schema"), NULL, &opts, &s, err);
    size_t j;
    json_t *test;
    json_array_foreach(json_object_get(tc, "tests"), j, test) {
      const char *tdesc = json_string_value(json_object_get(test, "description"));
      int want = json_is_true(json_object_get(test, "valid"));
      if (rc != 0) {
        fprintf(failures, "FAIL %s%s: %s / %s: compile: %s\n", label, name, cdesc, tdesc, err);
        t->failed++;
        continue;
      }
      json_t *data = json_object_get(test, "data");
      int fast = dk_schema_validate(s, data, NULL);
      struct dk_vresult res;
      int full = dk_schema_validate(s, data, &res);
      if (fast == want && full == want && (res.nerrors == 0) == want) {
        t->passed++;
      } else {
        t->failed++;
        fprintf(failures, "FAIL %s%s: %s / %s: expected %s, got %d (with errors: %d, %zu errors%s%s)\n",
                label, name, cdesc, tdesc, want ? "valid" : "invalid", fast, full, res.nerrors,
                res.nerrors ? ": " : "", res.nerrors ? res.errors[0].message : "");
      }
      dk_vresult_free(&res);
    }
    dk_schema_free(s);
  }
  json_decref(cases);
}

static void run_dir(struct dk_registry *reg, const char *dir, const char *label, int assert_formats,
                    struct tally *t, FILE *failures) {
  char **names = list_json(dir);
  for (char **n = names; *n; n++) {
    run_file(reg, dir, *n, label, assert_formats, t, failures);
    free(*n);
  }
  free(names);
}

int main(void) {
  const char *data = getenv("DK_TEST_DATA");
  if (!data)
    data = "tests/data";
  char suite[4096], dir[4200];
  snprintf(suite, sizeof suite, "%s/json-schema-test-suite", data);

  struct dk_registry *reg = dk_registry_new();
  char err[DK_ERRBUF_SIZE];
  snprintf(dir, sizeof dir, "%s/remotes", suite);
  if (dk_registry_add_dir(reg, dir, "http://localhost:1234/", err) != 0) {
    fprintf(stderr, "cannot register the remotes: %s\n", err);
    return 1;
  }

  struct tally req = { 0, 0 }, opt = { 0, 0 };
  snprintf(dir, sizeof dir, "%s/tests/draft2020-12", suite);
  run_dir(reg, dir, "", 0, &req, stdout);

  char *optlog = NULL;
  size_t optlen = 0;
  FILE *of = open_memstream(&optlog, &optlen);
  snprintf(dir, sizeof dir, "%s/tests/draft2020-12/optional", suite);
  run_dir(reg, dir, "optional/", 0, &opt, of);
  snprintf(dir, sizeof dir, "%s/tests/draft2020-12/optional/format", suite);
  run_dir(reg, dir, "optional/format/", 1, &opt, of);
  fclose(of);
  if (optlen)
    printf("optional failures (not counted as failures of the run):\n%s", optlog);
  free(optlog);
  dk_registry_free(reg);

  printf("optional: %d passed, %d failed\n", opt.passed, opt.failed);
  printf("%d passed, %d failed\n", req.passed, req.failed);
  return req.failed ? 1 : 0;
}

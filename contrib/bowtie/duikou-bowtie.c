/* A Bowtie test harness (protocol version 1) for duikou's JSON Schema
 * validator: JSON lines on stdin, one JSON answer line per command on
 * stdout. Commands: start, dialect, run (with an optional registry), stop.
 * Every case runs in a fresh registry, so one case's schemas never leak into
 * the next. Formats are annotations, as the specification's default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/jsonschema.h"

#define DIALECT_2020_12 "https://json-schema.org/draft/2020-12/schema"

#ifndef DK_VERSION
#define DK_VERSION "0"
#endif

static void reply(json_t *v) {
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  fputs(s, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  free(s);
  json_decref(v);
}

static json_t *errored(json_t *seq, const char *msg) {
  return json_pack("{s:O, s:b, s:{s:s}}", "seq", seq, "errored", 1, "context", "message", msg);
}

/* One "run": compile the case's schema against its registry, validate each
 * instance. */
static json_t *run_case(json_t *req) {
  json_t *seq = json_object_get(req, "seq");
  json_t *tcase = json_object_get(req, "case");
  json_t *schema = json_object_get(tcase, "schema");
  json_t *tests = json_object_get(tcase, "tests");
  if (seq == NULL || schema == NULL || !json_is_array(tests)) return errored(seq ? seq : json_null(), "malformed run command");
  struct dk_registry *reg = dk_registry_new();
  char err[DK_ERRBUF_SIZE];
  const char *uri;
  json_t *doc;
  json_object_foreach(json_object_get(tcase, "registry"), uri, doc) {
    if (dk_registry_add(reg, uri, doc, err) != 0) {
      dk_registry_free(reg);
      return errored(seq, err);
    }
  }
  struct dk_schema_opts opts = {.assert_formats = 0, .check_metaschema = 0};
  struct dk_schema *compiled = NULL;
  if (dk_schema_compile(reg, schema, NULL, &opts, &compiled, err) != 0) {
    dk_registry_free(reg);
    return errored(seq, err);
  }
  json_t *results = json_array();
  size_t i;
  json_t *t;
  json_array_foreach(tests, i, t) {
    int rc = dk_schema_validate(compiled, json_object_get(t, "instance"), NULL);
    if (rc < 0)
      json_array_append_new(results, json_pack("{s:b, s:{s:s}}", "errored", 1, "context", "message", dk_strerror(rc)));
    else
      json_array_append_new(results, json_pack("{s:b}", "valid", rc == 1));
  }
  dk_schema_free(compiled);
  dk_registry_free(reg);
  return json_pack("{s:O, s:o}", "seq", seq, "results", results);
}

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int started = 0;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    json_error_t jerr;
    /* NUL inside strings is valid JSON; integers too big for 64 bits are
     * read as reals rather than refused. */
    json_t *req = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &jerr);
    if (req == NULL) req = json_loadb(line, (size_t)n, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    if (req == NULL || cmd == NULL) {
      fprintf(stderr, "duikou-bowtie: not a command: %s\n", req ? "no cmd" : jerr.text);
      json_decref(req);
      free(line);
      return 1;
    }
    if (strcmp(cmd, "start") == 0) {
      if (json_integer_value(json_object_get(req, "version")) != 1) {
        fprintf(stderr, "duikou-bowtie: only protocol version 1 is spoken\n");
        json_decref(req);
        free(line);
        return 1;
      }
      started = 1;
      reply(json_pack("{s:b, s:i, s:{s:s, s:s, s:s, s:s, s:[s], s:s, s:s}}", "ready", 1, "version", 1,
                      "implementation", "language", "c", "name", "duikou", "version", DK_VERSION,
                      "homepage", "https://duikou.invalid/", "dialects", DIALECT_2020_12,
                      "issues", "https://duikou.invalid/issues", "source", "https://duikou.invalid/source"));
    } else if (!started) {
      fprintf(stderr, "duikou-bowtie: \"%s\" before \"start\"\n", cmd);
      json_decref(req);
      free(line);
      return 1;
    } else if (strcmp(cmd, "dialect") == 0) {
      const char *d = json_string_value(json_object_get(req, "dialect"));
      reply(json_pack("{s:b}", "ok", d != NULL && strcmp(d, DIALECT_2020_12) == 0));
    } else if (strcmp(cmd, "run") == 0) {
      reply(run_case(req));
    } else if (strcmp(cmd, "stop") == 0) {
      json_decref(req);
      break;
    } else {
      fprintf(stderr, "duikou-bowtie: unknown command \"%s\"\n", cmd);
      json_decref(req);
      free(line);
      return 1;
    }
    json_decref(req);
  }
  free(line);
  return 0;
}

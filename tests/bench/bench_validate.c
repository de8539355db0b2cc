/* Validation throughput of duikou's validator on realistic records, in the
 * same shape as the ajv and Python peers (tests/bench/run.sh runs all three
 * on the same file and prints the ratios).
 *
 *   bench_validate RECORDS.jsonl
 *
 * Prints two lines: "validate N rps" (records already parsed) and
 * "parse+validate N rps" (each line parsed, then validated). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "schemas.h"
#include "util.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: bench_validate RECORDS.jsonl\n");
    return 2;
  }
  char err[DK_ERRBUF_SIZE], *data = NULL;
  size_t len;
  if (dk_read_file(argv[1], &data, &len, err) != 0 || dk_schemas_init(err) != 0) {
    fprintf(stderr, "bench_validate: %s\n", err);
    return 1;
  }
  size_t n = 0, cap = 0;
  char **lines = NULL;
  size_t *lens = NULL;
  for (char *p = data; *p;) {
    char *e = strchr(p, '\n');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      lines = dk_realloc(lines, cap * sizeof *lines);
      lens = dk_realloc(lens, cap * sizeof *lens);
    }
    lines[n] = p;
    lens[n++] = l;
    p += l + (e != NULL);
  }
  json_t **recs = dk_malloc(n * sizeof *recs);
  const struct dk_schema **schema = dk_malloc(n * sizeof *schema);
  for (size_t i = 0; i < n; i++) {
    recs[i] = json_loadb(lines[i], lens[i], 0, NULL);
    schema[i] = dk_schemas_kind(dk_kind_from_name(json_string_value(json_object_get(recs[i], "kind"))), err);
  }
  size_t valid = 0;
  double best = 1e9;
  for (int round = 0; round < 5; round++) {
    double t0 = now();
    valid = 0;
    for (size_t i = 0; i < n; i++) valid += dk_schema_validate(schema[i], recs[i], NULL) == 1;
    double dt = now() - t0;
    if (dt < best) best = dt;
  }
  printf("validate %.0f rps (%zu records, %zu valid)\n", (double)n / best, n, valid);
  double best2 = 1e9;
  for (int round = 0; round < 3; round++) {
    double t0 = now();
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
      json_t *r = json_loadb(lines[i], lens[i], 0, NULL);
      v += dk_schemas_validate_record(r, NULL, err) == 1;
      json_decref(r);
    }
    double dt = now() - t0;
    if (dt < best2) best2 = dt;
    if (v != valid) fprintf(stderr, "bench_validate: %zu valid after parsing, %zu before\n", v, valid);
  }
  printf("parse+validate %.0f rps\n", (double)n / best2);
  for (size_t i = 0; i < n; i++) json_decref(recs[i]);
  free(recs);
  free(schema);
  free(lines);
  free(lens);
  free(data);
  dk_schemas_shutdown();
  return 0;
}

/* health: the reasons from real state files under a temporary folder:
 * missed syncs (every and cron), a source that never succeeded, a valid
 * share below its usual, a remote down too long, a repository that cannot
 * be read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "config.h"
#include "health.h"
#include "state.h"
#include "util.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/dk-health-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char *cmd = dk_asprintf("rm -rf '%s'", dir);
  int rc = system(cmd);
  free(cmd);
  return rc == 0 ? 0 : -1;
}

static struct dk_config *load(const char *extra) {
  char *text = dk_asprintf("repository: %s/r.git\nstate: %s/state\ntimezone: UTC\n"
                           "sources:\n"
                           "  - { name: a, plugin: csv, city: jinan, url: http://x.example/a, every: 1m }\n"
                           "  - { name: c, plugin: csv, city: linyi, url: http://x.example/c, cron: \"0 * * * *\" }\n"
                           "%s",
                           dir, dir, extra);
  struct dk_config *cfg = NULL;
  int rc = dk_config_load_string("t.yaml", text, strlen(text), dir, &cfg);
  if (rc != 0) fprintf(stderr, "%s\n", json_string_value(json_array_get(cfg->errors, 0)));
  assert_int_equal(rc, 0);
  free(text);
  dk_config_apply_timezone(cfg);
  return cfg;
}

static void save(const struct dk_config *cfg, const char *name, json_t *st) {
  char err[DK_ERRBUF_SIZE];
  char *d = dk_asprintf("%s/state/sources", dir);
  assert_int_equal(dk_mkdir_p(d, 1, err), 0);
  free(d);
  assert_int_equal(dk_state_save(cfg->state, name, st, err), 0);
  json_decref(st);
}

static json_t *at(time_t t) {
  char iso[40];
  return json_string(dk_time_iso(t, iso, sizeof iso));
}

/* Whether some reason contains `needle`. */
static int has(json_t *reasons, const char *needle) {
  if (getenv("DK_TEST_VERBOSE")) {
    char *t = json_dumps(reasons, 0);
    fprintf(stderr, "%s\n", t);
    free(t);
  }
  size_t i;
  json_t *r;
  json_array_foreach(reasons, i, r) if (strstr(json_string_value(r), needle)) return 1;
  return 0;
}

static void test_syncs(void **state) {
  (void)state;
  struct dk_config *cfg = load("");
  time_t now = 1719763200; /* 2024-06-30 16:00:00 UTC, a cron slot */
  /* nothing ever ran: healthy (the first round has not happened yet) */
  json_t *r = dk_health_check(cfg, now);
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);
  /* a: last success 100 s ago (within 2 x 1m); c: the 15:00 slot */
  save(cfg, "a", json_pack("{s:o, s:i}", "last_success", at(now - 100), "consecutive_failures", 0));
  save(cfg, "c", json_pack("{s:o}", "last_success", at(now - 3600 + 5)));
  r = dk_health_check(cfg, now);
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);
  /* a: 130 s, and failing; c: success before 14:00, slots 14:00 and 15:00 missed */
  save(cfg, "a", json_pack("{s:o, s:i, s:s}", "last_success", at(now - 130), "consecutive_failures", 2,
                           "last_failure_reason", "HTTP 503 from http://x.example/a\nsecond line"));
  save(cfg, "c", json_pack("{s:o}", "last_success", at(now - 2 * 3600 - 60)));
  r = dk_health_check(cfg, now);
  assert_int_equal(json_array_size(r), 2);
  assert_true(has(r, "source a: no successful sync for 2m (expected every 1m); 2 failures in a row, the last: "
                     "HTTP 503 from http://x.example/a second line"));
  assert_true(has(r, "source c: no successful sync for 2h 1m, missing 2 cron slots of \"0 * * * *\""));
  json_decref(r);
  /* never succeeded: healthy after one failure, not after two */
  save(cfg, "a", json_pack("{s:i, s:s}", "consecutive_failures", 1, "last_failure_reason", "refused"));
  save(cfg, "c", json_pack("{s:o}", "last_success", at(now - 60)));
  r = dk_health_check(cfg, now);
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);
  save(cfg, "a", json_pack("{s:i, s:s}", "consecutive_failures", 2, "last_failure_reason", "refused"));
  r = dk_health_check(cfg, now);
  assert_true(has(r, "source a: never synced successfully; 2 failures in a row, the last: refused"));
  json_decref(r);
  dk_config_free(cfg);
}

static void test_valid_share(void **state) {
  (void)state;
  struct dk_config *cfg = load("status: { health: { valid_share_drop: 0.3 } }\n");
  time_t now = 1719763200;
  save(cfg, "c", json_pack("{s:o}", "last_success", at(now - 60)));
  /* 75 % where 100 % is usual: within a drop of 0.3 */
  save(cfg, "a", json_pack("{s:o, s:i, s:i, s:f, s:f}", "last_success", at(now - 10), "records", 30, "invalid", 10,
                           "valid_share", 0.75, "valid_share_usual", 1.0));
  json_t *r = dk_health_check(cfg, now);
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);
  save(cfg, "a", json_pack("{s:o, s:i, s:i, s:f, s:f}", "last_success", at(now - 10), "records", 10, "invalid", 30,
                           "valid_share", 0.25, "valid_share_usual", 0.98));
  r = dk_health_check(cfg, now);
  assert_int_equal(json_array_size(r), 1);
  assert_true(has(r, "source a: 25% of the last round's records were valid (10 of 40), usually 98%"));
  json_decref(r);
  dk_config_free(cfg);
}

static void test_remote_down(void **state) {
  (void)state;
  struct dk_config *cfg = load("site: jinan\nremotes:\n  - { name: shared, url: \"file:///nowhere.git\" }\n"
                               "status: { health: { remote_down_after: 30m } }\n");
  time_t now = 1719763200;
  save(cfg, "a", json_pack("{s:o}", "last_success", at(now - 10)));
  save(cfg, "c", json_pack("{s:o}", "last_success", at(now - 60)));
  char err[DK_ERRBUF_SIZE];
  char *d = dk_asprintf("%s/state/remotes", dir);
  assert_int_equal(dk_mkdir_p(d, 1, err), 0);
  char *f = dk_asprintf("%s/shared.json", d);
  json_t *st = json_pack("{s:o, s:s}", "down_since", at(now - 20 * 60), "error", "cannot reach file:///nowhere.git");
  assert_int_equal(json_dump_file(st, f, 0), 0);
  json_decref(st);
  json_t *r = dk_health_check(cfg, now);
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);
  st = json_pack("{s:o, s:s}", "down_since", at(now - 45 * 60), "error", "cannot reach file:///nowhere.git");
  assert_int_equal(json_dump_file(st, f, 0), 0);
  json_decref(st);
  r = dk_health_check(cfg, now);
  assert_int_equal(json_array_size(r), 1);
  assert_true(has(r, "remote shared: unreachable for 45m: cannot reach file:///nowhere.git"));
  json_decref(r);
  free(f);
  free(d);
  dk_config_free(cfg);
}

/* A repository path that is a file, not a repository: a reason, not a
 * crash. */
static void test_repository(void **state) {
  (void)state;
  char *text = dk_asprintf("repository: %s/file.git\nstate: %s/state\n"
                           "sources:\n  - { name: a, plugin: csv, city: jinan, url: http://x.example/a }\n",
                           dir, dir);
  char *file = dk_asprintf("%s/file.git", dir);
  FILE *fp = fopen(file, "w");
  assert_non_null(fp);
  fputs("not a repository\n", fp);
  fclose(fp);
  struct dk_config *cfg = NULL;
  assert_int_equal(dk_config_load_string("t.yaml", text, strlen(text), dir, &cfg), 0);
  json_t *r = dk_health_check(cfg, time(NULL));
  char *want = dk_asprintf("repository %s/file.git: not a folder", dir);
  assert_true(has(r, want));
  free(want);
  json_decref(r);
  dk_config_free(cfg);
  free(text);
  free(file);
}

static void test_duration(void **state) {
  (void)state;
  char b[32];
  assert_string_equal(dk_health_duration(42, b, sizeof b), "42s");
  assert_string_equal(dk_health_duration(3 * 60 + 5, b, sizeof b), "3m");
  assert_string_equal(dk_health_duration(2 * 3600 + 60, b, sizeof b), "2h 1m");
  assert_string_equal(dk_health_duration(3 * 86400 + 4 * 3600, b, sizeof b), "3d 4h");
  assert_string_equal(dk_health_duration(-5, b, sizeof b), "0s");
}

int main(void) {
  git_libgit2_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_syncs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_valid_share, setup, teardown),
    cmocka_unit_test_setup_teardown(test_remote_down, setup, teardown),
    cmocka_unit_test_setup_teardown(test_repository, setup, teardown),
    cmocka_unit_test(test_duration),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

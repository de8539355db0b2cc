#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char tmpdir[4096];

static const char *data_path(const char *name) {
  static char buf[4096];
  const char *d = getenv("DK_TEST_DATA");
  snprintf(buf, sizeof buf, "%s/config/%s", d ? d : "tests/data", name);
  return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

static int setup(void **state) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/dk-test-config-XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write `text` to a file in the test folder; returns its path (static). */
static const char *write_tmp(const char *name, const char *text) {
  static char path[4200];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void dump_errors(const struct dk_config *cfg) {
  size_t i;
  json_t *e;
  json_array_foreach(cfg->errors, i, e) print_message("  error: %s\n", json_string_value(e));
}

/* The errors of `cfg` are exactly `want` (NULL-terminated), in order. */
static void assert_errors(const struct dk_config *cfg, const char *const *want) {
  size_t n = 0;
  while (want[n]) n++;
  if (json_array_size(cfg->errors) != n) {
    dump_errors(cfg);
    fail_msg("%zu errors, expected %zu", json_array_size(cfg->errors), n);
  }
  for (size_t i = 0; i < n; i++)
    assert_string_equal(json_string_value(json_array_get(cfg->errors, i)), want[i]);
}

/* Load a fixture, expect `code`, and the errors formatted with its path. */
static void expect_fixture(const char *name, int code, const char *const *fmts) {
  char path[4096], msgs[16][4400];
  const char *want[17] = {0};
  snprintf(path, sizeof path, "%s", data_path(name));
  for (size_t i = 0; fmts[i]; i++) {
    snprintf(msgs[i], sizeof msgs[i], "%s%s", path, fmts[i]);
    want[i] = msgs[i];
  }
  struct dk_config *cfg;
  assert_int_equal(dk_config_load(path, &cfg), code);
  assert_errors(cfg, want);
  dk_config_free(cfg);
}

/* Load `text` as "t.yaml" (paths relative to the test folder). */
static int load_text(const char *text, struct dk_config **cfg) {
  return dk_config_load_string("t.yaml", text, strlen(text), tmpdir, cfg);
}

static void expect_text(const char *text, int code, const char *const *want) {
  struct dk_config *cfg;
  assert_int_equal(load_text(text, &cfg), code);
  assert_errors(cfg, want);
  dk_config_free(cfg);
}

#define SOURCE_HEAD "repository: /r.git\nsources:\n  - name: s\n    plugin: csv\n    city: jinan\n"

static void test_good_file(void **state) {
  struct dk_config *cfg;
  const char *path = data_path("good.yaml");
  int rc = dk_config_load(path, &cfg);
  if (rc != 0) dump_errors(cfg);
  assert_int_equal(rc, 0);
  assert_int_equal(json_array_size(cfg->errors), 0);
  assert_string_equal(cfg->path, path);
  /* relative paths resolved against the file's folder, stored absolute */
  assert_true(cfg->repository[0] == '/' && ends_with(cfg->repository, "/config/snapshots.git"));
  assert_true(cfg->state[0] == '/' && ends_with(cfg->state, "/config/state"));
  assert_true(cfg->plugins[0] == '/' && ends_with(cfg->plugins, "/config/plugins"));
  assert_string_equal(cfg->log_level, "debug");
  assert_string_equal(json_string_value(json_object_get(cfg->reconcile, "default")), "owner");
  assert_int_equal(cfg->nsources, 2);

  const struct dk_source_conf *j = dk_config_source(cfg, "jinan-tasks");
  assert_ptr_equal(j, &cfg->sources[0]);
  assert_string_equal(j->plugin, "json-api");
  assert_string_equal(j->city, "jinan");
  assert_string_equal(j->url, "https://data.jinan.example/api/tasks");
  assert_string_equal(j->every, "15m");
  assert_null(j->cron);
  assert_int_equal(j->timeout_ms, 90000);
  assert_int_equal(j->max_body, 16L * 1024 * 1024);
  assert_string_equal(j->auth.bearer_env, "JINAN_TOKEN");
  assert_null(j->auth.bearer_file);
  assert_int_equal(json_integer_value(json_object_get(j->options, "page_size")), 100);
  assert_int_equal(j->max_depth, 16);
  assert_int_equal(j->max_record, 64 * 1024);
  assert_int_equal(j->other_origin_without_auth, 1);
  assert_string_equal(j->pointer, "/sources/0");

  const struct dk_source_conf *l = dk_config_source(cfg, "linyi-progress");
  assert_non_null(l);
  assert_string_equal(l->url, "file:///srv/exports/progress.csv");
  assert_null(l->every);
  assert_string_equal(l->cron, "*/5 * * * *");
  assert_int_equal(l->timeout_ms, 60000);
  assert_int_equal(l->max_body, 1048576);
  assert_string_equal(l->auth.basic_user, "duikou");
  assert_true(l->auth.basic_password_file[0] == '/' &&
              ends_with(l->auth.basic_password_file, "/config/secrets/linyi.pw"));
  assert_true(json_is_object(l->options) && json_object_size(l->options) == 0);
  assert_int_equal(l->max_depth, 32);
  assert_int_equal(l->max_record, 1024 * 1024);
  assert_int_equal(l->other_origin_without_auth, 0);

  assert_null(dk_config_source(cfg, "nope"));
  dk_config_free(cfg);
}

static void test_paths_and_defaults(void **state) {
  struct dk_config *cfg;
  char want[4200];
  assert_int_equal(load_text("repository: ./snap.git\nsources:\n  - name: s\n    plugin: csv\n"
                             "    city: other\n    url: http://x.example/\n", &cfg), 0);
  assert_null(cfg->path);
  snprintf(want, sizeof want, "%s/snap.git", tmpdir);
  assert_string_equal(cfg->repository, want);
  snprintf(want, sizeof want, "%s/state", tmpdir);
  assert_string_equal(cfg->state, want);
  assert_null(cfg->plugins);
  assert_null(cfg->log_level);
  assert_null(cfg->reconcile);
  assert_int_equal(cfg->sources[0].timeout_ms, 60000);
  assert_int_equal(cfg->sources[0].max_body, 64L * 1024 * 1024);
  assert_true(json_is_object(cfg->sources[0].options));
  dk_config_free(cfg);

  assert_int_equal(load_text("repository: /abs/snap.git\nstate: /abs/state\nsources:\n  - name: s\n"
                             "    plugin: csv\n    city: other\n    url: http://x.example/\n"
                             "    max_body: 2G\n", &cfg), 0);
  assert_string_equal(cfg->repository, "/abs/snap.git");
  assert_string_equal(cfg->state, "/abs/state");
  assert_int_equal(cfg->sources[0].max_body, 2L * 1024 * 1024 * 1024);
  dk_config_free(cfg);
}

static void test_syntax_error(void **state) {
  expect_fixture("syntax.yaml", DK_EPARSE, (const char *const[]){
    ":5:11: did not find expected ',' or ']' (while parsing a flow sequence)", NULL});
  expect_text("repository: x\n  sources: y\n", DK_EPARSE, (const char *const[]){
    "t.yaml:2:10: mapping values are not allowed in this context", NULL});
}

static void test_wrong_type(void **state) {
  expect_fixture("wrong_type.yaml", DK_ECONFIG, (const char *const[]){
    ":10:10: expected a string, found an integer (at /sources/1/url)", NULL});
  expect_text("repository: [a]\nsources: {}\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:1:13: expected a string, found an array (at /repository)",
    "t.yaml:2:10: expected an array, found an object (at /sources)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    max_body: [1]\n    options: 3\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:15: expected a string or an integer, found an array (at /sources/0/max_body)",
    "t.yaml:8:14: expected an object, found an integer (at /sources/0/options)", NULL});
  expect_text("- a\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:1:1: expected an object, found an array (at /)", NULL});
  expect_text("", DK_ECONFIG, (const char *const[]){
    "t.yaml:1:1: expected an object, found null (at /)", NULL});
}

static void test_missing_key(void **state) {
  /* a missing key is reported where its mapping starts */
  expect_fixture("missing_key.yaml", DK_ECONFIG, (const char *const[]){
    ":1:1: missing required property \"repository\" (at /)",
    ":2:5: missing required property \"url\" (at /sources/0)", NULL});
  expect_text("repository: /r.git\nsources: []\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:2:10: has 0 items, fewer than the minimum 1 (at /sources)", NULL});
}

static void test_unknown_key(void **state) {
  expect_fixture("unknown_key.yaml", DK_ECONFIG, (const char *const[]){
    ":2:6: property \"foo\" is not allowed (at /foo)",
    ":8:12: property \"evrey\" is not allowed (at /sources/0/evrey)",
    ":9:35: property \"token\" is not allowed (at /sources/0/auth/token)", NULL});
  /* keys are escaped as JSON Pointer tokens */
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    a/b~c: 1\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:7:12: property \"a/b~c\" is not allowed (at /sources/0/a~1b~0c)", NULL});
}

/* Limits the schema states, each at its line and column. */
static void test_unserved_keys(void **state) {
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    limits: { depth: 1000 }\n    other_origin: follow\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:22: 1000 is greater than the maximum 256 (at /sources/0/limits/depth)",
    "t.yaml:8:19: \"follow\" is not one of refuse, without_auth (at /sources/0/other_origin)", NULL});
}

#define STATUS_HEAD "repository: /r.git\nsources:\n  - { name: s, plugin: csv, city: jinan, url: http://x.example/ }\n"

/* status: the listener's address, loopback or not, the token a
 * non-loopback one needs, and the health thresholds with their defaults. */
static void test_status_rules(void **state) {
  struct dk_config *cfg;
  assert_int_equal(load_text(STATUS_HEAD, &cfg), 0);
  assert_int_equal(cfg->status.listen, 0);
  assert_int_equal(cfg->status.conflict_max_age_ms, 7L * 86400 * 1000);
  assert_int_equal(cfg->status.conflict_max_open, 50);
  assert_int_equal(cfg->status.remote_down_after_ms, 3600L * 1000);
  assert_true(cfg->status.valid_share_drop > 0.19 && cfg->status.valid_share_drop < 0.21);
  dk_config_free(cfg);
  assert_int_equal(load_text(STATUS_HEAD "status: {}\n", &cfg), 0);
  assert_int_equal(cfg->status.listen, 1);
  assert_string_equal(cfg->status.host, "127.0.0.1");
  assert_int_equal(cfg->status.port, 8787);
  assert_int_equal(cfg->status.loopback, 1);
  dk_config_free(cfg);
  assert_int_equal(load_text(STATUS_HEAD "status:\n  listen: \"[::1]:9000\"\n  health: { conflict_max_age: 2d, "
                             "conflict_max_open: 3, remote_down_after: 10m, valid_share_drop: 0.5 }\n", &cfg), 0);
  assert_string_equal(cfg->status.host, "::1");
  assert_int_equal(cfg->status.port, 9000);
  assert_int_equal(cfg->status.loopback, 1);
  assert_int_equal(cfg->status.conflict_max_age_ms, 2L * 86400 * 1000);
  assert_int_equal(cfg->status.conflict_max_open, 3);
  assert_int_equal(cfg->status.remote_down_after_ms, 600000);
  assert_true(cfg->status.valid_share_drop > 0.49 && cfg->status.valid_share_drop < 0.51);
  dk_config_free(cfg);
  assert_int_equal(load_text(STATUS_HEAD "status: { listen: off }\n", &cfg), 0);
  assert_int_equal(cfg->status.listen, 0);
  dk_config_free(cfg);
  assert_int_equal(load_text(STATUS_HEAD "status: { listen: \"0.0.0.0:8787\", token_env: DK_STATUS_TOKEN }\n", &cfg), 0);
  assert_int_equal(cfg->status.loopback, 0);
  assert_string_equal(cfg->status.token_env, "DK_STATUS_TOKEN");
  dk_config_free(cfg);
  expect_text(STATUS_HEAD "status: { listen: \"0.0.0.0:8787\" }\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:4:19: listening on 0.0.0.0 (not loopback) needs a token: set status.token_env or status.token_file, "
    "and send it as \"Authorization: Bearer TOKEN\" (at /status/listen)", NULL});
  expect_text(STATUS_HEAD "status: { listen: \"[::]:1\" }\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:4:19: listening on :: (not loopback) needs a token: set status.token_env or status.token_file, "
    "and send it as \"Authorization: Bearer TOKEN\" (at /status/listen)", NULL});
  expect_text(STATUS_HEAD "status: { listen: \"127.0.0.1\", token_env: A, token_file: b }\n", DK_ECONFIG,
              (const char *const[]){
    "t.yaml:4:19: expected ADDRESS:PORT, such as 127.0.0.1:8787 (an IPv6 address in brackets: [::1]:8787), "
    "found \"127.0.0.1\" (at /status/listen)",
    "t.yaml:4:58: give token_env or token_file, not both (at /status/token_file)", NULL});
  expect_text(STATUS_HEAD "status: { listen: \"127.0.0.1:99999\", port: 1 }\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:4:44: property \"port\" is not allowed (at /status/port)", NULL});
  expect_text(STATUS_HEAD "status: { listen: \"127.0.0.1:99999\" }\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:4:19: the port must be a number from 0 to 65535, found \"127.0.0.1:99999\" (at /status/listen)", NULL});
}

#define SITE_HEAD "repository: /r.git\nsources:\n  - { name: s, plugin: csv, city: jinan, url: http://x.example/ }\n"

/* site and remotes: defaults, the rules the loader adds to the schema's,
 * and no secret in a URL or a message. */
static void test_remote_rules(void **state) {
  struct dk_config *cfg;
  assert_int_equal(load_text(SITE_HEAD "site: jinan\nremotes:\n  - name: shared\n    url: https://git.example/d.git\n"
                             "    auth: { basic_user: duikou, basic_password_env: DK_GIT_PASSWORD }\n"
                             "  - { name: share2, url: \"file:///srv/d.git\", push: false, every: 1m, after_commit: false, timeout: 5s }\n"
                             "  - { name: s3, url: \"ssh://git@git.example/d.git\", auth: { ssh_key: k/id_ed25519 } }\n",
                             &cfg), 0);
  assert_string_equal(cfg->site, "jinan");
  assert_int_equal(cfg->nremotes, 3);
  assert_string_equal(cfg->remotes[0].name, "shared");
  assert_int_equal(cfg->remotes[0].push, 1);
  assert_int_equal(cfg->remotes[0].after_commit, 1);
  assert_int_equal(cfg->remotes[0].every_ms, 600000);
  assert_int_equal(cfg->remotes[0].timeout_ms, 60000);
  assert_string_equal(cfg->remotes[0].auth.basic_user, "duikou");
  assert_string_equal(cfg->remotes[0].auth.basic_password_env, "DK_GIT_PASSWORD");
  assert_int_equal(cfg->remotes[1].push, 0);
  assert_int_equal(cfg->remotes[1].after_commit, 0);
  assert_int_equal(cfg->remotes[1].every_ms, 60000);
  assert_int_equal(cfg->remotes[1].timeout_ms, 5000);
  assert_true(cfg->remotes[2].ssh_key[0] == '/'); /* resolved against the file's folder */
  assert_true(ends_with(cfg->remotes[2].ssh_key, "/k/id_ed25519"));
  dk_config_free(cfg);
  expect_text(SITE_HEAD "remotes:\n  - { name: r, url: \"file:///srv/d.git\" }\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:5:3: remotes need site: this instance's name among the sites (jinan, linyi) (at /remotes)", NULL});
  expect_text(SITE_HEAD "site: Jinan!\nremotes:\n  - { name: r, url: \"/srv/d.git\" }\n  - { name: r, url: \"file:///x\" }\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:4:7: does not match pattern ^[a-z0-9][a-z0-9._-]*$ (at /site)",
    "t.yaml:6:21: does not match pattern ^(file|git|https?|ssh)://[^\\s]+$ (at /remotes/0/url)", NULL});
  expect_text(SITE_HEAD "site: j\nremotes:\n  - { name: r, url: \"file:///x\" }\n  - { name: r, url: \"file:///y\" }\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:13: duplicate remote name \"r\", already used by /remotes/0 (at /remotes/1/name)", NULL});
  expect_text(SITE_HEAD "site: j\nremotes:\n  - { name: r, url: \"https://x/d.git\", auth: { basic_user: u } }\n"
              "  - { name: q, url: \"https://x/d.git\", auth: { ssh_key: /k } }\n"
              "  - { name: p, url: \"ssh://x/d.git\", auth: { basic_user: u, basic_password_env: P } }\n"
              "  - { name: o, url: \"ssh://x/d.git\", auth: { ssh_user: git } }\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:6:46: basic_user needs basic_password_env or basic_password_file (at /remotes/0/auth)",
    "t.yaml:7:46: ssh_key is for ssh:// remotes (at /remotes/1/auth)",
    "t.yaml:8:44: basic_user is for http(s):// remotes; an ssh:// remote takes ssh_key (at /remotes/2/auth)",
    "t.yaml:9:44: missing required key \"ssh_key\" (at /remotes/3/auth/ssh_key)", NULL});
  expect_text(SITE_HEAD "site: j\nremotes:\n  - { name: n, url: \"https://x/d.git\", auth: { token: abc } }\n",
              DK_ECONFIG, (const char *const[]){"t.yaml:6:55: property \"token\" is not allowed (at /remotes/0/auth/token)", NULL});
  assert_int_equal(load_text(SITE_HEAD "site: j\nremotes:\n  - { name: r, url: \"https://bob:hunter2@x/d.git\" }\n", &cfg),
                   DK_ECONFIG);
  assert_int_equal(json_array_size(cfg->errors), 1);
  assert_non_null(strstr(json_string_value(json_array_get(cfg->errors, 0)), "no credentials in the URL"));
  assert_null(strstr(json_string_value(json_array_get(cfg->errors, 0)), "hunter2"));
  dk_config_free(cfg);
}

static void test_duplicate_source_name(void **state) {
  expect_fixture("dup_name.yaml", DK_ECONFIG, (const char *const[]){
    ":11:11: duplicate source name \"same\", already used by /sources/0 (at /sources/2/name)", NULL});
}

static void test_duplicate_yaml_key(void **state) {
  expect_fixture("dup_key.yaml", DK_EPARSE, (const char *const[]){
    ":7:5: duplicate key \"plugin\"", NULL});
}

static void test_alias_bomb(void **state) {
  struct dk_config *cfg;
  assert_int_equal(dk_config_load(data_path("alias_bomb.yaml"), &cfg), DK_EPARSE);
  assert_int_equal(json_array_size(cfg->errors), 1);
  assert_non_null(strstr(json_string_value(json_array_get(cfg->errors, 0)),
                         ": too many nodes (alias expansion)"));
  dk_config_free(cfg);
}

static void test_all_problems_collected(void **state) {
  expect_fixture("many_errors.yaml", DK_ECONFIG, (const char *const[]){
    ":1:13: expected a string, found an integer (at /repository)",
    ":2:12: \"loud\" is not one of error, warn, info, debug (at /log_level)",
    ":4:11: does not match pattern ^[a-z0-9][a-z0-9._-]*$ (at /sources/0/name)",
    ":6:11: \"shanghai\" is not one of jinan, linyi, province, central, other (at /sources/0/city)",
    ":7:10: does not match pattern ^(https?|file)://[^\\s@]+$ (at /sources/0/url)",
    ":8:12: does not match pattern ^[1-9][0-9]{0,8}(ms|s|m|h|d)$ (at /sources/0/every)",
    ":9:11: does not match pattern ^\\S+( +\\S+){4}$ (at /sources/0/cron)",
    ":10:14: does not match pattern ^[1-9][0-9]{0,8}(ms|s|m|h|d)$ (at /sources/0/timeout)",
    ":11:15: does not match pattern ^[1-9][0-9]*[KMG]?$ (at /sources/0/max_body)",
    ":12:5: expected an object, found a string (at /sources/1)",
    NULL});
}

static void test_source_rules(void **state) {
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    every: 5m\n    cron: \"0 * * * *\"\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:8:11: give either every or cron, not both (at /sources/0/cron)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    cron: \"* * *\"\n    timeout: 0s\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:11: does not match pattern ^\\S+( +\\S+){4}$ (at /sources/0/cron)",
    "t.yaml:8:14: does not match pattern ^[1-9][0-9]{0,8}(ms|s|m|h|d)$ (at /sources/0/timeout)",
    NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    cron: \"0 24 * * *\"\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:7:11: cron hour: \"24\" is outside 0-23 (at /sources/0/cron)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    every: \"30\"\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:7:12: does not match pattern ^[1-9][0-9]{0,8}(ms|s|m|h|d)$ (at /sources/0/every)", NULL});
  expect_text(SOURCE_HEAD "    url: \"http://x.example/\\0\"\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:6:10: a NUL character is not allowed here (at /sources/0/url)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    max_body: 0\n", DK_ECONFIG, (const char *const[]){
    "t.yaml:7:15: 0 is less than the minimum 1 (at /sources/0/max_body)", NULL});
  /* credentials in a URL are refused, and never echoed */
  struct dk_config *cfg;
  assert_int_equal(load_text(SOURCE_HEAD "    url: https://bob:hunter2@x.example/\n", &cfg), DK_ECONFIG);
  assert_int_equal(json_array_size(cfg->errors), 1);
  assert_null(strstr(json_string_value(json_array_get(cfg->errors, 0)), "hunter2"));
  assert_true(cfg->nsources == 0 || cfg->sources[0].url == NULL);
  dk_config_free(cfg);
}

static void test_http_and_timezone(void **state) {
  struct dk_config *cfg;
  /* defaults */
  assert_int_equal(load_text(SOURCE_HEAD "    url: http://x.example/\n", &cfg), 0);
  assert_string_equal(cfg->timezone, "Asia/Shanghai");
  assert_int_equal(cfg->http.max_connections, 16);
  assert_int_equal(cfg->http.max_per_host, 4);
  assert_int_equal(cfg->http.connect_timeout_ms, 10000);
  assert_null(cfg->sources[0].proxy);
  assert_null(cfg->sources[0].ca_file);
  dk_config_free(cfg);
  /* http settings; proxy and CA file reach every source unless it has its own */
  assert_int_equal(load_text("repository: /r.git\ntimezone: Europe/Berlin\n"
                             "http: {max_connections: 8, max_per_host: 2, connect_timeout: 3s, low_speed_time: 20s,\n"
                             "       proxy: \"http://proxy.example:3128\", ca_file: /etc/hostname}\n"
                             "sources:\n"
                             "  - {name: a, plugin: csv, city: jinan, url: http://x.example/}\n"
                             "  - {name: b, plugin: csv, city: linyi, url: http://y.example/, proxy: \"\",\n"
                             "     ca_file: /etc/passwd}\n", &cfg), 0);
  assert_string_equal(cfg->timezone, "Europe/Berlin");
  assert_int_equal(cfg->http.max_connections, 8);
  assert_int_equal(cfg->http.max_per_host, 2);
  assert_int_equal(cfg->http.connect_timeout_ms, 3000);
  assert_int_equal(cfg->http.low_speed_secs, 20);
  assert_string_equal(cfg->sources[0].proxy, "http://proxy.example:3128");
  assert_string_equal(cfg->sources[0].ca_file, "/etc/hostname");
  assert_string_equal(cfg->sources[1].proxy, ""); /* no proxy at all */
  assert_string_equal(cfg->sources[1].ca_file, "/etc/passwd");
  dk_config_free(cfg);
  expect_text("repository: /r.git\ntimezone: Asia/Jinan\nsources:\n"
              "  - {name: a, plugin: csv, city: jinan, url: http://x.example/}\n", DK_ECONFIG,
              (const char *const[]){"t.yaml:2:11: unknown time zone \"Asia/Jinan\" (not in /usr/share/zoneinfo; "
                                    "install tzdata, or use a name such as Asia/Shanghai) (at /timezone)", NULL});
  expect_text("repository: /r.git\nhttp: {max_per_host: 20}\nsources:\n"
              "  - {name: a, plugin: csv, city: jinan, url: http://x.example/, ca_file: /nonexistent/ca.pem}\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:2:22: max_per_host (20) is more than max_connections (16) (at /http/max_per_host)",
    "t.yaml:4:74: cannot read CA file /nonexistent/ca.pem: No such file or directory (at /sources/0/ca_file)",
    NULL});
  /* a proxy URL with credentials is refused (they are secrets) */
  assert_int_equal(load_text("repository: /r.git\nhttp: {proxy: \"http://bob:pw@proxy.example:3128\"}\n"
                             "sources:\n  - {name: a, plugin: csv, city: jinan, url: http://x.example/}\n", &cfg),
                   DK_ECONFIG);
  assert_int_equal(json_array_size(cfg->errors), 1);
  assert_non_null(strstr(json_string_value(json_array_get(cfg->errors, 0)), "(at /http/proxy)"));
  dk_config_free(cfg);
}

static void test_reconcile_rules(void **state) {
  expect_text("repository: /r.git\nreconcile: {priority: [jinan-tasks, linyi-taks]}\nsources:\n"
              "  - {name: jinan-tasks, plugin: csv, city: jinan, url: http://x.example/}\n"
              "  - {name: linyi-tasks, plugin: csv, city: linyi, url: http://y.example/}\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:2:37: no source named \"linyi-taks\" in sources (at /reconcile/priority/1)", NULL});
  expect_text("repository: /r.git\nreconcile: {priority: [a, a]}\nsources:\n"
              "  - {name: a, plugin: csv, city: jinan, url: http://x.example/}\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:2:23: items 0 and 1 are equal (at /reconcile/priority)", NULL});
}

static void test_auth_rules(void **state) {
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    auth: { bearer_env: A, bearer_file: /f }\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:11: give one of bearer_env and bearer_file, not both (at /sources/0/auth)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    auth: { bearer_env: A, basic_user: u }\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:11: use either bearer_env/bearer_file or basic_user, not both (at /sources/0/auth)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    auth: { basic_user: u }\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:11: basic_user needs basic_password_env or basic_password_file (at /sources/0/auth)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    auth: { basic_password_env: P }\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:11: missing required key \"basic_user\" (at /sources/0/auth/basic_user)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    auth: {}\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:11: expected one of bearer_env, bearer_file or basic_user (at /sources/0/auth)", NULL});
  expect_text(SOURCE_HEAD "    url: http://x.example/\n    auth: { bearer_env: \"NOT A NAME\" }\n",
              DK_ECONFIG, (const char *const[]){
    "t.yaml:7:25: does not match pattern ^[A-Za-z_][A-Za-z0-9_]*$ (at /sources/0/auth/bearer_env)", NULL});

  struct dk_config *cfg;
  assert_int_equal(load_text(SOURCE_HEAD "    url: http://x.example/\n"
                             "    auth: { basic_user: u, basic_password_file: pw.txt }\n", &cfg), 0);
  char want[4200];
  snprintf(want, sizeof want, "%s/pw.txt", tmpdir);
  assert_string_equal(cfg->sources[0].auth.basic_password_file, want);
  dk_config_free(cfg);
}

static void test_example_config(void **state) {
  char path[4096];
  const char *d = getenv("DK_TEST_DATA");
  snprintf(path, sizeof path, "%s/../../conf/duikou.example.yaml", d ? d : "tests/data");
  struct dk_config *cfg;
  int rc = dk_config_load(path, &cfg);
  dump_errors(cfg);
  assert_int_equal(rc, 0);
  assert_int_equal(json_array_size(cfg->errors), 0);
  assert_int_equal(cfg->nsources, 2);
  const struct dk_source_conf *j = dk_config_source(cfg, "jinan-tasks");
  assert_non_null(j);
  assert_string_equal(j->plugin, "json-api");
  assert_string_equal(j->auth.bearer_env, "JINAN_TOKEN");
  assert_non_null(j->every);
  const struct dk_source_conf *l = dk_config_source(cfg, "linyi-progress");
  assert_non_null(l);
  assert_string_equal(l->plugin, "csv");
  assert_string_equal(l->cron, "0 */2 * * *");
  assert_string_equal(json_string_value(json_object_get(l->options, "encoding")), "GB18030");
  dk_config_free(cfg);
}

static void test_missing_file(void **state) {
  struct dk_config *cfg;
  char path[4200];
  snprintf(path, sizeof path, "%s/absent.yaml", tmpdir);
  assert_int_equal(dk_config_load(path, &cfg), DK_EIO);
  assert_int_equal(json_array_size(cfg->errors), 1);
  assert_non_null(strstr(json_string_value(json_array_get(cfg->errors, 0)), "absent.yaml: cannot open"));
  dk_config_free(cfg);
}

static void test_auth_header_env(void **state) {
  struct dk_auth auth = {.bearer_env = "DK_TEST_TOKEN"};
  char err[DK_ERRBUF_SIZE] = "";
  char *h = NULL;
  setenv("DK_TEST_TOKEN", "tok-123 \n", 1);
  assert_int_equal(dk_auth_header(&auth, &h, err), 0);
  assert_string_equal(h, "Bearer tok-123");
  free(h);

  unsetenv("DK_TEST_TOKEN");
  h = (char *)"x";
  assert_int_equal(dk_auth_header(&auth, &h, err), DK_ECONFIG);
  assert_null(h);
  assert_non_null(strstr(err, "DK_TEST_TOKEN"));
  assert_null(strstr(err, "tok-123"));

  /* a secret that cannot be used is refused without being shown */
  setenv("DK_TEST_TOKEN", "sekrit\r\nX-Evil: 1", 1);
  assert_int_equal(dk_auth_header(&auth, &h, err), DK_ECONFIG);
  assert_non_null(strstr(err, "DK_TEST_TOKEN"));
  assert_null(strstr(err, "sekrit"));
  setenv("DK_TEST_TOKEN", " \n", 1);
  assert_int_equal(dk_auth_header(&auth, &h, err), DK_ECONFIG);
  assert_non_null(strstr(err, "DK_TEST_TOKEN"));
  unsetenv("DK_TEST_TOKEN");
}

static void test_auth_header_file(void **state) {
  char path[4200], err[DK_ERRBUF_SIZE] = "";
  snprintf(path, sizeof path, "%s", write_tmp("token", "file-token-456\n"));
  struct dk_auth auth = {.bearer_file = path};
  char *h = NULL;
  assert_int_equal(dk_auth_header(&auth, &h, err), 0);
  assert_string_equal(h, "Bearer file-token-456");
  free(h);

  snprintf(path, sizeof path, "%s/no-such-token", tmpdir);
  assert_int_equal(dk_auth_header(&auth, &h, err), DK_ECONFIG);
  assert_null(h);
  assert_non_null(strstr(err, path));
}

static void test_auth_header_basic(void **state) {
  char err[DK_ERRBUF_SIZE] = "";
  char *h = NULL;
  setenv("DK_TEST_PASSWORD", "pw", 1);
  struct dk_auth auth = {.basic_user = "alice", .basic_password_env = "DK_TEST_PASSWORD"};
  assert_int_equal(dk_auth_header(&auth, &h, err), 0);
  assert_string_equal(h, "Basic YWxpY2U6cHc=");
  free(h);
  unsetenv("DK_TEST_PASSWORD");

  char path[4200];
  snprintf(path, sizeof path, "%s", write_tmp("password", "p@ss w0rd\r\n"));
  struct dk_auth fauth = {.basic_user = "duikou", .basic_password_file = path};
  assert_int_equal(dk_auth_header(&fauth, &h, err), 0);
  assert_string_equal(h, "Basic ZHVpa291OnBAc3MgdzByZA==");
  free(h);

  struct dk_auth none = {0};
  h = (char *)"x";
  assert_int_equal(dk_auth_header(&none, &h, err), 0);
  assert_null(h);
  h = (char *)"x";
  assert_int_equal(dk_auth_header(NULL, &h, err), 0);
  assert_null(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_good_file),
    cmocka_unit_test(test_paths_and_defaults),
    cmocka_unit_test(test_syntax_error),
    cmocka_unit_test(test_wrong_type),
    cmocka_unit_test(test_missing_key),
    cmocka_unit_test(test_unknown_key),
    cmocka_unit_test(test_unserved_keys),
    cmocka_unit_test(test_status_rules),
    cmocka_unit_test(test_remote_rules),
    cmocka_unit_test(test_duplicate_source_name),
    cmocka_unit_test(test_duplicate_yaml_key),
    cmocka_unit_test(test_alias_bomb),
    cmocka_unit_test(test_all_problems_collected),
    cmocka_unit_test(test_source_rules),
    cmocka_unit_test(test_auth_rules),
    cmocka_unit_test(test_http_and_timezone),
    cmocka_unit_test(test_reconcile_rules),
    cmocka_unit_test(test_example_config),
    cmocka_unit_test(test_missing_file),
    cmocka_unit_test(test_auth_header_env),
    cmocka_unit_test(test_auth_header_file),
    cmocka_unit_test(test_auth_header_basic),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

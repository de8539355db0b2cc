/* The metrics registry and its text exposition: names checked, labels
 * escaped, histograms cumulative with +Inf, families and series sorted, the
 * gauges read from a real state folder, and every rendering accepted by
 * `promtool check metrics` (Debian's prometheus package) with no lint. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "exchange.h"
#include "metrics.h"
#include "quarantine.h"
#include "state.h"
#include "util.h"

static char tmpdir[] = "/tmp/dk-metrics-XXXXXX";

static int setup(void **st) {
  (void)st;
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **st) {
  (void)st;
  char *cmd = dk_asprintf("rm -rf '%s'", tmpdir);
  int rc = system(cmd);
  free(cmd);
  return rc == 0 ? 0 : -1;
}

static char *render(const struct dk_metrics *m) {
  struct dk_buf b = {0};
  dk_metrics_render(m, &b);
  return dk_buf_steal(&b);
}

/* promtool check metrics on `text`: its exit status, and what it printed
 * (a lint problem is printed even when it exits 0) into *out. */
static int promtool(const char *text, char **out) {
  char *in = dk_asprintf("%s/in.prom", tmpdir), *res = dk_asprintf("%s/promtool.out", tmpdir);
  FILE *f = fopen(in, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  char *cmd = dk_asprintf("promtool check metrics <'%s' >'%s' 2>&1", in, res);
  int rc = system(cmd);
  char err[DK_ERRBUF_SIZE];
  size_t len;
  assert_int_equal(dk_read_file(res, out, &len, err), 0);
  free(cmd);
  free(in);
  free(res);
  return rc;
}

static void assert_promtool_clean(const char *text) {
  char *out = NULL;
  int rc = promtool(text, &out);
  if (rc != 0 || out[0] != '\0') fail_msg("promtool check metrics (status %d): %s\non:\n%s", rc, out, text);
  free(out);
}

static void test_declare_checks_names(void **st) {
  (void)st;
  struct dk_metrics *m = dk_metrics_new();
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_COUNTER, "t_runs", "h", NULL, NULL, 0, err), DK_EINVAL);
  assert_non_null(strstr(err, "_total"));
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "t_x_total", "h", NULL, NULL, 0, err), DK_EINVAL);
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "9lives", "h", NULL, NULL, 0, err), DK_EINVAL);
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "t-dash", "h", NULL, NULL, 0, err), DK_EINVAL);
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "t_g", "h", "a,__b", NULL, 0, err), DK_EINVAL);
  assert_non_null(strstr(err, "__b"));
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "t_g", "h", "a,a", NULL, 0, err), DK_EINVAL);
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_HISTOGRAM, "t_h_seconds", "h", "le", (double[]){1}, 1, err),
                   DK_EINVAL);
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_HISTOGRAM, "t_h_seconds", "h", "", (double[]){2, 1}, 2, err),
                   DK_EINVAL);
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "duikou_build_info", "h", NULL, NULL, 0, err), DK_EEXIST);
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "t_many", "h", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", NULL, 0,
                                      err), DK_EINVAL);
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "t_g", "h", "a,b", NULL, 0, err), 0);
  assert_int_equal(dk_metrics_set(m, "t_g", 3, "x", NULL), 0);
  assert_true(dk_metrics_get(m, "t_g", "x", "") == 3); /* NULL is "" */
  dk_metrics_free(m);
}

static void test_update_rules(void **st) {
  (void)st;
  struct dk_metrics *m = dk_metrics_new();
  assert_int_equal(dk_metrics_add(m, "duikou_fetched_bytes_total", 100, "jinan-tasks"), 0);
  assert_int_equal(dk_metrics_add(m, "duikou_fetched_bytes_total", 23, "jinan-tasks"), 0);
  assert_int_equal(dk_metrics_add(m, "duikou_fetched_bytes_total", 7, "linyi-progress"), 0);
  assert_true(dk_metrics_get(m, "duikou_fetched_bytes_total", "jinan-tasks") == 123);
  assert_true(dk_metrics_get(m, "duikou_fetched_bytes_total", "linyi-progress") == 7);
  assert_true(dk_metrics_get(m, "duikou_fetched_bytes_total", "nobody") == 0);
  /* a counter never goes down; a gauge is not observed; no such family */
  assert_int_equal(dk_metrics_add(m, "duikou_fetched_bytes_total", -1, "jinan-tasks"), DK_EINVAL);
  assert_int_equal(dk_metrics_set(m, "duikou_fetched_bytes_total", 5, "jinan-tasks"), DK_EINVAL);
  assert_int_equal(dk_metrics_observe(m, "duikou_quarantine_records", 1, "x"), DK_EINVAL);
  assert_int_equal(dk_metrics_add(m, "duikou_nothing_total", 1), DK_ENOENT);
  assert_int_equal(dk_metrics_set(m, "duikou_quarantine_records", 1.0 / 0.0, "x"), DK_EINVAL);
  assert_int_equal(dk_metrics_set(m, "duikou_quarantine_records", 4, "x"), 0);
  assert_int_equal(dk_metrics_set(m, "duikou_quarantine_records", 2, "x"), 0);
  assert_true(dk_metrics_get(m, "duikou_quarantine_records", "x") == 2);
  dk_metrics_reset(m, "duikou_quarantine_records");
  assert_true(dk_metrics_get(m, "duikou_quarantine_records", "x") == 0);
  char *text = render(m);
  assert_null(strstr(text, "duikou_quarantine_records"));
  free(text);
  /* a NULL registry counts nothing, and says so by succeeding */
  assert_int_equal(dk_metrics_add(NULL, "duikou_fetched_bytes_total", 1, "x"), 0);
  dk_metrics_free(m);
}

static void test_escaping(void **st) {
  (void)st;
  struct dk_metrics *m = dk_metrics_new();
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_GAUGE, "t_odd", "a back\\slash\nand a newline", "v", NULL, 0, err),
                   0);
  assert_int_equal(dk_metrics_set(m, "t_odd", 1, "say \"hi\"\\\n济南"), 0);
  assert_int_equal(dk_metrics_set(m, "t_odd", 2, "bad \xff byte"), 0);
  char *text = render(m);
  assert_non_null(strstr(text, "# HELP t_odd a back\\\\slash\\nand a newline\n"));
  assert_non_null(strstr(text, "t_odd{v=\"say \\\"hi\\\"\\\\\\n济南\"} 1\n"));
  assert_non_null(strstr(text, "t_odd{v=\"bad ? byte\"} 2\n"));
  assert_promtool_clean(text);
  free(text);
  dk_metrics_free(m);
}

static void test_histogram(void **st) {
  (void)st;
  struct dk_metrics *m = dk_metrics_new();
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_metrics_declare(m, DK_METRIC_HISTOGRAM, "t_wait_seconds", "Waits.", "queue",
                                      (double[]){0.01, 0.05, 1}, 3, err), 0);
  double obs[] = {0.003, 0.02, 0.05, 100};
  for (size_t i = 0; i < 4; i++) assert_int_equal(dk_metrics_observe(m, "t_wait_seconds", obs[i], "q"), 0);
  assert_int_equal(dk_metrics_add(m, "t_wait_seconds", 1, "q"), DK_EINVAL);
  char *text = render(m);
  const char *want =
      "# HELP t_wait_seconds Waits.\n"
      "# TYPE t_wait_seconds histogram\n"
      "t_wait_seconds_bucket{queue=\"q\",le=\"0.01\"} 1\n"
      "t_wait_seconds_bucket{queue=\"q\",le=\"0.05\"} 3\n" /* a bound is inclusive */
      "t_wait_seconds_bucket{queue=\"q\",le=\"1\"} 3\n"
      "t_wait_seconds_bucket{queue=\"q\",le=\"+Inf\"} 4\n"
      "t_wait_seconds_sum{queue=\"q\"} 100.073\n"
      "t_wait_seconds_count{queue=\"q\"} 4\n";
  if (strstr(text, want) == NULL) fail_msg("got:\n%s\nwanted:\n%s", text, want);
  assert_true(dk_metrics_get(m, "t_wait_seconds", "q") == 4);
  assert_promtool_clean(text);
  free(text);
  /* duikou's own, with no labels */
  assert_int_equal(dk_metrics_observe(m, "duikou_commit_duration_seconds", 0.2), 0);
  text = render(m);
  assert_non_null(strstr(text, "duikou_commit_duration_seconds_bucket{le=\"0.1\"} 0\n"));
  assert_non_null(strstr(text, "duikou_commit_duration_seconds_bucket{le=\"0.25\"} 1\n"));
  assert_non_null(strstr(text, "duikou_commit_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
  assert_non_null(strstr(text, "duikou_commit_duration_seconds_count 1\n"));
  free(text);
  dk_metrics_free(m);
}

static void test_sorted(void **st) {
  (void)st;
  struct dk_metrics *m = dk_metrics_new();
  dk_metrics_add(m, "duikou_records_total", 1, "s", "task", "valid");
  dk_metrics_add(m, "duikou_records_total", 1, "s", "plan", "valid");
  dk_metrics_add(m, "duikou_records_total", 1, "a", "task", "invalid");
  dk_metrics_add(m, "duikou_fetches_total", 1, "s", "jinan", "ok");
  char *text = render(m);
  char *f = strstr(text, "# HELP duikou_fetches_total"), *r = strstr(text, "# HELP duikou_records_total");
  assert_non_null(f);
  assert_non_null(r);
  assert_true(f < r);
  char *a = strstr(text, "{source=\"a\",kind=\"task\",result=\"invalid\"} 1\n");
  char *p = strstr(text, "{source=\"s\",kind=\"plan\",result=\"valid\"} 1\n");
  char *t = strstr(text, "{source=\"s\",kind=\"task\",result=\"valid\"} 1\n");
  assert_non_null(a);
  assert_non_null(p);
  assert_non_null(t);
  assert_true(a < p && p < t);
  free(text);
  dk_metrics_free(m);
}

static int next_run(void *arg, const char *source, time_t *when) {
  (void)arg;
  if (strcmp(source, "jinan-tasks") != 0) return 0;
  *when = 1719738000 + 600;
  return 1;
}

/* The gauges read at render time from a real state folder, and the page. */
static void test_collect_and_page(void **st) {
  (void)st;
  char *text = dk_asprintf("repository: %s/none.git\nstate: %s/state\nsources:\n"
                           "  - { name: jinan-tasks, plugin: json-api, city: jinan, url: http://x.example/ }\n"
                           "  - { name: linyi-progress, plugin: csv, city: linyi, url: http://y.example/ }\n",
                           tmpdir, tmpdir);
  struct dk_config *cfg = NULL;
  assert_int_equal(dk_config_load_string("t.yaml", text, strlen(text), tmpdir, &cfg), 0);
  free(text);
  char err[DK_ERRBUF_SIZE];
  json_t *state = json_pack("{s:s, s:s, s:i}", "last_success", "2024-06-30T17:00:00+08:00", "last_attempt",
                            "2024-06-30T17:10:00+08:00", "consecutive_failures", 2);
  assert_int_equal(dk_state_save(cfg->state, "jinan-tasks", state, err), 0);
  json_decref(state);
  json_t *errors = json_pack("[s]", "/percent: 120 is more than the maximum 100");
  json_t *rec = json_pack("{s:s, s:s, s:i}", "kind", "progress", "id", "jnly-2024/12/linyi/2024-06", "percent", 120);
  struct dk_quarantine_item q = {.source = "linyi-progress", .city = "linyi", .url = "http://y.example/",
                                 .where = "record 1", .record = rec, .errors = errors};
  char name[DK_QUARANTINE_NAME_LEN + 1];
  assert_int_equal(dk_quarantine_put(cfg->state, &q, name, err), 1);
  json_decref(rec);
  json_decref(errors);

  struct dk_metrics *m = dk_metrics_new();
  dk_metrics_add(m, "duikou_fetches_total", 3, "jinan-tasks", "jinan", "ok");
  struct dk_metrics_view v = {.m = m, .cfg = cfg, .next_run = next_run};
  struct dk_buf body = {0};
  const char *ctype = NULL;
  assert_int_equal(dk_metrics_page(&v, "/metrics", NULL, &body, &ctype), 200);
  assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
  const char *page = dk_buf_cstr(&body);
  assert_non_null(strstr(page, "duikou_fetches_total{source=\"jinan-tasks\",city=\"jinan\",result=\"ok\"} 3\n"));
  assert_non_null(strstr(page, "duikou_source_last_success_timestamp_seconds{source=\"jinan-tasks\",city=\"jinan\"} "
                               "1719738000\n"));
  assert_non_null(strstr(page, "duikou_source_last_attempt_timestamp_seconds{source=\"jinan-tasks\",city=\"jinan\"} "
                               "1719738600\n"));
  assert_non_null(strstr(page, "duikou_source_consecutive_failures{source=\"jinan-tasks\",city=\"jinan\"} 2\n"));
  assert_non_null(strstr(page, "duikou_source_consecutive_failures{source=\"linyi-progress\",city=\"linyi\"} 0\n"));
  assert_null(strstr(page, "duikou_source_last_success_timestamp_seconds{source=\"linyi-progress\""));
  assert_non_null(strstr(page, "duikou_source_next_run_timestamp_seconds{source=\"jinan-tasks\",city=\"jinan\"} "
                               "1719738600\n"));
  assert_null(strstr(page, "duikou_source_next_run_timestamp_seconds{source=\"linyi-progress\""));
  assert_non_null(strstr(page, "duikou_quarantine_records{source=\"linyi-progress\"} 1\n"));
  assert_non_null(strstr(page, "duikou_quarantine_records{source=\"jinan-tasks\"} 0\n"));
  assert_non_null(strstr(page, "duikou_build_info{version=\""));
  /* no repository yet: no conflicts family, and still a page */
  assert_null(strstr(page, "duikou_conflicts_open"));
  assert_promtool_clean(page);
  dk_buf_free(&body);

  /* a second collection reads the gauges again: never added twice */
  assert_int_equal(dk_metrics_page(&v, "/metrics", NULL, &body, &ctype), 200);
  assert_non_null(strstr(dk_buf_cstr(&body), "duikou_quarantine_records{source=\"linyi-progress\"} 1\n"));
  dk_buf_free(&body);
  assert_int_equal(dk_metrics_page(&v, "/other", NULL, &body, &ctype), 404);
  dk_buf_free(&body);

  /* the file: written whole, readable by the collector, no temporary left */
  char *path = dk_asprintf("%s/duikou.prom", tmpdir);
  assert_int_equal(dk_metrics_write_file(&v, path, err), 0);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0644);
  char *data = NULL;
  size_t len;
  assert_int_equal(dk_read_file(path, &data, &len, err), 0);
  assert_non_null(strstr(data, "duikou_quarantine_records{source=\"linyi-progress\"} 1\n"));
  free(data);
  char *cmd = dk_asprintf("ls '%s' | grep -c tmp", tmpdir);
  FILE *p = popen(cmd, "r");
  char line[16] = "";
  assert_non_null(fgets(line, sizeof line, p));
  pclose(p);
  assert_string_equal(line, "0\n");
  free(cmd);
  free(path);
  /* a folder that does not exist: an error naming it */
  char *bad = dk_asprintf("%s/no/such/dir/duikou.prom", tmpdir);
  assert_int_not_equal(dk_metrics_write_file(&v, bad, err), 0);
  assert_non_null(strstr(err, "no/such/dir"));
  free(bad);
  dk_metrics_free(m);
  dk_config_free(cfg);
}

/* An exchange's report counted: fetch and push by result, the refs other
 * sites sent by site, alarms; a remote never reached has no push. */
static void test_exchange_counted(void **st) {
  (void)st;
  struct dk_metrics *m = dk_metrics_new();
  struct dk_remote_conf rc = {.name = "shared", .push = 1};
  struct dk_exchange_ref in[3] = {{.ref = "refs/duikou/sites/linyi/sources/linyi-progress"},
                                  {.ref = "refs/duikou/sites/linyi/main"},
                                  {.ref = "refs/duikou/sites/jinan/resolutions"}};
  struct dk_exchange_ref out[1] = {{.ref = "refs/duikou/sites/province/main"}};
  struct dk_exchange_report rep = {.in = in, .nin = 3, .out = out, .nout = 1, .fetched = 1,
                                   .alarms = json_pack("[s]", "the remote refused x")};
  dk__metrics_exchange(m, &rc, 0, &rep);
  json_decref(rep.alarms);
  struct dk_exchange_report down = {.code = DK_EREMOTE, .alarms = json_array()};
  dk__metrics_exchange(m, &rc, DK_EREMOTE, &down);
  struct dk_exchange_report refused = {.code = DK_EAUTH, .fetched = 1, .alarms = json_array()};
  dk__metrics_exchange(m, &rc, DK_EAUTH, &refused);
  json_decref(down.alarms);
  json_decref(refused.alarms);
  assert_true(dk_metrics_get(m, "duikou_remote_fetches_total", "shared", "ok") == 2);
  assert_true(dk_metrics_get(m, "duikou_remote_fetches_total", "shared", "unreachable") == 1);
  assert_true(dk_metrics_get(m, "duikou_remote_pushes_total", "shared", "ok") == 1);
  assert_true(dk_metrics_get(m, "duikou_remote_pushes_total", "shared", "auth_error") == 1);
  assert_true(dk_metrics_get(m, "duikou_remote_pushes_total", "shared", "unreachable") == 0);
  assert_true(dk_metrics_get(m, "duikou_remote_refs_pushed_total", "shared") == 1);
  assert_true(dk_metrics_get(m, "duikou_remote_alarms_total", "shared") == 1);
  assert_true(dk_metrics_get(m, "duikou_site_inputs_received_total", "linyi") == 2);
  assert_true(dk_metrics_get(m, "duikou_site_inputs_received_total", "jinan") == 1);
  char *text = render(m);
  assert_promtool_clean(text);
  free(text);
  dk_metrics_free(m);
}

/* promtool does find trouble: the check is not vacuous. */
static void test_promtool_finds_trouble(void **st) {
  (void)st;
  char *out = NULL;
  int rc = promtool("# TYPE x_seconds counter\nx_seconds 1\n", &out);
  assert_true(rc != 0 || out[0] != '\0');
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_declare_checks_names), cmocka_unit_test(test_update_rules),
    cmocka_unit_test(test_escaping),             cmocka_unit_test(test_histogram),
    cmocka_unit_test(test_sorted),               cmocka_unit_test(test_collect_and_page),
    cmocka_unit_test(test_exchange_counted),     cmocka_unit_test(test_promtool_finds_trouble),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

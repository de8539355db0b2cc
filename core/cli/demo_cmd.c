/* `duikou demo`: the whole path on embedded defaults, with no network.
 *
 * The city simulator (contrib/city-sim) is started in this process on a
 * loopback port; a configuration naming its three sources — Jinan's task
 * register (json-api, paginated, behind a bearer token), Linyi's progress
 * export (csv in GBK) and the published plan documents (plan-text) — is built
 * in memory; one sync round runs on the same loop into ./duikou-demo.git. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "citysim.h"
#include "commands.h"
#include "options.h"
#include "config.h"
#include "log.h"
#include "util.h"

struct dk__demo {
  struct csim *sim;
  int done;
};

static void dk__sim_closed(void *arg) { ((struct dk__demo *)arg)->done = 1; }

static void dk__sync_done(struct dk_sync *sync, void *arg) {
  struct dk__demo *d = arg;
  csim_close(d->sim, dk__sim_closed, d);
}

#define DK__DEMO_DATE "2024-06-30"
#define DK__DEMO_TOKEN_ENV "DUIKOU_DEMO_JINAN_TOKEN"

static void dk__demo_usage(FILE *f) {
  fprintf(f, "usage: duikou demo [--dir DIR] [--date YYYY-MM-DD]\n\n"
             "Starts the simulated Jinan and Linyi sources on loopback — Jinan's task register\n"
             "(a paginated JSON API behind a bearer token), Linyi's progress export (a GBK CSV)\n"
             "and the published plan documents — syncs them into DIR/duikou-demo.git and\n"
             "prints where to look. Needs no network. Running it again makes no new commit;\n"
             "running it with a later --date brings the progress made in between.\n\n"
             "      --dir DIR          where to put duikou-demo.git and duikou-demo/ (default: here)\n"
             "      --date DATE        the simulated day (default " DK__DEMO_DATE ")\n%s",
          dk_cli_common_help);
}

/* A fresh token for the simulator, also put in DK__DEMO_TOKEN_ENV: it reaches
 * the sync the way a real secret would, by the variable the configuration
 * names. Writes into token (the caller's buffer of n bytes). */
static void dk__demo_token(char *token, size_t n) {
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  snprintf(token, n, "demo-%08x%08x", (unsigned)rand(), (unsigned)rand());
  setenv(DK__DEMO_TOKEN_ENV, token, 1);
}

/* Check the simulated day and start the simulator on loopback into d->sim.
 * Returns 0, or the exit status after saying why (the loop then closed). */
static int dk__demo_start_sim(uv_loop_t *loop, const struct dk_cli_opts *o, const char *date, const char *token,
                              struct dk__demo *d) {
  struct tm tm = {0};
  const char *end = strptime(date, "%Y-%m-%d", &tm);
  if (end == NULL || *end != '\0' || strlen(date) != 10 || tm.tm_year < 100 || tm.tm_year > 199) {
    fprintf(stderr, "duikou demo: --date: \"%s\" is not a date YYYY-MM-DD between 2000 and 2099\n", date);
    uv_loop_close(loop);
    return DK_EXIT_USAGE;
  }
  struct csim_options so = {.host = "127.0.0.1", .port = 0, .quiet = 1, .date = date, .token = token};
  int rc = csim_start(loop, &so, &d->sim);
  if (rc != 0) {
    if (rc == UV_EINVAL && o->date)
      fprintf(stderr, "duikou demo: --date: \"%s\" is not a date YYYY-MM-DD between 2000 and 2099\n", o->date);
    else
      fprintf(stderr, "duikou demo: cannot start the city simulator on loopback: %s\n", uv_strerror(rc));
    uv_run(loop, UV_RUN_DEFAULT); /* let a half-opened listener finish closing */
    uv_loop_close(loop);
    return rc == UV_EINVAL && o->date ? DK_EXIT_USAGE : DK_EXIT_FAILED;
  }
  return 0;
}

/* The embedded configuration: the three simulated sources on port. Returns
 * it malloc'd; the caller frees it. */
static char *dk__demo_yaml(int port) {
  return dk_asprintf(
      "repository: duikou-demo.git\n"
      "state: duikou-demo/state\n"
      "sources:\n"
      "  - name: jinan-tasks\n"
      "    plugin: json-api\n"
      "    city: jinan\n"
      "    url: http://127.0.0.1:%d/jinan/api/tasks?page=1&per_page=10\n"
      "    every: 30m\n"
      "    auth: { bearer_env: " DK__DEMO_TOKEN_ENV " }\n"
      "    options:\n"
      "      records: /data/items\n"
      "      next: /links/next\n"
      "      constants: { kind: task }\n"
      "      map: { id: /code, plan: /plan_code, number: /no, title: /name, text: /content,\n"
      "             section: /category, units: /depts, status: /state, updated_at: /modified }\n"
      "  - name: linyi-progress\n"
      "    plugin: csv\n"
      "    city: linyi\n"
      "    url: http://127.0.0.1:%d/linyi/export/progress.csv\n"
      "    cron: \"0 */2 * * *\"\n"
      "    options:\n"
      "      encoding: GBK\n"
      "      task_prefix: jnly-2024/\n"
      "      columns: { 任务编号: task, 进展情况: summary, 完成比例: percent, 填报单位: unit, 填报时间: reported_at }\n"
      "  - name: plan-documents\n"
      "    plugin: plan-text\n"
      "    city: other\n"
      "    url: http://127.0.0.1:%d/plans/jnly-2023.md\n"
      "    every: 1d\n"
      "    options: { plans: [jnly-2023-division, jnly-2023], units: true }\n",
      port, port, port);
}

/* Load the embedded configuration for port, relative to absdir. Returns it
 * (the caller frees it), or NULL after printing its errors. */
static struct dk_config *dk__demo_config(int port, const char *absdir) {
  char *yaml = dk__demo_yaml(port);
  struct dk_config *cfg = NULL;
  int rc = dk_config_load_string("(demo)", yaml, strlen(yaml), absdir, &cfg);
  free(yaml);
  if (rc != 0) {
    size_t i;
    json_t *e;
    json_array_foreach(cfg->errors, i, e) fprintf(stderr, "duikou demo: %s\n", json_string_value(e));
    dk_config_free(cfg);
    return NULL;
  }
  return cfg;
}

/* Run one sync round of cfg on the loop; the simulator closes when it ends,
 * then the loop. Prints the results; returns the exit status. */
static int dk__demo_sync(uv_loop_t *loop, struct dk_config *cfg, const char *plugin_dir, struct dk__demo *d) {
  char err[DK_ERRBUF_SIZE];
  struct dk_sync_opts opts = {.plugin_dir = plugin_dir};
  struct dk_sync *sync = NULL;
  int rc = dk_sync_start(loop, cfg, &opts, dk__sync_done, d, &sync, err);
  if (rc != 0) {
    fprintf(stderr, "duikou demo: %s\n", err);
    csim_close(d->sim, dk__sim_closed, d);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  int status = DK_EXIT_FAILED;
  if (sync) {
    dk_cli_print_results(stdout, sync);
    status = dk_sync_failed(sync) ? DK_EXIT_FAILED : DK_EXIT_OK;
    dk_sync_free(sync);
  }
  return status;
}

/* The closing text: where the snapshot repository is and how to look at it. */
static void dk__demo_print_next(const char *repository) {
  printf("\nThe snapshot repository is %s\n", repository);
  printf("Look at it with:\n"
         "  git --git-dir %s log --first-parent --stat main\n"
         "  git --git-dir %s show main:tasks/jnly-2024/12.json\n"
         "  git --git-dir %s show main:progress/jnly-2024/12/linyi/2024-06.json\n"
         "  duikou log --repo %s jnly-2024/12      (who changed what, when, from which system)\n"
         "  duikou blame --repo %s jnly-2024/12\n"
         "Run `duikou demo` again: nothing changed, so no new commit is made.\n"
         "Run `duikou demo --date 2024-09-30`: three months later, the progress made is committed.\n",
         repository, repository, repository, repository, repository);
}

int dk_cmd_demo(int argc, char **argv) {
  struct dk_cli_opts o;
  int rc = dk_cli_parse_opts("demo", dk__demo_usage, argc, argv, &o, 0, 1);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  if (o.positional < argc) {
    fprintf(stderr, "duikou demo: unexpected argument \"%s\"\n", argv[o.positional]);
    dk__demo_usage(stderr);
    return DK_EXIT_USAGE;
  }
  /* The demo prints its own summary: only warnings and errors are logged
   * unless asked otherwise. */
  if (!o.log_level_set) dk_log_set_level(DK_LOG_WARN);
  const char *dir = o.dir ? o.dir : ".";
  char err[DK_ERRBUF_SIZE];
  if (dk_mkdir_p(dir, 0, err) != 0) {
    fprintf(stderr, "duikou demo: %s\n", err);
    return DK_EXIT_FAILED;
  }
  char *absdir = dk_path_abs(NULL, dir);

  uv_loop_t loop;
  uv_loop_init(&loop);
  struct dk__demo d = {0};
  char token[64];
  dk__demo_token(token, sizeof token);
  const char *date = o.date ? o.date : DK__DEMO_DATE;
  if ((rc = dk__demo_start_sim(&loop, &o, date, token, &d)) != 0) {
    free(absdir);
    return rc;
  }
  int port = csim_port(d.sim);
  struct dk_config *cfg = dk__demo_config(port, absdir);
  if (cfg == NULL) {
    csim_close(d.sim, dk__sim_closed, &d);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(absdir);
    return DK_EXIT_FAILED;
  }
  dk_config_apply_timezone(cfg);
  printf("duikou demo: simulated cities on http://127.0.0.1:%d/ (loopback only), simulated day %s\n", port, date);
  int status = dk__demo_sync(&loop, cfg, o.plugin_dir, &d);
  if (status == DK_EXIT_OK) dk__demo_print_next(cfg->repository);
  dk_config_free(cfg);
  free(absdir);
  return status;
}

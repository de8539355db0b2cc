/* `duikou demo`: the whole path on embedded defaults, with no network.
 *
 * The city simulator (contrib/city-sim) is started in this process on a
 * loopback port; a configuration naming it is built in memory; one sync round
 * runs on the same loop into ./duikou-demo.git. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "citysim.h"
#include "cli.h"
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

static void dk__demo_usage(FILE *f) {
  fprintf(f, "usage: duikou demo [--dir DIR]\n\n"
             "Starts simulated Jinan and Linyi sources on loopback (data from the published\n"
             "济南—临沂对口合作2024年工作要点), syncs them into DIR/duikou-demo.git and prints\n"
             "where to look. Needs no network. Running it again makes no new commit.\n\n"
             "      --dir DIR          where to put duikou-demo.git and duikou-demo/ (default: here)\n%s",
          dk_cli_common_help);
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
  const char *dir = o.dir ? o.dir : ".", *plugin_dir = o.plugin_dir;
  char err[DK_ERRBUF_SIZE];
  if (dk_mkdir_p(dir, 0, err) != 0) {
    fprintf(stderr, "duikou demo: %s\n", err);
    return DK_EXIT_FAILED;
  }
  char *absdir = dk_path_abs(NULL, dir);

  uv_loop_t loop;
  uv_loop_init(&loop);
  struct dk__demo d = {0};
  struct csim_options so = {.host = "127.0.0.1", .port = 0, .quiet = 1};
  rc = csim_start(&loop, &so, &d.sim);
  if (rc != 0) {
    fprintf(stderr, "duikou demo: cannot start the city simulator on loopback: %s\n", uv_strerror(rc));
    free(absdir);
    uv_run(&loop, UV_RUN_DEFAULT); /* let a half-opened listener finish closing */
    uv_loop_close(&loop);
    return DK_EXIT_FAILED;
  }
  int port = csim_port(d.sim);
  char *yaml = dk_asprintf(
      "repository: duikou-demo.git\n"
      "state: duikou-demo/state\n"
      "sources:\n"
      "  - name: jinan-tasks\n"
      "    plugin: json-api\n"
      "    city: jinan\n"
      "    url: http://127.0.0.1:%d/jinan/tasks.json\n"
      "    every: 30m\n",
      port);
  struct dk_config *cfg = NULL;
  rc = dk_config_load_string("(demo)", yaml, strlen(yaml), absdir, &cfg);
  free(yaml);
  if (rc != 0) {
    size_t i;
    json_t *e;
    json_array_foreach(cfg->errors, i, e) fprintf(stderr, "duikou demo: %s\n", json_string_value(e));
    dk_config_free(cfg);
    csim_close(d.sim, dk__sim_closed, &d);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(absdir);
    return DK_EXIT_FAILED;
  }
  printf("duikou demo: simulated cities on http://127.0.0.1:%d/ (loopback only)\n", port);
  struct dk_sync_opts opts = {.plugin_dir = plugin_dir};
  struct dk_sync *sync = NULL;
  rc = dk_sync_start(&loop, cfg, &opts, dk__sync_done, &d, &sync, err);
  if (rc != 0) {
    fprintf(stderr, "duikou demo: %s\n", err);
    csim_close(d.sim, dk__sim_closed, &d);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  int status = DK_EXIT_FAILED;
  if (sync) {
    dk_cli_print_results(stdout, sync);
    status = dk_sync_failed(sync) ? DK_EXIT_FAILED : DK_EXIT_OK;
    dk_sync_free(sync);
  }
  if (status == DK_EXIT_OK) {
    printf("\nThe snapshot repository is %s\n", cfg->repository);
    printf("Look at it with:\n"
           "  git --git-dir %s log --stat main\n"
           "  git --git-dir %s show main:tasks/jnly-2024/12.json\n"
           "Run `duikou demo` again: nothing changed, so no new commit is made.\n",
           cfg->repository, cfg->repository);
  }
  dk_config_free(cfg);
  free(absdir);
  return status;
}

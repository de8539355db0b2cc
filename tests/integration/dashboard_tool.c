/* Test driver of the dashboard: one page per run, rendered as the status
 * listener would serve it.
 *
 *   dashboard_tool CONFIG PATH [QUERY]
 *
 * Prints "STATUS CTYPE MS" on stderr (MS: the render's milliseconds) and
 * the body on stdout; a next run 10 minutes ahead is reported for every
 * source. Exit 0 when a page was rendered (whatever its status), 2 when the
 * configuration does not load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dashboard.h"
#include "store.h"

static int next_run(void *arg, const char *source, time_t *when) {
  (void)source;
  *when = *(time_t *)arg;
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: dashboard_tool CONFIG PATH [QUERY]\n");
    return 2;
  }
  struct dk_config *cfg = NULL;
  if (dk_config_load(argv[1], &cfg) != 0) {
    size_t i;
    json_t *e;
    json_array_foreach(cfg->errors, i, e) fprintf(stderr, "%s\n", json_string_value(e));
    dk_config_free(cfg);
    return 2;
  }
  dk_config_apply_timezone(cfg);
  dk_store_global_init();
  time_t next = time(NULL) + 600;
  struct dk_dashboard_opts o = {.cfg = cfg, .next_run = next_run, .next_arg = &next};
  struct dk_buf body = {0};
  const char *ctype = NULL;
  char err[DK_ERRBUF_SIZE];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int status = dk_dashboard_page(&o, argv[2], argc > 3 ? argv[3] : NULL, &body, &ctype, err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  fprintf(stderr, "%d %s %.1f%s%s\n", status, ctype, ms, err[0] ? " " : "", err);
  fwrite(body.data, 1, body.len, stdout);
  dk_buf_free(&body);
  dk_config_free(cfg);
  dk_store_global_shutdown();
  return 0;
}

/* `duikou health`: what the daemon's /healthz says, without a daemon — for
 * a monitoring check run from cron, and for tests. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "escape.h"
#include "health.h"
#include "options.h"
#include "status.h"

static void dk__h_usage(FILE *f) {
  fprintf(f, "usage: duikou health [-c FILE] [--json]\n\n"
             "The health of the data, as the status listener's /healthz says it: \"ok\", or one\n"
             "line per reason (a source that missed its syncs or whose share of valid records\n"
             "fell, conflicts too old or too many, the repository not writable, a remote down\n"
             "too long, a site that diverges). Exit status 0 when healthy, 1 when not.\n\n"
             "      --json             the /status document instead (health and each source's,\n"
             "                         remote's and site's state) on stdout\n"
             "%s",
          dk_cli_common_help);
}

int dk_cmd_health(int argc, char **argv) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
    {"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  struct dk_cli_opts o = {.config = getenv("DUIKOU_CONFIG")};
  int json = 0, ch;
  optind = 1;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': o.config = optarg; break;
    case 'j': json = 1; break;
    case 'L':
      if (dk_cli_log_level("health", optarg) != 0) return DK_EXIT_USAGE;
      o.log_level_set = 1;
      break;
    case 'h': dk__h_usage(stdout); return DK_EXIT_OK;
    default:
      fprintf(stderr, "duikou health: unknown option %s\n", argv[optind - 1]);
      dk__h_usage(stderr);
      return DK_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "duikou health: unexpected argument \"%s\"\n", argv[optind]);
    dk__h_usage(stderr);
    return DK_EXIT_USAGE;
  }
  struct dk_config *cfg = dk_cli_load_config(o.config, &o);
  if (cfg == NULL) return DK_EXIT_USAGE;
  time_t now = time(NULL);
  int status;
  if (json) {
    json_t *doc = dk_status_json(cfg, NULL, now);
    char *text = json_dumps(doc, JSON_INDENT(2));
    printf("%s\n", text ? text : "null");
    free(text);
    status = json_is_true(json_object_get(json_object_get(doc, "health"), "ok")) ? DK_EXIT_OK : DK_EXIT_FAILED;
    json_decref(doc);
  } else {
    json_t *reasons = dk_health_check(cfg, now);
    size_t i;
    json_t *r;
    if (json_array_size(reasons) == 0) printf("ok\n");
    json_array_foreach(reasons, i, r) printf("%s\n", dk_esc_tmp(json_string_value(r)));
    status = json_array_size(reasons) == 0 ? DK_EXIT_OK : DK_EXIT_FAILED;
    json_decref(reasons);
  }
  dk_config_free(cfg);
  return status;
}

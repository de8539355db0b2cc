/* `duikou report`: the period report as a document (report.h), for those
 * who need a file rather than the dashboard.
 *
 * Exit status: 0 written; 1 no repository, no report of that period on
 * main, or the file cannot be written (nothing is left behind then); 2
 * usage errors (an unknown option, a period that is not YYYY-MM, an unknown
 * format, no configuration). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "config.h"
#include "fsafe.h"
#include "report.h"
#include "util.h"

/* Write `data` to `path` as every file duikou keeps is written
 * (fsafe.h: a temporary file beside it, fsync, rename, never through a
 * link), so that a failed write leaves no half file. Returns 0 or DK_EIO
 * with err. */
static int dk__write(const char *path, const char *data, size_t len, char *err) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? (slash == path ? dk_strdup("/") : dk_strndup(path, (size_t)(slash - path))) : dk_strdup(".");
  int rc = dk_fs_write_atomic(dir, slash ? slash + 1 : path, data, len, err);
  free(dir);
  return rc != 0 ? DK_EIO : 0;
}

int dk_cmd_report(int argc, char **argv, void (*usage)(FILE *f)) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'}, {"repo", required_argument, NULL, 'R'},
    {"period", required_argument, NULL, 'p'}, {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'}, {"log-level", required_argument, NULL, 'L'},
    {"plugin-dir", required_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  struct dk_cli_opts cli = {.config = getenv("DUIKOU_CONFIG")};
  const char *repo = NULL, *period = NULL, *format = "html", *output = NULL;
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
    switch (ch) {
      case 'c': cli.config = optarg; break;
      case 'R': repo = optarg; break;
      case 'p': period = optarg; break;
      case 'f': format = optarg; break;
      case 'o': output = optarg; break;
      case 'P': cli.plugin_dir = optarg; break;
      case 'L':
        if (dk_cli_log_level("report", optarg) != 0) return DK_EXIT_USAGE;
        cli.log_level_set = 1;
        break;
      case 'h': usage(stdout); return DK_EXIT_OK;
      default:
        fprintf(stderr, "duikou report: unknown option, or option without its value: %s\n",
                optind - 1 < argc ? argv[optind - 1] : "?");
        usage(stderr);
        return DK_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "duikou report: unexpected argument \"%s\"\n", argv[optind]);
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  if (period == NULL) {
    fprintf(stderr, "duikou report: give the month with --period YYYY-MM\n");
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  if (!dk_report_period_ok(period)) {
    fprintf(stderr, "duikou report: --period: \"%s\" is not a month as YYYY-MM (2024-06)\n", period);
    return DK_EXIT_USAGE;
  }
  enum dk_report_format fmt;
  if (strcmp(format, "html") == 0) fmt = DK_REPORT_HTML;
  else if (strcmp(format, "csv") == 0) fmt = DK_REPORT_CSV;
  else {
    fprintf(stderr, "duikou report: --format: \"%s\" is neither html nor csv\n", format);
    return DK_EXIT_USAGE;
  }
  char *path = NULL;
  if (repo == NULL || cli.config) {
    struct dk_config *cfg = dk_cli_load_config(cli.config, &cli);
    if (cfg == NULL) {
      if (cli.config == NULL)
        fprintf(stderr, "duikou report: name the repository with --repo PATH, or its configuration with -c FILE\n");
      return DK_EXIT_USAGE;
    }
    path = dk_strdup(repo ? repo : cfg->repository);
    dk_config_free(cfg);
  } else {
    path = dk_strdup(repo);
  }
  struct dk_buf out = {0};
  size_t n = 0;
  char err[DK_ERRBUF_SIZE];
  int rc = dk_report_render(path, period, fmt, &out, &n, err);
  free(path);
  if (rc != 0) {
    fprintf(stderr, "duikou report: %s\n", err);
    return rc == DK_EINVAL ? DK_EXIT_USAGE : DK_EXIT_FAILED;
  }
  char *def = NULL;
  if (output == NULL) output = def = dk_asprintf("duikou-report-%s.%s", period, format);
  if (strcmp(output, "-") == 0) {
    rc = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0 ? 0 : DK_EIO;
    if (rc != 0) dk_failf(err, DK_EIO, "cannot write the standard output: %m");
  } else {
    rc = dk__write(output, out.data, out.len, err);
  }
  if (rc == 0 && strcmp(output, "-") != 0)
    printf("duikou report: %zu task%s of %s written to %s\n", n, n == 1 ? "" : "s", period, output);
  else if (rc != 0)
    fprintf(stderr, "duikou report: %s\n", err);
  dk_buf_free(&out);
  free(def);
  return rc == 0 ? DK_EXIT_OK : DK_EXIT_FAILED;
}

#include "options.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#ifndef DK_PLUGINDIR
#define DK_PLUGINDIR "/usr/lib/duikou/plugins"
#endif

const char dk_cli_common_help[] =
    "  -c, --config FILE      configuration file (default $DUIKOU_CONFIG, else /etc/duikou/duikou.yaml)\n"
    "      --plugin-dir DIR   plugin folder (default $DUIKOU_PLUGIN_DIR, then `plugins:` of the\n"
    "                         configuration, then " DK_PLUGINDIR ")\n"
    "      --log-level LEVEL  error, warn, info (default) or debug\n"
    "  -h, --help             this help\n";

int dk_cli_log_level(const char *cmd, const char *arg) {
  enum dk_log_level lvl;
  if (dk_log_parse_level(arg, &lvl) != 0) {
    fprintf(stderr, "duikou %s: --log-level: \"%s\" is not one of error, warn, info, debug\n", cmd, arg);
    return DK_EXIT_USAGE;
  }
  dk_log_set_level(lvl);
  return 0;
}

struct dk_config *dk_cli_load_config(const char *path, const struct dk_cli_opts *o) {
  if (path == NULL) path = "/etc/duikou/duikou.yaml";
  struct dk_config *cfg = NULL;
  int rc = dk_config_load(path, &cfg);
  if (rc != 0) {
    size_t i;
    json_t *e;
    json_array_foreach(cfg->errors, i, e) fprintf(stderr, "%s\n", json_string_value(e));
    dk_config_free(cfg);
    return NULL;
  }
  if (cfg->log_level) {
    enum dk_log_level lvl;
    if (!o->log_level_set && dk_log_parse_level(cfg->log_level, &lvl) == 0) dk_log_set_level(lvl);
  }
  dk_config_apply_timezone(cfg);
  return cfg;
}

int dk_cli_parse_opts(const char *name, void (*usage)(FILE *), int argc, char **argv, struct dk_cli_opts *o,
                      int with_source, int with_dir) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"plugin-dir", required_argument, NULL, 'P'},
    {"log-level", required_argument, NULL, 'L'},
    {"source", required_argument, NULL, 's'},
    {"metrics-file", required_argument, NULL, 'M'},
    {"dir", required_argument, NULL, 'd'},
    {"date", required_argument, NULL, 'D'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->config = getenv("DUIKOU_CONFIG");
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
    switch (ch) {
      case 'c': o->config = optarg; break;
      case 'P': o->plugin_dir = optarg; break;
      case 'L':
        if (dk_cli_log_level(name, optarg) != 0) return DK_EXIT_USAGE;
        o->log_level_set = 1;
        break;
      case 's':
        if (!with_source) goto bad;
        o->source = optarg;
        break;
      case 'M':
        if (!with_source) goto bad;
        o->metrics_file = optarg;
        break;
      case 'd':
        if (!with_dir) goto bad;
        o->dir = optarg;
        break;
      case 'D':
        if (!with_dir) goto bad;
        o->date = optarg;
        break;
      case 'h':
        usage(stdout);
        return -1;
      default:
      bad:
        if (optopt) fprintf(stderr, "duikou %s: unknown option -%c\n", name, optopt);
        else fprintf(stderr, "duikou %s: unknown option %s\n", name, argv[optind - 1]);
        usage(stderr);
        return DK_EXIT_USAGE;
    }
  }
  o->positional = optind;
  return DK_EXIT_OK;
}

void dk_cli_print_results(FILE *f, const struct dk_sync *sync) {
  size_t n;
  const struct dk_source_result *res = dk_sync_results(sync, &n);
  for (size_t i = 0; i < n; i++) {
    const struct dk_source_result *r = &res[i];
    switch (r->outcome) {
      case DK_SOURCE_COMMITTED:
        fprintf(f, "%-20s committed %.12s: %zu records, %zu changed, %zu invalid, %zu rejected\n", r->name,
                r->commit, r->records, r->changed, r->invalid, r->rejected);
        break;
      case DK_SOURCE_UNCHANGED:
        if (r->invalid || r->rejected)
          fprintf(f, "%-20s unchanged: %zu records, %zu invalid, %zu rejected (in quarantine), no commit\n", r->name,
                  r->records, r->invalid, r->rejected);
        else
          fprintf(f, "%-20s unchanged: %zu records, no commit\n", r->name, r->records);
        break;
      case DK_SOURCE_NOT_MODIFIED:
        fprintf(f, "%-20s not modified (HTTP 304), no commit\n", r->name);
        break;
      case DK_SOURCE_CANCELED:
        fprintf(f, "%-20s canceled: %s\n", r->name, r->error);
        break;
      default:
        fprintf(f, "%-20s FAILED: %s\n", r->name, r->error);
        if (r->partial && r->commit[0])
          fprintf(f, "%-20s (the %zu valid records of the %zu page%s received were committed: %.12s)\n", "",
                  r->records, r->pages, r->pages == 1 ? "" : "s", r->commit);
        else if (r->partial)
          fprintf(f, "%-20s (the %zu valid records of the %zu page%s received changed nothing)\n", "",
                  r->records, r->pages, r->pages == 1 ? "" : "s");
    }
  }
}


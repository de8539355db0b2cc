/* What the commands share: exit codes, the options every command takes,
 * loading the configuration, printing a round's results. */
#ifndef DK_CLI_OPTIONS_H
#define DK_CLI_OPTIONS_H

#include <stdio.h>
#include "sync.h"

/* Exit codes, documented in README.md. */
enum { DK_EXIT_OK = 0, DK_EXIT_FAILED = 1, DK_EXIT_USAGE = 2 };

/* Options every command takes (and a few some take). */
struct dk_cli_opts {
  const char *config;     /* -c, else $DUIKOU_CONFIG, else NULL */
  const char *plugin_dir; /* --plugin-dir */
  const char *source;     /* --source (with_source) */
  const char *metrics_file; /* --metrics-file (with_source: sync's) */
  const char *dir;        /* --dir (with_dir) */
  const char *date;       /* --date (with_dir: the demo's options) */
  int log_level_set;      /* --log-level was given */
  int positional;         /* index in argv of the first non-option */
};

/* Apply --log-level ARG. Returns 0, or DK_EXIT_USAGE after saying on stderr
 * why ARG is not a level. */
int dk_cli_log_level(const char *cmd, const char *arg);

/* Help text of the options every command takes. */
extern const char dk_cli_common_help[];

/* Parse a subcommand's options; argv[0] is the subcommand. --log-level is
 * applied at once. Returns DK_EXIT_OK, DK_EXIT_USAGE after printing why and
 * the usage on stderr, or -1 when --help was given (usage printed on stdout). */
int dk_cli_parse_opts(const char *name, void (*usage)(FILE *f), int argc, char **argv, struct dk_cli_opts *o,
                      int with_source, int with_dir);

/* Load the configuration at `path` (NULL: /etc/duikou/duikou.yaml),
 * printing every problem on stderr; NULL then. Its log_level applies unless
 * --log-level was given, and its time zone becomes the process's. The caller
 * frees it with dk_config_free. */
struct dk_config *dk_cli_load_config(const char *path, const struct dk_cli_opts *o);

/* Print a round's results, one line per source, to f. */
void dk_cli_print_results(FILE *f, const struct dk_sync *sync);

#endif

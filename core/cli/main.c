/* duikou: the command line. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "commands.h"
#include "options.h"
#include "progress.h"
#include "config.h"
#include "loader.h"
#include "log.h"
#include "schemas.h"
#include "store.h"
#include "sync.h"
#include "metrics.h"
#include "util.h"

#ifndef DK_VERSION
#define DK_VERSION "0"
#endif

struct dk__cmd {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
  const char *usage; /* after "duikou NAME " */
  const char *help;  /* options, one per line */
};

static const struct dk__cmd *dk__find(const char *name);
static void dk__usage(FILE *f, const struct dk__cmd *c);
static const struct dk__cmd *dk__current;
static void dk__usage_current(FILE *f);

static int dk__parse(const struct dk__cmd *c, int argc, char **argv, struct dk_cli_opts *o, int with_source,
                     int with_dir);

static int dk__cmd_sync(int argc, char **argv) {
  const struct dk__cmd *c = dk__find("sync");
  struct dk_cli_opts o;
  int rc = dk__parse(c, argc, argv, &o, 1, 0);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  if (o.positional < argc) {
    fprintf(stderr, "duikou sync: unexpected argument \"%s\"\n", argv[o.positional]);
    dk__usage(stderr, c);
    return DK_EXIT_USAGE;
  }
  struct dk_config *cfg = dk_cli_load_config(o.config, &o);
  if (cfg == NULL) return DK_EXIT_USAGE;
  struct dk_metrics *metrics = o.metrics_file ? dk_metrics_new() : NULL;
  struct dk_sync_opts so = {.only_source = o.source, .plugin_dir = o.plugin_dir, .metrics = metrics};
  struct dk_sync *sync = NULL;
  char err[DK_ERRBUF_SIZE];
  struct dk_cli_progress *progress = dk_cli_progress_new(stdout, &so);
  rc = dk_sync_run(cfg, &so, &sync, err);
  dk_cli_progress_free(progress);
  if (rc != 0) {
    fprintf(stderr, "duikou sync: %s\n", err);
    dk_metrics_free(metrics);
    dk_config_free(cfg);
    return rc == DK_ENOENT ? DK_EXIT_USAGE : DK_EXIT_FAILED;
  }
  dk_cli_print_results(stdout, sync);
  int failed = dk_sync_failed(sync);
  struct dk_metrics_view mv = {.m = metrics, .cfg = cfg};
  if (metrics && dk_metrics_write_file(&mv, o.metrics_file, err) != 0) {
    fprintf(stderr, "duikou sync: the metrics file: %s\n", err);
    failed = 1;
  }
  dk_metrics_free(metrics);
  dk_sync_free(sync);
  dk_config_free(cfg);
  return failed ? DK_EXIT_FAILED : DK_EXIT_OK;
}

/* What a sync would refuse at the start of a run: each source's plugin
 * must be in the plugin folder and take the source's options. Prints one
 * line per problem; returns how many. */
static int dk__check_plugins(const struct dk_config *cfg, const char *plugin_dir) {
  struct dk_loader ld = {0};
  const char *dir = dk_loader_pick_dir(plugin_dir, cfg->plugins);
  int bad = 0;
  if (dk_loader_scan(&ld, dir) != 0) {
    fprintf(stderr, "%s: %s\n", cfg->path, ld.err);
    dk_loader_free(&ld);
    return 1;
  }
  for (size_t i = 0; i < cfg->nsources; i++) {
    const struct dk_source_conf *src = &cfg->sources[i];
    char err[DK_ERRBUF_SIZE];
    const struct dk_plugin *p = dk_loader_find(&ld, src->plugin);
    if (p == NULL) {
      fprintf(stderr, "%s: %s/plugin: %s\n", cfg->path, src->pointer, ld.err);
      bad++;
    } else if (dk_schemas_check_options(p, src->options, src->pointer, err) != 0) {
      fprintf(stderr, "%s: %s/options: %s\n", cfg->path, src->pointer, err);
      bad++;
    }
  }
  dk_loader_free(&ld);
  return bad;
}

static int dk__cmd_check_config(int argc, char **argv) {
  const struct dk__cmd *c = dk__find("check-config");
  struct dk_cli_opts o;
  int rc = dk__parse(c, argc, argv, &o, 0, 0);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  const char *path = o.positional < argc ? argv[o.positional] : o.config;
  if (o.positional + 1 < argc) {
    fprintf(stderr, "duikou check-config: one file at a time\n");
    return DK_EXIT_USAGE;
  }
  struct dk_config *cfg = dk_cli_load_config(path, &o);
  if (cfg == NULL) return DK_EXIT_USAGE;
  int bad = dk__check_plugins(cfg, o.plugin_dir);
  if (bad == 0)
    printf("%s: ok (%zu source%s; repository %s; state %s)\n", cfg->path, cfg->nsources,
           cfg->nsources == 1 ? "" : "s", cfg->repository, cfg->state);
  dk_config_free(cfg);
  return bad ? DK_EXIT_USAGE : DK_EXIT_OK;
}

static int dk__cmd_plugins(int argc, char **argv) {
  const struct dk__cmd *c = dk__find("plugins");
  struct dk_cli_opts o;
  int rc = dk__parse(c, argc, argv, &o, 0, 0);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  const char *configured = NULL;
  struct dk_config *cfg = NULL;
  if (o.config && o.plugin_dir == NULL) {
    cfg = dk_cli_load_config(o.config, &o);
    if (cfg == NULL) return DK_EXIT_USAGE;
    configured = cfg->plugins;
  }
  struct dk_loader ld = {0};
  const char *dir = dk_loader_pick_dir(o.plugin_dir, configured);
  rc = dk_loader_scan(&ld, dir);
  if (rc != 0) {
    fprintf(stderr, "duikou plugins: %s\n", ld.err);
    dk_loader_free(&ld);
    dk_config_free(cfg);
    return DK_EXIT_FAILED;
  }
  printf("plugin folder: %s\n", dir);
  int bad = 0;
  for (size_t i = 0; i < ld.nentries; i++) {
    const struct dk_plugin_entry *e = &ld.entries[i];
    if (e->plugin)
      printf("  %-12s %-8s %s\n               %s\n", e->plugin->name, e->plugin->version ? e->plugin->version : "?",
             e->plugin->description ? e->plugin->description : "", e->path);
    else {
      printf("  REFUSED      %s\n", e->error);
      bad = 1;
    }
  }
  if (ld.nentries == 0) printf("  (no plugins found)\n");
  dk_loader_free(&ld);
  dk_config_free(cfg);
  return bad ? DK_EXIT_FAILED : DK_EXIT_OK;
}

static int dk__cmd_version(int argc, char **argv) {
  const struct dk__cmd *c = dk__find("version");
  struct dk_cli_opts o;
  int rc = dk__parse(c, argc, argv, &o, 0, 0);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  int maj, min, rev;
  dk_store_version(&maj, &min, &rev);
  printf("duikou %s (plugin ABI %u)\n", DK_VERSION, DK_PLUGIN_ABI_VERSION);
  printf("libuv %s, %s, libgit2 %d.%d.%d, jansson %s\n", uv_version_string(), curl_version(), maj, min, rev,
         JANSSON_VERSION);
  return DK_EXIT_OK;
}

static int dk__cmd_demo(int argc, char **argv) { return dk_cmd_demo(argc, argv); }
static int dk__cmd_daemon(int argc, char **argv) { return dk_cmd_daemon(argc, argv); }
static int dk__cmd_validate(int argc, char **argv) { return dk_cmd_validate(argc, argv); }
static int dk__cmd_parse(int argc, char **argv) { return dk_cmd_parse(argc, argv); }
static int dk__cmd_quarantine(int argc, char **argv) { return dk_cmd_quarantine(argc, argv); }
static int dk__cmd_exchange(int argc, char **argv) { return dk_cmd_exchange(argc, argv); }
static int dk__cmd_sites(int argc, char **argv) { return dk_cmd_sites(argc, argv); }
static int dk__cmd_health(int argc, char **argv) { return dk_cmd_health(argc, argv); }
static int dk__cmd_log(int argc, char **argv) {
  dk__current = dk__find("log");
  return dk_cmd_log(argc, argv, dk__usage_current);
}
static int dk__cmd_show(int argc, char **argv) {
  dk__current = dk__find("show");
  return dk_cmd_show(argc, argv, dk__usage_current);
}
static int dk__cmd_diff(int argc, char **argv) {
  dk__current = dk__find("diff");
  return dk_cmd_diff(argc, argv, dk__usage_current);
}
static int dk__cmd_report(int argc, char **argv) {
  dk__current = dk__find("report");
  return dk_cmd_report(argc, argv, dk__usage_current);
}
static int dk__cmd_blame(int argc, char **argv) {
  dk__current = dk__find("blame");
  return dk_cmd_blame(argc, argv, dk__usage_current);
}
static int dk__cmd_conflicts(int argc, char **argv) {
  dk__current = dk__find("conflicts");
  return dk_cmd_conflicts(argc, argv, dk__usage_current);
}

#define DK__AUDIT_HELP                                                                                  \
  "      --repo PATH        the snapshot repository (default: `repository:` of the configuration)\n"    \
  "      --json             one JSON document on stdout\n"
#define DK__AUDIT_TIMES                                                                                 \
  "Times are RFC 3339 in the configured time zone (with --repo alone, the local one).\n"
#define DK__AUDIT_REV                                                                                   \
  "REV: anything git takes (a commit id, main~3); DATE: YYYY-MM-DD (the end of that day) or\n"          \
  "RFC 3339 (2024-07-01T00:00:00+08:00): the last commit of main at or before it.\n"
#define DK__AUDIT_ID                                                                                    \
  "ID: a record's id (jnly-2024/12, jnly-2024, jnly-2024/12/linyi/2024-06, linyi/教育局)\n"              \
  "or path (tasks/jnly-2024/12.json).\n"

static const struct dk__cmd dk__cmds[] = {
  {"sync", dk__cmd_sync, "run every source (or one) once and exit", "[-c FILE] [--source NAME] [--metrics-file PATH]",
   "      --source NAME      only this source\n"
   "      --metrics-file PATH  after the round, write its metrics there (Prometheus text format,\n"
   "                         atomically: for node_exporter's textfile collector)\n"
   "Exit status: 0 when every source succeeded (committed, unchanged or not modified),\n"
   "1 when any failed, 2 on a usage or configuration error.\n"},
  {"daemon", dk__cmd_daemon, "run every source on its schedule, in the foreground, until SIGTERM", "[-c FILE]",
   "SIGTERM or SIGINT: stop (fetches in progress are canceled, a commit is never cut short).\n"
   "SIGHUP: reload the configuration (a bad file is reported and the running one kept).\n"},
  {"demo", dk__cmd_demo, "the story: two simulated cities' sites sync 2024 month by month, with no network",
   "[--dir DIR] [--once] [--listen ADDR:PORT] [--date DAY]",
   "      --dir DIR          where to put duikou-demo/ (default: here)\n"
   "      --once             tell the story and exit\n"},
  {"check-config", dk__cmd_check_config, "load and check a configuration file", "[FILE]",
   "Prints every problem as FILE:LINE:COLUMN: what is wrong (at /json/pointer); exit 2 if any.\n"},
  {"validate", dk__cmd_validate, "check records against duikou's schemas (or --schema FILE)",
   "[--schema FILE | --kind KIND] [--output text|basic] FILE...", ""},
  {"parse", dk__cmd_parse, "run one plugin on a local file and print its records with their validation",
   "--plugin NAME [--options JSON] FILE", ""},
  {"quarantine", dk__cmd_quarantine, "list, show or purge what sources sent that could not be committed",
   "[list|show NAME|purge ...] [--source NAME] [--json]", ""},
  {"log", dk__cmd_log, "the history of a record on main, newest first, field by field",
   "ID [--limit N] [--json] [--repo PATH]",
   "      --limit N          the N latest changes only\n" DK__AUDIT_HELP DK__AUDIT_ID DK__AUDIT_TIMES
   "Exit status: 1 when the record has no history on main.\n"},
  {"show", dk__cmd_show, "a record as it was at a commit or a date", "ID [--at REV|DATE] [--json] [--repo PATH]",
   "      --at REV|DATE      the commit or date (default: main)\n" DK__AUDIT_HELP DK__AUDIT_ID DK__AUDIT_REV
   "Exit status: 1 when the record was not there.\n"},
  {"diff", dk__cmd_diff, "records added, changed and deleted between two commits or dates, field by field",
   "A [B] [--json] [--repo PATH]",
   DK__AUDIT_HELP "A, B: each a REV or DATE; B is main by default.\n" DK__AUDIT_REV},
  {"blame", dk__cmd_blame, "who last changed each field of a record, from which source, when",
   "ID [--at REV|DATE] [--json] [--repo PATH]",
   "      --at REV|DATE      the record as of this commit or date (default: main)\n" DK__AUDIT_HELP DK__AUDIT_ID},
  {"conflicts", dk__cmd_conflicts, "list, show and resolve the open conflicts on main",
   "[list] [--json]\n"
   "       duikou conflicts show ID [--json]\n"
   "       duikou conflicts resolve ID [--field F] (--take [SITE/]SOURCE | --take main | --value JSON) [--by NAME]",
   "      --field F          only this field (status, section.title, units[NAME].role, \"\" = the\n"
   "                         whole record); default: every field of the conflict\n"
   "      --take SOURCE      that source's value (its \"theirs\"; none: the field, or record, is deleted);\n"
   "                         SITE/SOURCE when two sites have a source of that name\n"
   "      --take main        keep what main holds\n"
   "      --value JSON       this value (a string needs its quotes: --value '\"completed\"')\n"
   "      --by NAME          who resolves (default $DUIKOU_USER, else $USER): the commit's author\n"
   DK__AUDIT_HELP DK__AUDIT_ID
   "resolve writes the choice on refs/duikou/resolutions (this site's input, sent to the other\n"
   "sites) and folds main again, both by compare-and-swap, safe beside a running daemon; give\n"
   "-c FILE so that main is folded with the site's name and policies. Exit status:\n"
   "1 for show when no conflict is open on ID; 2 for resolve when none is, or the field or\n"
   "source is not in it, or the value is not JSON or makes the record invalid.\n"},
  {"report", dk__cmd_report, "write the period report of a month (html or csv), delayed tasks first",
   "--period YYYY-MM [--format html|csv] [-o FILE] [-c FILE | --repo PATH]",
   "      --period YYYY-MM   the month reported\n"
   "      --format FMT       html (printable, the dashboard's look; default) or csv (UTF-8 with BOM)\n"
   "  -o, --output FILE      where to write (default duikou-report-YYYY-MM.FMT; - for stdout)\n"
   "      --repo PATH        the snapshot repository (default: `repository:` of the configuration)\n"
   "Exit status: 1 when there is no repository, or main holds no progress report of that month\n"
   "(no file is written then); 2 for a period that is not YYYY-MM or an unknown format.\n"},
  {"exchange", dk__cmd_exchange, "push and fetch with the remotes once, then fold main; print what moved",
   "[--remote NAME]", ""},
  {"sites", dk__cmd_sites, "the sites known, their last input, whether their main converged", "[--json]", ""},
  {"health", dk__cmd_health, "the health of the data, as /healthz says it (exit 1 when unhealthy)", "[--json]", ""},
  {"plugins", dk__cmd_plugins, "list the plugins found, and those refused", "[--plugin-dir DIR]", ""},
  {"version", dk__cmd_version, "print the version of duikou and its libraries", "", ""},
};

static const struct dk__cmd *dk__find(const char *name) {
  for (size_t i = 0; i < sizeof dk__cmds / sizeof dk__cmds[0]; i++)
    if (strcmp(dk__cmds[i].name, name) == 0) return &dk__cmds[i];
  return NULL;
}

static void dk__usage(FILE *f, const struct dk__cmd *c) {
  fprintf(f, "usage: duikou %s %s\n\n%s.\n\n%s%s", c->name, c->usage, c->summary, c->help, dk_cli_common_help);
}

static void dk__usage_current(FILE *f) { dk__usage(f, dk__current); }

static int dk__parse(const struct dk__cmd *c, int argc, char **argv, struct dk_cli_opts *o, int with_source,
                     int with_dir) {
  dk__current = c;
  return dk_cli_parse_opts(c->name, dk__usage_current, argc, argv, o, with_source, with_dir);
}

static void dk__main_usage(FILE *f) {
  fprintf(f,
          "usage: duikou COMMAND [OPTIONS]\n\n"
          "duikou keeps the Jinan-Linyi paired-cooperation plan (济南—临沂对口合作) in a git\n"
          "repository: it pulls each city's plan and progress data, checks it, and commits it.\n\n"
          "Commands:\n");
  for (size_t i = 0; i < sizeof dk__cmds / sizeof dk__cmds[0]; i++)
    fprintf(f, "  %-14s %s\n", dk__cmds[i].name, dk__cmds[i].summary);
  fprintf(f, "\n`duikou COMMAND --help` tells more. Exit status: 0 success, 1 the job failed,\n"
             "2 usage or configuration error.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    dk__main_usage(stderr);
    return DK_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    if (argc > 2 && dk__find(argv[2])) dk__usage(stdout, dk__find(argv[2]));
    else dk__main_usage(stdout);
    return DK_EXIT_OK;
  }
  if (strcmp(name, "--version") == 0) name = "version";
  if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
    if (strcmp(name, "validate") == 0) return dk_cmd_validate(argc - 1, argv + 1);
    if (strcmp(name, "parse") == 0) return dk_cmd_parse(argc - 1, argv + 1);
    if (strcmp(name, "daemon") == 0) return dk_cmd_daemon(argc - 1, argv + 1);
    if (strcmp(name, "quarantine") == 0) return dk_cmd_quarantine(argc - 1, argv + 1);
  }
  const struct dk__cmd *c = dk__find(name);
  if (c == NULL) {
    fprintf(stderr, "duikou: unknown command \"%s\"\n\n", name);
    dk__main_usage(stderr);
    return DK_EXIT_USAGE;
  }
  /* A peer closing a socket must be an error code, not a signal. */
  signal(SIGPIPE, SIG_IGN);
  /* A file-size limit (ulimit -f) must fail the write with EFBIG, which is
   * reported, not kill the process without a word. */
  signal(SIGXFSZ, SIG_IGN);
  /* jansson seeds its hash tables on the first object made; seed here, on
   * the main thread before any worker, rather than from whichever thread
   * makes the first object. */
  json_object_seed(0);
  /* A round's heaps grow by megabytes (bodies, records, their blobs) on the
   * loop and on each worker: grown and shrunk in small steps, each step is
   * a system call and, with threads, a TLB flush on every core (a sixth of
   * a 1% round went to page faults and flushes). They grow 16 MB at a time
   * and keep up to 64 MB free; an idle daemon's malloc_trim (engine.c)
   * gives the free pages back, about 1 MB a worker's heap staying. */
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  dk_store_global_init();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = c->run(argc - 1, argv + 1);
  dk_schemas_shutdown();
  curl_global_cleanup();
  dk_store_global_shutdown();
  return rc;
}

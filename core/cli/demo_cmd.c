/* `duikou demo`: the whole path on embedded defaults, with no network, told
 * as a story.
 *
 * The city simulator (contrib/city-sim) is started in this process on a
 * loopback port with its story on (contrib/city-sim/story.h). Two sites are
 * set up under DIR/duikou-demo/: `jinan` (Jinan's task register and its
 * monthly progress reports, json-api behind a bearer token, and the
 * published plan documents, plan-text) and
 * `linyi` (Linyi's task ledger, json-api, and its progress export, a GBK
 * csv), each with its own configuration, repository and state folder, and a
 * bare repository both exchange through (file://). Nine simulated month ends
 * are synced, April to December 2024, each committed on its own day: the
 * two sites sync and exchange, and both end on the same main.
 *
 * With --date DAY, the single-site demo instead: one round of the three
 * sources Jinan, Linyi and the plan documents at that simulated day into
 * DIR/duikou-demo.git, continuing what is there. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "citysim.h"
#include "commands.h"
#include "config.h"
#include "converge.h"
#include "dashboard.h"
#include "escape.h"
#include "exchange.h"
#include "fsafe.h"
#include "log.h"
#include "options.h"
#include "status.h"
#include "util.h"

#define DK__DEMO_DATE "2024-06-30"
#define DK__DEMO_TOKEN_ENV "DUIKOU_DEMO_JINAN_TOKEN"
#define DK__DEMO_LISTEN "127.0.0.1:8787"
/* The file that marks DIR/duikou-demo/ as the story's: only then are its
 * sites removed and made again by the next run. */
#define DK__STORY_MARK ".duikou-demo-story"

/* The month ends the story syncs. */
static const char *const dk__story_days[] = {"2024-04-30", "2024-05-31", "2024-06-30", "2024-07-31", "2024-08-31",
                                             "2024-09-30", "2024-10-31", "2024-11-30", "2024-12-31"};
#define DK__STORY_MONTHS (sizeof dk__story_days / sizeof dk__story_days[0])
#define DK__STORY_TASKS 31 /* jnly-2024/01 … /31 */

/* One site of the story. */
struct dk__site {
  const char *name;       /* "jinan", "linyi" */
  char *dir;              /* DIR/duikou-demo/<name>: its configuration and state */
  char *config_path;      /* dir/duikou.yaml */
  struct dk_config *cfg;
  struct dk__round_totals {
    size_t changed, invalid;
  } last;                 /* the last round's totals */
  char *folded;           /* what the last exchange's fold changed on main (malloc'd), or NULL */
};

struct dk__demo {
  uv_loop_t loop;
  struct csim *sim;
  int sim_closed;
  int round_done;
  const char *plugin_dir;
  char *root;             /* DIR/duikou-demo (absolute) */
  struct dk__site sites[2];
  char listen_host[64];
  int listen_port;
  /* the story as the Jinan site's main tells it, month by month */
  char status[DK__STORY_TASKS + 1][16];
  size_t open_conflicts;
};

static void dk__sim_closed(void *arg) { ((struct dk__demo *)arg)->sim_closed = 1; }

static void dk__demo_usage(FILE *f) {
  fprintf(f, "usage: duikou demo [--dir DIR] [--once] [--listen ADDR:PORT] [--date YYYY-MM-DD]\n\n"
             "Tells the story of the 2024 plan in a few seconds, with no network: the simulated\n"
             "Jinan and Linyi systems start on loopback, and two duikou sites, one per city,\n"
             "sync nine simulated month ends (April to December 2024) and exchange through a\n"
             "shared repository after each: progress moves, a task falls behind, the cities\n"
             "disagree twice (one settled by the reconcile policy, one left to a person), a\n"
             "mistyped record is quarantined. Everything goes under DIR/duikou-demo/ (the\n"
             "sites jinan.git and linyi.git, the shared remote shared.git, each site's\n"
             "configuration and state in jinan/ and linyi/); each run starts the story over.\n"
             "Then prints the repository and commands to try, and serves both sites' dashboards\n"
             "until Ctrl-C.\n\n"
             "      --dir DIR          where to put duikou-demo/ (default: here)\n"
             "      --once             tell the story and exit (for scripts and tests)\n"
             "      --listen ADDR:PORT where to serve the dashboard after the story, until Ctrl-C\n"
             "                         (default " DK__DEMO_LISTEN "; loopback only; port 0: any free\n"
             "                         port); Linyi's site's on the next port\n"
             "      --date DATE        instead of the story: one round of Jinan, Linyi and the\n"
             "                         plan documents at that simulated day into\n"
             "                         DIR/duikou-demo.git, continuing what is there\n"
             "      --plugin-dir DIR   plugin folder (default $DUIKOU_PLUGIN_DIR, else the installed one)\n"
             "      --log-level LEVEL  error, warn (the demo's default), info or debug\n"
             "  -h, --help             this help\n");
}

struct dk__demo_opts {
  const char *dir, *date, *listen, *plugin_dir;
  int once, log_level_set;
};

/* Returns 0, -1 after --help, or DK_EXIT_USAGE after saying why. */
static int dk__demo_parse(int argc, char **argv, struct dk__demo_opts *o) {
  static const struct option longopts[] = {
    {"dir", required_argument, NULL, 'd'},        {"date", required_argument, NULL, 'D'},
    {"once", no_argument, NULL, 'o'},             {"listen", required_argument, NULL, 'l'},
    {"plugin-dir", required_argument, NULL, 'P'}, {"log-level", required_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'd': o->dir = optarg; break;
    case 'D': o->date = optarg; break;
    case 'o': o->once = 1; break;
    case 'l': o->listen = optarg; break;
    case 'P': o->plugin_dir = optarg; break;
    case 'L':
      if (dk_cli_log_level("demo", optarg) != 0) return DK_EXIT_USAGE;
      o->log_level_set = 1;
      break;
    case 'h': dk__demo_usage(stdout); return -1;
    default:
      if (optopt) fprintf(stderr, "duikou demo: unknown option or missing value: %s\n", argv[optind - 1]);
      else fprintf(stderr, "duikou demo: unknown option %s\n", argv[optind - 1]);
      dk__demo_usage(stderr);
      return DK_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "duikou demo: unexpected argument \"%s\"\n", argv[optind]);
    dk__demo_usage(stderr);
    return DK_EXIT_USAGE;
  }
  return 0;
}

/* A fresh token for the simulator, also put in DK__DEMO_TOKEN_ENV: it reaches
 * the sync the way a real secret would, by the variable the configuration
 * names. Writes into token (the caller's buffer of n bytes). */
static void dk__demo_token(char *token, size_t n) {
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  snprintf(token, n, "demo-%08x%08x", (unsigned)rand(), (unsigned)rand());
  setenv(DK__DEMO_TOKEN_ENV, token, 1);
}

/* 1 when date is YYYY-MM-DD between 2000 and 2099. */
static int dk__demo_date_ok(const char *date) {
  struct tm tm = {0};
  const char *end = strptime(date, "%Y-%m-%d", &tm);
  return end != NULL && *end == '\0' && strlen(date) == 10 && tm.tm_year >= 100 && tm.tm_year <= 199;
}

/* Start the simulator on loopback into d->sim (the story on when story).
 * Returns 0, or the exit status after saying why. */
static int dk__demo_start_sim(struct dk__demo *d, const char *date, const char *token, int story) {
  struct csim_options so = {.host = "127.0.0.1", .port = 0, .quiet = 1, .date = date, .token = token, .story = story};
  int rc = csim_start(&d->loop, &so, &d->sim);
  if (rc != 0) {
    if (rc == UV_EINVAL)
      fprintf(stderr, "duikou demo: --date: \"%s\" is not a date YYYY-MM-DD between 2000 and 2099\n", date);
    else
      fprintf(stderr, "duikou demo: cannot start the city simulator on loopback: %s\n", uv_strerror(rc));
    uv_run(&d->loop, UV_RUN_DEFAULT); /* let a half-opened listener finish closing */
    return rc == UV_EINVAL ? DK_EXIT_USAGE : DK_EXIT_FAILED;
  }
  return 0;
}

/* Close the simulator (when running) and wait until it is closed; the loop
 * stays open. */
static void dk__demo_stop_sim(struct dk__demo *d) {
  if (d->sim) {
    csim_close(d->sim, dk__sim_closed, d);
    d->sim = NULL;
    while (!d->sim_closed) uv_run(&d->loop, UV_RUN_ONCE);
  }
}

/* The sources of Jinan's register and of Linyi's export, on port. */
#define DK__JINAN_TASKS                                                                                        \
  "  - name: jinan-tasks\n"                                                                                    \
  "    plugin: json-api\n"                                                                                     \
  "    city: jinan\n"                                                                                          \
  "    url: http://127.0.0.1:%d/jinan/api/tasks?page=1&per_page=10\n"                                          \
  "    every: 30m\n"                                                                                           \
  "    auth: { bearer_env: " DK__DEMO_TOKEN_ENV " }\n"                                                         \
  "    options:\n"                                                                                             \
  "      records: /data/items\n"                                                                               \
  "      next: /links/next\n"                                                                                  \
  "      constants: { kind: task }\n"                                                                          \
  "      map: { id: /code, plan: /plan_code, number: /no, title: /name, text: /content,\n"                     \
  "             section: /category, units: /depts, status: /state, updated_at: /modified }\n"
/* Jinan's monthly reports (the story's only): today's month, canonical
 * values under Jinan's own names, the id formed by the register. */
#define DK__JINAN_PROGRESS                                                                                     \
  "  - name: jinan-progress\n"                                                                                 \
  "    plugin: json-api\n"                                                                                     \
  "    city: jinan\n"                                                                                          \
  "    url: http://127.0.0.1:%d/jinan/api/progress?page=1&per_page=10\n"                                       \
  "    every: 1d\n"                                                                                            \
  "    auth: { bearer_env: " DK__DEMO_TOKEN_ENV " }\n"                                                         \
  "    options:\n"                                                                                             \
  "      records: /data/items\n"                                                                               \
  "      next: /links/next\n"                                                                                  \
  "      constants: { kind: progress, city: jinan }\n"                                                         \
  "      map: { id: /code, task: /task_code, period: /month, status: /state, percent: /rate,\n"                \
  "             summary: /progress_desc, unit: /dept, reported_at: /report_time }\n"
#define DK__LINYI_PROGRESS                                                                                     \
  "  - name: linyi-progress\n"                                                                                 \
  "    plugin: csv\n"                                                                                          \
  "    city: linyi\n"                                                                                          \
  "    url: http://127.0.0.1:%d/linyi/export/progress.csv\n"                                                   \
  "    cron: \"0 */2 * * *\"\n"                                                                                \
  "    options:\n"                                                                                             \
  "      encoding: GBK\n"                                                                                      \
  "      task_prefix: jnly-2024/\n"                                                                            \
  "      columns: { 任务编号: task, 进展情况: summary, 完成比例: percent, 填报单位: unit, 填报时间: reported_at,\n"        \
  "                 状态: status }\n"
#define DK__PLAN_DOCUMENTS                                                                                     \
  "  - name: plan-documents\n"                                                                                 \
  "    plugin: plan-text\n"                                                                                    \
  "    city: other\n"                                                                                          \
  "    url: http://127.0.0.1:%d/plans/jnly-2023.md\n"                                                          \
  "    every: 1d\n"                                                                                            \
  "    options: { plans: [jnly-2023-division, jnly-2023], units: true }\n"

/* Print a configuration's errors; frees it. Returns NULL. */
static struct dk_config *dk__demo_config_failed(struct dk_config *cfg) {
  size_t i;
  json_t *e;
  json_array_foreach(cfg->errors, i, e) fprintf(stderr, "duikou demo: %s\n", json_string_value(e));
  dk_config_free(cfg);
  return NULL;
}

/* The single-site configuration (--date): the three sources on port, in
 * absdir. Returns it (the caller frees it), or NULL after printing why. */
static struct dk_config *dk__demo_single_config(int port, const char *absdir) {
  char *yaml = dk_asprintf("repository: duikou-demo.git\n"
                           "state: duikou-demo/state\n"
                           "sources:\n" DK__JINAN_TASKS DK__LINYI_PROGRESS DK__PLAN_DOCUMENTS,
                           port, port, port);
  struct dk_config *cfg = NULL;
  int rc = dk_config_load_string("(demo)", yaml, strlen(yaml), absdir, &cfg);
  free(yaml);
  return rc != 0 ? dk__demo_config_failed(cfg) : cfg;
}

/* Run one round of cfg on the loop, the simulator still running. Returns 0
 * with *out (free with dk_sync_free), or -1 after saying why. */
static void dk__round_done(struct dk_sync *sync, void *arg) { ((struct dk__demo *)arg)->round_done = 1; }
static int dk__demo_round(struct dk__demo *d, const struct dk_config *cfg, struct dk_sync **out) {
  char err[DK_ERRBUF_SIZE];
  struct dk_sync_opts opts = {.plugin_dir = d->plugin_dir};
  d->round_done = 0;
  int rc = dk_sync_start(&d->loop, cfg, &opts, dk__round_done, d, out, err);
  if (rc != 0) {
    fprintf(stderr, "duikou demo: %s\n", err);
    return -1;
  }
  while (!d->round_done) uv_run(&d->loop, UV_RUN_ONCE);
  return 0;
}

/* The single-site demo (--date): one round at `date`. Returns the exit status. */
static int dk__demo_single(struct dk__demo *d, const char *absdir, const char *date, const char *token) {
  int rc = dk__demo_start_sim(d, date, token, 0);
  if (rc != 0) return rc;
  int port = csim_port(d->sim);
  struct dk_config *cfg = dk__demo_single_config(port, absdir);
  if (cfg == NULL) {
    dk__demo_stop_sim(d);
    return DK_EXIT_FAILED;
  }
  dk_config_apply_timezone(cfg);
  printf("duikou demo: simulated cities on http://127.0.0.1:%d/ (loopback only), simulated day %s\n", port, date);
  struct dk_sync *sync = NULL;
  int status = DK_EXIT_FAILED;
  if (dk__demo_round(d, cfg, &sync) == 0) {
    dk_cli_print_results(stdout, sync);
    status = dk_sync_failed(sync) ? DK_EXIT_FAILED : DK_EXIT_OK;
    dk_sync_free(sync);
  }
  dk__demo_stop_sim(d);
  if (status == DK_EXIT_OK) {
    const char *r = cfg->repository;
    printf("\nThe snapshot repository is %s\n", r);
    printf("Look at it with:\n"
           "  git --git-dir %s log --first-parent --stat main\n"
           "  duikou log --repo %s jnly-2024/12      (who changed what, when, from which system)\n"
           "  duikou blame --repo %s jnly-2024/12\n"
           "Run it again with a later --date: the progress made in between is committed.\n",
           r, r, r);
  }
  dk_config_free(cfg);
  return status;
}

/* --- the story ---------------------------------------------------------------- */

/* nftw: remove one entry (links themselves, never followed). */
static int dk__rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

/* What the story made under root, removed and made again by each run. */
static const char *const dk__story_entries[] = {"jinan.git", "linyi.git", "shared.git", "jinan", "linyi"};

/* Make root ready for a new story: the previous story's sites removed when
 * root carries the mark; any of them present without it is refused (not
 * the demo's to remove). Returns 0, or -1 after saying why. */
static int dk__story_clear(const char *root) {
  char err[DK_ERRBUF_SIZE];
  char *mark = dk_asprintf("%s/" DK__STORY_MARK, root);
  struct stat mb;
  int marked = lstat(mark, &mb) == 0 && S_ISREG(mb.st_mode), rc = 0; /* a link is no mark */
  for (size_t i = 0; rc == 0 && i < sizeof dk__story_entries / sizeof dk__story_entries[0]; i++) {
    char *p = dk_asprintf("%s/%s", root, dk__story_entries[i]);
    struct stat sb;
    if (lstat(p, &sb) == 0) {
      if (!marked) {
        fprintf(stderr, "duikou demo: %s exists and was not made by duikou demo: remove it or choose another --dir\n",
                p);
        rc = -1;
      } else if (nftw(p, dk__rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "duikou demo: cannot remove the previous story's %s: %s\n", p, strerror(errno));
        rc = -1;
      }
    }
    free(p);
  }
  if (rc == 0 && dk_mkdir_p(root, 0, err) != 0) {
    fprintf(stderr, "duikou demo: %s\n", err);
    rc = -1;
  }
  if (rc == 0) {
    static const char text[] = "Made by `duikou demo`: each run removes jinan.git, linyi.git, shared.git, jinan/ and\n"
                               "linyi/ here and tells the story again.\n";
    if (dk_fs_write_atomic(root, DK__STORY_MARK, text, sizeof text - 1, err) != 0) {
      fprintf(stderr, "duikou demo: %s\n", err);
      rc = -1;
    }
  }
  free(mark);
  return rc;
}

/* A YAML single-quoted scalar of s, malloc'd. */
static char *dk__yaml_quote(const char *s) {
  struct dk_buf b = {0};
  dk_buf_puts(&b, "'");
  for (; *s; s++) dk_buf_puts(&b, *s == '\'' ? "''" : (char[2]){*s, 0});
  dk_buf_puts(&b, "'");
  return dk_buf_steal(&b);
}

/* Write site s's configuration (its sources on port, the shared remote) to
 * s->config_path and load it into s->cfg. Returns 0, or -1 after saying why. */
static int dk__site_config(struct dk__demo *d, struct dk__site *s, int port) {
  char err[DK_ERRBUF_SIZE];
  char *url = dk_asprintf("file://%s/shared.git", d->root), *qurl = dk__yaml_quote(url);
  char *repo = dk_asprintf("%s/%s.git", d->root, s->name), *qrepo = dk__yaml_quote(repo);
  int jinan = strcmp(s->name, "jinan") == 0;
  char *sources = jinan ? dk_asprintf(DK__JINAN_TASKS DK__JINAN_PROGRESS DK__PLAN_DOCUMENTS, port, port, port)
                        : dk_asprintf("  - name: linyi-ledger\n"
                                      "    plugin: json-api\n"
                                      "    city: linyi\n"
                                      "    url: http://127.0.0.1:%d/linyi/api/ledger\n"
                                      "    every: 1d\n" DK__LINYI_PROGRESS,
                                      port, port);
  char *yaml = dk_asprintf(
      "# The %s site of `duikou demo` (written by it; the simulated cities listened on port %d).\n"
      "site: %s\n"
      "repository: %s\n"
      "state: state\n"
      "# Both sites must fold alike: the same policies on both. A task's text is\n"
      "# never chosen by a rule: a person decides (duikou conflicts).\n"
      "reconcile:\n"
      "  default: latest\n"
      "  fields: { task.text: manual }\n"
      "sources:\n%s"
      "remotes:\n"
      "  - name: shared\n"
      "    url: %s\n",
      s->name, port, s->name, qrepo, sources, qurl);
  free(url);
  free(qurl);
  free(repo);
  free(qrepo);
  free(sources);
  s->dir = dk_asprintf("%s/%s", d->root, s->name);
  s->config_path = dk_asprintf("%s/duikou.yaml", s->dir);
  char *rel = dk_asprintf("%s/duikou.yaml", s->name);
  int rc = dk_fs_write_atomic(d->root, rel, yaml, strlen(yaml), err);
  if (rc != 0) fprintf(stderr, "duikou demo: %s\n", err);
  free(rel);
  free(yaml);
  if (rc != 0) return -1;
  struct dk_config *cfg = NULL;
  if (dk_config_load(s->config_path, &cfg) != 0) {
    dk__demo_config_failed(cfg);
    return -1;
  }
  s->cfg = cfg;
  return 0;
}

/* One round of site s. Returns 0, or -1 after printing the results. */
static int dk__site_sync(struct dk__demo *d, struct dk__site *s) {
  struct dk_sync *sync = NULL;
  if (dk__demo_round(d, s->cfg, &sync) != 0) return -1;
  size_t n;
  const struct dk_source_result *res = dk_sync_results(sync, &n);
  s->last = (struct dk__round_totals){0, 0};
  for (size_t i = 0; i < n; i++) {
    s->last.changed += res[i].changed;
    s->last.invalid += res[i].invalid;
  }
  int failed = dk_sync_failed(sync);
  if (failed) {
    fprintf(stderr, "duikou demo: the %s site's round failed:\n", s->name);
    dk_cli_print_results(stderr, sync);
  }
  dk_sync_free(sync);
  return failed ? -1 : 0;
}

/* One exchange of site s with the shared remote, then main folded, as
 * `duikou exchange` does. Returns 0, or -1 after saying why. */
static int dk__site_exchange(struct dk__site *s) {
  char err[DK_ERRBUF_SIZE];
  struct dk_store *st = NULL;
  if (dk_store_open(s->cfg->repository, &st, err) != 0 || dk_store_lock(st, "duikou demo", err) != 0) {
    fprintf(stderr, "duikou demo: %s\n", err);
    dk_store_close(st);
    return -1;
  }
  int rc = 0;
  struct dk_exchange_report rep;
  if (dk_exchange(st, s->cfg, &s->cfg->remotes[0], NULL, &rep) != 0) {
    fprintf(stderr, "duikou demo: %s: the exchange failed: %s\n", s->name, dk_esc_tmp(rep.err));
    rc = -1;
  }
  size_t k;
  json_t *a;
  json_array_foreach(rep.alarms, k, a) {
    fprintf(stderr, "duikou demo: %s: alarm: %s\n", s->name, dk_esc_tmp(json_string_value(a)));
    rc = -1;
  }
  dk_exchange_report_clear(&rep);
  struct dk_converge_result cr;
  struct dk_converge_meta m = {.why = "exchange with shared"};
  if (rc == 0 && dk_converge(st, s->cfg, NULL, &m, &cr) != 0) {
    fprintf(stderr, "duikou demo: %s: main not folded: %s\n", s->name, dk_esc_tmp(st->err));
    rc = -1;
  } else if (rc == 0) {
    free(s->folded);
    s->folded = cr.committed && cr.summary ? dk_strdup(cr.summary) : NULL;
    dk_converge_result_clear(&cr);
  }
  dk_store_close(st);
  return rc;
}

/* 17:00 in UTC+8 on day "YYYY-MM-DD", as a time. */
static git_time_t dk__story_time(const char *day) {
  struct tm tm = {0};
  strptime(day, "%Y-%m-%d", &tm);
  tm.tm_hour = 9;
  return (git_time_t)timegm(&tm);
}

static const char *dk__status_zh(const char *s) {
  if (strcmp(s, "completed") == 0) return "已完成";
  if (strcmp(s, "in_progress") == 0) return "推进中";
  if (strcmp(s, "delayed") == 0) return "滞后";
  if (strcmp(s, "not_started") == 0) return "未启动";
  return s;
}

/* The month's line, from the Jinan site's main: tasks by status, the
 * average percent of each city's reports for the month, what changed since the
 * last month (completed, delayed, conflicts opened) and what was
 * quarantined. Returns 0, or -1 after saying why. */
static int dk__story_line(struct dk__demo *d, const char *day) {
  char err[DK_ERRBUF_SIZE];
  struct dk_audit *a = NULL;
  git_oid at;
  if (dk_audit_open(d->sites[0].cfg->repository, &a, err) != 0 || dk_audit_main(a, &at) != 0) {
    fprintf(stderr, "duikou demo: %s\n", a ? a->err : err);
    dk_audit_close(a);
    return -1;
  }
  size_t count[4] = {0}, reports[2] = {0};
  long percent[2] = {0}; /* Jinan's, Linyi's */
  static const char *const order[] = {"completed", "in_progress", "delayed", "not_started"};
  struct dk_buf done = {0}, late = {0}, opened = {0};
  for (int n = 1; n <= DK__STORY_TASKS; n++) {
    char path[96];
    json_t *rec = NULL;
    snprintf(path, sizeof path, "tasks/jnly-2024/%02d.json", n);
    if (dk_audit_read(a, &at, path, &rec, NULL) == 0) {
      const char *s = json_string_value(json_object_get(rec, "status"));
      s = s ? s : "not_started";
      for (size_t k = 0; k < 4; k++)
        if (strcmp(s, order[k]) == 0) count[k]++;
      if (strcmp(s, d->status[n]) != 0 && strcmp(s, "completed") == 0) dk_buf_printf(&done, " %02d", n);
      if (strcmp(s, d->status[n]) != 0 && strcmp(s, "delayed") == 0) dk_buf_printf(&late, " %02d", n);
      snprintf(d->status[n], sizeof d->status[n], "%s", s);
      json_decref(rec);
    }
    for (int c = 0; c < 2; c++) {
      snprintf(path, sizeof path, "progress/jnly-2024/%02d/%s/%.7s.json", n, c ? "linyi" : "jinan", day);
      if (dk_audit_read(a, &at, path, &rec, NULL) == 0) {
        json_t *p = json_object_get(rec, "percent");
        if (json_is_number(p)) {
          percent[c] += (long)json_number_value(p);
          reports[c]++;
        }
        json_decref(rec);
      }
    }
  }
  json_t *conflicts = NULL;
  if (dk_audit_conflicts(a, &at, &conflicts) == 0) {
    size_t i;
    json_t *c;
    json_array_foreach(conflicts, i, c) if (i >= d->open_conflicts) {
      const char *file = json_string_value(json_object_get(c, "file"));
      dk_buf_printf(&opened, " %s", file ? file : "?");
    }
    d->open_conflicts = json_array_size(conflicts);
    json_decref(conflicts);
  }
  dk_audit_close(a);
  printf("%.7s  %s %zu · %s %zu · %s %zu · %s %zu", day, dk__status_zh(order[0]), count[0], dk__status_zh(order[1]),
         count[1], dk__status_zh(order[2]), count[2], dk__status_zh(order[3]), count[3]);
  if (reports[0]) printf(" · 济南填报平均 %ld%%", percent[0] / (long)reports[0]);
  if (reports[1]) printf(" · 临沂填报平均 %ld%%", percent[1] / (long)reports[1]);
  if (done.len) printf(" · 新完成%s", dk_buf_cstr(&done));
  if (late.len) printf(" · 转为滞后%s", dk_buf_cstr(&late));
  if (opened.len) printf(" · 待人工裁决%s", dk_buf_cstr(&opened));
  if (d->sites[1].last.invalid) printf(" · 隔离 %zu 条无效记录", d->sites[1].last.invalid);
  printf("\n");
  /* the conflicts met when Jinan folded Linyi's reports (settled or not) */
  const char *f = d->sites[0].folded;
  if (f && strstr(f, "conflict")) printf("         济南汇合临沂的填报: %s\n", f);
  dk_buf_free(&done);
  dk_buf_free(&late);
  dk_buf_free(&opened);
  return 0;
}

/* The tree main points to in repository, as hex into out. Returns 0 or -1. */
static int dk__main_tree(const char *repository, char out[GIT_OID_HEXSZ + 1]) {
  char err[DK_ERRBUF_SIZE];
  struct dk_audit *a = NULL;
  git_oid at;
  struct dk_store_commit c;
  int rc = -1;
  if (dk_audit_open(repository, &a, err) == 0 && dk_audit_main(a, &at) == 0 && dk_store_commit(a->st, &at, &c) == 0) {
    dk_oid_hex(&c.tree, out);
    dk_store_commit_clear(&c);
    rc = 0;
  }
  dk_audit_close(a);
  return rc;
}

/* One simulated month: Jinan syncs at 17:00 and sends its reports; Linyi
 * takes them, syncs at 18:00 and sends its own; Jinan takes them. Every
 * commit dated on the simulated day. Returns 0, or -1 after saying why. */
static int dk__story_month(struct dk__demo *d, const char *day) {
  struct dk__site *jn = &d->sites[0], *ly = &d->sites[1];
  git_time_t t = dk__story_time(day);
  if (csim_set_date(d->sim, day) != 0) return -1;
  int rc;
  dk_commit_clock_set(t);
  rc = dk__site_sync(d, jn);
  dk_commit_clock_set(t + 1800);
  if (rc == 0) rc = dk__site_exchange(jn);
  dk_commit_clock_set(t + 2700);
  if (rc == 0) rc = dk__site_exchange(ly);
  dk_commit_clock_set(t + 3600);
  if (rc == 0) rc = dk__site_sync(d, ly);
  dk_commit_clock_set(t + 4500);
  if (rc == 0) rc = dk__site_exchange(ly);
  dk_commit_clock_set(t + 5400);
  if (rc == 0) rc = dk__site_exchange(jn);
  dk_commit_clock_set(0);
  return rc;
}

/* What the demo serves until Ctrl-C: each site's listener and dashboard. */
struct dk__serve {
  struct dk_status *st[2];
  struct dk_dashboard_opts view[2];
  uv_signal_t sigint, sigterm;
  int stopping;
};

static void dk__serve_stop(uv_signal_t *h, int signum) {
  struct dk__serve *sv = h->data;
  (void)signum;
  if (sv->stopping) return;
  sv->stopping = 1;
  printf("\nduikou demo: stopped serving; the repositories stay where they are.\n");
  fflush(stdout);
  for (int i = 0; i < 2; i++)
    if (sv->st[i]) dk_status_close(sv->st[i], NULL, NULL);
  uv_close((uv_handle_t *)&sv->sigint, NULL);
  uv_close((uv_handle_t *)&sv->sigterm, NULL);
}

/* Listen for site i on host:port (0: any free port) with its dashboard
 * and /healthz, /status. Returns 0, or a DK_E* code with err. */
static int dk__serve_site(uv_loop_t *loop, struct dk__serve *sv, int i, struct dk_config *cfg, const char *host,
                          int port, char *err) {
  free(cfg->status.host);
  cfg->status.host = dk_strdup(host);
  cfg->status.listen = 1;
  cfg->status.port = port;
  cfg->status.loopback = 1;
  int rc = dk_status_start(loop, cfg, &sv->st[i], err);
  if (rc != 0) return rc;
  sv->view[i] = (struct dk_dashboard_opts){.cfg = cfg};
  return dk_status_add_page(sv->st[i], "/", dk_dashboard_serve, &sv->view[i]);
}

/* Serve both sites' dashboards until Ctrl-C (SIGINT) or SIGTERM: Jinan's
 * on host:port (a loopback address: checked with --listen), Linyi's on
 * the next port (else any free one). Returns the exit status. */
static int dk__demo_serve(uv_loop_t *loop, struct dk__demo *d, const char *host, int port) {
  struct dk__serve sv = {0};
  char err[DK_ERRBUF_SIZE];
  if (dk__serve_site(loop, &sv, 0, d->sites[0].cfg, host, port, err) != 0) {
    fprintf(stderr, "duikou demo: cannot serve the dashboard on %s:%d: %s\n", host, port, err);
    return DK_EXIT_FAILED;
  }
  if (dk__serve_site(loop, &sv, 1, d->sites[1].cfg, host, port && port < 65535 ? port + 1 : 0, err) != 0 &&
      dk__serve_site(loop, &sv, 1, d->sites[1].cfg, host, 0, err) != 0) {
    fprintf(stderr, "duikou demo: cannot serve Linyi's dashboard: %s\n", err);
    dk_status_close(sv.st[0], NULL, NULL);
    return DK_EXIT_FAILED;
  }
  uv_signal_init(loop, &sv.sigint);
  uv_signal_init(loop, &sv.sigterm);
  sv.sigint.data = sv.sigterm.data = &sv;
  uv_signal_start(&sv.sigint, dk__serve_stop, SIGINT);
  uv_signal_start(&sv.sigterm, dk__serve_stop, SIGTERM);
  printf("\nThe dashboard (仪表盘), as each site sees the same main:\n"
         "  Jinan's site  %s\n"
         "  Linyi's site  %s\n"
         "Serving until Ctrl-C.\n",
         dk_status_url(sv.st[0]), dk_status_url(sv.st[1]));
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return DK_EXIT_OK;
}

/* The closing text: where the repositories are and what to try. */
static void dk__story_print_next(const struct dk__demo *d, const char *tree) {
  const char *r = d->sites[0].cfg->repository;
  printf("\nBoth sites hold the same main (tree %.12s): Jinan's and Linyi's progress on every task.\n", tree);
  printf("The Jinan site's repository is %s\n"
         "(Linyi's is %s, the shared remote %s/shared.git).\n",
         r, d->sites[1].cfg->repository, d->root);
  printf("Try:\n"
         "  duikou log --repo %s jnly-2024/08\n"
         "      task 08 month by month: started in June, delayed from September\n"
         "  duikou blame --repo %s jnly-2024/05\n"
         "      who set each field of task 05: Jinan said completed, Linyi delayed; the newer report won\n"
         "  git --git-dir %s log --graph --oneline main\n"
         "      the months as commits, each city's reports merged in\n"
         "Also: `duikou conflicts --repo %s` (task 14's text, left to a person) and\n"
         "`duikou quarantine list -c %s` (Linyi's mistyped July ledger).\n",
         r, r, r, r, d->sites[1].config_path);
}

/* The story: every month synced and exchanged, then the summary. Returns the
 * exit status; the sites' configurations stay in d for a serve step. */
static int dk__demo_story(struct dk__demo *d, const char *token) {
  if (dk__story_clear(d->root) != 0) return DK_EXIT_FAILED;
  int rc = dk__demo_start_sim(d, dk__story_days[0], token, 1);
  if (rc != 0) return rc;
  int port = csim_port(d->sim);
  d->sites[0].name = "jinan";
  d->sites[1].name = "linyi";
  char err[DK_ERRBUF_SIZE];
  struct dk_store *shared = NULL;
  char *shared_path = dk_asprintf("%s/shared.git", d->root);
  rc = dk_store_open(shared_path, &shared, err);
  if (rc != 0) fprintf(stderr, "duikou demo: the shared remote: %s\n", err);
  dk_store_close(shared);
  free(shared_path);
  if (rc != 0 || dk__site_config(d, &d->sites[0], port) != 0 || dk__site_config(d, &d->sites[1], port) != 0) {
    dk__demo_stop_sim(d);
    return DK_EXIT_FAILED;
  }
  dk_config_apply_timezone(d->sites[0].cfg);
  for (int n = 0; n <= DK__STORY_TASKS; n++) snprintf(d->status[n], sizeof d->status[n], "not_started");
  printf("duikou demo: the simulated Jinan and Linyi systems on http://127.0.0.1:%d/ (loopback only);\n"
         "two sites, jinan and linyi, sync each month end of 2024 and exchange through %s/shared.git\n\n",
         port, d->root);
  int status = DK_EXIT_OK;
  for (size_t i = 0; i < DK__STORY_MONTHS && status == DK_EXIT_OK; i++)
    if (dk__story_month(d, dk__story_days[i]) != 0 || dk__story_line(d, dk__story_days[i]) != 0)
      status = DK_EXIT_FAILED;
  dk__demo_stop_sim(d);
  char tj[GIT_OID_HEXSZ + 1], tl[GIT_OID_HEXSZ + 1];
  if (status == DK_EXIT_OK) {
    if (dk__main_tree(d->sites[0].cfg->repository, tj) != 0 || dk__main_tree(d->sites[1].cfg->repository, tl) != 0) {
      fprintf(stderr, "duikou demo: cannot read the sites' main\n");
      status = DK_EXIT_FAILED;
    } else if (strcmp(tj, tl) != 0) {
      fprintf(stderr, "duikou demo: the two sites' main differ (jinan %.12s, linyi %.12s)\n", tj, tl);
      status = DK_EXIT_FAILED;
    }
  }
  if (status == DK_EXIT_OK) dk__story_print_next(d, tj);
  return status;
}

int dk_cmd_demo(int argc, char **argv) {
  struct dk__demo_opts o;
  int rc = dk__demo_parse(argc, argv, &o);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  struct dk__demo d = {.plugin_dir = o.plugin_dir, .listen_port = 8787};
  snprintf(d.listen_host, sizeof d.listen_host, "127.0.0.1");
  if (o.listen) {
    /* parsed as status.listen is; the demo has no token to guard anything but loopback */
    struct dk_status_conf lc = {0};
    const char *why = dk_config_parse_listen(o.listen, &lc);
    if (why == NULL && strlen(lc.host) >= sizeof d.listen_host) why = "the address is too long";
    if (why || !lc.loopback) {
      if (why)
        fprintf(stderr, "duikou demo: --listen: \"%s\" is not ADDR:PORT: %s\n", o.listen, why);
      else
        fprintf(stderr, "duikou demo: --listen: \"%s\": the demo serves on loopback only (127.0.0.0/8, [::1] or "
                        "localhost); to serve other machines run `duikou daemon` with status.listen and a token\n",
                o.listen);
      free(lc.host);
      return DK_EXIT_USAGE;
    }
    snprintf(d.listen_host, sizeof d.listen_host, "%s", lc.host);
    d.listen_port = lc.port;
    free(lc.host);
  }
  if (o.date && !dk__demo_date_ok(o.date)) {
    fprintf(stderr, "duikou demo: --date: \"%s\" is not a date YYYY-MM-DD between 2000 and 2099\n", o.date);
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
  char token[64];
  dk__demo_token(token, sizeof token);
  uv_loop_init(&d.loop);
  int status;
  if (o.date) {
    status = dk__demo_single(&d, absdir, o.date, token);
  } else {
    d.root = dk_asprintf("%s/duikou-demo", absdir);
    status = dk__demo_story(&d, token);
    if (status == DK_EXIT_OK && !o.once) status = dk__demo_serve(&d.loop, &d, d.listen_host, d.listen_port);
    for (size_t i = 0; i < 2; i++) {
      dk_config_free(d.sites[i].cfg);
      free(d.sites[i].dir);
      free(d.sites[i].config_path);
      free(d.sites[i].folded);
    }
    free(d.root);
  }
  uv_run(&d.loop, UV_RUN_DEFAULT);
  uv_loop_close(&d.loop);
  free(absdir);
  return status;
}

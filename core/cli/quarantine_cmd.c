/* `duikou quarantine`: list, show and purge what sources sent that could not
 * be committed (see quarantine.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canonical.h"
#include "commands.h"
#include "options.h"
#include "config.h"
#include "escape.h"
#include "quarantine.h"
#include "util.h"

static void dk__q_usage(FILE *f) {
  fprintf(f, "usage: duikou quarantine [list] [--source NAME] [--json]\n"
             "       duikou quarantine show NAME [--json]\n"
             "       duikou quarantine purge (NAME... | --source NAME | --before DATE | --all)\n\n"
             "What sources sent that could not be committed: records that failed validation (with\n"
             "the errors) and items their plugin refused (with the raw text). Each entry is kept\n"
             "once, with when it was first and last seen and how many times.\n\n"
             "      --source NAME      only this source's entries\n"
             "      --before DATE      purge: only entries last seen before DATE (YYYY-MM-DD or RFC 3339)\n"
             "      --all              purge: every entry\n"
             "      --json             JSON on stdout\n"
             "  -c, --config FILE      configuration file (its `state` folder holds the quarantine)\n"
             "      --log-level LEVEL  error, warn, info (default) or debug\n"
             "  -h, --help             this help\n");
}

/* "2024-07-01" (local midnight) or RFC 3339; (time_t)-1 when neither. */
static time_t dk__q_date(const char *s) {
  time_t t = dk_time_parse_iso(s);
  if (t != (time_t)-1) return t;
  struct tm tm = {0};
  const char *end = strptime(s, "%Y-%m-%d", &tm);
  if (end == NULL || *end != '\0') return (time_t)-1;
  tm.tm_isdst = -1;
  return mktime(&tm);
}

/* Everything in an entry came from a source, so all of it is escaped: a
 * hostile id must not reach the terminal raw (escape.h). */
static void dk__q_print_entry(const json_t *e, int full) {
  const char *name = dk_esc_tmp(json_string_value(json_object_get(e, "name")));
  const char *src = dk_esc_tmp(json_string_value(json_object_get(e, "source")));
  const char *where = dk_esc_tmp(json_string_value(json_object_get(e, "where")));
  const char *last = dk_esc_tmp(json_string_value(json_object_get(e, "last_seen")));
  const json_t *errors = json_object_get(e, "errors");
  printf("%s  %-18s %-28s seen %lld× (last %s)\n", name ? name : "?", src ? src : "?", where ? where : "-",
         (long long)json_integer_value(json_object_get(e, "times")), last ? last : "?");
  size_t i;
  json_t *m;
  json_array_foreach(errors, i, m) {
    if (!full && i == 2) {
      printf("    … %zu more\n", json_array_size(errors) - 2);
      break;
    }
    printf("    %s\n", dk_esc_tmp(json_string_value(m)));
  }
  if (!full) return;
  const char *url = dk_esc_tmp(json_string_value(json_object_get(e, "url")));
  printf("  url: %s\n  first seen: %s\n", url ? url : "-", dk_esc_tmp(json_string_value(json_object_get(e, "first_seen"))));
  const json_t *rec = json_object_get(e, "record");
  if (rec) {
    char *text = dk_canonical_dump(rec, NULL), *safe = dk_esc_json(text);
    printf("  record:\n%s", safe);
    free(safe);
    free(text);
  } else {
    const char *raw = dk_esc_tmp(json_string_value(json_object_get(e, "raw")));
    printf("  raw: %s\n", raw ? raw : "");
  }
}

/* What the options of `duikou quarantine` say. */
struct dk__qargs {
  struct dk_cli_opts o;
  const char *source, *before_s;
  int all, json;
};

/* Parse the options into q; they may follow the action (purge --all), and
 * optind is then the first argument. Returns 0, -1 after --help, or
 * DK_EXIT_USAGE after saying why. */
static int dk__q_options(int argc, char **argv, struct dk__qargs *q) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'}, {"source", required_argument, NULL, 's'},
    {"before", required_argument, NULL, 'b'}, {"all", no_argument, NULL, 'a'},
    {"json", no_argument, NULL, 'j'},         {"log-level", required_argument, NULL, 'L'},
    {"plugin-dir", required_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  memset(q, 0, sizeof *q);
  q->o.config = getenv("DUIKOU_CONFIG");
  int ch;
  optind = 1;
  opterr = 0;
  /* permuting: options may follow the action (purge --all) */
  while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (ch) {
      case 'c': q->o.config = optarg; break;
      case 's': q->source = optarg; break;
      case 'b': q->before_s = optarg; break;
      case 'a': q->all = 1; break;
      case 'j': q->json = 1; break;
      case 'P': break;
      case 'L':
        if (dk_cli_log_level("quarantine", optarg) != 0) return DK_EXIT_USAGE;
        q->o.log_level_set = 1;
        break;
      case 'h': dk__q_usage(stdout); return -1;
      default:
        fprintf(stderr, "duikou quarantine: unknown option %s\n", argv[optind - 1]);
        dk__q_usage(stderr);
        return DK_EXIT_USAGE;
    }
  }
  return 0;
}

enum dk__q_action { DK__Q_LIST, DK__Q_SHOW, DK__Q_PURGE };

/* The action at argv[optind] (list when none; optind then moves past it),
 * --before and the arguments, checked. Returns 0 with *action and *before
 * set, or DK_EXIT_USAGE after saying why. */
static int dk__q_action(int argc, char **argv, const struct dk__qargs *q, enum dk__q_action *action,
                        time_t *before) {
  const char *sub = optind < argc ? argv[optind] : "list";
  if (optind < argc) optind++;
  *before = 0;
  if (q->before_s && (*before = dk__q_date(q->before_s)) == (time_t)-1) {
    fprintf(stderr, "duikou quarantine: --before: \"%s\" is not a date (YYYY-MM-DD or RFC 3339)\n", q->before_s);
    return DK_EXIT_USAGE;
  }
  int is_list = strcmp(sub, "list") == 0, is_show = strcmp(sub, "show") == 0, is_purge = strcmp(sub, "purge") == 0;
  if (!is_list && !is_show && !is_purge) {
    fprintf(stderr, "duikou quarantine: unknown action \"%s\" (list, show or purge)\n", sub);
    return DK_EXIT_USAGE;
  }
  if (is_show && optind + 1 != argc) {
    fprintf(stderr, "duikou quarantine show: give one entry name\n");
    return DK_EXIT_USAGE;
  }
  if (is_purge && optind == argc && !q->all && !q->source && !*before) {
    fprintf(stderr, "duikou quarantine purge: say what to purge: NAME..., --source, --before or --all\n");
    return DK_EXIT_USAGE;
  }
  if (is_list && optind < argc) {
    fprintf(stderr, "duikou quarantine list: unexpected argument \"%s\"\n", argv[optind]);
    return DK_EXIT_USAGE;
  }
  *action = is_list ? DK__Q_LIST : is_show ? DK__Q_SHOW : DK__Q_PURGE;
  return 0;
}

/* Print v as indented JSON, escaped for the terminal; v stays the caller's. */
static void dk__q_print_json(const json_t *v) {
  char *text = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS), *safe = dk_esc_json(text);
  printf("%s\n", safe);
  free(safe);
  free(text);
}

/* `quarantine list`: the entries, of source only when not NULL. Returns the
 * exit status. */
static int dk__q_list(const struct dk_config *cfg, const char *source, int json) {
  char err[DK_ERRBUF_SIZE];
  int status = DK_EXIT_OK;
  json_t *list = NULL;
  if (dk_quarantine_list(cfg->state, source, &list, err) != 0) {
    fprintf(stderr, "duikou quarantine: %s\n", err);
    status = DK_EXIT_FAILED;
  } else if (json) {
    dk__q_print_json(list);
  } else {
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) dk__q_print_entry(e, 0);
    printf("%zu entr%s in quarantine%s%s\n", json_array_size(list), json_array_size(list) == 1 ? "y" : "ies",
           source ? " for " : "", source ? source : "");
  }
  json_decref(list);
  return status;
}

/* `quarantine show NAME`: one entry in full. Returns the exit status. */
static int dk__q_show(const struct dk_config *cfg, const char *name, int json) {
  char err[DK_ERRBUF_SIZE];
  int status = DK_EXIT_OK;
  json_t *e = NULL;
  int rc = dk_quarantine_get(cfg->state, name, &e, err);
  if (rc != 0) {
    fprintf(stderr, "duikou quarantine: %s\n", err);
    status = DK_EXIT_FAILED;
  } else if (json) {
    dk__q_print_json(e);
  } else {
    dk__q_print_entry(e, 1);
  }
  json_decref(e);
  return status;
}

/* `quarantine purge`: the nnames entries names, else those of source (all
 * when NULL), last seen before before when it is not 0. Returns the exit
 * status. */
static int dk__q_purge(const struct dk_config *cfg, char **names, int nnames, const char *source, time_t before) {
  char err[DK_ERRBUF_SIZE];
  int status = DK_EXIT_OK;
  size_t total = 0, n;
  if (nnames > 0) {
    for (int i = 0; i < nnames; i++) {
      if (dk_quarantine_purge(cfg->state, names[i], NULL, before, &n, err) != 0) {
        fprintf(stderr, "duikou quarantine: %s\n", err);
        status = DK_EXIT_FAILED;
      }
      total += n;
    }
  } else if (dk_quarantine_purge(cfg->state, NULL, source, before, &total, err) != 0) {
    fprintf(stderr, "duikou quarantine: %s\n", err);
    status = DK_EXIT_FAILED;
  }
  printf("%zu entr%s purged\n", total, total == 1 ? "y" : "ies");
  return status;
}

int dk_cmd_quarantine(int argc, char **argv) {
  struct dk__qargs q;
  int status = dk__q_options(argc, argv, &q);
  if (status != 0) return status < 0 ? DK_EXIT_OK : status;
  enum dk__q_action action;
  time_t before;
  if ((status = dk__q_action(argc, argv, &q, &action, &before)) != 0) return status;
  struct dk_config *cfg = dk_cli_load_config(q.o.config, &q.o);
  if (cfg == NULL) return DK_EXIT_USAGE;
  if (action == DK__Q_LIST) status = dk__q_list(cfg, q.source, q.json);
  else if (action == DK__Q_SHOW) status = dk__q_show(cfg, argv[optind], q.json);
  else status = dk__q_purge(cfg, argv + optind, argc - optind, q.source, before);
  dk_config_free(cfg);
  return status;
}

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

int dk_cmd_quarantine(int argc, char **argv) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'}, {"source", required_argument, NULL, 's'},
    {"before", required_argument, NULL, 'b'}, {"all", no_argument, NULL, 'a'},
    {"json", no_argument, NULL, 'j'},         {"log-level", required_argument, NULL, 'L'},
    {"plugin-dir", required_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  struct dk_cli_opts o = {0};
  o.config = getenv("DUIKOU_CONFIG");
  const char *source = NULL, *before_s = NULL;
  int all = 0, json = 0, ch;
  optind = 1;
  opterr = 0;
  /* permuting: options may follow the action (purge --all) */
  while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (ch) {
      case 'c': o.config = optarg; break;
      case 's': source = optarg; break;
      case 'b': before_s = optarg; break;
      case 'a': all = 1; break;
      case 'j': json = 1; break;
      case 'P': break;
      case 'L':
        if (dk_cli_log_level("quarantine", optarg) != 0) return DK_EXIT_USAGE;
        o.log_level_set = 1;
        break;
      case 'h': dk__q_usage(stdout); return DK_EXIT_OK;
      default:
        fprintf(stderr, "duikou quarantine: unknown option %s\n", argv[optind - 1]);
        dk__q_usage(stderr);
        return DK_EXIT_USAGE;
    }
  }
  const char *sub = optind < argc ? argv[optind] : "list";
  if (optind < argc) optind++;
  time_t before = 0;
  if (before_s && (before = dk__q_date(before_s)) == (time_t)-1) {
    fprintf(stderr, "duikou quarantine: --before: \"%s\" is not a date (YYYY-MM-DD or RFC 3339)\n", before_s);
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
  if (is_purge && optind == argc && !all && !source && !before) {
    fprintf(stderr, "duikou quarantine purge: say what to purge: NAME..., --source, --before or --all\n");
    return DK_EXIT_USAGE;
  }
  if (is_list && optind < argc) {
    fprintf(stderr, "duikou quarantine list: unexpected argument \"%s\"\n", argv[optind]);
    return DK_EXIT_USAGE;
  }
  struct dk_config *cfg = dk_cli_load_config(o.config, &o);
  if (cfg == NULL) return DK_EXIT_USAGE;
  char err[DK_ERRBUF_SIZE];
  int status = DK_EXIT_OK;
  if (is_list) {
    json_t *list = NULL;
    if (dk_quarantine_list(cfg->state, source, &list, err) != 0) {
      fprintf(stderr, "duikou quarantine: %s\n", err);
      status = DK_EXIT_FAILED;
    } else if (json) {
      char *text = json_dumps(list, JSON_INDENT(2) | JSON_SORT_KEYS), *safe = dk_esc_json(text);
      printf("%s\n", safe);
      free(safe);
      free(text);
    } else {
      size_t i;
      json_t *e;
      json_array_foreach(list, i, e) dk__q_print_entry(e, 0);
      printf("%zu entr%s in quarantine%s%s\n", json_array_size(list), json_array_size(list) == 1 ? "y" : "ies",
             source ? " for " : "", source ? source : "");
    }
    json_decref(list);
  } else if (is_show) {
    json_t *e = NULL;
    int rc = dk_quarantine_get(cfg->state, argv[optind], &e, err);
    if (rc != 0) {
      fprintf(stderr, "duikou quarantine: %s\n", err);
      status = DK_EXIT_FAILED;
    } else if (json) {
      char *text = json_dumps(e, JSON_INDENT(2) | JSON_SORT_KEYS), *safe = dk_esc_json(text);
      printf("%s\n", safe);
      free(safe);
      free(text);
    } else {
      dk__q_print_entry(e, 1);
    }
    json_decref(e);
  } else {
    size_t total = 0, n;
    if (optind < argc) {
      for (int i = optind; i < argc; i++) {
        if (dk_quarantine_purge(cfg->state, argv[i], NULL, before, &n, err) != 0) {
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
  }
  dk_config_free(cfg);
  return status;
}

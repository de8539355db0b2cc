/* `duikou exchange`: one push/fetch with every remote (or one) by hand, then
 * main folded again when another site's inputs arrived; prints what moved.
 * `duikou sites`: the sites this repository knows, their last input, and
 * whether their view of main has this site's tree.
 *
 * Exit status: 0 every remote reached and nothing refused; 1 a remote down,
 * a ref refused or another alarm; 2 usage or configuration errors. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "config.h"
#include "converge.h"
#include "escape.h"
#include "exchange.h"
#include "log.h"
#include "options.h"
#include "util.h"

static void dk__x_usage(FILE *f) {
  fprintf(f, "usage: duikou exchange [--remote NAME]\n\n"
             "Exchanges with every configured remote (or the one named) once: fetches the\n"
             "other sites' refs, accepts each that is a fast-forward of what came before,\n"
             "pushes this site's own refs (never forced), then folds main again when new\n"
             "inputs arrived. Prints what moved. Exit status: 0 all went through; 1 a remote\n"
             "could not be reached, refused a ref, or raised another alarm; 2 usage.\n\n"
             "      --remote NAME      only this remote\n"
             "%s",
          dk_cli_common_help);
}

static void dk__s_usage(FILE *f) {
  fprintf(f, "usage: duikou sites [--json]\n\n"
             "The sites this repository knows (this one and those received through the\n"
             "remotes): their sources, their last input received, and whether their view of\n"
             "main has the same tree as this site's (converged), else which inputs differ.\n"
             "Also each remote's state: up, or down since when and why.\n\n"
             "      --json             JSON on stdout\n"
             "%s",
          dk_cli_common_help);
}

/* -c, --remote, --json, --log-level, --help. Returns 0, -1 after --help, or
 * DK_EXIT_USAGE. */
static int dk__x_parse(const char *name, void (*usage)(FILE *), int argc, char **argv, struct dk_cli_opts *o,
                       const char **remote, int *json) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'}, {"remote", required_argument, NULL, 'r'},
    {"json", no_argument, NULL, 'j'},         {"log-level", required_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->config = getenv("DUIKOU_CONFIG");
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': o->config = optarg; break;
    case 'r':
      if (remote == NULL) goto bad;
      *remote = optarg;
      break;
    case 'j':
      if (json == NULL) goto bad;
      *json = 1;
      break;
    case 'L':
      if (dk_cli_log_level(name, optarg) != 0) return DK_EXIT_USAGE;
      o->log_level_set = 1;
      break;
    case 'h': usage(stdout); return -1;
    default:
    bad:
      fprintf(stderr, "duikou %s: unknown option %s\n", name, argv[optind - 1]);
      usage(stderr);
      return DK_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "duikou %s: unexpected argument %s\n", name, argv[optind]);
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  return 0;
}

static void dk__print_refs(const char *what, const struct dk_exchange_ref *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
    if (v[i].had_old)
      printf("  %s %s %.12s..%.12s\n", what, v[i].ref, dk_oid_hex(&v[i].old, a), dk_oid_hex(&v[i].neu, b));
    else
      printf("  %s %s %.12s (new)\n", what, v[i].ref, dk_oid_hex(&v[i].neu, b));
  }
}

int dk_cmd_exchange(int argc, char **argv) {
  struct dk_cli_opts o;
  const char *only = NULL;
  int rc = dk__x_parse("exchange", dk__x_usage, argc, argv, &o, &only, NULL);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  struct dk_config *cfg = dk_cli_load_config(o.config, &o);
  if (cfg == NULL) return DK_EXIT_USAGE;
  if (cfg->nremotes == 0 || (only && !dk_config_remote(cfg, only))) {
    fprintf(stderr, "duikou exchange: %s\n", only ? "no remote of that name in the configuration"
                                                   : "the configuration names no remotes");
    dk_config_free(cfg);
    return DK_EXIT_USAGE;
  }
  char err[DK_ERRBUF_SIZE];
  struct dk_store *st = NULL;
  if (dk_store_open(cfg->repository, &st, err) != 0 || dk_store_lock(st, "duikou exchange", err) != 0) {
    fprintf(stderr, "duikou exchange: %s\n", err);
    dk_store_close(st);
    dk_config_free(cfg);
    return DK_EXIT_FAILED;
  }
  int status = DK_EXIT_OK;
  size_t received = 0;
  for (size_t i = 0; i < cfg->nremotes; i++) {
    const struct dk_remote_conf *r = &cfg->remotes[i];
    if (only && strcmp(only, r->name) != 0) continue;
    struct dk_exchange_report rep;
    int xrc = dk_exchange(st, cfg, r, NULL, &rep);
    if (xrc != 0) {
      printf("%s: down: %s\n", r->name, dk_esc_tmp(rep.err));
      status = DK_EXIT_FAILED;
    } else {
      printf("%s: received %zu ref%s, pushed %zu\n", r->name, rep.nin, rep.nin == 1 ? "" : "s", rep.nout);
      dk__print_refs("received", rep.in, rep.nin);
      dk__print_refs("pushed", rep.out, rep.nout);
    }
    size_t k;
    json_t *a;
    json_array_foreach(rep.alarms, k, a) {
      printf("  alarm: %s\n", dk_esc_tmp(json_string_value(a)));
      status = DK_EXIT_FAILED;
    }
    received += rep.nin;
    dk_exchange_report_clear(&rep);
  }
  struct dk_converge_result cr;
  struct dk_converge_meta m = {.why = only ? only : "exchange"};
  if (dk_converge(st, cfg, NULL, &m, &cr) != 0) {
    printf("main: not folded: %s\n", dk_esc_tmp(st->err));
    status = DK_EXIT_FAILED;
  } else if (cr.committed) {
    printf("main: %s — %zu event%s folded%s: commit %.12s\n", cr.summary, cr.events, cr.events == 1 ? "" : "s",
           cr.refolded ? " (a late input: folded again from an earlier point)" : "", cr.commit);
  } else {
    printf("main: unchanged%s\n", received ? " (what arrived changes no record)" : "");
  }
  dk_converge_result_clear(&cr);
  dk_store_close(st);
  dk_config_free(cfg);
  return status;
}

int dk_cmd_sites(int argc, char **argv) {
  struct dk_cli_opts o;
  int json = 0;
  int rc = dk__x_parse("sites", dk__s_usage, argc, argv, &o, NULL, &json);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  struct dk_config *cfg = dk_cli_load_config(o.config, &o);
  if (cfg == NULL) return DK_EXIT_USAGE;
  char err[DK_ERRBUF_SIZE];
  struct dk_store *st = NULL;
  if (dk_store_open_existing(cfg->repository, &st, err) != 0) {
    fprintf(stderr, "duikou sites: %s\n", err);
    dk_config_free(cfg);
    return DK_EXIT_USAGE;
  }
  json_t *doc = NULL;
  if (dk_converge_sites(st, cfg, &doc) != 0) {
    fprintf(stderr, "duikou sites: %s\n", st->err);
    dk_store_close(st);
    dk_config_free(cfg);
    return DK_EXIT_FAILED;
  }
  json_t *remotes = json_object();
  for (size_t i = 0; i < cfg->nremotes; i++) {
    json_t *s = dk_exchange_state(cfg, cfg->remotes[i].name);
    json_object_set_new(remotes, cfg->remotes[i].name, s ? s : json_object());
  }
  json_object_set_new(doc, "remotes", remotes);
  int status = DK_EXIT_OK;
  if (json) {
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("%s\n", text);
    free(text);
  } else {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "sites"), i, s) {
      const char *name = json_string_value(json_object_get(s, "site"));
      const char *last = json_string_value(json_object_get(s, "last_input"));
      const char *state = json_string_value(json_object_get(s, "main"));
      printf("%-12s %s%zu source%s, last input %s, main %s\n", dk_esc_tmp(name),
             json_is_true(json_object_get(s, "self")) ? "(this site) " : "",
             json_array_size(json_object_get(s, "sources")), json_array_size(json_object_get(s, "sources")) == 1 ? "" : "s",
             last ? last : "-", state ? state : "-");
      size_t k;
      json_t *d;
      json_array_foreach(json_object_get(s, "differs"), k, d) printf("    differs: %s\n", dk_esc_tmp(json_string_value(d)));
      const char *pn = json_string_value(json_object_get(s, "policies_note"));
      if (pn) {
        printf("    alarm: %s\n", pn);
        status = DK_EXIT_FAILED;
      }
    }
    const char *rname;
    json_t *r;
    json_object_foreach(remotes, rname, r) {
      const char *down = json_string_value(json_object_get(r, "down_since"));
      const char *ok = json_string_value(json_object_get(r, "last_success"));
      if (down) {
        printf("remote %s: down since %s: %s\n", rname, down, dk_esc_tmp(json_string_value(json_object_get(r, "error"))));
        status = DK_EXIT_FAILED;
      } else {
        printf("remote %s: %s%s\n", rname, ok ? "up, last exchange " : "never exchanged", ok ? ok : "");
      }
      size_t k;
      json_t *a;
      json_array_foreach(json_object_get(r, "alarms"), k, a) printf("    alarm: %s\n", dk_esc_tmp(json_string_value(a)));
    }
  }
  json_decref(doc);
  dk_store_close(st);
  dk_config_free(cfg);
  return status;
}

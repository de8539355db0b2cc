/* `duikou parse --plugin NAME [--options JSON] [--content-type TYPE] FILE`
 *
 * The plugin author's workbench: runs one plugin on a local file, exactly as
 * a sync would run it on a response body, and prints what it emits, one JSON
 * object a line:
 *   {"record": {…}, "valid": true}
 *   {"record": {…}, "valid": false, "errors": [{"instanceLocation": …, "error": …}, …]}
 *   {"rejected": {"where": "line 12", "raw": "…", "error": "…"}}
 * Exit status: 0 when every record is valid and nothing was rejected, 1 when
 * something was invalid, rejected or the plugin failed, 2 on usage errors. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "record.h"
#include "schemas.h"
#include "util.h"

struct dk__pemit {
  struct dk_emit pub; /* first: the plugin sees only this */
  const char *plugin;
  size_t records, invalid, rejected;
  char failmsg[DK_ERRBUF_SIZE];
  char *next;
  json_t *resolved; /* what resolve_url gave: valid until parse returns */
};

static void dk__print(json_t *line) {
  char *s = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
  puts(s);
  free(s);
  json_decref(line);
}

static int dk__p_record(struct dk_emit *e, json_t *rec) {
  struct dk__pemit *p = (struct dk__pemit *)e;
  if (rec == NULL) return DK_EINVAL;
  p->records++;
  char err[DK_ERRBUF_SIZE], *path = NULL;
  json_t *line = json_pack("{s:o}", "record", rec);
  json_t *errors = json_array();
  if (dk_record_path(rec, &path, err) != 0) {
    json_array_append_new(errors, json_pack("{s:s, s:s}", "instanceLocation", "", "error", err));
  } else {
    struct dk_vresult vr = {0};
    int rc = dk_schemas_validate_record(rec, &vr, err);
    if (rc < 0) json_array_append_new(errors, json_pack("{s:s, s:s}", "instanceLocation", "", "error", dk_strerror(rc)));
    json_t *basic = dk_vresult_basic(&vr);
    json_array_extend(errors, json_object_get(basic, "errors"));
    json_decref(basic);
    dk_vresult_free(&vr);
    json_object_set_new(line, "path", json_string(path));
  }
  free(path);
  int valid = json_array_size(errors) == 0;
  json_object_set_new(line, "valid", json_boolean(valid));
  if (!valid) {
    p->invalid++;
    json_object_set_new(line, "errors", errors);
  } else {
    json_decref(errors);
  }
  dk__print(line);
  return 0;
}

static void dk__p_reject(struct dk_emit *e, const char *where, const char *raw, const char *fmt, ...) {
  struct dk__pemit *p = (struct dk__pemit *)e;
  char msg[DK_ERRBUF_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  p->rejected++;
  json_t *r = json_pack("{s:s, s:s}", "where", where ? where : "", "error", msg);
  json_t *rawv = raw ? json_string(raw) : NULL; /* NULL when raw is not UTF-8 */
  json_object_set_new(r, "raw", rawv ? rawv : json_string("(not UTF-8)"));
  dk__print(json_pack("{s:o}", "rejected", r));
}

static void dk__p_next(struct dk_emit *e, const char *url) {
  struct dk__pemit *p = (struct dk__pemit *)e;
  free(p->next);
  p->next = dk_strdup(url);
}

/* A tombstone is printed as {"tombstone": {"kind", "id", "reason"}}. */
static int dk__p_tombstone(struct dk_emit *e, const char *kind, const char *id, const char *reason) {
  if (kind == NULL || id == NULL) return DK_EINVAL;
  dk__print(json_pack("{s:{s:s, s:s, s:s?}}", "tombstone", "kind", kind, "id", id, "reason", reason));
  return 0;
}

static void dk__p_fail(struct dk_emit *e, const char *fmt, ...) {
  struct dk__pemit *p = (struct dk__pemit *)e;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->failmsg, sizeof p->failmsg, fmt, ap);
  va_end(ap);
}

static void dk__p_log(struct dk_emit *e, enum dk_log_level level, const char *fmt, ...) {
  struct dk__pemit *p = (struct dk__pemit *)e;
  const char *kv[] = {"plugin", p->plugin, NULL};
  va_list ap;
  va_start(ap, fmt);
  dk_vlog(level, kv, fmt, ap);
  va_end(ap);
}

/* emit->resolve_url: the core's RFC 3986 resolution (curl_url); the
 * result lives until the parse returns. */
static const char *dk__p_resolve(struct dk_emit *e, const char *base, const char *ref) {
  struct dk__pemit *p = (struct dk__pemit *)e;
  char *url = dk_http_resolve(base, ref);
  if (url == NULL) return NULL;
  if (p->resolved == NULL) p->resolved = json_array();
  json_array_append_new(p->resolved, json_string(url));
  free(url);
  return json_string_value(json_array_get(p->resolved, json_array_size(p->resolved) - 1));
}

static const char *dk__no_header(const struct dk_response *resp, const char *name) { return NULL; }

static void dk__usage(FILE *f) {
  fprintf(f,
          "usage: duikou parse --plugin NAME [--options JSON] [--content-type TYPE] [--url URL] FILE\n\n"
          "Run one plugin on a local file, as a sync would on a response body, and print the\n"
          "records it emits, one JSON object a line, each with its validation result.\n\n"
          "      --plugin NAME        the plugin\n"
          "      --options JSON       the source's options (checked against the plugin's schema)\n"
          "      --content-type TYPE  what the server would have said (default: none)\n"
          "      --url URL            the URL the body came from (default: file://FILE)\n"
          "      --city CITY          the source's city (default: other)\n%s",
          dk_cli_common_help);
}

/* What the options of `duikou parse` say; file is the one FILE. */
struct dk__pargs {
  const char *name, *options, *ctype, *url, *city, *pdir, *file;
};

/* Parse the options and the one FILE into a (pointers into argv). Returns 0,
 * -1 after --help, or DK_EXIT_USAGE after saying why. */
static int dk__parse_args(int argc, char **argv, struct dk__pargs *a) {
  static const struct option longopts[] = {
    {"plugin", required_argument, NULL, 'p'},
    {"options", required_argument, NULL, 'o'},
    {"content-type", required_argument, NULL, 't'},
    {"url", required_argument, NULL, 'u'},
    {"city", required_argument, NULL, 'C'},
    {"plugin-dir", required_argument, NULL, 'P'},
    {"log-level", required_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  *a = (struct dk__pargs){.city = "other"};
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
    switch (ch) {
      case 'p': a->name = optarg; break;
      case 'o': a->options = optarg; break;
      case 't': a->ctype = optarg; break;
      case 'u': a->url = optarg; break;
      case 'C': a->city = optarg; break;
      case 'P': a->pdir = optarg; break;
      case 'L':
        if (dk_cli_log_level("parse", optarg) != 0) return DK_EXIT_USAGE;
        break;
      case 'h': dk__usage(stdout); return -1;
      default:
        fprintf(stderr, "duikou parse: unknown option %s\n", argv[optind - 1]);
        dk__usage(stderr);
        return DK_EXIT_USAGE;
    }
  }
  if (a->name == NULL || optind + 1 != argc) {
    fprintf(stderr, a->name == NULL ? "duikou parse: --plugin is required\n" : "duikou parse: give exactly one FILE\n");
    dk__usage(stderr);
    return DK_EXIT_USAGE;
  }
  a->file = argv[optind];
  return 0;
}

/* --options as a JSON object, an empty one when options is NULL. Returns 0
 * with *out (the caller's), or DK_EXIT_USAGE after saying why. */
static int dk__parse_json_options(const char *options, json_t **out) {
  *out = NULL;
  if (options == NULL) {
    *out = json_object();
    return 0;
  }
  json_error_t jerr;
  json_t *opts = json_loads(options, 0, &jerr);
  if (!json_is_object(opts)) {
    fprintf(stderr, "duikou parse: --options: %s\n", opts ? "must be a JSON object" : jerr.text);
    json_decref(opts);
    return DK_EXIT_USAGE;
  }
  *out = opts;
  return 0;
}

/* Run plugin p with the source's options opts on body (len bytes) as a sync
 * would on a response from fileurl (or --url), printing what it emits, then a
 * count on stderr. Returns the exit status; everything stays the caller's. */
static int dk__parse_run(const struct dk_plugin *p, const struct dk__pargs *a, json_t *opts, const char *fileurl,
                         const char *body, size_t len) {
  char err[DK_ERRBUF_SIZE];
  struct dk_source src = {.size = sizeof src, .name = "parse", .city = a->city, .url = a->url ? a->url : fileurl, .options = opts};
  void *state = NULL;
  err[0] = '\0';
  int rc = p->init(&state, &src, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "duikou parse: plugin %s refused the options: %s\n", p->name, err[0] ? err : dk_strerror(rc));
    return DK_EXIT_USAGE;
  }
  struct dk_response resp = {.size = sizeof resp, .page = 1, .status = 200, .url = src.url, .content_type = a->ctype, .body = body,
                             .body_len = len, .header = dk__no_header};
  struct dk__pemit em = {
    .pub = {.size = sizeof em.pub, .record = dk__p_record, .reject = dk__p_reject, .next_page = dk__p_next,
            .fail = dk__p_fail, .log = dk__p_log, .tombstone = dk__p_tombstone, .resolve_url = dk__p_resolve},
    .plugin = p->name,
  };
  enum dk_result pr = p->parse(state, &resp, &em.pub);
  if (p->fini) p->fini(state);
  if (em.next) fprintf(stderr, "duikou parse: the plugin asks for a next page: %s (not fetched)\n", em.next);
  free(em.next);
  json_decref(em.resolved);
  if (pr != DK_OK) {
    fprintf(stderr, "duikou parse: plugin %s %s: %s\n", p->name, pr == DK_RETRY ? "asks to retry" : "could not parse",
            em.failmsg[0] ? em.failmsg : "no reason given");
    return DK_EXIT_FAILED;
  }
  fprintf(stderr, "duikou parse: %zu records (%zu invalid), %zu rejected\n", em.records, em.invalid, em.rejected);
  return em.invalid || em.rejected ? DK_EXIT_FAILED : DK_EXIT_OK;
}

int dk_cmd_parse(int argc, char **argv) {
  struct dk__pargs a;
  int status = dk__parse_args(argc, argv, &a);
  if (status != 0) return status < 0 ? DK_EXIT_OK : status;
  json_t *opts = NULL;
  if ((status = dk__parse_json_options(a.options, &opts)) != 0) return status;
  char err[DK_ERRBUF_SIZE], *body = NULL;
  size_t len = 0;
  status = DK_EXIT_USAGE;
  struct dk_loader ld = {0};
  char *fileurl = NULL;
  const struct dk_plugin *p = NULL;
  if (dk_read_file(a.file, &body, &len, err) != 0) {
    fprintf(stderr, "duikou parse: %s\n", err);
    goto out;
  }
  if (dk_loader_scan(&ld, dk_loader_pick_dir(a.pdir, NULL)) != 0 || (p = dk_loader_find(&ld, a.name)) == NULL) {
    fprintf(stderr, "duikou parse: %s\n", ld.err);
    goto out;
  }
  if (dk_schemas_check_options(p, opts, NULL, err) != 0) {
    fprintf(stderr, "duikou parse: %s\n", err);
    goto out;
  }
  char *abs = dk_path_abs(NULL, a.file);
  fileurl = dk_asprintf("file://%s", abs);
  free(abs);
  status = dk__parse_run(p, &a, opts, fileurl, body, len);
out:
  free(fileurl);
  free(body);
  json_decref(opts);
  dk_loader_free(&ld);
  return status;
}

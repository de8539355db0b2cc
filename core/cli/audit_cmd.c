/* The audit commands: `duikou log`, `show`, `diff`, `blame` and
 * `conflicts`. They read the snapshot repository (see audit.h) and print for
 * people, or with --json one JSON document on stdout for scripts.
 *
 * Exit status: 0 ok; 1 what was asked for does not exist (a record, a
 * revision, a commit at or before a date) or the operation failed; 2 usage or
 * configuration errors (an unknown option, a malformed id, date or JSON, no
 * repository at the configured path; for `conflicts resolve`, a record with no
 * open conflict, a field or source the conflict does not hold). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "resolve.h"
#include "canonical.h"
#include "commands.h"
#include "options.h"
#include "config.h"
#include "escape.h"
#include "util.h"

#define DK__SHORT 60 /* bytes of a value shown to people */

struct dk__aopts {
  struct dk_cli_opts cli;
  const char *repo, *at, *field, *take, *value, *by;
  size_t limit;
  int json;
  char **pos; /* the arguments that are not options, in order */
  int npos;
};

enum { DK__O_LIMIT = 1, DK__O_AT = 2, DK__O_RESOLVE = 4 };

/* Options may come before or after the arguments (`log ID --limit 3`).
 * Returns 0, -1 after --help, or DK_EXIT_USAGE after saying why. */
static int dk__aparse(const char *name, void (*usage)(FILE *), int argc, char **argv, unsigned allowed,
                      struct dk__aopts *o) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'}, {"repo", required_argument, NULL, 'R'},
    {"plugin-dir", required_argument, NULL, 'P'}, {"log-level", required_argument, NULL, 'L'},
    {"json", no_argument, NULL, 'j'},         {"limit", required_argument, NULL, 'n'},
    {"at", required_argument, NULL, 'a'},     {"field", required_argument, NULL, 'f'},
    {"take", required_argument, NULL, 't'},   {"value", required_argument, NULL, 'v'},
    {"by", required_argument, NULL, 'b'},     {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->cli.config = getenv("DUIKOU_CONFIG");
  o->pos = dk_calloc((size_t)argc + 1, sizeof *o->pos);
  optind = 1;
  opterr = 0;
  int ch;
  /* "-": arguments come back in order as option 1, whatever POSIXLY_CORRECT says. */
  while ((ch = getopt_long(argc, argv, "-c:h", longopts, NULL)) != -1) {
    unsigned need = ch == 'n' ? DK__O_LIMIT : ch == 'a' ? DK__O_AT
                  : (ch == 'f' || ch == 't' || ch == 'v' || ch == 'b') ? DK__O_RESOLVE : 0;
    if (need && !(allowed & need)) goto bad;
    switch (ch) {
      case 1: o->pos[o->npos++] = optarg; break;
      case 'c': o->cli.config = optarg; break;
      case 'R': o->repo = optarg; break;
      case 'P': o->cli.plugin_dir = optarg; break;
      case 'L':
        if (dk_cli_log_level(name, optarg) != 0) return DK_EXIT_USAGE;
        o->cli.log_level_set = 1;
        break;
      case 'j': o->json = 1; break;
      case 'n': {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*optarg == '\0' || *end != '\0' || v < 1) {
          fprintf(stderr, "duikou %s: --limit: \"%s\" is not a positive number\n", name, optarg);
          return DK_EXIT_USAGE;
        }
        o->limit = (size_t)v;
        break;
      }
      case 'a': o->at = optarg; break;
      case 'f': o->field = optarg; break;
      case 't':
      case 'v':
        if (o->take || o->value) {
          fprintf(stderr, "duikou %s: give one of --take SOURCE, --take main or --value JSON\n", name);
          return DK_EXIT_USAGE;
        }
        if (ch == 't') o->take = optarg;
        else o->value = optarg;
        break;
      case 'b': o->by = optarg; break;
      case 'h': usage(stdout); return -1;
      default:
      bad:
        fprintf(stderr, "duikou %s: unknown option, or option without its value: %s\n", name,
                optind - 1 < argc ? argv[optind - 1] : "?");
        usage(stderr);
        return DK_EXIT_USAGE;
    }
  }
  for (; optind < argc; optind++) o->pos[o->npos++] = argv[optind];
  return 0;
}

/* The repository the options name: --repo, else the configuration's (whose
 * time zone then applies to the times shown). Returns an exit status; 0 with
 * *out open and *path (malloc'd) when path is not NULL. */
static int dk__aopen(const char *name, struct dk__aopts *o, struct dk_audit **out, char **path) {
  *out = NULL;
  char *repo = NULL, err[DK_ERRBUF_SIZE];
  if (o->repo == NULL || o->cli.config) {
    struct dk_config *cfg = dk_cli_load_config(o->cli.config, &o->cli);
    if (cfg == NULL) {
      if (o->cli.config == NULL)
        fprintf(stderr, "duikou %s: name the repository with --repo PATH, or its configuration with -c FILE\n",
                name);
      return DK_EXIT_USAGE;
    }
    repo = dk_strdup(o->repo ? o->repo : cfg->repository);
    dk_config_free(cfg);
  } else {
    repo = dk_strdup(o->repo);
  }
  int rc = dk_audit_open(repo, out, err);
  if (rc != 0) {
    fprintf(stderr, "duikou %s: %s\n", name, err);
    free(repo);
    return rc == DK_ENOENT ? DK_EXIT_USAGE : DK_EXIT_FAILED;
  }
  if (path) *path = repo;
  else free(repo);
  return 0;
}

static int dk__exit_for(int rc) { return rc == DK_EINVAL || rc == DK_EINVALID ? DK_EXIT_USAGE : DK_EXIT_FAILED; }

static void dk__print_json(json_t *doc) {
  char *s = json_dumps(doc, JSON_INDENT(2)), *safe = dk_esc_json(s ? s : "null");
  printf("%s\n", safe);
  free(safe);
  free(s);
  json_decref(doc);
}

static const char *dk__iso(git_time_t t, char *buf, size_t n) { return dk_time_iso((time_t)t, buf, n); }

/* A field name for a person: keys under extra are the source's own, so
 * escaped (escape.h). */
static const char *dk__label(const char *field) { return field[0] ? dk_esc_tmp(field) : "(record)"; }

static json_t *dk__commit_json(const struct dk_audit_commit *c) {
  char when[40];
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "commit", c->hex, "time", dk__iso(c->time, when, sizeof when),
                        "source", c->source, "author", c->author, "summary", c->summary);
  if (c->city) json_object_set_new(j, "city", json_string(c->city));
  return j;
}

/* "    status: in_progress → completed" for each change. */
static void dk__print_changes(const json_t *changes, const char *indent) {
  size_t i;
  json_t *c;
  json_array_foreach(changes, i, c) {
    char *o = dk_value_short(json_object_get(c, "old"), DK__SHORT);
    char *n = dk_value_short(json_object_get(c, "new"), DK__SHORT);
    printf("%s%s: %s \xe2\x86\x92 %s\n", indent, dk__label(json_string_value(json_object_get(c, "field"))), o, n);
    free(o);
    free(n);
  }
}

/* Say why an audit call failed (a->err); returns the exit status for rc. */
static int dk__afail(const char *name, const struct dk_audit *a, int rc) {
  fprintf(stderr, "duikou %s: %s\n", name, a->err);
  return dk__exit_for(rc);
}

/* The commit --at names, else main's. Returns an exit status. */
static int dk__at(const char *name, struct dk_audit *a, const char *at, git_oid *out) {
  int rc = at ? dk_audit_resolve_rev(a, at, out) : dk_audit_main(a, out);
  return rc == 0 ? 0 : dk__afail(name, a, rc);
}

/* Parse the one record argument. Returns an exit status. */
static int dk__one_record(const char *name, void (*usage)(FILE *), struct dk__aopts *o, char **path,
                          enum dk_kind *kind, char **id) {
  if (o->npos != 1) {
    fprintf(stderr, "duikou %s: give one record: an id (jnly-2024/12) or a path (tasks/jnly-2024/12.json)\n", name);
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  char err[DK_ERRBUF_SIZE];
  if (dk_audit_record_name(o->pos[0], path, kind, id, err) != 0) {
    fprintf(stderr, "duikou %s: %s\n", name, err);
    return DK_EXIT_USAGE;
  }
  return 0;
}

/* What log, show and blame share: their options, the one record, the
 * repository and the commit --at names (main by default). */
struct dk__rcmd {
  struct dk__aopts o;
  char *path, *id;
  enum dk_kind kind;
  struct dk_audit *a;
  git_oid at;
};

/* Parse, name the record, open the repository, resolve --at. Returns an
 * exit status (-1 after --help); dk__rcmd_end in every case. */
static int dk__rcmd_begin(const char *name, void (*usage)(FILE *), int argc, char **argv, unsigned allowed,
                          struct dk__rcmd *r) {
  memset(r, 0, sizeof *r);
  int status = dk__aparse(name, usage, argc, argv, allowed, &r->o);
  if (status == 0) status = dk__one_record(name, usage, &r->o, &r->path, &r->kind, &r->id);
  if (status == 0) status = dk__aopen(name, &r->o, &r->a, NULL);
  if (status == 0) status = dk__at(name, r->a, r->o.at, &r->at);
  return status;
}

static int dk__rcmd_end(struct dk__rcmd *r, int status) {
  dk_audit_close(r->a);
  free(r->path);
  free(r->id);
  free(r->o.pos);
  return status < 0 ? DK_EXIT_OK : status;
}

/* "PATH is not in COMMIT (REV)": the record is absent there. */
static int dk__not_in(const char *name, const struct dk__rcmd *r) {
  char hex[GIT_OID_HEXSZ + 1];
  fprintf(stderr, "duikou %s: %s is not in %.12s (%s)\n", name, r->path, dk_oid_hex(&r->at, hex),
          r->o.at ? r->o.at : "main");
  return DK_EXIT_FAILED;
}

int dk_cmd_log(int argc, char **argv, void (*usage)(FILE *f)) {
  struct dk__rcmd r;
  struct dk_audit_entry *v = NULL;
  size_t n = 0;
  int status = dk__rcmd_begin("log", usage, argc, argv, DK__O_LIMIT, &r);
  if (status != 0) goto out;
  int rc = dk_audit_log(r.a, &r.at, r.path, r.o.limit, &v, &n);
  if (rc != 0) {
    status = dk__afail("log", r.a, rc);
    goto out;
  }
  if (n == 0) {
    fprintf(stderr, "duikou log: %s has no history on main\n", r.path);
    status = DK_EXIT_FAILED;
    goto out;
  }
  if (r.o.json) {
    json_t *hist = json_array();
    for (size_t i = 0; i < n; i++) {
      json_t *e = dk__commit_json(&v[i].commit);
      json_object_set_new(e, "action", json_string(dk_audit_action_name(v[i].action)));
      json_object_set(e, "changes", v[i].changes);
      json_array_append_new(hist, e);
    }
    dk__print_json(json_pack("{s:s, s:s, s:s, s:o}", "path", r.path, "kind", dk_kind_name(r.kind), "id", r.id,
                             "history", hist));
  } else {
    for (size_t i = 0; i < n; i++) {
      char when[40];
      printf("%s%.12s  %s  %s\n", i ? "\n" : "", v[i].commit.hex, dk__iso(v[i].commit.time, when, sizeof when),
             dk_esc_tmp(v[i].commit.source));
      if (v[i].action == DK_AUDIT_CHANGED) dk__print_changes(v[i].changes, "    ");
      else printf("    %s\n", dk_audit_action_name(v[i].action));
    }
  }
out:
  dk_audit_entries_free(v, n);
  return dk__rcmd_end(&r, status);
}

int dk_cmd_show(int argc, char **argv, void (*usage)(FILE *f)) {
  struct dk__rcmd r;
  json_t *rec = NULL;
  struct dk_audit_commit at_info = {0}, last_info = {0};
  git_oid last;
  int status = dk__rcmd_begin("show", usage, argc, argv, DK__O_AT, &r);
  if (status != 0) goto out;
  int rc = dk_audit_read(r.a, &r.at, r.path, &rec, NULL);
  if (rc == 0) rc = dk_audit_last_change(r.a, &r.at, r.path, &last);
  if (rc == 0) rc = dk_audit_commit_info(r.a, &r.at, &at_info);
  if (rc == 0) rc = dk_audit_commit_info(r.a, &last, &last_info);
  if (rc != 0) {
    status = rc == DK_ENOENT ? dk__not_in("show", &r) : dk__afail("show", r.a, rc);
    goto out;
  }
  if (r.o.json) {
    json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:O}", "path", r.path, "kind", dk_kind_name(r.kind), "id",
                            r.id, "at", dk__commit_json(&at_info), "changed_in", dk__commit_json(&last_info), "record",
                            rec);
    dk__print_json(doc);
  } else {
    char w1[40], w2[40];
    printf("# %s at %.12s (%s, %s)", r.path, at_info.hex, dk__iso(at_info.time, w1, sizeof w1), dk_esc_tmp(at_info.source));
    if (!dk_oid_equal(&r.at, &last))
      printf("; last changed in %.12s (%s, %s)", last_info.hex, dk__iso(last_info.time, w2, sizeof w2),
             dk_esc_tmp(last_info.source));
    printf("\n");
    char *text = dk_canonical_dump(rec, NULL);
    char *safe = dk_esc_json(text);
    fputs(safe, stdout);
    free(safe);
    free(text);
  }
out:
  dk_audit_commit_clear(&at_info);
  dk_audit_commit_clear(&last_info);
  json_decref(rec);
  return dk__rcmd_end(&r, status);
}

/* The groups of `duikou diff`: the four kinds, open conflicts, the rest. */
#define DK__GROUPS (DK_KIND_COUNT + 2)

static int dk__group(const struct dk_audit_delta *d) {
  return d->kind != DK_KIND_NONE ? (int)d->kind : d->conflict ? DK_KIND_COUNT : DK_KIND_COUNT + 1;
}

static const char *dk__group_name(int g, int plural) {
  if (g < DK_KIND_COUNT) return plural ? dk_kind_folder((enum dk_kind)g) : dk_kind_name((enum dk_kind)g);
  if (g == DK_KIND_COUNT) return plural ? "conflicts" : "conflict";
  return "other";
}

static void dk__counts(char *out, size_t n, const size_t c[3]) {
  static const char *const names[3] = {"added", "changed", "deleted"};
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < 3; i++)
    if (c[i] && used < n)
      used += (size_t)snprintf(out + used, n - used, "%s%zu %s", used ? ", " : "", c[i], names[i]);
}

/* A diff between two commits and its counts by action (added, changed,
 * deleted), per group and in all; everything points into the caller's. */
struct dk__diffsum {
  const struct dk_audit_delta *d;
  size_t n;
  size_t count[DK__GROUPS][3], total[3];
  const struct dk_audit_commit *ia, *ib;
  const char *ra, *rb;
};

/* `diff --json`: the whole diff as one JSON document on stdout. */
static void dk__diff_json(const struct dk__diffsum *s) {
  const struct dk_audit_delta *d = s->d;
  json_t *groups = json_array();
  for (int g = 0; g < DK__GROUPS; g++) {
    if (s->count[g][0] + s->count[g][1] + s->count[g][2] == 0) continue;
    json_t *recs = json_array();
    for (size_t i = 0; i < s->n; i++) {
      if (dk__group(&d[i]) != g) continue;
      json_t *r = json_pack("{s:s, s:s}", "path", d[i].path, "action", dk_audit_action_name(d[i].action));
      if (d[i].id) json_object_set_new(r, "id", json_string(d[i].id));
      if (d[i].changes) json_object_set(r, "changes", d[i].changes);
      json_array_append_new(recs, r);
    }
    json_array_append_new(groups, json_pack("{s:s, s:I, s:I, s:I, s:o}", "kind", dk__group_name(g, 0), "added",
                                            (json_int_t)s->count[g][0], "changed", (json_int_t)s->count[g][1],
                                            "deleted", (json_int_t)s->count[g][2], "records", recs));
  }
  json_t *from = dk__commit_json(s->ia), *to = dk__commit_json(s->ib);
  json_object_set_new(from, "rev", json_string(s->ra));
  json_object_set_new(to, "rev", json_string(s->rb));
  dk__print_json(json_pack("{s:o, s:o, s:I, s:I, s:I, s:o}", "from", from, "to", to, "added",
                           (json_int_t)s->total[0], "changed", (json_int_t)s->total[1], "deleted",
                           (json_int_t)s->total[2], "groups", groups));
}

/* `diff` for people: a summary line, then each group's records. */
static void dk__diff_text(const struct dk__diffsum *s) {
  const struct dk_audit_delta *d = s->d;
  char w1[40], w2[40], counts[128];
  dk__counts(counts, sizeof counts, s->total);
  printf("from %.12s (%s, %s) to %.12s (%s, %s): %s\n", s->ia->hex, dk__iso(s->ia->time, w1, sizeof w1), s->ra,
         s->ib->hex, dk__iso(s->ib->time, w2, sizeof w2), s->rb, s->n ? counts : "no differences");
  for (int g = 0; g < DK__GROUPS; g++) {
    if (s->count[g][0] + s->count[g][1] + s->count[g][2] == 0) continue;
    dk__counts(counts, sizeof counts, s->count[g]);
    printf("\n%s: %s\n", dk__group_name(g, 1), counts);
    for (size_t i = 0; i < s->n; i++) {
      if (dk__group(&d[i]) != g) continue;
      printf("  %c %s\n", d[i].action == DK_AUDIT_ADDED ? '+' : d[i].action == DK_AUDIT_DELETED ? '-' : '~',
             d[i].path);
      if (d[i].changes) dk__print_changes(d[i].changes, "      ");
    }
  }
}

int dk_cmd_diff(int argc, char **argv, void (*usage)(FILE *f)) {
  struct dk__aopts o;
  struct dk_audit *a = NULL;
  struct dk_audit_delta *d = NULL;
  struct dk_audit_commit ia = {0}, ib = {0};
  size_t n = 0;
  git_oid oa, ob;
  int status = dk__aparse("diff", usage, argc, argv, 0, &o);
  if (status != 0) goto out;
  if (o.npos < 1 || o.npos > 2) {
    fprintf(stderr, "duikou diff: give one or two revisions or dates: A [B] (B is main by default)\n");
    usage(stderr);
    status = DK_EXIT_USAGE;
    goto out;
  }
  const char *ra = o.pos[0], *rb = o.npos > 1 ? o.pos[1] : "main";
  if ((status = dk__aopen("diff", &o, &a, NULL)) != 0) goto out;
  if ((status = dk__at("diff", a, ra, &oa)) != 0 || (status = dk__at("diff", a, rb, &ob)) != 0) goto out;
  int rc = dk_audit_diff(a, &oa, &ob, &d, &n);
  if (rc == 0) rc = dk_audit_commit_info(a, &oa, &ia);
  if (rc == 0) rc = dk_audit_commit_info(a, &ob, &ib);
  if (rc != 0) {
    status = dk__afail("diff", a, rc);
    goto out;
  }
  struct dk__diffsum sum = {.d = d, .n = n, .ia = &ia, .ib = &ib, .ra = ra, .rb = rb};
  for (size_t i = 0; i < n; i++) {
    sum.count[dk__group(&d[i])][d[i].action]++;
    sum.total[d[i].action]++;
  }
  if (o.json) dk__diff_json(&sum);
  else dk__diff_text(&sum);
out:
  dk_audit_commit_clear(&ia);
  dk_audit_commit_clear(&ib);
  dk_audit_deltas_free(d, n);
  dk_audit_close(a);
  free(o.pos);
  return status < 0 ? DK_EXIT_OK : status;
}

int dk_cmd_blame(int argc, char **argv, void (*usage)(FILE *f)) {
  struct dk__rcmd r;
  struct dk_audit_blame *lines = NULL;
  struct dk_audit_commit at_info = {0};
  size_t n = 0;
  json_t *rec = NULL;
  int status = dk__rcmd_begin("blame", usage, argc, argv, DK__O_AT, &r);
  if (status != 0) goto out;
  int rc = dk_audit_blame_record(r.a, &r.at, r.path, &rec, &lines, &n);
  if (rc == 0) rc = dk_audit_commit_info(r.a, &r.at, &at_info);
  if (rc != 0) {
    status = rc == DK_ENOENT ? dk__not_in("blame", &r) : dk__afail("blame", r.a, rc);
    goto out;
  }
  if (r.o.json) {
    json_t *fields = json_array();
    char when[40];
    for (size_t i = 0; i < n; i++)
      json_array_append_new(fields, json_pack("{s:s, s:O, s:s, s:s, s:s}", "field", lines[i].field, "value",
                                              lines[i].value, "commit", lines[i].commit.hex, "time",
                                              dk__iso(lines[i].commit.time, when, sizeof when), "source",
                                              lines[i].commit.source));
    dk__print_json(json_pack("{s:s, s:s, s:s, s:o, s:o}", "path", r.path, "kind", dk_kind_name(r.kind), "id", r.id,
                             "at", dk__commit_json(&at_info), "fields", fields));
  } else {
    int width = 0;
    for (size_t i = 0; i < n; i++)
      if ((int)strlen(lines[i].commit.source) > width) width = (int)strlen(lines[i].commit.source);
    for (size_t i = 0; i < n; i++) {
      char when[40];
      char *v = dk_value_short(lines[i].value, DK__SHORT);
      printf("%.12s  %s  %-*s  %s: %s\n", lines[i].commit.hex, dk__iso(lines[i].commit.time, when, sizeof when),
             width, dk_esc_tmp(lines[i].commit.source), dk__label(lines[i].field), v);
      free(v);
    }
  }
out:
  dk_audit_commit_clear(&at_info);
  dk_audit_blame_free(lines, n);
  json_decref(rec);
  return dk__rcmd_end(&r, status);
}

/* The sources of a conflict document's entries, "a, b", each once. */
static char *dk__conflict_sources(const json_t *fields, int want_fields) {
  struct dk_buf b = {0};
  json_t *seen = json_object();
  size_t i;
  json_t *e;
  json_array_foreach(fields, i, e) {
    const char *s = json_string_value(json_object_get(e, want_fields ? "field" : "source"));
    if (s == NULL || json_object_get(seen, s)) continue;
    json_object_set_new(seen, s, json_true());
    dk_buf_printf(&b, "%s%s", b.len ? ", " : "", want_fields ? dk__label(s) : dk_esc_tmp(s));
  }
  json_decref(seen);
  return b.len ? dk_buf_steal(&b) : dk_strdup("?");
}

/* A string of a conflict document, escaped for the terminal (escape.h). */
static const char *dk__str(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? dk_esc_tmp(s) : "?";
}

static void dk__print_conflict(const json_t *doc) {
  printf("%s %s (%s), open in %s\n", dk__str(doc, "kind"), dk__str(doc, "id"), dk__str(doc, "path"),
         dk__str(doc, "file"));
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(doc, "fields"), i, e) {
    const char *city = json_string_value(json_object_get(e, "city"));
    printf("  %s: from %s%s%s%s, policy %s, opened %s\n", dk__label(dk__str(e, "field")), dk__str(e, "source"),
           city ? " (" : "", city ? city : "", city ? ")" : "", dk__str(e, "policy"), dk__str(e, "opened_at"));
    static const char *const sides[] = {"base", "ours", "theirs"};
    static const char *const what[] = {"base:  ", "ours:  ", "theirs:"};
    for (int s = 0; s < 3; s++) {
      char *v = dk_value_short(json_object_get(e, sides[s]), DK__SHORT);
      printf("    %s %s%s%s%s\n", what[s], v, s == 1 ? "   (main)" : s == 2 ? "   (" : "",
             s == 2 ? dk__str(e, "source") : "", s == 2 ? ")" : "");
      free(v);
    }
  }
}

/* `conflicts resolve`: check its arguments and parse --value into *value
 * (the caller's; NULL without --value). Returns 0, or DK_EXIT_USAGE after
 * saying why. */
static int dk__resolve_args(const struct dk__aopts *o, void (*usage)(FILE *), json_t **value) {
  *value = NULL;
  if (o->npos != 2) {
    fprintf(stderr, "duikou conflicts resolve: give one record (its id, path or conflict file)\n");
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  if (!o->take && !o->value) {
    fprintf(stderr, "duikou conflicts resolve: say what to keep: --take SOURCE, --take main or --value JSON\n");
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  if (o->value) {
    json_error_t jerr;
    *value = json_loads(o->value, JSON_DECODE_ANY, &jerr);
    if (*value == NULL) {
      fprintf(stderr, "duikou conflicts resolve: --value is not JSON: %s (column %d); a string needs its quotes: "
                      "--value '\"completed\"'\n",
              jerr.text, jerr.column);
      return DK_EXIT_USAGE;
    }
  }
  return 0;
}

/* Who resolves: --by, else $DUIKOU_USER, else $USER, else "operator". The
 * string is not the caller's to free. */
static const char *dk__resolve_by(const struct dk__aopts *o) {
  const char *by = o->by;
  if (by == NULL) by = getenv("DUIKOU_USER");
  if (by == NULL || *by == '\0') by = getenv("USER");
  if (by == NULL || *by == '\0') by = "operator";
  return by;
}

/* Open the options' repository for writing into *st (the caller closes it).
 * Returns 0, or the exit status after saying why. */
static int dk__resolve_store(struct dk__aopts *o, struct dk_store **st) {
  struct dk_audit *a = NULL;
  char *repo = NULL;
  *st = NULL;
  int status = dk__aopen("conflicts resolve", o, &a, &repo);
  dk_audit_close(a); /* it was opened only to be sure the repository exists */
  if (status != 0) return status;
  char err[DK_ERRBUF_SIZE];
  if (dk_store_open(repo, st, err) != 0) {
    fprintf(stderr, "duikou conflicts resolve: %s\n", err);
    free(repo);
    return DK_EXIT_FAILED;
  }
  free(repo);
  return 0;
}

/* Say what a resolution did: with --json one document, else the commit and
 * the fields still open. */
static void dk__resolve_print(const struct dk__aopts *o, const struct dk_resolve_result *res, const char *by) {
  char hex[GIT_OID_HEXSZ + 1];
  if (o->json) {
    dk__print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O}", "commit",
                             dk_oid_hex(&res->commit, hex), "path", res->path, "file", res->file,
                             "resolution", res->resolution, "by", by, "fields", res->applied, "remaining",
                             res->remaining));
    return;
  }
  const char *subject = res->message + strlen("resolve ");
  printf("resolved %.*s\n", (int)strcspn(subject, "\n"), subject);
  printf("committed %.12s to main; ", dk_oid_hex(&res->commit, hex));
  if (json_array_size(res->remaining)) {
    printf("still open: ");
    size_t i;
    json_t *f;
    json_array_foreach(res->remaining, i, f) printf("%s%s", i ? ", " : "", dk__label(json_string_value(f)));
    printf("\n");
  } else {
    printf("%s removed, no field left open\n", res->file);
  }
}

/* `conflicts resolve RECORD (--take SOURCE | --take main | --value JSON)`:
 * commit the resolution to main. Returns the exit status. */
static int dk__conflicts_resolve(struct dk__aopts *o, void (*usage)(FILE *)) {
  json_t *value = NULL;
  int status = dk__resolve_args(o, usage, &value);
  if (status != 0) return status;
  const char *by = dk__resolve_by(o);
  struct dk_store *st = NULL;
  if ((status = dk__resolve_store(o, &st)) != 0) {
    json_decref(value);
    return status;
  }
  int is_main = o->take && strcmp(o->take, "main") == 0;
  /* the site and the policies main is folded with, as the daemon's */
  struct dk_config *cfg = o->repo == NULL || o->cli.config ? dk_cli_load_config(o->cli.config, &o->cli) : NULL;
  struct dk_resolve_req req = {
    .name = o->pos[1], .field = o->field,
    .how = o->value ? DK_RESOLVE_VALUE : is_main ? DK_RESOLVE_MAIN : DK_RESOLVE_TAKE,
    .source = o->take, .value = value, .by = by, .cfg = cfg,
  };
  struct dk_resolve_result res;
  int rc = dk_resolve(st, &req, &res);
  if (rc != 0) {
    fprintf(stderr, "duikou conflicts resolve: %s\n", st->err);
    status = dk__exit_for(rc);
  } else {
    dk__resolve_print(o, &res, by);
  }
  dk_resolve_result_clear(&res);
  dk_store_close(st);
  dk_config_free(cfg);
  json_decref(value);
  return status;
}

enum dk__conflicts_action { DK__C_LIST, DK__C_SHOW, DK__C_RESOLVE };

/* The action of `conflicts` (list when none) and whether its arguments fit
 * it. Returns 0 with *action set, or DK_EXIT_USAGE after saying why. */
static int dk__conflicts_action(const struct dk__aopts *o, void (*usage)(FILE *), enum dk__conflicts_action *action) {
  const char *name = o->npos > 0 ? o->pos[0] : "list";
  int is_list = strcmp(name, "list") == 0, is_show = strcmp(name, "show") == 0,
      is_resolve = strcmp(name, "resolve") == 0;
  if (!is_list && !is_show && !is_resolve) {
    fprintf(stderr, "duikou conflicts: unknown action \"%s\" (list, show or resolve)\n", name);
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  if (!is_resolve && (o->field || o->take || o->value || o->by)) {
    fprintf(stderr, "duikou conflicts %s: --field, --take, --value and --by go with resolve\n", name);
    return DK_EXIT_USAGE;
  }
  *action = is_list ? DK__C_LIST : is_show ? DK__C_SHOW : DK__C_RESOLVE;
  if (is_resolve) return 0; /* dk__conflicts_resolve checks its own */
  if ((is_list && o->npos > 1) || (is_show && o->npos != 2)) {
    if (is_list) fprintf(stderr, "duikou conflicts list: unexpected argument \"%s\"\n", o->pos[1]);
    else fprintf(stderr, "duikou conflicts show: give one record (its id, path or conflict file)\n");
    usage(stderr);
    return DK_EXIT_USAGE;
  }
  return 0;
}

/* `conflicts show`: the document in list for the conflict file file, which
 * the user named asked. Returns the exit status. */
static int dk__conflicts_show(const struct dk__aopts *o, json_t *list, const char *file, const char *asked) {
  json_t *doc = NULL;
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) if (strcmp(dk__str(e, "file"), file) == 0) doc = e;
  if (doc == NULL) {
    fprintf(stderr, "duikou conflicts show: no open conflict on %s (main has no %s)\n", asked, file);
    return DK_EXIT_FAILED;
  }
  if (o->json) dk__print_json(json_incref(doc));
  else dk__print_conflict(doc);
  return 0;
}

/* `conflicts list` for people: a line for each open conflict, then a count. */
static void dk__conflicts_list(const json_t *list) {
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    if (json_object_get(e, "error")) {
      printf("%s: %s\n", dk__str(e, "file"), dk__str(e, "error"));
      continue;
    }
    const json_t *fields = json_object_get(e, "fields");
    char *names = dk__conflict_sources(fields, 1), *sources = dk__conflict_sources(fields, 0);
    /* the oldest entry says how long it has waited */
    const char *opened = NULL;
    size_t j;
    json_t *f;
    json_array_foreach(fields, j, f) {
      const char *t = json_string_value(json_object_get(f, "opened_at"));
      if (t && (opened == NULL || dk_time_parse_iso(t) < dk_time_parse_iso(opened))) opened = t;
    }
    printf("%s %s: %s; from %s; opened %s\n", dk__str(e, "kind"), dk__str(e, "id"), names, sources,
           opened ? opened : "?");
    free(names);
    free(sources);
  }
  size_t nc = json_array_size(list);
  if (nc == 0) printf("no open conflicts\n");
  else printf("%zu open conflict%s\n", nc, nc == 1 ? "" : "s");
}

int dk_cmd_conflicts(int argc, char **argv, void (*usage)(FILE *f)) {
  struct dk__aopts o;
  struct dk_audit *a = NULL;
  json_t *list = NULL;
  char *file = NULL; /* show: the conflict file asked for */
  git_oid head;
  enum dk__conflicts_action action;
  int status = dk__aparse("conflicts", usage, argc, argv, DK__O_RESOLVE, &o);
  if (status == 0) status = dk__conflicts_action(&o, usage, &action);
  if (status != 0) goto out;
  if (action == DK__C_RESOLVE) {
    status = dk__conflicts_resolve(&o, usage);
    goto out;
  }
  char *rpath = NULL, *id = NULL, err[DK_ERRBUF_SIZE];
  enum dk_kind kind;
  if (action == DK__C_SHOW && dk_audit_conflict_name(o.pos[1], &rpath, &kind, &id, &file, err) != 0) {
    fprintf(stderr, "duikou conflicts show: %s\n", err);
    status = DK_EXIT_USAGE;
    goto out;
  }
  free(rpath);
  free(id);
  if ((status = dk__aopen("conflicts", &o, &a, NULL)) != 0 || (status = dk__at("conflicts", a, NULL, &head)) != 0)
    goto out;
  int rc = dk_audit_conflicts(a, &head, &list);
  if (rc != 0) status = dk__afail("conflicts", a, rc);
  else if (action == DK__C_SHOW) status = dk__conflicts_show(&o, list, file, o.pos[1]);
  else if (o.json) dk__print_json(json_pack("{s:O}", "conflicts", list));
  else dk__conflicts_list(list);
out:
  json_decref(list);
  dk_audit_close(a);
  free(file);
  free(o.pos);
  return status < 0 ? DK_EXIT_OK : status;
}

#include "fold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit.h"
#include "canonical.h"
#include "schemas.h"

#define DK__SHOW 80 /* bytes of a value in a commit body line, as reconcile.c */

/* ---- keys and checkpoints ---- */

static int dk__cmp0(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

int dk_fold_key_cmp(const struct dk_fold_key *a, const struct dk_fold_key *b) {
  if (a->time != b->time) return a->time < b->time ? -1 : 1;
  int c = dk__cmp0(a->site, b->site);
  if (c) return c;
  if (a->type != b->type) return a->type < b->type ? -1 : 1;
  if ((c = dk__cmp0(a->source, b->source)) != 0) return c;
  if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
  return strcmp(a->hex, b->hex);
}

void dk_fold_key_format(const struct dk_fold_key *k, struct dk_buf *b) {
  dk_buf_printf(b, "%lld %s %d %s %lu %s", (long long)k->time, k->site && k->site[0] ? k->site : "-", k->type,
                k->source && k->source[0] ? k->source : "-", k->seq, k->hex);
}

/* The next line `key: value` of a message from *p on (any paragraph: the
 * engine's bodies never start a line with "Duikou-"): its value and length,
 * or NULL. */
static const char *dk__next_trailer(const char **p, const char *key, size_t *vlen) {
  size_t kl = strlen(key);
  while (*p && **p) {
    const char *line = *p, *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    *p = line + len + (nl != NULL);
    if (len > kl && strncasecmp(line, key, kl) == 0 && line[kl] == ':') {
      const char *v = line + kl + 1, *end = line + len;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      if (end > v && end[-1] == '\r') end--;
      *vlen = (size_t)(end - v);
      return v;
    }
  }
  return NULL;
}

/* Whether the message has a line `key: <exactly s>`. */
/* Whether msg has the trailer `key: s`, or `key: s<TAB>reason` (a path
 * may hold spaces, never a tab); *reason (when asked) is then a malloc'd
 * copy of the reason, or NULL. */
static int dk__has_trailer_why(const char *msg, const char *key, const char *s, char **reason) {
  size_t sl = strlen(s), vl;
  const char *v;
  if (reason) *reason = NULL;
  while ((v = dk__next_trailer(&msg, key, &vl)) != NULL)
    if (vl >= sl && memcmp(v, s, sl) == 0 && (vl == sl || v[sl] == '\t')) {
      if (reason && vl > sl + 1) *reason = dk_strndup(v + sl + 1, vl - sl - 1);
      return 1;
    }
  return 0;
}


static int dk__parse_ulong(const char *s, unsigned long *out) {
  char *end;
  if (s == NULL || *s < '0' || *s > '9') return 0;
  *out = strtoul(s, &end, 10);
  return *end == '\0';
}

static int dk__parse_time(const char *s, git_time_t *out) {
  char *end;
  if (s == NULL || *s == '\0') return 0;
  *out = (git_time_t)strtoll(s, &end, 10);
  return *end == '\0';
}

static int dk__parse_pos(const char *v, size_t l, struct dk_fold_pos *p) {
  char *s = dk_strndup(v, l), *save = NULL;
  char *ref = strtok_r(s, " ", &save), *hex = strtok_r(NULL, " ", &save), *et = strtok_r(NULL, " ", &save),
       *sq = strtok_r(NULL, " ", &save), *extra = strtok_r(NULL, " ", &save);
  int ok = ref && hex && extra == NULL && strlen(hex) == 40 && dk_oid_parse(hex, &p->commit) == 0 &&
           dk__parse_time(et, &p->etime) && dk__parse_ulong(sq, &p->seq) && p->seq > 0;
  if (ok) p->ref = dk_strdup(ref);
  free(s);
  return ok;
}

static int dk__parse_key(const char *v, size_t l, struct dk_fold_point *p) {
  p->keytext = dk_strndup(v, l);
  char *save = NULL, *t = strtok_r(p->keytext, " ", &save), *site = strtok_r(NULL, " ", &save),
       *ty = strtok_r(NULL, " ", &save), *src = strtok_r(NULL, " ", &save), *sq = strtok_r(NULL, " ", &save),
       *hex = strtok_r(NULL, " ", &save), *extra = strtok_r(NULL, " ", &save);
  unsigned long type = 0;
  struct dk_fold_key *k = &p->key;
  if (!dk__parse_time(t, &k->time) || site == NULL || !dk__parse_ulong(ty, &type) || type > 1 || src == NULL ||
      !dk__parse_ulong(sq, &k->seq) || hex == NULL || strlen(hex) != 40 || extra != NULL)
    return 0;
  k->site = site;
  k->type = (int)type;
  k->source = strcmp(src, "-") == 0 ? NULL : src;
  memcpy(k->hex, hex, 41);
  return 1;
}

void dk_fold_point_free(struct dk_fold_point *p) {
  for (size_t i = 0; i < p->npos; i++) free(p->pos[i].ref);
  free(p->pos);
  free(p->keytext);
  memset(p, 0, sizeof *p);
}

void dk_fold_point_parse(const char *message, struct dk_fold_point *out) {
  memset(out, 0, sizeof *out);
  const char *p = message, *v;
  size_t vl, cap = 0;
  int ok = 1;
  while (ok && (v = dk__next_trailer(&p, DK_FOLD_TRAILER, &vl)) != NULL) {
    if (out->npos == cap) out->pos = dk_realloc(out->pos, (cap = cap ? 2 * cap : 8) * sizeof *out->pos);
    if (dk__parse_pos(v, vl, &out->pos[out->npos])) out->npos++;
    else ok = 0;
  }
  p = message;
  if (ok && (v = dk__next_trailer(&p, DK_FOLD_KEY_TRAILER, &vl)) != NULL) ok = dk__parse_key(v, vl, out);
  else ok = 0;
  p = message;
  if (ok && (v = dk__next_trailer(&p, DK_FOLD_FROM_TRAILER, &vl)) != NULL) {
    char *t = dk_strndup(v, vl), *save = NULL, *hex = strtok_r(t, " ", &save), *dp = strtok_r(NULL, " ", &save);
    unsigned long depth = 0;
    ok = hex && strlen(hex) == 40 && dk_oid_parse(hex, &out->from) == 0 && dk__parse_ulong(dp, &depth) &&
         depth > 0 && depth <= DK_FOLD_FULL_EVERY && strtok_r(NULL, " ", &save) == NULL;
    out->has_from = ok;
    out->depth = (unsigned)depth;
    free(t);
  }
  out->has_key = ok;
}

int dk_fold_point_load(struct dk_store *st, const char *message, struct dk_fold_point *out) {
  dk_fold_point_parse(message, out);
  int rc = 0;
  for (unsigned hops = 0; rc == 0 && out->has_key && out->has_from; hops++) {
    struct dk_store_commit c = {0};
    struct dk_fold_point base;
    if (hops > DK_FOLD_FULL_EVERY || dk_store_commit(st, &out->from, &c) != 0) {
      out->has_key = 0; /* a chain too long, or a base gone: no checkpoint */
      break;
    }
    dk_fold_point_parse(c.message, &base);
    dk_store_commit_clear(&c);
    if (!base.has_key) {
      dk_fold_point_free(&base);
      out->has_key = 0;
      break;
    }
    for (size_t k = 0; k < base.npos; k++) {
      size_t i = 0;
      while (i < out->npos && strcmp(out->pos[i].ref, base.pos[k].ref) != 0) i++;
      if (i < out->npos) continue; /* moved since: the newer line holds */
      out->pos = dk_realloc(out->pos, (out->npos + 1) * sizeof *out->pos);
      out->pos[out->npos++] = base.pos[k];
      base.pos[k].ref = NULL;
    }
    out->has_from = base.has_from;
    out->from = base.from;
    for (size_t k = 0; k < base.npos; k++) free(base.pos[k].ref);
    base.npos = 0;
    dk_fold_point_free(&base);
  }
  out->has_from = 0;
  return rc;
}

int dk_fold_point_read(struct dk_store *st, const git_oid *main_commit, struct dk_fold_point *out) {
  struct dk_store_commit c = {0};
  memset(out, 0, sizeof *out);
  int rc = dk_store_commit(st, main_commit, &c);
  if (rc == 0) rc = dk_fold_point_load(st, c.message, out);
  dk_store_commit_clear(&c);
  return rc;
}

static int dk__pos_cmp(const void *a, const void *b) {
  return strcmp(((const struct dk_fold_pos *)a)->ref, ((const struct dk_fold_pos *)b)->ref);
}

void dk_fold_point_write(const struct dk_fold_point *p, struct dk_buf *b) {
  struct dk_fold_pos *sorted = dk_calloc(p->npos ? p->npos : 1, sizeof *sorted);
  if (p->npos) memcpy(sorted, p->pos, p->npos * sizeof *sorted);
  qsort(sorted, p->npos, sizeof *sorted, dk__pos_cmp);
  char hex[41];
  for (size_t i = 0; i < p->npos; i++)
    dk_buf_printf(b, "%s: %s %s %lld %lu\n", DK_FOLD_TRAILER, sorted[i].ref, dk_oid_hex(&sorted[i].commit, hex),
                  (long long)sorted[i].etime, sorted[i].seq);
  free(sorted);
  if (p->has_key) {
    dk_buf_printf(b, "%s: ", DK_FOLD_KEY_TRAILER);
    dk_fold_key_format(&p->key, b);
    dk_buf_puts(b, "\n");
  }
}

/* ---- record paths ---- */

/* A record's own path "<folder>/<id>.json" (dk_record_parse_name alone also
 * takes bare ids, and a conflict file's path reads as one). */
static int dk__record_path(const char *path, enum dk_kind *kind, char **id) {
  if (dk_record_parse_name(path, kind, id) != 0) return 0;
  char *p = dk_record_file(*kind, *id);
  int ok = p && strcmp(p, path) == 0;
  free(p);
  if (!ok) {
    free(*id);
    *id = NULL;
  }
  return ok;
}

/* ---- resolutions ---- */

static int dk__how_ok(const json_t *r) {
  const char *how = json_string_value(json_object_get(r, "how"));
  if (how == NULL) return 0;
  if (strcmp(how, "main") == 0) return 1;
  if (strcmp(how, "value") == 0) return json_object_get(r, "value") != NULL;
  if (strcmp(how, "take") == 0)
    /* an entry written before sites (by hand, or an earlier duikou) names no site */
  return json_is_string(json_object_get(r, "source")) &&
           (json_object_get(r, "site") == NULL || json_is_string(json_object_get(r, "site")));
  return 0;
}

/* Whether a resolution has the shape fold.h defines. */
static int dk__resolution_ok(const json_t *r) {
  enum dk_kind kind;
  char *id = NULL;
  const char *path = json_string_value(json_object_get(r, "path"));
  int ok = json_is_object(r) && path && dk__record_path(path, &kind, &id) && json_is_string(json_object_get(r, "field")) &&
           json_is_string(json_object_get(r, "by")) && dk__how_ok(r);
  free(id);
  return ok;
}

int dk_fold_resolution_commit(struct dk_store *st, const char *ref, const json_t *resolution,
                              const struct dk_commit_meta *meta, git_oid *out) {
  if (!dk__resolution_ok(resolution))
    return dk_failf(st->err, DK_EINVAL,
                    "not a resolution: it needs \"path\" (a record's path), \"field\", \"by\" and \"how\" "
                    "(value with \"value\", main, or take with \"site\" and \"source\")");
  const char *path = json_string_value(json_object_get(resolution, "path"));
  const char *field = json_string_value(json_object_get(resolution, "field"));
  char *file = dk_asprintf("%s%s", DK_FOLD_RESOLUTIONS, path);
  size_t len;
  char *data = dk_canonical_dump(resolution, &len);
  struct dk_txn *txn = NULL;
  int rc = dk_txn_begin(st, ref, &txn);
  if (rc == 0) rc = dk_txn_put(txn, file, data, len);
  if (rc >= 0) {
    struct dk_buf msg = {0};
    if (meta->message && meta->message[0]) {
      dk_buf_puts(&msg, meta->message);
      if (msg.data[msg.len - 1] != '\n') dk_buf_puts(&msg, "\n");
    } else {
      dk_buf_printf(&msg, "resolve %s %s (%s)\n", path, field[0] ? field : "(record)",
                    json_string_value(json_object_get(resolution, "how")));
    }
    dk_buf_printf(&msg, "\n%s: %s\n", DK_FOLD_RESOLVE_TRAILER, path);
    struct dk_commit_meta m = *meta;
    m.message = dk_buf_cstr(&msg);
    rc = dk_txn_commit(txn, &m, 1, out);
    dk_buf_free(&msg);
  }
  dk_txn_free(txn);
  free(data);
  free(file);
  return rc < 0 ? rc : 1;
}

/* ---- the fold's state ---- */

struct dk__ev {
  size_t in;
  git_oid oid, parent;
  int has_parent;
  git_time_t time; /* the commit's own time */
  struct dk_fold_key key;
};

struct dk__chain {
  struct dk__ev *ev; /* oldest first */
  size_t n, from;    /* ev[from..n) are folded now */
};

/* main at one path where the fold changed it since its start. */
struct dk__ent {
  char *path;
  int present, has_oid; /* has_oid: the blob is oid (rec, when set, is its parsed copy) */
  git_oid oid;
  json_t *rec;
  const char *reason;   /* why it went */
  int touches;
  char *desc;           /* the field changes of its one merge, from main_tip's value */
};

struct dk__fold {
  struct dk_store *st;
  const struct dk_reconcile *rc;
  const struct dk_fold_input *in;
  size_t n;
  struct dk_index *ix;
  struct dk_fold_out *out;
  int has_start, at_tip, start_ixmain;
  git_oid start;
  json_t *map; /* path -> index in ents */
  struct dk__ent *ents;
  size_t nents, capents;
  struct dk__chain *ch;
  struct dk_fold_pos *L; /* ref NULL: nothing of that input folded (ref borrowed) */
  struct dk_fold_point sp; /* the start's point: its key's strings */
  int has_key;
  struct dk_fold_key key;
  struct dk_merge_other *others;
  json_t **held;
  char **reasons; /* the deletions' reasons read from messages, kept until the end */
  size_t nreasons;
  json_t *in_map; /* input ref -> its number: a thousand inputs are looked up by hash */
  struct dk_buf tip_trailers; /* main_tip's own Duikou-Fold lines, when the fold starts there */
  git_oid *start_at; /* what the start had folded of each input (start_has[i]) */
  signed char *on_ix; /* dk__head_on_index: 0 not asked yet, 1 yes, -1 no */
  char *start_has;
  size_t nbody; /* lines written to out->body */
};

/* A reason kept for the fold's lifetime (NULL: dflt). */
static const char *dk__keep_reason(struct dk__fold *f, char *reason, const char *dflt) {
  if (reason == NULL) return dflt;
  for (char *p = reason; *p; p++)
    if ((unsigned char)*p < 0x20) *p = ' ';
  f->reasons = dk_realloc(f->reasons, (f->nreasons + 1) * sizeof *f->reasons);
  f->reasons[f->nreasons++] = reason;
  return reason;
}

static struct dk__ent *dk__find(struct dk__fold *f, const char *path) {
  json_t *v = json_object_get(f->map, path);
  return v ? &f->ents[json_integer_value(v)] : NULL;
}

/* The entry of path, emptied of its value (made when missing). */
static struct dk__ent *dk__reset(struct dk__fold *f, const char *path) {
  struct dk__ent *e = dk__find(f, path);
  if (e == NULL) {
    if (f->nents == f->capents)
      f->ents = dk_realloc(f->ents, (f->capents = f->capents ? 2 * f->capents : 64) * sizeof *f->ents);
    e = &f->ents[f->nents];
    memset(e, 0, sizeof *e);
    e->path = dk_strdup(path);
    json_object_set_new(f->map, path, json_integer((json_int_t)f->nents++));
  }
  json_decref(e->rec);
  e->rec = NULL;
  e->present = e->has_oid = 0;
  e->reason = NULL;
  return e;
}

static void dk__touch(struct dk__fold *f, struct dk__ent *e, char *desc) {
  e->touches++;
  free(e->desc);
  e->desc = e->touches == 1 && f->at_tip ? desc : NULL;
  if (e->desc != desc) free(desc);
}

static struct dk__ent *dk__set_blob(struct dk__fold *f, const char *path, const git_oid *oid) {
  struct dk__ent *e = dk__reset(f, path);
  e->present = e->has_oid = 1;
  git_oid_cpy(&e->oid, oid);
  return e;
}

/* rec is stolen; NULL: the path goes, for `reason`. */
static struct dk__ent *dk__set_rec(struct dk__fold *f, const char *path, json_t *rec, const char *reason) {
  struct dk__ent *e = dk__reset(f, path);
  e->present = rec != NULL;
  e->rec = rec;
  e->reason = rec ? NULL : reason;
  return e;
}

/* The start's blob at path: 1 with *oid, 0, or DK_EGIT. */
static int dk__start_blob(struct dk__fold *f, const char *path, git_oid *oid) {
  if (!f->has_start) return 0;
  if (f->start_ixmain) return dk_index_main(f->ix, path, oid);
  return dk_store_blob_at(f->st, &f->start, path, oid);
}

/* Whether the fold's main holds path now: 1, 0 or DK_EGIT. */
static int dk__main_has(struct dk__fold *f, const char *path) {
  struct dk__ent *e = dk__find(f, path);
  git_oid oid;
  return e ? e->present : dk__start_blob(f, path, &oid);
}

static int dk__parse_blob(struct dk_store *st, const git_oid *oid, const char *path, const char *where, json_t **out) {
  char *data = NULL;
  size_t len;
  *out = NULL;
  int rc = dk_store_blob(st, oid, &data, &len);
  if (rc == 0 && (*out = json_loadb(data, len, 0, NULL)) == NULL)
    rc = dk_failf(st->err, DK_EINVALID, "%s in %s is not JSON", path, where);
  free(data);
  return rc;
}

/* A record another site sent, at path of its commit: 1 when it is one
 * duikou would have committed itself (JSON, this very path, valid against
 * the schemas), else 0 with a line in out->conf saying why it is skipped —
 * so that a bad input never stops the fold, and every site (with the same
 * schemas) skips it alike; or a DK_E* code. */
static int dk__foreign_ok(struct dk__fold *f, const struct dk_fold_input *in, const char *path, const git_oid *oid) {
  if (strncmp(in->ref, "refs/duikou/sites/", 18) != 0) return 1; /* this site's: validated when synced */
  json_t *rec = NULL;
  int rc = dk__parse_blob(f->st, oid, path, in->ref, &rec), ok = 0;
  char why[DK_ERRBUF_SIZE] = "not JSON", *p = NULL;
  if (rc == DK_EINVALID) rc = 0;
  else if (rc == 0 && (dk_record_path(rec, &p, why) != 0 || strcmp(p, path) != 0)) {
    if (p) snprintf(why, sizeof why, "its kind and id make it %.400s", p);
  } else if (rc == 0) {
    struct dk_vresult vr = {0};
    char err[DK_ERRBUF_SIZE];
    int v = dk_schemas_validate_record(rec, &vr, err);
    if (v == 1) ok = 1;
    else {
      char *first = vr.nerrors ? dk_schemas_format_error(&vr.errors[0]) : NULL;
      snprintf(why, sizeof why, "invalid: %.400s", first ? first : v < 0 ? err : "?");
      free(first);
    }
    dk_vresult_free(&vr);
  }
  free(p);
  json_decref(rec);
  if (rc < 0) return rc;
  if (!ok) dk_buf_printf(&f->out->conf, "%s: from %s/%s skipped, %s\n", path, in->site, in->source, why);
  return ok;
}

/* The fold's main record at path, a new reference (NULL: absent). */
static int dk__main_json(struct dk__fold *f, const char *path, json_t **out) {
  struct dk__ent *e = dk__find(f, path);
  git_oid oid;
  *out = NULL;
  if (e) {
    if (!e->present) return 0;
    if (e->rec == NULL) {
      int rc = dk__parse_blob(f->st, &e->oid, path, "main", &e->rec);
      if (rc != 0) return rc;
    }
    *out = json_incref(e->rec);
    return 0;
  }
  int has = dk__start_blob(f, path, &oid);
  return has <= 0 ? has : dk__parse_blob(f->st, &oid, path, "main", out);
}

static int dk__change_path_cmp(const void *key, const void *elem) {
  return strcmp(key, ((const struct dk_fold_change *)elem)->path);
}

/* Whether input j's head is its index entry's head and the changes it
 * comes with (its first parent is where the index stands): a source commit
 * of this round, folded before its branch moves. Asked once an input. */
static int dk__head_on_index(struct dk__fold *f, size_t j, const git_oid *at) {
  if (f->on_ix[j] == 0) {
    git_commit *c = NULL;
    f->on_ix[j] = git_commit_lookup(&c, f->st->repo, f->in[j].head) == 0 && git_commit_parentcount(c) > 0 &&
                          git_oid_equal(git_commit_parent_id(c, 0), at)
                      ? 1
                      : -1;
    git_commit_free(c);
  }
  return f->on_ix[j] == 1;
}

/* Whether source input j holds path at its last commit folded: 1 with
 * *blob, 0, or DK_EGIT (the index answers where it is at that very commit,
 * or at its parent with the commit's own changes; a tree is read
 * otherwise). */
static int dk__other_blob(struct dk__fold *f, size_t j, const char *path, git_oid *blob) {
  git_oid h;
  int found = 0;
  if (f->ix && f->in[j].ix1) {
    size_t s = f->in[j].ix1 - 1;
    dk_index_head(f->ix, s, &h, &found);
    if (found && git_oid_equal(&h, &f->L[j].commit)) return dk_index_source(f->ix, s, path, blob);
    /* a source commit of this round, already folded: the index at its
     * parent and its own changes, rather than a path looked up in its
     * trees for every record another input changed */
    if (found && f->in[j].changes && f->in[j].head && git_oid_equal(f->in[j].head, &f->L[j].commit) &&
        dk__head_on_index(f, j, &h)) {
      const struct dk_fold_change *c =
          bsearch(path, f->in[j].changes, f->in[j].nchanges, sizeof *f->in[j].changes, dk__change_path_cmp);
      if (c == NULL) return dk_index_source(f->ix, s, path, blob);
      if (c->how == DK_STORE_DELETED) return 0;
      *blob = c->neu;
      return 1;
    }
  }
  return dk_store_blob_at(f->st, &f->L[j].commit, path, blob);
}

/* Whether input j is another source input than i with something folded. */
static int dk__is_other(const struct dk__fold *f, size_t i, size_t j) {
  return j != i && f->in[j].source != NULL && f->L[j].ref != NULL;
}

/* What every other source input held at path at its last commit folded,
 * parsed into f->others (*no of them). */
static int dk__others(struct dk__fold *f, size_t i, const char *path, size_t *no) {
  *no = 0;
  for (size_t j = 0; j < f->n; j++) {
    if (!dk__is_other(f, i, j)) continue;
    git_oid blob;
    int has = dk__other_blob(f, j, path, &blob);
    if (has < 0) return has;
    if (has == 0) continue;
    json_t *r = NULL;
    int rc = dk__parse_blob(f->st, &blob, path, f->in[j].ref, &r);
    if (rc != 0) return rc;
    f->held[*no] = r;
    f->others[(*no)++] = (struct dk_merge_other){f->in[j].source, f->in[j].city, r};
  }
  return 0;
}

/* ---- conflict files ---- */

static int dk__entry_cmp(const void *a, const void *b) {
  const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
  static const char *const keys[] = {"field", "site", "source"};
  for (int k = 0; k < 3; k++) {
    int c = dk__cmp0(json_string_value(json_object_get(x, keys[k])), json_string_value(json_object_get(y, keys[k])));
    if (c) return c;
  }
  return 0;
}

/* Write doc's entries (stolen array `fields`, sorted here) at cpath, or
 * remove the file when there are none. */
static void dk__conflict_store(struct dk__fold *f, const char *cpath, json_t *doc, json_t *fields) {
  size_t n = json_array_size(fields);
  if (n == 0) {
    json_decref(fields);
    json_decref(doc);
    dk__set_rec(f, cpath, NULL, "no conflict left open");
    return;
  }
  json_t **v = dk_calloc(n, sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(fields, i));
  qsort(v, n, sizeof *v, dk__entry_cmp);
  json_t *sorted = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(sorted, v[i]);
  free(v);
  json_decref(fields);
  json_object_set_new(doc, "fields", sorted);
  dk__set_rec(f, cpath, doc, NULL);
}

static void dk__iso_utc(git_time_t t, char *out, size_t n) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* This (site, source)'s entries of the record's conflict file replaced by
 * the conflicts mo leaves open. */
static int dk__conflict_file(struct dk__fold *f, const struct dk__ev *ev, enum dk_kind kind, const char *id,
                             const char *path, const char *cpath, const struct dk_merge_out *mo) {
  const struct dk_fold_input *in = &f->in[ev->in];
  json_t *doc = NULL;
  int rc = dk__main_json(f, cpath, &doc);
  if (rc != 0) return rc;
  if (doc == NULL && mo->open == 0) return 0;
  json_t *was = doc;
  doc = json_is_object(was) ? json_deep_copy(was) : NULL;
  json_decref(was);
  if (doc == NULL)
    doc = json_pack("{s:s, s:s, s:s, s:[]}", "kind", dk_kind_name(kind), "id", id, "path", path, "fields");
  json_t *fields = json_object_get(doc, "fields"), *kept = json_array(), *mine = json_object(), *e;
  size_t i, dropped = 0;
  json_array_foreach(fields, i, e) {
    const char *es = json_string_value(json_object_get(e, "source")), *esite = json_string_value(json_object_get(e, "site"));
    const char *ef = json_string_value(json_object_get(e, "field"));
    if (es && esite && strcmp(es, in->source) == 0 && strcmp(esite, in->site) == 0) {
      if (ef) json_object_set(mine, ef, json_object_get(e, "opened_at"));
      dropped++;
    } else {
      json_array_append(kept, e);
    }
  }
  if (dropped == 0 && mo->open == 0) { /* nothing of this source's: the file stays as it is */
    json_decref(kept);
    json_decref(mine);
    json_decref(doc);
    return 0;
  }
  char when[32];
  dk__iso_utc(ev->time, when, sizeof when);
  for (size_t c = 0; c < mo->nconflicts; c++) {
    const struct dk_merge_conflict *k = &mo->conflicts[c];
    if (strcmp(k->winner, "open") != 0) continue;
    json_t *at = json_object_get(mine, k->field);
    json_t *x = json_pack("{s:s, s:s, s:s, s:s}", "field", k->field, "source", in->source, "site", in->site,
                          "policy", dk_policy_name(k->policy));
    json_object_set_new(x, "opened_at", json_is_string(at) ? json_incref(at) : json_string(when));
    if (in->city) json_object_set_new(x, "city", json_string(in->city));
    if (k->base) json_object_set(x, "base", k->base);
    if (k->ours) json_object_set(x, "ours", k->ours);
    if (k->theirs) json_object_set(x, "theirs", k->theirs);
    json_array_append_new(kept, x);
  }
  json_decref(mine);
  dk__conflict_store(f, cpath, doc, kept);
  return 0;
}

/* ---- events ---- */

static void dk__describe_changes(struct dk_buf *b, const struct dk_merge_out *mo) {
  for (size_t i = 0; i < mo->nchanges; i++) {
    char *from = dk_value_short(mo->changes[i].from, DK__SHOW), *to = dk_value_short(mo->changes[i].to, DK__SHOW);
    dk_buf_printf(b, "%s%s %s \xe2\x86\x92 %s", i ? ", " : "", mo->changes[i].field, from, to);
    free(from);
    free(to);
  }
}

static void dk__describe_conflicts(struct dk_buf *conf, const char *path, const struct dk_fold_input *in,
                                   const struct dk_merge_out *mo) {
  for (size_t k = 0; k < mo->nconflicts; k++) {
    const struct dk_merge_conflict *x = &mo->conflicts[k];
    char *b = dk_value_short(x->base, DK__SHOW), *o = dk_value_short(x->ours, DK__SHOW),
         *t = dk_value_short(x->theirs, DK__SHOW);
    int local = strcmp(in->site, "local") == 0; /* an instance with no site: its sources by name */
    dk_buf_printf(conf, "%s %s: base %s, main %s, %s%s%s %s \xe2\x86\x92 %s (%s)\n", path,
                  x->field[0] ? x->field : "(record)", b, o, local ? "" : in->site, local ? "" : "/", in->source, t,
                  strcmp(x->winner, "open") == 0 ? "open, main kept" : x->winner, dk_policy_name(x->policy));
    free(b);
    free(o);
    free(t);
  }
}

struct dk__chg {
  char *path;
  enum dk_store_change how;
  git_oid old, neu;
};
struct dk__chgs {
  struct dk__chg *v;
  size_t n, cap;
};

static int dk__collect(const char *path, enum dk_store_change how, const git_oid *old, const git_oid *neu, void *arg) {
  struct dk__chgs *c = arg;
  if (c->n == c->cap) c->v = dk_realloc(c->v, (c->cap = c->cap ? 2 * c->cap : 16) * sizeof *c->v);
  c->v[c->n++] = (struct dk__chg){dk_strdup(path), how, *old, *neu};
  return 0;
}

static void dk__chgs_free(struct dk__chgs *c) {
  for (size_t i = 0; i < c->n; i++) free(c->v[i].path);
  free(c->v);
}

/* The merge of one path of a report. */
/* Whether another source input holds path at its last commit folded: 1, 0
 * or DK_EGIT (dk__others without parsing what they hold). */
static int dk__others_any(struct dk__fold *f, size_t i, const char *path) {
  for (size_t j = 0; j < f->n; j++) {
    git_oid blob;
    int has = dk__is_other(f, i, j) ? dk__other_blob(f, j, path, &blob) : 0;
    if (has != 0) return has;
  }
  return 0;
}

/* A report changed a record main holds just as the report had it before,
 * no other source holds it and it has no conflict file: the merge would
 * give theirs (ours is the base, nothing else to weigh), so the fold takes
 * the new blob without parsing anything (1); 0 when the merge must run, or
 * DK_EGIT. Most of a re-sync's changes are these. */
static int dk__plain_follow(struct dk__fold *f, const struct dk__ev *ev, const struct dk__chg *c, const char *cpath) {
  struct dk__ent *e = dk__find(f, c->path);
  git_oid cur;
  int has;
  if (e) {
    if (!e->present || !e->has_oid) return 0;
    cur = e->oid;
    has = 1;
  } else if ((has = dk__start_blob(f, c->path, &cur)) <= 0) {
    return has;
  }
  if (!git_oid_equal(&cur, &c->old)) return 0;
  int conf = dk__main_has(f, cpath);
  if (conf != 0) return conf < 0 ? conf : 0;
  int other = dk__others_any(f, ev->in, c->path);
  return other < 0 ? other : !other;
}

static int dk__fold_merge(struct dk__fold *f, const struct dk__ev *ev, const struct dk__chg *c, enum dk_kind kind,
                          const char *id, const char *cpath, const char *tomb) {
  const struct dk_fold_input *in = &f->in[ev->in];
  json_t *base = NULL, *theirs = NULL, *ours = NULL;
  size_t no = 0;
  int rc = 0;
  if (c->how != DK_STORE_ADDED) rc = dk__parse_blob(f->st, &c->old, c->path, in->ref, &base);
  if (rc == 0 && !tomb) rc = dk__parse_blob(f->st, &c->neu, c->path, in->ref, &theirs);
  if (rc == 0) rc = dk__main_json(f, c->path, &ours);
  if (rc == 0 && ours) rc = dk__others(f, ev->in, c->path, &no);
  if (rc == 0) {
    struct dk_merge_in mi = {.rc = f->rc, .source = in->source, .city = in->city, .base = base, .ours = ours,
                             .theirs = theirs, .tombstone = tomb != NULL, .tombstone_reason = tomb,
                             .others = f->others, .nothers = no};
    struct dk_merge_out mo = {0};
    char err[DK_ERRBUF_SIZE];
    if (dk_merge(&mi, &mo, err) != 0) {
      rc = dk_failf(f->st->err, DK_EINVALID, "%s (%s): cannot merge: %s", c->path, in->ref, err);
    } else {
      if (mo.action == DK_MERGE_DELETE) {
        dk__touch(f, dk__set_rec(f, c->path, NULL, tomb ? tomb : "tombstone"), NULL);
      } else if (mo.action != DK_MERGE_NONE) {
        struct dk__ent *e = theirs && json_equal(mo.merged, theirs) ? dk__set_blob(f, c->path, &c->neu)
                                                                     : dk__set_rec(f, c->path, json_deep_copy(mo.merged), NULL);
        struct dk_buf d = {0};
        dk__describe_changes(&d, &mo);
        dk_buf_cstr(&d);
        dk__touch(f, e, dk_buf_steal(&d));
      }
      dk__describe_conflicts(&f->out->conf, c->path, in, &mo);
      f->out->conflicts += mo.nconflicts;
      f->out->open += mo.open;
      rc = dk__conflict_file(f, ev, kind, id, c->path, cpath, &mo);
      dk_merge_out_free(&mo);
    }
  }
  for (size_t s = 0; s < no; s++) json_decref(f->held[s]);
  json_decref(base);
  json_decref(theirs);
  json_decref(ours);
  return rc;
}

static int dk__fold_path(struct dk__fold *f, const struct dk__ev *ev, const char *msg, const struct dk__chg *c) {
  enum dk_kind kind;
  char *id = NULL;
  if (!dk__record_path(c->path, &kind, &id)) return 0; /* not a record: never merged */
  int absent = 0, tomb = 0, rc = 0;
  char *why = NULL;
  if (c->how == DK_STORE_DELETED) {
    absent = dk__has_trailer_why(msg, DK_FOLD_ABSENT_TRAILER, c->path, &why);
    tomb = !absent && dk__has_trailer_why(msg, DK_FOLD_DELETE_TRAILER, c->path, &why);
    if (!absent && !tomb) {
      free(id);
      return 0; /* no longer listed: main keeps it */
    }
  }
  const char *reason = dk__keep_reason(f, why, absent ? "absent" : "tombstone");
  if (c->how != DK_STORE_DELETED) {
    int ok = dk__foreign_ok(f, &f->in[ev->in], c->path, &c->neu);
    if (ok <= 0) {
      free(id);
      return ok;
    }
  }
  char *cpath = dk_record_conflict_file(kind, id);
  int ohas = dk__main_has(f, c->path);
  if (ohas < 0) {
    rc = ohas;
  } else if (absent) {
    if (ohas) dk__touch(f, dk__set_rec(f, c->path, NULL, reason), NULL);
  } else if (c->how == DK_STORE_ADDED && ohas == 0 && (rc = dk__main_has(f, cpath)) == 0) {
    /* a record main does not hold, new in this source's history, with no
     * conflict file: what the merge decides, without parsing it */
    dk__touch(f, dk__set_blob(f, c->path, &c->neu), NULL);
  } else if (c->how == DK_STORE_MODIFIED && !tomb && (rc = dk__plain_follow(f, ev, c, cpath)) != 0) {
    if (rc == 1) dk__touch(f, dk__set_blob(f, c->path, &c->neu), NULL);
  } else if (rc >= 0) {
    rc = dk__fold_merge(f, ev, c, kind, id, cpath, tomb ? reason : NULL);
  }
  free(cpath);
  free(id);
  return rc < 0 ? rc : 0;
}

static int dk__fold_report(struct dk__fold *f, const struct dk__ev *ev) {
  struct dk_store_commit sc = {0};
  struct dk__chgs chgs = {0};
  const struct dk_fold_input *in = &f->in[ev->in];
  int rc = dk_store_commit(f->st, &ev->oid, &sc);
  if (rc == 0 && in->changes && in->head && git_oid_equal(in->head, &ev->oid)) {
    for (size_t i = 0; i < in->nchanges; i++)
      dk__collect(in->changes[i].path, in->changes[i].how, &in->changes[i].old, &in->changes[i].neu, &chgs);
  } else if (rc == 0) {
    rc = dk_store_diff(f->st, ev->has_parent ? &ev->parent : NULL, &ev->oid, dk__collect, &chgs);
  }
  for (size_t i = 0; i < chgs.n && rc == 0; i++) rc = dk__fold_path(f, ev, sc.message, &chgs.v[i]);
  /* an absence past delete_after names a path that left the branch rounds
   * ago, in no diff of this commit: main's record goes all the same */
  const char *p = sc.message, *v;
  size_t vl;
  while (rc == 0 && (v = dk__next_trailer(&p, DK_FOLD_ABSENT_TRAILER, &vl)) != NULL) {
    size_t pl = 0;
    while (pl < vl && v[pl] != '\t') pl++;
    char *path = dk_strndup(v, pl);
    enum dk_kind kind;
    char *id = NULL;
    int in_diff = 0;
    for (size_t i = 0; i < chgs.n && !in_diff; i++) in_diff = strcmp(chgs.v[i].path, path) == 0;
    if (!in_diff && dk__record_path(path, &kind, &id)) {
      int ohas = dk__main_has(f, path);
      if (ohas < 0) rc = ohas;
      else if (ohas)
        dk__touch(f, dk__set_rec(f, path, NULL, dk__keep_reason(f, pl < vl ? dk_strndup(v + pl + 1, vl - pl - 1) : NULL,
                                                                "absent")), NULL);
    }
    free(id);
    free(path);
  }
  dk__chgs_free(&chgs);
  dk_store_commit_clear(&sc);
  return rc;
}

/* Apply a well-formed resolution res to path (see fold.h): 0 also when it
 * is a no-op. */
static int dk__apply_resolution(struct dk__fold *f, const char *path, const json_t *res) {
  enum dk_kind kind;
  char *id = NULL;
  if (!dk__record_path(path, &kind, &id)) return 0;
  char *cpath = dk_record_conflict_file(kind, id);
  const char *field = json_string_value(json_object_get(res, "field")),
             *how = json_string_value(json_object_get(res, "how"));
  json_t *doc = NULL, *rec = NULL, *val = NULL, *e;
  int rc = dk__main_json(f, cpath, &doc), found = 0, apply = 1, taken = 0;
  json_t *fields = json_object_get(doc, "fields");
  size_t i;
  if (rc == 0) rc = dk__main_json(f, path, &rec);
  json_array_foreach(fields, i, e) {
    const char *ef = json_string_value(json_object_get(e, "field"));
    if (ef == NULL || strcmp(ef, field) != 0) continue;
    found = 1;
    if (strcmp(how, "take") == 0 &&
        dk__cmp0(json_string_value(json_object_get(e, "site")), json_string_value(json_object_get(res, "site"))) == 0 &&
        dk__cmp0(json_string_value(json_object_get(e, "source")), json_string_value(json_object_get(res, "source"))) == 0) {
      json_t *t = json_object_get(e, "theirs");
      json_decref(val);
      val = t ? json_deep_copy(t) : NULL; /* NULL: that source deleted it */
      taken = 1;
    }
  }
  if (rc != 0 || !found || (strcmp(how, "take") == 0 && !taken)) apply = 0;
  if (apply && strcmp(how, "main") != 0) {
    json_t *neu = rec ? json_deep_copy(rec) : NULL, *v = NULL;
    if (strcmp(how, "take") == 0) v = json_incref(val);
    else v = json_deep_copy(json_object_get(res, "value"));
    char err[DK_ERRBUF_SIZE], *p = NULL;
    if (field[0] && neu == NULL) {
      apply = 0;
      json_decref(v);
    } else if (dk_audit_field_set(&neu, field, v, err) != 0) {
      apply = 0;
    } else if (neu && (dk_record_path(neu, &p, err) != 0 || strcmp(p, path) != 0)) {
      apply = 0;
    }
    free(p);
    if (apply && !dk_json_same(neu, rec)) {
      dk__touch(f, dk__set_rec(f, path, neu, "resolution"), NULL);
      neu = NULL;
    }
    json_decref(neu);
  }
  if (apply) {
    json_t *kept = json_array();
    json_array_foreach(fields, i, e) {
      const char *ef = json_string_value(json_object_get(e, "field"));
      if (ef == NULL || strcmp(ef, field) != 0) json_array_append(kept, e);
    }
    json_t *ndoc = json_deep_copy(doc);
    dk__conflict_store(f, cpath, ndoc, kept);
    f->out->resolved++;
  }
  json_decref(val);
  json_decref(doc);
  json_decref(rec);
  free(cpath);
  free(id);
  return rc;
}

static int dk__fold_resolution(struct dk__fold *f, const struct dk__ev *ev) {
  struct dk_store_commit sc = {0};
  int rc = dk_store_commit(f->st, &ev->oid, &sc);
  const char *p = sc.message, *v;
  size_t vl;
  if (rc == 0 && (v = dk__next_trailer(&p, DK_FOLD_RESOLVE_TRAILER, &vl)) != NULL) {
    char *path = dk_strndup(v, vl), *file = dk_asprintf("%s%s", DK_FOLD_RESOLUTIONS, path);
    git_oid blob;
    json_t *res = NULL;
    int has = dk_store_blob_at(f->st, &ev->oid, file, &blob);
    if (has < 0) rc = has;
    else if (has > 0 && dk__parse_blob(f->st, &blob, file, f->in[ev->in].ref, &res) != 0) res = NULL; /* a no-op */
    if (rc == 0 && res && dk__resolution_ok(res) &&
        strcmp(json_string_value(json_object_get(res, "path")), path) == 0)
      rc = dk__apply_resolution(f, path, res);
    json_decref(res);
    free(file);
    free(path);
  }
  dk_store_commit_clear(&sc);
  return rc;
}

/* ---- histories ---- */

static void dk__chain_free(struct dk__chain *c) {
  free(c->ev);
  memset(c, 0, sizeof *c);
}

/* Where input i's head is: 1 with *head, 0 when it has none. */
static int dk__head(struct dk__fold *f, size_t i, git_oid *head) {
  if (f->in[i].head) {
    *head = *f->in[i].head;
    return 1;
  }
  int found = 0, rc = dk_store_ref(f->st, f->in[i].ref, head, &found);
  return rc < 0 ? rc : found;
}

/* An input's first-parent chain read from its head back, as far as the
 * checkpoints tried so far needed it. */
struct dk__lz {
  struct dk__ev *v; /* newest first */
  size_t n, cap;
  size_t hint;      /* where the last search ended */
  int done;         /* v[n-1] is the root (or there is no head) */
  git_oid next;     /* the commit to read next, when not done */
};

/* Read one more commit of input i's chain. Returns 0 or DK_EGIT. */
static int dk__lz_more(struct dk__fold *f, size_t i, struct dk__lz *z) {
  struct dk_store_commit sc = {0};
  int rc = dk_store_commit(f->st, &z->next, &sc);
  if (rc != 0) return rc;
  if (z->n == z->cap) z->v = dk_realloc(z->v, (z->cap = z->cap ? 2 * z->cap : 16) * sizeof *z->v);
  struct dk__ev *e = &z->v[z->n++];
  memset(e, 0, sizeof *e);
  e->in = i;
  e->oid = z->next;
  e->time = sc.time;
  e->has_parent = sc.nparents > 0;
  if (e->has_parent) e->parent = z->next = sc.parent;
  else z->done = 1;
  dk_store_commit_clear(&sc);
  return 0;
}

/* Where commit c is on the chain: *at, the number of commits after it
 * (v[*at] is c when read), or -1 when it is not on it. c is not read when
 * it is the next one to read: an input with nothing new costs nothing. The
 * search starts where the last one ended (older checkpoints stand further
 * back), so trying every main commit costs each chain once. Returns 0 or
 * DK_EGIT. */
static int dk__lz_find(struct dk__fold *f, size_t i, struct dk__lz *z, const git_oid *c, long *at) {
  for (size_t k = z->hint; k < z->n; k++)
    if (git_oid_equal(&z->v[k].oid, c)) {
      *at = (long)(z->hint = k);
      return 0;
    }
  while (!z->done) {
    if (git_oid_equal(&z->next, c)) {
      *at = (long)(z->hint = z->n);
      return 0;
    }
    int rc = dk__lz_more(f, i, z);
    if (rc != 0) return rc;
    if (git_oid_equal(&z->v[z->n - 1].oid, c)) {
      *at = (long)(z->hint = z->n - 1);
      return 0;
    }
  }
  for (size_t k = 0; k < z->hint && k < z->n; k++)
    if (git_oid_equal(&z->v[k].oid, c)) {
      *at = (long)(z->hint = k);
      return 0;
    }
  *at = -1;
  return 0;
}

/* The key of event e, the child of a commit at (etime, seq) on its chain
 * (seq 0: e is the root). */
static void dk__key_of(struct dk__fold *f, struct dk__ev *e, git_time_t etime, unsigned long seq) {
  const struct dk_fold_input *in = &f->in[e->in];
  e->key.time = seq == 0 || e->time > etime ? e->time : etime;
  e->key.site = in->site;
  e->key.type = in->source ? 0 : 1;
  e->key.source = in->source;
  e->key.seq = seq + 1;
  dk_oid_hex(&e->oid, e->key.hex);
}

static int dk__input_of(struct dk__fold *f, const char *ref) {
  json_t *v = json_object_get(f->in_map, ref);
  return v ? (int)json_integer_value(v) : -1;
}

/* p's position of every input, by input number (NULL: none); *unknown set
 * when p names an input that is not one now. The caller frees the array. */
static const struct dk_fold_pos **dk__by_input(struct dk__fold *f, const struct dk_fold_point *p, int *unknown) {
  const struct dk_fold_pos **by = dk_calloc(f->n ? f->n : 1, sizeof *by);
  *unknown = 0;
  for (size_t k = 0; p && k < p->npos; k++) {
    int i = dk__input_of(f, p->pos[k].ref);
    if (i < 0) *unknown = 1;
    else by[i] = &p->pos[k];
  }
  return by;
}

static inline const struct dk_fold_pos *dk__pos_of(const struct dk_fold_pos **by, size_t i) {
  return by ? by[i] : NULL;
}


/* Whether checkpoint p can start the fold: every input it names is one, at
 * a commit on that input's chain, and the first event after it (an input's
 * keys grow along its chain) sorts after p's key. d[i] is then the number
 * of input i's events p has not folded. Returns 1, 0 or DK_EGIT. */
static int dk__usable_by(struct dk__fold *f, struct dk__lz *lz, const struct dk_fold_point *p,
                         const struct dk_fold_pos **by, int unknown, size_t *d);

static int dk__usable(struct dk__fold *f, struct dk__lz *lz, const struct dk_fold_point *p, size_t *d) {
  if (!p->has_key) return 0;
  int unknown;
  const struct dk_fold_pos **by = dk__by_input(f, p, &unknown);
  int ret = dk__usable_by(f, lz, p, by, unknown, d);
  free(by);
  return ret;
}

static int dk__usable_by(struct dk__fold *f, struct dk__lz *lz, const struct dk_fold_point *p,
                         const struct dk_fold_pos **by, int unknown, size_t *d) {
  if (unknown) return 0; /* an input that went: its events must go too */
  for (size_t i = 0; i < f->n; i++) {
    struct dk__lz *z = &lz[i];
    const struct dk_fold_pos *pos = dk__pos_of(by, i);
    int rc = 0;
    if (pos) {
      long at;
      if ((rc = dk__lz_find(f, i, z, &pos->commit, &at)) != 0) return rc;
      if (at < 0) return 0; /* its history no longer holds what p folded */
      d[i] = (size_t)at;
    } else {
      while (!z->done && rc == 0) rc = dk__lz_more(f, i, z);
      if (rc != 0) return rc;
      d[i] = z->n;
    }
    if (d[i] == 0) continue;
    struct dk__ev *first = &z->v[d[i] - 1];
    dk__key_of(f, first, pos ? pos->etime : 0, pos ? pos->seq : 0);
    if (dk_fold_key_cmp(&first->key, &p->key) <= 0) return 0;
  }
  return 1;
}

/* The events to fold: input i's d[i] newest, oldest first, keyed from p's
 * place (NULL: the root). */
static void dk__take(struct dk__fold *f, struct dk__lz *lz, const struct dk_fold_point *p, const size_t *d) {
  int unknown;
  const struct dk_fold_pos **by = p ? dk__by_input(f, p, &unknown) : NULL;
  for (size_t i = 0; i < f->n; i++) {
    const struct dk_fold_pos *pos = dk__pos_of(by, i);
    struct dk__chain *c = &f->ch[i];
    c->n = d[i];
    c->from = 0;
    c->ev = dk_calloc(d[i] ? d[i] : 1, sizeof *c->ev);
    git_time_t etime = pos ? pos->etime : 0;
    unsigned long seq = pos ? pos->seq : 0;
    for (size_t k = 0; k < d[i]; k++) {
      c->ev[k] = lz[i].v[d[i] - 1 - k];
      dk__key_of(f, &c->ev[k], etime, seq);
      etime = c->ev[k].key.time;
      seq = c->ev[k].key.seq;
    }
  }
  free(by);
}

/* Take checkpoint p (at commit `at`) as the fold's start. */
static void dk__start_at(struct dk__fold *f, const git_oid *at, struct dk_fold_point *p) {
  f->has_start = 1;
  f->start = *at;
  for (size_t k = 0; k < p->npos; k++) {
    int i = dk__input_of(f, p->pos[k].ref);
    f->L[i] = p->pos[k];
    f->L[i].ref = (char *)f->in[i].ref;
    f->start_at[i] = p->pos[k].commit;
    f->start_has[i] = 1;
  }
  dk_fold_point_free(&f->sp);
  f->sp = *p;
  memset(p, 0, sizeof *p);
  f->has_key = f->sp.has_key;
  f->key = f->sp.key;
}

/* Where the fold starts: main_tip when it can (the common case reads each
 * input back to where the tip stands, no further), else the newest
 * first-parent main commit that can, else the empty tree (every input read
 * to its root). Returns 0 or a DK_E* code. */
static int dk__find_start(struct dk__fold *f, int has_tip, const git_oid *tip) {
  struct dk__lz *lz = dk_calloc(f->n ? f->n : 1, sizeof *lz);
  size_t *d = dk_calloc(f->n ? f->n : 1, sizeof *d);
  int rc = 0, found = 0;
  for (size_t i = 0; i < f->n && rc == 0; i++) {
    int has = dk__head(f, i, &lz[i].next);
    if (has < 0) rc = has;
    lz[i].done = has == 0;
  }
  git_oid at = has_tip ? *tip : (git_oid){{0}};
  int more = has_tip;
  while (rc == 0 && more && !found) {
    struct dk_store_commit sc = {0};
    if ((rc = dk_store_commit(f->st, &at, &sc)) != 0) break;
    struct dk_fold_point p;
    if ((rc = dk_fold_point_load(f->st, sc.message, &p)) != 0) {
      dk_fold_point_free(&p);
      dk_store_commit_clear(&sc);
      break;
    }
    int u = dk__usable(f, lz, &p, d);
    if (u < 0) rc = u;
    if (u > 0) {
      found = 1;
      f->at_tip = git_oid_equal(&at, tip);
      for (const char *l = sc.message; f->at_tip && l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) + 1 : strlen(l);
        if (strncmp(l, DK_FOLD_TRAILER, strlen(DK_FOLD_TRAILER)) == 0) dk_buf_append(&f->tip_trailers, l, len);
        l = nl ? nl + 1 : NULL;
      }
      dk__take(f, lz, &p, d);
      dk__start_at(f, &at, &p);
    }
    dk_fold_point_free(&p);
    more = sc.nparents > 0;
    if (more) at = sc.parent;
    dk_store_commit_clear(&sc);
  }
  if (rc == 0 && !found) {
    for (size_t i = 0; i < f->n && rc == 0; i++) {
      while (!lz[i].done && rc == 0) rc = dk__lz_more(f, i, &lz[i]);
      d[i] = lz[i].n;
    }
    if (rc == 0) dk__take(f, lz, NULL, d);
    f->at_tip = !has_tip;
  }
  if (rc == 0 && f->at_tip && has_tip && f->ix) {
    git_oid h;
    int hf;
    dk_index_head(f->ix, DK_INDEX_MAIN, &h, &hf);
    f->start_ixmain = hf && git_oid_equal(&h, tip);
  }
  for (size_t i = 0; i < f->n; i++) free(lz[i].v);
  free(lz);
  free(d);
  return rc;
}

static int dk__ev_cmp(const void *a, const void *b) {
  return dk_fold_key_cmp(&(*(const struct dk__ev *const *)a)->key, &(*(const struct dk__ev *const *)b)->key);
}

/* ---- the result ---- */

/* main_tip's blob at path. */
static int dk__tip_blob(struct dk__fold *f, int has_tip, const git_oid *tip, const char *path, git_oid *oid) {
  if (!has_tip) return 0;
  if (f->at_tip) return dk__start_blob(f, path, oid);
  return dk_store_blob_at(f->st, tip, path, oid);
}

/* The body line of a record path whose value changed vs main_tip. */
static int dk__body_line(struct dk__fold *f, int has_tip, const git_oid *tip, const char *path, const struct dk__ent *e,
                         const git_oid *neu) {
  enum dk_kind kind;
  char *id = NULL;
  if (!dk__record_path(path, &kind, &id)) return 0;
  free(id);
  git_oid old;
  int had = dk__tip_blob(f, has_tip, tip, path, &old), has = e ? e->present : neu != NULL;
  if (had < 0) return had;
  struct dk_fold_out *out = f->out;
  if (!had && has) {
    out->added[kind]++;
    dk_buf_printf(&out->body, "%s: added\n", path);
    return 0;
  }
  if (had && !has) {
    out->deleted[kind]++;
    dk_buf_printf(&out->body, "%s: deleted (%s)\n", path, e && e->reason ? e->reason : "refold");
    return 0;
  }
  out->changed[kind]++;
  if (e && e->desc && e->touches == 1 && f->at_tip) {
    dk_buf_printf(&out->body, "%s: %s\n", path, e->desc);
    return 0;
  }
  if (f->nbody++ >= DK_FOLD_BODY_LINES) {
    /* past what a commit message lists (commitmsg.h): counted, not described */
    dk_buf_printf(&out->body, "%s: changed\n", path);
    return 0;
  }
  json_t *a = NULL, *b = NULL;
  int rc = dk__parse_blob(f->st, &old, path, "main", &a);
  if (rc == 0 && e && e->rec) b = json_incref(e->rec);
  else if (rc == 0) rc = dk__parse_blob(f->st, e ? &e->oid : neu, path, "main", &b);
  if (rc == 0) {
    json_t *ch = dk_audit_changes(a, b), *c;
    size_t i;
    dk_buf_printf(&out->body, "%s: ", path);
    json_array_foreach(ch, i, c) {
      const char *fl = json_string_value(json_object_get(c, "field"));
      char *from = dk_value_short(json_object_get(c, "old"), DK__SHOW), *to = dk_value_short(json_object_get(c, "new"), DK__SHOW);
      dk_buf_printf(&out->body, "%s%s %s \xe2\x86\x92 %s", i ? ", " : "", fl && fl[0] ? fl : "(record)", from, to);
      free(from);
      free(to);
    }
    dk_buf_puts(&out->body, "\n");
    json_decref(ch);
  }
  json_decref(a);
  json_decref(b);
  return rc;
}

static int dk__stage_ent(struct dk__fold *f, struct dk_txn *mtx, int has_tip, const git_oid *tip, const struct dk__ent *e) {
  int rc;
  if (!e->present) {
    rc = dk_txn_remove(mtx, e->path);
  } else if (e->has_oid) {
    rc = dk_txn_put_blob(mtx, e->path, &e->oid, 0, NULL, 0);
  } else {
    size_t len;
    char *data = dk_canonical_dump(e->rec, &len);
    rc = dk_txn_put(mtx, e->path, data, len);
    free(data);
  }
  return rc == 1 ? dk__body_line(f, has_tip, tip, e->path, e, NULL) : rc;
}

/* Stage in mtx the differences between main_tip and the fold's main. */
static int dk__finish(struct dk__fold *f, struct dk_txn *mtx, int has_tip, const git_oid *tip) {
  int rc = 0;
  if (!f->at_tip && (has_tip || f->has_start)) {
    struct dk__chgs chgs = {0};
    rc = dk_store_diff(f->st, has_tip ? tip : NULL, f->has_start ? &f->start : NULL, dk__collect, &chgs);
    for (size_t i = 0; i < chgs.n && rc >= 0; i++) {
      const struct dk__chg *c = &chgs.v[i];
      if (dk__find(f, c->path)) continue;
      rc = c->how == DK_STORE_DELETED ? dk_txn_remove(mtx, c->path) : dk_txn_put_blob(mtx, c->path, &c->neu, 0, NULL, 0);
      if (rc == 1) rc = dk__body_line(f, has_tip, tip, c->path, NULL, c->how == DK_STORE_DELETED ? NULL : &c->neu);
    }
    dk__chgs_free(&chgs);
  }
  for (size_t i = 0; i < f->nents && rc >= 0; i++) rc = dk__stage_ent(f, mtx, has_tip, tip, &f->ents[i]);
  return rc < 0 ? rc : 0;
}

static void dk__trailers(struct dk__fold *f) {
  if (f->at_tip && f->has_start && f->out->events == 0 && f->tip_trailers.len) {
    /* nothing folded: where main's tip stands, as it says it */
    dk_buf_append(&f->out->trailers, f->tip_trailers.data, f->tip_trailers.len);
    return;
  }
  struct dk_fold_point p = {0};
  p.pos = dk_calloc(f->n ? f->n : 1, sizeof *p.pos);
  /* started at main's tip: only what moved since, unless the chain of
   * deltas is long enough for a full list again */
  int delta = f->at_tip && f->has_start && f->sp.has_key && f->sp.depth + 1 < DK_FOLD_FULL_EVERY;
  for (size_t i = 0; i < f->n; i++) {
    if (!f->L[i].ref) continue;
    if (delta && f->start_has[i] && git_oid_equal(&f->start_at[i], &f->L[i].commit)) continue;
    p.pos[p.npos++] = f->L[i];
  }
  p.has_key = f->has_key;
  p.key = f->key;
  if (delta) {
    char hex[41];
    dk_buf_printf(&f->out->trailers, "%s: %s %u\n", DK_FOLD_FROM_TRAILER, dk_oid_hex(&f->start, hex), f->sp.depth + 1);
  }
  dk_fold_point_write(&p, &f->out->trailers);
  free(p.pos);
}

void dk_fold_out_free(struct dk_fold_out *out) {
  dk_buf_free(&out->body);
  dk_buf_free(&out->conf);
  dk_buf_free(&out->trailers);
  memset(out, 0, sizeof *out);
}

int dk_fold(struct dk_store *st, const struct dk_reconcile *rc, const struct dk_fold_input *in, size_t n,
            struct dk_txn *mtx, struct dk_index *ix, struct dk_fold_out *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < n; i++)
    if (in[i].ref == NULL || in[i].site == NULL || in[i].site[0] == '\0')
      return dk_failf(st->err, DK_EINVAL, "fold: input %zu has no ref or no site", i);
  struct dk__fold f = {.st = st, .rc = rc, .in = in, .n = n, .ix = ix, .out = out, .map = json_object()};
  size_t cap = n ? n : 1;
  f.ch = dk_calloc(cap, sizeof *f.ch);
  f.L = dk_calloc(cap, sizeof *f.L);
  f.others = dk_calloc(cap, sizeof *f.others);
  f.held = dk_calloc(cap, sizeof *f.held);
  f.in_map = json_object();
  for (size_t i = 0; i < n; i++) json_object_set_new(f.in_map, in[i].ref, json_integer((json_int_t)i));
  f.start_at = dk_calloc(cap, sizeof *f.start_at);
  f.start_has = dk_calloc(cap, 1);
  f.on_ix = dk_calloc(cap, 1);
  git_oid tip;
  int has_tip = dk_txn_base(mtx, &tip);
  int ret = dk__find_start(&f, has_tip, &tip);
  out->refolded = ret == 0 && has_tip && !f.at_tip;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += f.ch[i].n - f.ch[i].from;
  struct dk__ev **evs = dk_calloc(total ? total : 1, sizeof *evs);
  size_t k = 0;
  for (size_t i = 0; i < n && ret == 0; i++)
    for (size_t e = f.ch[i].from; e < f.ch[i].n; e++) evs[k++] = &f.ch[i].ev[e];
  if (ret == 0) qsort(evs, k, sizeof *evs, dk__ev_cmp);
  for (size_t e = 0; e < k && ret == 0; e++) {
    const struct dk__ev *ev = evs[e];
    ret = in[ev->in].source ? dk__fold_report(&f, ev) : dk__fold_resolution(&f, ev);
    if (ret != 0) break;
    f.L[ev->in] = (struct dk_fold_pos){(char *)in[ev->in].ref, ev->oid, ev->key.time, ev->key.seq};
    f.key = ev->key;
    f.has_key = 1;
    out->events++;
  }
  if (ret == 0) ret = dk__finish(&f, mtx, has_tip, &tip);
  if (ret == 0) dk__trailers(&f);
  free(evs);
  for (size_t i = 0; i < f.nents; i++) {
    free(f.ents[i].path);
    free(f.ents[i].desc);
    json_decref(f.ents[i].rec);
  }
  free(f.ents);
  json_decref(f.map);
  for (size_t i = 0; i < n; i++) dk__chain_free(&f.ch[i]);
  free(f.ch);
  free(f.L);
  free(f.others);
  free(f.held);
  json_decref(f.in_map);
  dk_buf_free(&f.tip_trailers);
  free(f.start_at);
  free(f.start_has);
  free(f.on_ix);
  for (size_t i = 0; i < f.nreasons; i++) free(f.reasons[i]);
  free(f.reasons);
  dk_fold_point_free(&f.sp);
  return ret;
}

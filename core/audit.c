#include "audit.h"
#include "merge.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "canonical.h"
#include "fold.h"
#include "schemas.h"
#include "util.h"

/* A store failure, told by the audit: its message copied into a->err. */
static int dk__serr(struct dk_audit *a, int rc) {
  if (rc < 0) snprintf(a->err, sizeof a->err, "%s", a->st->err);
  return rc;
}

int dk_audit_open(const char *path, struct dk_audit **out, char *err) {
  *out = NULL;
  struct dk_store *st = NULL;
  int rc = dk_store_open_existing(path, &st, err);
  if (rc != 0) return rc;
  struct dk_audit *a = dk_calloc(1, sizeof *a);
  a->st = st;
  a->path = dk_strdup(path);
  *out = a;
  return 0;
}

void dk_audit_close(struct dk_audit *a) {
  if (a == NULL) return;
  dk_store_close(a->st);
  free(a->path);
  free(a);
}

/* ---- names ---- */


int dk_audit_record_name(const char *name, char **path, enum dk_kind *kind, char **id, char *err) {
  *path = NULL;
  if (id) *id = NULL;
  char *rid = NULL;
  enum dk_kind k;
  if (dk_record_parse_name(name, &k, &rid) != 0)
    return dk_failf(err, DK_EINVAL,
                    "\"%s\" names no record: give an id (jnly-2024, jnly-2024/12, jnly-2024/12/linyi/2024-06, "
                    "linyi/教育局) or a path (tasks/jnly-2024/12.json)",
                    name);
  *path = dk_record_file(k, rid);
  *kind = k;
  if (id) *id = rid;
  else free(rid);
  return 0;
}


int dk_audit_conflict_name(const char *name, char **record_path, enum dk_kind *kind, char **id, char **file,
                           char *err) {
  *record_path = NULL;
  *id = NULL;
  *file = NULL;
  if (strncmp(name, "conflicts/", 10) == 0) {
    const char *rest = name + 10, *slash = strchr(rest, '/');
    size_t n = strlen(name);
    char *kname = slash ? dk_strndup(rest, (size_t)(slash - rest)) : NULL;
    enum dk_kind k = dk_kind_from_name(kname);
    free(kname);
    if (k == DK_KIND_NONE || n < 5 || strcmp(name + n - 5, ".json") != 0 || slash + 1 >= name + n - 5)
      return dk_failf(err, DK_EINVAL, "\"%s\" is not a conflict file (conflicts/<kind>/<id>.json)", name);
    char *cid = dk_strndup(slash + 1, (size_t)(name + n - 5 - (slash + 1)));
    if (dk_record_check_id(k, cid, NULL) != 0) {
      free(cid);
      return dk_failf(err, DK_EINVAL, "\"%s\" is not a conflict file (conflicts/<kind>/<id>.json)", name);
    }
    *record_path = dk_record_file(k, cid);
    *kind = k;
    *id = cid;
    *file = dk_strdup(name);
    return 0;
  }
  int rc = dk_audit_record_name(name, record_path, kind, id, err);
  if (rc != 0) return rc;
  *file = dk_record_conflict_file(*kind, *id);
  return 0;
}

/* ---- revisions ---- */

static int dk__digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

int dk_audit_parse_date(const char *s, time_t *t) {
  if (strlen(s) < 10 || !dk__digits(s, 4) || s[4] != '-' || !dk__digits(s + 5, 2) || s[7] != '-' ||
      !dk__digits(s + 8, 2))
    return 0;
  if (s[10] == '\0') {
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_isdst = -1};
    if (m < 1 || m > 12 || d < 1 || mktime(&tm) == (time_t)-1 || tm.tm_mday != d) return DK_EINVAL;
    /* A day means all of it: the instant before the next local midnight. */
    struct tm next = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d + 1, .tm_isdst = -1};
    *t = mktime(&next) - 1;
    return 1;
  }
  if (s[10] != 'T') return DK_EINVAL;
  time_t v = dk_time_parse_iso(s);
  if (v == (time_t)-1) return DK_EINVAL;
  *t = v;
  return 1;
}

int dk_audit_main(struct dk_audit *a, git_oid *out) {
  int found = 0, rc = dk_store_ref(a->st, DK_MAIN_REF, out, &found);
  if (rc != 0) return dk__serr(a, rc);
  if (!found) return dk_failf(a->err, DK_ENOENT, "%s has no main branch yet: nothing was synced", a->path);
  return 0;
}

int dk_audit_resolve_rev(struct dk_audit *a, const char *spec, git_oid *out) {
  time_t t;
  int d = dk_audit_parse_date(spec, &t);
  if (d < 0)
    return dk_failf(a->err, DK_EINVAL,
                    "\"%s\" is not a valid date: YYYY-MM-DD, or RFC 3339 with its offset "
                    "(2024-07-01T00:00:00+08:00)",
                    spec);
  if (d == 1) {
    git_oid cur;
    int rc = dk_audit_main(a, &cur);
    if (rc != 0) return rc;
    for (;;) {
      struct dk_store_commit c;
      if ((rc = dk_store_commit(a->st, &cur, &c)) != 0) return dk__serr(a, rc);
      int has_parent = c.nparents > 0, at = (time_t)c.time <= t;
      if (has_parent) cur = c.parent;
      if (at) *out = c.oid;
      dk_store_commit_clear(&c);
      if (at) return 0;
      if (!has_parent) break;
    }
    char when[40];
    return dk_failf(a->err, DK_ENOENT, "main has no commit at or before %s", dk_time_iso(t, when, sizeof when));
  }
  return dk__serr(a, dk_store_revparse(a->st, spec, out));
}

/* ---- commits and blobs ---- */

/* "<site>/<source>" for another site's input ref, "<source>" for this
 * site's, from the input commit's Duikou-Source (its author's name for a
 * resolution). NULL when the ref is none of duikou's inputs. */
static char *dk__input_name(const char *ref, const struct dk_store_commit *ic) {
  const char *site = NULL, *rest = ref;
  size_t sitelen = 0;
  if (strncmp(ref, "refs/duikou/sites/", 18) == 0) {
    site = ref + 18;
    const char *slash = strchr(site, '/');
    if (slash == NULL) return NULL;
    sitelen = (size_t)(slash - site);
    rest = slash + 1;
  } else if (strncmp(ref, "refs/duikou/", 12) == 0) {
    rest = ref + 12;
  } else {
    return NULL;
  }
  char *who = strstr(rest, "resolutions") == rest ? NULL : dk_store_trailer(ic->message, "Duikou-Source");
  if (who == NULL) who = dk_strdup(ic->author);
  if (site == NULL) return who;
  char *q = dk_asprintf("%.*s/%s", (int)sitelen, site, who);
  free(who);
  return q;
}

/* Whether input `ref` changed `path` from commit `old` (NULL: none) to
 * `neu`: 1, 0, or DK_EGIT. A resolutions ref holds no records: always 1. */
static int dk__input_touched(struct dk_audit *a, const char *ref, const git_oid *old, const git_oid *neu,
                             const char *path) {
  if (strstr(ref, "/resolutions") != NULL) return 1;
  git_oid bo, bn;
  int fo = old ? dk_store_blob_at(a->st, old, path, &bo) : 0, fn = dk_store_blob_at(a->st, neu, path, &bn);
  if (fo < 0 || fn < 0) return DK_EGIT;
  return fo != fn || (fn && !dk_oid_equal(&bo, &bn));
}

/* A main commit with no Duikou-Source is a fold (after an exchange, or of
 * a resolution): what it changed came from the inputs that moved since its
 * first parent, so those are its source, not the site that folded them —
 * "who changed task 12's status, and from which system" has the same
 * answer on both sites. A delta checkpoint from its first parent lists
 * exactly those; a full one is compared with its parent's. With `path`
 * (may be NULL), of several inputs that moved only those that changed it.
 * Sets *source ("a, b" when several) and *city (when all of them say the
 * same) or leaves them NULL (not a fold); returns 0 or DK_EGIT. */
static int dk__fold_sources(struct dk_audit *a, const struct dk_store_commit *c, const char *path, char **source,
                            char **city) {
  struct dk_fold_point p, pp = {0};
  dk_fold_point_parse(c->message, &p);
  if (!p.has_key || p.npos == 0) {
    dk_fold_point_free(&p);
    return 0;
  }
  int rc = 0, have_parent = 0;
  int delta = p.has_from && c->nparents > 0 && dk_oid_equal(&p.from, &c->parent);
  if (!delta || (path && p.npos > 1)) {
    if (!delta) {
      dk_fold_point_free(&p);
      if ((rc = dk_fold_point_load(a->st, c->message, &p)) != 0) return dk__serr(a, rc);
    }
    if (c->nparents > 0 && (rc = dk_fold_point_read(a->st, &c->parent, &pp)) != 0) {
      dk_fold_point_free(&p);
      return dk__serr(a, rc);
    }
    have_parent = c->nparents > 0;
  }
  /* the inputs that moved, with where each stood before (NULL: nowhere) */
  struct dk__moved {
    const struct dk_fold_pos *pos;
    const git_oid *was;
    int touched;
  } *mv = dk_calloc(p.npos ? p.npos : 1, sizeof *mv);
  size_t n = 0, kept = 0;
  for (size_t i = 0; i < p.npos; i++) {
    const git_oid *was = NULL;
    for (size_t j = 0; have_parent && j < pp.npos; j++)
      if (strcmp(pp.pos[j].ref, p.pos[i].ref) == 0) was = &pp.pos[j].commit;
    if (was && dk_oid_equal(was, &p.pos[i].commit)) continue;
    mv[n++] = (struct dk__moved){.pos = &p.pos[i], .was = was};
  }
  for (size_t k = 0; k < n && rc == 0; k++) {
    int t = path && n > 1 ? dk__input_touched(a, mv[k].pos->ref, mv[k].was, &mv[k].pos->commit, path) : 1;
    if (t < 0) rc = t;
    else if (t) mv[k].touched = 1, kept++;
  }
  struct dk_buf names = {0};
  int mixed = 0;
  for (size_t k = 0; k < n && rc == 0; k++) {
    if (kept > 0 && !mv[k].touched) continue;
    const struct dk_fold_pos *ps = mv[k].pos;
    struct dk_store_commit ic;
    if ((rc = dk_store_commit(a->st, &ps->commit, &ic)) != 0) break;
    char *name = dk__input_name(ps->ref, &ic), *icity = dk_store_trailer(ic.message, "Duikou-City");
    if (name) {
      dk_buf_printf(&names, "%s%s", names.len ? ", " : "", name);
      if (*city == NULL && !mixed) *city = icity, icity = NULL;
      else if (*city && (icity == NULL || strcmp(*city, icity) != 0)) mixed = 1;
    }
    free(name);
    free(icity);
    dk_store_commit_clear(&ic);
  }
  if (mixed || rc != 0) {
    free(*city);
    *city = NULL;
  }
  if (rc == 0 && names.len) *source = dk_buf_steal(&names);
  dk_buf_free(&names);
  free(mv);
  dk_fold_point_free(&p);
  dk_fold_point_free(&pp);
  return rc != 0 ? dk__serr(a, rc) : 0;
}

/* dk_audit_commit_info, a fold's sources narrowed to those that changed
 * `path` (NULL: every input that moved). */
static int dk__commit_info_path(struct dk_audit *a, const git_oid *oid, const char *path,
                                struct dk_audit_commit *out) {
  memset(out, 0, sizeof *out);
  struct dk_store_commit c;
  int rc = dk_store_commit(a->st, oid, &c);
  if (rc != 0) return dk__serr(a, rc);
  out->oid = c.oid;
  memcpy(out->hex, c.hex, sizeof out->hex);
  out->time = c.time;
  out->author = c.author;
  out->summary = c.summary;
  out->source = dk_store_trailer(c.message, "Duikou-Source");
  out->city = dk_store_trailer(c.message, "Duikou-City");
  if (out->source == NULL && (rc = dk__fold_sources(a, &c, path, &out->source, &out->city)) != 0) {
    free(c.message);
    dk_audit_commit_clear(out);
    return rc;
  }
  if (out->source == NULL) out->source = dk_strdup(out->author);
  free(c.message);
  return 0;
}

int dk_audit_commit_info(struct dk_audit *a, const git_oid *oid, struct dk_audit_commit *out) {
  return dk__commit_info_path(a, oid, NULL, out);
}


void dk_audit_commit_clear(struct dk_audit_commit *c) {
  free(c->source);
  free(c->city);
  free(c->author);
  free(c->summary);
  memset(c, 0, sizeof *c);
}

static void dk__commit_copy(struct dk_audit_commit *dst, const struct dk_audit_commit *src) {
  *dst = *src;
  dst->source = dk_strdup(src->source);
  dst->city = dk_strdup(src->city);
  dst->author = dk_strdup(src->author);
  dst->summary = dk_strdup(src->summary);
}

/* The blob at `path` in commit c: 1 found, 0 absent, or DK_EGIT. */
static int dk__blob_at(struct dk_audit *a, const git_oid *c, const char *path, git_oid *blob) {
  return dk__serr(a, dk_store_blob_at(a->st, c, path, blob));
}

/* A blob as JSON; text that is not JSON becomes a string. NULL on a git
 * error (a->err). */
static json_t *dk__blob_json(struct dk_audit *a, const git_oid *oid) {
  char *data = NULL;
  size_t n;
  if (dk__serr(a, dk_store_blob(a->st, oid, &data, &n)) != 0) return NULL;
  json_t *v = json_loadb(data, n, JSON_DECODE_ANY, NULL);
  if (v == NULL) v = dk_utf8_valid(data, n) ? json_stringn(data, n) : json_string("(not UTF-8 text)");
  free(data);
  return v;
}

int dk_audit_read(struct dk_audit *a, const git_oid *commit, const char *path, json_t **record, git_oid *blob) {
  *record = NULL;
  git_oid b;
  int rc = dk__blob_at(a, commit, path, &b);
  if (rc < 0) return rc;
  if (rc == 0) return dk_failf(a->err, DK_ENOENT, "%s is not there", path);
  *record = dk__blob_json(a, &b);
  if (*record == NULL) return DK_EGIT;
  if (blob) *blob = b;
  return 0;
}

/* One step back along first parents: *p, c's first parent (*has is 0 at
 * the root), and in *blob its version of `path`. Returns 1 when the parent
 * holds the path, 0 when it does not or there is no parent, or DK_EGIT. */
static int dk__parent_blob(struct dk_audit *a, const git_oid *c, const char *path, git_oid *p, int *has,
                           git_oid *blob) {
  struct dk_store_commit info;
  *has = 0;
  int rc = dk_store_commit(a->st, c, &info);
  if (rc != 0) return dk__serr(a, rc);
  *has = info.nparents > 0;
  if (*has) *p = info.parent;
  dk_store_commit_clear(&info);
  return *has ? dk__blob_at(a, p, path, blob) : 0;
}

/* ---- fields ---- */

/* The key field when `v`, member `member`, is a keyed array: every element
 * an object with a string key, keys unique. NULL otherwise. */
static const char *dk__keyed(const char *member, const json_t *v) {
  const char *kf = dk_merge_key_of(member);
  if (kf == NULL || !json_is_array(v)) return NULL;
  size_t n = json_array_size(v);
  for (size_t i = 0; i < n; i++) {
    const char *ki = json_string_value(json_object_get(json_array_get(v, i), kf));
    if (ki == NULL) return NULL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(ki, json_string_value(json_object_get(json_array_get(v, j), kf))) == 0) return NULL;
  }
  return kf;
}

static json_t *dk__find_elem(const json_t *arr, const char *kf, const char *key, size_t *index) {
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    const char *k = json_string_value(json_object_get(e, kf));
    if (k && strcmp(k, key) == 0) {
      if (index) *index = i;
      return e;
    }
  }
  return NULL;
}

static int dk__cmp_str(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The keys of a and b (either may be NULL), sorted, each once, without
 * `skip`. The array is malloc'd; the strings are borrowed. */
static const char **dk__keys(const json_t *a, const json_t *b, const char *skip, size_t *n) {
  size_t cap = json_object_size(a) + json_object_size(b), k = 0;
  const char **keys = dk_malloc((cap + 1) * sizeof *keys);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)a, key, v) keys[k++] = key;
  json_object_foreach((json_t *)b, key, v) if (json_object_get(a, key) == NULL) keys[k++] = key;
  qsort(keys, k, sizeof *keys, dk__cmp_str);
  size_t m = 0;
  for (size_t i = 0; i < k; i++)
    if (skip == NULL || strcmp(keys[i], skip) != 0) keys[m++] = keys[i];
  *n = m;
  return keys;
}

static char *dk__join(const char *prefix, const char *key) {
  return prefix[0] ? dk_asprintf("%s.%s", prefix, key) : dk_strdup(key);
}

static void dk__flatten(json_t *out, const char *prefix, const json_t *obj, const char *skip) {
  size_t n;
  const char **keys = dk__keys(obj, NULL, skip, &n);
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(obj, keys[i]);
    char *name = dk__join(prefix, keys[i]);
    const char *kf;
    if (json_is_object(v) && json_object_size(v) > 0) {
      dk__flatten(out, name, v, NULL);
    } else if (json_array_size(v) > 0 && (kf = dk__keyed(keys[i], v)) != NULL) {
      for (size_t j = 0; j < json_array_size(v); j++) {
        json_t *e = json_array_get(v, j);
        char *ename = dk_asprintf("%s[%s]", name, json_string_value(json_object_get(e, kf)));
        if (json_object_size(e) > 1) dk__flatten(out, ename, e, kf);
        else json_object_set(out, ename, e);
        free(ename);
      }
    } else {
      json_object_set(out, name, v);
    }
    free(name);
  }
  free(keys);
}

json_t *dk_audit_flatten(const json_t *record) {
  json_t *out = json_object();
  if (json_is_object(record)) dk__flatten(out, "", record, NULL);
  else if (record) json_object_set(out, "", (json_t *)record);
  return out;
}

static void dk__change(json_t *arr, const char *field, const json_t *o, const json_t *n) {
  json_t *c = json_pack("{s:s}", "field", field);
  if (o) json_object_set_new(c, "old", json_deep_copy(o));
  if (n) json_object_set_new(c, "new", json_deep_copy(n));
  json_array_append_new(arr, c);
}

static void dk__diff(json_t *arr, const char *prefix, const json_t *o, const json_t *n, const char *skip) {
  size_t nk;
  const char **keys = dk__keys(o, n, skip, &nk);
  for (size_t i = 0; i < nk; i++) {
    const json_t *a = json_object_get(o, keys[i]), *b = json_object_get(n, keys[i]);
    if (dk_json_same(a, b)) continue;
    char *name = dk__join(prefix, keys[i]);
    const char *kf;
    if (json_is_object(a) && json_is_object(b)) {
      dk__diff(arr, name, a, b, NULL);
    } else if ((kf = dk__keyed(keys[i], a)) != NULL && dk__keyed(keys[i], b) == kf) {
      for (size_t j = 0; j < json_array_size(a); j++) {
        json_t *e = json_array_get(a, j);
        const char *key = json_string_value(json_object_get(e, kf));
        json_t *f = dk__find_elem(b, kf, key, NULL);
        char *ename = dk_asprintf("%s[%s]", name, key);
        if (f == NULL) dk__change(arr, ename, e, NULL);
        else if (!dk_json_same(e, f)) dk__diff(arr, ename, e, f, kf);
        free(ename);
      }
      for (size_t j = 0; j < json_array_size(b); j++) {
        json_t *f = json_array_get(b, j);
        const char *key = json_string_value(json_object_get(f, kf));
        if (dk__find_elem(a, kf, key, NULL) != NULL) continue;
        char *ename = dk_asprintf("%s[%s]", name, key);
        dk__change(arr, ename, NULL, f);
        free(ename);
      }
    } else {
      dk__change(arr, name, a, b);
    }
    free(name);
  }
  free(keys);
}

json_t *dk_audit_changes(const json_t *old, const json_t *neu) {
  json_t *arr = json_array();
  if (json_is_object(old) && json_is_object(neu)) dk__diff(arr, "", old, neu, NULL);
  else if (!dk_json_same(old, neu)) dk__change(arr, "", old, neu);
  return arr;
}

struct dk__seg {
  char *key;
  char *sel; /* the element key inside [...], or NULL */
};

static void dk__segs_free(struct dk__seg *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(s[i].key);
    free(s[i].sel);
  }
  free(s);
}

/* "units[济南市教育局].role" -> {units, 济南市教育局}, {role, NULL}. An element
 * key may hold '.', '[' or ']': it ends at the first ']' followed by '.' or
 * the end. Returns 0 or DK_EINVAL. */
static int dk__parse_field(const char *field, struct dk__seg **out, size_t *nout) {
  struct dk__seg *segs = NULL;
  size_t n = 0;
  const char *p = field;
  for (;;) {
    size_t kl = strcspn(p, ".[");
    if (kl == 0) goto bad;
    segs = dk_realloc(segs, (n + 1) * sizeof *segs);
    segs[n].key = dk_strndup(p, kl);
    segs[n].sel = NULL;
    n++;
    p += kl;
    if (*p == '[') {
      const char *r = strchr(p + 1, ']');
      while (r && r[1] != '.' && r[1] != '\0') r = strchr(r + 1, ']');
      if (r == NULL || r == p + 1) goto bad;
      segs[n - 1].sel = dk_strndup(p + 1, (size_t)(r - p - 1));
      p = r + 1;
    }
    if (*p == '\0') break;
    p++; /* '.' */
  }
  *out = segs;
  *nout = n;
  return 0;
bad:
  dk__segs_free(segs, n);
  return DK_EINVAL;
}

json_t *dk_audit_field_get(const json_t *record, const char *field) {
  if (field[0] == '\0') return (json_t *)record;
  struct dk__seg *segs;
  size_t n;
  if (dk__parse_field(field, &segs, &n) != 0) return NULL;
  json_t *cur = (json_t *)record;
  for (size_t i = 0; i < n && cur; i++) {
    cur = json_is_object(cur) ? json_object_get(cur, segs[i].key) : NULL;
    if (cur && segs[i].sel) {
      const char *kf = dk_merge_key_of(segs[i].key);
      cur = kf && json_is_array(cur) ? dk__find_elem(cur, kf, segs[i].sel, NULL) : NULL;
    }
  }
  dk__segs_free(segs, n);
  return cur;
}

int dk_audit_field_set(json_t **record, const char *field, json_t *value, char *err) {
  if (field[0] == '\0') {
    json_decref(*record);
    *record = value;
    return 0;
  }
  struct dk__seg *segs = NULL;
  size_t n = 0;
  int ret = 0;
  if (dk__parse_field(field, &segs, &n) != 0) {
    ret = dk_failf(err, DK_EINVAL, "\"%s\" is not a field name (status, section.title, units[NAME].role)", field);
    goto out;
  }
  if (!json_is_object(*record)) {
    ret = dk_failf(err, DK_EINVAL, "the record is not an object: no field \"%s\" to set", field);
    goto out;
  }
  json_t *cur = *record;
  for (size_t i = 0; i < n; i++) {
    int last = i + 1 == n;
    const char *key = segs[i].key, *sel = segs[i].sel, *kf = NULL;
    if (sel && (kf = dk_merge_key_of(key)) == NULL) {
      ret = dk_failf(err, DK_EINVAL, "%s: \"%s\" is not a keyed array (units by name, milestones by id)", field, key);
      goto out;
    }
    if (last && sel == NULL) {
      if (value) json_object_set(cur, key, value);
      else json_object_del(cur, key);
      goto out;
    }
    /* The member on the way: an object, or with [sel] a keyed array;
     * created when missing, unless there is nothing to set. */
    json_t *next = json_object_get(cur, key);
    if (next == NULL) {
      if (value == NULL) goto out;
      next = sel ? json_array() : json_object();
      json_object_set_new(cur, key, next);
    }
    if (sel ? !json_is_array(next) : !json_is_object(next)) {
      ret = dk_failf(err, DK_EINVAL, "%s: \"%s\" is not an %s", field, key, sel ? "array" : "object");
      goto out;
    }
    if (sel == NULL) {
      cur = next;
      continue;
    }
    size_t idx = 0;
    json_t *elem = dk__find_elem(next, kf, sel, &idx);
    if (last) {
      if (value == NULL) {
        if (elem) json_array_remove(next, idx);
        goto out;
      }
      const char *given = json_string_value(json_object_get(value, kf));
      int wrong_key = json_object_get(value, kf) && (given == NULL || strcmp(given, sel) != 0);
      if (!json_is_object(value) || wrong_key) {
        ret = dk_failf(err, DK_EINVAL, "%s: the element must be an object whose \"%s\" is \"%s\"", field, kf, sel);
        goto out;
      }
      json_object_set_new(value, kf, json_string(sel));
      if (elem) json_array_set(next, idx, value);
      else json_array_append(next, value);
      goto out;
    }
    if (elem == NULL) {
      if (value == NULL) goto out;
      elem = json_pack("{s:s}", kf, sel);
      json_array_append_new(next, elem);
    }
    cur = elem;
  }
out:
  json_decref(value);
  dk__segs_free(segs, n);
  return ret;
}


const char *dk_audit_action_name(enum dk_audit_action a) {
  return a == DK_AUDIT_ADDED ? "added" : a == DK_AUDIT_DELETED ? "deleted" : "changed";
}

/* ---- history ---- */

void dk_audit_entries_free(struct dk_audit_entry *entries, size_t n) {
  for (size_t i = 0; i < n; i++) {
    dk_audit_commit_clear(&entries[i].commit);
    json_decref(entries[i].changes);
  }
  free(entries);
}

int dk_audit_log(struct dk_audit *a, const git_oid *from, const char *path, size_t limit,
                 struct dk_audit_entry **entries, size_t *nout) {
  *entries = NULL;
  *nout = 0;
  struct dk_audit_entry *v = NULL;
  size_t n = 0;
  int ret = 0, has = 0;
  git_oid c = *from, p = {{0}}, bc = {{0}}, bp = {{0}};
  json_t *jc = NULL; /* the version bc, once read: a change's old one is the next change's new one */
  int fc = dk__blob_at(a, &c, path, &bc);
  if (fc < 0) return fc;
  for (;;) {
    int fp = dk__parent_blob(a, &c, path, &p, &has, &bp);
    if (fp < 0) {
      ret = fp;
      break;
    }
    if (fc != fp || (fc && !dk_oid_equal(&bc, &bp))) {
      v = dk_realloc(v, (n + 1) * sizeof *v);
      struct dk_audit_entry *e = &v[n];
      memset(e, 0, sizeof *e);
      if ((ret = dk__commit_info_path(a, &c, path, &e->commit)) != 0) break;
      n++;
      e->action = !fp ? DK_AUDIT_ADDED : !fc ? DK_AUDIT_DELETED : DK_AUDIT_CHANGED;
      if (e->action == DK_AUDIT_CHANGED) {
        json_t *o = dk__blob_json(a, &bp);
        if (jc == NULL) jc = dk__blob_json(a, &bc);
        if (o == NULL || jc == NULL) {
          json_decref(o);
          ret = DK_EGIT;
          break;
        }
        e->changes = dk_audit_changes(o, jc);
        json_decref(jc);
        jc = o;
      } else {
        e->changes = json_array();
        json_decref(jc);
        jc = NULL;
      }
      if (limit && n == limit) break;
    }
    if (!has) break;
    c = p;
    fc = fp;
    bc = bp;
  }
  json_decref(jc);
  if (ret != 0) {
    dk_audit_entries_free(v, n);
    return ret;
  }
  *entries = v;
  *nout = n;
  return 0;
}

int dk_audit_last_change(struct dk_audit *a, const git_oid *from, const char *path, git_oid *out) {
  git_oid c = *from, p, bc, bp;
  int has = 0;
  int rc = dk__blob_at(a, &c, path, &bc);
  if (rc == 0) rc = dk_failf(a->err, DK_ENOENT, "%s is not there", path);
  /* back while the first parent holds the same version */
  while (rc > 0 && (rc = dk__parent_blob(a, &c, path, &p, &has, &bp)) > 0 && dk_oid_equal(&bp, &bc)) c = p;
  if (rc >= 0) *out = c;
  return rc < 0 ? rc : 0;
}

void dk_audit_blame_free(struct dk_audit_blame *lines, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(lines[i].field);
    json_decref(lines[i].value);
    dk_audit_commit_clear(&lines[i].commit);
  }
  free(lines);
}

int dk_audit_blame_record(struct dk_audit *a, const git_oid *from, const char *path, json_t **record,
                          struct dk_audit_blame **lines, size_t *nout) {
  *record = NULL;
  *lines = NULL;
  *nout = 0;
  git_oid bc = {{0}}, bp = {{0}};
  json_t *rec = NULL;
  int rc = dk_audit_read(a, from, path, &rec, &bc);
  if (rc != 0) return rc;
  json_t *flat = dk_audit_flatten(rec);
  size_t n = json_object_size(flat), left = n;
  struct dk_audit_blame *v = dk_calloc(n ? n : 1, sizeof *v); /* a field is attributed once its commit.hex is set */
  size_t i = 0;
  const char *k;
  json_t *val;
  json_object_foreach(flat, k, val) {
    v[i].field = dk_strdup(k);
    v[i].value = json_incref(val);
    i++;
  }
  json_decref(flat);

  git_oid c = *from, p;
  int ret = 0, has = 0;
  while (ret == 0 && left > 0) {
    int fp = dk__parent_blob(a, &c, path, &p, &has, &bp);
    if (fp < 0) {
      ret = fp;
      break;
    }
    if (!fp || !dk_oid_equal(&bp, &bc)) {
      /* Fields whose value differs in the parent (or that it lacks: the
       * record was added here) changed in c. */
      json_t *pflat = NULL;
      if (fp) {
        json_t *prec = dk__blob_json(a, &bp);
        if (prec == NULL) {
          ret = DK_EGIT;
          break;
        }
        pflat = dk_audit_flatten(prec);
        json_decref(prec);
      }
      struct dk_audit_commit info;
      int have_info = 0;
      for (size_t j = 0; j < n && ret == 0; j++) {
        if (v[j].commit.hex[0]) continue;
        if (fp && dk_json_same(json_object_get(pflat, v[j].field), v[j].value)) continue;
        if (!have_info) {
          if ((ret = dk__commit_info_path(a, &c, path, &info)) != 0) break;
          have_info = 1;
        }
        dk__commit_copy(&v[j].commit, &info);
        left--;
      }
      if (have_info) dk_audit_commit_clear(&info);
      json_decref(pflat);
    }
    if (!has) break;
    c = p;
    bc = bp;
  }
  if (ret != 0) {
    dk_audit_blame_free(v, n);
    json_decref(rec);
    return ret;
  }
  *record = rec;
  *lines = v;
  *nout = n;
  return 0;
}

/* ---- diff ---- */

void dk_audit_deltas_free(struct dk_audit_delta *d, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(d[i].path);
    free(d[i].id);
    json_decref(d[i].changes);
  }
  free(d);
}

/* A path of the snapshot tree as a record: <folder>/<id>.json. */
static int dk__path_record(const char *path, enum dk_kind *kind, char **id) {
  size_t n = strlen(path);
  if (n < 5 || strcmp(path + n - 5, ".json") != 0) return 0;
  for (int k = 0; k < DK_KIND_COUNT; k++) {
    const char *f = dk_kind_folder((enum dk_kind)k);
    size_t fl = strlen(f);
    if (strncmp(path, f, fl) == 0 && path[fl] == '/') {
      enum dk_kind got;
      if (dk_record_parse_name(path, &got, id) != 0) return 0;
      *kind = got;
      return 1;
    }
  }
  return 0;
}

struct dk__diffs {
  struct dk_audit *a;
  struct dk_audit_delta *v;
  size_t n, cap;
};

static int dk__diff_one(const char *path, enum dk_store_change how, const git_oid *old, const git_oid *neu,
                        void *arg) {
  struct dk__diffs *d = arg;
  if (d->n == d->cap) {
    d->cap = d->cap ? 2 * d->cap : 64;
    d->v = dk_realloc(d->v, d->cap * sizeof *d->v);
  }
  struct dk_audit_delta *e = &d->v[d->n++];
  memset(e, 0, sizeof *e);
  e->path = dk_strdup(path);
  e->action = how == DK_STORE_ADDED ? DK_AUDIT_ADDED : how == DK_STORE_DELETED ? DK_AUDIT_DELETED : DK_AUDIT_CHANGED;
  e->kind = DK_KIND_NONE;
  if (!dk__path_record(e->path, &e->kind, &e->id)) {
    e->kind = DK_KIND_NONE;
    e->conflict = strncmp(e->path, "conflicts/", 10) == 0;
    return 0;
  }
  if (e->action != DK_AUDIT_CHANGED) return 0;
  json_t *o = dk__blob_json(d->a, old), *nw = dk__blob_json(d->a, neu);
  int rc = o && nw ? 0 : DK_EGIT;
  if (rc == 0) e->changes = dk_audit_changes(o, nw);
  json_decref(o);
  json_decref(nw);
  return rc;
}

int dk_audit_diff(struct dk_audit *a, const git_oid *from, const git_oid *to, struct dk_audit_delta **deltas,
                  size_t *nout) {
  struct dk__diffs d = {.a = a};
  int ret = dk__serr(a, dk_store_diff(a->st, from, to, dk__diff_one, &d));
  if (ret != 0) {
    dk_audit_deltas_free(d.v, d.n);
    *deltas = NULL;
    *nout = 0;
    return ret;
  }
  *deltas = d.v ? d.v : dk_calloc(1, sizeof *d.v);
  *nout = d.n;
  return 0;
}

/* ---- conflicts ---- */

static int dk__conflict_file(const char *path, const git_oid *blob, void *arg) {
  char hex[41];
  json_object_set_new(arg, path, json_string(dk_oid_hex(blob, hex)));
  return 0;
}

int dk_audit_conflicts(struct dk_audit *a, const git_oid *at, json_t **list) {
  *list = NULL;
  json_t *found = json_object(), *out = json_array(); /* path -> blob id (hex) */
  int ret = dk__serr(a, dk_store_files(a->st, at, "conflicts", dk__conflict_file, found));
  size_t n = 0;
  const char **paths = ret == 0 ? dk__keys(found, NULL, NULL, &n) : NULL;
  for (size_t i = 0; i < n && ret == 0; i++) {
    git_oid oid;
    dk_oid_parse(json_string_value(json_object_get(found, paths[i])), &oid);
    json_t *doc = dk__blob_json(a, &oid);
    if (doc == NULL) {
      ret = DK_EGIT;
      break;
    }
    if (!json_is_object(doc)) {
      json_decref(doc);
      doc = json_pack("{s:s}", "error", "not a JSON object");
    }
    json_object_set_new(doc, "file", json_string(paths[i]));
    json_array_append_new(out, doc);
  }
  free(paths);
  json_decref(found);
  if (ret != 0) {
    json_decref(out);
    return ret;
  }
  *list = out;
  return 0;
}


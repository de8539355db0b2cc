#include "merge.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "record.h"
#include "util.h"

static const char *const dk__policy_names[] = {
  [DK_POLICY_OWNER] = "owner",
  [DK_POLICY_LATEST] = "latest",
  [DK_POLICY_PRIORITY] = "priority",
  [DK_POLICY_MANUAL] = "manual",
};
#define DK__NPOLICIES (sizeof dk__policy_names / sizeof dk__policy_names[0])

/* Arrays merged element by element: the member's name and the element
 * member that identifies an element. */
static const struct {
  const char *field, *key;
} dk__keyed[] = {
  {"milestones", "id"},
  {"units", "name"},
};

int dk_policy_parse(const char *s, enum dk_policy *out) {
  for (size_t i = 0; s != NULL && i < DK__NPOLICIES; i++)
    if (strcmp(s, dk__policy_names[i]) == 0) {
      *out = (enum dk_policy)i;
      return 0;
    }
  return DK_EINVAL;
}

const char *dk_policy_name(enum dk_policy p) {
  return (unsigned)p < DK__NPOLICIES ? dk__policy_names[p] : "unknown";
}

/* ---- configuration ---- */

struct dk__field_policy {
  char *kind;
  char *field;
  enum dk_policy policy;
};

struct dk_reconcile {
  enum dk_policy def;
  int has_kind[DK_KIND_COUNT];
  enum dk_policy kinds[DK_KIND_COUNT];
  struct dk__field_policy *fields;
  size_t nfields;
  char **priority;
  size_t npriority;
};

static int dk__policy_value(const json_t *v, const char *where, enum dk_policy *out, char *err) {
  if (json_is_string(v) && dk_policy_parse(json_string_value(v), out) == 0) return 0;
  if (!json_is_string(v))
    return dk_failf(err, DK_ECONFIG, "%s: expected a policy (owner, latest, priority, manual)", where);
  char ex[64];
  dk_excerpt(ex, sizeof ex, json_string_value(v), json_string_length(v));
  return dk_failf(err, DK_ECONFIG, "%s: \"%s\" is not a policy (owner, latest, priority, manual)", where, ex);
}

/* "kind.field" with a known kind and a field of [a-z_]+, as the config
 * schema says. */
static int dk__kind_field(const char *s, enum dk_kind *kind, const char **field) {
  const char *dot = strchr(s, '.');
  if (dot == NULL || dot[1] == '\0') return 0;
  char *k = dk_strndup(s, (size_t)(dot - s));
  *kind = dk_kind_from_name(k);
  free(k);
  if (*kind == DK_KIND_NONE) return 0;
  for (const char *p = dot + 1; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || *p == '_')) return 0;
  *field = dot + 1;
  return 1;
}

static int dk__reconcile_fill(struct dk_reconcile *rc, const json_t *conf, char *err) {
  char ex[64], where[160];
  if (!json_is_object(conf)) return dk_failf(err, DK_ECONFIG, "reconcile: expected a mapping");
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)conf, key, v) {
    dk_excerpt(ex, sizeof ex, key, strlen(key));
    if (strcmp(key, "default") == 0) {
      int ret = dk__policy_value(v, "reconcile.default", &rc->def, err);
      if (ret) return ret;
    } else if (strcmp(key, "kinds") == 0) {
      if (!json_is_object(v)) return dk_failf(err, DK_ECONFIG, "reconcile.kinds: expected a mapping");
      const char *kname;
      json_t *kv;
      json_object_foreach(v, kname, kv) {
        enum dk_kind k = dk_kind_from_name(kname);
        dk_excerpt(ex, sizeof ex, kname, strlen(kname));
        if (k == DK_KIND_NONE)
          return dk_failf(err, DK_ECONFIG, "reconcile.kinds: \"%s\" is not a kind (plan, task, progress, unit)", ex);
        snprintf(where, sizeof where, "reconcile.kinds.%s", kname);
        int ret = dk__policy_value(kv, where, &rc->kinds[k], err);
        if (ret) return ret;
        rc->has_kind[k] = 1;
      }
    } else if (strcmp(key, "fields") == 0) {
      if (!json_is_object(v)) return dk_failf(err, DK_ECONFIG, "reconcile.fields: expected a mapping");
      rc->fields = dk_calloc(json_object_size(v), sizeof *rc->fields);
      const char *fname;
      json_t *fv;
      json_object_foreach(v, fname, fv) {
        enum dk_kind k;
        const char *field;
        dk_excerpt(ex, sizeof ex, fname, strlen(fname));
        if (!dk__kind_field(fname, &k, &field))
          return dk_failf(err, DK_ECONFIG,
                          "reconcile.fields: \"%s\" is not kind.field (a kind among plan, task, progress, unit, "
                          "then a field, e.g. task.title)", ex);
        struct dk__field_policy *fp = &rc->fields[rc->nfields];
        snprintf(where, sizeof where, "reconcile.fields.%s", ex);
        int ret = dk__policy_value(fv, where, &fp->policy, err);
        if (ret) return ret;
        fp->kind = dk_strdup(dk_kind_name(k));
        fp->field = dk_strdup(field);
        rc->nfields++;
      }
    } else if (strcmp(key, "priority") == 0) {
      if (!json_is_array(v)) return dk_failf(err, DK_ECONFIG, "reconcile.priority: expected a list of source names");
      rc->priority = dk_calloc(json_array_size(v), sizeof *rc->priority);
      size_t i;
      json_t *item;
      json_array_foreach(v, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0)
          return dk_failf(err, DK_ECONFIG, "reconcile.priority[%zu]: expected a source name", i);
        const char *name = json_string_value(item);
        dk_excerpt(ex, sizeof ex, name, json_string_length(item));
        if (dk_reconcile_rank(rc, name) >= 0)
          return dk_failf(err, DK_ECONFIG, "reconcile.priority: \"%s\" is listed twice", ex);
        rc->priority[rc->npriority++] = dk_strdup(name);
      }
    } else {
      return dk_failf(err, DK_ECONFIG,
                      "reconcile: unknown key \"%s\" (expected default, kinds, fields or priority)", ex);
    }
  }
  return 0;
}

int dk_reconcile_new(const json_t *conf, struct dk_reconcile **out, char *err) {
  *out = NULL;
  struct dk_reconcile *rc = dk_calloc(1, sizeof *rc);
  rc->def = DK_POLICY_LATEST;
  int ret = conf != NULL ? dk__reconcile_fill(rc, conf, err) : 0;
  if (ret != 0) {
    dk_reconcile_free(rc);
    return ret;
  }
  *out = rc;
  return 0;
}

void dk_reconcile_free(struct dk_reconcile *rc) {
  if (rc == NULL) return;
  for (size_t i = 0; i < rc->nfields; i++) {
    free(rc->fields[i].kind);
    free(rc->fields[i].field);
  }
  free(rc->fields);
  for (size_t i = 0; i < rc->npriority; i++) free(rc->priority[i]);
  free(rc->priority);
  free(rc);
}

enum dk_policy dk_reconcile_policy(const struct dk_reconcile *rc, const char *kind, const char *top_field) {
  if (rc == NULL) return DK_POLICY_LATEST;
  if (kind != NULL && top_field != NULL && *top_field)
    for (size_t i = 0; i < rc->nfields; i++)
      if (strcmp(rc->fields[i].kind, kind) == 0 && strcmp(rc->fields[i].field, top_field) == 0)
        return rc->fields[i].policy;
  enum dk_kind k = dk_kind_from_name(kind);
  if (k != DK_KIND_NONE && rc->has_kind[k]) return rc->kinds[k];
  return rc->def;
}

int dk_reconcile_rank(const struct dk_reconcile *rc, const char *source) {
  for (size_t i = 0; rc != NULL && source != NULL && i < rc->npriority; i++)
    if (strcmp(rc->priority[i], source) == 0) return (int)i;
  return -1;
}

/* ---- values ---- */

static void dk__oom(void) {
  fprintf(stderr, "duikou: out of memory in jansson\n");
  abort();
}

static json_t *dk__copy(const json_t *v) {
  if (v == NULL) return NULL;
  json_t *c = json_deep_copy(v);
  if (c == NULL) dk__oom();
  return c;
}

static json_t *dk__new(json_t *v) {
  if (v == NULL) dk__oom();
  return v;
}

int dk_json_same(const json_t *a, const json_t *b) {
  if (a == NULL || b == NULL) return a == b;
  if (json_is_number(a) && json_is_number(b)) {
    if (json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) == json_integer_value(b);
    if (json_is_real(a) && json_is_real(b)) return json_real_value(a) == json_real_value(b);
    const json_t *i = json_is_integer(a) ? a : b, *r = json_is_integer(a) ? b : a;
    double d = json_real_value(r);
    return d > -9.2e18 && d < 9.2e18 && d == (double)(json_int_t)d && (json_int_t)d == json_integer_value(i);
  }
  if (json_typeof(a) != json_typeof(b)) return 0;
  if (json_is_object(a)) {
    if (json_object_size(a) != json_object_size(b)) return 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v)
      if (!dk_json_same(v, json_object_get(b, k))) return 0;
    return 1;
  }
  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!dk_json_same(json_array_get(a, i), json_array_get(b, i))) return 0;
    return 1;
  }
  return json_equal(a, b);
}

static const char *dk__str(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key)); /* NULL when absent or not a string */
}

const char *dk_merge_key_of(const char *field) {
  for (size_t i = 0; i < sizeof dk__keyed / sizeof dk__keyed[0]; i++)
    if (strcmp(field, dk__keyed[i].field) == 0) return dk__keyed[i].key;
  return NULL;
}

/* An array fit for merging by `key`: objects with unique string keys.
 * Quadratic, but units and milestones number a handful. */
static int dk__keyed_ok(const json_t *a, const char *key) {
  if (!json_is_array(a)) return 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    const char *k = dk__str(json_array_get(a, i), key);
    if (k == NULL) return 0;
    for (size_t j = 0; j < i; j++)
      if (strcmp(k, dk__str(json_array_get(a, j), key)) == 0) return 0;
  }
  return 1;
}

static const json_t *dk__find(const json_t *a, const char *key, const char *value) {
  for (size_t i = 0; i < json_array_size(a); i++) {
    const char *k = dk__str(json_array_get(a, i), key);
    if (k != NULL && strcmp(k, value) == 0) return json_array_get(a, i);
  }
  return NULL;
}

/* ---- the merge ---- */

/* One step of a field's path: a member, and when `key` is set the element
 * of that array member whose `key_member` is `key`. */
struct dk__step {
  const char *member, *key_member, *key;
};

struct dk__ctx {
  const struct dk_merge_in *in;
  const char *kind;
  struct dk__step *path;
  size_t depth, cap;
  struct dk_merge_out *out;
  size_t conflicts_cap, changes_cap;
};

static void dk__push(struct dk__ctx *c, const char *member) {
  if (c->depth == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 8;
    c->path = dk_realloc(c->path, c->cap * sizeof *c->path);
  }
  c->path[c->depth++] = (struct dk__step){member, NULL, NULL};
}

static char *dk__field_name(const struct dk__ctx *c) {
  struct dk_buf b = {0};
  for (size_t i = 0; i < c->depth; i++) {
    if (i > 0) dk_buf_puts(&b, ".");
    dk_buf_puts(&b, c->path[i].member);
    if (c->path[i].key != NULL) dk_buf_printf(&b, "[%s]", c->path[i].key);
  }
  char *name = dk_strdup(dk_buf_cstr(&b));
  dk_buf_free(&b);
  return name;
}

/* The value at the current path in another version of the record. */
static const json_t *dk__lookup(const struct dk__ctx *c, const json_t *record) {
  const json_t *v = record;
  for (size_t i = 0; i < c->depth && v != NULL; i++) {
    v = json_object_get(v, c->path[i].member); /* NULL for a non-object */
    if (c->path[i].key != NULL) v = dk__find(v, c->path[i].key_member, c->path[i].key);
  }
  return v;
}

static void dk__change(struct dk__ctx *c, const json_t *from, const json_t *to) {
  struct dk_merge_out *out = c->out;
  if (out->nchanges == c->changes_cap) {
    c->changes_cap = c->changes_cap ? 2 * c->changes_cap : 8;
    out->changes = dk_realloc(out->changes, c->changes_cap * sizeof *out->changes);
  }
  out->changes[out->nchanges++] = (struct dk_merge_change){dk__field_name(c), dk__copy(from), dk__copy(to)};
}

static time_t dk__stamp(const json_t *record) {
  const char *s = dk__str(record, "updated_at");
  if (s == NULL) s = dk__str(record, "reported_at");
  return s != NULL ? dk_time_parse_iso(s) : (time_t)-1;
}

/* Whether the incoming source outranks every source standing behind main's
 * value `o` at the current path. */
static int dk__priority_wins(const struct dk__ctx *c, const json_t *o) {
  const struct dk_merge_in *in = c->in;
  const int unlisted = INT_MAX;
  int mine = dk_reconcile_rank(in->rc, in->source), best = -1;
  if (mine < 0) mine = unlisted;
  for (size_t i = 0; i < in->nothers; i++) {
    const struct dk_merge_other *ot = &in->others[i];
    if (ot->record == NULL || ot->source == NULL || strcmp(ot->source, in->source) == 0) continue;
    if (!dk_json_same(dk__lookup(c, ot->record), o)) continue;
    int r = dk_reconcile_rank(in->rc, ot->source);
    if (r < 0) r = unlisted;
    if (best < 0 || r < best) best = r;
  }
  return best >= 0 && mine < best;
}

/* Settle a conflict at the current path by policy and record it. Returns 1
 * when theirs wins. */
static int dk__conflict(struct dk__ctx *c, const json_t *b, const json_t *o, const json_t *t) {
  const struct dk_merge_in *in = c->in;
  enum dk_policy p = dk_reconcile_policy(in->rc, c->kind, c->depth ? c->path[0].member : NULL);
  int wins = 0;
  if (p == DK_POLICY_OWNER) {
    const char *owner = dk__str(in->theirs, "city");
    if (owner == NULL) owner = dk__str(in->ours, "city");
    if (owner != NULL) wins = in->city != NULL && strcmp(in->city, owner) == 0;
    else p = DK_POLICY_LATEST;
  }
  if (p == DK_POLICY_LATEST) {
    time_t to = dk__stamp(in->ours), tt = dk__stamp(in->theirs);
    wins = to != (time_t)-1 && tt != (time_t)-1 && tt > to;
  } else if (p == DK_POLICY_PRIORITY) {
    wins = dk__priority_wins(c, o);
  }
  struct dk_merge_out *out = c->out;
  if (out->nconflicts == c->conflicts_cap) {
    c->conflicts_cap = c->conflicts_cap ? 2 * c->conflicts_cap : 4;
    out->conflicts = dk_realloc(out->conflicts, c->conflicts_cap * sizeof *out->conflicts);
  }
  const char *winner = p == DK_POLICY_MANUAL ? "open" : wins ? in->source : "main";
  out->conflicts[out->nconflicts++] = (struct dk_merge_conflict){
    dk__field_name(c), dk__copy(b), dk__copy(o), dk__copy(t), p, dk_strdup(winner)};
  if (p == DK_POLICY_MANUAL) out->open++;
  return wins;
}

static json_t *dk__merge_object(struct dk__ctx *c, const json_t *b, const json_t *o, const json_t *t);

/* A conflict at the current path: main's value, or theirs when it wins. */
static json_t *dk__settle(struct dk__ctx *c, const json_t *b, const json_t *o, const json_t *t) {
  if (dk__conflict(c, b, o, t)) {
    dk__change(c, o, t);
    return dk__copy(t);
  }
  return dk__copy(o);
}

/* The three-way rules on one value at the current path. Returns the value
 * main should hold (owned) or NULL for absent. */
static json_t *dk__merge_value(struct dk__ctx *c, const json_t *b, const json_t *o, const json_t *t);

static int dk__strcmp_p(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *dk__merge_keyed(struct dk__ctx *c, const char *km, const json_t *b, const json_t *o,
                               const json_t *t) {
  json_t *m = dk__new(json_array());
  size_t top = c->depth - 1; /* an index: merging elements may grow c->path */
  c->path[top].key_member = km;
  for (int pass = 0; pass < 2; pass++) {
    /* ours' elements in ours' order, then those only theirs holds */
    const json_t *side = pass == 0 ? o : t;
    for (size_t i = 0; i < json_array_size(side); i++) {
      const json_t *e = json_array_get(side, i);
      const char *key = dk__str(e, km);
      if (pass == 1 && dk__find(o, km, key) != NULL) continue;
      c->path[top].key = key;
      json_t *v = dk__merge_value(c, dk__find(b, km, key), pass == 0 ? e : NULL, dk__find(t, km, key));
      if (v != NULL && json_array_append_new(m, v) != 0) dk__oom();
    }
  }
  c->path[top].key_member = c->path[top].key = NULL;
  return m;
}

static json_t *dk__merge_value(struct dk__ctx *c, const json_t *b, const json_t *o, const json_t *t) {
  if (dk_json_same(t, b) || dk_json_same(o, t)) return dk__copy(o);
  if (dk_json_same(o, b)) {
    dk__change(c, o, t);
    return dk__copy(t);
  }
  if (json_is_object(o) && json_is_object(t) && (b == NULL || json_is_object(b)))
    return dk__merge_object(c, b, o, t);
  const struct dk__step *top = &c->path[c->depth - 1];
  const char *km = top->key == NULL ? dk_merge_key_of(top->member) : NULL;
  if (km != NULL && dk__keyed_ok(o, km) && dk__keyed_ok(t, km) && (b == NULL || dk__keyed_ok(b, km)))
    return dk__merge_keyed(c, km, b, o, t);
  return dk__settle(c, b, o, t);
}

/* Merge objects member by member in key order; b may be NULL (= {}). */
static json_t *dk__merge_object(struct dk__ctx *c, const json_t *b, const json_t *o, const json_t *t) {
  const json_t *sides[3] = {b, o, t};
  size_t n = 0;
  for (int s = 0; s < 3; s++) n += json_object_size(sides[s]);
  const char **keys = dk_malloc(n * sizeof *keys);
  n = 0;
  for (int s = 0; s < 3; s++) {
    if (sides[s] == NULL) continue;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sides[s], k, v) keys[n++] = k;
  }
  qsort(keys, n, sizeof *keys, dk__strcmp_p);
  json_t *m = dk__new(json_object());
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0) continue;
    const char *k = keys[i];
    const json_t *ov = json_object_get(o, k);
    json_t *v;
    if (c->depth == 0 && (strcmp(k, "kind") == 0 || strcmp(k, "id") == 0)) {
      v = dk__copy(ov); /* checked equal on every side */
    } else {
      dk__push(c, k);
      v = dk__merge_value(c, b != NULL ? json_object_get(b, k) : NULL, ov, json_object_get(t, k));
      c->depth--;
    }
    if (v != NULL && json_object_set_new(m, k, v) != 0) dk__oom();
  }
  free(keys);
  return m;
}

static int dk__check_version(const char *name, const json_t *r, const char **kind, const char **id,
                             char *err) {
  if (r == NULL) return 0;
  if (!json_is_object(r)) return dk_failf(err, DK_EINVAL, "%s: a record must be an object", name);
  const char *k = dk__str(r, "kind"), *i = dk__str(r, "id");
  if (dk_kind_from_name(k) == DK_KIND_NONE)
    return dk_failf(err, DK_EINVAL, "%s: no known kind (plan, task, progress, unit)", name);
  if (i == NULL) return dk_failf(err, DK_EINVAL, "%s: no string id", name);
  if (*kind == NULL) {
    *kind = k;
    *id = i;
  } else if (strcmp(*kind, k) != 0 || strcmp(*id, i) != 0) {
    char a[96], b[96];
    return dk_failf(err, DK_EINVAL, "%s is %s %s, another version is %s %s", name, k,
                    dk_excerpt(a, sizeof a, i, strlen(i)), *kind, dk_excerpt(b, sizeof b, *id, strlen(*id)));
  }
  return 0;
}

int dk_merge(const struct dk_merge_in *in, struct dk_merge_out *out, char *err) {
  memset(out, 0, sizeof *out);
  if (in->source == NULL || *in->source == '\0') return dk_failf(err, DK_EINVAL, "no incoming source name");
  if (in->tombstone && in->theirs != NULL)
    return dk_failf(err, DK_EINVAL, "a tombstone comes without a record (theirs must be NULL)");
  if (!in->tombstone && in->theirs == NULL)
    return dk_failf(err, DK_EINVAL, "theirs is NULL without a tombstone");
  const char *kind = NULL, *id = NULL;
  int ret;
  if ((ret = dk__check_version("theirs", in->theirs, &kind, &id, err)) != 0 ||
      (ret = dk__check_version("ours", in->ours, &kind, &id, err)) != 0 ||
      (ret = dk__check_version("base", in->base, &kind, &id, err)) != 0)
    return ret;

  struct dk__ctx c = {.in = in, .kind = kind, .out = out};
  const json_t *b = in->base, *o = in->ours, *t = in->theirs;
  json_t *merged = NULL;
  if (o != NULL && t != NULL) {
    merged = dk__merge_object(&c, b, o, t);
  } else if (t != NULL) { /* main does not hold it */
    if (b == NULL) {
      dk__change(&c, NULL, t);
      merged = dk__copy(t);
    } else if (!dk_json_same(t, b)) {
      merged = dk__settle(&c, b, NULL, t);
    }
  } else if (o != NULL) { /* a tombstone for a record main holds */
    if (b != NULL && dk_json_same(o, b)) dk__change(&c, o, NULL);
    else merged = dk__settle(&c, b, o, NULL);
  }
  free(c.path);
  out->merged = merged;
  if (dk_json_same(merged, o)) out->action = DK_MERGE_NONE;
  else out->action = o == NULL ? DK_MERGE_ADD : merged == NULL ? DK_MERGE_DELETE : DK_MERGE_CHANGE;
  return 0;
}

void dk_merge_out_free(struct dk_merge_out *out) {
  if (out == NULL) return;
  json_decref(out->merged);
  for (size_t i = 0; i < out->nconflicts; i++) {
    struct dk_merge_conflict *cf = &out->conflicts[i];
    free(cf->field);
    json_decref(cf->base);
    json_decref(cf->ours);
    json_decref(cf->theirs);
    free(cf->winner);
  }
  free(out->conflicts);
  for (size_t i = 0; i < out->nchanges; i++) {
    free(out->changes[i].field);
    json_decref(out->changes[i].from);
    json_decref(out->changes[i].to);
  }
  free(out->changes);
  memset(out, 0, sizeof *out);
}

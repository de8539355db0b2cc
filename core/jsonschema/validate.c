/* Validation against a compiled schema. Two modes share one walk: with no
 * result requested it stops at the first failure and builds no strings;
 * otherwise it collects every failing leaf with its locations.
 *
 * unevaluatedItems/unevaluatedProperties need to know which items or
 * properties the adjacent keywords evaluated. That is tracked with a mark
 * per item (or per property, in the object's iteration order), and only
 * below a schema that has one of those keywords. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../util.h"

struct scope {
  const struct dk__cres *cres;
  const struct scope *up;
};

struct track {
  unsigned char *m;
  size_t n;
  int all, heap;
};

enum { HINT_NONE, HINT_PROP, HINT_ITEM, HINT_NAME };

struct vctx {
  struct dk_vresult *res;  /* NULL: stop at the first failure */
  size_t cap;
  unsigned depth, refs, max_depth; /* instance depth, references followed */
  const struct scope *scope;
  struct dk_buf ipath, kpath;
  int hint;                /* what a false schema is rejecting, for its message */
  const char *hint_key;
  size_t hint_len;
};

#define TRACK_BUF 64

static void track_init(struct track *t, unsigned char *buf, size_t n) {
  t->n = n;
  t->all = 0;
  t->heap = n > TRACK_BUF;
  t->m = t->heap ? dk_calloc(n, 1) : buf;
  if (!t->heap)
    memset(buf, 0, n);
}

static void track_merge(struct track *dst, const struct track *src) {
  if (src->all)
    dst->all = 1;
  else if (!dst->all)
    for (size_t i = 0; i < dst->n; i++)
      dst->m[i] |= src->m[i];
}

static void track_done(struct track *t) {
  if (t->heap)
    free(t->m);
}

/* --- errors -------------------------------------------------------------- */

static void verror(struct vctx *c, const struct dk__node *n, const char *kw, const char *fmt, va_list ap) {
  struct dk_vresult *res = c->res;
  if (res->nerrors == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 8;
    res->errors = dk_realloc(res->errors, c->cap * sizeof *res->errors);
  }
  struct dk_verror *e = &res->errors[res->nerrors++];
  e->instance_location = dk_strdup(dk_buf_cstr(&c->ipath));
  struct dk_buf b = {0};
  dk_buf_puts(&b, dk_buf_cstr(&c->kpath));
  if (kw) {
    dk_buf_puts(&b, "/");
    dk_buf_puts(&b, kw);
  }
  dk_buf_cstr(&b);
  e->keyword_location = dk_buf_steal(&b);
  dk_buf_puts(&b, n->abs);
  if (kw) {
    dk_buf_puts(&b, "/");
    dk__frag_append(&b, kw, strlen(kw));
  }
  dk_buf_cstr(&b);
  e->absolute_keyword_location = dk_buf_steal(&b);
  dk_buf_vprintf(&b, fmt, ap);
  dk_buf_cstr(&b);
  e->message = dk_buf_steal(&b);
}

static void error(struct vctx *c, const struct dk__node *n, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error(struct vctx *c, const struct dk__node *n, const char *kw, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(c, n, kw, fmt, ap);
  va_end(ap);
}

static void truncate_errors(struct vctx *c, size_t mark) {
  while (c->res->nerrors > mark) {
    struct dk_verror *e = &c->res->errors[--c->res->nerrors];
    free(e->instance_location);
    free(e->keyword_location);
    free(e->absolute_keyword_location);
    free(e->message);
  }
}

/* A short rendering of a value for a message, in b (reset first). */
static const char *show(struct dk_buf *b, const json_t *v) {
  b->len = 0;
  dk__describe(b, v, 80, 0);
  return dk_buf_cstr(b);
}

static size_t path_push(struct vctx *c, struct dk_buf *p, const char *a, const char *tok, size_t len) {
  if (!c->res)
    return 0;
  size_t old = p->len;
  if (a)
    dk__ptr_append(p, a, strlen(a));
  if (tok)
    dk__ptr_append(p, tok, len);
  return old;
}

static size_t path_index(struct vctx *c, struct dk_buf *p, const char *a, size_t i) {
  if (!c->res)
    return 0;
  size_t old = p->len;
  if (a)
    dk__ptr_append(p, a, strlen(a));
  dk_buf_printf(p, "/%zu", i);
  return old;
}

static void path_pop(struct vctx *c, struct dk_buf *p, size_t old) {
  if (!c->res)
    return;
  p->len = old;
  if (p->data)
    p->data[old] = 0;
}

static int too_deep(struct vctx *c, const struct dk__node *n, const char *kw) {
  if (c->res)
    error(c, n, kw, "nested deeper than the limit of %u", c->max_depth);
  return DK_ETOOBIG;
}

/* A subschema evaluated without error collection hit a limit. */
static int gave_up(struct vctx *c, const struct dk__node *n, const char *kw) {
  if (c->res)
    error(c, n, kw, "could not be evaluated: nesting or pattern matching went past its limit");
  return DK_ETOOBIG;
}

/* --- values -------------------------------------------------------------- */

/* Compare JSON numbers exactly (long double holds every int64). */
int dk__num_cmp(const json_t *a, const json_t *b) {
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return x < y ? -1 : x > y;
  }
  long double x = json_is_integer(a) ? (long double)json_integer_value(a) : (long double)json_real_value(a);
  long double y = json_is_integer(b) ? (long double)json_integer_value(b) : (long double)json_real_value(b);
  return x < y ? -1 : x > y;
}

/* JSON equality with a nesting bound; 1, 0 or DK_ETOOBIG. */
int dk__json_equal(const json_t *a, const json_t *b, unsigned depth) {
  if (a == b)
    return 1;
  if (json_is_number(a) && json_is_number(b))
    return dk__num_cmp(a, b) == 0;
  if (json_typeof(a) != json_typeof(b))
    return 0;
  switch (json_typeof(a)) {
  case JSON_STRING:
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
  case JSON_ARRAY: {
    size_t n = json_array_size(a);
    if (n != json_array_size(b))
      return 0;
    if (depth == 0)
      return DK_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
      int r = dk__json_equal(json_array_get(a, i), json_array_get(b, i), depth - 1);
      if (r != 1)
        return r;
    }
    return 1;
  }
  case JSON_OBJECT: {
    if (json_object_size(a) != json_object_size(b))
      return 0;
    if (depth == 0)
      return DK_ETOOBIG;
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)a, k, klen, v) {
      json_t *w = json_object_getn(b, k, klen);
      if (!w)
        return 0;
      int r = dk__json_equal(v, w, depth - 1);
      if (r != 1)
        return r;
    }
    return 1;
  }
  default:
    return 1; /* true, false, null: same type, same value */
  }
}

static int is_integer(const json_t *v) {
  if (json_is_integer(v))
    return 1;
  double d = json_real_value(v);
  return json_is_real(v) && isfinite(d) && d == floor(d);
}

static int multiple_of(const json_t *x, const json_t *d) {
  if (json_is_integer(x) && json_is_integer(d)) {
    json_int_t dv = json_integer_value(d);
    return dv == -1 || json_integer_value(x) % dv == 0;
  }
  double xv = json_number_value(x), dv = json_number_value(d);
  if (dv == floor(dv))
    return xv == floor(xv) && fmod(xv, dv) == 0;
  double q = xv / dv;
  if (!isfinite(q)) {
    /* an integer is a multiple of any 1/k */
    double inv = 1 / dv;
    if (xv == floor(xv) && fabs(inv - nearbyint(inv)) <= inv * 4 * DBL_EPSILON)
      return 1;
    return fmod(xv, dv) == 0;
  }
  /* decimal divisors are inexact in binary: accept a quotient within a
   * few units in the last place of an integer */
  return fabs(q - nearbyint(q)) <= fabs(q) * 4 * DBL_EPSILON;
}

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  default:
    return "null";
  }
}

static int type_ok(unsigned types, const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return types & DK__T_OBJECT;
  case JSON_ARRAY:
    return types & DK__T_ARRAY;
  case JSON_STRING:
    return types & DK__T_STRING;
  case JSON_INTEGER:
    return types & (DK__T_INTEGER | DK__T_NUMBER);
  case JSON_REAL:
    return (types & DK__T_NUMBER) || ((types & DK__T_INTEGER) && is_integer(v));
  case JSON_TRUE:
  case JSON_FALSE:
    return types & DK__T_BOOLEAN;
  default:
    return types & DK__T_NULL;
  }
}

static void type_error(struct vctx *c, const struct dk__node *n, const json_t *v) {
  static const char *const names[] = { "null", "a boolean", "an object", "an array", "a number", "a string", "an integer" };
  struct dk_buf b = {0};
  unsigned left = n->types;
  for (unsigned i = 0; i < 7; i++) {
    if (!(n->types & (1u << i)))
      continue;
    left &= ~(1u << i);
    if (b.len)
      dk_buf_puts(&b, left ? ", " : " or ");
    dk_buf_puts(&b, names[i]);
  }
  error(c, n, "type", "expected %s, found %s", dk_buf_cstr(&b), type_name(v));
  dk_buf_free(&b);
}

static size_t code_points(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}

/* --- the walk ------------------------------------------------------------ */

static int v_node(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t);

/* Validate a child instance (one level deeper). */
static int v_child(struct vctx *c, const struct dk__node *parent, const struct dk__node *n, const json_t *inst,
                   const char *kw, int hint, const char *key, size_t klen) {
  if (c->depth >= c->max_depth)
    return too_deep(c, parent, kw);
  c->depth++;
  c->hint = hint;
  c->hint_key = key;
  c->hint_len = klen;
  int r = v_node(c, n, inst, NULL);
  c->depth--;
  return r;
}

static int v_number(struct vctx *c, const struct dk__node *n, const json_t *inst) {
  int ok = 1;
  struct dk_buf b = {0}, b2 = {0};
  if ((n->kw & DK__K_MULTIPLEOF) && !multiple_of(inst, n->multipleof)) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "multipleOf", "%s is not a multiple of %s", show(&b, inst), show(&b2, n->multipleof));
  }
  if ((n->kw & DK__K_MAXIMUM) && dk__num_cmp(inst, n->maximum) > 0) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "maximum", "%s is greater than the maximum %s", show(&b, inst), show(&b2, n->maximum));
  }
  if ((n->kw & DK__K_EXMAXIMUM) && dk__num_cmp(inst, n->exmax) >= 0) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "exclusiveMaximum", "%s is not less than the exclusive maximum %s", show(&b, inst),
          show(&b2, n->exmax));
  }
  if ((n->kw & DK__K_MINIMUM) && dk__num_cmp(inst, n->minimum) < 0) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "minimum", "%s is less than the minimum %s", show(&b, inst), show(&b2, n->minimum));
  }
  if ((n->kw & DK__K_EXMINIMUM) && dk__num_cmp(inst, n->exmin) <= 0) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "exclusiveMinimum", "%s is not greater than the exclusive minimum %s", show(&b, inst),
          show(&b2, n->exmin));
  }
  dk_buf_free(&b);
  dk_buf_free(&b2);
  return ok;
}

static int v_string(struct vctx *c, const struct dk__node *n, const json_t *inst) {
  const char *s = json_string_value(inst);
  size_t len = json_string_length(inst);
  int ok = 1;
  struct dk_buf b = {0};
  if (n->kw & (DK__K_MINLENGTH | DK__K_MAXLENGTH)) {
    size_t cp = code_points(s, len);
    if ((n->kw & DK__K_MINLENGTH) && cp < n->minlen) {
      ok = 0;
      if (!c->res)
        return 0;
      error(c, n, "minLength", "%s is shorter than %zu character%s", show(&b, inst), n->minlen,
            n->minlen == 1 ? "" : "s");
    }
    if ((n->kw & DK__K_MAXLENGTH) && cp > n->maxlen) {
      ok = 0;
      if (!c->res)
        return 0;
      error(c, n, "maxLength", "%s is longer than %zu character%s", show(&b, inst), n->maxlen,
            n->maxlen == 1 ? "" : "s");
    }
  }
  if (n->kw & DK__K_PATTERN) {
    int r = dk_regex_search(n->pattern, s, len);
    if (r < 0) {
      if (c->res)
        error(c, n, "pattern", "matching pattern %s took too long", n->pattern_src);
      dk_buf_free(&b);
      return DK_ETOOBIG;
    }
    if (!r) {
      ok = 0;
      if (!c->res)
        return 0;
      error(c, n, "pattern", "does not match pattern %s", n->pattern_src);
    }
  }
  if ((n->kw & DK__K_FORMAT) && dk_format_check(n->format, s, len) == 0) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "format", "%s is not a valid %s", show(&b, inst), n->format);
  }
  dk_buf_free(&b);
  return ok;
}

/* A keyword's result: limits abort, failures stop the fast mode only. */
#define CHECK(expr)        \
  do {                     \
    int r_ = (expr);       \
    if (r_ < 0)            \
      return r_;           \
    if (!r_) {             \
      ok = 0;              \
      if (!c->res)         \
        return 0;          \
    }                      \
  } while (0)

/* minItems and maxItems on an array of len items: 1 or 0. */
static inline int v_item_counts(struct vctx *c, const struct dk__node *n, size_t len) {
  int ok = 1;
  if ((n->kw & DK__K_MINITEMS) && len < n->minitems) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "minItems", "has %zu item%s, fewer than the minimum %zu", len, len == 1 ? "" : "s", n->minitems);
  }
  if ((n->kw & DK__K_MAXITEMS) && len > n->maxitems) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "maxItems", "has %zu item%s, more than the maximum %zu", len, len == 1 ? "" : "s", n->maxitems);
  }
  return ok;
}

/* uniqueItems: 1, 0 (the first equal pair reported) or DK_ETOOBIG. */
static int v_unique(struct vctx *c, const struct dk__node *n, const json_t *inst, size_t len) {
  for (size_t i = 1; i < len; i++) {
    for (size_t j = 0; j < i; j++) {
      int r = dk__json_equal(json_array_get(inst, i), json_array_get(inst, j), c->max_depth);
      if (r < 0)
        return too_deep(c, n, "uniqueItems");
      if (r) {
        if (c->res)
          error(c, n, "uniqueItems", "items %zu and %zu are equal", j, i);
        return 0;
      }
    }
  }
  return 1;
}

/* prefixItems (items as an array in 2019-09), marking what it evaluates in
 * t (may be NULL): 1, 0 or a limit's error. */
static inline int v_prefix_items(struct vctx *c, const struct dk__node *n, const json_t *inst, size_t len,
                                 struct track *t) {
  int ok = 1;
  const char *pkw = n->items_array_2019 ? "items" : "prefixItems";
  size_t np = n->nprefix < len ? n->nprefix : len;
  for (size_t i = 0; i < np; i++) {
    size_t ik = path_index(c, &c->kpath, pkw, i), ii = path_index(c, &c->ipath, NULL, i);
    int r = v_child(c, n, n->prefix[i], json_array_get(inst, i), pkw, HINT_ITEM, NULL, i);
    path_pop(c, &c->kpath, ik);
    path_pop(c, &c->ipath, ii);
    CHECK(r);
    if (t)
      t->m[i] = 1;
  }
  return ok;
}

/* items (additionalItems in 2019-09) past the prefix; marks all of t (may
 * be NULL) when done: 1, 0 or a limit's error. */
static inline int v_items(struct vctx *c, const struct dk__node *n, const json_t *inst, size_t len,
                          struct track *t) {
  int ok = 1;
  const char *ikw = n->items_array_2019 ? "additionalItems" : "items";
  size_t ik = path_push(c, &c->kpath, ikw, NULL, 0);
  for (size_t i = n->nprefix; i < len; i++) {
    size_t ii = path_index(c, &c->ipath, NULL, i);
    int r = v_child(c, n, n->items, json_array_get(inst, i), ikw, HINT_ITEM, NULL, i);
    path_pop(c, &c->ipath, ii);
    if (r < 0 || (!r && !c->res))
      path_pop(c, &c->kpath, ik);
    CHECK(r);
  }
  path_pop(c, &c->kpath, ik);
  if (t)
    t->all = 1;
  return ok;
}

/* contains with minContains/maxContains, marking matching items in t (may
 * be NULL): 1, 0 or DK_ETOOBIG. */
static int v_contains(struct vctx *c, const struct dk__node *n, const json_t *inst, size_t len,
                      struct track *t) {
  size_t min = (n->kw & DK__K_MINCONTAINS) ? n->mincontains : 1;
  size_t max = (n->kw & DK__K_MAXCONTAINS) ? n->maxcontains : (size_t)-1;
  size_t found = 0;
  int ok = 1;
  struct dk_vresult *saved = c->res;
  c->res = NULL; /* failures inside contains are not errors */
  for (size_t i = 0; i < len; i++) {
    int r = v_child(c, n, n->contains, json_array_get(inst, i), "contains", HINT_NONE, NULL, 0);
    if (r < 0) {
      c->res = saved;
      return gave_up(c, n, "contains");
    }
    if (r) {
      found++;
      if (t)
        t->m[i] = 1;
      else if (found >= min && max == (size_t)-1)
        break;
      if (found > max && !t)
        break;
    }
  }
  c->res = saved;
  if (found < min) {
    ok = 0;
    if (!c->res)
      return 0;
    if (n->kw & DK__K_MINCONTAINS)
      error(c, n, "minContains", "%zu item%s match%s contains, fewer than the minimum %zu", found,
            found == 1 ? "" : "s", found == 1 ? "es" : "", min);
    else
      error(c, n, "contains", "no item matches the schema in contains");
  }
  if (found > max) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "maxContains", "%zu items match contains, more than the maximum %zu", found, max);
  }
  return ok;
}

/* The array keywords, marking evaluated items in t (may be NULL): 1, 0 or
 * a limit's error. */
static int v_array(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  size_t len = json_array_size(inst);
  int ok = 1;
  if (n->kw & (DK__K_MINITEMS | DK__K_MAXITEMS))
    CHECK(v_item_counts(c, n, len));
  if (n->kw & DK__K_UNIQUE)
    CHECK(v_unique(c, n, inst, len));
  if (n->nprefix)
    CHECK(v_prefix_items(c, n, inst, len, t));
  if (n->items)
    CHECK(v_items(c, n, inst, len, t));
  if (n->contains)
    CHECK(v_contains(c, n, inst, len, t));
  return ok;
}

/* minProperties and maxProperties on an object of size members: 1 or 0. */
static inline int v_prop_counts(struct vctx *c, const struct dk__node *n, size_t size) {
  int ok = 1;
  if ((n->kw & DK__K_MINPROPS) && size < n->minprops) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "minProperties", "has %zu propert%s, fewer than the minimum %zu", size, size == 1 ? "y" : "ies",
          n->minprops);
  }
  if ((n->kw & DK__K_MAXPROPS) && size > n->maxprops) {
    ok = 0;
    if (!c->res)
      return 0;
    error(c, n, "maxProperties", "has %zu propert%s, more than the maximum %zu", size, size == 1 ? "y" : "ies",
          n->maxprops);
  }
  return ok;
}

/* Member k: v against the subschema sub of keyword kw (its location token
 * tok, or none when NULL): what v_child returns. */
static inline int v_member(struct vctx *c, const struct dk__node *n, const struct dk__node *sub, const char *kw,
                           const char *tok, size_t toklen, const char *k, size_t klen, const json_t *v) {
  size_t ik = path_push(c, &c->kpath, kw, tok, toklen);
  size_t ii = path_push(c, &c->ipath, NULL, k, klen);
  int r = v_child(c, n, sub, v, kw, HINT_PROP, k, klen);
  path_pop(c, &c->kpath, ik);
  path_pop(c, &c->ipath, ii);
  return r;
}

/* Member k: v against every patternProperties entry whose pattern matches
 * k; sets *matched when one does: 1, 0 or a limit's error. */
static inline int v_pattern_props(struct vctx *c, const struct dk__node *n, const char *k, size_t klen,
                                  const json_t *v, int *matched) {
  int ok = 1;
  for (size_t j = 0; j < n->npats; j++) {
    int r = dk_regex_search(n->pats[j].re, k, klen);
    if (r < 0) {
      if (c->res)
        error(c, n, "patternProperties", "matching pattern %s took too long", n->pats[j].src);
      return DK_ETOOBIG;
    }
    if (!r)
      continue;
    *matched = 1;
    r = v_member(c, n, n->pats[j].node, "patternProperties", n->pats[j].src, strlen(n->pats[j].src), k, klen, v);
    CHECK(r);
  }
  return ok;
}

/* properties, patternProperties and additionalProperties by a walk over the
 * instance's members, marking those evaluated in t (may be NULL) and
 * counting required properties seen in *required_seen: 1, 0 or a limit's
 * error. */
static inline int v_props_walk(struct vctx *c, const struct dk__node *n, json_t *obj, struct track *t,
                               size_t *required_seen) {
  int ok = 1;
  size_t idx = 0;
  for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it), idx++) {
    const char *k = json_object_iter_key(it);
    size_t klen = json_object_iter_key_len(it);
    json_t *v = json_object_iter_value(it);
    const struct dk__prop *p = n->nprops ? dk__find_prop(n->props, n->nprops, k, klen) : NULL;
    int matched = p != NULL;
    if (p) {
      *required_seen += p->required;
      CHECK(v_member(c, n, p->node, "properties", p->key, p->klen, k, klen, v));
    }
    if (n->npats)
      CHECK(v_pattern_props(c, n, k, klen, v, &matched));
    if (!matched && n->addl) {
      matched = 1;
      CHECK(v_member(c, n, n->addl, "additionalProperties", NULL, 0, k, klen, v));
    }
    if (matched && t)
      t->m[idx] = 1;
  }
  return ok;
}

/* properties alone, by looking each declared property up, counting required
 * properties seen in *required_seen: 1, 0 or a limit's error. */
static inline int v_props_lookup(struct vctx *c, const struct dk__node *n, json_t *obj, size_t *required_seen) {
  int ok = 1;
  for (size_t i = 0; i < n->nprops; i++) {
    const struct dk__prop *p = &n->props[i];
    json_t *v = json_object_getn(obj, p->key, p->klen);
    if (!v)
      continue;
    *required_seen += p->required;
    CHECK(v_member(c, n, p->node, "properties", p->key, p->klen, p->key, p->klen, v));
  }
  return ok;
}

/* required: 1 or 0 (each missing name reported). */
static int v_required(struct vctx *c, const struct dk__node *n, json_t *obj) {
  int ok = 1;
  for (size_t i = 0; i < n->required.n; i++) {
    if (json_object_getn(obj, n->required.s[i], n->required.len[i]))
      continue;
    ok = 0;
    if (!c->res)
      return 0;
    char ex[128];
    error(c, n, "required", "missing required property \"%s\"",
          dk_excerpt(ex, sizeof ex, n->required.s[i], n->required.len[i]));
  }
  return ok;
}

/* dependentRequired (and the array form of dependencies): 1 or 0. */
static int v_dependent_required(struct vctx *c, const struct dk__node *n, json_t *obj) {
  int ok = 1;
  for (size_t d = 0; d < n->ndepreq; d++) {
    const struct dk__strs *dr = &n->depreq[d];
    if (!json_object_getn(obj, dr->key, dr->klen))
      continue;
    for (size_t i = 0; i < dr->n; i++) {
      if (json_object_getn(obj, dr->s[i], dr->len[i]))
        continue;
      ok = 0;
      if (!c->res)
        return 0;
      char ex[128], ex2[128];
      struct dk_buf kw = {0};
      dk_buf_puts(&kw, "dependentRequired");
      dk__ptr_append(&kw, dr->key, dr->klen);
      error(c, n, dk_buf_cstr(&kw), "property \"%s\" is required when \"%s\" is present",
            dk_excerpt(ex, sizeof ex, dr->s[i], dr->len[i]), dk_excerpt(ex2, sizeof ex2, dr->key, dr->klen));
      dk_buf_free(&kw);
    }
  }
  return ok;
}

/* propertyNames, each name as a temporary JSON string (freed here): 1, 0
 * or a limit's error. */
static int v_property_names(struct vctx *c, const struct dk__node *n, json_t *obj) {
  int ok = 1;
  size_t ik = path_push(c, &c->kpath, "propertyNames", NULL, 0);
  const char *k;
  size_t klen;
  json_t *v;
  json_object_keylen_foreach(obj, k, klen, v) {
    json_t *name = json_stringn_nocheck(k, klen);
    int r = v_child(c, n, n->pnames, name, "propertyNames", HINT_NAME, k, klen);
    json_decref(name);
    if (r < 0 || (!r && !c->res))
      path_pop(c, &c->kpath, ik);
    CHECK(r);
  }
  path_pop(c, &c->kpath, ik);
  return ok;
}

/* dependentSchemas (and the schema form of dependencies), in place, marking
 * into t (may be NULL): 1, 0 or a limit's error. */
static int v_dependent_schemas(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  int ok = 1;
  for (size_t i = 0; i < n->ndepsch; i++) {
    const struct dk__prop *p = &n->depsch[i];
    if (!json_object_getn(inst, p->key, p->klen))
      continue;
    size_t ik = path_push(c, &c->kpath, "dependentSchemas", p->key, p->klen);
    int r = v_node(c, p->node, inst, t);
    path_pop(c, &c->kpath, ik);
    CHECK(r);
  }
  return ok;
}

/* The object keywords, marking evaluated members in t (may be NULL): 1, 0
 * or a limit's error. */
static int v_object(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  json_t *obj = (json_t *)inst; /* jansson's iterators take no const */
  int ok = 1;
  size_t size = json_object_size(obj);
  if (n->kw & (DK__K_MINPROPS | DK__K_MAXPROPS))
    CHECK(v_prop_counts(c, n, size));
  /* Walk the instance's keys when something needs them, or when that is
   * cheaper than looking up every declared property. */
  size_t required_seen = 0;
  if (n->npats || n->addl || t || (n->nprops && size < n->nprops))
    CHECK(v_props_walk(c, n, obj, t, &required_seen));
  else if (n->nprops)
    CHECK(v_props_lookup(c, n, obj, &required_seen));
  if ((n->kw & DK__K_REQUIRED) && !(n->req_in_props && required_seen == n->required.n))
    CHECK(v_required(c, n, obj));
  if (n->kw & DK__K_DEPREQ)
    CHECK(v_dependent_required(c, n, obj));
  if (n->pnames)
    CHECK(v_property_names(c, n, obj));
  if (n->ndepsch)
    CHECK(v_dependent_schemas(c, n, inst, t));
  return ok;
}

static void false_error(struct vctx *c, const struct dk__node *n, int hint, const char *key, size_t klen) {
  char ex[128];
  if (hint == HINT_PROP)
    error(c, n, NULL, "property \"%s\" is not allowed", dk_excerpt(ex, sizeof ex, key, klen));
  else if (hint == HINT_ITEM)
    error(c, n, NULL, "item %zu is not allowed", klen);
  else if (hint == HINT_NAME)
    error(c, n, NULL, "property name \"%s\" is not allowed", dk_excerpt(ex, sizeof ex, key, klen));
  else
    error(c, n, NULL, "no value is allowed here");
}

/* An in-place subschema whose failure does not fail this schema by itself:
 * gets its own marks, merged into t only when it passes. */
static int v_branch(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  if (!t)
    return v_node(c, n, inst, NULL);
  unsigned char buf[TRACK_BUF];
  struct track ct;
  track_init(&ct, buf, t->n);
  int r = v_node(c, n, inst, &ct);
  if (r == 1)
    track_merge(t, &ct);
  track_done(&ct);
  return r;
}

/* $ref or $dynamicRef (kw) to target, in place, marking into t (may be
 * NULL): what v_node returns, or DK_ETOOBIG past the reference limit. */
static inline int v_ref(struct vctx *c, const struct dk__node *n, const struct dk__node *target, const char *kw,
                        const json_t *inst, struct track *t) {
  if (c->refs >= c->max_depth)
    return too_deep(c, n, kw);
  size_t ik = path_push(c, &c->kpath, kw, NULL, 0);
  c->refs++;
  int r = v_node(c, target, inst, t);
  c->refs--;
  path_pop(c, &c->kpath, ik);
  return r;
}

/* $dynamicRef's target: the outermost resource in scope with its anchor,
 * else the static one (borrowed from the compiled schema). */
static inline const struct dk__node *dynref_target(const struct vctx *c, const struct dk__node *n) {
  const struct dk__node *target = n->dynref;
  if (n->dyn_name) {
    for (const struct scope *s = c->scope; s; s = s->up)
      for (size_t i = 0; i < s->cres->ndyn; i++)
        if (strcmp(s->cres->dyn_names[i], n->dyn_name) == 0)
          target = s->cres->dyn_nodes[i];
  }
  return target;
}

/* allOf, in place, marking into t (may be NULL): 1, 0 or a limit's error. */
static inline int v_allof(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  int ok = 1;
  for (size_t i = 0; i < n->nallof; i++) {
    size_t ik = path_index(c, &c->kpath, "allOf", i);
    int r = v_node(c, n->allof[i], inst, t);
    path_pop(c, &c->kpath, ik);
    CHECK(r);
  }
  return ok;
}

/* anyOf, merging the marks of passing branches into t (may be NULL); the
 * branches' errors are dropped when one passes: 1, 0 or a limit's error. */
static int v_anyof(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  size_t mark = c->res ? c->res->nerrors : 0;
  int any = 0;
  for (size_t i = 0; i < n->nanyof; i++) {
    size_t ik = path_index(c, &c->kpath, "anyOf", i);
    int r = v_branch(c, n->anyof[i], inst, t);
    path_pop(c, &c->kpath, ik);
    if (r < 0)
      return r;
    if (r) {
      any = 1;
      if (!t)
        break;
    }
  }
  if (c->res && any)
    truncate_errors(c, mark);
  if (!any && c->res)
    error(c, n, "anyOf", "does not match any of the schemas in anyOf");
  return any;
}

/* oneOf, merging the marks of passing branches into t (may be NULL); the
 * branches' errors are dropped when one passes: 1, 0 or a limit's error. */
static int v_oneof(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  size_t mark = c->res ? c->res->nerrors : 0;
  size_t matches = 0, first = 0, second = 0;
  for (size_t i = 0; i < n->noneof; i++) {
    size_t ik = path_index(c, &c->kpath, "oneOf", i);
    int r = v_branch(c, n->oneof[i], inst, t);
    path_pop(c, &c->kpath, ik);
    if (r < 0)
      return r;
    if (r) {
      if (matches++)
        second = i;
      else
        first = i;
      if (matches > 1 && !t && !c->res)
        break;
    }
  }
  if (c->res && matches)
    truncate_errors(c, mark);
  if (matches == 1)
    return 1;
  if (c->res) {
    if (matches)
      error(c, n, "oneOf", "matches more than one of the schemas in oneOf (%zu and %zu)", first, second);
    else
      error(c, n, "oneOf", "does not match any of the schemas in oneOf");
  }
  return 0;
}

/* not, evaluated without collecting errors: 1, 0 or DK_ETOOBIG. */
static int v_not(struct vctx *c, const struct dk__node *n, const json_t *inst) {
  struct dk_vresult *saved = c->res;
  c->res = NULL;
  int r = v_node(c, n->not_, inst, NULL);
  c->res = saved;
  if (r < 0)
    return gave_up(c, n, "not");
  if (!r)
    return 1;
  if (c->res)
    error(c, n, "not", "must not match the schema in not");
  return 0;
}

/* if, evaluated without collecting errors, then then or else, marking into
 * t (may be NULL): 1, 0 or a limit's error. */
static int v_if(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  struct dk_vresult *saved = c->res;
  c->res = NULL;
  int r = v_branch(c, n->if_, inst, t);
  c->res = saved;
  if (r < 0)
    return gave_up(c, n, "if");
  const struct dk__node *next = r ? n->then_ : n->else_;
  if (!next)
    return 1;
  size_t ik = path_push(c, &c->kpath, r ? "then" : "else", NULL, 0);
  r = v_node(c, next, inst, t);
  path_pop(c, &c->kpath, ik);
  return r;
}

/* The in-place applicators, marking into t (may be NULL): 1, 0 or a
 * limit's error. */
static int v_applicators(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  int ok = 1;
  if (n->ref)
    CHECK(v_ref(c, n, n->ref, "$ref", inst, t));
  if (n->dynref)
    CHECK(v_ref(c, n, dynref_target(c, n), "$dynamicRef", inst, t));
  if (n->nallof)
    CHECK(v_allof(c, n, inst, t));
  if (n->nanyof)
    CHECK(v_anyof(c, n, inst, t));
  if (n->noneof)
    CHECK(v_oneof(c, n, inst, t));
  if (n->not_)
    CHECK(v_not(c, n, inst));
  if (n->if_)
    CHECK(v_if(c, n, inst, t));
  return ok;
}

/* const: 1, 0 or DK_ETOOBIG. */
static int v_const(struct vctx *c, const struct dk__node *n, const json_t *inst) {
  int r = dk__json_equal(inst, n->const_, c->max_depth);
  if (r < 0)
    return too_deep(c, n, "const");
  if (!r && c->res) {
    struct dk_buf b = {0}, b2 = {0};
    error(c, n, "const", "%s is not the constant %s", show(&b, inst), show(&b2, n->const_));
    dk_buf_free(&b);
    dk_buf_free(&b2);
  }
  return r;
}

/* enum: 1, 0 or DK_ETOOBIG. */
static int v_enum(struct vctx *c, const struct dk__node *n, const json_t *inst) {
  size_t i, cnt = json_array_size(n->enum_);
  for (i = 0; i < cnt; i++) {
    int r = dk__json_equal(inst, json_array_get(n->enum_, i), c->max_depth);
    if (r < 0)
      return too_deep(c, n, "enum");
    if (r)
      return 1;
  }
  if (!c->res)
    return 0;
  struct dk_buf b = {0};
  show(&b, inst);
  dk_buf_puts(&b, " is not one of ");
  for (i = 0; i < cnt && b.len < 400; i++) {
    if (i)
      dk_buf_puts(&b, ", ");
    dk__describe(&b, json_array_get(n->enum_, i), 60, 1);
  }
  if (i < cnt)
    dk_buf_puts(&b, ", ...");
  error(c, n, "enum", "%s", dk_buf_cstr(&b));
  dk_buf_free(&b);
  return 0;
}

/* The keywords of the instance's own type: 1, 0 or a limit's error. */
static inline int v_typed(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  switch (json_typeof(inst)) {
  case JSON_INTEGER:
  case JSON_REAL:
    return (n->kw & DK__K_NUMERIC) ? v_number(c, n, inst) : 1;
  case JSON_STRING:
    return (n->kw & DK__K_STRING) ? v_string(c, n, inst) : 1;
  case JSON_ARRAY:
    return v_array(c, n, inst, t);
  case JSON_OBJECT:
    return v_object(c, n, inst, t);
  default:
    return 1;
  }
}

/* unevaluatedItems over the items t does not mark, then marks them all
 * unless it stopped early: 1, 0 or a limit's error. */
static int v_unevaluated_items(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  int ok = 1;
  size_t len = json_array_size(inst);
  size_t ik = path_push(c, &c->kpath, "unevaluatedItems", NULL, 0);
  for (size_t i = 0; i < len && !t->all; i++) {
    if (t->m[i])
      continue;
    size_t ii = path_index(c, &c->ipath, NULL, i);
    int r = v_child(c, n, n->uitems, json_array_get(inst, i), "unevaluatedItems", HINT_ITEM, NULL, i);
    path_pop(c, &c->ipath, ii);
    if (r <= 0) {
      ok = r;
      if (r < 0 || !c->res)
        break;
    }
  }
  path_pop(c, &c->kpath, ik);
  if (ok < 0 || (!ok && !c->res))
    return ok;
  t->all = 1;
  return ok;
}

/* unevaluatedProperties over the members t does not mark, then marks them
 * all unless it stopped early: 1, 0 or a limit's error. */
static int v_unevaluated_props(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  int ok = 1;
  json_t *obj = (json_t *)inst; /* jansson's iterators take no const */
  size_t ik = path_push(c, &c->kpath, "unevaluatedProperties", NULL, 0), idx = 0;
  for (void *it = json_object_iter(obj); it && !t->all; it = json_object_iter_next(obj, it), idx++) {
    if (t->m[idx])
      continue;
    const char *k = json_object_iter_key(it);
    size_t klen = json_object_iter_key_len(it);
    size_t ii = path_push(c, &c->ipath, NULL, k, klen);
    int r = v_child(c, n, n->uprops, json_object_iter_value(it), "unevaluatedProperties", HINT_PROP, k, klen);
    path_pop(c, &c->ipath, ii);
    if (r <= 0) {
      ok = r;
      if (r < 0 || !c->res)
        break;
    }
  }
  path_pop(c, &c->kpath, ik);
  if (ok < 0 || (!ok && !c->res))
    return ok;
  t->all = 1;
  return ok;
}

/* A keyword group's result in v_node: limits abort, failures stop the fast
 * mode only (then to done). */
#define NODE_CHECK(expr)           \
  do {                             \
    int r_ = (expr);               \
    if (r_ <= 0) {                 \
      ok = r_;                     \
      if (r_ < 0 || !c->res)       \
        goto done;                 \
    }                              \
  } while (0)

/* Validate inst against n, marking what is evaluated into t (may be NULL;
 * unused for scalars): 1, 0 or a limit's error. */
static int v_node(struct vctx *c, const struct dk__node *n, const json_t *inst, struct track *t) {
  int hint = c->hint;
  c->hint = HINT_NONE;
  if (n->boolean) {
    if (n->boolean == 1)
      return 1;
    if (c->res)
      false_error(c, n, hint, c->hint_key, c->hint_len);
    return 0;
  }
  const struct scope *saved_scope = c->scope;
  struct scope sc;
  if (!c->scope || c->scope->cres != n->cres) {
    sc.cres = n->cres;
    sc.up = c->scope;
    c->scope = &sc;
  }
  int ok = 1;
  int container = json_is_object(inst) || json_is_array(inst);
  struct track lt, *tt = container ? t : NULL;
  unsigned char buf[TRACK_BUF];
  if (n->track && container) {
    track_init(&lt, buf, json_is_object(inst) ? json_object_size(inst) : json_array_size(inst));
    tt = &lt;
  }
  if ((n->kw & DK__K_TYPE) && !type_ok(n->types, inst)) {
    ok = 0;
    if (!c->res)
      goto done;
    type_error(c, n, inst);
  }
  if (n->kw & DK__K_CONST)
    NODE_CHECK(v_const(c, n, inst));
  if (n->kw & DK__K_ENUM)
    NODE_CHECK(v_enum(c, n, inst));
  NODE_CHECK(v_typed(c, n, inst, tt));
  NODE_CHECK(v_applicators(c, n, inst, tt));
  if (n->uitems && json_is_array(inst))
    NODE_CHECK(v_unevaluated_items(c, n, inst, tt));
  if (n->uprops && json_is_object(inst))
    NODE_CHECK(v_unevaluated_props(c, n, inst, tt));
done:
  if (tt == &lt) {
    if (ok == 1 && t)
      track_merge(t, &lt);
    track_done(&lt);
  }
  c->scope = saved_scope;
  return ok;
}

#undef NODE_CHECK

/* Validate instance; see jsonschema.h for the modes and results. */
int dk_schema_validate(const struct dk_schema *schema, const json_t *instance, struct dk_vresult *res) {
  struct vctx c = { .res = NULL, .max_depth = schema->max_depth };
  if (res) {
    res->errors = NULL;
    res->nerrors = 0;
  }
  if (!instance)
    return DK_EINVAL;
  /* Most instances are valid: find out without building any strings, and
   * walk again collecting errors only when there are some. */
  int r = v_node(&c, schema->root, instance, NULL);
  if (r == 1 || !res)
    return r;
  c.depth = c.refs = 0;
  c.scope = NULL;
  c.res = res;
  r = v_node(&c, schema->root, instance, NULL);
  if (res && r != 1 && res->nerrors == 0)
    error(&c, schema->root, NULL, "%s", r < 0 ? dk_strerror(r) : "invalid");
  dk_buf_free(&c.ipath);
  dk_buf_free(&c.kpath);
  return r;
}

/* Validation against a compiled schema. Two modes share one walk: with no
 * result requested it stops at the first failure and builds no strings;
 * otherwise it collects every failing leaf with its locations.
 *
 * unevaluatedItems/unevaluatedProperties need to know which items or
 * properties the adjacent keywords evaluated. That is tracked with a mark
 * per item (or per property, in the object's iteration order), and only
 * below a schema that has one of those keywords.
 *
 * Here: the walk (v_node), the type, const, enum, number and string
 * keywords, the applicators and unevaluated*; the array and object
 * keywords are in validate_container.c, error records in validate_error.c,
 * the state they share in validate.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

struct dk__vscope {
  const struct dk__cres *cres;
  const struct dk__vscope *up;
};

#define TRACK_BUF 64

static void track_init(struct dk__track *t, unsigned char *buf, size_t n) {
  t->n = n;
  t->all = 0;
  t->heap = n > TRACK_BUF;
  t->m = t->heap ? dk_calloc(n, 1) : buf;
  if (!t->heap)
    memset(buf, 0, n);
}

static void track_merge(struct dk__track *dst, const struct dk__track *src) {
  if (src->all)
    dst->all = 1;
  else if (!dst->all)
    for (size_t i = 0; i < dst->n; i++)
      dst->m[i] |= src->m[i];
}

static void track_done(struct dk__track *t) {
  if (t->heap)
    free(t->m);
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

static size_t code_points(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}

/* --- the walk ------------------------------------------------------------ */

static int v_node(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t);

/* For validate_container.c (see internal.h); v_node stays static here. */
int dk__v_node(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
  return v_node(c, n, inst, t);
}

static int v_number(struct dk__vctx *c, const struct dk__node *n, const json_t *inst) {
  int ok = 1;
  struct dk_buf b = {0}, b2 = {0};
  if ((n->kw & DK__K_MULTIPLEOF) && !multiple_of(inst, n->multipleof)) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "multipleOf", "%s is not a multiple of %s", dk__v_show(&b, inst), dk__v_show(&b2, n->multipleof));
  }
  if ((n->kw & DK__K_MAXIMUM) && dk__num_cmp(inst, n->maximum) > 0) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "maximum", "%s is greater than the maximum %s", dk__v_show(&b, inst), dk__v_show(&b2, n->maximum));
  }
  if ((n->kw & DK__K_EXMAXIMUM) && dk__num_cmp(inst, n->exmax) >= 0) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "exclusiveMaximum", "%s is not less than the exclusive maximum %s", dk__v_show(&b, inst),
          dk__v_show(&b2, n->exmax));
  }
  if ((n->kw & DK__K_MINIMUM) && dk__num_cmp(inst, n->minimum) < 0) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "minimum", "%s is less than the minimum %s", dk__v_show(&b, inst), dk__v_show(&b2, n->minimum));
  }
  if ((n->kw & DK__K_EXMINIMUM) && dk__num_cmp(inst, n->exmin) <= 0) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "exclusiveMinimum", "%s is not greater than the exclusive minimum %s", dk__v_show(&b, inst),
          dk__v_show(&b2, n->exmin));
  }
  dk_buf_free(&b);
  dk_buf_free(&b2);
  return ok;
}

static int v_string(struct dk__vctx *c, const struct dk__node *n, const json_t *inst) {
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
      dk__v_error(c, n, "minLength", "%s is shorter than %zu character%s", dk__v_show(&b, inst), n->minlen,
            n->minlen == 1 ? "" : "s");
    }
    if ((n->kw & DK__K_MAXLENGTH) && cp > n->maxlen) {
      ok = 0;
      if (!c->res)
        return 0;
      dk__v_error(c, n, "maxLength", "%s is longer than %zu character%s", dk__v_show(&b, inst), n->maxlen,
            n->maxlen == 1 ? "" : "s");
    }
  }
  if (n->kw & DK__K_PATTERN) {
    int r = dk_regex_search(n->pattern, s, len);
    if (r < 0) {
      if (c->res)
        dk__v_error(c, n, "pattern", "matching pattern %s took too long", n->pattern_src);
      dk_buf_free(&b);
      return DK_ETOOBIG;
    }
    if (!r) {
      ok = 0;
      if (!c->res)
        return 0;
      dk__v_error(c, n, "pattern", "does not match pattern %s", n->pattern_src);
    }
  }
  if ((n->kw & DK__K_FORMAT) && dk_format_check(n->format, s, len) == 0) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "format", "%s is not a valid %s", dk__v_show(&b, inst), n->format);
  }
  dk_buf_free(&b);
  return ok;
}

/* An in-place subschema whose failure does not fail this schema by itself:
 * gets its own marks, merged into t only when it passes. */
static int v_branch(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
  if (!t)
    return v_node(c, n, inst, NULL);
  unsigned char buf[TRACK_BUF];
  struct dk__track ct;
  track_init(&ct, buf, t->n);
  int r = v_node(c, n, inst, &ct);
  if (r == 1)
    track_merge(t, &ct);
  track_done(&ct);
  return r;
}

/* $ref or $dynamicRef (kw) to target, in place, marking into t (may be
 * NULL): what v_node returns, or DK_ETOOBIG past the reference limit. */
static inline int v_ref(struct dk__vctx *c, const struct dk__node *n, const struct dk__node *target, const char *kw,
                        const json_t *inst, struct dk__track *t) {
  if (c->refs >= c->max_depth)
    return dk__v_too_deep(c, n, kw);
  size_t ik = path_push(c, &c->kpath, kw, NULL, 0);
  c->refs++;
  int r = v_node(c, target, inst, t);
  c->refs--;
  path_pop(c, &c->kpath, ik);
  return r;
}

/* $dynamicRef's target: the outermost resource in scope with its anchor,
 * else the static one (borrowed from the compiled schema). */
static inline const struct dk__node *dynref_target(const struct dk__vctx *c, const struct dk__node *n) {
  const struct dk__node *target = n->dynref;
  if (n->dyn_name) {
    for (const struct dk__vscope *s = c->scope; s; s = s->up)
      for (size_t i = 0; i < s->cres->ndyn; i++)
        if (strcmp(s->cres->dyn_names[i], n->dyn_name) == 0)
          target = s->cres->dyn_nodes[i];
  }
  return target;
}

/* allOf, in place, marking into t (may be NULL): 1, 0 or a limit's error. */
static inline int v_allof(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
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
static int v_anyof(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
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
    dk__v_truncate_errors(c, mark);
  if (!any && c->res)
    dk__v_error(c, n, "anyOf", "does not match any of the schemas in anyOf");
  return any;
}

/* oneOf, merging the marks of passing branches into t (may be NULL); the
 * branches' errors are dropped when one passes: 1, 0 or a limit's error. */
static int v_oneof(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
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
    dk__v_truncate_errors(c, mark);
  if (matches == 1)
    return 1;
  if (c->res) {
    if (matches)
      dk__v_error(c, n, "oneOf", "matches more than one of the schemas in oneOf (%zu and %zu)", first, second);
    else
      dk__v_error(c, n, "oneOf", "does not match any of the schemas in oneOf");
  }
  return 0;
}

/* not, evaluated without collecting errors: 1, 0 or DK_ETOOBIG. */
static int v_not(struct dk__vctx *c, const struct dk__node *n, const json_t *inst) {
  struct dk_vresult *saved = c->res;
  c->res = NULL;
  int r = v_node(c, n->not_, inst, NULL);
  c->res = saved;
  if (r < 0)
    return dk__v_gave_up(c, n, "not");
  if (!r)
    return 1;
  if (c->res)
    dk__v_error(c, n, "not", "must not match the schema in not");
  return 0;
}

/* if, evaluated without collecting errors, then then or else, marking into
 * t (may be NULL): 1, 0 or a limit's error. */
static int v_if(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
  struct dk_vresult *saved = c->res;
  c->res = NULL;
  int r = v_branch(c, n->if_, inst, t);
  c->res = saved;
  if (r < 0)
    return dk__v_gave_up(c, n, "if");
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
static int v_applicators(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
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
static int v_const(struct dk__vctx *c, const struct dk__node *n, const json_t *inst) {
  int r = dk__json_equal(inst, n->const_, c->max_depth);
  if (r < 0)
    return dk__v_too_deep(c, n, "const");
  if (!r && c->res) {
    struct dk_buf b = {0}, b2 = {0};
    dk__v_error(c, n, "const", "%s is not the constant %s", dk__v_show(&b, inst), dk__v_show(&b2, n->const_));
    dk_buf_free(&b);
    dk_buf_free(&b2);
  }
  return r;
}

/* enum: 1, 0 or DK_ETOOBIG. */
static int v_enum(struct dk__vctx *c, const struct dk__node *n, const json_t *inst) {
  size_t i, cnt = json_array_size(n->enum_);
  for (i = 0; i < cnt; i++) {
    int r = dk__json_equal(inst, json_array_get(n->enum_, i), c->max_depth);
    if (r < 0)
      return dk__v_too_deep(c, n, "enum");
    if (r)
      return 1;
  }
  if (!c->res)
    return 0;
  struct dk_buf b = {0};
  dk__v_show(&b, inst);
  dk_buf_puts(&b, " is not one of ");
  for (i = 0; i < cnt && b.len < 400; i++) {
    if (i)
      dk_buf_puts(&b, ", ");
    dk__describe(&b, json_array_get(n->enum_, i), 60, 1);
  }
  if (i < cnt)
    dk_buf_puts(&b, ", ...");
  dk__v_error(c, n, "enum", "%s", dk_buf_cstr(&b));
  dk_buf_free(&b);
  return 0;
}

/* Whether n has a keyword for arrays or for objects (without one,
 * validate_container.c would find nothing to check or mark). */
static inline int has_array_keywords(const struct dk__node *n) {
  return (n->kw & (DK__K_MINITEMS | DK__K_MAXITEMS | DK__K_UNIQUE)) || n->nprefix || n->items || n->contains;
}

static inline int has_object_keywords(const struct dk__node *n) {
  return (n->kw & (DK__K_MINPROPS | DK__K_MAXPROPS | DK__K_REQUIRED | DK__K_DEPREQ)) || n->nprops || n->npats ||
         n->addl || n->pnames || n->ndepsch;
}

/* The keywords of the instance's own type: 1, 0 or a limit's error. */
static inline int v_typed(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
  switch (json_typeof(inst)) {
  case JSON_INTEGER:
  case JSON_REAL:
    return (n->kw & DK__K_NUMERIC) ? v_number(c, n, inst) : 1;
  case JSON_STRING:
    return (n->kw & DK__K_STRING) ? v_string(c, n, inst) : 1;
  case JSON_ARRAY:
    return has_array_keywords(n) ? dk__v_array(c, n, inst, t) : 1;
  case JSON_OBJECT:
    return has_object_keywords(n) ? dk__v_object(c, n, inst, t) : 1;
  default:
    return 1;
  }
}

/* unevaluatedItems over the items t does not mark, then marks them all
 * unless it stopped early: 1, 0 or a limit's error. */
static int v_unevaluated_items(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
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
static int v_unevaluated_props(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
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
static int v_node(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
  int hint = c->hint;
  c->hint = HINT_NONE;
  if (n->boolean) {
    if (n->boolean == 1)
      return 1;
    if (c->res)
      dk__v_false_error(c, n, hint, c->hint_key, c->hint_len);
    return 0;
  }
  const struct dk__vscope *saved_scope = c->scope;
  struct dk__vscope sc;
  if (!c->scope || c->scope->cres != n->cres) {
    sc.cres = n->cres;
    sc.up = c->scope;
    c->scope = &sc;
  }
  int ok = 1;
  int container = json_is_object(inst) || json_is_array(inst);
  struct dk__track lt, *tt = container ? t : NULL;
  unsigned char buf[TRACK_BUF];
  if (n->track && container) {
    track_init(&lt, buf, json_is_object(inst) ? json_object_size(inst) : json_array_size(inst));
    tt = &lt;
  }
  if ((n->kw & DK__K_TYPE) && !type_ok(n->types, inst)) {
    ok = 0;
    if (!c->res)
      goto done;
    dk__v_type_error(c, n, inst);
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
  struct dk__vctx c = { .res = NULL, .max_depth = schema->max_depth };
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
    dk__v_error(&c, schema->root, NULL, "%s", r < 0 ? dk_strerror(r) : "invalid");
  dk_buf_free(&c.ipath);
  dk_buf_free(&c.kpath);
  return r;
}

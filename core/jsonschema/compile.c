/* Compiling a schema: every subschema becomes a struct dk__node, every $ref
 * is resolved to its node ahead of time. Nodes are made from a work queue
 * (not by recursion through references), so reference cycles simply point
 * back at nodes already made. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../util.h"

struct pending {
  struct dk__node *node;
  json_t *json;
  struct dk__resource *res;
  char *ptr;
};

struct cctx {
  struct dk_registry *reg;
  struct dk__index ov;
  struct dk_schema *out;
  struct dk__map nodes;   /* json_t* -> node */
  struct dk__map cres;    /* resource* -> cres */
  struct pending *q;
  size_t nq, qhead;
  int assert_formats;
  char *err;
};

static int fail_at(struct cctx *c, const struct dk__node *n, const char *kw, const char *fmt, const char *arg) {
  char what[256];
  snprintf(what, sizeof what, fmt, arg);
  return dk_failf(c->err, DK_ESCHEMA, "%s at %s/%s", what, n->abs, kw);
}

static unsigned vocab_bit(const char *v, int *known) {
  static const struct { const char *name; unsigned bit; } tab[] = {
    { "core", 0 }, { "applicator", DK__V_APPLICATOR }, { "unevaluated", DK__V_UNEVALUATED },
    { "validation", DK__V_VALIDATION }, { "meta-data", 0 }, { "format-annotation", 0 },
    { "format-assertion", DK__V_FORMAT_ASSERT }, { "content", 0 }, { "format", 0 },
  };
  static const char *const prefixes[] = {
    "https://json-schema.org/draft/2020-12/vocab/", "https://json-schema.org/draft/2019-09/vocab/",
  };
  for (size_t p = 0; p < 2; p++) {
    size_t pl = strlen(prefixes[p]);
    if (strncmp(v, prefixes[p], pl) != 0)
      continue;
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
      if (strcmp(v + pl, tab[i].name) == 0) {
        *known = 1;
        return tab[i].bit | (p ? DK__V_2019 : 0);
      }
  }
  *known = 0;
  return 0;
}

/* The vocabularies a metaschema enables. */
static int vocab_of(struct cctx *c, const char *meta, unsigned *out) {
  char *m = dk__uri_strip_fragment(meta, NULL);
  int r = 0;
  if (strcmp(m, DK__META_2020) == 0) {
    *out = DK__V_ALL;
  } else if (strcmp(m, DK__META_2019) == 0) {
    *out = DK__V_ALL | DK__V_2019;
  } else {
    struct dk__resource *res = dk__lookup(c->reg, &c->ov, m);
    json_t *voc = res ? json_object_get(res->schema, "$vocabulary") : NULL;
    if (!res) {
      r = dk_failf(c->err, DK_ESCHEMA, "unknown metaschema %s", m);
    } else if (!json_is_object(voc)) {
      *out = DK__V_ALL;
    } else {
      const char *k;
      json_t *v;
      *out = 0;
      json_object_foreach(voc, k, v) {
        int known;
        unsigned bit = vocab_bit(k, &known);
        if (known)
          *out |= bit;
        else if (json_is_true(v)) {
          r = dk_failf(c->err, DK_ESCHEMA, "the metaschema %s requires the unknown vocabulary %s", m, k);
          break;
        }
      }
    }
  }
  free(m);
  return r;
}

static struct dk__node *get_node(struct cctx *c, json_t *json, struct dk__resource *res, const char *ptr);

static struct dk__cres *get_cres(struct cctx *c, struct dk__resource *res) {
  struct dk__cres *cr = dk__map_get(&c->cres, DK__PTRKEY(res));
  if (cr)
    return cr;
  cr = dk_calloc(1, sizeof *cr);
  cr->uri = dk_strdup(res->uri);
  dk__map_put(&c->cres, DK__PTRKEY(res), cr);
  c->out->cres = dk_realloc(c->out->cres, (c->out->ncres + 1) * sizeof *c->out->cres);
  c->out->cres[c->out->ncres++] = cr;
  if (vocab_of(c, res->metaschema, &cr->vocab) != 0)
    return NULL;
  if (cr->vocab & DK__V_2019)
    return cr;
  cr->dyn_names = dk_calloc(res->dyn.n + 1, sizeof *cr->dyn_names);
  cr->dyn_nodes = dk_calloc(res->dyn.n + 1, sizeof *cr->dyn_nodes);
  for (size_t i = 0; i < res->dyn.cap; i++) {
    struct dk__map_ent *e = &res->dyn.ents[i];
    if (!e->key)
      continue;
    struct dk__loc *l = dk__loc_of(c->reg, &c->ov, e->val);
    struct dk__node *n = get_node(c, e->val, l ? l->res : res, l ? l->ptr : "");
    if (!n)
      return NULL;
    cr->dyn_names[cr->ndyn] = dk_strndup(e->key, e->klen);
    cr->dyn_nodes[cr->ndyn++] = n;
  }
  return cr;
}

/* The node for a schema at a location; made (and queued) when new. */
static struct dk__node *get_node(struct cctx *c, json_t *json, struct dk__resource *res, const char *ptr) {
  if (json_is_object(json)) {
    struct dk__node *n = dk__map_get(&c->nodes, DK__PTRKEY(json));
    if (n)
      return n;
    struct dk__loc *l = dk__loc_of(c->reg, &c->ov, json);
    if (l) {
      res = l->res;
      ptr = l->ptr;
    }
  } else if (!json_is_boolean(json)) {
    dk_failf(c->err, DK_ESCHEMA, "the schema at %s#%s is neither an object nor a boolean", res->uri, ptr);
    return NULL;
  }
  struct dk__node *n = dk_calloc(1, sizeof *n);
  struct dk_buf abs = {0};
  dk_buf_puts(&abs, res->uri);
  dk_buf_puts(&abs, "#");
  dk__frag_append(&abs, ptr, strlen(ptr));
  dk_buf_cstr(&abs);
  n->abs = dk_buf_steal(&abs);
  c->out->nodes = dk_realloc(c->out->nodes, (c->out->nnodes + 1) * sizeof *c->out->nodes);
  c->out->nodes[c->out->nnodes++] = n;
  if (json_is_boolean(json)) {
    n->boolean = json_is_true(json) ? 1 : 2;
  } else {
    dk__map_put(&c->nodes, DK__PTRKEY(json), n);
    c->q = dk_realloc(c->q, (c->nq + 1) * sizeof *c->q);
    c->q[c->nq++] = (struct pending){ n, json, res, dk_strdup(ptr) };
  }
  n->cres = get_cres(c, res);
  return n->cres ? n : NULL;
}

static struct dk__node *child(struct cctx *c, const struct pending *p, json_t *json, const char *t1,
                              const char *t2, size_t n2) {
  struct dk_buf ptr = {0};
  dk_buf_puts(&ptr, p->ptr);
  dk__ptr_append(&ptr, t1, strlen(t1));
  if (t2)
    dk__ptr_append(&ptr, t2, n2);
  struct dk__node *n = get_node(c, json, p->res, dk_buf_cstr(&ptr));
  dk_buf_free(&ptr);
  return n;
}

static int child_array(struct cctx *c, const struct pending *p, json_t *arr, const char *kw,
                       struct dk__node ***out, size_t *nout) {
  if (!json_is_array(arr) || json_array_size(arr) == 0)
    return fail_at(c, p->node, kw, "%s must be a non-empty array of schemas", kw);
  *nout = json_array_size(arr);
  *out = dk_calloc(*nout, sizeof **out);
  for (size_t i = 0; i < *nout; i++) {
    char idx[32];
    int l = snprintf(idx, sizeof idx, "%zu", i);
    if (!((*out)[i] = child(c, p, json_array_get(arr, i), kw, idx, (size_t)l)))
      return DK_ESCHEMA;
  }
  return 0;
}

static int prop_cmp(const void *a, const void *b) {
  const struct dk__prop *x = a, *y = b;
  if (x->klen != y->klen)
    return x->klen < y->klen ? -1 : 1;
  return memcmp(x->key, y->key, x->klen);
}

static int child_map(struct cctx *c, const struct pending *p, json_t *obj, const char *kw,
                     struct dk__prop **out, size_t *nout) {
  if (!json_is_object(obj))
    return fail_at(c, p->node, kw, "%s must be an object of schemas", kw);
  *out = dk_calloc(json_object_size(obj) + 1, sizeof **out);
  *nout = 0;
  const char *k;
  size_t klen;
  json_t *v;
  json_object_keylen_foreach(obj, k, klen, v) {
    struct dk__prop *pr = &(*out)[(*nout)++];
    pr->key = k;
    pr->klen = klen;
    if (!(pr->node = child(c, p, v, kw, k, klen)))
      return DK_ESCHEMA;
  }
  qsort(*out, *nout, sizeof **out, prop_cmp);
  return 0;
}

static int nonneg(const json_t *v, size_t *out) {
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (size_t)json_integer_value(v);
    return 1;
  }
  double d = json_real_value(v);
  if (!json_is_real(v) || !(d >= 0) || d != floor(d))
    return 0;
  *out = d >= 1e18 ? (size_t)-1 : (size_t)d;
  return 1;
}

static int strings(const json_t *arr, struct dk__strs *out) {
  if (!json_is_array(arr))
    return 0;
  out->n = json_array_size(arr);
  out->s = dk_calloc(out->n + 1, sizeof *out->s);
  out->len = dk_calloc(out->n + 1, sizeof *out->len);
  for (size_t i = 0; i < out->n; i++) {
    json_t *s = json_array_get(arr, i);
    if (!json_is_string(s))
      return 0;
    out->s[i] = json_string_value(s);
    out->len[i] = json_string_length(s);
  }
  return 1;
}

static unsigned type_bit(const json_t *t) {
  static const char *const names[] = { "null", "boolean", "object", "array", "number", "string", "integer" };
  if (!json_is_string(t))
    return 0;
  for (unsigned i = 0; i < 7; i++)
    if (strcmp(json_string_value(t), names[i]) == 0)
      return 1u << i;
  return 0;
}

static int add_depreq(struct dk__node *n, const char *k, size_t klen, const json_t *v) {
  n->depreq = dk_realloc(n->depreq, (n->ndepreq + 1) * sizeof *n->depreq);
  struct dk__strs *d = &n->depreq[n->ndepreq++];
  memset(d, 0, sizeof *d);
  d->key = k;
  d->klen = klen;
  return strings(v, d);
}

static int add_depsch(struct cctx *c, const struct pending *p, const char *kw, const char *k, size_t klen,
                      json_t *v) {
  struct dk__node *n = p->node;
  n->depsch = dk_realloc(n->depsch, (n->ndepsch + 1) * sizeof *n->depsch);
  struct dk__prop *d = &n->depsch[n->ndepsch++];
  d->key = k;
  d->klen = klen;
  d->node = child(c, p, v, kw, k, klen);
  return d->node ? 0 : DK_ESCHEMA;
}

/* Resolve a reference from resource `res` to the node it names. *target
 * receives the schema JSON. */
static struct dk__node *resolve(struct cctx *c, const struct dk__node *from, struct dk__resource *res,
                                const char *ref, const char *kw, json_t **target) {
  const char *frag;
  char *full = dk__uri_resolve(res->uri, ref);
  char *base = dk__uri_strip_fragment(full, &frag);
  struct dk__resource *r = dk__lookup(c->reg, &c->ov, base);
  struct dk__node *n = NULL;
  struct dk_buf ptr = {0};
  json_t *cur = NULL;
  if (!r) {
    dk_failf(c->err, DK_ESCHEMA, "cannot resolve the reference \"%s\" at %s/%s: %s is not a known schema",
             ref, from->abs, kw, base);
  } else if (!frag || !*frag) {
    cur = r->schema;
  } else {
    size_t flen;
    char *f = dk__pct_decode(frag, strlen(frag), &flen);
    if (f[0] == '/') {
      cur = r->schema;
      const char *p = f + 1, *end = f + flen;
      while (cur) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        if (!q)
          q = end;
        struct dk_buf tok = {0};
        for (const char *s = p; s < q; s++) {
          if (*s == '~' && s + 1 < q && (s[1] == '0' || s[1] == '1')) {
            dk_buf_append(&tok, s[1] == '0' ? "~" : "/", 1);
            s++;
          } else {
            dk_buf_append(&tok, s, 1);
          }
        }
        const char *t = dk_buf_cstr(&tok);
        if (json_is_object(cur)) {
          cur = json_object_getn(cur, t, tok.len);
        } else if (json_is_array(cur) && tok.len > 0 && strspn(t, "0123456789") == tok.len &&
                   (tok.len == 1 || t[0] != '0')) {
          cur = json_array_get(cur, strtoull(t, NULL, 10));
        } else {
          cur = NULL;
        }
        struct dk__loc *l = json_is_object(cur) ? dk__loc_of(c->reg, &c->ov, cur) : NULL;
        if (l) {
          r = l->res;
          ptr.len = 0;
          dk_buf_puts(&ptr, l->ptr);
        } else {
          dk__ptr_append(&ptr, t, tok.len);
        }
        dk_buf_free(&tok);
        if (q == end)
          break;
        p = q + 1;
      }
    } else {
      cur = dk__map_get(&r->anchors, f, flen);
      struct dk__loc *l = cur ? dk__loc_of(c->reg, &c->ov, cur) : NULL;
      if (l) {
        r = l->res;
        dk_buf_puts(&ptr, l->ptr);
      }
    }
    free(f);
    if (!cur)
      dk_failf(c->err, DK_ESCHEMA, "cannot resolve the reference \"%s\" at %s/%s: %s has no #%s",
               ref, from->abs, kw, base, frag);
  }
  if (cur)
    n = get_node(c, cur, r, dk_buf_cstr(&ptr));
  *target = cur;
  dk_buf_free(&ptr);
  free(full);
  free(base);
  return n;
}

/* $ref, and $dynamicRef outside 2019-09, resolved to their nodes (owned by
 * the compiled schema): 0 or DK_ESCHEMA with c->err. */
static int compile_ref(struct cctx *c, struct pending *p, const char *k, json_t *v) {
  struct dk__node *n = p->node;
  int dyn = strcmp(k, "$dynamicRef") == 0 && !(n->cres->vocab & DK__V_2019);
  if (strcmp(k, "$ref") != 0 && !dyn)
    return 0;
  json_t *t;
  if (!json_is_string(v))
    return fail_at(c, n, k, "%s must be a string", k);
  struct dk__node *target = resolve(c, n, p->res, json_string_value(v), k, &t);
  if (!target)
    return DK_ESCHEMA;
  if (!dyn) {
    n->ref = target;
    return 0;
  }
  n->dynref = target;
  const char *h = strchr(json_string_value(v), '#');
  json_t *da = json_object_get(t, "$dynamicAnchor");
  if (h && json_is_string(da) && strcmp(json_string_value(da), h + 1) == 0)
    n->dyn_name = json_string_value(da);
  return 0;
}

/* A single-subschema keyword k into *out (a node owned by the compiled
 * schema): 0 or DK_ESCHEMA. */
static inline int compile_one(struct cctx *c, const struct pending *p, json_t *v, const char *k,
                              struct dk__node **out) {
  return (*out = child(c, p, v, k, NULL, 0)) ? 0 : DK_ESCHEMA;
}

/* allOf, anyOf, oneOf, not and if/then/else: 0 or an error with c->err
 * (0 too for other keywords). */
static int compile_in_place(struct cctx *c, struct pending *p, const char *k, json_t *v) {
  struct dk__node *n = p->node;
  if (strcmp(k, "allOf") == 0)
    return child_array(c, p, v, k, &n->allof, &n->nallof);
  if (strcmp(k, "anyOf") == 0)
    return child_array(c, p, v, k, &n->anyof, &n->nanyof);
  if (strcmp(k, "oneOf") == 0)
    return child_array(c, p, v, k, &n->oneof, &n->noneof);
  if (strcmp(k, "not") == 0)
    return compile_one(c, p, v, k, &n->not_);
  if (strcmp(k, "if") != 0)
    return 0;
  int r = compile_one(c, p, v, k, &n->if_);
  json_t *t = json_object_get(p->json, "then"), *e = json_object_get(p->json, "else");
  if (!r && t)
    r = compile_one(c, p, t, "then", &n->then_);
  if (!r && e)
    r = compile_one(c, p, e, "else", &n->else_);
  return r;
}

/* patternProperties: its regexes (owned by the node) and subschemas: 0 or
 * DK_ESCHEMA with c->err. */
static int compile_pattern_props(struct cctx *c, struct pending *p, const char *k, json_t *v) {
  struct dk__node *n = p->node;
  if (!json_is_object(v))
    return fail_at(c, n, k, "%s must be an object of schemas", k);
  n->pats = dk_calloc(json_object_size(v) + 1, sizeof *n->pats);
  const char *pk;
  size_t pklen;
  json_t *pv;
  json_object_keylen_foreach(v, pk, pklen, pv) {
    struct dk__pat *pt = &n->pats[n->npats++];
    char rerr[DK_ERRBUF_SIZE];
    pt->src = pk;
    if (!(pt->re = dk_regex_compile(pk, pklen, rerr)))
      return dk_failf(c->err, DK_ESCHEMA, "invalid pattern \"%s\" at %s/%s: %s", pk, n->abs, k, rerr);
    if (!(pt->node = child(c, p, pv, k, pk, pklen)))
      return DK_ESCHEMA;
  }
  return 0;
}

/* dependentSchemas, or the pre-2019 dependencies (with its arrays as
 * dependentRequired): 0 or an error with c->err. */
static int compile_dependencies(struct cctx *c, struct pending *p, const char *k, json_t *v) {
  struct dk__node *n = p->node;
  int old = strcmp(k, "dependencies") == 0;
  if (!old && !json_is_object(v))
    return fail_at(c, n, k, "%s must be an object of schemas", k);
  const char *dk;
  size_t dklen;
  json_t *dv;
  int r = 0;
  json_object_keylen_foreach(v, dk, dklen, dv) {
    if (old && json_is_array(dv)) {
      if (!add_depreq(n, dk, dklen, dv))
        return fail_at(c, n, k, "%s must list property names", k);
      n->kw |= DK__K_DEPREQ;
    } else if ((r = add_depsch(c, p, k, dk, dklen, dv)) != 0) {
      break;
    }
  }
  return r;
}

/* The object applicators: 0 or an error with c->err (0 too for other
 * keywords). */
static int compile_object_applicators(struct cctx *c, struct pending *p, const char *k, json_t *v) {
  struct dk__node *n = p->node;
  if (strcmp(k, "properties") == 0)
    return child_map(c, p, v, k, &n->props, &n->nprops);
  if (strcmp(k, "patternProperties") == 0)
    return compile_pattern_props(c, p, k, v);
  if (strcmp(k, "additionalProperties") == 0)
    return compile_one(c, p, v, k, &n->addl);
  if (strcmp(k, "propertyNames") == 0)
    return compile_one(c, p, v, k, &n->pnames);
  if (strcmp(k, "dependentSchemas") == 0 || (strcmp(k, "dependencies") == 0 && json_is_object(v)))
    return compile_dependencies(c, p, k, v);
  return 0;
}

/* The array applicators, with 2019-09's items array and additionalItems:
 * 0 or an error with c->err (0 too for other keywords). */
static int compile_array_applicators(struct cctx *c, struct pending *p, const char *k, json_t *v) {
  struct dk__node *n = p->node;
  int v2019 = (n->cres->vocab & DK__V_2019) != 0;
  if (strcmp(k, "prefixItems") == 0 && !v2019)
    return child_array(c, p, v, k, &n->prefix, &n->nprefix);
  if (strcmp(k, "contains") == 0)
    return compile_one(c, p, v, k, &n->contains);
  if (strcmp(k, "items") != 0)
    return 0;
  if (!(v2019 && json_is_array(v)))
    return compile_one(c, p, v, k, &n->items);
  n->items_array_2019 = 1;
  int r = json_array_size(v) ? child_array(c, p, v, k, &n->prefix, &n->nprefix) : 0;
  json_t *ai = json_object_get(p->json, "additionalItems");
  if (!r && ai)
    r = compile_one(c, p, ai, "additionalItems", &n->items);
  return r;
}

/* unevaluatedItems and unevaluatedProperties, which turn tracking on: 0 or
 * DK_ESCHEMA (0 too for other keywords). */
static int compile_unevaluated(struct cctx *c, struct pending *p, const char *k, json_t *v) {
  struct dk__node *n = p->node;
  struct dk__node **out = strcmp(k, "unevaluatedItems") == 0        ? &n->uitems
                          : strcmp(k, "unevaluatedProperties") == 0 ? &n->uprops
                                                                    : NULL;
  if (!out)
    return 0;
  if (!(*out = child(c, p, v, k, NULL, 0)))
    return DK_ESCHEMA;
  n->track = 1;
  return 0;
}

/* type: its bits into n->types: 0 or DK_ESCHEMA with c->err. */
static int compile_type(struct cctx *c, struct dk__node *n, const char *k, const json_t *v) {
  n->kw |= DK__K_TYPE;
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++) {
      unsigned b = type_bit(json_array_get(v, i));
      if (!b)
        return fail_at(c, n, k, "%s must name JSON types", k);
      n->types |= b;
    }
  } else if (!(n->types = type_bit(v))) {
    return fail_at(c, n, k, "%s must name JSON types", k);
  }
  return 0;
}

/* multipleOf, maximum, exclusiveMaximum, minimum, exclusiveMinimum (v
 * borrowed from the document): 0 or DK_ESCHEMA with c->err (0 too for
 * other keywords). */
static int compile_bound(struct cctx *c, struct dk__node *n, const char *k, const json_t *v) {
  if (strcmp(k, "multipleOf") != 0 && strcmp(k, "maximum") != 0 && strcmp(k, "exclusiveMaximum") != 0 &&
      strcmp(k, "minimum") != 0 && strcmp(k, "exclusiveMinimum") != 0)
    return 0;
  if (!json_is_number(v))
    return fail_at(c, n, k, "%s must be a number", k);
  if (k[1] == 'u') {
    if (json_number_value(v) <= 0)
      return fail_at(c, n, k, "%s must be greater than 0", k);
    n->kw |= DK__K_MULTIPLEOF;
    n->multipleof = v;
  } else if (k[1] == 'a') {
    n->kw |= DK__K_MAXIMUM;
    n->maximum = v;
  } else if (k[1] == 'i') {
    n->kw |= DK__K_MINIMUM;
    n->minimum = v;
  } else if (k[9] == 'M' && k[10] == 'a') {
    n->kw |= DK__K_EXMAXIMUM;
    n->exmax = v;
  } else {
    n->kw |= DK__K_EXMINIMUM;
    n->exmin = v;
  }
  return 0;
}

/* The non-negative integer keywords (maxLength ... minProperties): 0 or
 * DK_ESCHEMA with c->err (0 too for other keywords). */
static int compile_count(struct cctx *c, struct dk__node *n, const char *k, const json_t *v) {
  static const struct { const char *name; unsigned bit; size_t off; } counts[] = {
    { "maxLength", DK__K_MAXLENGTH, offsetof(struct dk__node, maxlen) },
    { "minLength", DK__K_MINLENGTH, offsetof(struct dk__node, minlen) },
    { "maxItems", DK__K_MAXITEMS, offsetof(struct dk__node, maxitems) },
    { "minItems", DK__K_MINITEMS, offsetof(struct dk__node, minitems) },
    { "maxContains", DK__K_MAXCONTAINS, offsetof(struct dk__node, maxcontains) },
    { "minContains", DK__K_MINCONTAINS, offsetof(struct dk__node, mincontains) },
    { "maxProperties", DK__K_MAXPROPS, offsetof(struct dk__node, maxprops) },
    { "minProperties", DK__K_MINPROPS, offsetof(struct dk__node, minprops) },
  };
  for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
    if (strcmp(k, counts[i].name) != 0)
      continue;
    if (!nonneg(v, (size_t *)((char *)n + counts[i].off)))
      return fail_at(c, n, k, "%s must be a non-negative integer", k);
    n->kw |= counts[i].bit;
  }
  return 0;
}

/* pattern, compiled into n->pattern (owned by the node): 0 or DK_ESCHEMA
 * with c->err. */
static int compile_pattern(struct cctx *c, struct dk__node *n, const char *k, const json_t *v) {
  char rerr[DK_ERRBUF_SIZE];
  if (!json_is_string(v))
    return fail_at(c, n, k, "%s must be a string", k);
  n->pattern_src = json_string_value(v);
  if (!(n->pattern = dk_regex_compile(n->pattern_src, json_string_length(v), rerr)))
    return dk_failf(c->err, DK_ESCHEMA, "invalid pattern \"%s\" at %s/%s: %s", n->pattern_src, n->abs, k, rerr);
  n->kw |= DK__K_PATTERN;
  return 0;
}

/* dependentRequired, its lists in n->depreq (strings borrowed from the
 * document): 0 or DK_ESCHEMA with c->err. */
static int compile_dependent_required(struct cctx *c, struct dk__node *n, const char *k, const json_t *v) {
  if (!json_is_object(v))
    return fail_at(c, n, k, "%s must be an object", k);
  const char *dk;
  size_t dklen;
  json_t *dv;
  json_object_keylen_foreach((json_t *)v, dk, dklen, dv) {
    if (!add_depreq(n, dk, dklen, dv))
      return fail_at(c, n, k, "%s must list property names", k);
  }
  n->kw |= DK__K_DEPREQ;
  return 0;
}

/* The validation vocabulary's keywords (values borrowed from the
 * document): 0 or DK_ESCHEMA with c->err (0 too for other keywords). */
static int compile_validation(struct cctx *c, struct dk__node *n, const char *k, json_t *v) {
  if (strcmp(k, "type") == 0)
    return compile_type(c, n, k, v);
  if (strcmp(k, "const") == 0) {
    n->kw |= DK__K_CONST;
    n->const_ = v;
    return 0;
  }
  if (strcmp(k, "enum") == 0) {
    if (!json_is_array(v))
      return fail_at(c, n, k, "%s must be an array", k);
    n->kw |= DK__K_ENUM;
    n->enum_ = v;
    return 0;
  }
  if (strcmp(k, "pattern") == 0)
    return compile_pattern(c, n, k, v);
  if (strcmp(k, "uniqueItems") == 0) {
    if (!json_is_boolean(v))
      return fail_at(c, n, k, "%s must be a boolean", k);
    if (json_is_true(v))
      n->kw |= DK__K_UNIQUE;
    return 0;
  }
  if (strcmp(k, "required") == 0) {
    if (!strings(v, &n->required))
      return fail_at(c, n, k, "%s must be an array of strings", k);
    n->kw |= DK__K_REQUIRED;
    return 0;
  }
  if (strcmp(k, "dependentRequired") == 0)
    return compile_dependent_required(c, n, k, v);
  int r = compile_bound(c, n, k, v);
  return r ? r : compile_count(c, n, k, v);
}

/* When every required name is also a property (once), mark those
 * properties and set n->req_in_props, so validation counts them while it
 * walks the instance's keys instead of looking each one up. */
static void mark_required_props(struct dk__node *n) {
  if (!(n->kw & DK__K_REQUIRED) || !n->nprops)
    return;
  n->req_in_props = 1;
  for (size_t i = 0; i < n->required.n; i++) {
    struct dk__prop *pr = (struct dk__prop *)dk__find_prop(n->props, n->nprops, n->required.s[i], n->required.len[i]);
    if (!pr || pr->required) {
      n->req_in_props = 0;
      break;
    }
    pr->required = 1;
  }
  if (!n->req_in_props)
    for (size_t i = 0; i < n->nprops; i++)
      n->props[i].required = 0;
}

/* Compile one schema object's keywords into p->node, by vocabulary: 0 or
 * an error with c->err. */
static int compile_body(struct cctx *c, struct pending *p) {
  struct dk__node *n = p->node;
  unsigned vocab = n->cres->vocab;
  const char *k;
  json_t *v;
  int r = 0;
  json_object_foreach(p->json, k, v) {
    if ((r = compile_ref(c, p, k, v)) != 0)
      return r;
    if ((vocab & DK__V_APPLICATOR) &&
        ((r = compile_in_place(c, p, k, v)) != 0 || (r = compile_object_applicators(c, p, k, v)) != 0 ||
         (r = compile_array_applicators(c, p, k, v)) != 0))
      return r;
    if ((vocab & DK__V_UNEVALUATED) && (r = compile_unevaluated(c, p, k, v)) != 0)
      return r;
    if ((vocab & DK__V_VALIDATION) && (r = compile_validation(c, n, k, v)) != 0)
      return r;
    if (strcmp(k, "format") == 0 && json_is_string(v) && (c->assert_formats || (vocab & DK__V_FORMAT_ASSERT))) {
      n->kw |= DK__K_FORMAT;
      n->format = json_string_value(v);
    }
  }
  mark_required_props(n);
  return 0;
}

static void node_free(struct dk__node *n) {
  free(n->abs);
  free(n->allof);
  free(n->anyof);
  free(n->oneof);
  free(n->props);
  for (size_t i = 0; i < n->npats; i++)
    dk_regex_free(n->pats[i].re);
  free(n->pats);
  free(n->depsch);
  for (size_t i = 0; i < n->ndepreq; i++) {
    free(n->depreq[i].s);
    free(n->depreq[i].len);
  }
  free(n->depreq);
  free(n->required.s);
  free(n->required.len);
  free(n->prefix);
  if (n->pattern)
    dk_regex_free(n->pattern);
  free(n);
}

/* Free a compiled schema (NULL is fine). */
void dk_schema_free(struct dk_schema *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nnodes; i++)
    node_free(s->nodes[i]);
  free(s->nodes);
  for (size_t i = 0; i < s->ncres; i++) {
    for (size_t j = 0; j < s->cres[i]->ndyn; j++)
      free(s->cres[i]->dyn_names[j]);
    free(s->cres[i]->dyn_names);
    free(s->cres[i]->dyn_nodes);
    free((char *)s->cres[i]->uri);
    free(s->cres[i]);
  }
  free(s->cres);
  json_decref(s->doc);
  free(s);
}

static int check_metaschema(struct dk_registry *reg, const json_t *schema, char *err) {
  json_t *sch = json_object_get(schema, "$schema");
  if (sch && !json_is_string(sch))
    return dk_failf(err, DK_ESCHEMA, "$schema must be a string");
  char *uri = dk__uri_strip_fragment(sch ? json_string_value(sch) : DK__META_2020, NULL);
  if (strcmp(uri, DK__META_2019) == 0) {
    free(uri); /* not built in: only its keyword meanings are known */
    return 0;
  }
  struct dk_schema *meta = dk__metaschema(reg, uri, err);
  int r = 0;
  if (!meta) {
    r = DK_ESCHEMA;
  } else {
    struct dk_vresult res;
    int v = dk_schema_validate(meta, schema, &res);
    if (v != 1) {
      const struct dk_verror *e = res.nerrors ? &res.errors[0] : NULL;
      r = dk_failf(err, DK_ESCHEMA, "the schema does not match its metaschema %s: %s%s%s", uri,
                   e ? (*e->instance_location ? e->instance_location : "/") : "",
                   e ? ": " : "", e ? e->message : "invalid");
    }
    dk_vresult_free(&res);
  }
  free(uri);
  return r;
}

/* Compile schema: index it, check it against its metaschema when asked,
 * then make every node from the work queue. */
int dk_schema_compile(struct dk_registry *reg, const json_t *schema, const char *uri,
                      const struct dk_schema_opts *opts, struct dk_schema **out, char *err) {
  static const struct dk_schema_opts defaults = { 0, 0, 0 };
  if (!opts)
    opts = &defaults;
  *out = NULL;
  if (!json_is_object(schema) && !json_is_boolean(schema))
    return dk_failf(err, DK_ESCHEMA, "a schema must be an object or a boolean");
  if (opts->check_metaschema && check_metaschema(reg, schema, err) != 0)
    return DK_ESCHEMA;
  json_t *doc = (json_t *)schema; /* jansson's reference counts are not const */
  struct cctx c = { .reg = reg, .assert_formats = opts->assert_formats, .err = err };
  c.out = dk_calloc(1, sizeof *c.out);
  c.out->doc = json_incref(doc);
  c.out->max_depth = opts->max_depth ? opts->max_depth : 512;
  struct dk__loc *l = dk__loc_of(reg, NULL, doc);
  struct dk__resource *res;
  const char *ptr = "";
  int r = 0;
  if (l && !*l->ptr && l->res->schema == doc) {
    res = l->res; /* already in the registry */
  } else {
    char *ruri = dk__uri_strip_fragment(uri ? uri : "urn:duikou:anonymous", NULL);
    r = dk__index_doc(&c.ov, doc, ruri, err);
    if (r)
      r = DK_ESCHEMA;
    res = dk__map_get(&c.ov.uris, ruri, strlen(ruri));
    free(ruri);
  }
  if (!r && !(c.out->root = get_node(&c, doc, res, ptr)))
    r = DK_ESCHEMA;
  while (!r && c.qhead < c.nq) {
    struct pending p = c.q[c.qhead++]; /* a copy: the queue moves as it grows */
    r = compile_body(&c, &p);
  }
  for (size_t i = 0; i < c.nq; i++)
    free(c.q[i].ptr);
  free(c.q);
  dk__map_free(&c.nodes, NULL);
  dk__map_free(&c.cres, NULL);
  dk__index_free(&c.ov);
  if (r) {
    dk_schema_free(c.out);
    return DK_ESCHEMA;
  }
  *out = c.out;
  return 0;
}

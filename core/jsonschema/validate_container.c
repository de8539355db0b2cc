/* The keywords of arrays (minItems, maxItems, uniqueItems, prefixItems,
 * items, contains with minContains/maxContains) and of objects
 * (minProperties, maxProperties, properties, patternProperties,
 * additionalProperties, required, dependentRequired, propertyNames,
 * dependentSchemas), called by the walk in validate.c for an instance of
 * that type. */
#include <stdlib.h>
#include <string.h>

#include "validate.h"


/* minItems and maxItems on an array of len items: 1 or 0. */
static inline int v_item_counts(struct dk__vctx *c, const struct dk__node *n, size_t len) {
  int ok = 1;
  if ((n->kw & DK__K_MINITEMS) && len < n->minitems) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "minItems", "has %zu item%s, fewer than the minimum %zu", len, len == 1 ? "" : "s", n->minitems);
  }
  if ((n->kw & DK__K_MAXITEMS) && len > n->maxitems) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "maxItems", "has %zu item%s, more than the maximum %zu", len, len == 1 ? "" : "s", n->maxitems);
  }
  return ok;
}

/* uniqueItems: 1, 0 (the first equal pair reported) or DK_ETOOBIG. */
static int v_unique(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, size_t len) {
  for (size_t i = 1; i < len; i++) {
    for (size_t j = 0; j < i; j++) {
      int r = dk__json_equal(json_array_get(inst, i), json_array_get(inst, j), c->max_depth);
      if (r < 0)
        return dk__v_too_deep(c, n, "uniqueItems");
      if (r) {
        if (c->res)
          dk__v_error(c, n, "uniqueItems", "items %zu and %zu are equal", j, i);
        return 0;
      }
    }
  }
  return 1;
}

/* prefixItems (items as an array in 2019-09), marking what it evaluates in
 * t (may be NULL): 1, 0 or a limit's error. */
static inline int v_prefix_items(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, size_t len,
                                 struct dk__track *t) {
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
static inline int v_items(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, size_t len,
                          struct dk__track *t) {
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
static int v_contains(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, size_t len,
                      struct dk__track *t) {
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
      return dk__v_gave_up(c, n, "contains");
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
      dk__v_error(c, n, "minContains", "%zu item%s match%s contains, fewer than the minimum %zu", found,
            found == 1 ? "" : "s", found == 1 ? "es" : "", min);
    else
      dk__v_error(c, n, "contains", "no item matches the schema in contains");
  }
  if (found > max) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "maxContains", "%zu items match contains, more than the maximum %zu", found, max);
  }
  return ok;
}

/* The array keywords, marking evaluated items in t (may be NULL): 1, 0 or
 * a limit's error. */
int dk__v_array(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
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
static inline int v_prop_counts(struct dk__vctx *c, const struct dk__node *n, size_t size) {
  int ok = 1;
  if ((n->kw & DK__K_MINPROPS) && size < n->minprops) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "minProperties", "has %zu propert%s, fewer than the minimum %zu", size, size == 1 ? "y" : "ies",
          n->minprops);
  }
  if ((n->kw & DK__K_MAXPROPS) && size > n->maxprops) {
    ok = 0;
    if (!c->res)
      return 0;
    dk__v_error(c, n, "maxProperties", "has %zu propert%s, more than the maximum %zu", size, size == 1 ? "y" : "ies",
          n->maxprops);
  }
  return ok;
}

/* Member k: v against the subschema sub of keyword kw (its location token
 * tok, or none when NULL): what v_child returns. */
static inline int v_member(struct dk__vctx *c, const struct dk__node *n, const struct dk__node *sub, const char *kw,
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
static inline int v_pattern_props(struct dk__vctx *c, const struct dk__node *n, const char *k, size_t klen,
                                  const json_t *v, int *matched) {
  int ok = 1;
  for (size_t j = 0; j < n->npats; j++) {
    int r = dk_regex_search(n->pats[j].re, k, klen);
    if (r < 0) {
      if (c->res)
        dk__v_error(c, n, "patternProperties", "matching pattern %s took too long", n->pats[j].src);
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
static inline int v_props_walk(struct dk__vctx *c, const struct dk__node *n, json_t *obj, struct dk__track *t,
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
static inline int v_props_lookup(struct dk__vctx *c, const struct dk__node *n, json_t *obj, size_t *required_seen) {
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
static int v_required(struct dk__vctx *c, const struct dk__node *n, json_t *obj) {
  int ok = 1;
  for (size_t i = 0; i < n->required.n; i++) {
    if (json_object_getn(obj, n->required.s[i], n->required.len[i]))
      continue;
    ok = 0;
    if (!c->res)
      return 0;
    char ex[128];
    dk__v_error(c, n, "required", "missing required property \"%s\"",
          dk_excerpt(ex, sizeof ex, n->required.s[i], n->required.len[i]));
  }
  return ok;
}

/* dependentRequired (and the array form of dependencies): 1 or 0. */
static int v_dependent_required(struct dk__vctx *c, const struct dk__node *n, json_t *obj) {
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
      dk__v_error(c, n, dk_buf_cstr(&kw), "property \"%s\" is required when \"%s\" is present",
            dk_excerpt(ex, sizeof ex, dr->s[i], dr->len[i]), dk_excerpt(ex2, sizeof ex2, dr->key, dr->klen));
      dk_buf_free(&kw);
    }
  }
  return ok;
}

/* propertyNames, each name as a temporary JSON string (freed here): 1, 0
 * or a limit's error. */
static int v_property_names(struct dk__vctx *c, const struct dk__node *n, json_t *obj) {
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
static int v_dependent_schemas(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
  int ok = 1;
  for (size_t i = 0; i < n->ndepsch; i++) {
    const struct dk__prop *p = &n->depsch[i];
    if (!json_object_getn(inst, p->key, p->klen))
      continue;
    size_t ik = path_push(c, &c->kpath, "dependentSchemas", p->key, p->klen);
    int r = dk__v_node(c, p->node, inst, t);
    path_pop(c, &c->kpath, ik);
    CHECK(r);
  }
  return ok;
}

/* The object keywords, marking evaluated members in t (may be NULL): 1, 0
 * or a limit's error. */
int dk__v_object(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t) {
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

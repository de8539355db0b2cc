/* The schema registry: documents by URI, their embedded resources and
 * anchors, URI resolution, and the built-in 2020-12 metaschemas. */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "../util.h"

/* --- hash map ------------------------------------------------------------ */

static size_t map_hash(const void *key, size_t klen) {
  const unsigned char *p = key;
  size_t h = 1469598103934665603ull;
  for (size_t i = 0; i < klen; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static struct dk__map_ent *map_find(const struct dk__map *m, const void *key, size_t klen, size_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    struct dk__map_ent *e = &m->ents[i];
    if (!e->key || (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0))
      return e;
  }
}

/* The value under key, or NULL. */
void *dk__map_get(const struct dk__map *m, const void *key, size_t klen) {
  if (!m->n)
    return NULL;
  struct dk__map_ent *e = map_find(m, key, klen, map_hash(key, klen));
  return e->key ? e->val : NULL;
}

/* Insert or replace; the key is copied. */
void dk__map_put(struct dk__map *m, const void *key, size_t klen, void *val) {
  if ((m->n + 1) * 2 > m->cap) {
    struct dk__map old = *m;
    m->cap = old.cap ? old.cap * 2 : 16;
    m->ents = dk_calloc(m->cap, sizeof *m->ents);
    for (size_t i = 0; i < old.cap; i++)
      if (old.ents[i].key)
        *map_find(m, old.ents[i].key, old.ents[i].klen, old.ents[i].hash) = old.ents[i];
    free(old.ents);
  }
  size_t h = map_hash(key, klen);
  struct dk__map_ent *e = map_find(m, key, klen, h);
  if (!e->key) {
    e->key = dk_malloc(klen + 1);
    memcpy(e->key, key, klen);
    e->key[klen] = 0;
    e->klen = klen;
    e->hash = h;
    m->n++;
  }
  e->val = val;
}

/* Free the keys, and the values with free_val when it is not NULL. */
void dk__map_free(struct dk__map *m, void (*free_val)(void *)) {
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->ents[i].key)
      continue;
    free(m->ents[i].key);
    if (free_val)
      free_val(m->ents[i].val);
  }
  free(m->ents);
  memset(m, 0, sizeof *m);
}

/* --- URIs ---------------------------------------------------------------- */

struct uparts {
  const char *scheme, *auth, *path, *query, *frag;
  size_t nscheme, nauth, npath, nquery, nfrag;
  int hasauth, hasquery, hasfrag;
};

static void usplit(const char *s, struct uparts *u) {
  memset(u, 0, sizeof *u);
  const char *p = s;
  if (isalpha((unsigned char)*p)) {
    const char *q = p + 1;
    while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.')
      q++;
    if (*q == ':') {
      u->scheme = p;
      u->nscheme = (size_t)(q - p);
      p = q + 1;
    }
  }
  if (p[0] == '/' && p[1] == '/') {
    p += 2;
    u->hasauth = 1;
    u->auth = p;
    while (*p && *p != '/' && *p != '?' && *p != '#')
      p++;
    u->nauth = (size_t)(p - u->auth);
  }
  u->path = p;
  while (*p && *p != '?' && *p != '#')
    p++;
  u->npath = (size_t)(p - u->path);
  if (*p == '?') {
    u->hasquery = 1;
    u->query = ++p;
    while (*p && *p != '#')
      p++;
    u->nquery = (size_t)(p - u->query);
  }
  if (*p == '#') {
    u->hasfrag = 1;
    u->frag = p + 1;
    u->nfrag = strlen(p + 1);
  }
}

/* RFC 3986 section 5.2.4. */
static void remove_dots(struct dk_buf *out, const char *path, size_t n) {
  char *in = dk_strndup(path, n);
  char *p = in;
  while (*p) {
    if (strncmp(p, "../", 3) == 0) {
      p += 3;
    } else if (strncmp(p, "./", 2) == 0) {
      p += 2;
    } else if (strncmp(p, "/./", 3) == 0) {
      p += 2;
    } else if (strcmp(p, "/.") == 0) {
      p[1] = 0;
    } else if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0) {
      if (p[3] == 0) {
        p += 2;
        *p = '/';
      } else {
        p += 3;
      }
      while (out->len > 0 && out->data[out->len - 1] != '/')
        out->len--;
      if (out->len > 0)
        out->len--;
      if (out->data)
        out->data[out->len] = 0;
    } else if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
      break;
    } else {
      char *q = p + (*p == '/');
      while (*q && *q != '/')
        q++;
      dk_buf_append(out, p, (size_t)(q - p));
      p = q;
    }
  }
  free(in);
}

/* RFC 3986 section 5.2.2: ref against base. Caller frees. */
char *dk__uri_resolve(const char *base, const char *ref) {
  struct uparts b, r;
  usplit(base ? base : "", &b);
  usplit(ref, &r);
  struct dk_buf out = {0};
  const struct uparts *sa; /* scheme and authority come from here */
  if (r.scheme) {
    sa = &r;
  } else {
    sa = &b;
  }
  if (sa->scheme) {
    dk_buf_append(&out, sa->scheme, sa->nscheme);
    dk_buf_puts(&out, ":");
  }
  const struct uparts *au = r.scheme || r.hasauth ? &r : &b;
  if (au->hasauth) {
    dk_buf_puts(&out, "//");
    dk_buf_append(&out, au->auth, au->nauth);
  }
  if (r.scheme || r.hasauth) {
    remove_dots(&out, r.path, r.npath);
    if (r.hasquery) {
      dk_buf_puts(&out, "?");
      dk_buf_append(&out, r.query, r.nquery);
    }
  } else if (r.npath == 0) {
    dk_buf_append(&out, b.path, b.npath);
    const struct uparts *q = r.hasquery ? &r : &b;
    if (q->hasquery) {
      dk_buf_puts(&out, "?");
      dk_buf_append(&out, q->query, q->nquery);
    }
  } else {
    struct dk_buf merged = {0};
    if (r.path[0] == '/') {
      dk_buf_append(&merged, r.path, r.npath);
    } else if (b.hasauth && b.npath == 0) {
      dk_buf_puts(&merged, "/");
      dk_buf_append(&merged, r.path, r.npath);
    } else {
      size_t keep = b.npath;
      while (keep > 0 && b.path[keep - 1] != '/')
        keep--;
      dk_buf_append(&merged, b.path, keep);
      dk_buf_append(&merged, r.path, r.npath);
    }
    /* a relative base (no scheme) keeps leading ".." segments as they are */
    if (merged.len)
      remove_dots(&out, merged.data, merged.len);
    dk_buf_free(&merged);
    if (r.hasquery) {
      dk_buf_puts(&out, "?");
      dk_buf_append(&out, r.query, r.nquery);
    }
  }
  if (r.hasfrag) {
    dk_buf_puts(&out, "#");
    dk_buf_append(&out, r.frag, r.nfrag);
  }
  dk_buf_cstr(&out);
  return dk_buf_steal(&out);
}

/* The URI without its fragment (caller frees); *frag points after the '#'. */
char *dk__uri_strip_fragment(const char *uri, const char **frag) {
  const char *h = strchr(uri, '#');
  if (frag)
    *frag = h ? h + 1 : NULL;
  return h ? dk_strndup(uri, (size_t)(h - uri)) : dk_strdup(uri);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decode n bytes (invalid escapes kept as they are). Caller frees. */
char *dk__pct_decode(const char *s, size_t n, size_t *outlen) {
  char *out = dk_malloc(n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int h, l;
    if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
        (l = hexval((unsigned char)s[i + 2])) >= 0) {
      out[o++] = (char)(h * 16 + l);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = 0;
  if (outlen)
    *outlen = o;
  return out;
}

/* Append "/" and a JSON Pointer token with ~0 and ~1 escapes. */
void dk__ptr_append(struct dk_buf *b, const char *tok, size_t len) {
  dk_buf_puts(b, "/");
  for (size_t i = 0; i < len; i++) {
    if (tok[i] == '~')
      dk_buf_puts(b, "~0");
    else if (tok[i] == '/')
      dk_buf_puts(b, "~1");
    else
      dk_buf_append(b, tok + i, 1);
  }
}

/* Append bytes percent-encoded where a URI fragment does not allow them. */
void dk__frag_append(struct dk_buf *b, const char *s, size_t len) {
  static const char ok[] = "-._~!$&'()*+,;=:@/?";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (isalnum(c) || (c && strchr(ok, c)))
      dk_buf_append(b, s + i, 1);
    else
      dk_buf_printf(b, "%%%02X", c);
  }
}

/* --- the index ----------------------------------------------------------- */

static void resource_free(struct dk__resource *r) {
  free(r->uri);
  free(r->metaschema);
  dk__map_free(&r->anchors, NULL);
  dk__map_free(&r->dyn, NULL);
  free(r);
}

static void loc_free(void *p) {
  struct dk__loc *l = p;
  free(l->ptr);
  free(l);
}

/* Free an index and its resources (not the documents). */
void dk__index_free(struct dk__index *idx) {
  for (size_t i = 0; i < idx->nres; i++)
    resource_free(idx->res[i]);
  free(idx->res);
  dk__map_free(&idx->uris, NULL);
  dk__map_free(&idx->locs, loc_free);
  memset(idx, 0, sizeof *idx);
}

static struct dk__resource *resource_new(struct dk__index *idx, const char *uri, json_t *schema,
                                         const char *meta) {
  struct dk__resource *r = dk_calloc(1, sizeof *r);
  r->uri = dk_strdup(uri);
  r->schema = schema;
  r->metaschema = dk_strdup(meta);
  idx->res = dk_realloc(idx->res, (idx->nres + 1) * sizeof *idx->res);
  idx->res[idx->nres++] = r;
  return r;
}

static int alias(struct dk__index *idx, const char *uri, struct dk__resource *r, char *err) {
  struct dk__resource *old = dk__map_get(&idx->uris, uri, strlen(uri));
  if (old && old->schema != r->schema)
    return dk_failf(err, DK_EEXIST, "two schemas have the $id %s", uri);
  dk__map_put(&idx->uris, uri, strlen(uri), r);
  return 0;
}

static const char *const single_kw[] = {
  "additionalProperties", "propertyNames", "items", "contains", "not", "if", "then", "else",
  "unevaluatedItems", "unevaluatedProperties", "contentSchema", "additionalItems", NULL,
};
static const char *const array_kw[] = { "allOf", "anyOf", "oneOf", "prefixItems", "items", NULL };
static const char *const map_kw[] = {
  "properties", "patternProperties", "$defs", "dependentSchemas", "dependencies", NULL,
};

static int is_kw(const char *const *list, const char *k) {
  for (; *list; list++)
    if (strcmp(*list, k) == 0)
      return 1;
  return 0;
}

static int walk(struct dk__index *idx, json_t *node, struct dk__resource *res, struct dk_buf *ptr,
                unsigned depth, char *err);

static int walk_child(struct dk__index *idx, json_t *child, struct dk__resource *res,
                      struct dk_buf *ptr, const char *t1, size_t n1, const char *t2, size_t n2,
                      unsigned depth, char *err) {
  size_t keep = ptr->len;
  dk__ptr_append(ptr, t1, n1);
  if (t2)
    dk__ptr_append(ptr, t2, n2);
  int r = walk(idx, child, res, ptr, depth + 1, err);
  ptr->len = keep;
  if (ptr->data)
    ptr->data[keep] = 0;
  return r;
}

static int walk(struct dk__index *idx, json_t *node, struct dk__resource *res, struct dk_buf *ptr,
                unsigned depth, char *err) {
  if (!json_is_object(node))
    return 0;
  if (depth > 2048)
    return dk_failf(err, DK_ESCHEMA, "schema nested too deeply at %s#%s", res->uri, dk_buf_cstr(ptr));
  json_t *id = json_object_get(node, "$id");
  struct dk_buf sub = {0};
  if (json_is_string(id) && res->schema != node) {
    const char *frag;
    char *full = dk__uri_resolve(res->uri, json_string_value(id));
    char *base = dk__uri_strip_fragment(full, &frag);
    if (json_string_value(id)[0] == '#') {
      /* an older draft's location-independent identifier */
      if (frag && *frag)
        dk__map_put(&res->anchors, frag, strlen(frag), node);
    } else {
      json_t *sch = json_object_get(node, "$schema");
      res = resource_new(idx, base, node, json_is_string(sch) ? json_string_value(sch) : res->metaschema);
      int r = alias(idx, base, res, err);
      if (r) {
        free(full);
        free(base);
        return r;
      }
      ptr = &sub;
    }
    free(full);
    free(base);
  }
  struct dk__loc *loc = dk_malloc(sizeof *loc);
  loc->res = res;
  loc->ptr = dk_strdup(dk_buf_cstr(ptr));
  struct dk__loc *old = dk__map_get(&idx->locs, DK__PTRKEY(node));
  if (old)
    loc_free(old);
  dk__map_put(&idx->locs, DK__PTRKEY(node), loc);
  json_t *a = json_object_get(node, "$anchor");
  if (json_is_string(a))
    dk__map_put(&res->anchors, json_string_value(a), json_string_length(a), node);
  a = json_object_get(node, "$dynamicAnchor");
  if (json_is_string(a)) {
    dk__map_put(&res->anchors, json_string_value(a), json_string_length(a), node);
    dk__map_put(&res->dyn, json_string_value(a), json_string_length(a), node);
  }
  const char *k;
  size_t klen;
  json_t *v;
  int r = 0;
  json_object_keylen_foreach(node, k, klen, v) {
    if (is_kw(single_kw, k) && json_is_object(v)) {
      r = walk_child(idx, v, res, ptr, k, klen, NULL, 0, depth, err);
    } else if (is_kw(array_kw, k) && json_is_array(v)) {
      for (size_t i = 0; i < json_array_size(v) && !r; i++) {
        char n[32];
        int nl = snprintf(n, sizeof n, "%zu", i);
        r = walk_child(idx, json_array_get(v, i), res, ptr, k, klen, n, (size_t)nl, depth, err);
      }
    } else if (is_kw(map_kw, k) && json_is_object(v)) {
      const char *k2;
      size_t k2len;
      json_t *v2;
      json_object_keylen_foreach(v, k2, k2len, v2) {
        r = walk_child(idx, v2, res, ptr, k, klen, k2, k2len, depth, err);
        if (r)
          break;
      }
    }
    if (r)
      break;
  }
  dk_buf_free(&sub);
  return r;
}

/* Index a document's resources, anchors and schema locations. Returns 0,
 * DK_EEXIST (two different schemas claim one $id) or DK_ESCHEMA. */
int dk__index_doc(struct dk__index *idx, json_t *doc, const char *uri, char *err) {
  json_t *id = json_object_get(doc, "$id");
  json_t *sch = json_object_get(doc, "$schema");
  if (!uri && !json_is_string(id))
    return dk_failf(err, DK_ESCHEMA, "the schema has no URI and no $id");
  char *full = dk__uri_resolve(uri, json_is_string(id) ? json_string_value(id) : "");
  char *base = dk__uri_strip_fragment(full, NULL);
  free(full);
  struct dk__resource *res = resource_new(idx, base, doc, json_is_string(sch) ? json_string_value(sch) : DK__META_2020);
  int r = alias(idx, base, res, err);
  if (!r && uri) {
    char *u = dk__uri_strip_fragment(uri, NULL);
    r = alias(idx, u, res, err);
    free(u);
  }
  free(base);
  struct dk_buf ptr = {0};
  if (!r)
    r = walk(idx, doc, res, &ptr, 0, err);
  dk_buf_free(&ptr);
  return r;
}

/* --- the registry -------------------------------------------------------- */

extern const unsigned char dk__meta_schema[], dk__meta_core[], dk__meta_applicator[],
    dk__meta_unevaluated[], dk__meta_validation[], dk__meta_meta_data[],
    dk__meta_format_annotation[], dk__meta_format_assertion[], dk__meta_content[];
extern const size_t dk__meta_schema_len, dk__meta_core_len, dk__meta_applicator_len,
    dk__meta_unevaluated_len, dk__meta_validation_len, dk__meta_meta_data_len,
    dk__meta_format_annotation_len, dk__meta_format_assertion_len, dk__meta_content_len;

/* A registry holding the built-in 2020-12 metaschemas. */
struct dk_registry *dk_registry_new(void) {
  static const struct { const unsigned char *data; const size_t *len; } builtin[] = {
    { dk__meta_schema, &dk__meta_schema_len },
    { dk__meta_core, &dk__meta_core_len },
    { dk__meta_applicator, &dk__meta_applicator_len },
    { dk__meta_unevaluated, &dk__meta_unevaluated_len },
    { dk__meta_validation, &dk__meta_validation_len },
    { dk__meta_meta_data, &dk__meta_meta_data_len },
    { dk__meta_format_annotation, &dk__meta_format_annotation_len },
    { dk__meta_format_assertion, &dk__meta_format_assertion_len },
    { dk__meta_content, &dk__meta_content_len },
  };
  struct dk_registry *reg = dk_calloc(1, sizeof *reg);
  for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++) {
    char err[DK_ERRBUF_SIZE];
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)builtin[i].data, *builtin[i].len, 0, &jerr);
    if (!doc || dk_registry_add(reg, NULL, doc, err) != 0)
      abort(); /* the build embedded a broken metaschema */
    json_decref(doc);
  }
  return reg;
}

static void schema_free_cb(void *p) {
  dk_schema_free(p);
}

/* Free the registry, its cached metaschemas and its document references. */
void dk_registry_free(struct dk_registry *reg) {
  if (!reg)
    return;
  dk__map_free(&reg->meta, schema_free_cb);
  dk__index_free(&reg->idx);
  for (size_t i = 0; i < reg->ndocs; i++)
    json_decref(reg->docs[i]);
  free(reg->docs);
  free(reg);
}

/* Register doc (indexed first, merged only when nothing conflicts). */
int dk_registry_add(struct dk_registry *reg, const char *uri, json_t *doc, char *err) {
  if (!json_is_object(doc) && !json_is_boolean(doc))
    return dk_failf(err, DK_ESCHEMA, "a schema must be an object or a boolean");
  if (uri && strchr(uri, '#') && strchr(uri, '#')[1])
    return dk_failf(err, DK_ESCHEMA, "the URI %s has a fragment", uri);
  if (!uri) {
    struct uparts u;
    json_t *id = json_object_get(doc, "$id");
    usplit(json_is_string(id) ? json_string_value(id) : "", &u);
    if (!u.scheme)
      return dk_failf(err, DK_ESCHEMA, "the schema has no URI and no absolute $id");
  }
  struct dk__index tmp = {0};
  int r = dk__index_doc(&tmp, doc, uri, err);
  if (r) {
    dk__index_free(&tmp);
    return r == DK_EEXIST ? r : DK_ESCHEMA;
  }
  int fresh = 0;
  for (size_t i = 0; i < tmp.uris.cap && !r; i++) {
    struct dk__map_ent *e = &tmp.uris.ents[i];
    if (!e->key)
      continue;
    struct dk__resource *mine = e->val, *old = dk__map_get(&reg->idx.uris, e->key, e->klen);
    if (!old)
      fresh = 1;
    else if (old->schema != mine->schema && !json_equal(old->schema, mine->schema))
      r = dk_failf(err, DK_EEXIST, "%s is already registered with a different schema", e->key);
  }
  if (r || !fresh) {
    dk__index_free(&tmp);
    return r;
  }
  for (size_t i = 0; i < tmp.uris.cap; i++) {
    struct dk__map_ent *e = &tmp.uris.ents[i];
    if (e->key && !dk__map_get(&reg->idx.uris, e->key, e->klen))
      dk__map_put(&reg->idx.uris, e->key, e->klen, e->val);
  }
  for (size_t i = 0; i < tmp.locs.cap; i++) {
    struct dk__map_ent *e = &tmp.locs.ents[i];
    if (!e->key)
      continue;
    struct dk__loc *old = dk__map_get(&reg->idx.locs, e->key, e->klen);
    if (old)
      loc_free(old);
    dk__map_put(&reg->idx.locs, e->key, e->klen, e->val);
  }
  dk__map_free(&tmp.locs, NULL);
  dk__map_free(&tmp.uris, NULL);
  reg->idx.res = dk_realloc(reg->idx.res, (reg->idx.nres + tmp.nres) * sizeof *reg->idx.res);
  memcpy(reg->idx.res + reg->idx.nres, tmp.res, tmp.nres * sizeof *tmp.res);
  reg->idx.nres += tmp.nres;
  free(tmp.res);
  reg->docs = dk_realloc(reg->docs, (reg->ndocs + 1) * sizeof *reg->docs);
  reg->docs[reg->ndocs++] = json_incref(doc);
  return 0;
}

static int add_tree(struct dk_registry *reg, const char *dir, const char *rel, const char *base_uri,
                    char *err) {
  char *path = *rel ? dk_asprintf("%s/%s", dir, rel) : dk_strdup(dir);
  struct dirent **ents;
  int n = scandir(path, &ents, NULL, alphasort);
  if (n < 0) {
    dk_failf(err, DK_EIO, "cannot read the folder %s", path);
    free(path);
    return DK_EIO;
  }
  int r = 0;
  for (int i = 0; i < n; i++) {
    const char *name = ents[i]->d_name;
    if (!r && name[0] != '.') {
      char *sub = *rel ? dk_asprintf("%s/%s", rel, name) : dk_strdup(name);
      char *full = dk_asprintf("%s/%s", path, name);
      struct stat st;
      size_t nl = strlen(name);
      if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
        r = add_tree(reg, dir, sub, base_uri, err);
      } else if (nl > 5 && strcmp(name + nl - 5, ".json") == 0) {
        json_error_t jerr;
        json_t *doc = json_load_file(full, JSON_ALLOW_NUL, &jerr);
        if (!doc) {
          r = dk_failf(err, DK_EPARSE, "%s:%d: %s", full, jerr.line, jerr.text);
        } else {
          char *uri = dk_asprintf("%s%s", base_uri, sub);
          r = dk_registry_add(reg, uri, doc, err);
          free(uri);
          json_decref(doc);
        }
      }
      free(sub);
      free(full);
    }
    free(ents[i]);
  }
  free(ents);
  free(path);
  return r;
}

/* Register every *.json under dir as base_uri + relative path. */
int dk_registry_add_dir(struct dk_registry *reg, const char *dir, const char *base_uri, char *err) {
  return add_tree(reg, dir, "", base_uri, err);
}

/* The resource at an absolute URI: the overlay wins over the registry. */
struct dk__resource *dk__lookup(const struct dk_registry *reg, const struct dk__index *ov,
                                const char *uri) {
  struct dk__resource *r = ov ? dk__map_get(&ov->uris, uri, strlen(uri)) : NULL;
  return r ? r : dk__map_get(&reg->idx.uris, uri, strlen(uri));
}

/* Where an indexed schema object sits, or NULL. */
struct dk__loc *dk__loc_of(const struct dk_registry *reg, const struct dk__index *ov,
                           const json_t *node) {
  struct dk__loc *l = ov ? dk__map_get(&ov->locs, DK__PTRKEY(node)) : NULL;
  return l ? l : dk__map_get(&reg->idx.locs, DK__PTRKEY(node));
}

/* The compiled metaschema for uri, compiled once per registry. */
struct dk_schema *dk__metaschema(struct dk_registry *reg, const char *uri, char *err) {
  struct dk_schema *s = dk__map_get(&reg->meta, uri, strlen(uri));
  if (s)
    return s;
  struct dk__resource *res = dk__lookup(reg, NULL, uri);
  if (!res) {
    dk_failf(err, DK_ESCHEMA, "unknown metaschema %s", uri);
    return NULL;
  }
  struct dk_schema_opts o = { 0, 0, 0 };
  if (dk_schema_compile(reg, res->schema, uri, &o, &s, err) != 0)
    return NULL;
  dk__map_put(&reg->meta, uri, strlen(uri), s);
  return s;
}

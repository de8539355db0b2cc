/* Written by hand on libyaml's events: duikou's configuration errors need
 * every value's line and column, and its own typing, duplicate-key check and
 * alias budget, which no YAML-to-JSON library gives. */
#include "yamldoc.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Expansion of aliases can make a tiny file describe billions of nodes; no
 * configuration comes close to this. */
#define DK__YAML_MAX_NODES 100000
/* Conversion recurses once per level; keep the stack bounded. */
#define DK__YAML_MAX_DEPTH 256

#define TAG_PREFIX "tag:yaml.org,2002:"

/* Pass 1 builds this tree from libyaml events (aliases point at the anchored
 * node); pass 2 turns it into jansson values, expanding aliases under a node
 * budget. Splitting the two keeps anchors cheap and the budget exact. */
enum { N_SCALAR, N_SEQ, N_MAP, N_ALIAS };

struct ynode {
  int kind;
  size_t line, col;
  char *text;    /* scalar value */
  size_t len;
  char *tag;     /* explicit tag, or NULL */
  bool plain;    /* plain style and no explicit tag: resolve by core schema */
  struct ynode **kids; /* seq items, or map key, value, key, value, ... */
  size_t nkids, cap;
  struct ynode *target; /* alias */
  size_t idx;    /* position in dk__yctx.all */
};

struct dk__yctx {
  struct dk_yamldoc *doc;
  struct ynode **all; /* every node, for freeing */
  size_t nall, capall;
  struct ynode **stack;
  size_t nstack, capstack;
  char **anchors; /* anchor name per stack level, or NULL */
  json_t *anchor_map; /* name -> index into all */
  struct ynode *root;
  size_t count; /* nodes produced in pass 2 */
  bool expanded;
  const struct ynode *alias; /* outermost alias being expanded, for messages */
  char *path; /* current JSON Pointer in pass 2 */
  size_t pathlen, pathcap;
};

static int dk__grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * elem);
  if (q == NULL) return DK_ENOMEM;
  *p = q;
  *cap = n;
  return 0;
}

static const char *dk__excerpt(char out[80], const char *s, size_t len) {
  return dk_excerpt(out, 72, s, len);
}

static int dk__fail_at(struct dk__yctx *c, int code, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int dk__fail_at(struct dk__yctx *c, int code, size_t line, size_t col, const char *fmt, ...) {
  char msg[DK_ERRBUF_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return dk_failf(c->doc->err, code, "%s:%zu:%zu: %s", c->doc->name, line, col, msg);
}

static struct ynode *dk__node_new(struct dk__yctx *c, int kind, yaml_mark_t mark) {
  if (dk__grow((void **)&c->all, &c->capall, c->nall + 1, sizeof *c->all)) return NULL;
  struct ynode *n = calloc(1, sizeof *n);
  if (n == NULL) return NULL;
  n->kind = kind;
  n->line = mark.line + 1;
  n->col = mark.column + 1;
  n->idx = c->nall;
  c->all[c->nall++] = n;
  return n;
}

static void dk__node_free(struct ynode *n) {
  free(n->text);
  free(n->tag);
  free(n->kids);
  free(n);
}

/* Hand a finished node to its parent (or make it the root). */
static int dk__attach(struct dk__yctx *c, struct ynode *n) {
  if (c->nstack == 0) {
    c->root = n;
    return 0;
  }
  struct ynode *p = c->stack[c->nstack - 1];
  if (dk__grow((void **)&p->kids, &p->cap, p->nkids + 1, sizeof *p->kids)) return DK_ENOMEM;
  p->kids[p->nkids++] = n;
  return 0;
}

/* Anchors are registered once their node is complete, so an alias can never
 * refer to a node that contains it. */
static int dk__register(struct dk__yctx *c, const yaml_char_t *anchor, struct ynode *n) {
  if (anchor == NULL) return 0;
  json_t *idx = json_integer((json_int_t)n->idx);
  if (idx == NULL || json_object_set_new(c->anchor_map, (const char *)anchor, idx)) return DK_ENOMEM;
  return 0;
}

static int dk__push(struct dk__yctx *c, struct ynode *n, const yaml_char_t *anchor) {
  if (c->nstack >= DK__YAML_MAX_DEPTH)
    return dk__fail_at(c, DK_EPARSE, n->line, n->col, "nesting too deep");
  size_t cap = c->capstack;
  if (dk__grow((void **)&c->stack, &c->capstack, c->nstack + 1, sizeof *c->stack)) return DK_ENOMEM;
  if (cap != c->capstack) {
    /* anchors has the same capacity as stack */
    char **a = realloc(c->anchors, c->capstack * sizeof *a);
    if (a == NULL) return DK_ENOMEM;
    c->anchors = a;
  }
  c->anchors[c->nstack] = NULL;
  if (anchor != NULL && (c->anchors[c->nstack] = strdup((const char *)anchor)) == NULL)
    return DK_ENOMEM;
  c->stack[c->nstack++] = n;
  return 0;
}

static int dk__pop(struct dk__yctx *c) {
  struct ynode *n = c->stack[--c->nstack];
  char *anchor = c->anchors[c->nstack];
  c->anchors[c->nstack] = NULL;
  int rc = dk__register(c, (const yaml_char_t *)anchor, n);
  free(anchor);
  return rc ? rc : dk__attach(c, n);
}

static int dk__set_tag(struct ynode *n, const yaml_char_t *tag) {
  if (tag == NULL) return 0;
  n->tag = strdup((const char *)tag);
  return n->tag ? 0 : DK_ENOMEM;
}

/* Turn libyaml's failure into "FILE:LINE:COLUMN: problem (context)". */
static int dk__parser_error(struct dk__yctx *c, const yaml_parser_t *p, const char *text, size_t len) {
  if (p->error == YAML_MEMORY_ERROR) return dk_failf(c->doc->err, DK_ENOMEM, "%s: out of memory", c->doc->name);
  size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
  if (p->error == YAML_READER_ERROR) {
    /* reader errors only carry a byte offset */
    line = 1;
    col = 1;
    for (size_t i = 0; i < p->problem_offset && i < len; i++) {
      if (text[i] == '\n') {
        line++;
        col = 1;
      } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
        col++;
      }
    }
  }
  const char *problem = p->problem ? p->problem : "syntax error";
  if (p->context)
    return dk__fail_at(c, DK_EPARSE, line, col, "%s (%s)", problem, p->context);
  return dk__fail_at(c, DK_EPARSE, line, col, "%s", problem);
}

/* A scalar event: its node, attached to its parent, its anchor registered.
 * Returns 0 or DK_ENOMEM; the node belongs to c either way. */
static int dk__on_scalar(struct dk__yctx *c, const yaml_event_t *ev) {
  struct ynode *n = dk__node_new(c, N_SCALAR, ev->start_mark);
  if (n == NULL) return DK_ENOMEM;
  n->len = ev->data.scalar.length;
  n->text = malloc(n->len + 1);
  if (n->text == NULL) return DK_ENOMEM;
  memcpy(n->text, ev->data.scalar.value, n->len);
  n->text[n->len] = '\0';
  n->plain = ev->data.scalar.tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  int rc;
  if ((rc = dk__set_tag(n, ev->data.scalar.tag)) == 0 && (rc = dk__register(c, ev->data.scalar.anchor, n)) == 0)
    rc = dk__attach(c, n);
  return rc;
}

/* A sequence or mapping start event: its node, pushed until its end event.
 * Returns 0, DK_EPARSE (said) when nested too deep, or DK_ENOMEM. */
static int dk__on_start(struct dk__yctx *c, const yaml_event_t *ev) {
  bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
  struct ynode *n = dk__node_new(c, seq ? N_SEQ : N_MAP, ev->start_mark);
  if (n == NULL) return DK_ENOMEM;
  const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
  const yaml_char_t *anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
  int rc = dk__set_tag(n, tag);
  return rc ? rc : dk__push(c, n, anchor);
}

/* An alias event: a node pointing at the node anchored before it. Returns
 * 0, DK_EPARSE (said) for an unknown anchor, or DK_ENOMEM. */
static int dk__on_alias(struct dk__yctx *c, const yaml_event_t *ev) {
  char ex[80];
  json_t *idx = json_object_get(c->anchor_map, (const char *)ev->data.alias.anchor);
  if (idx == NULL)
    return dk__fail_at(c, DK_EPARSE, ev->start_mark.line + 1, ev->start_mark.column + 1,
                       "alias *%s refers to no anchor defined before it",
                       dk__excerpt(ex, (const char *)ev->data.alias.anchor,
                                   strlen((const char *)ev->data.alias.anchor)));
  struct ynode *n = dk__node_new(c, N_ALIAS, ev->start_mark);
  if (n == NULL) return DK_ENOMEM;
  n->target = c->all[json_integer_value(idx)];
  return dk__attach(c, n);
}

/* One event into the tree; *docs counts the documents, *done is set at the
 * end of the stream. Returns 0, or an error (said, but for DK_ENOMEM). */
static int dk__on_event(struct dk__yctx *c, const yaml_event_t *ev, int *docs, bool *done) {
  switch (ev->type) {
  case YAML_STREAM_END_EVENT:
    *done = true;
    return 0;
  case YAML_DOCUMENT_START_EVENT:
    if (++*docs > 1)
      return dk__fail_at(c, DK_EPARSE, ev->start_mark.line + 1, ev->start_mark.column + 1,
                         "more than one document in the file");
    return 0;
  case YAML_SCALAR_EVENT:
    return dk__on_scalar(c, ev);
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT:
    return dk__on_start(c, ev);
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    return dk__pop(c);
  case YAML_ALIAS_EVENT:
    return dk__on_alias(c, ev);
  default:
    return 0;
  }
}

/* Pass 1: events to the node tree (in c). Returns 0, or an error said in
 * c->doc->err. */
static int dk__build(struct dk__yctx *c, const char *text, size_t len) {
  yaml_parser_t parser;
  yaml_event_t ev;
  int rc = 0, docs = 0;
  bool done = false;
  if (!yaml_parser_initialize(&parser)) return dk_failf(c->doc->err, DK_ENOMEM, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  while (!done && rc == 0) {
    if (!yaml_parser_parse(&parser, &ev)) {
      rc = dk__parser_error(c, &parser, text, len);
      break;
    }
    rc = dk__on_event(c, &ev, &docs, &done);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&parser);
  if (rc == DK_ENOMEM && c->doc->err[0] == '\0') dk_failf(c->doc->err, rc, "%s: out of memory", c->doc->name);
  return rc;
}

static bool dk__is_digits(const char *s, const char *digits) {
  if (*s == '\0') return false;
  for (; *s; s++)
    if (strchr(digits, *s) == NULL) return false;
  return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool dk__is_float(const char *s) {
  size_t i = 0, d = 0;
  if (s[i] == '-' || s[i] == '+') i++;
  while (s[i] >= '0' && s[i] <= '9') i++, d++;
  if (s[i] == '.') {
    i++;
    while (s[i] >= '0' && s[i] <= '9') i++, d++;
  }
  if (d == 0) return false;
  if (s[i] == 'e' || s[i] == 'E') {
    i++;
    if (s[i] == '-' || s[i] == '+') i++;
    if (!(s[i] >= '0' && s[i] <= '9')) return false;
    while (s[i] >= '0' && s[i] <= '9') i++;
  }
  return s[i] == '\0';
}

static bool dk__one_of(const char *s, const char *const *list) {
  for (; *list; list++)
    if (strcmp(s, *list) == 0) return true;
  return false;
}

/* YAML 1.2 core schema. `want` is the explicit tag's short name, or NULL for
 * plain resolution; a value that does not fit the tag is an error. */
static json_t *dk__resolve(struct dk__yctx *c, const struct ynode *n, const char *want) {
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
  static const char *const trues[] = {"true", "True", "TRUE", NULL};
  static const char *const falses[] = {"false", "False", "FALSE", NULL};
  static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                     "-.inf", "-.Inf", "-.INF", NULL};
  static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
  const char *s = n->text;
  const char *type = "str";
  char ex[80];
  json_t *v = NULL;
  bool embedded_nul = strlen(s) != n->len;

  if (!embedded_nul && dk__one_of(s, nulls)) {
    type = "null";
    v = json_null();
  } else if (!embedded_nul && (dk__one_of(s, trues) || dk__one_of(s, falses))) {
    type = "bool";
    v = json_boolean(dk__one_of(s, trues));
  } else if (!embedded_nul && (dk__is_digits(s + (*s == '-' || *s == '+'), "0123456789") ||
                               (strncmp(s, "0x", 2) == 0 && dk__is_digits(s + 2, "0123456789abcdefABCDEF")) ||
                               (strncmp(s, "0o", 2) == 0 && dk__is_digits(s + 2, "01234567")))) {
    type = "int";
    if (want == NULL || strcmp(want, "int") == 0 || strcmp(want, "float") == 0) {
      errno = 0;
      json_int_t i;
      if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        unsigned long long u = strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
        if (errno == ERANGE || u > INT64_MAX) errno = ERANGE;
        i = (json_int_t)u;
      } else {
        i = strtoll(s, NULL, 10);
      }
      if (errno == ERANGE) {
        dk__fail_at(c, DK_EPARSE, n->line, n->col, "integer %s is out of range", dk__excerpt(ex, s, n->len));
        return NULL;
      }
      v = want && strcmp(want, "float") == 0 ? json_real((double)i) : json_integer(i);
      if (want) type = want;
    }
  } else if (!embedded_nul && (dk__is_float(s) || dk__one_of(s, infs) || dk__one_of(s, nans))) {
    type = "float";
    if (want == NULL || strcmp(want, "float") == 0) {
      if (dk__one_of(s, nans) || dk__one_of(s, infs)) {
        dk__fail_at(c, DK_EPARSE, n->line, n->col, "%s is not a number JSON can hold", s);
        return NULL;
      }
      double d = strtod(s, NULL);
      if (!isfinite(d)) {
        dk__fail_at(c, DK_EPARSE, n->line, n->col, "number %s is out of range", dk__excerpt(ex, s, n->len));
        return NULL;
      }
      v = json_real(d);
    }
  }
  if (want && strcmp(want, "str") == 0) {
    json_decref(v);
    return json_stringn(n->text, n->len);
  }
  if (want && strcmp(want, type) != 0) {
    json_decref(v);
    dk__fail_at(c, DK_EPARSE, n->line, n->col, "\"%s\" is not a valid !!%s", dk__excerpt(ex, s, n->len), want);
    return NULL;
  }
  if (v == NULL) v = json_stringn(n->text, n->len);
  return v;
}

static json_t *dk__scalar(struct dk__yctx *c, const struct ynode *n) {
  if (n->tag == NULL)
    return n->plain ? dk__resolve(c, n, NULL) : json_stringn(n->text, n->len);
  if (strcmp(n->tag, "!") == 0) return json_stringn(n->text, n->len);
  static const char *const known[] = {"str", "null", "bool", "int", "float", NULL};
  const char *t = n->tag;
  if (strncmp(t, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 && dk__one_of(t + strlen(TAG_PREFIX), known))
    return dk__resolve(c, n, t + strlen(TAG_PREFIX));
  char ex[80];
  dk__fail_at(c, DK_EPARSE, n->line, n->col, "unsupported tag %s", dk__excerpt(ex, t, strlen(t)));
  return NULL;
}

static int dk__path_push(struct dk__yctx *c, const char *key) {
  size_t extra = 1;
  for (const char *p = key; *p; p++) extra += (*p == '~' || *p == '/') ? 2 : 1;
  if (dk__grow((void **)&c->path, &c->pathcap, c->pathlen + extra + 1, 1)) return DK_ENOMEM;
  char *o = c->path + c->pathlen;
  *o++ = '/';
  for (const char *p = key; *p; p++) {
    if (*p == '~') *o++ = '~', *o++ = '0';
    else if (*p == '/') *o++ = '~', *o++ = '1';
    else *o++ = *p;
  }
  *o = '\0';
  c->pathlen = (size_t)(o - c->path);
  return 0;
}

static int dk__set_mark(struct dk__yctx *c, const struct ynode *n) {
  json_t *m = json_pack("[II]", (json_int_t)n->line, (json_int_t)n->col);
  if (m == NULL || json_object_set_new(c->doc->marks, c->path, m)) return DK_ENOMEM;
  return 0;
}

static json_t *dk__convert(struct dk__yctx *c, const struct ynode *n, int depth, int *rc);

/* Pass 2: the node at c->path. Returns NULL with doc->err set on failure;
 * *rc says which failure. */
static json_t *dk__convert_node(struct dk__yctx *c, const struct ynode *n, int depth, int *rc) {
  if (n->kind != N_ALIAS || c->alias != NULL) return dk__convert(c, n, depth, rc);
  c->alias = n;
  c->expanded = true;
  json_t *v = dk__convert(c, n, depth, rc);
  c->alias = NULL;
  return v;
}

static json_t *dk__convert(struct dk__yctx *c, const struct ynode *n, int depth, int *rc) {
  const struct ynode *at = n; /* where the node is written: the alias, if any */
  char num[80];
  if (n->kind == N_ALIAS) n = n->target;
  if (++c->count > DK__YAML_MAX_NODES) {
    const struct ynode *w = c->alias ? c->alias : at;
    *rc = dk__fail_at(c, DK_EPARSE, w->line, w->col, c->expanded ? "too many nodes (alias expansion)"
                                                                 : "too many nodes");
    return NULL;
  }
  if (depth > DK__YAML_MAX_DEPTH) {
    *rc = dk__fail_at(c, DK_EPARSE, at->line, at->col, "nesting too deep");
    return NULL;
  }
  if ((*rc = dk__set_mark(c, at)) != 0) return NULL;
  if (n->kind == N_SCALAR) {
    json_t *v = dk__scalar(c, n);
    if (v == NULL && (*rc = c->doc->err[0] ? DK_EPARSE : DK_ENOMEM) == DK_ENOMEM) return NULL;
    return v;
  }
  if (n->tag && strcmp(n->tag, "!") != 0 &&
      strcmp(n->tag, n->kind == N_SEQ ? TAG_PREFIX "seq" : TAG_PREFIX "map") != 0) {
    *rc = dk__fail_at(c, DK_EPARSE, n->line, n->col, "unsupported tag %s", dk__excerpt(num, n->tag, strlen(n->tag)));
    return NULL;
  }
  json_t *out = n->kind == N_SEQ ? json_array() : json_object();
  if (out == NULL) {
    *rc = DK_ENOMEM;
    return NULL;
  }
  size_t saved = c->pathlen;
  for (size_t i = 0; i < n->nkids; i += (n->kind == N_MAP ? 2 : 1)) {
    const char *key = num;
    const struct ynode *child = n->kids[i];
    if (n->kind == N_SEQ) {
      snprintf(num, sizeof num, "%zu", i);
    } else {
      const struct ynode *k = n->kids[i];
      const struct ynode *kt = k->kind == N_ALIAS ? k->target : k;
      child = n->kids[i + 1];
      if (kt->kind != N_SCALAR) {
        *rc = dk__fail_at(c, DK_EPARSE, k->line, k->col, "a mapping key must be a scalar");
        goto fail;
      }
      if (strlen(kt->text) != kt->len) {
        *rc = dk__fail_at(c, DK_EPARSE, k->line, k->col, "a mapping key must not contain a NUL character");
        goto fail;
      }
      key = kt->text;
      if (json_object_get(out, key) != NULL) {
        *rc = dk__fail_at(c, DK_EPARSE, k->line, k->col, "duplicate key \"%s\"", dk__excerpt(num, key, kt->len));
        goto fail;
      }
    }
    if ((*rc = dk__path_push(c, key)) != 0) goto fail;
    json_t *v = dk__convert_node(c, child, depth + 1, rc);
    c->pathlen = saved;
    c->path[saved] = '\0';
    if (v == NULL) goto fail;
    if (n->kind == N_SEQ ? json_array_append_new(out, v) : json_object_set_new(out, key, v)) {
      *rc = DK_ENOMEM;
      goto fail;
    }
  }
  return out;
fail:
  json_decref(out);
  return NULL;
}

int dk_yamldoc_load_string(struct dk_yamldoc *doc, const char *name, const char *text, size_t len) {
  memset(doc, 0, sizeof *doc);
  struct dk__yctx c = {.doc = doc};
  int rc = DK_ENOMEM;
  doc->name = strdup(name ? name : "<string>");
  doc->marks = json_object();
  c.anchor_map = json_object();
  c.path = calloc(1, 64);
  c.pathcap = 64;
  if (doc->name == NULL || doc->marks == NULL || c.anchor_map == NULL || c.path == NULL) goto out;
  if ((rc = dk__build(&c, text, len)) != 0) goto out;
  if (c.root == NULL) {
    /* no document at all: an empty file */
    struct ynode empty = {.kind = N_SCALAR, .line = 1, .col = 1};
    doc->root = json_null();
    rc = dk__set_mark(&c, &empty);
    goto out;
  }
  doc->root = dk__convert_node(&c, c.root, 0, &rc);
out:
  if (rc == DK_ENOMEM && doc->err[0] == '\0')
    dk_failf(doc->err, rc, "%s: out of memory", doc->name ? doc->name : "<string>");
  if (rc != 0) {
    json_decref(doc->root);
    doc->root = NULL;
  }
  for (size_t i = 0; i < c.nall; i++) dk__node_free(c.all[i]);
  for (size_t i = 0; i < c.nstack; i++) free(c.anchors[i]);
  free(c.all);
  free(c.stack);
  free(c.anchors);
  free(c.path);
  json_decref(c.anchor_map);
  return rc;
}

int dk_yamldoc_load_file(struct dk_yamldoc *doc, const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    int e = errno;
    memset(doc, 0, sizeof *doc);
    doc->name = strdup(path);
    return dk_failf(doc->err, DK_EIO, "%s: cannot open: %s", path, strerror(e));
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (dk__grow((void **)&buf, &cap, len + 4096, 1)) {
      rc = DK_ENOMEM;
      break;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) rc = DK_EIO;
      break;
    }
  }
  int e = errno;
  fclose(f);
  if (rc != 0) {
    free(buf);
    memset(doc, 0, sizeof *doc);
    doc->name = strdup(path);
    return dk_failf(doc->err, rc, "%s: cannot read: %s", path, rc == DK_ENOMEM ? "out of memory" : strerror(e));
  }
  rc = dk_yamldoc_load_string(doc, path, buf ? buf : "", len);
  free(buf);
  return rc;
}

void dk_yamldoc_free(struct dk_yamldoc *doc) {
  if (doc == NULL) return;
  free(doc->name);
  json_decref(doc->root);
  json_decref(doc->marks);
  memset(doc, 0, sizeof *doc);
}

int dk_yamldoc_mark(const struct dk_yamldoc *doc, const char *pointer, int *line, int *column) {
  if (doc == NULL || doc->marks == NULL) return DK_ENOENT;
  size_t len = strlen(pointer);
  char *p = malloc(len + 1);
  if (p == NULL) return DK_ENOMEM;
  memcpy(p, pointer, len + 1);
  for (;;) {
    json_t *m = json_object_get(doc->marks, p);
    if (m != NULL) {
      *line = (int)json_integer_value(json_array_get(m, 0));
      *column = (int)json_integer_value(json_array_get(m, 1));
      free(p);
      return 0;
    }
    char *slash = strrchr(p, '/');
    if (slash == NULL) break;
    *slash = '\0';
  }
  free(p);
  return DK_ENOENT;
}

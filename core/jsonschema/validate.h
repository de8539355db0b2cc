/* The state of a validation walk and the small helpers each part of it
 * uses, shared by validate.c (the walk), validate_container.c (the array
 * and object keywords) and validate_error.c (error records) only. What
 * they call across files is declared in internal.h. */
#ifndef DK_JSONSCHEMA_VALIDATE_H
#define DK_JSONSCHEMA_VALIDATE_H

#include <string.h>

#include "internal.h"
#include "../util.h"

/* Evaluated marks for unevaluatedItems/unevaluatedProperties: one per item
 * (or per member, in the object's iteration order); all: every one; heap:
 * m was allocated (more than validate.c's TRACK_BUF). */
struct dk__track {
  unsigned char *m;
  size_t n;
  int all, heap;
};

enum { HINT_NONE, HINT_PROP, HINT_ITEM, HINT_NAME };

struct dk__vctx {
  struct dk_vresult *res;  /* NULL: stop at the first failure */
  size_t cap;
  unsigned depth, refs, max_depth; /* instance depth, references followed */
  const struct dk__vscope *scope;
  struct dk_buf ipath, kpath;
  int hint;                /* what a false schema is rejecting, for its message */
  const char *hint_key;
  size_t hint_len;
};

/* Locations are kept only when collecting errors: path_push and
 * path_index append keyword a (may be NULL) and a token or an index to p
 * and return the length path_pop goes back to. */
static inline size_t path_push(struct dk__vctx *c, struct dk_buf *p, const char *a, const char *tok, size_t len) {
  if (!c->res)
    return 0;
  size_t old = p->len;
  if (a)
    dk__ptr_append(p, a, strlen(a));
  if (tok)
    dk__ptr_append(p, tok, len);
  return old;
}

static inline size_t path_index(struct dk__vctx *c, struct dk_buf *p, const char *a, size_t i) {
  if (!c->res)
    return 0;
  size_t old = p->len;
  if (a)
    dk__ptr_append(p, a, strlen(a));
  dk_buf_printf(p, "/%zu", i);
  return old;
}

static inline void path_pop(struct dk__vctx *c, struct dk_buf *p, size_t old) {
  if (!c->res)
    return;
  p->len = old;
  if (p->data)
    p->data[old] = 0;
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


/* Validate a child instance (one level deeper). */
static inline int v_child(struct dk__vctx *c, const struct dk__node *parent, const struct dk__node *n, const json_t *inst,
                   const char *kw, int hint, const char *key, size_t klen) {
  if (c->depth >= c->max_depth)
    return dk__v_too_deep(c, parent, kw);
  c->depth++;
  c->hint = hint;
  c->hint_key = key;
  c->hint_len = klen;
  int r = dk__v_node(c, n, inst, NULL);
  c->depth--;
  return r;
}

#endif

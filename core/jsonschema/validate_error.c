/* Error records of a validation that collects them: the locations of the
 * failing keyword and a readable message, and the messages of the failures
 * that need more than one line to word (types, false schemas). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

static void verror(struct dk__vctx *c, const struct dk__node *n, const char *kw, const char *fmt, va_list ap) {
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

/* Record an error (see internal.h). */
void dk__v_error(struct dk__vctx *c, const struct dk__node *n, const char *kw, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(c, n, kw, fmt, ap);
  va_end(ap);
}

void dk__v_truncate_errors(struct dk__vctx *c, size_t mark) {
  while (c->res->nerrors > mark) {
    struct dk_verror *e = &c->res->errors[--c->res->nerrors];
    free(e->instance_location);
    free(e->keyword_location);
    free(e->absolute_keyword_location);
    free(e->message);
  }
}

/* A short rendering of a value for a message, in b (reset first). */
const char *dk__v_show(struct dk_buf *b, const json_t *v) {
  b->len = 0;
  dk__describe(b, v, 80, 0);
  return dk_buf_cstr(b);
}

int dk__v_too_deep(struct dk__vctx *c, const struct dk__node *n, const char *kw) {
  if (c->res)
    dk__v_error(c, n, kw, "nested deeper than the limit of %u", c->max_depth);
  return DK_ETOOBIG;
}

/* A subschema evaluated without error collection hit a limit. */
int dk__v_gave_up(struct dk__vctx *c, const struct dk__node *n, const char *kw) {
  if (c->res)
    dk__v_error(c, n, kw, "could not be evaluated: nesting or pattern matching went past its limit");
  return DK_ETOOBIG;
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

void dk__v_type_error(struct dk__vctx *c, const struct dk__node *n, const json_t *v) {
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
  dk__v_error(c, n, "type", "expected %s, found %s", dk_buf_cstr(&b), type_name(v));
  dk_buf_free(&b);
}

void dk__v_false_error(struct dk__vctx *c, const struct dk__node *n, int hint, const char *key, size_t klen) {
  char ex[128];
  if (hint == HINT_PROP)
    dk__v_error(c, n, NULL, "property \"%s\" is not allowed", dk_excerpt(ex, sizeof ex, key, klen));
  else if (hint == HINT_ITEM)
    dk__v_error(c, n, NULL, "item %zu is not allowed", klen);
  else if (hint == HINT_NAME)
    dk__v_error(c, n, NULL, "property name \"%s\" is not allowed", dk_excerpt(ex, sizeof ex, key, klen));
  else
    dk__v_error(c, n, NULL, "no value is allowed here");
}

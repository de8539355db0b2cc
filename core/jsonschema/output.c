/* Validation results: freeing, the "basic" output unit, and short
 * renderings of values for messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../util.h"

/* Free the errors of a result and reset it. */
void dk_vresult_free(struct dk_vresult *res) {
  if (!res)
    return;
  for (size_t i = 0; i < res->nerrors; i++) {
    free(res->errors[i].instance_location);
    free(res->errors[i].keyword_location);
    free(res->errors[i].absolute_keyword_location);
    free(res->errors[i].message);
  }
  free(res->errors);
  res->errors = NULL;
  res->nerrors = 0;
}

/* The "basic" output unit of a result. New reference. */
json_t *dk_vresult_basic(const struct dk_vresult *res) {
  json_t *out = json_object();
  json_object_set_new(out, "valid", json_boolean(!res || res->nerrors == 0));
  if (!res || res->nerrors == 0)
    return out;
  json_t *errs = json_array();
  for (size_t i = 0; i < res->nerrors; i++) {
    const struct dk_verror *e = &res->errors[i];
    json_t *u = json_object();
    json_object_set_new(u, "instanceLocation", json_string(e->instance_location));
    json_object_set_new(u, "keywordLocation", json_string(e->keyword_location));
    json_object_set_new(u, "absoluteKeywordLocation", json_string(e->absolute_keyword_location));
    json_object_set_new(u, "error", json_string(e->message));
    json_array_append_new(errs, u);
  }
  json_object_set_new(out, "errors", errs);
  return out;
}

static void describe(struct dk_buf *b, const json_t *v, size_t limit, int bare, unsigned depth);

/* A string, excerpted to what is left of limit (at least 16 bytes), quoted
 * unless bare; appended to b. */
static void describe_string(struct dk_buf *b, const json_t *v, size_t limit, int bare) {
  char tmp[160];
  size_t room = limit > b->len ? limit - b->len : 0;
  if (room < 16)
    room = 16;
  if (room > sizeof tmp)
    room = sizeof tmp;
  dk_excerpt(tmp, room, json_string_value(v), json_string_length(v));
  if (bare) {
    dk_buf_puts(b, tmp);
  } else {
    dk_buf_puts(b, "\"");
    dk_buf_puts(b, tmp);
    dk_buf_puts(b, "\"");
  }
}

/* A real in the fewest digits (15 to 17) that read back the same, always
 * with a fraction or exponent; appended to b. */
static void describe_real(struct dk_buf *b, const json_t *v) {
  char tmp[160];
  double d = json_real_value(v);
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d)
      break;
  }
  if (!strpbrk(tmp, ".eEn"))
    strcat(tmp, ".0");
  dk_buf_puts(b, tmp);
}

/* An array, its items until b reaches limit, "[...]" below depth 3;
 * appended to b. */
static void describe_array(struct dk_buf *b, const json_t *v, size_t limit, unsigned depth) {
  size_t n = json_array_size(v);
  if (depth > 3 && n) {
    dk_buf_puts(b, "[...]");
    return;
  }
  dk_buf_puts(b, "[");
  for (size_t i = 0; i < n; i++) {
    if (b->len >= limit) {
      dk_buf_puts(b, "...");
      break;
    }
    if (i)
      dk_buf_puts(b, ", ");
    describe(b, json_array_get(v, i), limit, 0, depth + 1);
  }
  dk_buf_puts(b, "]");
}

/* An object, its members until b reaches limit, "{...}" below depth 3;
 * appended to b. */
static void describe_object(struct dk_buf *b, const json_t *v, size_t limit, unsigned depth) {
  if (depth > 3 && json_object_size(v)) {
    dk_buf_puts(b, "{...}");
    return;
  }
  char tmp[40];
  const char *k;
  size_t klen;
  json_t *x;
  int first = 1;
  dk_buf_puts(b, "{");
  json_object_keylen_foreach((json_t *)v, k, klen, x) {
    if (b->len >= limit) {
      dk_buf_puts(b, "...");
      break;
    }
    if (!first)
      dk_buf_puts(b, ", ");
    first = 0;
    dk_buf_printf(b, "\"%s\": ", dk_excerpt(tmp, sizeof tmp, k, klen));
    describe(b, x, limit, 0, depth + 1);
  }
  dk_buf_puts(b, "}");
}

/* Any value, nested ones up to depth 3, until b reaches limit (strings
 * quoted unless bare); appended to b. */
static void describe(struct dk_buf *b, const json_t *v, size_t limit, int bare, unsigned depth) {
  switch (json_typeof(v)) {
  case JSON_STRING:
    describe_string(b, v, limit, bare);
    break;
  case JSON_INTEGER:
    dk_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    break;
  case JSON_REAL:
    describe_real(b, v);
    break;
  case JSON_TRUE:
    dk_buf_puts(b, "true");
    break;
  case JSON_FALSE:
    dk_buf_puts(b, "false");
    break;
  case JSON_NULL:
    dk_buf_puts(b, "null");
    break;
  case JSON_ARRAY:
    describe_array(b, v, limit, depth);
    break;
  case JSON_OBJECT:
    describe_object(b, v, limit, depth);
    break;
  }
}

/* Append a short rendering of v (strings quoted unless bare). */
void dk__describe(struct dk_buf *b, const json_t *v, size_t budget, int bare) {
  describe(b, v, b->len + budget, bare, 0);
}

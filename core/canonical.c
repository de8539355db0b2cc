#include "canonical.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void dk_canonical_real(double d, char *out, size_t n) {
  if (d == floor(d) && fabs(d) < 9007199254740992.0) {
    snprintf(out, n, "%.0f", d == 0 ? 0.0 : d); /* -0 prints as 0 */
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, d);
    if (strtod(out, NULL) == d) return;
  }
}

static void dk__indent(struct dk_buf *b, int depth) {
  static const char spaces[] = "                                ";
  size_t n = (size_t)depth * 2;
  while (n > 0) {
    size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
    dk_buf_append(b, spaces, k);
    n -= k;
  }
}

static void dk__string(struct dk_buf *b, const char *s, size_t len) {
  dk_buf_append(b, "\"", 1);
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char tmp[8];
    switch (c) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\b': esc = "\\b"; break;
      case '\f': esc = "\\f"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          snprintf(tmp, sizeof tmp, "\\u%04x", c);
          esc = tmp;
        }
    }
    if (esc) {
      dk_buf_append(b, s + start, i - start);
      dk_buf_puts(b, esc);
      start = i + 1;
    }
  }
  dk_buf_append(b, s + start, len - start);
  dk_buf_append(b, "\"", 1);
}

static int dk__keycmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void dk__value(struct dk_buf *b, const json_t *v, int depth) {
  char num[64];
  switch (json_typeof(v)) {
    case JSON_NULL: dk_buf_puts(b, "null"); break;
    case JSON_TRUE: dk_buf_puts(b, "true"); break;
    case JSON_FALSE: dk_buf_puts(b, "false"); break;
    case JSON_INTEGER:
      snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      dk_buf_puts(b, num);
      break;
    case JSON_REAL:
      dk_canonical_real(json_real_value(v), num, sizeof num);
      dk_buf_puts(b, num);
      break;
    case JSON_STRING:
      dk__string(b, json_string_value(v), json_string_length(v));
      break;
    case JSON_ARRAY: {
      size_t n = json_array_size(v);
      if (n == 0) { dk_buf_puts(b, "[]"); break; }
      dk_buf_puts(b, "[\n");
      for (size_t i = 0; i < n; i++) {
        dk__indent(b, depth + 1);
        dk__value(b, json_array_get(v, i), depth + 1);
        dk_buf_puts(b, i + 1 < n ? ",\n" : "\n");
      }
      dk__indent(b, depth);
      dk_buf_puts(b, "]");
      break;
    }
    case JSON_OBJECT: {
      size_t n = json_object_size(v);
      if (n == 0) { dk_buf_puts(b, "{}"); break; }
      const char **keys = dk_malloc(n * sizeof *keys);
      size_t k = 0;
      const char *key;
      json_t *val;
      json_object_foreach((json_t *)v, key, val) keys[k++] = key;
      qsort(keys, k, sizeof *keys, dk__keycmp);
      dk_buf_puts(b, "{\n");
      for (size_t i = 0; i < k; i++) {
        dk__indent(b, depth + 1);
        dk__string(b, keys[i], strlen(keys[i]));
        dk_buf_puts(b, ": ");
        dk__value(b, json_object_get(v, keys[i]), depth + 1);
        dk_buf_puts(b, i + 1 < k ? ",\n" : "\n");
      }
      free(keys);
      dk__indent(b, depth);
      dk_buf_puts(b, "}");
      break;
    }
  }
}

char *dk_canonical_dump(const json_t *value, size_t *len) {
  struct dk_buf b = {0};
  dk__value(&b, value, 0);
  dk_buf_append(&b, "\n", 1);
  if (len) *len = b.len;
  return dk_buf_steal(&b);
}

char *dk_value_short(const json_t *value, size_t max) {
  if (value == NULL) return dk_strdup("(none)");
  char *s = json_is_string(value) ? dk_strdup(json_string_value(value))
                                  : json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
  if (s == NULL) return dk_strdup("?");
  if (max < 8) max = 8;
  char *out = dk_malloc(max + 4);
  dk_excerpt(out, max + 4, s, strlen(s));
  free(s);
  return out;
}

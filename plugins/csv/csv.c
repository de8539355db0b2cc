/* csv: records from CSV exports (RFC 4180).
 *
 * The first row is the header; `options.columns` maps header names to record
 * fields (a header that already is a field name maps to itself). Bytes are
 * split into rows before they are decoded, with the scanner stepping over
 * whole GBK/GB18030 characters, because a GBK trail byte can equal an ASCII
 * delimiter such as '|'. Each field is then decoded to UTF-8 on its own, so
 * one undecodable row is rejected and the rest go on. An HTML page (a login
 * form in front of the export) is refused first, see common/content_type.h. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <duikou/plugin.h>

#include "common/buf.h"
#include "common/content_type.h"

enum csv_enc { ENC_UTF8, ENC_GBK, ENC_GB18030 };

enum csv_type { T_STRING, T_INTEGER, T_NUMBER, T_BOOLEAN, T_DATETIME, T_DATE };

struct csv {
  enum csv_enc enc;
  char delim;
  bool progress; /* kind is "progress": task/status/period rules apply */
  char *kind;
  char *id;          /* id template, or NULL */
  char *period_from; /* field, or NULL */
  char *task_prefix; /* "jnly-2024/", or NULL */
  char *timezone;    /* "+08:00" */
  char *city;        /* the source's city */
  json_t *columns;   /* header → field (owned copies) */
  json_t *constants;
  json_t *types;
  json_t *content_types; /* allow-list, or NULL: all but HTML */
  iconv_t cd; /* to UTF-8; (iconv_t)-1 for UTF-8 input */
};

static const char options_schema[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\", \"additionalProperties\": false,"
    " \"properties\": {"
    "  \"encoding\": {\"enum\": [\"UTF-8\", \"GBK\", \"GB18030\"], \"default\": \"UTF-8\","
    "               \"description\": \"encoding of the file; a UTF-8 byte order mark is skipped\"},"
    "  \"delimiter\": {\"type\": \"string\", \"pattern\": \"^[\\\\t !#$%&'()*+,./:;<=>?@^_`|~-]$\","
    "                \"default\": \",\"},"
    "  \"kind\": {\"enum\": [\"progress\", \"task\", \"plan\", \"unit\"], \"default\": \"progress\"},"
    "  \"columns\": {\"type\": \"object\","
    "              \"additionalProperties\": {\"type\": \"string\", \"pattern\": \"^[a-z_][a-z0-9_]*$\"},"
    "              \"description\": \"header name → record field\"},"
    "  \"constants\": {\"type\": \"object\","
    "                \"additionalProperties\": {\"type\": [\"string\", \"number\", \"boolean\"]},"
    "                \"description\": \"fields set on every record (they win over columns)\"},"
    "  \"types\": {\"type\": \"object\","
    "            \"additionalProperties\": {\"enum\": [\"integer\", \"number\", \"string\", \"boolean\","
    "                                                \"datetime\", \"date\"]}},"
    "  \"id\": {\"type\": \"string\", \"minLength\": 1,"
    "         \"description\": \"id template such as {task}/{city}/{period}\"},"
    "  \"period_from\": {\"type\": \"string\", \"pattern\": \"^[a-z_][a-z0-9_]*$\"},"
    "  \"task_prefix\": {\"type\": \"string\", \"pattern\": \"^[a-z0-9][a-z0-9._-]*/$\"},"
    "  \"timezone\": {\"type\": \"string\", \"pattern\": \"^(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])$\","
    "               \"default\": \"+08:00\"},"
    "  " DK_CT_OPTION_SCHEMA
    " }}";

static const char *const progress_fields[] = {"kind", "id", "task", "city", "period", "status", "percent",
                                              "summary", "unit", "reported_at", "updated_at", NULL};

/* --- small helpers ------------------------------------------------------ */

static char *xstrdup(const char *s) {
  return s ? strdup(s) : NULL;
}

/* Strict UTF-8 without NUL: the length of the sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  return n > 0 && p[0] != 0 ? dk_utf8_len(p, n) : 0;
}

/* Decode n bytes to a NUL-terminated UTF-8 string. Returns NULL when the
 * bytes are not valid in the encoding (or hold a NUL), or out of memory. */
static char *decode(struct csv *c, const char *s, size_t n) {
  if (c->enc == ENC_UTF8) {
    for (size_t i = 0; i < n;) {
      size_t k = utf8_seq((const unsigned char *)s + i, n - i);
      if (k == 0) return NULL;
      i += k;
    }
    char *out = malloc(n + 1);
    if (out == NULL) return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
  }
  if (memchr(s, '\0', n) != NULL) return NULL;
  size_t cap = n * 3 + 4; /* GBK's one-byte 0x80 (€) takes three in UTF-8 */
  char *out = malloc(cap);
  if (out == NULL) return NULL;
  char *in = (char *)s, *o = out;
  size_t inleft = n, outleft = cap - 1;
  iconv(c->cd, NULL, NULL, NULL, NULL);
  if (iconv(c->cd, &in, &inleft, &o, &outleft) == (size_t)-1 || iconv(c->cd, NULL, NULL, &o, &outleft) == (size_t)-1) {
    free(out);
    return NULL;
  }
  *o = '\0';
  return out;
}

/* Raw bytes of a row as UTF-8 for the quarantine: what decodes is decoded,
 * each undecodable byte becomes U+FFFD. NULL only when out of memory. */
static char *decode_lossy(struct csv *c, const char *s, size_t n) {
  static const char repl[] = "\xEF\xBF\xBD";
  struct dk_pbuf b = {0};
  if (!dk_pbuf_add(&b, "", 0)) return NULL;
  size_t i = 0;
  while (i < n) {
    if (c->enc == ENC_UTF8) {
      size_t k = utf8_seq((const unsigned char *)s + i, n - i);
      if (!(k ? dk_pbuf_add(&b, s + i, k) : dk_pbuf_add(&b, repl, 3))) goto oom;
      i += k ? k : 1;
      continue;
    }
    char tmp[256], *in = (char *)s + i, *o = tmp;
    size_t inleft = n - i, outleft = sizeof tmp;
    iconv(c->cd, NULL, NULL, NULL, NULL);
    size_t r = iconv(c->cd, &in, &inleft, &o, &outleft);
    int e = errno;
    if (!dk_pbuf_add(&b, tmp, (size_t)(o - tmp))) goto oom;
    i = (size_t)(in - s);
    if (r == (size_t)-1 && e != E2BIG) {
      if (!dk_pbuf_add(&b, repl, 3)) goto oom;
      i++;
    }
  }
  return b.p;
oom:
  free(b.p);
  return NULL;
}

/* --- the scanner -------------------------------------------------------- */

struct scan {
  const char *p, *end;
  size_t line; /* line number of p, from 1 */
  char delim;
  enum csv_enc enc;
};

struct row {
  struct dk_pbuf data; /* field bytes, quotes resolved, back to back */
  size_t *off;     /* start of each field in data; off[n] is data.len */
  size_t n, cap;
  size_t line;     /* where the row starts */
  const char *raw; /* the row as it stands in the body */
  size_t raw_len;
  bool stray; /* text after a closing quote */
};

/* Bytes of the character at p: GBK and GB18030 have ASCII-looking trail bytes. */
static size_t scan_charlen(const struct scan *s) {
  const unsigned char *p = (const unsigned char *)s->p;
  size_t left = (size_t)(s->end - s->p), n = 1;
  if (s->enc != ENC_UTF8 && p[0] >= 0x81 && p[0] <= 0xFE && left >= 2)
    n = (s->enc == ENC_GB18030 && p[1] >= 0x30 && p[1] <= 0x39) ? 4 : 2;
  return n < left ? n : left;
}

static bool row_mark(struct row *r) {
  if (r->n + 2 > r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    size_t *off = realloc(r->off, cap * sizeof *off);
    if (off == NULL) return false;
    r->off = off;
    r->cap = cap;
  }
  r->off[r->n++] = r->data.len;
  return true;
}

/* Read the next row. Returns 1 (row filled), 0 at the end of the body,
 * DK_EPARSE for a quote left open at the end (r->line says where it
 * started), or DK_ENOMEM. */
static int scan_row(struct scan *s, struct row *r) {
  r->n = 0;
  r->data.len = 0;
  r->stray = false;
  if (s->p >= s->end) return 0;
  r->line = s->line;
  r->raw = s->p;
  if (!row_mark(r) || !dk_pbuf_add(&r->data, "", 0)) return DK_ENOMEM;
  bool fresh = true; /* nothing read yet in this field */
  bool closed = false; /* this field's quotes are closed */
  for (;;) {
    if (s->p >= s->end) break;
    char ch = *s->p;
    if (ch == '"' && fresh) {
      size_t qline = s->line;
      s->p++;
      for (;;) {
        if (s->p >= s->end) {
          r->line = qline;
          return DK_EPARSE;
        }
        if (*s->p == '"') {
          if (s->p + 1 < s->end && s->p[1] == '"') {
            if (!dk_pbuf_add(&r->data, "\"", 1)) return DK_ENOMEM;
            s->p += 2;
            continue;
          }
          s->p++;
          break;
        }
        if (*s->p == '\n') s->line++;
        size_t k = scan_charlen(s);
        if (!dk_pbuf_add(&r->data, s->p, k)) return DK_ENOMEM;
        s->p += k;
      }
      fresh = false;
      closed = true;
      continue;
    }
    if (ch == s->delim) {
      s->p++;
      if (!row_mark(r)) return DK_ENOMEM;
      fresh = true;
      closed = false;
      continue;
    }
    if (ch == '\r' || ch == '\n') {
      r->raw_len = (size_t)(s->p - r->raw);
      s->p += (ch == '\r' && s->p + 1 < s->end && s->p[1] == '\n') ? 2 : 1;
      s->line++;
      goto done;
    }
    if (closed) r->stray = true;
    size_t k = scan_charlen(s);
    if (!dk_pbuf_add(&r->data, s->p, k)) return DK_ENOMEM;
    s->p += k;
    fresh = false;
  }
  r->raw_len = (size_t)(s->p - r->raw);
done:
  r->off[r->n] = r->data.len; /* row_mark keeps room for it */
  return 1;
}

/* --- values ------------------------------------------------------------- */

/* Trim ASCII blanks and U+3000 (ideographic space, common in Chinese exports). */
static char *trim(char *s) {
  for (;;) {
    if (*s == ' ' || *s == '\t') s++;
    else if (strncmp(s, "\xE3\x80\x80", 3) == 0) s += 3;
    else break;
  }
  size_t n = strlen(s);
  for (;;) {
    if (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    else if (n >= 3 && memcmp(s + n - 3, "\xE3\x80\x80", 3) == 0) n -= 3;
    else break;
  }
  s[n] = '\0';
  return s;
}

static int read_digits(const char **p, int min, int max, int *out) {
  int n = 0, v = 0;
  while (isdigit((unsigned char)**p) && n < max) v = v * 10 + (*(*p)++ - '0'), n++;
  if (n < min) return -1;
  *out = v;
  return 0;
}

/* One of "-", "/", "." or the given Chinese unit character. */
static bool date_sep(const char **p, const char *cjk) {
  if (**p == '-' || **p == '/' || **p == '.') { (*p)++; return true; }
  size_t n = strlen(cjk);
  if (strncmp(*p, cjk, n) == 0) { *p += n; return true; }
  return false;
}

/* "2024-06-30 17:00", "2024/6/30 17:00:00", "2024年6月30日", RFC 3339 → RFC 3339
 * (zone `tz` when the value has none); date_only gives "YYYY-MM-DD". Returns a
 * new string or NULL when the value is not a date. */
static char *to_datetime(const char *v, const char *tz, bool date_only) {
  const char *p = v;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  char frac[16] = "", zone[32] = "";
  if (read_digits(&p, 4, 4, &y) || !date_sep(&p, "年") || read_digits(&p, 1, 2, &mo) || !date_sep(&p, "月") ||
      read_digits(&p, 1, 2, &d))
    return NULL;
  if (strncmp(p, "日", 3) == 0) p += 3;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return NULL;
  if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return NULL;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    while (*p == ' ') p++;
    if (*p == 'T' || *p == 't') p++;
    if (read_digits(&p, 1, 2, &h) || *p++ != ':' || read_digits(&p, 2, 2, &mi)) return NULL;
    if (*p == ':') {
      p++;
      if (read_digits(&p, 2, 2, &sec)) return NULL;
      if (*p == '.') {
        size_t n = 0;
        frac[n++] = *p++;
        while (isdigit((unsigned char)*p) && n < 10) frac[n++] = *p++;
        if (n == 1) return NULL;
        frac[n] = '\0';
        while (isdigit((unsigned char)*p)) p++;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return NULL;
    if (*p == 'Z' || *p == 'z') { strcpy(zone, "Z"); p++; }
    else if (*p == '+' || *p == '-') {
      int zh, zm;
      char sign = *p++;
      if (read_digits(&p, 2, 2, &zh)) return NULL;
      if (*p == ':') p++;
      if (read_digits(&p, 2, 2, &zm) || zh > 23 || zm > 59) return NULL;
      snprintf(zone, sizeof zone, "%c%02d:%02d", sign, zh, zm);
    }
  }
  if (*p != '\0') return NULL;
  char out[128];
  if (date_only) snprintf(out, sizeof out, "%04d-%02d-%02d", y, mo, d);
  else snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d%s%s", y, mo, d, h, mi, sec, frac, *zone ? zone : tz);
  return strdup(out);
}

static enum csv_type field_type(const struct csv *c, const char *field) {
  const char *t = json_string_value(json_object_get(c->types, field));
  if (t == NULL) {
    if (c->progress && strcmp(field, "percent") == 0) return T_NUMBER;
    if (c->progress && (strcmp(field, "reported_at") == 0 || strcmp(field, "updated_at") == 0)) return T_DATETIME;
    return T_STRING;
  }
  if (strcmp(t, "integer") == 0) return T_INTEGER;
  if (strcmp(t, "number") == 0) return T_NUMBER;
  if (strcmp(t, "boolean") == 0) return T_BOOLEAN;
  if (strcmp(t, "datetime") == 0) return T_DATETIME;
  if (strcmp(t, "date") == 0) return T_DATE;
  return T_STRING;
}

/* Convert a non-empty trimmed value. Returns a new reference, or NULL with
 * `why` saying what the value should have been. */
static json_t *convert(const struct csv *c, enum csv_type t, const char *v, const char **why) {
  char *end;
  switch (t) {
  case T_STRING:
    return json_string(v);
  case T_INTEGER: {
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end) { *why = "an integer"; return NULL; }
    return json_integer(n);
  }
  case T_NUMBER: {
    errno = 0;
    double d = strtod(v, &end);
    while (*end == ' ') end++;
    if (*end == '%') end++;
    else if (strncmp(end, "\xEF\xBC\x85", 3) == 0) end += 3; /* full-width ％ */
    if (errno || end == v || *end || !isfinite(d) || isspace((unsigned char)*v)) { *why = "a number"; return NULL; }
    if (d == floor(d) && fabs(d) < 9e15) return json_integer((json_int_t)d);
    return json_real(d);
  }
  case T_BOOLEAN:
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "是")) return json_true();
    if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "否")) return json_false();
    *why = "a boolean";
    return NULL;
  case T_DATETIME:
  case T_DATE: {
    char *s = to_datetime(v, c->timezone, t == T_DATE);
    if (s == NULL) { *why = t == T_DATE ? "a date" : "a date and time"; return NULL; }
    json_t *j = json_string(s);
    free(s);
    return j;
  }
  }
  return NULL;
}

static const struct { const char *from, *to; } status_names[] = {
  {"未开始", "not_started"}, {"推进中", "in_progress"}, {"进行中", "in_progress"}, {"已完成", "completed"},
  {"完成", "completed"}, {"滞后", "delayed"}, {"延期", "delayed"}, {"取消", "cancelled"}, {"已取消", "cancelled"},
  {"not_started", "not_started"}, {"in_progress", "in_progress"}, {"completed", "completed"},
  {"delayed", "delayed"}, {"cancelled", "cancelled"},
};

/* The progress rules: task ids from bare numbers, status names and defaults,
 * period from a date. Returns NULL, or why the record is refused (written
 * into msg). */
static const char *progress_fix(const struct csv *c, json_t *rec, char *msg, size_t len) {
  json_t *task = json_object_get(rec, "task");
  if (json_is_integer(task) || json_is_string(task)) {
    char tmp[128];
    const char *t = json_string_value(task);
    if (t == NULL) snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(task)), t = tmp;
    size_t n = strspn(t, "0123456789");
    if (n > 0 && t[n] == '\0') {
      if (c->task_prefix == NULL) {
        snprintf(msg, len, "task \"%s\" is a bare number: set options.task_prefix (e.g. \"jnly-2024/\")", t);
        return msg;
      }
      char id[256];
      snprintf(id, sizeof id, "%s%02ld", c->task_prefix, strtol(t, NULL, 10));
      json_object_set_new(rec, "task", json_string(id));
    } else {
      /* "jnly-2024/3" → "jnly-2024/03", as task ids have two digits at least */
      const char *slash = strrchr(t, '/');
      if (slash && isdigit((unsigned char)slash[1]) && slash[2] == '\0') {
        char id[256];
        snprintf(id, sizeof id, "%.*s0%c", (int)(slash + 1 - t), t, slash[1]);
        json_object_set_new(rec, "task", json_string(id));
      } else if (t == tmp) json_object_set_new(rec, "task", json_string(t));
    }
  }

  json_t *pct = json_object_get(rec, "percent");
  if (pct && (!json_is_number(pct) || json_number_value(pct) < 0 || json_number_value(pct) > 100)) {
    snprintf(msg, len, "percent must be a number from 0 to 100");
    return msg;
  }
  json_t *st = json_object_get(rec, "status");
  if (json_is_string(st)) {
    const char *s = json_string_value(st);
    size_t i;
    for (i = 0; i < sizeof status_names / sizeof *status_names; i++)
      if (strcmp(s, status_names[i].from) == 0) break;
    if (i == sizeof status_names / sizeof *status_names) {
      snprintf(msg, len, "status \"%s\" is none of 未开始, 推进中, 已完成, 滞后, 取消", s);
      return msg;
    }
    json_object_set_new(rec, "status", json_string(status_names[i].to));
  } else if (st == NULL) {
    if (pct == NULL) {
      snprintf(msg, len, "neither a status nor a percent to derive it from");
      return msg;
    }
    double v = json_number_value(pct);
    json_object_set_new(rec, "status", json_string(v == 0 ? "not_started" : v == 100 ? "completed" : "in_progress"));
  }

  json_t *period = json_object_get(rec, "period");
  if (json_is_string(period)) {
    /* "2024-6", "2024/06", "2024年6月" → "2024-06"; other periods stay as given */
    const char *p = json_string_value(period);
    int y, m;
    if (!read_digits(&p, 4, 4, &y) && date_sep(&p, "年") && !read_digits(&p, 1, 2, &m) &&
        (*p == '\0' || strcmp(p, "月") == 0) && m >= 1 && m <= 12) {
      char out[16];
      snprintf(out, sizeof out, "%04d-%02d", y, m);
      json_object_set_new(rec, "period", json_string(out));
    }
  } else if (period == NULL && c->period_from) {
    const char *from = json_string_value(json_object_get(rec, c->period_from));
    char *d = from ? to_datetime(from, c->timezone, true) : NULL;
    if (d == NULL) {
      snprintf(msg, len, "no period: %s is %s", c->period_from, from ? "not a date" : "empty");
      return msg;
    }
    d[7] = '\0';
    json_object_set_new(rec, "period", json_string(d));
    free(d);
  }
  return NULL;
}

/* Expand "{task}/{city}/{period}" from the record. Returns a new string, or
 * NULL with msg naming the missing field. */
static char *expand_id(const char *tmpl, const json_t *rec, char *msg, size_t len) {
  struct dk_pbuf b = {0};
  if (!dk_pbuf_add(&b, "", 0)) return NULL;
  for (const char *p = tmpl; *p;) {
    const char *close = *p == '{' ? strchr(p, '}') : NULL;
    if (close == NULL) {
      if (!dk_pbuf_add(&b, p, 1)) goto fail;
      p++;
      continue;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
    json_t *v = json_object_get(rec, name);
    char tmp[32];
    const char *s = json_string_value(v);
    if (json_is_integer(v)) snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v)), s = tmp;
    if (s == NULL || *s == '\0') {
      snprintf(msg, len, "no %s for the id %s", name, tmpl);
      goto fail;
    }
    if (!dk_pbuf_str(&b, s)) goto fail;
    p = close + 1;
  }
  return b.p;
fail:
  free(b.p);
  return NULL;
}

/* --- plugin ------------------------------------------------------------- */

static void csv_fini(void *state) {
  struct csv *c = state;
  if (c == NULL) return;
  if (c->cd != (iconv_t)-1) iconv_close(c->cd);
  free(c->kind);
  free(c->id);
  free(c->period_from);
  free(c->task_prefix);
  free(c->timezone);
  free(c->city);
  json_decref(c->columns);
  json_decref(c->constants);
  json_decref(c->types);
  json_decref(c->content_types);
  free(c);
}

static int csv_init(void **state, const struct dk_source *src, char *err, size_t errlen) {
  struct csv *c = calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return DK_ENOMEM;
  }
  c->cd = (iconv_t)-1;
  const json_t *o = src->options;
  const char *enc = json_string_value(json_object_get(o, "encoding"));
  const char *delim = json_string_value(json_object_get(o, "delimiter"));
  const char *kind = json_string_value(json_object_get(o, "kind"));
  const char *id = json_string_value(json_object_get(o, "id"));
  const char *pfrom = json_string_value(json_object_get(o, "period_from"));
  const char *tz = json_string_value(json_object_get(o, "timezone"));
  if (enc == NULL || strcasecmp(enc, "UTF-8") == 0) c->enc = ENC_UTF8;
  else if (strcasecmp(enc, "GBK") == 0) c->enc = ENC_GBK;
  else if (strcasecmp(enc, "GB18030") == 0) c->enc = ENC_GB18030;
  else {
    snprintf(err, errlen, "options.encoding: \"%s\" is none of UTF-8, GBK, GB18030", enc);
    csv_fini(c);
    return DK_ECONFIG;
  }
  if (delim && (strlen(delim) != 1 || *delim == '"' || *delim == '\r' || *delim == '\n' || (unsigned char)*delim >= 0x80)) {
    snprintf(err, errlen, "options.delimiter: \"%s\" is not one ASCII character other than a quote or newline", delim);
    csv_fini(c);
    return DK_ECONFIG;
  }
  c->delim = delim ? *delim : ',';
  c->kind = strdup(kind ? kind : "progress");
  c->progress = strcmp(c->kind, "progress") == 0;
  c->id = xstrdup(id ? id : c->progress ? "{task}/{city}/{period}" : NULL);
  c->period_from = xstrdup(pfrom ? pfrom : c->progress ? "reported_at" : NULL);
  c->task_prefix = xstrdup(json_string_value(json_object_get(o, "task_prefix")));
  c->timezone = strdup(tz ? tz : "+08:00");
  c->city = xstrdup(src->city);
  json_t *cols = json_object_get(o, "columns"), *consts = json_object_get(o, "constants"),
         *types = json_object_get(o, "types"), *ctypes = json_object_get(o, "content_types");
  c->columns = json_is_object(cols) ? json_deep_copy(cols) : json_object();
  c->constants = json_is_object(consts) ? json_deep_copy(consts) : json_object();
  c->types = json_is_object(types) ? json_deep_copy(types) : json_object();
  c->content_types = json_is_array(ctypes) ? json_deep_copy(ctypes) : NULL;
  if (c->kind == NULL || c->timezone == NULL || (id && !c->id) || !c->columns || !c->constants || !c->types ||
      (json_is_array(ctypes) && !c->content_types)) {
    snprintf(err, errlen, "out of memory");
    csv_fini(c);
    return DK_ENOMEM;
  }
  if (c->enc != ENC_UTF8) {
    c->cd = iconv_open("UTF-8", c->enc == ENC_GBK ? "GBK" : "GB18030");
    if (c->cd == (iconv_t)-1) {
      snprintf(err, errlen, "iconv cannot convert from %s: %s", enc, strerror(errno));
      csv_fini(c);
      return DK_ECONFIG;
    }
  }
  *state = c;
  return 0;
}

/* The field a header maps to, or NULL when the column is not kept. */
static const char *header_field(const struct csv *c, const char *h) {
  const char *f = json_string_value(json_object_get(c->columns, h));
  if (f) return f;
  if (c->progress) {
    for (size_t i = 0; progress_fields[i]; i++)
      if (strcmp(h, progress_fields[i]) == 0) return progress_fields[i];
  } else if (*h && strspn(h, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(h)) return h;
  return NULL;
}

static bool has_field(const struct csv *c, const char **fields, size_t n, const char *f) {
  if (json_object_get(c->constants, f)) return true;
  for (size_t i = 0; i < n; i++)
    if (fields[i] && strcmp(fields[i], f) == 0) return true;
  return false;
}

/* Can the header give every record what it must have? NULL, or why not. */
static const char *header_check(const struct csv *c, const char **fields, size_t n, char *msg, size_t len) {
  if (c->id) {
    for (const char *p = strchr(c->id, '{'); p; p = strchr(p + 1, '{')) {
      const char *close = strchr(p, '}');
      if (close == NULL) break;
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
      if (has_field(c, fields, n, name)) continue;
      if (c->progress && strcmp(name, "city") == 0 && c->city) continue;
      if (c->progress && strcmp(name, "period") == 0 && c->period_from && has_field(c, fields, n, c->period_from))
        continue;
      snprintf(msg, len, "no column gives %s (needed for the id %s): map one in options.columns", name, c->id);
      return msg;
    }
  } else if (!has_field(c, fields, n, "id")) {
    snprintf(msg, len, "no column gives the id: map one in options.columns or set options.id");
    return msg;
  }
  if (c->progress && !has_field(c, fields, n, "status") && !has_field(c, fields, n, "percent")) {
    snprintf(msg, len, "no column gives a status or a percent: map one in options.columns");
    return msg;
  }
  return NULL;
}

struct parse_ctx {
  struct csv *c;
  struct dk_emit *emit;
  const char **fields; /* per column, borrowed from options or static */
  char **headers;
  size_t ncols;
};

static void reject_row(struct parse_ctx *x, const struct row *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reject_row(struct parse_ctx *x, const struct row *r, const char *fmt, ...) {
  char where[32], msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(where, sizeof where, "line %zu", r->line);
  char *raw = decode_lossy(x->c, r->raw, r->raw_len);
  x->emit->reject(x->emit, where, raw ? raw : "", "%s", msg);
  free(raw);
}

/* Turn one data row into a record and emit it, or reject it. Returns 0, or
 * a negative DK_E* code when parsing must stop. */
static int do_row(struct parse_ctx *x, const struct row *r) {
  struct csv *c = x->c;
  if (r->stray) {
    reject_row(x, r, "text after a closing quote");
    return 0;
  }
  if (r->n != x->ncols) {
    reject_row(x, r, "%zu fields, the header has %zu", r->n, x->ncols);
    return 0;
  }
  json_t *rec = json_object();
  if (rec == NULL) return DK_ENOMEM;
  char msg[512];
  for (size_t i = 0; i < r->n; i++) {
    if (x->fields[i] == NULL) continue;
    char *v = decode(c, r->data.p + r->off[i], r->off[i + 1] - r->off[i]);
    if (v == NULL) {
      reject_row(x, r, "column %s: bytes that are not %s", x->headers[i],
                 c->enc == ENC_UTF8 ? "UTF-8" : c->enc == ENC_GBK ? "GBK" : "GB18030");
      json_decref(rec);
      return 0;
    }
    const char *t = trim(v), *why = NULL;
    json_t *val = *t ? convert(c, field_type(c, x->fields[i]), t, &why) : NULL;
    if (*t && val == NULL) {
      reject_row(x, r, "column %s: \"%s\" is not %s", x->headers[i], t, why ? why : "convertible");
      free(v);
      json_decref(rec);
      return 0;
    }
    free(v);
    if (val) json_object_set_new(rec, x->fields[i], val);
  }
  json_t *consts = json_deep_copy(c->constants);
  if (consts == NULL || json_object_update(rec, consts) != 0) {
    json_decref(consts);
    json_decref(rec);
    return DK_ENOMEM;
  }
  json_decref(consts);
  json_object_set_new(rec, "kind", json_string(c->kind));
  if (c->progress && json_object_get(rec, "city") == NULL && c->city)
    json_object_set_new(rec, "city", json_string(c->city));
  const char *why = c->progress ? progress_fix(c, rec, msg, sizeof msg) : NULL;
  if (why == NULL && c->id) {
    char *id = expand_id(c->id, rec, msg, sizeof msg);
    if (id == NULL) why = msg;
    else json_object_set_new(rec, "id", json_string(id));
    free(id);
  }
  if (why) {
    reject_row(x, r, "%s", why);
    json_decref(rec);
    return 0;
  }
  int rc = x->emit->record(x->emit, rec);
  if (rc != 0) x->emit->fail(x->emit, "line %zu: the record was refused (%d); stopping", r->line, rc);
  return rc;
}

static enum dk_result csv_parse(void *state, const struct dk_response *resp, struct dk_emit *emit) {
  struct csv *c = state;
  char msg[512];
  if (!dk_ct_accept(resp->content_type, c->content_types, "CSV", resp->body, resp->body_len, msg, sizeof msg)) {
    emit->fail(emit, "%s", msg);
    return DK_ERROR;
  }
  struct scan s = {.p = resp->body, .end = resp->body + resp->body_len, .line = 1, .delim = c->delim, .enc = c->enc};
  if (c->enc == ENC_UTF8 && resp->body_len >= 3 && memcmp(s.p, "\xEF\xBB\xBF", 3) == 0) s.p += 3;
  if (c->enc == ENC_GB18030 && resp->body_len >= 4 && memcmp(s.p, "\x84\x31\x95\x33", 4) == 0) s.p += 4;

  struct row r = {0};
  struct parse_ctx x = {.c = c, .emit = emit};
  enum dk_result res = DK_ERROR;
  int rc;
  while ((rc = scan_row(&s, &r)) == 1 && r.raw_len == 0) {}
  if (rc == 0) {
    emit->fail(emit, "no header row: the body is empty");
    goto out;
  }
  if (rc < 0) goto scanfail;
  x.ncols = r.n;
  x.fields = calloc(r.n, sizeof *x.fields);
  x.headers = calloc(r.n, sizeof *x.headers);
  if (x.fields == NULL || x.headers == NULL) goto oom;
  for (size_t i = 0; i < r.n; i++) {
    char *h = decode(c, r.data.p + r.off[i], r.off[i + 1] - r.off[i]);
    if (h == NULL) {
      emit->fail(emit, "line %zu: the header is not %s", r.line, c->enc == ENC_UTF8 ? "UTF-8" : c->enc == ENC_GBK ? "GBK" : "GB18030");
      goto out;
    }
    char *t = trim(h);
    memmove(h, t, strlen(t) + 1);
    x.headers[i] = h;
    x.fields[i] = header_field(c, h);
  }
  if (header_check(c, x.fields, x.ncols, msg, sizeof msg)) {
    emit->fail(emit, "line %zu (header): %s", r.line, msg);
    goto out;
  }
  for (size_t i = 0; i < x.ncols; i++)
    if (x.fields[i] == NULL) emit->log(emit, DK_LOG_DEBUG, "column %s is not mapped; ignored", x.headers[i]);

  while ((rc = scan_row(&s, &r)) == 1) {
    if (r.raw_len == 0) continue; /* blank line */
    if ((rc = do_row(&x, &r)) != 0) goto out;
  }
  if (rc < 0) goto scanfail;
  res = DK_OK;
  goto out;
scanfail:
  if (rc == DK_ENOMEM) goto oom;
  emit->fail(emit, "line %zu: a quoted field is never closed (unterminated quote at the end of the file)", r.line);
  goto out;
oom:
  emit->fail(emit, "out of memory");
out:
  for (size_t i = 0; x.headers && i < x.ncols; i++) free(x.headers[i]);
  free(x.headers);
  free(x.fields);
  free(r.data.p);
  free(r.off);
  return res;
}

__attribute__((visibility("default")))
const struct dk_plugin duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(struct dk_plugin),
  .name = "csv",
  .version = "0.1.0",
  .description = "CSV exports (RFC 4180; UTF-8, GBK, GB18030) with a header-to-field mapping",
  .options_schema = options_schema,
  .init = csv_init,
  .prepare = NULL,
  .parse = csv_parse,
  .fini = csv_fini,
};

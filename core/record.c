#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "escape.h"
#include "redact.h"
#include "util.h"

static const struct {
  const char *name, *folder;
  int segments;
} dk__kinds[DK_KIND_COUNT] = {
  [DK_KIND_PLAN] = {"plan", "plans", 1},
  [DK_KIND_TASK] = {"task", "tasks", 2},
  [DK_KIND_PROGRESS] = {"progress", "progress", 4},
  [DK_KIND_UNIT] = {"unit", "units", 2},
};

enum dk_kind dk_kind_from_name(const char *name) {
  for (int k = 0; k < DK_KIND_COUNT; k++)
    if (name && strcmp(name, dk__kinds[k].name) == 0) return (enum dk_kind)k;
  return DK_KIND_NONE;
}

const char *dk_kind_name(enum dk_kind kind) {
  return kind >= 0 && kind < DK_KIND_COUNT ? dk__kinds[kind].name : "unknown";
}

const char *dk_kind_folder(enum dk_kind kind) {
  return kind >= 0 && kind < DK_KIND_COUNT ? dk__kinds[kind].folder : NULL;
}

static int dk__ascii_segment(const char *s, size_t n) {
  if (n == 0 || n > DK_RECORD_SEGMENT_MAX) return 0;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* A unit's name: UTF-8 that a file system and a terminal can hold. */
static int dk__unit_name(const char *s, size_t n) {
  if (n == 0 || n > DK_RECORD_SEGMENT_MAX || !dk_utf8_valid(s, n)) return 0;
  if (memchr(s, '/', n) != NULL || memchr(s, '\\', n) != NULL) return 0;
  for (const char *p = s; p < s + n;)
    if (dk_esc_unsafe(dk_utf8_next(&p, s + n))) return 0;
  if (n >= 2 && memmem(s, n, "..", 2) != NULL) return 0;
  if (s[0] == '.') return 0;
  return 1;
}

int dk_record_check_id(enum dk_kind kind, const char *id, char *err) {
  if (kind < 0 || kind >= DK_KIND_COUNT) return dk_failf(err, DK_EINVALID, "unknown kind");
  int want = dk__kinds[kind].segments, seg = 0;
  const char *p = id;
  char ex[80]; /* an id of 10,000 bytes must not push the rule out of the message */
  dk_excerpt(ex, sizeof ex, id, strlen(id));
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    int ok = (kind == DK_KIND_UNIT && seg == 1) ? dk__unit_name(p, n) : dk__ascii_segment(p, n);
    if (!ok)
      return dk_failf(err, DK_EINVALID,
                      kind == DK_KIND_UNIT && seg == 1
                          ? "id \"%s\": a unit name may not be empty or over %d bytes, hold '/', '\\', \"..\", "
                            "control or bidi characters, or start with '.'"
                          : "id \"%s\": each segment must match [a-z0-9][a-z0-9._-]* (1 to %d bytes)",
                      ex, DK_RECORD_SEGMENT_MAX);
    seg++;
    if (!slash) break;
    p = slash + 1;
  }
  if (seg != want)
    return dk_failf(err, DK_EINVALID, "id \"%s\": a %s id has %d segment%s, this one has %d", ex,
                    dk__kinds[kind].name, want, want == 1 ? "" : "s", seg);
  return 0;
}

char *dk_record_file(enum dk_kind kind, const char *id) {
  return dk_asprintf("%s/%s.json", dk__kinds[kind].folder, id);
}

char *dk_record_conflict_file(enum dk_kind kind, const char *id) {
  return dk_asprintf("conflicts/%s/%s.json", dk__kinds[kind].name, id);
}

int dk_record_path(const json_t *record, char **path, char *err) {
  *path = NULL;
  if (!json_is_object(record)) return dk_failf(err, DK_EINVALID, "/: a record must be an object");
  json_t *kv = json_object_get(record, "kind"), *iv = json_object_get(record, "id");
  if (!json_is_string(kv)) return dk_failf(err, DK_EINVALID, "/kind: required, must be a string");
  enum dk_kind kind = dk_kind_from_name(json_string_value(kv));
  if (kind == DK_KIND_NONE)
    return dk_failf(err, DK_EINVALID, "/kind: \"%s\" is not one of plan, task, progress, unit",
                    json_string_value(kv));
  if (!json_is_string(iv)) return dk_failf(err, DK_EINVALID, "/id: required, must be a string");
  char msg[DK_ERRBUF_SIZE];
  if (dk_record_check_id(kind, json_string_value(iv), msg) != 0)
    return dk_failf(err, DK_EINVALID, "/id: %s", msg);
  *path = dk_record_file(kind, json_string_value(iv));
  return 0;
}

int dk_record_parse_name(const char *name, enum dk_kind *kind, char **id) {
  *id = NULL;
  for (int k = 0; k < DK_KIND_COUNT; k++) {
    size_t fl = strlen(dk__kinds[k].folder), nl = strlen(name);
    if (strncmp(name, dk__kinds[k].folder, fl) == 0 && name[fl] == '/') {
      const char *rest = name + fl + 1;
      size_t rl = nl - fl - 1;
      if (rl > 5 && strcmp(rest + rl - 5, ".json") == 0) rl -= 5;
      char *cand = dk_strndup(rest, rl);
      if (dk_record_check_id((enum dk_kind)k, cand, NULL) == 0) {
        *kind = (enum dk_kind)k;
        *id = cand;
        return 0;
      }
      free(cand);
      return DK_EINVAL;
    }
  }
  /* a bare id: its segment count says its kind; two segments are a task
   * unless the first is a city (units/<city>/<name>). */
  int segs = 1;
  for (const char *p = name; *p; p++) segs += (*p == '/');
  static const char *const cities[] = {"jinan", "linyi", "province", "central", "other"};
  enum dk_kind k = DK_KIND_NONE;
  if (segs == 1) k = DK_KIND_PLAN;
  else if (segs == 4) k = DK_KIND_PROGRESS;
  else if (segs == 2) {
    k = DK_KIND_TASK;
    for (size_t i = 0; i < 5; i++) {
      size_t cl = strlen(cities[i]);
      if (strncmp(name, cities[i], cl) == 0 && name[cl] == '/') k = DK_KIND_UNIT;
    }
  }
  if (k == DK_KIND_NONE || dk_record_check_id(k, name, NULL) != 0) return DK_EINVAL;
  *kind = k;
  *id = dk_strdup(name);
  return 0;
}

struct dk__shape {
  int max_depth;
  long max_size, size;
  char *err;
  struct dk_buf where; /* JSON Pointer of the value being looked at */
};

/* Bytes `s` takes as a canonical JSON string (quotes and escapes). */
static long dk__string_size(const char *s, size_t len) {
  long n = 2 + (long)len;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') n += 1;
    else if (c < 0x20 || c == 0x7f) n += 5;
  }
  return n;
}

static int dk__shape_fail(struct dk__shape *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int dk__shape_fail(struct dk__shape *sh, const char *fmt, ...) {
  char where[200], msg[DK_ERRBUF_SIZE];
  dk_excerpt(where, sizeof where, sh->where.len ? sh->where.data : "/", sh->where.len ? sh->where.len : 1);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return dk_failf(sh->err, DK_EINVALID, "%s: %s", where, msg);
}

static int dk__shape_string(struct dk__shape *sh, const char *s, size_t len) {
  if (strlen(s) != len) {
    size_t ml = sizeof DK_NUMBER_MARK - 1;
    if (len > ml && memcmp(s, DK_NUMBER_MARK, ml) == 0) {
      char num[80];
      dk_excerpt(num, sizeof num, s + ml, len - ml);
      return dk__shape_fail(sh, "the number %s fits neither a 64-bit integer nor a double (number range)", num);
    }
    return dk__shape_fail(sh, "a string holds a NUL character (no NUL)");
  }
  if (dk_redact_found(s, len))
    return dk__shape_fail(sh, "holds a secret of the configuration (%s)", DK_REDACTED);
  return 0;
}

static int dk__shape_value(struct dk__shape *sh, const json_t *v, int depth) {
  if (depth > sh->max_depth) return dk__shape_fail(sh, "nested deeper than %d levels (limits.depth)", sh->max_depth);
  long indent = 2L * (depth + 1);
  switch (json_typeof(v)) {
    case JSON_STRING:
      sh->size += dk__string_size(json_string_value(v), json_string_length(v));
      if (dk__shape_string(sh, json_string_value(v), json_string_length(v)) != 0) return DK_EINVALID;
      break;
    case JSON_OBJECT: {
      const char *key;
      json_t *m;
      sh->size += 4 + 2L * depth;
      json_object_foreach((json_t *)v, key, m) {
        size_t mark = sh->where.len;
        dk_buf_printf(&sh->where, "/%s", key);
        sh->size += indent + dk__string_size(key, strlen(key)) + 4;
        int rc = dk__shape_string(sh, key, strlen(key));
        if (rc == 0) rc = dk__shape_value(sh, m, depth + 1);
        if (rc != 0) return rc;
        sh->where.len = mark;
        sh->where.data[mark] = '\0';
        if (sh->size > sh->max_size) break;
      }
      break;
    }
    case JSON_ARRAY: {
      size_t i;
      json_t *m;
      sh->size += 4 + 2L * depth;
      json_array_foreach(v, i, m) {
        size_t mark = sh->where.len;
        dk_buf_printf(&sh->where, "/%zu", i);
        sh->size += indent + 2;
        int rc = dk__shape_value(sh, m, depth + 1);
        if (rc != 0) return rc;
        sh->where.len = mark;
        sh->where.data[mark] = '\0';
        if (sh->size > sh->max_size) break;
      }
      break;
    }
    default:
      sh->size += 24; /* a number or a literal: at most this many bytes */
  }
  return 0;
}

int dk_record_check_shape(const json_t *record, int max_depth, long max_size, char *err) {
  struct dk__shape sh = {.max_depth = max_depth > 0 ? max_depth : DK_RECORD_DEFAULT_DEPTH,
                         .max_size = max_size > 0 ? max_size : DK_RECORD_DEFAULT_SIZE, .err = err};
  int rc = dk__shape_value(&sh, record, 0);
  if (rc == 0 && sh.size > sh.max_size) {
    sh.where.len = 0;
    rc = dk_failf(err, DK_EINVALID, "/: larger than %ld bytes as canonical JSON (limits.record_size)", sh.max_size);
  }
  dk_buf_free(&sh.where);
  return rc;
}

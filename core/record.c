#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
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
  if (n == 0) return 0;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

static int dk__unit_name(const char *s, size_t n) {
  if (n == 0 || !dk_utf8_valid(s, n)) return 0;
  if (memchr(s, '/', n) != NULL) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\') return 0;
  if (n >= 2 && memmem(s, n, "..", 2) != NULL) return 0;
  if (s[0] == '.') return 0;
  return 1;
}

int dk_record_check_id(enum dk_kind kind, const char *id, char *err) {
  if (kind < 0 || kind >= DK_KIND_COUNT) return dk_failf(err, DK_EINVALID, "unknown kind");
  int want = dk__kinds[kind].segments, seg = 0;
  const char *p = id;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    int ok = (kind == DK_KIND_UNIT && seg == 1) ? dk__unit_name(p, n) : dk__ascii_segment(p, n);
    if (!ok)
      return dk_failf(err, DK_EINVALID,
                      kind == DK_KIND_UNIT && seg == 1
                          ? "id \"%s\": a unit name may not be empty, hold '/', '\\', control characters or \"..\", or start with '.'"
                          : "id \"%s\": each segment must match [a-z0-9][a-z0-9._-]*",
                      id);
    seg++;
    if (!slash) break;
    p = slash + 1;
  }
  if (seg != want)
    return dk_failf(err, DK_EINVALID, "id \"%s\": a %s id has %d segment%s, this one has %d", id,
                    dk__kinds[kind].name, want, want == 1 ? "" : "s", seg);
  return 0;
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
  *path = dk_asprintf("%s/%s.json", dk__kinds[kind].folder, json_string_value(iv));
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

#include "seen.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

#define DK__MAGIC "DKSEEN1\n"

struct dk__pair {
  git_oid raw, blob;
  int used;
};

struct dk_seen {
  struct dk__pair *slots;
  size_t cap, n;
  size_t filed; /* pairs its file holds (dk_seen_parse, dk_seen_filed_add), repeats included */
};

static size_t dk__slot(const struct dk_seen *s, const git_oid *raw) {
  uint64_t h;
  memcpy(&h, raw->id, sizeof h);
  size_t i = (size_t)h & (s->cap - 1);
  while (s->slots[i].used && !dk_oid_equal(&s->slots[i].raw, raw)) i = (i + 1) & (s->cap - 1);
  return i;
}

struct dk_seen *dk_seen_new(void) {
  struct dk_seen *s = dk_calloc(1, sizeof *s);
  s->cap = 64;
  s->slots = dk_calloc(s->cap, sizeof *s->slots);
  return s;
}

void dk_seen_free(struct dk_seen *s) {
  if (s == NULL) return;
  free(s->slots);
  free(s);
}

int dk_seen_get(const struct dk_seen *s, const git_oid *raw, git_oid *blob) {
  size_t i = dk__slot(s, raw);
  if (!s->slots[i].used) return 0;
  *blob = s->slots[i].blob;
  return 1;
}

void dk_seen_put(struct dk_seen *s, const git_oid *raw, const git_oid *blob) {
  if (2 * (s->n + 1) > s->cap) {
    struct dk_seen old = *s;
    s->cap *= 2;
    s->slots = dk_calloc(s->cap, sizeof *s->slots);
    s->n = 0;
    for (size_t i = 0; i < old.cap; i++)
      if (old.slots[i].used) dk_seen_put(s, &old.slots[i].raw, &old.slots[i].blob);
    free(old.slots);
  }
  size_t i = dk__slot(s, raw);
  if (!s->slots[i].used) s->n++;
  s->slots[i].used = 1;
  s->slots[i].raw = *raw;
  s->slots[i].blob = *blob;
}

size_t dk_seen_count(const struct dk_seen *s) { return s->n; }
size_t dk_seen_filed(const struct dk_seen *s) { return s->filed; }
void dk_seen_filed_set(struct dk_seen *s, size_t n) { s->filed = n; }

void dk_seen_pair(const git_oid *raw, const git_oid *blob, unsigned char out[DK_SEEN_PAIR]) {
  memcpy(out, raw->id, GIT_OID_RAWSZ);
  memcpy(out + GIT_OID_RAWSZ, blob->id, GIT_OID_RAWSZ);
}

unsigned char *dk_seen_dump(const struct dk_seen *s, size_t *len) {
  size_t ml = sizeof DK__MAGIC - 1;
  *len = ml + s->n * 2 * GIT_OID_RAWSZ;
  unsigned char *out = dk_malloc(*len), *p = out + ml;
  memcpy(out, DK__MAGIC, ml);
  for (size_t i = 0; i < s->cap; i++) {
    if (!s->slots[i].used) continue;
    memcpy(p, s->slots[i].raw.id, GIT_OID_RAWSZ);
    memcpy(p + GIT_OID_RAWSZ, s->slots[i].blob.id, GIT_OID_RAWSZ);
    p += 2 * GIT_OID_RAWSZ;
  }
  return out;
}

struct dk_seen *dk_seen_parse(const unsigned char *data, size_t len) {
  struct dk_seen *s = dk_seen_new();
  size_t ml = sizeof DK__MAGIC - 1;
  if (data == NULL || len < ml || memcmp(data, DK__MAGIC, ml) != 0) return s;
  /* a last pair cut short (an append the machine stopped in) is left out */
  size_t whole = (len - ml) / DK_SEEN_PAIR;
  for (const unsigned char *p = data + ml; p < data + ml + whole * DK_SEEN_PAIR; p += DK_SEEN_PAIR) {
    git_oid raw, blob;
    memcpy(raw.id, p, GIT_OID_RAWSZ);
    memcpy(blob.id, p + GIT_OID_RAWSZ, GIT_OID_RAWSZ);
    dk_seen_put(s, &raw, &blob);
  }
  s->filed = whole;
  return s;
}

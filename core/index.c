#include "index.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fsafe.h"
#include "util.h"

struct dk__hold {
  size_t src;
  git_oid oid;
};

/* One path: main's blob and the sources holding it (most paths: one). An
 * entry read from duikou.index lives in the index's arenas (its path and,
 * until it grows, its holders): in_arena, h_in_arena. */
struct dk__ent {
  char *path;
  uint64_t hash;
  int has_main;
  git_oid main;
  size_t nh, caph;
  struct dk__hold *h;
  unsigned char in_arena, h_in_arena, logged; /* logged: in ix->changed */
};

/* Per source: blob id -> entry, linear probing with backward-shift
 * deletion (no tombstones to sweep). */
struct dk__oslot {
  git_oid oid;
  struct dk__ent *e; /* NULL: free */
};
struct dk__otab {
  struct dk__oslot *slots;
  size_t cap, n;
  git_oid head;
  int found;
};

struct dk_index {
  struct dk__ent **slots; /* path -> entry; entries are never removed */
  size_t cap, n;
  size_t nsrc;
  struct dk__otab *src;
  git_oid main_head;
  int main_found;
  size_t bytes;
  int dirty; /* changed since it was read from or written to duikou.index */
  /* what the files hold (see "kept with the repository" below) */
  void *arena_ent, *arena_path, *arena_hold; /* the entries read from the file, in three blocks */
  unsigned char gen[16]; /* the generation of duikou.index this index extends (base_ok) */
  int base_ok;           /* duikou.index is gen, named the same refs, and the log is whole */
  size_t base_size, log_size;
  struct dk__ent **changed; /* entries changed since the last save, each once */
  size_t nchanged, capchanged;
};


static uint64_t dk__ohash(const git_oid *o) {
  uint64_t h;
  memcpy(&h, o->id, sizeof h);
  return h;
}

static struct dk__ent *dk__find(const struct dk_index *ix, const char *path) {
  if (ix->cap == 0) return NULL;
  uint64_t h = dk_str_hash(path);
  for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
    struct dk__ent *e = ix->slots[i];
    if (e == NULL) return NULL;
    if (e->hash == h && strcmp(e->path, path) == 0) return e;
  }
}

static void dk__place(struct dk__ent **slots, size_t cap, struct dk__ent *e) {
  size_t i = e->hash & (cap - 1);
  while (slots[i]) i = (i + 1) & (cap - 1);
  slots[i] = e;
}

static struct dk__ent *dk__get(struct dk_index *ix, const char *path) {
  struct dk__ent *e = dk__find(ix, path);
  if (e) return e;
  if (2 * (ix->n + 1) > ix->cap) {
    size_t ncap = ix->cap ? 2 * ix->cap : 1024;
    struct dk__ent **ns = dk_calloc(ncap, sizeof *ns);
    for (size_t i = 0; i < ix->cap; i++)
      if (ix->slots[i]) dk__place(ns, ncap, ix->slots[i]);
    ix->bytes += (ncap - ix->cap) * sizeof *ns;
    free(ix->slots);
    ix->slots = ns;
    ix->cap = ncap;
  }
  e = dk_calloc(1, sizeof *e);
  e->path = dk_strdup(path);
  e->hash = dk_str_hash(path);
  dk__place(ix->slots, ix->cap, e);
  ix->n++;
  ix->bytes += sizeof *e + strlen(path) + 1;
  return e;
}

static void dk__oput(struct dk__otab *t, const git_oid *oid, struct dk__ent *e) {
  if (2 * (t->n + 1) > t->cap) {
    size_t ncap = t->cap ? 2 * t->cap : 64;
    struct dk__oslot *ns = dk_calloc(ncap, sizeof *ns);
    for (size_t i = 0; i < t->cap; i++) {
      if (!t->slots[i].e) continue;
      size_t j = dk__ohash(&t->slots[i].oid) & (ncap - 1);
      while (ns[j].e) j = (j + 1) & (ncap - 1);
      ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
  }
  size_t j = dk__ohash(oid) & (t->cap - 1);
  while (t->slots[j].e) j = (j + 1) & (t->cap - 1);
  t->slots[j].oid = *oid;
  t->slots[j].e = e;
  t->n++;
}

/* Remove the slot of (oid, e), shifting back the run after it. */
static void dk__odel(struct dk__otab *t, const git_oid *oid, const struct dk__ent *e) {
  if (t->cap == 0) return;
  size_t m = t->cap - 1, i = dk__ohash(oid) & m;
  while (t->slots[i].e && !(t->slots[i].e == e && dk_oid_equal(&t->slots[i].oid, oid))) i = (i + 1) & m;
  if (!t->slots[i].e) return;
  t->slots[i].e = NULL;
  t->n--;
  for (size_t j = (i + 1) & m; t->slots[j].e; j = (j + 1) & m) {
    size_t home = dk__ohash(&t->slots[j].oid) & m;
    /* the slot at j may move to i when i lies on its probe path */
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      t->slots[i] = t->slots[j];
      t->slots[j].e = NULL;
      i = j;
    }
  }
}

static struct dk__hold *dk__holder(struct dk__ent *e, size_t s) {
  for (size_t i = 0; i < e->nh; i++)
    if (e->h[i].src == s) return &e->h[i];
  return NULL;
}

/* Remember that e changed since the last save (for the log). */
static void dk__changed(struct dk_index *ix, struct dk__ent *e) {
  ix->dirty = 1;
  if (e->logged) return;
  if (ix->nchanged == ix->capchanged) {
    ix->capchanged = ix->capchanged ? 2 * ix->capchanged : 256;
    ix->changed = dk_realloc(ix->changed, ix->capchanged * sizeof *ix->changed);
  }
  ix->changed[ix->nchanged++] = e;
  e->logged = 1;
}

void dk_index_set(struct dk_index *ix, size_t s, const char *path, const git_oid *oid) {
  struct dk__ent *e = oid ? dk__get(ix, path) : dk__find(ix, path);
  if (e == NULL) return;
  dk__changed(ix, e);
  if (s == DK_INDEX_MAIN) {
    e->has_main = oid != NULL;
    if (oid) e->main = *oid;
    return;
  }
  struct dk__otab *t = &ix->src[s];
  struct dk__hold *h = dk__holder(e, s);
  if (h) {
    dk__odel(t, &h->oid, e);
    if (oid == NULL) {
      *h = e->h[--e->nh];
      return;
    }
  } else {
    if (oid == NULL) return;
    if (e->h_in_arena) { /* its holders move out of the arena to grow */
      struct dk__hold *own = dk_calloc(e->nh + 1, sizeof *own);
      if (e->nh) memcpy(own, e->h, e->nh * sizeof *own);
      e->h = own;
      e->caph = e->nh + 1;
      e->h_in_arena = 0;
      ix->bytes += sizeof *e->h * e->caph;
    } else if (e->nh == e->caph) {
      e->caph = e->caph ? 2 * e->caph : 1;
      e->h = dk_realloc(e->h, e->caph * sizeof *e->h);
      ix->bytes += sizeof *e->h * (e->caph - e->nh);
    }
    h = &e->h[e->nh++];
    h->src = s;
  }
  h->oid = *oid;
  dk__oput(t, oid, e);
}

struct dk__fill {
  struct dk_index *ix;
  size_t s;
};

static int dk__fill_cb(const char *path, const git_oid *blob, void *arg) {
  struct dk__fill *f = arg;
  dk_index_set(f->ix, f->s, path, blob);
  return 0;
}

static int dk__fill(struct dk_index *ix, struct dk_store *st, size_t s, const char *ref) {
  git_oid head;
  int found = 0, rc = dk_store_ref(st, ref, &head, &found);
  if (rc != 0) return rc;
  dk_index_set_head(ix, s, found ? &head : NULL);
  struct dk__fill f = {ix, s};
  return found ? dk_store_walk(st, &head, dk__fill_cb, &f) : 0;
}

int dk_index_build(struct dk_store *st, const char *const *refs, size_t n, struct dk_index **out) {
  struct dk_index *ix = dk_calloc(1, sizeof *ix);
  ix->nsrc = n;
  ix->src = dk_calloc(n ? n : 1, sizeof *ix->src);
  int rc = dk__fill(ix, st, DK_INDEX_MAIN, DK_MAIN_REF);
  for (size_t s = 0; s < n && rc == 0; s++) rc = dk__fill(ix, st, s, refs[s]);
  if (rc != 0) {
    dk_index_free(ix);
    return rc;
  }
  *out = ix;
  return 0;
}

void dk_index_free(struct dk_index *ix) {
  if (ix == NULL) return;
  for (size_t i = 0; i < ix->cap; i++) {
    struct dk__ent *e = ix->slots[i];
    if (!e) continue;
    if (!e->h_in_arena) free(e->h);
    if (!e->in_arena) {
      free(e->path);
      free(e);
    }
  }
  free(ix->slots);
  free(ix->arena_ent);
  free(ix->arena_path);
  free(ix->arena_hold);
  free(ix->changed);
  for (size_t s = 0; s < ix->nsrc; s++) free(ix->src[s].slots);
  free(ix->src);
  free(ix);
}

void dk_index_head(const struct dk_index *ix, size_t s, git_oid *oid, int *found) {
  const git_oid *h = s == DK_INDEX_MAIN ? &ix->main_head : &ix->src[s].head;
  *found = s == DK_INDEX_MAIN ? ix->main_found : ix->src[s].found;
  *oid = *h;
}

void dk_index_set_head(struct dk_index *ix, size_t s, const git_oid *oid) {
  git_oid *h = s == DK_INDEX_MAIN ? &ix->main_head : &ix->src[s].head;
  int *found = s == DK_INDEX_MAIN ? &ix->main_found : &ix->src[s].found;
  if (*found != (oid != NULL) || (oid && !dk_oid_equal(h, oid))) ix->dirty = 1;
  *found = oid != NULL;
  if (oid) *h = *oid;
  else memset(h, 0, sizeof *h);
}

static int dk__follow_cb(const char *path, enum dk_store_change how, const git_oid *old, const git_oid *neu,
                         void *arg) {
  (void)old;
  struct dk__fill *f = arg;
  dk_index_set(f->ix, f->s, path, how == DK_STORE_DELETED ? NULL : neu);
  return 0;
}

struct dk__drop {
  struct dk_index *ix;
  size_t s;
  char **paths;
  size_t n, cap;
};

static int dk__drop_cb(const char *path, const git_oid *oid, void *arg) {
  (void)oid;
  struct dk__drop *d = arg;
  if (d->n == d->cap) {
    d->cap = d->cap ? 2 * d->cap : 64;
    d->paths = dk_realloc(d->paths, d->cap * sizeof *d->paths);
  }
  d->paths[d->n++] = dk_strdup(path);
  return 0;
}

/* Forget everything the index holds for s (main: every main blob). */
static void dk__forget(struct dk_index *ix, size_t s) {
  if (s == DK_INDEX_MAIN) {
    for (size_t i = 0; i < ix->cap; i++)
      if (ix->slots[i] && ix->slots[i]->has_main) {
        ix->slots[i]->has_main = 0;
        dk__changed(ix, ix->slots[i]);
      }
    return;
  }
  struct dk__drop d = {ix, s, NULL, 0, 0};
  dk_index_source_foreach(ix, s, dk__drop_cb, &d);
  for (size_t i = 0; i < d.n; i++) {
    dk_index_set(ix, s, d.paths[i], NULL);
    free(d.paths[i]);
  }
  free(d.paths);
}

int dk_index_follow(struct dk_index *ix, struct dk_store *st, size_t s, const git_oid *now) {
  git_oid was;
  int found;
  dk_index_head(ix, s, &was, &found);
  if (now && found && dk_oid_equal(&was, now)) return 0;
  struct dk__fill f = {ix, s};
  int rc = 0;
  if (now && found) {
    rc = dk_store_diff(st, &was, now, dk__follow_cb, &f);
  } else {
    dk__forget(ix, s);
    if (now) rc = dk_store_walk(st, now, dk__fill_cb, &f);
  }
  if (rc == 0) dk_index_set_head(ix, s, now);
  return rc;
}

int dk_index_main(const struct dk_index *ix, const char *path, git_oid *oid) {
  const struct dk__ent *e = dk__find(ix, path);
  if (e == NULL || !e->has_main) return 0;
  *oid = e->main;
  return 1;
}

int dk_index_source(const struct dk_index *ix, size_t s, const char *path, git_oid *oid) {
  struct dk__ent *e = dk__find(ix, path);
  const struct dk__hold *h = e ? dk__holder(e, s) : NULL;
  if (h == NULL) return 0;
  *oid = h->oid;
  return 1;
}

const char *dk_index_source_by_oid(const struct dk_index *ix, size_t s, const git_oid *oid) {
  const struct dk__otab *t = &ix->src[s];
  if (t->cap == 0) return NULL;
  for (size_t i = dk__ohash(oid) & (t->cap - 1); t->slots[i].e; i = (i + 1) & (t->cap - 1))
    if (dk_oid_equal(&t->slots[i].oid, oid)) return t->slots[i].e->path;
  return NULL;
}

size_t dk_index_holders(const struct dk_index *ix, const char *path, size_t except, size_t *srcs, git_oid *oids,
                        size_t cap) {
  const struct dk__ent *e = dk__find(ix, path);
  size_t k = 0;
  for (size_t i = 0; e && i < e->nh; i++) {
    if (e->h[i].src == except) continue;
    if (k < cap) {
      srcs[k] = e->h[i].src;
      oids[k] = e->h[i].oid;
    }
    k++;
  }
  return k;
}

int dk_index_source_foreach(const struct dk_index *ix, size_t s,
                            int (*cb)(const char *path, const git_oid *oid, void *arg), void *arg) {
  const struct dk__otab *t = &ix->src[s];
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->slots[i].e) continue;
    int rc = cb(t->slots[i].e->path, &t->slots[i].oid, arg);
    if (rc) return rc;
  }
  return 0;
}

size_t dk_index_source_count(const struct dk_index *ix, size_t s) { return ix->src[s].n; }

size_t dk_index_bytes(const struct dk_index *ix) {
  size_t b = ix->bytes;
  for (size_t s = 0; s < ix->nsrc; s++) b += ix->src[s].cap * sizeof(struct dk__oslot);
  return b;
}


/* ---- kept with the repository ---------------------------------------------
 * <repo>/duikou.index, the base: "DKIDX2\n", a generation (16 random
 * bytes), u32 n and, for main and each of the n refs: its name (u16
 * length, bytes; main's is empty), whether it existed (u8), its head (20
 * bytes) and how many paths it holds (u32); then u64 entries, each: path
 * (u16 length, bytes), u8 has_main, main's blob (20), u32 holders and for
 * each: u32 ref number, blob (20); then the CRC-32 of all before it (u32).
 * <repo>/duikou.index.log, what changed since: "DKIXL1\n", the base's
 * generation, then a batch a save: u32 length, that many bytes, their
 * CRC-32 (u32). A batch holds every head (u32 n + 1, then for main and
 * each ref: u8 found, 20 bytes) and u32 entries, each as in the base (a
 * path nothing holds any more: has_main 0, no holders). Integers
 * little-endian. Both are a cache, written without fsync: read as far as
 * they are whole (a batch cut short or not matching its CRC ends the log),
 * validated by the heads they name, mended by comparing trees from them,
 * read again from the trees when the base is not such a file. A save
 * appends a batch while the log stays under a quarter of the base (1% of
 * the records changed: a 200 KB append, not a 10 MB file replaced, whose
 * old blocks a discard-mounted disk frees one by one); otherwise, or when
 * the refs are not the base's, it writes the base anew, with a new
 * generation, and removes the log. */
#define DK__IXMAGIC "DKIDX2\n"
#define DK__LOGMAGIC "DKIXL1\n"
#define DK__MAGIC_LEN 7
#define DK__GEN_LEN 16
#define DK__LOG_NAME "duikou.index.log"

static unsigned char *dk__p16(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
  return p + 2;
}
static unsigned char *dk__p32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
  return p + 4;
}
static unsigned char *dk__pbytes(unsigned char *p, const void *d, size_t n) {
  memcpy(p, d, n);
  return p + n;
}

/* Bytes of e as the files hold it, or 0 when its path is too long to keep
 * (no path is: segments are at most 250 bytes). */
static size_t dk__ent_size(const struct dk__ent *e) {
  size_t pl = strlen(e->path);
  return pl > 65535 ? 0 : 2 + pl + 1 + GIT_OID_RAWSZ + 4 + e->nh * (4 + GIT_OID_RAWSZ);
}

static unsigned char *dk__put_ent(unsigned char *p, const struct dk__ent *e) {
  size_t pl = strlen(e->path);
  p = dk__p16(p, (uint32_t)pl);
  p = dk__pbytes(p, e->path, pl);
  *p++ = (unsigned char)e->has_main;
  p = dk__pbytes(p, e->main.id, GIT_OID_RAWSZ);
  p = dk__p32(p, (uint32_t)e->nh);
  for (size_t h = 0; h < e->nh; h++) {
    p = dk__p32(p, (uint32_t)e->h[h].src);
    p = dk__pbytes(p, e->h[h].oid.id, GIT_OID_RAWSZ);
  }
  return p;
}

static void dk__changes_clear(struct dk_index *ix) {
  for (size_t i = 0; i < ix->nchanged; i++) ix->changed[i]->logged = 0;
  ix->nchanged = 0;
}

/* The base of the whole index under a new generation: malloc'd, *len
 * bytes; NULL when a path is too long to keep. */
static unsigned char *dk__base_bytes(struct dk_index *ix, const char *const *refs, size_t *len) {
  size_t total = DK__MAGIC_LEN + DK__GEN_LEN + 4 + 8 + 4, live = 0;
  for (size_t s = 0; s <= ix->nsrc; s++) total += 2 + (s ? strlen(refs[s - 1]) : 0) + 1 + GIT_OID_RAWSZ + 4;
  size_t mains = 0;
  for (size_t i = 0; i < ix->cap; i++) {
    const struct dk__ent *e = ix->slots[i];
    if (!e || !(e->has_main || e->nh)) continue;
    size_t n = dk__ent_size(e);
    if (n == 0) return NULL;
    total += n;
    live++;
    mains += e->has_main != 0;
  }
  unsigned char *out = dk_malloc(total), *p = out;
  dk_random_bytes(ix->gen, sizeof ix->gen);
  p = dk__pbytes(p, DK__IXMAGIC, DK__MAGIC_LEN);
  p = dk__pbytes(p, ix->gen, DK__GEN_LEN);
  p = dk__p32(p, (uint32_t)ix->nsrc);
  for (size_t s = 0; s <= ix->nsrc; s++) {
    const char *name = s == 0 ? "" : refs[s - 1];
    p = dk__p16(p, (uint32_t)strlen(name));
    p = dk__pbytes(p, name, strlen(name));
    *p++ = (unsigned char)(s == 0 ? ix->main_found : ix->src[s - 1].found);
    p = dk__pbytes(p, (s == 0 ? &ix->main_head : &ix->src[s - 1].head)->id, GIT_OID_RAWSZ);
    p = dk__p32(p, (uint32_t)(s == 0 ? mains : ix->src[s - 1].n));
  }
  p = dk__p32(p, (uint32_t)live);
  p = dk__p32(p, (uint32_t)((uint64_t)live >> 32));
  for (size_t i = 0; i < ix->cap; i++) {
    const struct dk__ent *e = ix->slots[i];
    if (e && (e->has_main || e->nh)) p = dk__put_ent(p, e);
  }
  p = dk__p32(p, (uint32_t)crc32(0L, out, (uInt)(p - out)));
  *len = (size_t)(p - out);
  return out;
}

/* The batch of what changed since the last save: its framed bytes
 * (length, payload, CRC), malloc'd; NULL when a path is too long. */
static unsigned char *dk__batch_bytes(const struct dk_index *ix, size_t *len) {
  size_t payload = 4 + (ix->nsrc + 1) * (1 + GIT_OID_RAWSZ) + 4;
  for (size_t i = 0; i < ix->nchanged; i++) {
    size_t n = dk__ent_size(ix->changed[i]);
    if (n == 0) return NULL;
    payload += n;
  }
  unsigned char *out = dk_malloc(payload + 8), *p = dk__p32(out, (uint32_t)payload), *start = p;
  p = dk__p32(p, (uint32_t)(ix->nsrc + 1));
  for (size_t s = 0; s <= ix->nsrc; s++) {
    *p++ = (unsigned char)(s == 0 ? ix->main_found : ix->src[s - 1].found);
    p = dk__pbytes(p, (s == 0 ? &ix->main_head : &ix->src[s - 1].head)->id, GIT_OID_RAWSZ);
  }
  p = dk__p32(p, (uint32_t)ix->nchanged);
  for (size_t i = 0; i < ix->nchanged; i++) p = dk__put_ent(p, ix->changed[i]);
  p = dk__p32(p, (uint32_t)crc32(0L, start, (uInt)payload));
  *len = (size_t)(p - out);
  return out;
}

/* Whether <repo>/duikou.index is still the base of generation gen. */
static int dk__base_is(struct dk_store *st, const unsigned char *gen) {
  int fd;
  char err[DK_ERRBUF_SIZE];
  if (dk_fs_open(st->path, "duikou.index", O_RDONLY, &fd, err) != 0) return 0;
  unsigned char head[DK__MAGIC_LEN + DK__GEN_LEN];
  ssize_t n = read(fd, head, sizeof head);
  close(fd);
  return n == (ssize_t)sizeof head && memcmp(head, DK__IXMAGIC, DK__MAGIC_LEN) == 0 &&
         memcmp(head + DK__MAGIC_LEN, gen, DK__GEN_LEN) == 0;
}

/* Append the batch to the log (written anew, with its header, when the
 * log is empty). Returns 0 or DK_EIO. */
static int dk__log_append(struct dk_index *ix, struct dk_store *st, const unsigned char *batch, size_t len) {
  int fd;
  char err[DK_ERRBUF_SIZE];
  int fresh = ix->log_size == 0;
  if (dk_fs_open(st->path, DK__LOG_NAME, O_WRONLY | O_APPEND | O_CREAT | (fresh ? O_TRUNC : 0), &fd, err) != 0)
    return DK_EIO;
  struct dk_buf b = {0};
  if (fresh) {
    dk_buf_append(&b, DK__LOGMAGIC, DK__MAGIC_LEN);
    dk_buf_append(&b, ix->gen, DK__GEN_LEN);
  }
  dk_buf_append(&b, batch, len);
  int rc = dk_fs_write_all(fd, b.data, b.len) == 0 ? 0 : DK_EIO;
  if (close(fd) != 0) rc = DK_EIO;
  if (rc == 0) ix->log_size += b.len;
  dk_buf_free(&b);
  return rc;
}

int dk_index_save(struct dk_index *ix, struct dk_store *st, const char *const *refs) {
  if (!ix->dirty) return 0;
  if (ix->base_ok && dk__base_is(st, ix->gen)) {
    size_t len;
    unsigned char *batch = dk__batch_bytes(ix, &len);
    int rc = DK_EIO;
    if (batch && ix->log_size + len <= ix->base_size / 4) rc = dk__log_append(ix, st, batch, len);
    free(batch);
    if (rc == 0) {
      dk__changes_clear(ix);
      ix->dirty = 0;
      return 0;
    }
    /* the log too long, or not written: a new base, which drops it */
  }
  size_t len;
  unsigned char *base = dk__base_bytes(ix, refs, &len);
  if (base == NULL) return 0; /* keep no file */
  int rc = dk_fs_write_cache(st->path, "duikou.index", base, len, st->err);
  free(base);
  if (rc != 0) {
    ix->base_ok = 0;
    return rc;
  }
  char err[DK_ERRBUF_SIZE];
  int urc = dk_fs_unlink(st->path, DK__LOG_NAME, err);
  ix->base_ok = urc == 0 || urc == DK_ENOENT; /* an old log left: never appended to */
  ix->base_size = len;
  ix->log_size = 0;
  dk__changes_clear(ix);
  ix->dirty = 0;
  return 0;
}

struct dk__rd {
  const unsigned char *p, *end;
  int bad;
};

static const unsigned char *dk__take(struct dk__rd *r, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = 1;
    return NULL;
  }
  const unsigned char *q = r->p;
  r->p += n;
  return q;
}
static uint32_t dk__le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t dk__get32(struct dk__rd *r, size_t n) {
  const unsigned char *q = dk__take(r, n);
  uint32_t v = 0;
  for (size_t i = 0; q && i < n; i++) v |= (uint32_t)q[i] << (8 * i);
  return v;
}

static size_t dk__pow2(size_t n, size_t min) {
  size_t c = min;
  while (c < n) c *= 2;
  return c;
}

/* The index of the base's bytes, its ref numbers mapped onto refs[0..n):
 * refs the file does not know are left unread (found 0, nothing held), so
 * that following them reads their trees. NULL when the bytes are not such
 * a file. Read in two passes: the first checks the shape and counts, so
 * that the entries, their paths and holders take three blocks and every
 * table is made at its size (no growing, no entry allocated alone). */
static struct dk_index *dk__parse_index(const unsigned char *data, size_t len, const char *const *refs, size_t n) {
  if (len < DK__MAGIC_LEN + DK__GEN_LEN + 4 + 8 + 4 || memcmp(data, DK__IXMAGIC, DK__MAGIC_LEN) != 0) return NULL;
  const unsigned char *t = data + len - 4;
  if ((uint32_t)crc32(0L, data, (uInt)(len - 4)) != dk__le32(t)) return NULL;
  struct dk__rd r = {data + DK__MAGIC_LEN + DK__GEN_LEN, data + len - 4, 0};
  uint32_t fn = dk__get32(&r, 4);
  if (r.bad || fn > len / 23) return NULL;
  size_t *map = dk_calloc((size_t)fn + 1, sizeof *map);
  struct dk_index *ix = dk_calloc(1, sizeof *ix);
  ix->nsrc = n;
  ix->src = dk_calloc(n ? n : 1, sizeof *ix->src);
  memcpy(ix->gen, data + DK__MAGIC_LEN, DK__GEN_LEN);
  for (uint32_t s = 0; s <= fn && !r.bad; s++) {
    uint32_t nl = dk__get32(&r, 2);
    const unsigned char *name = dk__take(&r, nl), *f = dk__take(&r, 1), *head = dk__take(&r, GIT_OID_RAWSZ);
    uint32_t count = dk__get32(&r, 4);
    if (r.bad) break;
    git_oid h;
    memcpy(h.id, head, GIT_OID_RAWSZ);
    map[s] = (size_t)-2; /* a ref no longer configured: dropped */
    if (s == 0) {
      map[s] = DK_INDEX_MAIN;
      dk_index_set_head(ix, DK_INDEX_MAIN, *f ? &h : NULL);
      continue;
    }
    for (size_t k = 0; k < n; k++)
      if (strlen(refs[k]) == nl && memcmp(refs[k], name, nl) == 0 && map[s] == (size_t)-2) {
        map[s] = k;
        dk_index_set_head(ix, k, *f ? &h : NULL);
        struct dk__otab *ot = &ix->src[k];
        ot->cap = dk__pow2(2 * ((size_t)count + 1), 64);
        ot->slots = dk_calloc(ot->cap, sizeof *ot->slots);
      }
  }
  uint64_t ne = dk__get32(&r, 4);
  ne |= (uint64_t)dk__get32(&r, 4) << 32;
  /* the first pass: the shape, and what the blocks need */
  const unsigned char *entries = r.p;
  size_t pathbytes = 0, holds = 0;
  for (uint64_t i = 0; i < ne && !r.bad; i++) {
    uint32_t pl = dk__get32(&r, 2);
    dk__take(&r, pl + 1 + GIT_OID_RAWSZ);
    uint32_t nh = dk__get32(&r, 4);
    if (r.bad || (size_t)(r.end - r.p) / (4 + GIT_OID_RAWSZ) < nh) {
      r.bad = 1;
      break;
    }
    for (uint32_t h = 0; h < nh && !r.bad; h++)
      if (dk__get32(&r, 4) >= fn) r.bad = 1;
      else dk__take(&r, GIT_OID_RAWSZ);
    pathbytes += pl + 1;
    holds += nh;
  }
  if (r.bad || r.p != r.end || ne > len) {
    free(map);
    dk_index_free(ix);
    return NULL;
  }
  ix->cap = dk__pow2(2 * ((size_t)ne + 1), 1024);
  ix->slots = dk_calloc(ix->cap, sizeof *ix->slots);
  struct dk__ent *ents = ix->arena_ent = dk_calloc(ne ? ne : 1, sizeof *ents);
  char *paths = ix->arena_path = dk_malloc(pathbytes ? pathbytes : 1);
  struct dk__hold *hs = ix->arena_hold = dk_calloc(holds ? holds : 1, sizeof *hs);
  ix->bytes += ix->cap * sizeof *ix->slots + ne * sizeof *ents + pathbytes + holds * sizeof *hs;
  /* the second: the entries */
  r.p = entries;
  int dup = 0;
  for (uint64_t i = 0; i < ne && !dup; i++) {
    uint32_t pl = dk__get32(&r, 2);
    struct dk__ent *e = &ents[i];
    e->path = paths;
    memcpy(paths, dk__take(&r, pl), pl);
    paths[pl] = '\0';
    paths += pl + 1;
    e->hash = dk_str_hash(e->path);
    e->in_arena = e->h_in_arena = 1;
    e->has_main = *dk__take(&r, 1);
    memcpy(e->main.id, dk__take(&r, GIT_OID_RAWSZ), GIT_OID_RAWSZ);
    uint32_t nh = dk__get32(&r, 4);
    e->h = hs;
    for (uint32_t h = 0; h < nh; h++) {
      size_t k = map[dk__get32(&r, 4) + 1];
      const unsigned char *o = dk__take(&r, GIT_OID_RAWSZ);
      if (k >= n || dk__holder(e, k)) continue; /* a ref dropped (or named twice) */
      e->h[e->nh].src = k;
      memcpy(e->h[e->nh].oid.id, o, GIT_OID_RAWSZ);
      dk__oput(&ix->src[k], &e->h[e->nh].oid, e);
      e->nh++;
    }
    hs += nh;
    size_t j = e->hash & (ix->cap - 1);
    for (; ix->slots[j]; j = (j + 1) & (ix->cap - 1))
      if (ix->slots[j]->hash == e->hash && strcmp(ix->slots[j]->path, e->path) == 0) dup = 1;
    ix->slots[j] = e;
    ix->n++;
  }
  /* the file says what the index holds only when it names the same refs */
  int same = fn == n;
  for (uint32_t s = 1; s <= fn && same; s++) same = map[s] == s - 1;
  free(map);
  if (dup) {
    dk_index_free(ix);
    return NULL;
  }
  ix->dirty = !same;
  ix->base_ok = same;
  ix->base_size = len;
  return ix;
}

/* The log's batches onto ix, as far as they are whole (a batch is applied
 * only once its CRC matched) and of ix's generation; what stops short of
 * its end (or another generation) makes the next save write a new base.
 * Returns 0, or -1 when a whole batch is not of the shape this module
 * writes (ix is then half changed: the caller reads the trees instead). */
static int dk__replay(struct dk_index *ix, const unsigned char *data, size_t len) {
  if (len < DK__MAGIC_LEN + DK__GEN_LEN || memcmp(data, DK__LOGMAGIC, DK__MAGIC_LEN) != 0 ||
      memcmp(data + DK__MAGIC_LEN, ix->gen, DK__GEN_LEN) != 0) {
    ix->base_ok = 0;
    return 0;
  }
  int shape = 0;
  struct dk__rd r = {data + DK__MAGIC_LEN + DK__GEN_LEN, data + len, 0};
  char *path = dk_malloc(65536);
  while (r.p < r.end) {
    const unsigned char *at = r.p;
    uint32_t plen = dk__get32(&r, 4);
    const unsigned char *pay = dk__take(&r, plen), *crc = dk__take(&r, 4);
    if (r.bad || (uint32_t)crc32(0L, pay, (uInt)plen) != dk__le32(crc)) {
      r.p = at;
      break;
    }
    struct dk__rd b = {pay, pay + plen, 0};
    if (dk__get32(&b, 4) != ix->nsrc + 1) { /* not of these refs */
      shape = -1;
      break;
    }
    for (size_t s = 0; s <= ix->nsrc; s++) {
      const unsigned char *f = dk__take(&b, 1), *h = dk__take(&b, GIT_OID_RAWSZ);
      if (b.bad) break;
      git_oid oid;
      memcpy(oid.id, h, GIT_OID_RAWSZ);
      dk_index_set_head(ix, s == 0 ? DK_INDEX_MAIN : s - 1, *f ? &oid : NULL);
    }
    uint32_t nent = dk__get32(&b, 4);
    for (uint32_t i = 0; i < nent && !b.bad; i++) {
      uint32_t pl = dk__get32(&b, 2);
      const unsigned char *pp = dk__take(&b, pl), *hm = dk__take(&b, 1), *mo = dk__take(&b, GIT_OID_RAWSZ);
      uint32_t nh = dk__get32(&b, 4);
      if (b.bad) break;
      memcpy(path, pp, pl);
      path[pl] = '\0';
      struct dk__ent *e = dk__get(ix, path);
      /* the entry whole: what it held goes, what the batch says comes */
      while (e->nh > 0) dk_index_set(ix, e->h[0].src, path, NULL);
      git_oid oid;
      memcpy(oid.id, mo, GIT_OID_RAWSZ);
      dk_index_set(ix, DK_INDEX_MAIN, path, *hm ? &oid : NULL);
      for (uint32_t h = 0; h < nh && !b.bad; h++) {
        uint32_t src = dk__get32(&b, 4);
        const unsigned char *ho = dk__take(&b, GIT_OID_RAWSZ);
        if (b.bad || src >= ix->nsrc) {
          b.bad = 1;
          break;
        }
        memcpy(oid.id, ho, GIT_OID_RAWSZ);
        dk_index_set(ix, src, path, &oid);
      }
    }
    if (b.bad || b.p != b.end) { /* a batch whose CRC matched but not its shape: never written so */
      shape = -1;
      break;
    }
  }
  free(path);
  if (r.p != r.end) ix->base_ok = 0;
  ix->log_size = (size_t)(r.p - data);
  return shape;
}

int dk_index_load(struct dk_store *st, const char *const *refs, size_t n, struct dk_index **out) {
  char *data = NULL;
  size_t len = 0;
  char err[DK_ERRBUF_SIZE];
  struct dk_index *ix = NULL;
  if (dk_fs_read(st->path, "duikou.index", &data, &len, err) == 0)
    ix = dk__parse_index((const unsigned char *)data, len, refs, n);
  free(data);
  if (ix == NULL) return dk_index_build(st, refs, n, out);
  if (ix->base_ok) {
    data = NULL;
    int rrc = 0;
    if (dk_fs_read(st->path, DK__LOG_NAME, &data, &len, err) == 0) rrc = dk__replay(ix, (const unsigned char *)data, len);
    free(data);
    if (rrc != 0) {
      dk_index_free(ix);
      return dk_index_build(st, refs, n, out);
    }
  }
  /* as read: nothing to save until something changes (unless the file
   * named other refs, or its log must be dropped) */
  dk__changes_clear(ix);
  ix->dirty = !ix->base_ok;
  /* from the heads it was saved at to where the refs point now */
  int rc = 0;
  for (size_t s = 0; s <= n && rc == 0; s++) {
    size_t k = s == 0 ? DK_INDEX_MAIN : s - 1;
    git_oid head;
    int found = 0;
    rc = dk_store_ref(st, s == 0 ? DK_MAIN_REF : refs[k], &head, &found);
    if (rc == 0) rc = dk_index_follow(ix, st, k, found ? &head : NULL);
  }
  if (rc != 0) {
    /* a head the repository no longer has (rewritten history): read it all */
    dk_index_free(ix);
    return dk_index_build(st, refs, n, out);
  }
  *out = ix;
  return 0;
}

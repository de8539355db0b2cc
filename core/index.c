#include "index.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fsafe.h"
#include "util.h"

struct dk__hold {
  size_t src;
  git_oid oid;
};

/* One path: main's blob and the sources holding it (most paths: one). */
struct dk__ent {
  char *path;
  uint64_t hash;
  int has_main;
  git_oid main;
  size_t nh, caph;
  struct dk__hold *h;
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
};

static uint64_t dk__hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static uint64_t dk__ohash(const git_oid *o) {
  uint64_t h;
  memcpy(&h, o->id, sizeof h);
  return h;
}

static struct dk__ent *dk__find(const struct dk_index *ix, const char *path) {
  if (ix->cap == 0) return NULL;
  uint64_t h = dk__hash(path);
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
  e->hash = dk__hash(path);
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

void dk_index_set(struct dk_index *ix, size_t s, const char *path, const git_oid *oid) {
  struct dk__ent *e = oid ? dk__get(ix, path) : dk__find(ix, path);
  if (e == NULL) return;
  ix->dirty = 1;
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
    if (e->nh == e->caph) {
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
    if (!ix->slots[i]) continue;
    free(ix->slots[i]->path);
    free(ix->slots[i]->h);
    free(ix->slots[i]);
  }
  free(ix->slots);
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
      if (ix->slots[i]) ix->slots[i]->has_main = 0;
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

/* ---- kept with the repository: <repo>/duikou.index ----------------------
 * "DKIDX1\n", then u32 n and, for main and each of the n refs: its name
 * (u16 length, bytes; main's is empty), whether it existed (u8) and its head
 * (20 bytes); then u64 entries, each: path (u16 length, bytes), u8 has_main,
 * main's blob (20), u32 holders and for each: u32 ref number, blob (20).
 * Integers little-endian. A cache: validated by the heads it names, mended
 * by comparing trees from them, and read again from the trees when it is
 * not such a file. */
#define DK__IXMAGIC "DKIDX1\n"

static void dk__u16(struct dk_buf *b, uint32_t v) {
  unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
  dk_buf_append(b, x, 2);
}
static void dk__u32(struct dk_buf *b, uint32_t v) {
  unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
  dk_buf_append(b, x, 4);
}

int dk_index_save(struct dk_index *ix, struct dk_store *st, const char *const *refs) {
  if (!ix->dirty) return 0;
  struct dk_buf b = {0};
  dk_buf_append(&b, DK__IXMAGIC, sizeof DK__IXMAGIC - 1);
  dk__u32(&b, (uint32_t)ix->nsrc);
  for (size_t s = 0; s <= ix->nsrc; s++) {
    const char *name = s == 0 ? "" : refs[s - 1];
    dk__u16(&b, (uint32_t)strlen(name));
    dk_buf_append(&b, name, strlen(name));
    unsigned char f = s == 0 ? (unsigned char)ix->main_found : (unsigned char)ix->src[s - 1].found;
    dk_buf_append(&b, &f, 1);
    dk_buf_append(&b, (s == 0 ? &ix->main_head : &ix->src[s - 1].head)->id, GIT_OID_RAWSZ);
  }
  size_t live = 0;
  for (size_t i = 0; i < ix->cap; i++) live += ix->slots[i] && (ix->slots[i]->has_main || ix->slots[i]->nh);
  dk__u32(&b, (uint32_t)live);
  dk__u32(&b, (uint32_t)((uint64_t)live >> 32));
  for (size_t i = 0; i < ix->cap; i++) {
    const struct dk__ent *e = ix->slots[i];
    if (!e || !(e->has_main || e->nh)) continue;
    size_t pl = strlen(e->path);
    if (pl > 65535) { /* no path is that long (segments are at most 250 bytes): keep no file */
      dk_buf_free(&b);
      return 0;
    }
    dk__u16(&b, (uint32_t)pl);
    dk_buf_append(&b, e->path, pl);
    unsigned char hm = (unsigned char)e->has_main;
    dk_buf_append(&b, &hm, 1);
    dk_buf_append(&b, e->main.id, GIT_OID_RAWSZ);
    dk__u32(&b, (uint32_t)e->nh);
    for (size_t h = 0; h < e->nh; h++) {
      dk__u32(&b, (uint32_t)e->h[h].src);
      dk_buf_append(&b, e->h[h].oid.id, GIT_OID_RAWSZ);
    }
  }
  int rc = dk_fs_write_atomic(st->path, "duikou.index", b.data, b.len, st->err);
  dk_buf_free(&b);
  if (rc == 0) ix->dirty = 0;
  return rc;
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
static uint32_t dk__get32(struct dk__rd *r, size_t n) {
  const unsigned char *q = dk__take(r, n);
  uint32_t v = 0;
  for (size_t i = 0; q && i < n; i++) v |= (uint32_t)q[i] << (8 * i);
  return v;
}

/* The index of the file's bytes, its ref numbers mapped onto refs[0..n):
 * refs the file does not know are left unread (found 0, nothing held), so
 * that following them reads their trees. NULL when the bytes are not such
 * a file. */
static struct dk_index *dk__parse_index(const unsigned char *data, size_t len, const char *const *refs, size_t n) {
  struct dk__rd r = {data, data + len, 0};
  const unsigned char *m = dk__take(&r, sizeof DK__IXMAGIC - 1);
  if (m == NULL || memcmp(m, DK__IXMAGIC, sizeof DK__IXMAGIC - 1) != 0) return NULL;
  uint32_t fn = dk__get32(&r, 4);
  if (r.bad || fn > (len / 23)) return NULL;
  struct dk_index *ix = dk_calloc(1, sizeof *ix);
  ix->nsrc = n;
  ix->src = dk_calloc(n ? n : 1, sizeof *ix->src);
  size_t *map = dk_calloc((size_t)fn + 1, sizeof *map);
  for (uint32_t s = 0; s <= fn && !r.bad; s++) {
    uint32_t nl = dk__get32(&r, 2);
    const unsigned char *name = dk__take(&r, nl), *f = dk__take(&r, 1), *head = dk__take(&r, GIT_OID_RAWSZ);
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
      if (strlen(refs[k]) == nl && memcmp(refs[k], name, nl) == 0) {
        map[s] = k;
        dk_index_set_head(ix, k, *f ? &h : NULL);
      }
  }
  uint64_t ne = dk__get32(&r, 4);
  ne |= (uint64_t)dk__get32(&r, 4) << 32;
  char *path = dk_malloc(65536);
  for (uint64_t i = 0; i < ne && !r.bad; i++) {
    uint32_t pl = dk__get32(&r, 2);
    const unsigned char *pp = dk__take(&r, pl), *hm = dk__take(&r, 1), *mo = dk__take(&r, GIT_OID_RAWSZ);
    uint32_t nh = dk__get32(&r, 4);
    if (r.bad) break;
    memcpy(path, pp, pl);
    path[pl] = '\0';
    git_oid oid;
    if (*hm) {
      memcpy(oid.id, mo, GIT_OID_RAWSZ);
      dk_index_set(ix, DK_INDEX_MAIN, path, &oid);
    }
    for (uint32_t h = 0; h < nh && !r.bad; h++) {
      uint32_t fs = dk__get32(&r, 4);
      const unsigned char *ho = dk__take(&r, GIT_OID_RAWSZ);
      if (r.bad || fs >= fn) {
        r.bad = 1;
        break;
      }
      memcpy(oid.id, ho, GIT_OID_RAWSZ);
      if (map[fs + 1] < n) dk_index_set(ix, map[fs + 1], path, &oid);
    }
  }
  /* the file says what the index holds only when it names the same refs */
  int same = fn == n;
  for (uint32_t s = 1; s <= fn && same; s++) same = map[s] == s - 1;
  free(path);
  free(map);
  if (r.bad || r.p != r.end) {
    dk_index_free(ix);
    return NULL;
  }
  ix->dirty = !same;
  return ix;
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

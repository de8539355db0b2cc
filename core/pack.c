#include "pack.h"
#include "fsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <zlib.h>

#include "util.h"

/* The low-level SHA1_* calls are deprecated in OpenSSL 3 in favour of EVP,
 * but EVP_DigestInit_ex fetches the digest from the provider store (under a
 * lock all worker threads share) on every call, and needs an allocation; a
 * SHA_CTX on the stack needs neither. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void dk__sha_init(SHA_CTX *c) { SHA1_Init(c); }
static void dk__sha_update(SHA_CTX *c, const void *d, size_t n) { SHA1_Update(c, d, n); }
static void dk__sha_final(SHA_CTX *c, unsigned char out[20]) { SHA1_Final(out, c); }
#pragma GCC diagnostic pop

/* git's names of the four base types (what the object header says). */
static const char *dk__type_name(git_object_t type) {
  switch (type) {
  case GIT_OBJECT_COMMIT: return "commit";
  case GIT_OBJECT_TREE: return "tree";
  case GIT_OBJECT_BLOB: return "blob";
  case GIT_OBJECT_TAG: return "tag";
  default: return "";
  }
}

static int dk__type_ok(git_object_t type) {
  return type == GIT_OBJECT_COMMIT || type == GIT_OBJECT_TREE || type == GIT_OBJECT_BLOB || type == GIT_OBJECT_TAG;
}

void dk_object_id2(git_object_t type, const void *a, size_t alen, const void *b, size_t blen, git_oid *oid) {
  /* "<type> <size>\0" by hand: snprintf was a third of a small record's id */
  char hdr[64], digits[24];
  const char *name = dk__type_name(type);
  size_t n = strlen(name), k = 0;
  memcpy(hdr, name, n);
  hdr[n++] = ' ';
  for (size_t v = alen + blen; k == 0 || v > 0; v /= 10) digits[k++] = (char)('0' + v % 10);
  while (k > 0) hdr[n++] = digits[--k];
  hdr[n] = '\0';
  SHA_CTX c;
  dk__sha_init(&c);
  dk__sha_update(&c, hdr, n + 1); /* with its NUL */
  dk__sha_update(&c, a, alen);
  dk__sha_update(&c, b, blen);
  dk__sha_final(&c, oid->id);
}

void dk_object_id(git_object_t type, const void *data, size_t len, git_oid *oid) {
  dk_object_id2(type, data, len, "", 0, oid);
}

static int dk__deflate(const void *data, size_t len, int level, unsigned char **z, size_t *zlen);

int dk_object_prepare(git_object_t type, const void *data, size_t len, git_oid *oid, unsigned char **z,
                      size_t *zlen) {
  *z = NULL;
  *zlen = 0;
  if (!dk__type_ok(type)) return DK_EINVAL;
  dk_object_id(type, data, len, oid);
  /* a tree is mostly object ids, which do not compress: level 1 gains a
   * fifth of its size at some 35 MB/s, stored blocks cost a copy */
  return dk__deflate(data, len, type == GIT_OBJECT_TREE ? Z_NO_COMPRESSION : Z_BEST_SPEED, z, zlen);
}

/* Per thread, a deflate stream for each window size, made once and reset
 * for each object: deflateInit allocates and clears some 256 KB (window and
 * hash heads) for the default 32 KB window, which is what a tree or record
 * of a few hundred bytes cost most. A small object gets a window and hash
 * table just big enough for it: the stream is as valid (git reads any
 * window), and it resets in a few hundred bytes. Freed at thread exit. */
#define DK__ZMIN 9 /* zlib's smallest window: 512 bytes */
#define DK__ZMAX 15
#define DK__ZN (DK__ZMAX - DK__ZMIN + 2) /* a stream per window for Z_BEST_SPEED, one for Z_NO_COMPRESSION */
struct dk__zcache {
  z_stream zs[DK__ZN];
  unsigned char live[DK__ZN];
};
static pthread_key_t dk__zkey;
static pthread_once_t dk__zonce = PTHREAD_ONCE_INIT;
static _Thread_local struct dk__zcache *dk__zmine;

static void dk__zfree(void *arg) {
  struct dk__zcache *c = arg;
  for (int i = 0; i < DK__ZN; i++)
    if (c->live[i]) deflateEnd(&c->zs[i]);
  free(c);
}
static void dk__zkey_make(void) { (void)pthread_key_create(&dk__zkey, dk__zfree); }

/* The thread's stream for len bytes at `level` (Z_BEST_SPEED or
 * Z_NO_COMPRESSION), reset; NULL when zlib has no memory. */
static z_stream *dk__zstream(size_t len, int level) {
  int w = DK__ZMIN;
  while (level != Z_NO_COMPRESSION && w < DK__ZMAX && ((size_t)1 << w) < len + 262) w++; /* 262: MIN_LOOKAHEAD */
  if (dk__zmine == NULL) {
    pthread_once(&dk__zonce, dk__zkey_make);
    dk__zmine = dk_calloc(1, sizeof *dk__zmine);
    (void)pthread_setspecific(dk__zkey, dk__zmine);
  }
  struct dk__zcache *c = dk__zmine;
  int i = level == Z_NO_COMPRESSION ? DK__ZN - 1 : w - DK__ZMIN;
  if (!c->live[i]) {
    /* a hash table of about the window's size (memLevel 1..8: 2^(m+7) heads) */
    int mem = w - 7 < 1 ? 1 : w - 7 > 8 ? 8 : w - 7;
    if (deflateInit2(&c->zs[i], level, Z_DEFLATED, w, mem, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    c->live[i] = 1;
  } else if (deflateReset(&c->zs[i]) != Z_OK) {
    return NULL;
  }
  return &c->zs[i];
}

/* dk_object_deflate at a level. */
static int dk__deflate(const void *data, size_t len, int level, unsigned char **z, size_t *zlen) {
  *z = NULL;
  *zlen = 0;
  z_stream *zs = dk__zstream(len, level);
  if (zs == NULL) return DK_ENOMEM;
  /* deflateBound is tight for the default window and memory only (stored
   * blocks of a small memLevel carry more headers): the buffer grows when
   * deflate asks for more */
  size_t n = (size_t)deflateBound(zs, (uLong)len) + len / 64 + 64, used = 0, inleft = len;
  unsigned char *out = malloc(n);
  if (out == NULL) return DK_ENOMEM;
  zs->next_in = (Bytef *)(uintptr_t)data; /* zlib does not write through next_in */
  int zrc;
  do { /* in pieces of at most 4 GB, what a uInt counts */
    if (used == n) {
      unsigned char *more = realloc(out, 2 * n);
      if (more == NULL) break;
      out = more;
      n *= 2;
    }
    zs->next_out = out + used;
    zs->avail_in = inleft > UINT_MAX ? UINT_MAX : (uInt)inleft;
    zs->avail_out = n - used > UINT_MAX ? UINT_MAX : (uInt)(n - used);
    uInt in0 = zs->avail_in, out0 = zs->avail_out;
    zrc = deflate(zs, zs->avail_in == inleft ? Z_FINISH : Z_NO_FLUSH);
    inleft -= in0 - zs->avail_in;
    used += out0 - zs->avail_out;
  } while (zrc == Z_OK || (zrc == Z_BUF_ERROR && used == n));
  if (zrc != Z_STREAM_END) {
    free(out);
    return DK_ENOMEM;
  }
  n = used;
  /* the pack may hold many objects until it is written: give back the slack */
  unsigned char *shrunk = realloc(out, n ? n : 1);
  *z = shrunk ? shrunk : out;
  *zlen = n;
  return 0;
}

int dk_object_deflate(const void *data, size_t len, unsigned char **z, size_t *zlen) {
  return dk__deflate(data, len, Z_BEST_SPEED, z, zlen);
}

struct dk__obj {
  git_oid oid;
  git_object_t type;
  size_t size;
  unsigned char *z;
  size_t zlen;
};

struct dk_pack {
  struct dk__obj *objs;
  size_t n, cap;
  size_t *slots; /* open addressing: index + 1 into objs, 0 for an empty slot */
  size_t nslots; /* a power of two, at least twice n */
};

struct dk_pack *dk_pack_new(void) {
  struct dk_pack *p = dk_calloc(1, sizeof *p);
  p->nslots = 64;
  p->slots = dk_calloc(p->nslots, sizeof *p->slots);
  return p;
}

/* Object ids are SHA-1: their first bytes are already uniformly spread. */
static size_t dk__hash(const git_oid *oid) {
  uint64_t h;
  memcpy(&h, oid->id, sizeof h);
  return (size_t)h;
}

/* The slot holding oid, or the empty slot where it would go. */
static size_t dk__slot(const struct dk_pack *p, const git_oid *oid) {
  size_t mask = p->nslots - 1, i = dk__hash(oid) & mask;
  while (p->slots[i] != 0 && memcmp(p->objs[p->slots[i] - 1].oid.id, oid->id, GIT_OID_RAWSZ) != 0)
    i = (i + 1) & mask;
  return i;
}

static void dk__grow(struct dk_pack *p) {
  free(p->slots);
  p->nslots *= 2;
  p->slots = dk_calloc(p->nslots, sizeof *p->slots);
  for (size_t k = 0; k < p->n; k++) p->slots[dk__slot(p, &p->objs[k].oid)] = k + 1;
}

int dk_pack_add(struct dk_pack *p, git_object_t type, const git_oid *oid, size_t size, unsigned char *z,
                size_t zlen) {
  if (!dk__type_ok(type)) {
    free(z);
    return DK_EINVAL;
  }
  size_t i = dk__slot(p, oid);
  if (p->slots[i] != 0) {
    free(z);
    return 0;
  }
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 64;
    p->objs = dk_realloc(p->objs, p->cap * sizeof *p->objs);
  }
  p->objs[p->n] = (struct dk__obj){.type = type, .size = size, .z = z, .zlen = zlen};
  p->objs[p->n].oid = *oid;
  p->slots[i] = ++p->n;
  if (2 * p->n > p->nslots) dk__grow(p);
  return 1;
}

static const struct dk__obj *dk__find(const struct dk_pack *p, const git_oid *oid) {
  size_t i = dk__slot(p, oid);
  return p->slots[i] ? &p->objs[p->slots[i] - 1] : NULL;
}

int dk_pack_has(const struct dk_pack *p, const git_oid *oid) {
  return dk__find(p, oid) != NULL;
}

int dk_pack_info(const struct dk_pack *p, const git_oid *oid, git_object_t *type, size_t *size) {
  const struct dk__obj *o = dk__find(p, oid);
  if (o == NULL) return DK_ENOENT;
  *type = o->type;
  *size = o->size;
  return 0;
}

void dk_pack_move(struct dk_pack *dst, struct dk_pack *src) {
  for (size_t i = 0; i < src->n; i++) {
    struct dk__obj *o = &src->objs[i];
    dk_pack_add(dst, o->type, &o->oid, o->size, o->z, o->zlen); /* takes z, or frees a duplicate */
    o->z = NULL;
  }
  dk_pack_reset(src);
}

const git_oid *dk_pack_oid(const struct dk_pack *p, size_t i) { return i < p->n ? &p->objs[i].oid : NULL; }

size_t dk_pack_bytes(const struct dk_pack *p) {
  size_t b = 0;
  for (size_t i = 0; i < p->n; i++) b += p->objs[i].zlen;
  return b;
}

size_t dk_pack_count(const struct dk_pack *p) {
  return p->n;
}

int dk_pack_read(const struct dk_pack *p, const git_oid *oid, git_object_t *type, char **data, size_t *len) {
  *data = NULL;
  if (len) *len = 0;
  const struct dk__obj *o = dk__find(p, oid);
  if (o == NULL) return DK_ENOENT;
  if (o->size == SIZE_MAX) return DK_ENOMEM;
  /* one byte more than the size: room for the NUL, and a stream that
   * inflates to more than its size is seen */
  char *out = malloc(o->size + 1);
  if (out == NULL) return DK_ENOMEM;
  z_stream s = {0};
  if (inflateInit(&s) != Z_OK) {
    free(out);
    return DK_ENOMEM;
  }
  const unsigned char *in = o->z;
  size_t inleft = o->zlen, done = 0;
  int zr, rc = 0;
  for (;;) {
    if (s.avail_in == 0 && inleft > 0) {
      s.next_in = (Bytef *)in;
      s.avail_in = inleft > UINT_MAX ? UINT_MAX : (uInt)inleft;
      in += s.avail_in;
      inleft -= s.avail_in;
    }
    size_t room = o->size + 1 - done;
    s.next_out = (Bytef *)out + done;
    s.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
    uInt before = s.avail_out;
    zr = inflate(&s, Z_NO_FLUSH);
    done += before - s.avail_out;
    if (zr == Z_STREAM_END) break;
    if (zr == Z_MEM_ERROR) {
      rc = DK_ENOMEM;
      break;
    }
    if ((zr != Z_OK && zr != Z_BUF_ERROR) || done > o->size || (zr == Z_BUF_ERROR && s.avail_in == 0 && inleft == 0)) {
      rc = DK_EIO;
      break;
    }
  }
  inflateEnd(&s);
  if (rc == 0 && done != o->size) rc = DK_EIO;
  if (rc != 0) {
    free(out);
    return rc;
  }
  out[done] = '\0';
  *data = out;
  if (len) *len = done;
  if (type) *type = o->type;
  return 0;
}

void dk_pack_reset(struct dk_pack *p) {
  for (size_t k = 0; k < p->n; k++) free(p->objs[k].z);
  p->n = 0;
  memset(p->slots, 0, p->nslots * sizeof *p->slots);
}

void dk_pack_free(struct dk_pack *p) {
  if (p == NULL) return;
  dk_pack_reset(p);
  free(p->objs);
  free(p->slots);
  free(p);
}

static void dk__be32(unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)(v >> 24), b[1] = (unsigned char)(v >> 16), b[2] = (unsigned char)(v >> 8),
  b[3] = (unsigned char)v;
}

static int dk__oidcmp(const void *a, const void *b) {
  return memcmp(((const struct dk__idx_entry *)a)->oid.id, ((const struct dk__idx_entry *)b)->oid.id, GIT_OID_RAWSZ);
}

unsigned char *dk__pack_idx(struct dk__idx_entry *e, size_t n, const unsigned char pack_sha[20], size_t *len) {
  qsort(e, n, sizeof *e, dk__oidcmp);
  size_t nlarge = 0;
  for (size_t k = 0; k < n; k++) nlarge += e[k].offset > 0x7fffffff;
  size_t total = 8 + 256 * 4 + n * (GIT_OID_RAWSZ + 4 + 4) + nlarge * 8 + 2 * 20;
  unsigned char *b = dk_malloc(total), *q = b;
  memcpy(q, "\377tOc\0\0\0\2", 8);
  q += 8;
  size_t k = 0;
  for (unsigned first = 0; first < 256; first++, q += 4) {
    while (k < n && e[k].oid.id[0] <= first) k++;
    dk__be32(q, (uint32_t)k);
  }
  for (k = 0; k < n; k++, q += GIT_OID_RAWSZ) memcpy(q, e[k].oid.id, GIT_OID_RAWSZ);
  for (k = 0; k < n; k++, q += 4) dk__be32(q, e[k].crc);
  unsigned char *large = q + n * 4;
  uint32_t nl = 0;
  for (k = 0; k < n; k++, q += 4) {
    uint64_t off = e[k].offset;
    if (off <= 0x7fffffff) {
      dk__be32(q, (uint32_t)off);
    } else {
      dk__be32(q, 0x80000000u | nl++);
      dk__be32(large, (uint32_t)(off >> 32));
      dk__be32(large + 4, (uint32_t)off);
      large += 8;
    }
  }
  q = large;
  memcpy(q, pack_sha, 20);
  q += 20;
  SHA_CTX c;
  dk__sha_init(&c);
  dk__sha_update(&c, b, (size_t)(q - b));
  dk__sha_final(&c, q);
  *len = total;
  return b;
}

/* Buffered output that hashes what it writes; the first errno is kept. */
struct dk__out {
  int fd, e;
  SHA_CTX sha;
  unsigned char *buf;
  size_t n, cap;
  uint64_t off;
};

static void dk__write_all(struct dk__out *o, const unsigned char *p, size_t left) {
  while (left > 0 && o->e == 0) {
    ssize_t w = write(o->fd, p, left > (1u << 30) ? (1u << 30) : left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      o->e = w < 0 ? errno : EIO;
      return;
    }
    p += w;
    left -= (size_t)w;
  }
}

static void dk__flush(struct dk__out *o) {
  dk__write_all(o, o->buf, o->n);
  o->n = 0;
}

static void dk__put(struct dk__out *o, const void *data, size_t len) {
  dk__sha_update(&o->sha, data, len);
  o->off += len;
  if (o->n + len > o->cap) dk__flush(o);
  if (len >= o->cap) {
    dk__write_all(o, data, len);
  } else {
    memcpy(o->buf + o->n, data, len);
    o->n += len;
  }
}

/* objects/pack below gitdir, created (0755, as git does) when objects
 * exists without it. */
static int dk__pack_dir(const char *gitdir, const char *dirpath, int *out, char *err) {
  int ofd;
  *out = -1;
  int rc = dk_fs_dir(gitdir, "objects", 0, &ofd, err);
  if (rc != 0) return DK_EIO; /* a missing objects folder is no git directory: not a "not found" */
  int fd = openat(ofd, "pack", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && (mkdirat(ofd, "pack", 0755) == 0 || errno == EEXIST))
    fd = openat(ofd, "pack", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    rc = dk_fs_fail(err, errno, "cannot open folder", dirpath);
    if (rc == DK_ENOENT) rc = DK_EIO;
  }
  close(ofd);
  *out = fd;
  return rc;
}

static int dk__fail_io(char *err, int e, const char *what, const char *dir, const char *name) {
  char *full = dk_asprintf("%s/%s", dir, name);
  int rc = dk_fs_fail(err, e, what, full);
  free(full);
  return rc == DK_ENOENT ? DK_EIO : rc;
}

/* Write `len` bytes of `data` (NULL: the pack's objects) into a new file
 * `name` in dfd. The pack's objects get their crc and offset in e, and its
 * SHA-1 trailer in sha. */
static int dk__write_file(int dfd, const char *dir, const char *name, const struct dk_pack *p,
                          struct dk__idx_entry *e, unsigned char sha[20], const unsigned char *data, size_t len,
                          char *err) {
  /* 0444: git's and libgit2's mode for pack files, which are never rewritten */
  int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
  if (fd < 0) return dk__fail_io(err, errno, "cannot create", dir, name);
  struct dk__out o = {.fd = fd};
  if (data) {
    dk__write_all(&o, data, len);
  } else {
    o.cap = 1 << 20;
    o.buf = dk_malloc(o.cap);
    dk__sha_init(&o.sha);
    unsigned char hdr[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2};
    dk__be32(hdr + 8, (uint32_t)p->n);
    dk__put(&o, hdr, sizeof hdr);
    for (size_t k = 0; k < p->n && o.e == 0; k++) {
      const struct dk__obj *ob = &p->objs[k];
      unsigned char oh[16];
      size_t i = 0, size = ob->size;
      oh[0] = (unsigned char)((ob->type << 4) | (size & 0x0f));
      for (size >>= 4; size; size >>= 7) {
        oh[i++] |= 0x80;
        oh[i] = (unsigned char)(size & 0x7f);
      }
      e[k].oid = ob->oid;
      e[k].offset = o.off;
      e[k].crc = (uint32_t)crc32_z(crc32_z(0, oh, i + 1), ob->z, ob->zlen);
      dk__put(&o, oh, i + 1);
      dk__put(&o, ob->z, ob->zlen);
    }
    dk__sha_final(&o.sha, sha);
    dk__flush(&o);
    dk__write_all(&o, sha, 20);
    free(o.buf);
  }
  if (close(fd) != 0 && o.e == 0) o.e = errno;
  if (o.e != 0) {
    unlinkat(dfd, name, 0);
    return dk__fail_io(err, o.e, "writing", dir, name);
  }
  return 0;
}

int dk_pack_write(struct dk_pack *p, const char *gitdir, char *err) {
  if (p->n == 0) return 0;
  if (p->n > UINT32_MAX) return dk_failf(err, DK_EIO, "%zu objects do not fit in one pack", p->n);
  char *dir = dk_asprintf("%s/objects/pack", gitdir);
  int dfd, rc = dk__pack_dir(gitdir, dir, &dfd, err);
  if (rc != 0) {
    free(dir);
    return rc;
  }
  unsigned char rnd[8];
  dk_random_bytes(rnd, sizeof rnd);
  char suffix[17], tpack[32], tidx[32], fpack[64], fidx[64], hex[GIT_OID_HEXSZ + 1];
  for (size_t i = 0; i < sizeof rnd; i++) snprintf(suffix + 2 * i, 3, "%02x", rnd[i]);
  /* tmp_ files in objects/pack are what git prune removes once they are old */
  snprintf(tpack, sizeof tpack, "tmp_pack_%s", suffix);
  snprintf(tidx, sizeof tidx, "tmp_idx_%s", suffix);
  struct dk__idx_entry *e = dk_malloc(p->n * sizeof *e);
  unsigned char sha[20];
  rc = dk__write_file(dfd, dir, tpack, p, e, sha, NULL, 0, err);
  if (rc == 0) {
    size_t ilen;
    unsigned char *idx = dk__pack_idx(e, p->n, sha, &ilen);
    rc = dk__write_file(dfd, dir, tidx, NULL, NULL, NULL, idx, ilen, err);
    free(idx);
    if (rc != 0) unlinkat(dfd, tpack, 0);
  }
  free(e);
  if (rc == 0) {
    dk_hex(sha, GIT_OID_RAWSZ, hex);
    snprintf(fpack, sizeof fpack, "pack-%s.pack", hex);
    snprintf(fidx, sizeof fidx, "pack-%s.idx", hex);
    /* The same objects in the same order were packed before: that pack is
     * complete (its .idx came last), and replacing it would gain nothing. */
    if (faccessat(dfd, fidx, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
      unlinkat(dfd, tpack, 0);
      unlinkat(dfd, tidx, 0);
    } else if (renameat(dfd, tpack, dfd, fpack) != 0) {
      rc = dk__fail_io(err, errno, "cannot rename a new pack to", dir, fpack);
      unlinkat(dfd, tpack, 0);
      unlinkat(dfd, tidx, 0);
    } else if (renameat(dfd, tidx, dfd, fidx) != 0) {
      rc = dk__fail_io(err, errno, "cannot rename a new pack index to", dir, fidx);
      unlinkat(dfd, fpack, 0);
      unlinkat(dfd, tidx, 0);
    }
  }
  close(dfd);
  free(dir);
  return rc;
}

/* The zlib stream of a loose object, "<type> <size>\0" then its bytes,
 * spliced from the object's own deflate (o->z, a zlib stream of the bytes
 * alone): the header deflated raw and flushed to a byte boundary, the
 * bytes' deflate blocks as they are, and the Adler-32 of the two combined.
 * A deflate block refers back only within what it was made from, so the
 * bytes' blocks decode the same after the header. Returns a malloc'd
 * stream (*n bytes), or NULL when o->z is not a zlib stream. */
static unsigned char *dk__loose_stream(const struct dk__obj *o, size_t *n) {
  if (o->zlen < 6 || (o->z[0] & 0x0f) != 8 || (o->z[1] & 0x20) || ((o->z[0] << 8) | o->z[1]) % 31 != 0) return NULL;
  char hdr[64];
  int hl = snprintf(hdr, sizeof hdr, "%s %zu", dk__type_name(o->type), o->size) + 1;
  unsigned char hz[128];
  z_stream zs = {0};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
  zs.next_in = (Bytef *)hdr;
  zs.avail_in = (uInt)hl;
  zs.next_out = hz;
  zs.avail_out = sizeof hz;
  int zrc = deflate(&zs, Z_SYNC_FLUSH);
  size_t hzl = sizeof hz - zs.avail_out;
  deflateEnd(&zs);
  if (zrc != Z_OK) return NULL;
  const unsigned char *t = o->z + o->zlen - 4;
  uLong body_adler = ((uLong)t[0] << 24) | ((uLong)t[1] << 16) | ((uLong)t[2] << 8) | t[3];
  uLong adler = adler32_combine(adler32(adler32(0L, Z_NULL, 0), (const Bytef *)hdr, (uInt)hl), body_adler,
                                (z_off_t)o->size);
  size_t body = o->zlen - 6;
  unsigned char *out = dk_malloc(2 + hzl + body + 4);
  out[0] = 0x78, out[1] = 0x01; /* deflate, 32K window, fastest: 0x7801 % 31 == 0 */
  memcpy(out + 2, hz, hzl);
  memcpy(out + 2 + hzl, o->z + 2, body);
  unsigned char *a = out + 2 + hzl + body;
  a[0] = (unsigned char)(adler >> 24), a[1] = (unsigned char)(adler >> 16), a[2] = (unsigned char)(adler >> 8),
  a[3] = (unsigned char)adler;
  *n = 2 + hzl + body + 4;
  return out;
}

int dk_pack_write_loose(struct dk_pack *p, const char *gitdir, char *err) {
  if (p->n == 0) return 0;
  char *odir = dk_asprintf("%s/objects", gitdir);
  int ofd = open(odir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
  if (ofd < 0) rc = dk__fail_io(err, errno, "cannot open", gitdir, "objects");
  for (size_t i = 0; i < p->n && rc == 0; i++) {
    const struct dk__obj *o = &p->objs[i];
    char hex[GIT_OID_HEXSZ + 1], fan[3], tmp[64];
    dk_hex(o->oid.id, GIT_OID_RAWSZ, hex);
    memcpy(fan, hex, 2);
    fan[2] = '\0';
    struct stat sb;
    char rel[GIT_OID_HEXSZ + 2];
    snprintf(rel, sizeof rel, "%s/%s", fan, hex + 2);
    if (mkdirat(ofd, fan, 0755) != 0 && errno != EEXIST) {
      rc = dk__fail_io(err, errno, "cannot create", odir, fan);
      break;
    }
    /* the fan-out folder itself, never through a link planted there */
    int ffd = openat(ofd, fan, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ffd < 0) {
      rc = dk__fail_io(err, errno, "cannot open", odir, fan);
      break;
    }
    if (fstatat(ffd, hex + 2, &sb, AT_SYMLINK_NOFOLLOW) == 0) { /* there: the same bytes */
      close(ffd);
      continue;
    }
    size_t n;
    unsigned char *z = dk__loose_stream(o, &n);
    if (z == NULL) {
      close(ffd);
      rc = dk_failf(err, DK_EIO, "object %s: its deflated bytes are not a zlib stream", hex);
      break;
    }
    unsigned char rnd[8];
    dk_random_bytes(rnd, sizeof rnd);
    snprintf(tmp, sizeof tmp, "tmp_obj_%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5], rnd[6], rnd[7]);
    int fd = openat(ffd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444), e = errno;
    size_t done = 0;
    while (fd >= 0 && done < n) {
      ssize_t w = write(fd, z + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        e = w < 0 ? errno : ENOSPC;
        break;
      }
      done += (size_t)w;
    }
    if (fd >= 0 && close(fd) != 0 && done == n) e = errno, done = 0;
    if (fd < 0 || done != n) {
      rc = dk__fail_io(err, e, "cannot write", odir, rel);
      unlinkat(ffd, tmp, 0);
    } else if (renameat(ffd, tmp, ffd, hex + 2) != 0) {
      rc = dk__fail_io(err, errno, "cannot write", odir, rel);
      unlinkat(ffd, tmp, 0);
    }
    close(ffd);
    free(z);
  }
  if (ofd >= 0) close(ofd);
  free(odir);
  return rc;
}

#include "previous.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"
#include "fsafe.h"
#include "util.h"

/* The file: a header, the pages, the items, the strings (the three under
 * one CRC-32), then each body where its page says, 8-aligned. */
#define DK__PREV_MAGIC "DKPREV1\n"

struct dk__prev_head {
  char magic[8];
  unsigned char tag[DK_PREV_TAG];
  uint32_t npages, nitems;
  uint64_t nstrings;
  uint32_t crc, pad;
};

struct dk__prev_fpage {
  uint64_t url, body, len, first, end; /* url: into the strings; body: a file offset */
  uint32_t item0, nitems;
};

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DK__PREV_KEPT 1
#else
#define DK__PREV_KEPT 0
#endif

#define DK__PREV_PAGE 4096 /* where the bodies start: a multiple of any page size up to it */

static char *dk__prev_rel(const char *name) { return dk_asprintf("sources/%s.prev", name); }

void dk_prev_free(struct dk_prev *p) {
  if (p == NULL) return;
  if (p->map) munmap(p->map, p->maplen);
  free(p->pages);
  free(p);
}

void dk_prev_drop_bodies(struct dk_prev *p) {
  if (p == NULL || p->map == NULL || p->npages == 0) return;
  size_t from = (size_t)(p->pages[0].body - (const char *)p->map), pg = (size_t)sysconf(_SC_PAGESIZE);
  from = (from + pg - 1) & ~(pg - 1);
  if (from < p->maplen && munmap((char *)p->map + from, p->maplen - from) == 0) p->maplen = from;
  for (size_t i = 0; i < p->npages; i++) p->pages[i].body = NULL, p->pages[i].len = 0, p->pages[i].nitems = 0;
}

const struct dk_prev_page *dk_prev_page(const struct dk_prev *p, unsigned page, const char *url) {
  if (p == NULL || page == 0 || page > p->npages || url == NULL) return NULL;
  const struct dk_prev_page *pg = &p->pages[page - 1];
  return strcmp(pg->url, url) == 0 ? pg : NULL;
}

/* Whether the mapped file is whole: every count and offset within it. */
static int dk__prev_parse(struct dk_prev *p, const unsigned char *m, size_t len, const unsigned char *tag) {
  struct dk__prev_head h;
  if (len < sizeof h) return DK_EINVALID;
  memcpy(&h, m, sizeof h);
  if (memcmp(h.magic, DK__PREV_MAGIC, 8) != 0) return DK_EINVALID;
  if (memcmp(h.tag, tag, DK_PREV_TAG) != 0) return DK_ENOENT;
  uint64_t tab = (uint64_t)h.npages * sizeof(struct dk__prev_fpage) + (uint64_t)h.nitems * sizeof(struct dk_prev_item);
  if (h.nstrings == 0 || tab > len || h.nstrings > len - sizeof h - tab) return DK_EINVALID;
  const unsigned char *t = m + sizeof h;
  if ((uint32_t)crc32(0L, t, (uInt)(tab + h.nstrings)) != h.crc) return DK_EINVALID;
  const struct dk__prev_fpage *fp = (const void *)t;
  const struct dk_prev_item *items = (const void *)(t + (size_t)h.npages * sizeof *fp);
  p->strings = (const char *)(t + tab);
  if (p->strings[h.nstrings - 1] != '\0') return DK_EINVALID;
  memcpy(p->tag, h.tag, DK_PREV_TAG);
  p->npages = h.npages;
  p->pages = dk_calloc(h.npages ? h.npages : 1, sizeof *p->pages);
  for (uint32_t i = 0; i < h.npages; i++) {
    const struct dk__prev_fpage *f = &fp[i];
    if (f->url >= h.nstrings || f->body > len || f->len > len - f->body || f->first > f->end || f->end > f->len ||
        f->item0 > h.nitems || f->nitems > h.nitems - f->item0)
      return DK_EINVALID;
    p->pages[i] = (struct dk_prev_page){p->strings + f->url, (const char *)m + f->body, f->len, f->first, f->end,
                                        items + f->item0, f->nitems};
    for (uint32_t k = 0; k < f->nitems; k++) {
      const struct dk_prev_item *it = &items[f->item0 + k];
      if (it->off > f->len || it->len > f->len - it->off || it->path >= h.nstrings) return DK_EINVALID;
    }
  }
  return 0;
}

int dk_prev_load(const char *statedir, const char *name, const unsigned char tag[DK_PREV_TAG], struct dk_prev **out,
                 char *err) {
  *out = NULL;
  if (!DK__PREV_KEPT) return DK_ENOENT;
  char *rel = dk__prev_rel(name);
  int fd, rc = dk_fs_open(statedir, rel, O_RDONLY, &fd, err);
  if (rc != 0) {
    free(rel);
    return rc;
  }
  struct stat st;
  struct dk_prev *p = dk_calloc(1, sizeof *p);
  if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(struct dk__prev_head)) {
    rc = dk_failf(err, DK_EINVALID, "%s/%s is cut short", statedir, rel);
  } else {
    p->maplen = (size_t)st.st_size;
    /* populated: the bodies are read through once, and faulting them in a
     * page at a time costs more than the reading */
    p->map = mmap(NULL, p->maplen, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p->map == MAP_FAILED) {
      p->map = NULL;
      rc = dk_fs_fail(err, errno, "cannot map", rel);
    } else if ((rc = dk__prev_parse(p, p->map, p->maplen, tag)) == DK_EINVALID) {
      dk_failf(err, rc, "%s/%s is damaged", statedir, rel);
    }
  }
  close(fd);
  free(rel);
  if (rc != 0) dk_prev_free(p);
  else *out = p;
  return rc;
}

static int dk__witem_cmp(const void *a, const void *b) {
  const struct dk_prev_witem *x = a, *y = b;
  if (x->page != y->page) return x->page < y->page ? -1 : 1;
  return x->off < y->off ? -1 : x->off > y->off;
}

static size_t dk__align8(size_t n) { return (n + 7) & ~(size_t)7; }

int dk_prev_save(const char *statedir, const char *name, const struct dk_prev_wpage *pages, size_t npages,
                 struct dk_prev_witem *items, size_t nitems, unsigned char tag[DK_PREV_TAG], char *err) {
  if (!DK__PREV_KEPT) return DK_ENOENT;
  if (npages > UINT32_MAX || nitems > UINT32_MAX) return dk_failf(err, DK_ETOOBIG, "too many items to keep");
  size_t nstrings = 0, kept = 0;
  for (size_t i = 0; i < npages; i++) nstrings += strlen(pages[i].url) + 1;
  for (size_t i = 0; i < nitems; i++) { /* the items within their pages, in order */
    const struct dk_prev_witem *w = &items[i];
    if (w->page < npages && w->off <= pages[w->page].len && w->len <= pages[w->page].len - w->off &&
        w->len <= UINT32_MAX)
      nstrings += strlen(w->path) + 1, items[kept++] = *w;
  }
  qsort(items, kept, sizeof *items, dk__witem_cmp);
  size_t tab = npages * sizeof(struct dk__prev_fpage) + kept * sizeof(struct dk_prev_item);
  /* the bodies from a page boundary on, so that dk_prev_drop_bodies can
   * let them go and keep the table */
  size_t at = (sizeof(struct dk__prev_head) + tab + nstrings + DK__PREV_PAGE - 1) & ~(size_t)(DK__PREV_PAGE - 1),
         head = at;
  /* the table, then each body from where it is (no copy), 8-aligned */
  unsigned char *buf = dk_calloc(1, head);
  static const char zeros[8];
  struct iovec *iov = dk_calloc(1 + 2 * npages, sizeof *iov);
  int niov = 0;
  iov[niov++] = (struct iovec){buf, head};
  struct dk__prev_head h = {.npages = (uint32_t)npages, .nitems = (uint32_t)kept, .nstrings = nstrings};
  memcpy(h.magic, DK__PREV_MAGIC, 8);
  dk_random_bytes(h.tag, DK_PREV_TAG);
  unsigned char *t = buf + sizeof h;
  struct dk__prev_fpage *fp = (void *)t;
  struct dk_prev_item *fi = (void *)(t + npages * sizeof *fp);
  char *strings = (char *)(t + tab);
  size_t s = 0, k = 0, w = 0;
  for (size_t i = 0; i < npages; i++) {
    size_t ul = strlen(pages[i].url) + 1;
    memcpy(strings + s, pages[i].url, ul);
    fp[i] = (struct dk__prev_fpage){.url = s, .body = at, .len = pages[i].len, .first = pages[i].first,
                                    .end = pages[i].end, .item0 = (uint32_t)k};
    s += ul;
    iov[niov++] = (struct iovec){(void *)(uintptr_t)pages[i].body, pages[i].len};
    if (dk__align8(at + pages[i].len) > at + pages[i].len)
      iov[niov++] = (struct iovec){(void *)(uintptr_t)zeros, dk__align8(at + pages[i].len) - at - pages[i].len};
    at = dk__align8(at + pages[i].len);
    for (; w < kept && items[w].page == i; w++) {
      const struct dk_prev_witem *it = &items[w];
      struct dk_prev_item *o = &fi[k++];
      *o = (struct dk_prev_item){.off = it->off, .len = (uint32_t)it->len, .path = (uint32_t)s,
                                 .has_raw = it->raw != NULL};
      memcpy(o->oid, it->oid->id, GIT_OID_RAWSZ);
      if (it->raw) memcpy(o->raw, it->raw->id, GIT_OID_RAWSZ);
      size_t pl = strlen(it->path) + 1;
      memcpy(strings + s, it->path, pl);
      s += pl;
    }
    fp[i].nitems = (uint32_t)(k - fp[i].item0);
  }
  h.crc = (uint32_t)crc32(0L, t, (uInt)(tab + nstrings));
  memcpy(buf, &h, sizeof h);
  char *rel = dk__prev_rel(name);
  int rc = nstrings > UINT32_MAX ? dk_failf(err, DK_ETOOBIG, "too many items to keep")
                                 : dk_fs_writev_cache(statedir, rel, iov, niov, err);
  if (rc == 0) memcpy(tag, h.tag, DK_PREV_TAG);
  free(rel);
  free(iov);
  free(buf);
  return rc;
}

void dk_prev_remove(const char *statedir, const char *name) {
  char *rel = dk__prev_rel(name), err[DK_ERRBUF_SIZE];
  dk_fs_unlink(statedir, rel, err);
  free(rel);
}

/* What a source served last time: each page's body as it came, where its
 * items lay in it, and for each item the core kept (held or valid) its
 * span, path, blob and the hash of its text. A plugin that walks the same
 * page again compares each item with the one at the same place last time
 * (emit->previous_item): an item equal byte for byte is the record the
 * branch holds, and is neither scanned, hashed nor looked up.
 *
 * Kept per source in state/sources/NAME.prev, a cache (written without
 * fsync; anything wrong with it and it is not used): the state file names
 * its tag and the source branch commit it was written for, and the file
 * counts only while the branch is still there (engine.c). Little-endian
 * hosts only; elsewhere nothing is kept. */
#ifndef DK_PREVIOUS_H
#define DK_PREVIOUS_H

#include <stddef.h>
#include <stdint.h>
#include <git2.h>

#define DK_PREV_TAG 16 /* bytes of a file's tag */

struct dk_prev_item {
  uint64_t off;  /* in the page's body */
  uint32_t len;
  uint32_t path; /* offset into the strings */
  unsigned char oid[GIT_OID_RAWSZ], raw[GIT_OID_RAWSZ];
  uint32_t has_raw, pad;
};

struct dk_prev_page {
  const char *url;
  const char *body;
  size_t len, first, end; /* the items lie in body[first, end) */
  const struct dk_prev_item *items;
  size_t nitems;
};

struct dk_prev {
  unsigned char tag[DK_PREV_TAG];
  struct dk_prev_page *pages;
  size_t npages;
  const char *strings; /* NUL-terminated paths */
  void *map;
  size_t maplen;
};

/* The file of source `name` if it is whole and tagged `tag`: 0 with *out
 * (free with dk_prev_free), DK_ENOENT when missing, another tag or not
 * kept on this host, DK_EINVALID with err when damaged. */
int dk_prev_load(const char *statedir, const char *name, const unsigned char tag[DK_PREV_TAG], struct dk_prev **out,
                 char *err);
void dk_prev_free(struct dk_prev *p);
/* Let the bodies go (their memory), keeping the paths: the pages read as
 * empty from then on. */
void dk_prev_drop_bodies(struct dk_prev *p);
/* The page `page` (1 for the first) if it was served at `url`, or NULL. */
const struct dk_prev_page *dk_prev_page(const struct dk_prev *p, unsigned page, const char *url);
/* The path of an item (within p's strings). */
static inline const char *dk_prev_path(const struct dk_prev *p, const struct dk_prev_item *it) {
  return p->strings + it->path;
}

/* What a writer gives of a page and of an item (item->page counts from 0). */
struct dk_prev_wpage {
  const char *url, *body;
  size_t len, first, end;
};
struct dk_prev_witem {
  size_t page, off, len;
  const char *path;
  const git_oid *oid, *raw; /* raw NULL when unknown */
};

/* Write state/sources/NAME.prev with a new random tag (into tag): the
 * items within their page's body (the others are left out), by page and
 * offset (items is reordered). Returns 0, DK_ENOENT when nothing is kept on this host, or a
 * DK_E* code with err. */
int dk_prev_save(const char *statedir, const char *name, const struct dk_prev_wpage *pages, size_t npages,
                 struct dk_prev_witem *items, size_t nitems, unsigned char tag[DK_PREV_TAG], char *err);
/* Remove the file; a missing one is fine. */
void dk_prev_remove(const char *statedir, const char *name);

#endif

/* The trees of a commit, built once, bottom up, from the changed paths:
 * only the folders on a changed path are read (from libgit2's cache) and
 * written, each once, into the commit's pack. */
#include "store_tree.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct dk__ent {
  const char *name; /* borrowed: the base tree's or an update's path */
  size_t nlen;
  unsigned mode;
  git_oid oid;
  int gone;
};

struct dk__tb {
  git_repository *repo;
  struct dk_pack *pack;
  int (*exists)(const git_oid *oid, void *arg);
  void *arg;
  char *err;
};

/* git's order: a tree's name compares as if it ended in '/'. */
static int dk__git_cmp(const void *pa, const void *pb) {
  const struct dk__ent *a = pa, *b = pb;
  size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
  int c = memcmp(a->name, b->name, n);
  if (c) return c;
  unsigned char ca = a->nlen > n ? (unsigned char)a->name[n] : (a->mode == 040000 ? '/' : 0);
  unsigned char cb = b->nlen > n ? (unsigned char)b->name[n] : (b->mode == 040000 ? '/' : 0);
  return (int)ca - (int)cb;
}

/* Names by their bytes, then length: the order dk__lookup searches. */
static int dk__name_cmp(const char *a, size_t al, const char *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  return c ? c : (al > bl) - (al < bl);
}

static int dk__ord_cmp(const void *pa, const void *pb, void *arg) {
  const struct dk__ent *base = arg, *a = &base[*(const size_t *)pa], *b = &base[*(const size_t *)pb];
  return dk__name_cmp(a->name, a->nlen, b->name, b->nlen);
}

/* The base entry named name[0..nlen) among e[0..n), or NULL; ord (may be
 * NULL) the entries' numbers in dk__name_cmp order, for a folder of
 * thousands. Only base entries need searching: the updates are distinct
 * paths, sorted, and a folder's are taken together, so no later update
 * names an entry an earlier one added. */
static struct dk__ent *dk__lookup(struct dk__ent *e, size_t n, const size_t *ord, const char *name, size_t nlen) {
  if (ord == NULL) {
    for (size_t i = 0; i < n; i++)
      if (!e[i].gone && e[i].nlen == nlen && memcmp(e[i].name, name, nlen) == 0) return &e[i];
    return NULL;
  }
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    struct dk__ent *m = &e[ord[mid]];
    int c = dk__name_cmp(m->name, m->nlen, name, nlen);
    if (c == 0) return m->gone ? NULL : m;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

/* Serialise, hash and pack the tree of entries e[0..n) (n > 0). */
static int dk__emit_tree(struct dk__tb *tb, struct dk__ent *e, size_t n, git_oid *out) {
  qsort(e, n, sizeof *e, dk__git_cmp);
  struct dk_buf b = {0};
  for (size_t i = 0; i < n; i++) {
    if (e[i].gone) continue;
    char mode[16];
    int ml = snprintf(mode, sizeof mode, "%o ", e[i].mode);
    dk_buf_append(&b, mode, (size_t)ml);
    dk_buf_append(&b, e[i].name, e[i].nlen);
    dk_buf_append(&b, "", 1);
    dk_buf_append(&b, e[i].oid.id, GIT_OID_RAWSZ);
  }
  unsigned char *z = NULL;
  size_t zlen;
  int rc = dk_object_prepare(GIT_OBJECT_TREE, b.data ? b.data : "", b.len, out, &z, &zlen);
  if (rc == 0 && (dk_pack_has(tb->pack, out) || tb->exists(out, tb->arg))) {
    free(z);
  } else if (rc == 0) {
    dk_pack_add(tb->pack, GIT_OBJECT_TREE, out, b.len, z, zlen);
  }
  dk_buf_free(&b);
  return rc == 0 ? 0 : dk_failf(tb->err, rc, "cannot compress a tree");
}

/* The tree at depth `off` of the paths ups[0..n) (all below one folder,
 * sorted), over `base` (NULL: none). *out is the new tree; *empty says it
 * holds nothing (and is then not written, unless `root`). */
static int dk__build(struct dk__tb *tb, const git_tree *base, const struct dk_tree_update *ups, size_t n, size_t off,
                     int root, git_oid *out, int *empty) {
  size_t nb = base ? git_tree_entrycount(base) : 0, cap = nb + n, ne = 0;
  struct dk__ent *e = dk_calloc(cap ? cap : 1, sizeof *e);
  for (size_t i = 0; i < nb; i++) {
    const git_tree_entry *te = git_tree_entry_byindex(base, i);
    const char *nm = git_tree_entry_name(te);
    e[ne++] = (struct dk__ent){nm, strlen(nm), (unsigned)git_tree_entry_filemode(te), *git_tree_entry_id(te), 0};
  }
  size_t *ord = NULL;
  if (nb > 16 && n > 1) { /* one look-up per update: a folder of 10,000 and 1,000 updates */
    ord = dk_calloc(nb, sizeof *ord);
    for (size_t i = 0; i < nb; i++) ord[i] = i;
    qsort_r(ord, nb, sizeof *ord, dk__ord_cmp, e);
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0;) {
    const char *name = ups[i].path + off, *slash = strchr(name, '/');
    size_t nlen = slash ? (size_t)(slash - name) : strlen(name), j = i + 1;
    struct dk__ent *cur = dk__lookup(e, nb, ord, name, nlen);
    if (slash == NULL) {
      if (ups[i].oid == NULL) {
        if (cur) cur->gone = 1;
      } else {
        if (cur == NULL) cur = &e[ne++];
        *cur = (struct dk__ent){name, nlen, 0100644, *ups[i].oid, 0};
      }
    } else {
      /* every later update below the same folder */
      while (j < n && strncmp(ups[j].path + off, name, nlen + 1) == 0) j++;
      git_tree *sub = NULL;
      if (cur && cur->mode == 040000 && git_tree_lookup(&sub, tb->repo, &cur->oid) != 0) {
        const git_error *ge = git_error_last();
        rc = dk_failf(tb->err, DK_EGIT, "reading the tree of %.*s: %s", (int)(off + nlen), ups[i].path,
                      ge && ge->message ? ge->message : "unknown libgit2 error");
        break;
      }
      git_oid sub_oid;
      int sub_empty;
      rc = dk__build(tb, sub, ups + i, j - i, off + nlen + 1, 0, &sub_oid, &sub_empty);
      git_tree_free(sub);
      if (rc == 0 && sub_empty) {
        if (cur) cur->gone = 1;
      } else if (rc == 0) {
        if (cur == NULL) cur = &e[ne++];
        *cur = (struct dk__ent){name, nlen, 040000, sub_oid, 0};
      }
    }
    i = j;
  }
  size_t live = 0;
  for (size_t i = 0; i < ne; i++) live += !e[i].gone;
  *empty = live == 0;
  if (rc == 0 && (live > 0 || root)) rc = dk__emit_tree(tb, e, ne, out);
  free(ord);
  free(e);
  return rc;
}

static int dk__up_cmp(const void *pa, const void *pb) {
  return strcmp(((const struct dk_tree_update *)pa)->path, ((const struct dk_tree_update *)pb)->path);
}

int dk_tree_build(git_repository *repo, const git_tree *base, struct dk_tree_update *ups, size_t n,
                  struct dk_pack *pack, int (*exists)(const git_oid *oid, void *arg), void *arg, git_oid *root,
                  char *err) {
  qsort(ups, n, sizeof *ups, dk__up_cmp);
  struct dk__tb tb = {repo, pack, exists, arg, err};
  int empty;
  return dk__build(&tb, base, ups, n, 0, 1, root, &empty);
}

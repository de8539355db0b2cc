/* The store's tree builder (store_tree.c): a commit's trees from its
 * changed paths, bottom up, each written once into the commit's pack. */
#ifndef DK_STORE_TREE_H
#define DK_STORE_TREE_H

#include <stddef.h>
#include <git2.h>

#include "pack.h"

struct dk_tree_update {
  const char *path;   /* a file's full path ("task/p001/001.json") */
  const git_oid *oid; /* its blob (mode 100644), or NULL: removed */
};

/* The tree of `base` (NULL: empty) with ups[0..n) applied (sorted here,
 * in place; one update per path). Every new tree goes into `pack` unless
 * the pack or exists(oid, arg) has it; folders left empty go away. Returns
 * 0 with *root (the new root tree, empty or not), or DK_EGIT / DK_ENOMEM
 * with err. */
int dk_tree_build(git_repository *repo, const git_tree *base, struct dk_tree_update *ups, size_t n,
                  struct dk_pack *pack, int (*exists)(const git_oid *oid, void *arg), void *arg, git_oid *root,
                  char *err);

#endif

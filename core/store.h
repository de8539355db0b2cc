/* The snapshot repository: a bare git repository written through libgit2.
 *
 * Changes are staged in a transaction against the tree of one ref and turned
 * into a commit with git_tree_create_updated, so a commit costs what changed,
 * not the size of the tree. Blobs, trees and the commit are written before
 * the ref moves, and the ref moves only if it still points where the
 * transaction started (compare-and-swap), so a crash or a rival writer can
 * never leave the ref on a half-written commit. libgit2 errors are
 * thread-local: they are copied into the store's err at once. */
#ifndef DK_STORE_H
#define DK_STORE_H

#include <stddef.h>
#include <git2.h>
#include "error.h"

struct dk_store {
  git_repository *repo;
  char *path;
  char err[DK_ERRBUF_SIZE];
};

/* Open the bare repository at `path`, creating it (and its parents) when
 * missing. Returns 0, or DK_EGIT / DK_EIO with err saying why. *out is set on
 * success only; close it with dk_store_close. */
int dk_store_open(const char *path, struct dk_store **out, char *err);
void dk_store_close(struct dk_store *st);

/* The commit a ref points to; *found is 0 (and oid zeroed) when the ref does
 * not exist yet. Returns 0 or DK_EGIT. */
int dk_store_ref(struct dk_store *st, const char *ref, git_oid *oid, int *found);

/* Read the blob at `path` in the tree of commit `commit` (NULL: the ref
 * `ref`). Returns 0 with a malloc'd NUL-terminated copy, DK_ENOENT when
 * absent, or DK_EGIT. */
int dk_store_read(struct dk_store *st, const char *ref, const git_oid *commit, const char *path,
                  char **data, size_t *len);

struct dk_txn;

/* Start a change to `ref` ("refs/heads/main") from where it points now. */
int dk_txn_begin(struct dk_store *st, const char *ref, struct dk_txn **out);
/* Put `data` at `path`. Returns 1 when that changes the tree, 0 when the same
 * bytes are already there, or DK_EGIT. A later put of the same path wins. */
int dk_txn_put(struct dk_txn *txn, const char *path, const void *data, size_t len);
/* Remove `path`. Returns 1 when it was there, 0 when not, or DK_EGIT. */
int dk_txn_remove(struct dk_txn *txn, const char *path);
/* Read `path` from the base tree (before this transaction). Returns 0 with a
 * malloc'd NUL-terminated copy, DK_ENOENT, or DK_EGIT. */
int dk_txn_base_read(struct dk_txn *txn, const char *path, char **data, size_t *len);
/* Number of paths that change so far. */
size_t dk_txn_changes(const struct dk_txn *txn);
/* Add a parent after the base commit (a merge). */
void dk_txn_add_parent(struct dk_txn *txn, const git_oid *parent);

struct dk_commit_meta {
  const char *author_name, *author_email;     /* the source */
  const char *committer_name, *committer_email; /* duikou */
  git_time_t when;                            /* 0: now */
  int offset_minutes;                         /* time zone of `when` */
  const char *message;                        /* full message */
};

/* Commit when anything changed (or `force`). Returns 1 with *out the new
 * commit, 0 when there was nothing to commit (no commit made, *out is the
 * current one), DK_EGIT, or DK_EEXIST when the ref moved meanwhile (nothing
 * was changed; start again). The transaction is spent either way: free it. */
int dk_txn_commit(struct dk_txn *txn, const struct dk_commit_meta *meta, int force, git_oid *out);
void dk_txn_free(struct dk_txn *txn);

#endif

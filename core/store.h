/* The snapshot repository: a bare git repository written through libgit2.
 *
 * Changes are staged in a transaction against the tree of one ref and turned
 * into a commit whose trees are built from the changed paths only
 * (store_tree.c), so a commit costs what changed, not the size of the tree.
 * Blobs, trees and the commit are written by the store itself, as one pack
 * or as loose objects (pack.c), then
 * made durable by one syncfs(), before the ref moves (and once more after
 * it), and the ref moves only if it still points where the
 * transaction started (compare-and-swap), so a crash or a rival writer can
 * never leave the ref on a half-written commit. libgit2 errors are
 * thread-local: they are copied into the store's err at once. */
#ifndef DK_STORE_H
#define DK_STORE_H

#include <stddef.h>
#include <git2.h>
#include "error.h"

/* The reconciled view: the one definition of main's ref name. */
#define DK_MAIN_REF "refs/heads/main"

struct dk_pack;

struct dk_store {
  git_repository *repo;
  struct dk_pack *recent, *recent2; /* the objects of the last two writes (store.c) */
  struct dk_pack *held; /* objects written while holding, not yet on disk (dk_store_hold) */
  int holding;
  int unflushed;            /* objects written since the last dk_store_flush */
  int defer_refs, refs_owed; /* dk_store_defer_refs */
  char *path;
  int lock_fd;        /* duikou.lock, held (flock) by a writer; -1 when not locked */
  char err[DK_ERRBUF_SIZE];
};

/* Open the bare repository at `path`, creating it (and its parents) when
 * missing. Returns 0, or DK_EGIT / DK_EIO with err saying why. *out is set on
 * success only; close it with dk_store_close. */
int dk_store_open(const char *path, struct dk_store **out, char *err);
void dk_store_close(struct dk_store *st);
/* Let go of libgit2's caches and mapped packs (the repository is opened
 * again; the lock is kept). On a failure to reopen, nothing changes. Not
 * while a transaction is open. */
void dk_store_trim(struct dk_store *st);

/* Hold back the objects of the commits made from now on (on 1), or stop
 * (0): they are readable at once, and written as one pack when a ref is
 * about to move (or when holding stops), so that the commits of a round's
 * many sources make one pack, not a pack or a few hundred loose objects
 * each. Stopping writes what is still held: returns 0, or a DK_E* code
 * with err (what was held is then dropped: no ref names it). */
int dk_store_hold(struct dk_store *st, int on);

/* Take the repository's lock (an flock on duikou.lock inside it, held until
 * dk_store_close; the kernel drops it if the process dies), so that a second
 * duikou syncing into it is refused. `what` says who holds it ("duikou
 * daemon"). Returns 0, DK_ELOCKED with err naming the holder, or DK_EIO.
 * Writers that only make one commit (conflict resolution) rely on the
 * compare-and-swap of the ref instead. */
int dk_store_lock(struct dk_store *st, const char *what, char *err);

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
/* What the base commit holds at a path, asked of hint (1 with *blob, 0:
 * no file there) rather than read from its trees: for a caller that keeps
 * an index of the ref at that very commit (dk_txn_base says which). A
 * folder at the path counts as no file, as it does for the trees. */
void dk_txn_base_hint(struct dk_txn *t, int (*hint)(const char *path, git_oid *blob, void *arg), void *arg);
/* Put `data` at `path`. Returns 1 when that changes the tree, 0 when the same
 * bytes are already there, DK_EINVALID when the data holds a secret of the
 * configuration (dk_redact), or DK_EGIT. A later put of the same path wins.
 * Commit messages are redacted the same way before they are written. */
int dk_txn_put(struct dk_txn *txn, const char *path, const void *data, size_t len);
/* The same for a blob already hashed and deflated (dk_object_prepare, in
 * a worker): `oid` of `size` bytes, deflated into z (zlen bytes; ownership
 * passes to the transaction). z may be NULL for a blob the repository
 * holds. Returns as dk_txn_put (DK_EGIT: z NULL and no such blob). The
 * caller has checked the data for secrets. */
int dk_txn_put_blob(struct dk_txn *txn, const char *path, const git_oid *oid, size_t size, unsigned char *z,
                    size_t zlen);
/* Remove `path`. Returns 1 when it was there, 0 when not, or DK_EGIT. */
int dk_txn_remove(struct dk_txn *txn, const char *path);
/* Read `path` from the base tree (before this transaction). Returns 0 with a
 * malloc'd NUL-terminated copy, DK_ENOENT, or DK_EGIT. */
int dk_txn_base_read(struct dk_txn *txn, const char *path, char **data, size_t *len);
/* Number of paths that change so far. */
size_t dk_txn_changes(const struct dk_txn *txn);
/* Whether the ref existed when the transaction began. */
int dk_txn_has_base(const struct dk_txn *txn);
/* The base commit: 1 with *oid, 0 for a new ref. */
int dk_txn_base(const struct dk_txn *txn, git_oid *oid);
/* Call cb(path, blob, arg) for every change staged (blob NULL: removed). */
void dk_txn_foreach(const struct dk_txn *txn, void (*cb)(const char *path, const git_oid *oid, void *arg), void *arg);
/* The same with the base's blob too (old NULL: the path is new). Returns 0,
 * or DK_EGIT with st->err. */
int dk_txn_foreach_change(const struct dk_txn *txn,
                          void (*cb)(const char *path, const git_oid *old, const git_oid *neu, void *arg), void *arg);
/* Add a parent after the base commit (a merge). */
void dk_txn_add_parent(struct dk_txn *txn, const git_oid *parent);

struct dk_commit_meta {
  const char *author_name, *author_email;     /* the source */
  const char *committer_name, *committer_email; /* duikou */
  git_time_t when;                            /* 0: now */
  int offset_minutes;                         /* time zone of `when` */
  const char *message;                        /* full message */
};

/* Fill *meta for a commit by `author` (name and email, borrowed), committed
 * by duikou at `when` (0: now) in the process's time zone; the message is
 * the caller's to set. The one place commit metadata is made. */
void dk_commit_meta_init(struct dk_commit_meta *meta, const char *author, const char *email, git_time_t when);

/* Date commits made with when = 0 at t instead of the real clock (0: the
 * real clock again): `duikou demo` commits its simulated months on their own
 * days. Set it between rounds only; every thread that commits reads it. */
void dk_commit_clock_set(git_time_t t);

/* Commit when anything changed (or `force`). Returns 1 with *out the new
 * commit, 0 when there was nothing to commit (no commit made, *out is the
 * current one), DK_EGIT, or DK_EEXIST when the ref moved meanwhile (nothing
 * was changed; start again). The transaction is spent either way: free it. */
int dk_txn_commit(struct dk_txn *txn, const struct dk_commit_meta *meta, int force, git_oid *out);
void dk_txn_free(struct dk_txn *txn);

/* The two halves of dk_txn_commit, for a commit that must exist before its
 * ref may move (a source branch commit that main's merge names as parent):
 * write the objects (returns 1 with *out, 0 when nothing changed and not
 * `force`, or DK_EGIT), then move the ref from the transaction's base to
 * `commit` by compare-and-swap (0, DK_EEXIST when it moved, DK_EGIT). */
int dk_txn_write(struct dk_txn *txn, const struct dk_commit_meta *meta, int force, git_oid *out);
int dk_txn_move(struct dk_txn *txn, const git_oid *commit);


/* ---- reading history (store_read.c): what the audit queries need ---- */

/* Open an existing repository for reading; never creates one. Returns 0,
 * DK_ENOENT when there is none at `path`, or DK_EGIT with err. */
int dk_store_open_existing(const char *path, struct dk_store **out, char *err);

/* Object ids: equality, 40 hex digits into out (41 bytes), and back.
 * dk_oid_parse returns 0 or DK_EINVAL. */
int dk_oid_equal(const git_oid *a, const git_oid *b);
char *dk_oid_hex(const git_oid *oid, char *out);
int dk_oid_parse(const char *hex, git_oid *out);

/* The commit a revision names (an id or its prefix, a ref, "main~2").
 * Returns 0, DK_ENOENT (no such revision), DK_EINVAL (ambiguous, malformed,
 * or not a commit) or DK_EGIT, with st->err. */
int dk_store_revparse(struct dk_store *st, const char *spec, git_oid *out);

/* What the audit shows of a commit. Strings are malloc'd; clear with
 * dk_store_commit_clear. */
struct dk_store_commit {
  git_oid oid;
  char hex[41];
  git_time_t time;
  char *author;   /* the author's name */
  char *summary;  /* first line */
  char *message;  /* the whole message */
  unsigned nparents;
  git_oid parent; /* the first parent, when nparents > 0 */
  git_oid tree;   /* its root tree */
};
/* Returns 0 or DK_EGIT with st->err. */
int dk_store_commit(struct dk_store *st, const git_oid *oid, struct dk_store_commit *out);
void dk_store_commit_clear(struct dk_store_commit *c);

/* The value of the first trailer `key` (case-insensitive) of a commit
 * message, malloc'd, or NULL when it has none. */
char *dk_store_trailer(const char *message, const char *key);

/* The blob at `path` in commit `commit`: 1 with *blob, 0 when absent (or
 * not a file), or DK_EGIT. */
int dk_store_blob_at(struct dk_store *st, const git_oid *commit, const char *path, git_oid *blob);
/* A blob's bytes, malloc'd and NUL-terminated. Returns 0 or DK_EGIT. */
int dk_store_blob(struct dk_store *st, const git_oid *blob, char **data, size_t *len);

/* Whether commit `a` is `b` or descends from it: 1, 0, or DK_EGIT. */
int dk_store_descends(struct dk_store *st, const git_oid *a, const git_oid *b);

enum dk_store_change { DK_STORE_ADDED, DK_STORE_MODIFIED, DK_STORE_DELETED };
/* Call cb for every file that differs between the trees of two commits
 * (either NULL: the empty tree), in path order: its path, how it changed, its old and new blob (zeroed
 * where there is none). A nonzero cb return stops the walk and is
 * returned; else 0 or DK_EGIT. */
int dk_store_diff(struct dk_store *st, const git_oid *from, const git_oid *to,
                  int (*cb)(const char *path, enum dk_store_change how, const git_oid *old, const git_oid *neu,
                            void *arg),
                  void *arg);

/* Call cb(path, blob, arg) for every file below folder `prefix` of
 * commit's tree (none when the folder is absent). Returns 0, cb's nonzero
 * return, or DK_EGIT. */
int dk_store_files(struct dk_store *st, const git_oid *commit, const char *prefix,
                   int (*cb)(const char *path, const git_oid *blob, void *arg), void *arg);

/* Call cb(path, blob, arg) for every file of commit's tree. Returns 0,
 * cb's nonzero return, or DK_EGIT. */
int dk_store_walk(struct dk_store *st, const git_oid *commit,
                  int (*cb)(const char *path, const git_oid *blob, void *arg), void *arg);

/* syncfs() of the repository's file system: what was written is durable
 * before a ref names it (dk_txn_move; the fetch of store_remote.c).
 * Returns 0 or DK_EIO with st->err. */
int dk_store_flush(struct dk_store *st);
/* From now on, the refs dk_txn_move moves are made durable together, by
 * one flush in dk_store_defer_refs_end (the objects they name still are
 * before each moves): for a round's many source branches after main. End
 * returns 0 or DK_EIO with st->err; nothing may rely on a ref moved since
 * being durable before it returns. */
void dk_store_defer_refs(struct dk_store *st);
int dk_store_defer_refs_end(struct dk_store *st);

/* Call cb(name, commit, arg) for every ref whose name starts with prefix
 * ("refs/duikou/sites/"), in name order. Returns 0, cb's nonzero return,
 * or DK_EGIT with st->err. */
int dk_store_refs(struct dk_store *st, const char *prefix, int (*cb)(const char *ref, const git_oid *oid, void *arg),
                  void *arg);

/* libgit2's version, and its set-up for the process (before any store) and
 * release (after the last). */
void dk_store_version(int *major, int *minor, int *rev);
void dk_store_global_init(void);
void dk_store_global_shutdown(void);

#endif

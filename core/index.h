/* The index: what main and every source branch hold, by path, in memory.
 *
 * A round asks, for every record it changes, what main holds there and
 * what every other source says of it. Looking that up in the trees of N
 * branches costs N tree walks and ref look-ups per record; the index
 * answers from one hash table: path -> main's blob and the sources that
 * hold the path (their blobs). It is built once by reading each tree once
 * (dk_index_build), and kept up to date by the commits that move the refs
 * (dk_index_set_*), so that it is valid at the heads it records.
 *
 * Per source it also answers "which path holds this blob?"
 * (dk_index_source_by_oid): a record served again byte for byte is known
 * without being parsed. That one query may run on a worker thread for
 * source s while the loop thread changes the entries of other sources: it
 * reads only s's own table, which changes only at s's commit.
 *
 * Not thread-safe otherwise: every other call is made on the loop thread. */
#ifndef DK_INDEX_H
#define DK_INDEX_H

#include <stddef.h>
#include <git2.h>

#include "store.h"

struct dk_index;

/* The number of main where a source number is asked for. */
#define DK_INDEX_MAIN ((size_t)-1)

/* Read main and the `n` source branches refs[i] (refs/duikou/sources/...)
 * into a new index. Returns 0 with *out (free with dk_index_free), or a
 * DK_E* code with st->err. */
int dk_index_build(struct dk_store *st, const char *const *refs, size_t n, struct dk_index **out);
void dk_index_free(struct dk_index *ix);

/* The same, from <repo>/duikou.index when there is one (dk_index_save),
 * brought from the heads it was saved at to where the refs point now by
 * comparing trees; read from the trees when there is none, or it is not
 * such a file, or names a head the repository lost. Returns as
 * dk_index_build. */
int dk_index_load(struct dk_store *st, const char *const *refs, size_t n, struct dk_index **out);
/* Keep the index with the repository (<repo>/duikou.index, written
 * atomically), refs as given to dk_index_build; nothing is written when the
 * index has not changed since it was loaded or saved. Returns 0 or a DK_E*
 * code with st->err. */
int dk_index_save(struct dk_index *ix, struct dk_store *st, const char *const *refs);

/* Where the refs pointed when the index last matched them (found 0: the
 * ref did not exist); s may be DK_INDEX_MAIN, as in every call below. */
void dk_index_head(const struct dk_index *ix, size_t s, git_oid *oid, int *found);
void dk_index_set_head(struct dk_index *ix, size_t s, const git_oid *oid);

/* Bring the index's view of ref s (or main, (size_t)-1) from where it
 * recorded it to `now` (a commit; NULL: the ref is gone), by comparing the
 * two trees. Returns 0 or a DK_E* code with st->err. */
int dk_index_follow(struct dk_index *ix, struct dk_store *st, size_t s, const git_oid *now);

/* main's blob at path: 1 with *oid, or 0. */
int dk_index_main(const struct dk_index *ix, const char *path, git_oid *oid);
/* Source s's blob at path: 1 with *oid, or 0. */
int dk_index_source(const struct dk_index *ix, size_t s, const char *path, git_oid *oid);
/* The path where source s holds blob oid, or NULL (borrowed: an entry's
 * path lives as long as the index, whatever later changes). */
const char *dk_index_source_by_oid(const struct dk_index *ix, size_t s, const git_oid *oid);
/* The sources that hold path, other than `except`: up to cap of them into
 * srcs[] and oids[]. Returns how many hold it (may exceed cap). */
size_t dk_index_holders(const struct dk_index *ix, const char *path, size_t except, size_t *srcs, git_oid *oids,
                        size_t cap);
/* Call cb(path, oid, arg) for every path source s holds, in no order; a
 * nonzero return stops the walk and is returned. cb must not change the
 * index. */
int dk_index_source_foreach(const struct dk_index *ix, size_t s,
                            int (*cb)(const char *path, const git_oid *oid, void *arg), void *arg);
/* Number of paths source s holds. */
size_t dk_index_source_count(const struct dk_index *ix, size_t s);

/* Record that main (s == (size_t)-1) or source s now holds oid at path
 * (NULL: nothing). */
void dk_index_set(struct dk_index *ix, size_t s, const char *path, const git_oid *oid);

/* Bytes the index holds (for the log and the idle daemon). */
size_t dk_index_bytes(const struct dk_index *ix);

#endif

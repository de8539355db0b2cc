/* A git pack written directly: objects are hashed and deflated once (in
 * worker threads, dk_object_prepare), gathered in a struct dk_pack, and
 * written as pack-<hex>.pack plus its version 2 .idx without libgit2's
 * indexer, which would inflate and hash every object again.
 *
 * Formats: git's Documentation/gitformat-pack.txt. Types are the four base
 * types (commit, tree, blob, tag); a pack holds no deltas. */
#ifndef DK_PACK_H
#define DK_PACK_H

#include <stddef.h>
#include <stdint.h>
#include <git2.h>
#include "error.h"

/* Thread-safe, no shared state: the object id of `type` with `len` bytes
 * `data` (SHA-1 of "<type> <len>\0" + data) and its zlib stream (level
 * Z_BEST_SPEED; a tree's stored, Z_NO_COMPRESSION) into *z (malloc'd,
 * caller frees), *zlen. Returns 0,
 * DK_ENOMEM, or DK_EINVAL for a type that is not commit, tree, blob or tag
 * (*z is then NULL). */
int dk_object_prepare(git_object_t type, const void *data, size_t len, git_oid *oid, unsigned char **z,
                      size_t *zlen);
/* Only the deflate (level Z_BEST_SPEED) of `len` bytes, for an object whose
 * id is known: into *z (malloc'd, caller frees), *zlen. Returns 0 or
 * DK_ENOMEM. Thread-safe. */
int dk_object_deflate(const void *data, size_t len, unsigned char **z, size_t *zlen);
/* Only the id (no deflate). `type` must be commit, tree, blob or tag. */
void dk_object_id(git_object_t type, const void *data, size_t len, git_oid *oid);
/* The id of an object whose bytes are a then b. */
void dk_object_id2(git_object_t type, const void *a, size_t alen, const void *b, size_t blen, git_oid *oid);

/* Objects waiting to be written. Not thread-safe: one thread adds. */
struct dk_pack;

/* An empty pack; free it with dk_pack_free. Never NULL. */
struct dk_pack *dk_pack_new(void);
/* Add an object: its type, id, raw size and deflated bytes (ownership of z
 * passes to the pack, which frees it; on a duplicate id or an error z is
 * freed at once). Returns 1 when added, 0 when the pack already holds that
 * id, DK_EINVAL for a type that is not commit, tree, blob or tag. */
int dk_pack_add(struct dk_pack *p, git_object_t type, const git_oid *oid, size_t size, unsigned char *z,
                size_t zlen);
/* Whether (1) or not (0) the pack holds `oid`. O(1) on average. */
int dk_pack_has(const struct dk_pack *p, const git_oid *oid);
/* The type and raw size of an object added: 0, or DK_ENOENT. */
int dk_pack_info(const struct dk_pack *p, const git_oid *oid, git_object_t *type, size_t *size);
/* Move every object of src into dst (src is left empty). */
void dk_pack_move(struct dk_pack *dst, struct dk_pack *src);
/* The raw bytes of an object added, inflated again, into *data (malloc'd,
 * NUL-terminated, caller frees) and *len, its type into *type (may be NULL).
 * Returns 0, DK_ENOENT, DK_ENOMEM, or DK_EIO when its deflated bytes do not
 * inflate to its size (a caller's bug). */
int dk_pack_read(const struct dk_pack *p, const git_oid *oid, git_object_t *type, char **data, size_t *len);
/* The id of the i-th object added (i < dk_pack_count), or NULL. */
const git_oid *dk_pack_oid(const struct dk_pack *p, size_t i);
/* The deflated bytes of all its objects. */
size_t dk_pack_bytes(const struct dk_pack *p);
/* How many objects the pack holds. */
size_t dk_pack_count(const struct dk_pack *p);
/* Write every object as objects/pack/pack-<hex>.pack and .idx under the git
 * directory `gitdir`, <hex> being the pack's SHA-1 trailer. Both go through
 * temporary files (tmp_pack_* / tmp_idx_*, O_EXCL|O_NOFOLLOW, names git
 * prune cleans up), the .pack renamed into place first and the .idx last:
 * git and libgit2 only see a pack once its .idx exists. No fsync (the caller
 * syncfs()es before moving a ref). An empty pack writes nothing. Returns 0,
 * DK_ENOSPC (disk full, EFBIG, EDQUOT) or DK_EIO, with err (DK_ERRBUF_SIZE)
 * naming the path; nothing is left behind on failure. The objects stay in
 * the pack (dk_pack_reset empties it). */
int dk_pack_write(struct dk_pack *p, const char *gitdir, char *err);
/* Write every object as a loose object (objects/xx/...) under `gitdir`,
 * from its deflated bytes (not deflated again), skipping those already
 * there; temporary files as dk_pack_write's, no fsync. For a few objects,
 * where a pack each would pile up packs. Returns as dk_pack_write. */
int dk_pack_write_loose(struct dk_pack *p, const char *gitdir, char *err);
/* Drop every object (the pack can be filled again). */
void dk_pack_reset(struct dk_pack *p);
void dk_pack_free(struct dk_pack *p); /* NULL is fine */

/* Internal, exposed for the tests (large offsets need a pack over 2 GB). */
struct dk__idx_entry {
  git_oid oid;
  uint32_t crc;    /* crc32 of the object's header and deflated bytes */
  uint64_t offset; /* of the object's header in the pack */
};
/* The .idx (version 2) of a pack with these n objects and SHA-1 trailer
 * pack_sha, in a malloc'd buffer (caller frees) of *len bytes. Sorts e by
 * oid. */
unsigned char *dk__pack_idx(struct dk__idx_entry *e, size_t n, const unsigned char pack_sha[20], size_t *len);

#endif

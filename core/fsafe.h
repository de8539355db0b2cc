/* Files below a folder duikou owns — the configured state folder or the
 * repository — opened so that a symbolic link planted anywhere below it is
 * an error naming the path, never followed.
 *
 * The root itself is opened as configured (an operator may point
 * /var/lib/duikou at a data disk with a link); every component below it is
 * opened with openat(O_DIRECTORY|O_NOFOLLOW), files with O_NOFOLLOW, and
 * temporary files with O_EXCL under a random name. `rel` is a relative
 * path of plain components (no "", "." or ".."). Errors are DK_E* codes
 * with err (DK_ERRBUF_SIZE) naming the full path; a full disk says "no space
 * left on the device holding PATH". */
#ifndef DK_FSAFE_H
#define DK_FSAFE_H

#include <stddef.h>
#include "error.h"

/* Open the folder root/rel (rel NULL or "": root itself), creating missing
 * components with mode 0700 when `create`. Returns 0 with *fd (close it),
 * DK_ENOENT when it does not exist and !create, or DK_EIO. */
int dk_fs_dir(const char *root, const char *rel, int create, int *fd, char *err);

/* Read root/rel whole into a NUL-terminated malloc'd buffer. Returns 0,
 * DK_ENOENT when it does not exist, or DK_EIO. */
int dk_fs_read(const char *root, const char *rel, char **data, size_t *len, char *err);
/* All len bytes to fd, again after EINTR and short writes. Returns 0, or
 * -1 with errno. */
int dk_fs_write_all(int fd, const void *data, size_t len);

/* Write root/rel atomically (temporary file with a random name created
 * O_EXCL|O_NOFOLLOW, fsync, rename, fsync of the folder), creating its
 * folders. Returns 0 or DK_EIO (DK_ENOSPC when the disk or a file-size
 * limit stops it); the old file is then untouched. */
int dk_fs_write_atomic(const char *root, const char *rel, const void *data, size_t len, char *err);
/* The same without any fsync: for a cache, which a power cut may leave
 * old, empty or cut short (its reader must tell), never half replaced. */
int dk_fs_write_cache(const char *root, const char *rel, const void *data, size_t len, char *err);
/* dk_fs_write_cache of the pieces iov[0, n) one after the other. */
struct iovec;
int dk_fs_writev_cache(const char *root, const char *rel, const struct iovec *iov, int n, char *err);
/* From now on, this thread's dk_fs_write_atomic calls skip their fsyncs
 * (under up to four roots), until dk_fs_defer_end makes them all durable
 * with one syncfs() a root: the state files of a round of 1,000 sources
 * cost one flush, not 4,000. Returns 0 or DK_EIO with err. */
void dk_fs_defer(void);
int dk_fs_defer_end(char *err);

/* open(root/rel, flags | O_NOFOLLOW | O_CLOEXEC, 0600) in an existing
 * folder. Returns 0 with *fd, or DK_ENOENT / DK_EIO. */
int dk_fs_open(const char *root, const char *rel, int flags, int *fd, char *err);

/* Remove root/rel (a link is removed, never followed). Returns 0, DK_ENOENT
 * or DK_EIO. */
int dk_fs_unlink(const char *root, const char *rel, char *err);

/* The message for errno `e` met doing `what` on `path` into err, and the
 * code: DK_ENOSPC for ENOSPC, EDQUOT and EFBIG (a file-size limit), DK_ENOENT
 * for ENOENT, else DK_EIO. */
int dk_fs_fail(char *err, int e, const char *what, const char *path);

#endif

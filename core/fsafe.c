#include "fsafe.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"

int dk_fs_fail(char *err, int e, const char *what, const char *path) {
  if (e == ENOSPC || e == EDQUOT)
    return dk_failf(err, DK_ENOSPC, "no space left on the device holding %s (%s)", path, what);
  if (e == EFBIG)
    return dk_failf(err, DK_ENOSPC, "the file-size limit (ulimit -f) stops %s of %s", what, path);
  if (e == ELOOP)
    return dk_failf(err, DK_EIO, "%s is a symbolic link: refused (duikou never follows a link below its state "
                    "folder or repository)", path);
  return dk_failf(err, e == ENOENT ? DK_ENOENT : DK_EIO, "%s %s: %s", what, path, strerror(e));
}

/* Whether `name` in dirfd is a symbolic link (for the ENOTDIR that
 * O_DIRECTORY|O_NOFOLLOW gives on one). */
static int dk__is_link(int dirfd, const char *name) {
  struct stat st;
  return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/* Split off the last component of rel: *dir gets the folder part (NULL when
 * none, caller frees), returns the base name inside rel. */
static const char *dk__split(const char *rel, char **dir) {
  const char *slash = strrchr(rel, '/');
  *dir = slash ? dk_strndup(rel, (size_t)(slash - rel)) : NULL;
  return slash ? slash + 1 : rel;
}

static int dk__bad_component(const char *c, size_t n) {
  return n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.');
}

int dk_fs_dir(const char *root, const char *rel, int create, int *out, char *err) {
  *out = -1;
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && create) {
      if (dk_mkdir_p(root, 1, err) != 0) return DK_EIO;
      fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) return dk_fs_fail(err, errno, "cannot open folder", root);
  }
  struct dk_buf path = {0};
  dk_buf_puts(&path, root);
  for (const char *p = rel; p && *p;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    char *name = dk_strndup(p, n);
    dk_buf_printf(&path, "/%s", name);
    int rc = 0;
    if (dk__bad_component(p, n)) {
      rc = dk_failf(err, DK_EINVAL, "%s: not a plain path below %s", dk_buf_cstr(&path), root);
    } else {
      int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT && create) {
        if (mkdirat(fd, name, 0700) != 0 && errno != EEXIST) rc = dk_fs_fail(err, errno, "cannot create folder",
                                                                              dk_buf_cstr(&path));
        else next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      if (rc == 0 && next < 0) {
        int e = errno;
        rc = dk_fs_fail(err, (e == ENOTDIR && dk__is_link(fd, name)) ? ELOOP : e, "cannot open folder",
                        dk_buf_cstr(&path));
      }
      close(fd);
      fd = next;
    }
    free(name);
    if (rc != 0) {
      if (fd >= 0) close(fd);
      dk_buf_free(&path);
      return rc;
    }
    p = slash ? slash + 1 : p + n;
  }
  dk_buf_free(&path);
  *out = fd;
  return 0;
}

int dk_fs_open(const char *root, const char *rel, int flags, int *out, char *err) {
  char *dir;
  const char *base = dk__split(rel, &dir);
  int dfd;
  *out = -1;
  int rc = dk_fs_dir(root, dir, (flags & O_CREAT) != 0, &dfd, err);
  if (rc == 0) {
    int fd = openat(dfd, base, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      char *full = dk_asprintf("%s/%s", root, rel);
      rc = dk_fs_fail(err, errno, "cannot open", full);
      free(full);
    }
    *out = fd;
    close(dfd);
  }
  free(dir);
  return rc;
}

int dk_fs_read(const char *root, const char *rel, char **data, size_t *len, char *err) {
  *data = NULL;
  if (len) *len = 0;
  int fd, rc = dk_fs_open(root, rel, O_RDONLY, &fd, err);
  if (rc != 0) return rc;
  struct dk_buf b = {0};
  char chunk[65536];
  ssize_t n;
  while ((n = read(fd, chunk, sizeof chunk)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      dk_buf_free(&b);
      char *full = dk_asprintf("%s/%s", root, rel);
      rc = dk_fs_fail(err, e, "cannot read", full);
      free(full);
      return rc;
    }
    dk_buf_append(&b, chunk, (size_t)n);
  }
  close(fd);
  dk_buf_cstr(&b);
  if (len) *len = b.len;
  *data = dk_buf_steal(&b);
  return 0;
}

int dk_fs_write_all(int fd, const void *data, size_t left) {
  const char *p = data;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    left -= (size_t)w;
  }
  return 0;
}

/* Deferred syncing (dk_fs_defer): the roots written meanwhile. */
static _Thread_local int dk__defer;
static _Thread_local char *dk__defer_roots[4];
static _Thread_local size_t dk__ndefer;

void dk_fs_defer(void) { dk__defer = 1; }

/* Whether a write under root may skip its fsyncs: deferring, and root is
 * remembered (a fifth root is synced as usual). */
static int dk__deferred(const char *root) {
  if (!dk__defer) return 0;
  for (size_t i = 0; i < dk__ndefer; i++)
    if (strcmp(dk__defer_roots[i], root) == 0) return 1;
  if (dk__ndefer == sizeof dk__defer_roots / sizeof dk__defer_roots[0]) return 0;
  dk__defer_roots[dk__ndefer++] = dk_strdup(root);
  return 1;
}

int dk_fs_defer_end(char *err) {
  int rc = 0;
  for (size_t i = 0; i < dk__ndefer; i++) {
    int fd = open(dk__defer_roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if ((fd < 0 || syncfs(fd) != 0) && rc == 0) rc = dk_fs_fail(err, errno, "cannot flush to disk", dk__defer_roots[i]);
    if (fd >= 0) close(fd);
    free(dk__defer_roots[i]);
  }
  dk__ndefer = 0;
  dk__defer = 0;
  return rc;
}

/* The file a rename replaces is freed when its last reference goes, and on
 * a disk mounted with discard that means waiting for the device to drop
 * its blocks: a few hundred microseconds a state file, tens of ms a round
 * of 50 sources on the loop. So the replacing write keeps the old file
 * open across the rename, and this thread closes it: the file is freed
 * there, not on the caller's thread. Made on first use; the fds it has not
 * closed yet the kernel closes at exit. */
static pthread_mutex_t dk__closer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dk__closer_cond = PTHREAD_COND_INITIALIZER;
static int dk__closer_fds[256];
static size_t dk__closer_n;
static int dk__closer_state; /* 0 none yet, 1 running, -1 could not start */

static void *dk__closer(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&dk__closer_lock);
    while (dk__closer_n == 0) pthread_cond_wait(&dk__closer_cond, &dk__closer_lock);
    int fd = dk__closer_fds[--dk__closer_n];
    pthread_mutex_unlock(&dk__closer_lock);
    close(fd);
  }
  return NULL;
}

/* Close fd on the closer thread (here when it has no room or cannot run). */
static void dk__close_later(int fd) {
  pthread_mutex_lock(&dk__closer_lock);
  if (dk__closer_state == 0) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    /* it must not take the signals the loop waits for */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    dk__closer_state = pthread_create(&t, &a, dk__closer, NULL) == 0 ? 1 : -1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
  }
  int queued = dk__closer_state == 1 && dk__closer_n < sizeof dk__closer_fds / sizeof *dk__closer_fds;
  if (queued) {
    dk__closer_fds[dk__closer_n++] = fd;
    pthread_cond_signal(&dk__closer_cond);
  }
  pthread_mutex_unlock(&dk__closer_lock);
  if (!queued) close(fd);
}

/* All of iov[0, n) to fd, again after EINTR and short writes (iov is
 * used up). 0, or -1 with errno. */
static int dk__writev_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    if (iov->iov_len == 0) {
      iov++, n--;
      continue;
    }
    ssize_t w = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return -1;
    }
    size_t done = (size_t)w;
    for (; n > 0 && done >= iov->iov_len; iov++, n--) done -= iov->iov_len;
    if (n > 0 && done > 0) { /* this one written in part */
      iov->iov_base = (char *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  return 0;
}

/* dk_fs_write_atomic; `durable` 0: no fsync at all (dk_fs_write_cache). */
static int dk__write_replace(const char *root, const char *rel, const struct iovec *iov0, int niov, int durable,
                             char *err) {
  char *dir;
  const char *base = dk__split(rel, &dir);
  int dfd, rc = dk_fs_dir(root, dir, 1, &dfd, err);
  free(dir);
  if (rc != 0) return rc;
  unsigned char rnd[8];
  dk_random_bytes(rnd, sizeof rnd);
  char tmp[300];
  snprintf(tmp, sizeof tmp, ".%.200s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x", base, rnd[0], rnd[1], rnd[2], rnd[3],
           rnd[4], rnd[5], rnd[6], rnd[7]);
  char *full = dk_asprintf("%s/%s", root, rel);
  int later = !durable || dk__deferred(root);
  /* a copy, used up by the writing */
  struct iovec few[4], *iov = niov <= 4 ? few : dk_malloc((size_t)niov * sizeof *iov);
  if (niov > 0) memcpy(iov, iov0, (size_t)niov * sizeof *iov);
  int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = dk_fs_fail(err, errno, "cannot create a temporary file for", full);
  } else if (dk__writev_all(fd, iov, niov) != 0 || (!later && fsync(fd) != 0)) {
    rc = dk_fs_fail(err, errno, "cannot write", full);
  }
  if (fd >= 0 && close(fd) != 0 && rc == 0) rc = dk_fs_fail(err, errno, "cannot write", full);
  /* the file replaced, held open so that the closer frees it (O_PATH: no
   * read access needed, nothing followed) */
  int oldfd = rc == 0 ? openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC) : -1;
  if (rc == 0 && renameat(dfd, tmp, dfd, base) != 0) rc = dk_fs_fail(err, errno, "cannot replace", full);
  if (oldfd >= 0) dk__close_later(oldfd);
  if (rc != 0 && fd >= 0) unlinkat(dfd, tmp, 0);
  if (rc == 0 && !later) fsync(dfd);
  close(dfd);
  free(full);
  if (iov != few) free(iov);
  return rc;
}

int dk_fs_write_atomic(const char *root, const char *rel, const void *data, size_t len, char *err) {
  struct iovec v = {(void *)(uintptr_t)data, len};
  return dk__write_replace(root, rel, &v, 1, 1, err);
}

int dk_fs_write_cache(const char *root, const char *rel, const void *data, size_t len, char *err) {
  struct iovec v = {(void *)(uintptr_t)data, len};
  return dk__write_replace(root, rel, &v, 1, 0, err);
}

int dk_fs_writev_cache(const char *root, const char *rel, const struct iovec *iov, int n, char *err) {
  return dk__write_replace(root, rel, iov, n, 0, err);
}

int dk_fs_unlink(const char *root, const char *rel, char *err) {
  char *dir;
  const char *base = dk__split(rel, &dir);
  int dfd, rc = dk_fs_dir(root, dir, 0, &dfd, err);
  free(dir);
  if (rc != 0) return rc;
  if (unlinkat(dfd, base, 0) != 0) {
    char *full = dk_asprintf("%s/%s", root, rel);
    rc = dk_fs_fail(err, errno, "cannot remove", full);
    free(full);
  }
  close(dfd);
  return rc;
}

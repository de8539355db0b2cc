#include "store.h"
#include "fsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <git2/sys/odb_backend.h>
#include <jansson.h>

#include "log.h"
#include "pack.h"
#include "store_tree.h"
#include "redact.h"
#include "util.h"

struct dk__upd {
  char *path;
  git_oid oid;
  int remove;
};

struct dk_txn {
  struct dk_store *st;
  char *ref;
  git_oid base;       /* commit the ref pointed to */
  int has_base;
  git_tree *base_tree; /* NULL for a new ref */
  int (*hint)(const char *path, git_oid *blob, void *arg); /* dk_txn_base_hint */
  void *hint_arg;
  struct dk__upd *upd;
  size_t nupd, capupd;
  json_t *index;      /* path -> index in upd */
  git_oid *parents;   /* merge parents after the base (a round's many sources) */
  size_t nparents;
  struct dk_pack *pack; /* objects not yet written: blobs as they are put, trees at commit */
};

/* From this many new objects (or bytes) on, a commit writes them as one
 * pack; below it, as loose objects (a file each, written from their
 * deflated bytes). A file per object is what costs most on ext4 (a new
 * inode each: a 1% re-sync of 50 sources writes 4,000 of them), a pack per
 * commit is what piles up: libgit2 rescans the pack folder whenever it
 * misses an object, so a repository of many commits wants `git gc` now and
 * then (README, Operations). */
#define DK__PACK_MIN 64
#define DK__PACK_MIN_BYTES (64 << 10) /* or this many bytes: a file per large object fills a disk's blocks */

static int dk__giterr(char *err, const char *what) {
  const git_error *e = git_error_last();
  return dk_failf(err, DK_EGIT, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
}

/* A libgit2 failure on the store: a full disk or a file-size limit is said
 * as such (libgit2's own message may then be a stale one, or none), else
 * libgit2's message. Returns DK_ENOSPC or DK_EGIT. */
static int dk__stfail(struct dk_store *st, const char *what) {
  int e = errno;
  struct statvfs vfs;
  /* errno may be that of a later call: libgit2's message keeps the cause */
  const git_error *ge = git_error_last();
  const char *gm = ge && ge->message ? ge->message : "";
  if (strstr(gm, strerror(EFBIG))) e = EFBIG;
  else if (strstr(gm, strerror(ENOSPC)) || strstr(gm, strerror(EDQUOT))) e = ENOSPC;
  if (e != ENOSPC && e != EDQUOT && e != EFBIG && statvfs(st->path, &vfs) == 0 && vfs.f_bavail == 0) e = ENOSPC;
  if (e == ENOSPC || e == EDQUOT || e == EFBIG) {
    dk_fs_fail(st->err, e, what, st->path);
    return DK_ENOSPC;
  }
  return dk__giterr(st->err, what);
}

static int dk__rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(p); /* best effort: what stays is a stray folder, never the repository */
  return 0;
}

/* ---- objects held back ----
 * While a round's commits are made together (dk_store_hold), the objects
 * of every commit but the last are needed before any of them is on disk:
 * the fold reads the source commits, a commit its tree. This backend
 * serves them from st->held, ahead of the loose and pack backends, until
 * they are written as one pack. */
struct dk__held_odb {
  git_odb_backend parent;
  struct dk_store *st;
};

static int dk__ho_read(void **data, size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *oid) {
  struct dk_store *st = ((struct dk__held_odb *)b)->st;
  char *d = NULL;
  size_t l = 0;
  if (st->held == NULL || dk_pack_read(st->held, oid, type, &d, &l) != 0) return GIT_ENOTFOUND;
  void *out = git_odb_backend_data_alloc(b, l + 1);
  if (out == NULL) {
    free(d);
    return -1;
  }
  memcpy(out, d, l + 1);
  free(d);
  *data = out;
  *len = l;
  return 0;
}

static int dk__ho_read_prefix(git_oid *full, void **data, size_t *len, git_object_t *type, git_odb_backend *b,
                              const git_oid *id, size_t n) {
  if (n < GIT_OID_HEXSZ) return GIT_ENOTFOUND; /* held for a moment: never named by a person */
  git_oid_cpy(full, id);
  return dk__ho_read(data, len, type, b, id);
}

static int dk__ho_read_header(size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *oid) {
  struct dk_store *st = ((struct dk__held_odb *)b)->st;
  return st->held && dk_pack_info(st->held, oid, type, len) == 0 ? 0 : GIT_ENOTFOUND;
}

static int dk__ho_exists(git_odb_backend *b, const git_oid *oid) {
  struct dk_store *st = ((struct dk__held_odb *)b)->st;
  return st->held && dk_pack_has(st->held, oid);
}

static int dk__ho_exists_prefix(git_oid *full, git_odb_backend *b, const git_oid *id, size_t n) {
  if (n < GIT_OID_HEXSZ || !dk__ho_exists(b, id)) return GIT_ENOTFOUND;
  git_oid_cpy(full, id);
  return 0;
}

static void dk__ho_free(git_odb_backend *b) { free(b); }

/* Put the held-objects backend into the repository's object database. */
static int dk__held_attach(struct dk_store *st) {
  git_odb *odb = NULL;
  if (git_repository_odb(&odb, st->repo) != 0) return -1;
  struct dk__held_odb *b = dk_calloc(1, sizeof *b);
  git_odb_init_backend(&b->parent, GIT_ODB_BACKEND_VERSION);
  b->parent.read = dk__ho_read;
  b->parent.read_prefix = dk__ho_read_prefix;
  b->parent.read_header = dk__ho_read_header;
  b->parent.exists = dk__ho_exists;
  b->parent.exists_prefix = dk__ho_exists_prefix;
  b->parent.free = dk__ho_free;
  b->st = st;
  int rc = git_odb_add_backend(odb, &b->parent, 3); /* before loose (1) and packs (2) */
  if (rc != 0) free(b);
  git_odb_free(odb);
  return rc;
}

/* Write what is held as one pack (the store's recent one). Returns 0 or a
 * DK_E* code with err. */
static int dk__held_write(struct dk_store *st) {
  if (st->held == NULL || dk_pack_count(st->held) == 0) return 0;
  st->unflushed = 1;
  int rc = dk_pack_write(st->held, git_repository_path(st->repo), st->err);
  git_odb *odb = NULL;
  if (rc == 0 && (git_repository_odb(&odb, st->repo) != 0 || git_odb_refresh(odb) != 0))
    rc = dk__stfail(st, "reading the new pack");
  git_odb_free(odb);
  if (rc != 0) return rc;
  dk_pack_free(st->recent2);
  st->recent2 = st->recent;
  st->recent = st->held;
  st->held = dk_pack_new();
  return 0;
}

int dk_store_hold(struct dk_store *st, int on) {
  if (on) {
    if (st->held == NULL) st->held = dk_pack_new();
    st->holding = 1;
    return 0;
  }
  st->holding = 0;
  int rc = dk__held_write(st);
  if (rc != 0) dk_pack_reset(st->held); /* no ref names them: they go */
  return rc;
}

int dk_store_open(const char *path, struct dk_store **out, char *err) {
  static int inited;
  if (!inited) {
    git_libgit2_init();
    /* A power cut must not leave a ref on objects that never reached the
     * disk. libgit2 can fsync each object file and its folder, but two
     * fsyncs an object make a commit of 10,000 records take minutes; so
     * objects are written without, one syncfs() makes them all durable
     * before the ref moves, and another makes the ref durable after
     * (dk_txn_move). */
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
    /* libgit2 caches no commit or tree over 4 KB by default, and a round
     * reads main's last commit and its folder trees (200 tasks: 6 KB) once
     * per changed record: cache commits and trees up to 1 MB, within a
     * total the daemon can keep resident (blobs stay uncached: each is read
     * once). */
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_COMMIT, (size_t)1 << 20);
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)1 << 20);
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)32 << 20);
    inited = 1;
  }
  *out = NULL;
  git_repository *repo = NULL;
  int rc = git_repository_open_bare(&repo, path);
  if (rc == GIT_ENOTFOUND) {
    char *parent = dk_dirname(path);
    int prc = dk_mkdir_p(parent, 0, err);
    free(parent);
    if (prc != 0) return prc;
    git_repository_init_options opts;
    git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
    opts.initial_head = "main";
    opts.description = "duikou snapshot repository: the audit trail of the Jinan-Linyi paired-cooperation plan";
    /* made beside it and renamed into place whole: a process killed while
     * libgit2 writes HEAD and config must not leave a folder that is
     * neither a repository nor absent */
    char *tmp = dk_asprintf("%s.init-XXXXXX", path);
    if (mkdtemp(tmp) == NULL || chmod(tmp, 0755) != 0) {
      int e = errno;
      free(tmp);
      return dk_fs_fail(err, e, "cannot create the repository", path);
    }
    rc = git_repository_init_ext(&repo, tmp, &opts);
    git_repository_free(repo);
    repo = NULL;
    if (rc != 0) {
      rc = dk__giterr(err, path);
      nftw(tmp, dk__rm_cb, 16, FTW_DEPTH | FTW_PHYS);
      free(tmp);
      return rc;
    }
    if (rename(tmp, path) != 0) nftw(tmp, dk__rm_cb, 16, FTW_DEPTH | FTW_PHYS); /* another one won: use it */
    free(tmp);
    if (git_repository_open_bare(&repo, path) != 0) return dk__giterr(err, path);
  } else if (rc == 0 || rc == GIT_EOWNER) {
    /* git refuses a repository another user owns (safe.directory). libgit2
     * 1.5 checks that only when it searches for a repository, not for a bare
     * one opened by path (a later one may: GIT_EOWNER), so duikou checks it,
     * and says how to put it right. */
    struct stat sb;
    int found = stat(path, &sb) == 0;
    if (rc == GIT_EOWNER || (found && sb.st_uid != geteuid())) {
      git_repository_free(repo);
      return dk_failf(err, DK_EGIT,
                      "%s: the repository belongs to user id %ld, not to the user duikou runs as (%ld); run duikou "
                      "as the service user that owns it, or give it to that user (chown -R)",
                      path, found ? (long)sb.st_uid : -1L, (long)geteuid());
    }
  } else if (rc != 0) {
    return dk__giterr(err, path);
  }
  struct dk_store *st = dk_calloc(1, sizeof *st);
  st->repo = repo;
  st->path = dk_strdup(path);
  st->lock_fd = -1;
  st->unflushed = 1; /* what an earlier process wrote may not be durable yet */
  if (dk__held_attach(st) != 0) {
    rc = dk__giterr(err, path);
    dk_store_close(st);
    return rc;
  }
  *out = st;
  return 0;
}

void dk_store_trim(struct dk_store *st) {
  git_repository *repo = NULL;
  /* libgit2 keeps its object cache and pack maps for the repository's
   * life: opening it again is the way to let go of them */
  if (st->holding || git_repository_open_bare(&repo, st->path) != 0) return;
  git_repository *old = st->repo;
  st->repo = repo;
  if (dk__held_attach(st) != 0) {
    st->repo = old;
    git_repository_free(repo);
    return;
  }
  git_repository_free(old);
  dk_pack_free(st->recent);
  dk_pack_free(st->recent2);
  st->recent = st->recent2 = NULL;
}

int dk_store_lock(struct dk_store *st, const char *what, char *err) {
  if (st->lock_fd >= 0) return 0;
  char *lp = dk_asprintf("%s/duikou.lock", st->path);
  int fd, orc = dk_fs_open(st->path, "duikou.lock", O_RDWR | O_CREAT, &fd, err);
  if (orc != 0) {
    free(lp);
    return orc;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    char holder[256] = "";
    ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
    holder[n > 0 ? n : 0] = '\0';
    holder[strcspn(holder, "\n")] = '\0';
    close(fd);
    int rc = e == EWOULDBLOCK
                 ? dk_failf(err, DK_ELOCKED,
                            "%s is in use by another duikou (%s); only one may sync into a repository at a time",
                            st->path, holder[0] ? holder : "holder unknown")
                 : dk_failf(err, DK_EIO, "cannot lock %s: %s", lp, strerror(e));
    free(lp);
    return rc;
  }
  /* Who holds it, for the message a second duikou prints; the lock itself
   * is the flock, released by the kernel even after kill -9. */
  char now[40], line[300];
  dk_time_iso(time(NULL), now, sizeof now);
  int len = snprintf(line, sizeof line, "pid %ld, %s, since %s\n", (long)getpid(), what, now);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
    /* the message is a courtesy: the lock holds without it */
  }
  free(lp);
  st->lock_fd = fd;
  return 0;
}

void dk_store_close(struct dk_store *st) {
  if (st == NULL) return;
  if (st->lock_fd >= 0) close(st->lock_fd);
  dk_pack_free(st->recent);
  dk_pack_free(st->recent2);
  git_repository_free(st->repo); /* and the held-objects backend */
  dk_pack_free(st->held);
  free(st->path);
  free(st);
}

int dk_store_ref(struct dk_store *st, const char *ref, git_oid *oid, int *found) {
  int rc = git_reference_name_to_id(oid, st->repo, ref);
  if (rc == GIT_ENOTFOUND) {
    memset(oid, 0, sizeof *oid);
    *found = 0;
    return 0;
  }
  if (rc != 0) return dk__stfail(st, ref);
  *found = 1;
  return 0;
}

int dk_store_read(struct dk_store *st, const char *ref, const git_oid *commit, const char *path,
                  char **data, size_t *len) {
  *data = NULL;
  git_oid oid;
  if (commit == NULL) {
    int found;
    int rc = dk_store_ref(st, ref, &oid, &found);
    if (rc != 0) return rc;
    if (!found) return DK_ENOENT;
    commit = &oid;
  }
  git_commit *c = NULL;
  git_tree *tree = NULL;
  git_tree_entry *ent = NULL;
  git_blob *blob = NULL;
  int ret = 0;
  if (git_commit_lookup(&c, st->repo, commit) != 0 || git_commit_tree(&tree, c) != 0) {
    ret = dk__stfail(st, "reading commit");
    goto out;
  }
  int rc = git_tree_entry_bypath(&ent, tree, path);
  if (rc == GIT_ENOTFOUND) {
    ret = DK_ENOENT;
    goto out;
  }
  if (rc != 0 || git_blob_lookup(&blob, st->repo, git_tree_entry_id(ent)) != 0) {
    ret = dk__stfail(st, path);
    goto out;
  }
  size_t n = (size_t)git_blob_rawsize(blob);
  *data = dk_strndup(git_blob_rawcontent(blob), n);
  if (len) *len = n;
out:
  git_blob_free(blob);
  git_tree_entry_free(ent);
  git_tree_free(tree);
  git_commit_free(c);
  return ret;
}

int dk_txn_begin(struct dk_store *st, const char *ref, struct dk_txn **out) {
  *out = NULL;
  struct dk_txn *t = dk_calloc(1, sizeof *t);
  t->st = st;
  t->ref = dk_strdup(ref);
  t->index = json_object();
  t->pack = dk_pack_new();
  int rc = dk_store_ref(st, ref, &t->base, &t->has_base);
  if (rc != 0) {
    dk_txn_free(t);
    return rc;
  }
  if (t->has_base) {
    git_commit *c = NULL;
    if (git_commit_lookup(&c, st->repo, &t->base) != 0 || git_commit_tree(&t->base_tree, c) != 0) {
      git_commit_free(c);
      dk_txn_free(t);
      return dk__stfail(st, ref);
    }
    git_commit_free(c);
  }
  *out = t;
  return 0;
}

/* The blob id at path in the base tree; 0 when found. */
static int dk__base_id(struct dk_txn *t, const char *path, git_oid *oid, git_filemode_t *mode) {
  if (t->base_tree == NULL) return GIT_ENOTFOUND;
  if (t->hint) {
    if (!t->hint(path, oid, t->hint_arg)) return GIT_ENOTFOUND;
    if (mode) *mode = GIT_FILEMODE_BLOB;
    return 0;
  }
  git_tree_entry *ent = NULL;
  int rc = git_tree_entry_bypath(&ent, t->base_tree, path);
  if (rc != 0) return rc;
  git_oid_cpy(oid, git_tree_entry_id(ent));
  if (mode) *mode = git_tree_entry_filemode(ent);
  git_tree_entry_free(ent);
  return 0;
}

int dk_txn_base_read(struct dk_txn *t, const char *path, char **data, size_t *len) {
  *data = NULL;
  if (!t->has_base) return DK_ENOENT;
  return dk_store_read(t->st, NULL, &t->base, path, data, len);
}


/* Record (or replace) the pending update of path; drop it when it brings the
 * path back to what the base has. */
static int dk__stage(struct dk_txn *t, const char *path, const git_oid *oid, int remove) {
  git_oid cur;
  git_filemode_t mode = GIT_FILEMODE_BLOB;
  int in_base = dk__base_id(t, path, &cur, &mode) == 0;
  int same_as_base = remove ? !in_base : (in_base && mode == GIT_FILEMODE_BLOB && git_oid_equal(&cur, oid));
  json_t *ix = json_object_get(t->index, path);
  if (ix) {
    struct dk__upd *u = &t->upd[json_integer_value(ix)];
    int was_noop = u->path == NULL;
    if (same_as_base) {
      free(u->path);
      u->path = NULL; /* a hole: skipped at commit */
      return was_noop ? 0 : 1;
    }
    if (was_noop) u->path = dk_strdup(path);
    int changed = was_noop || u->remove != remove || (!remove && !git_oid_equal(&u->oid, oid));
    u->remove = remove;
    if (!remove) git_oid_cpy(&u->oid, oid);
    return changed;
  }
  if (same_as_base) return 0;
  if (t->nupd == t->capupd) {
    t->capupd = t->capupd ? t->capupd * 2 : 64;
    t->upd = dk_realloc(t->upd, t->capupd * sizeof *t->upd);
  }
  struct dk__upd *u = &t->upd[t->nupd];
  u->path = dk_strdup(path);
  u->remove = remove;
  if (!remove) git_oid_cpy(&u->oid, oid);
  json_object_set_new(t->index, path, json_integer((json_int_t)t->nupd));
  t->nupd++;
  return 1;
}

/* Whether the object is already written or waiting in this transaction:
 * the pack of this process's last commit counts (a source's merge into main
 * puts the blobs its source commit has just written). Objects written
 * otherwise are not looked for: a copy in a pack costs only its bytes,
 * where an odb look-up of a missing object costs a file system check. */
static int dk__known(const git_oid *oid, void *arg) {
  struct dk_txn *t = arg;
  return dk_pack_has(t->pack, oid) || (t->st->recent && dk_pack_has(t->st->recent, oid)) ||
         (t->st->recent2 && dk_pack_has(t->st->recent2, oid)) || (t->st->held && dk_pack_has(t->st->held, oid));
}

int dk_txn_put_blob(struct dk_txn *t, const char *path, const git_oid *oid, size_t size, unsigned char *z,
                    size_t zlen) {
  int rc = dk__stage(t, path, oid, 0);
  if (rc == 1 && z && !dk__known(oid, t)) {
    dk_pack_add(t->pack, GIT_OBJECT_BLOB, oid, size, z, zlen);
    return rc;
  }
  if (rc == 1 && z == NULL && !dk__known(oid, t)) {
    git_odb *odb = NULL;
    int exists = git_repository_odb(&odb, t->st->repo) == 0 && git_odb_exists(odb, oid);
    git_odb_free(odb);
    if (!exists) rc = dk_failf(t->st->err, DK_EGIT, "%s: its blob is neither given nor in the repository", path);
  }
  free(z);
  return rc;
}

int dk_txn_put(struct dk_txn *t, const char *path, const void *data, size_t len) {
  git_oid oid;
  /* the last line of defence: validation refuses such records first */
  if (dk_redact_found(data, len))
    return dk_failf(t->st->err, DK_EINVALID, "%s: refused, it holds a secret of the configuration", path);
  dk_object_id(GIT_OBJECT_BLOB, data, len, &oid);
  int rc = dk__stage(t, path, &oid, 0);
  if (rc != 1 || dk__known(&oid, t)) return rc;
  unsigned char *z;
  size_t zlen;
  if (dk_object_deflate(data, len, &z, &zlen) != 0)
    return dk_failf(t->st->err, DK_ENOMEM, "%s: cannot compress its blob", path);
  dk_pack_add(t->pack, GIT_OBJECT_BLOB, &oid, len, z, zlen);
  return rc;
}

/* Write the objects waiting in the transaction: one pack when there are
 * many, loose objects when few (a pack per small commit would pile up
 * packs that every look-up must search). The written ones become the
 * store's recent pack. Returns 0 or dk__stfail's. */
static int dk__flush_objects(struct dk_txn *t) {
  size_t n = dk_pack_count(t->pack);
  if (n == 0) return 0;
  if (t->st->holding) { /* written with the round's others, before a ref moves */
    dk_pack_move(t->st->held, t->pack);
    return 0;
  }
  git_error_clear(); /* a failure below must not report an earlier lookup's message */
  errno = 0;
  git_odb *odb = NULL;
  if (git_repository_odb(&odb, t->st->repo) != 0) return dk__stfail(t->st, "object database");
  int rc = 0;
  t->st->unflushed = 1;
  if (n >= DK__PACK_MIN || dk_pack_bytes(t->pack) >= DK__PACK_MIN_BYTES) {
    if ((rc = dk_pack_write(t->pack, git_repository_path(t->st->repo), t->st->err)) == 0 && git_odb_refresh(odb) != 0)
      rc = dk__stfail(t->st, "reading the new pack");
  } else {
    /* loose objects read without a refresh: no scan of the pack folder */
    rc = dk_pack_write_loose(t->pack, git_repository_path(t->st->repo), t->st->err);
  }
  git_odb_free(odb);
  if (rc == 0) {
    /* the two last writes: a source commit's blobs and trees, then its
     * commit object, are both still known when main takes them */
    dk_pack_free(t->st->recent2);
    t->st->recent2 = t->st->recent;
    t->st->recent = t->pack;
    t->pack = dk_pack_new();
  }
  return rc;
}

int dk_txn_remove(struct dk_txn *t, const char *path) {
  return dk__stage(t, path, NULL, 1);
}

size_t dk_txn_changes(const struct dk_txn *t) {
  size_t n = 0;
  for (size_t i = 0; i < t->nupd; i++) n += t->upd[i].path != NULL;
  return n;
}

void dk_txn_add_parent(struct dk_txn *t, const git_oid *parent) {
  t->parents = dk_realloc(t->parents, (t->nparents + 1) * sizeof *t->parents);
  git_oid_cpy(&t->parents[t->nparents++], parent);
}

static git_time_t dk__commit_clock;

void dk_commit_clock_set(git_time_t t) { dk__commit_clock = t; }

/* The time of a commit made now: the real clock, or dk_commit_clock_set's. */
static git_time_t dk__commit_now(void) { return dk__commit_clock ? dk__commit_clock : (git_time_t)time(NULL); }

void dk_commit_meta_init(struct dk_commit_meta *meta, const char *author, const char *email, git_time_t when) {
  time_t t = when ? (time_t)when : (time_t)dk__commit_now();
  struct tm tm;
  localtime_r(&t, &tm);
  *meta = (struct dk_commit_meta){.author_name = author, .author_email = email, .committer_name = "duikou",
                                  .committer_email = "duikou@localhost", .when = (git_time_t)t,
                                  .offset_minutes = (int)(tm.tm_gmtoff / 60)};
}

int dk_txn_commit(struct dk_txn *t, const struct dk_commit_meta *meta, int force, git_oid *out) {
  git_oid oid;
  int rc = dk_txn_write(t, meta, force, &oid);
  if (rc <= 0) {
    if (rc == 0 && out) git_oid_cpy(out, &t->base);
    return rc;
  }
  if ((rc = dk_txn_move(t, &oid)) != 0) return rc;
  if (out) git_oid_cpy(out, &oid);
  return 1;
}

int dk_store_flush(struct dk_store *st) {
  int dfd = open(st->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || syncfs(dfd) != 0) {
    int e = errno;
    if (dfd >= 0) close(dfd);
    return dk_failf(st->err, DK_EIO, "cannot flush %s to disk: %s", st->path, strerror(e));
  }
  close(dfd);
  st->unflushed = 0;
  return 0;
}

void dk_store_defer_refs(struct dk_store *st) { st->defer_refs = 1; }

int dk_store_defer_refs_end(struct dk_store *st) {
  st->defer_refs = 0;
  if (!st->refs_owed) return 0;
  st->refs_owed = 0;
  return dk_store_flush(st);
}

int dk_txn_move(struct dk_txn *t, const git_oid *commit) {
  git_repository *repo = t->st->repo;
  /* every object the commit needs is on disk before a ref names it */
  int hrc = dk__held_write(t->st);
  if (hrc != 0) return hrc;
  /* nothing written since the last flush: nothing to make durable first */
  if (t->st->unflushed && dk_store_flush(t->st) != 0) return DK_EIO;
  git_reference *newref = NULL;
  int rc;
  git_commit *c = NULL;
  char *log = NULL;
  if (git_commit_lookup(&c, repo, commit) == 0) {
    const char *m = git_commit_message(c);
    log = dk_asprintf("duikou: %.*s", (int)strcspn(m, "\n"), m);
    git_commit_free(c);
  } else {
    log = dk_strdup("duikou");
  }
  /* Every duikou that moves refs (a sync, a conflict resolution) does it
   * under this lock; so a <ref>.lock found while holding it was left by a
   * writer that died (kill -9, power cut) and may be removed. */
  int lfd;
  if (dk_fs_open(t->st->path, "duikou.refs.lock", O_RDWR | O_CREAT, &lfd, t->st->err) != 0) {
    free(log);
    return DK_EIO;
  }
  if (flock(lfd, LOCK_EX) != 0) {
    int e = errno;
    close(lfd);
    free(log);
    return dk_failf(t->st->err, DK_EIO, "cannot lock the refs of %s: %s", t->st->path, strerror(e));
  }
  for (int attempt = 0;; attempt++) {
    if (t->has_base)
      rc = git_reference_create_matching(&newref, repo, t->ref, commit, 1, &t->base, log);
    else
      rc = git_reference_create(&newref, repo, t->ref, commit, 0, log);
    git_reference_free(newref);
    newref = NULL;
    if (rc != GIT_ELOCKED || attempt > 0) break;
    char *stale = dk_asprintf("%s%s.lock", git_repository_path(repo), t->ref);
    if (unlink(stale) == 0)
      dk_log(DK_LOG_WARN, "ref", t->ref, NULL, "removed %s, left by a writer that did not finish", stale);
    free(stale);
  }
  close(lfd);
  free(log);
  if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS)
    return dk_failf(t->st->err, DK_EEXIST, "%s moved while this commit was prepared", t->ref);
  if (rc != 0) return dk__stfail(t->st, t->ref);
  if (t->st->defer_refs) {
    t->st->refs_owed = 1;
    return 0;
  }
  return dk_store_flush(t->st);
}

/* The transaction's changes as tree updates, k of them, in an array the
 * caller frees (never NULL); the paths stay the transaction's. */
static struct dk_tree_update *dk__txn_updates(const struct dk_txn *t, size_t n, size_t *k) {
  struct dk_tree_update *ups = dk_calloc(n ? n : 1, sizeof *ups);
  *k = 0;
  for (size_t i = 0; i < t->nupd; i++) {
    if (t->upd[i].path == NULL) continue;
    ups[*k].path = t->upd[i].path;
    ups[*k].oid = t->upd[i].remove ? NULL : &t->upd[i].oid;
    (*k)++;
  }
  return ups;
}

/* The base tree with the k updates applied: its new trees go into the
 * transaction's pack with its blobs, the pack is written, and the root
 * tree looked up. Returns 0 with *tree (the caller frees it), or a DK_E*
 * code with the store's err. */
static int dk__txn_tree(struct dk_txn *t, struct dk_tree_update *ups, size_t k, git_tree **tree) {
  git_oid root;
  *tree = NULL;
  int rc = dk_tree_build(t->st->repo, t->base_tree, ups, k, t->pack, dk__known, t, &root, t->st->err);
  if (rc == 0) rc = dk__flush_objects(t);
  if (rc == 0 && git_tree_lookup(tree, t->st->repo, &root) != 0) rc = dk__stfail(t->st, "the new tree");
  return rc;
}

/* The author and committer meta names (duikou by default), at meta's time
 * (now when 0). Returns 0 with both (the caller frees them), or
 * dk__stfail's (the caller still frees what was made). */
static int dk__txn_signatures(struct dk_txn *t, const struct dk_commit_meta *meta, git_signature **author,
                              git_signature **committer) {
  git_time_t when = meta->when ? meta->when : dk__commit_now();
  if (git_signature_new(author, meta->author_name, meta->author_email, when, meta->offset_minutes) != 0 ||
      git_signature_new(committer, meta->committer_name ? meta->committer_name : "duikou",
                        meta->committer_email ? meta->committer_email : "duikou@localhost", when,
                        meta->offset_minutes) != 0)
    return dk__stfail(t->st, "commit signature");
  return 0;
}

/* The new commit's parents: the base commit, then the merge parents, looked
 * up into pc (room for 1 + t->nparents), *np of them. Returns 0, or dk__stfail's; the
 * caller frees the *np looked up in either case. */
static int dk__txn_parents(struct dk_txn *t, git_commit **pc, size_t *np) {
  git_repository *repo = t->st->repo;
  *np = 0;
  if (t->has_base) {
    if (git_commit_lookup(&pc[*np], repo, &t->base) != 0) return dk__stfail(t->st, "base commit");
    (*np)++;
  }
  for (size_t i = 0; i < t->nparents; i++) {
    if (git_commit_lookup(&pc[*np], repo, &t->parents[i]) != 0) return dk__stfail(t->st, "merge parent");
    (*np)++;
  }
  return 0;
}

/* The commit object, written loose by the store itself: libgit2's
 * git_odb_write looks the new object up first, and a miss makes it rescan
 * the pack folder. Returns 0 with *oid, or a DK_E* code with the err. */
static int dk__write_commit(struct dk_txn *t, const char *data, size_t len, git_oid *oid) {
  unsigned char *z;
  size_t zlen;
  if (dk_object_prepare(GIT_OBJECT_COMMIT, data, len, oid, &z, &zlen) != 0)
    return dk_failf(t->st->err, DK_ENOMEM, "cannot compress the commit");
  if (t->st->holding) {
    dk_pack_add(t->st->held, GIT_OBJECT_COMMIT, oid, len, z, zlen);
    return 0;
  }
  struct dk_pack *one = dk_pack_new();
  dk_pack_add(one, GIT_OBJECT_COMMIT, oid, len, z, zlen);
  t->st->unflushed = 1;
  int rc = dk_pack_write_loose(one, git_repository_path(t->st->repo), t->st->err);
  dk_pack_free(one);
  return rc;
}

int dk_txn_write(struct dk_txn *t, const struct dk_commit_meta *meta, int force, git_oid *out) {
  size_t n = dk_txn_changes(t);
  if (n == 0 && !force) return 0;
  int ret;
  git_error_clear();
  errno = 0;
  size_t k;
  struct dk_tree_update *ups = dk__txn_updates(t, n, &k);
  git_oid commit_oid;
  git_tree *tree = NULL;
  git_signature *author = NULL, *committer = NULL;
  const git_commit **parents = dk_calloc(t->nparents + 1, sizeof *parents);
  git_commit **pc = dk_calloc(t->nparents + 1, sizeof *pc);
  size_t np = 0;
  if ((ret = dk__txn_tree(t, ups, k, &tree)) != 0 ||
      (ret = dk__txn_signatures(t, meta, &author, &committer)) != 0 || (ret = dk__txn_parents(t, pc, &np)) != 0)
    goto out;
  for (size_t i = 0; i < np; i++) parents[i] = pc[i];
  /* Write the commit object first (ref NULL), then move the ref with a
   * compare-and-swap on the value the transaction started from. */
  char *clean = dk_redact(meta->message, strlen(meta->message), NULL); /* no secret in history */
  git_buf cbuf = {0};
  int crc = git_commit_create_buffer(&cbuf, t->st->repo, author, committer, "UTF-8", clean ? clean : meta->message,
                                     tree, np, parents);
  free(clean);
  if (crc != 0) {
    ret = dk__stfail(t->st, "writing the commit");
    goto out;
  }
  ret = dk__write_commit(t, cbuf.ptr, cbuf.size, &commit_oid);
  git_buf_dispose(&cbuf);
  if (ret != 0) goto out;
  if (out) git_oid_cpy(out, &commit_oid);
  ret = 1;
out:
  for (size_t i = 0; i < np; i++) git_commit_free(pc[i]);
  free(pc);
  free(parents);
  git_signature_free(author);
  git_signature_free(committer);
  git_tree_free(tree);
  free(ups);
  return ret;
}

int dk_txn_has_base(const struct dk_txn *t) { return t->has_base; }

void dk_txn_base_hint(struct dk_txn *t, int (*hint)(const char *path, git_oid *blob, void *arg), void *arg) {
  t->hint = hint;
  t->hint_arg = arg;
}

int dk_txn_base(const struct dk_txn *t, git_oid *oid) {
  if (t->has_base) git_oid_cpy(oid, &t->base);
  return t->has_base;
}

void dk_txn_foreach(const struct dk_txn *t, void (*cb)(const char *path, const git_oid *oid, void *arg), void *arg) {
  for (size_t i = 0; i < t->nupd; i++)
    if (t->upd[i].path) cb(t->upd[i].path, t->upd[i].remove ? NULL : &t->upd[i].oid, arg);
}

int dk_txn_foreach_change(const struct dk_txn *t,
                          void (*cb)(const char *path, const git_oid *old, const git_oid *neu, void *arg), void *arg) {
  for (size_t i = 0; i < t->nupd; i++) {
    if (t->upd[i].path == NULL) continue;
    git_oid cur;
    git_filemode_t mode = GIT_FILEMODE_BLOB;
    int in_base = dk__base_id((struct dk_txn *)t, t->upd[i].path, &cur, &mode) == 0 && mode == GIT_FILEMODE_BLOB;
    cb(t->upd[i].path, in_base ? &cur : NULL, t->upd[i].remove ? NULL : &t->upd[i].oid, arg);
  }
  return 0;
}

void dk_txn_free(struct dk_txn *t) {
  if (t == NULL) return;
  for (size_t i = 0; i < t->nupd; i++) free(t->upd[i].path);
  free(t->upd);
  json_decref(t->index);
  dk_pack_free(t->pack);
  git_tree_free(t->base_tree);
  free(t->parents);
  free(t->ref);
  free(t);
}

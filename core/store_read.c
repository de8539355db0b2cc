/* The store's reading side: commits, blobs, trees and their differences,
 * for the audit queries (audit.c) and the crash repair of a source branch.
 * Like store.c, the only other file that calls libgit2; its errors are
 * copied into st->err at once. */
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static int dk__rfail(struct dk_store *st, int code, const char *what) {
  const git_error *e = git_error_last();
  return dk_failf(st->err, code, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
}

int dk_store_open_existing(const char *path, struct dk_store **out, char *err) {
  *out = NULL;
  git_repository *repo = NULL;
  int rc = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
  if (rc == GIT_ENOTFOUND) return dk_failf(err, DK_ENOENT, "no repository at %s", path);
  if (rc == GIT_EOWNER)
    return dk_failf(err, DK_EGIT, "%s: the repository belongs to another user; run duikou as the user that owns it",
                    path);
  if (rc != 0) {
    const git_error *e = git_error_last();
    return dk_failf(err, DK_EGIT, "%s: %s", path, e && e->message ? e->message : "unknown libgit2 error");
  }
  struct dk_store *st = dk_calloc(1, sizeof *st);
  st->repo = repo;
  st->path = dk_strdup(path);
  st->lock_fd = -1;
  *out = st;
  return 0;
}

int dk_oid_equal(const git_oid *a, const git_oid *b) { return git_oid_equal(a, b); }

char *dk_oid_hex(const git_oid *oid, char *out) { return git_oid_tostr(out, GIT_OID_HEXSZ + 1, oid); }

int dk_oid_parse(const char *hex, git_oid *out) {
  return hex && strlen(hex) == GIT_OID_HEXSZ && git_oid_fromstr(out, hex) == 0 ? 0 : DK_EINVAL;
}

int dk_store_revparse(struct dk_store *st, const char *spec, git_oid *out) {
  git_object *obj = NULL, *peeled = NULL;
  int rc = git_revparse_single(&obj, st->repo, spec);
  if (rc == GIT_ENOTFOUND) return dk_failf(st->err, DK_ENOENT, "no revision \"%s\" in %s", spec, st->path);
  if (rc == GIT_EAMBIGUOUS)
    return dk_failf(st->err, DK_EINVAL, "\"%s\" is ambiguous: give more of the commit id", spec);
  if (rc == GIT_EINVALIDSPEC) return dk__rfail(st, DK_EINVAL, spec);
  if (rc != 0) return dk__rfail(st, DK_EGIT, spec);
  rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
  git_object_free(obj);
  if (rc != 0) return dk_failf(st->err, DK_EINVAL, "\"%s\" does not name a commit", spec);
  git_oid_cpy(out, git_object_id(peeled));
  git_object_free(peeled);
  return 0;
}

int dk_store_commit(struct dk_store *st, const git_oid *oid, struct dk_store_commit *out) {
  memset(out, 0, sizeof *out);
  git_commit *c = NULL;
  if (git_commit_lookup(&c, st->repo, oid) != 0) return dk__rfail(st, DK_EGIT, "reading a commit");
  git_oid_cpy(&out->oid, oid);
  git_oid_tostr(out->hex, sizeof out->hex, oid);
  out->time = git_commit_time(c);
  const git_signature *au = git_commit_author(c);
  out->author = dk_strdup(au && au->name ? au->name : "?");
  const char *summary = git_commit_summary(c), *msg = git_commit_message(c);
  out->summary = dk_strdup(summary ? summary : "");
  out->message = dk_strdup(msg ? msg : "");
  out->nparents = git_commit_parentcount(c);
  if (out->nparents > 0) git_oid_cpy(&out->parent, git_commit_parent_id(c, 0));
  git_oid_cpy(&out->tree, git_commit_tree_id(c));
  git_commit_free(c);
  return 0;
}

void dk_store_commit_clear(struct dk_store_commit *c) {
  free(c->author);
  free(c->summary);
  free(c->message);
  memset(c, 0, sizeof *c);
}

char *dk_store_trailer(const char *message, const char *key) {
  git_message_trailer_array tr = {0};
  char *out = NULL;
  if (message && git_message_trailers(&tr, message) == 0)
    for (size_t i = 0; i < tr.count && out == NULL; i++)
      if (strcasecmp(tr.trailers[i].key, key) == 0) out = dk_strdup(tr.trailers[i].value);
  git_message_trailer_array_free(&tr);
  return out;
}

/* The tree of a commit. Returns 0 or DK_EGIT. */
static int dk__tree(struct dk_store *st, const git_oid *commit, git_tree **tree) {
  git_commit *c = NULL;
  int rc = git_commit_lookup(&c, st->repo, commit);
  if (rc == 0) rc = git_commit_tree(tree, c);
  git_commit_free(c);
  return rc != 0 ? dk__rfail(st, DK_EGIT, "reading a commit's tree") : 0;
}

int dk_store_blob_at(struct dk_store *st, const git_oid *commit, const char *path, git_oid *blob) {
  git_tree *tree = NULL;
  git_tree_entry *ent = NULL;
  int rc = dk__tree(st, commit, &tree);
  if (rc != 0) return rc;
  rc = git_tree_entry_bypath(&ent, tree, path);
  git_tree_free(tree);
  if (rc == GIT_ENOTFOUND) return 0;
  if (rc != 0) return dk__rfail(st, DK_EGIT, path);
  int found = git_tree_entry_type(ent) == GIT_OBJECT_BLOB;
  if (found) git_oid_cpy(blob, git_tree_entry_id(ent));
  git_tree_entry_free(ent);
  return found;
}

int dk_store_blob(struct dk_store *st, const git_oid *oid, char **data, size_t *len) {
  git_blob *b = NULL;
  *data = NULL;
  if (git_blob_lookup(&b, st->repo, oid) != 0) return dk__rfail(st, DK_EGIT, "reading a blob");
  size_t n = (size_t)git_blob_rawsize(b);
  *data = dk_strndup(git_blob_rawcontent(b), n);
  if (len) *len = n;
  git_blob_free(b);
  return 0;
}

int dk_store_descends(struct dk_store *st, const git_oid *a, const git_oid *b) {
  if (git_oid_equal(a, b)) return 1;
  /* a commit that never reached the disk (a crash before its pack was
   * written) is in no history */
  git_odb *odb = NULL;
  if (git_repository_odb(&odb, st->repo) != 0) return dk__rfail(st, DK_EGIT, "the object database");
  int there = git_odb_exists(odb, b);
  git_odb_free(odb);
  if (!there) return 0;
  int rc = git_graph_descendant_of(st->repo, a, b);
  return rc < 0 ? dk__rfail(st, DK_EGIT, "walking the history") : rc;
}

int dk_store_diff(struct dk_store *st, const git_oid *from, const git_oid *to,
                  int (*cb)(const char *path, enum dk_store_change how, const git_oid *old, const git_oid *neu,
                            void *arg),
                  void *arg) {
  git_tree *t1 = NULL, *t2 = NULL;
  git_diff *diff = NULL;
  int ret = from ? dk__tree(st, from, &t1) : 0;
  if (ret == 0 && to) ret = dk__tree(st, to, &t2);
  git_diff_options opts;
  git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
  if (ret == 0 && git_diff_tree_to_tree(&diff, st->repo, t1, t2, &opts) != 0)
    ret = dk__rfail(st, DK_EGIT, "comparing the trees");
  size_t nd = ret == 0 ? git_diff_num_deltas(diff) : 0;
  for (size_t i = 0; i < nd && ret == 0; i++) {
    const git_diff_delta *d = git_diff_get_delta(diff, i);
    enum dk_store_change how = d->status == GIT_DELTA_ADDED     ? DK_STORE_ADDED
                               : d->status == GIT_DELTA_DELETED ? DK_STORE_DELETED
                                                                : DK_STORE_MODIFIED;
    ret = cb(how == DK_STORE_DELETED ? d->old_file.path : d->new_file.path, how, &d->old_file.id, &d->new_file.id,
             arg);
  }
  git_diff_free(diff);
  git_tree_free(t1);
  git_tree_free(t2);
  return ret;
}

struct dk__files {
  const char *prefix;
  int (*cb)(const char *path, const git_oid *blob, void *arg);
  void *arg;
  int stopped;
};

static int dk__files_cb(const char *root, const git_tree_entry *entry, void *payload) {
  struct dk__files *f = payload;
  if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB) return 0;
  char *path = f->prefix ? dk_asprintf("%s/%s%s", f->prefix, root, git_tree_entry_name(entry))
                         : dk_asprintf("%s%s", root, git_tree_entry_name(entry));
  f->stopped = f->cb(path, git_tree_entry_id(entry), f->arg);
  free(path);
  return f->stopped ? -1 : 0;
}

int dk_store_files(struct dk_store *st, const git_oid *commit, const char *prefix,
                   int (*cb)(const char *path, const git_oid *blob, void *arg), void *arg) {
  git_tree *tree = NULL, *sub = NULL;
  git_tree_entry *ent = NULL;
  int ret = dk__tree(st, commit, &tree);
  if (ret != 0) return ret;
  int rc = git_tree_entry_bypath(&ent, tree, prefix);
  if (rc == 0 && git_tree_entry_type(ent) == GIT_OBJECT_TREE) {
    struct dk__files f = {prefix, cb, arg, 0};
    if (git_tree_lookup(&sub, st->repo, git_tree_entry_id(ent)) != 0 ||
        (git_tree_walk(sub, GIT_TREEWALK_PRE, dk__files_cb, &f) != 0 && !f.stopped))
      ret = dk__rfail(st, DK_EGIT, prefix);
    else if (f.stopped)
      ret = f.stopped;
  } else if (rc != 0 && rc != GIT_ENOTFOUND) {
    ret = dk__rfail(st, DK_EGIT, prefix);
  }
  git_tree_entry_free(ent);
  git_tree_free(sub);
  git_tree_free(tree);
  return ret;
}

int dk_store_walk(struct dk_store *st, const git_oid *commit,
                  int (*cb)(const char *path, const git_oid *blob, void *arg), void *arg) {
  git_tree *tree = NULL;
  int ret = dk__tree(st, commit, &tree);
  if (ret != 0) return ret;
  struct dk__files f = {NULL, cb, arg, 0};
  if (git_tree_walk(tree, GIT_TREEWALK_PRE, dk__files_cb, &f) != 0 && !f.stopped)
    ret = dk__rfail(st, DK_EGIT, "reading the tree");
  else if (f.stopped)
    ret = f.stopped;
  git_tree_free(tree);
  return ret;
}

int dk_store_refs(struct dk_store *st, const char *prefix, int (*cb)(const char *ref, const git_oid *oid, void *arg),
                  void *arg) {
  git_reference_iterator *it = NULL;
  char *glob = dk_asprintf("%s*", prefix);
  int rc = git_reference_iterator_glob_new(&it, st->repo, glob);
  free(glob);
  if (rc != 0) return dk__rfail(st, DK_EGIT, "listing the refs");
  /* names first: cb may move refs, which an open iterator must not see */
  char **names = NULL;
  git_oid *oids = NULL;
  size_t n = 0, cap = 0;
  git_reference *ref;
  while ((rc = git_reference_next(&ref, it)) == 0) {
    git_reference *res = NULL;
    if (git_reference_resolve(&res, ref) == 0 && git_reference_target(res)) {
      if (n == cap) {
        cap = cap ? 2 * cap : 16;
        names = dk_realloc(names, cap * sizeof *names);
        oids = dk_realloc(oids, cap * sizeof *oids);
      }
      names[n] = dk_strdup(git_reference_name(ref));
      git_oid_cpy(&oids[n++], git_reference_target(res));
    }
    git_reference_free(res);
    git_reference_free(ref);
  }
  git_reference_iterator_free(it);
  int ret = rc == GIT_ITEROVER ? 0 : dk__rfail(st, DK_EGIT, "listing the refs");
  for (size_t i = 0; i < n; i++) {
    if (ret == 0) ret = cb(names[i], &oids[i], arg);
    free(names[i]);
  }
  free(names);
  free(oids);
  return ret;
}

void dk_store_version(int *major, int *minor, int *rev) { git_libgit2_version(major, minor, rev); }
void dk_store_global_init(void) { git_libgit2_init(); }
void dk_store_global_shutdown(void) { git_libgit2_shutdown(); }

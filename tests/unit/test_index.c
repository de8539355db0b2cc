/* The index (what main and the source branches hold, by path) and the
 * seen table, against a real repository written through the store: every
 * answer is checked against what the trees hold. Also the tree builder's
 * folders: one emptied goes away, and the real git finds it all sound. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "index.h"
#include "seen.h"
#include "store.h"
#include "util.h"

static char tmpl[4096];
static char *repo_path;

static int setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/dk-index-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(tmpl));
  repo_path = dk_asprintf("%s/snap.git", tmpl);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char *cmd = dk_asprintf("rm -rf '%s'", tmpl);
  int rc = system(cmd);
  free(cmd);
  free(repo_path);
  return rc;
}

static const struct dk_commit_meta meta = {.author_name = "test", .author_email = "test@duikou.invalid",
                                           .message = "test\n"};

/* Put (data non-NULL) or remove paths on ref, and commit. */
static void commit(struct dk_store *st, const char *ref, const char *const *paths, const char *const *data,
                   size_t n, git_oid *out) {
  struct dk_txn *t;
  assert_int_equal(dk_txn_begin(st, ref, &t), 0);
  for (size_t i = 0; i < n; i++) {
    if (data[i]) assert_true(dk_txn_put(t, paths[i], data[i], strlen(data[i])) >= 0);
    else assert_true(dk_txn_remove(t, paths[i]) >= 0);
  }
  assert_int_equal(dk_txn_commit(t, &meta, 0, out), 1);
  dk_txn_free(t);
}

static void blob_of(const char *data, git_oid *oid) {
  assert_int_equal(git_odb_hash(oid, data, strlen(data), GIT_OBJECT_BLOB), 0);
}

static int git_ok(const char *args) {
  char *cmd = dk_asprintf("git --git-dir '%s' %s >/dev/null 2>&1", repo_path, args);
  int rc = system(cmd);
  free(cmd);
  return rc == 0;
}

static int count_cb(const char *path, const git_oid *oid, void *arg) {
  (void)path;
  (void)oid;
  (*(int *)arg)++;
  return 0;
}

static void test_index(void **state) {
  (void)state;
  struct dk_store *st;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_store_open(repo_path, &st, err), 0);
  const char *refs[] = {"refs/duikou/sources/jinan", "refs/duikou/sources/linyi", "refs/duikou/sources/none"};
  const char *p[] = {"tasks/jnly-2024/01.json", "tasks/jnly-2024/02.json", "progress/jnly-2024/01/jinan/2024-03.json"};
  const char *jd[] = {"{\"a\": 1}\n", "{\"b\": 2}\n", "{\"c\": 3}\n"};
  const char *ld[] = {"{\"a\": 9}\n", NULL, NULL};
  git_oid cj, cl, cm, oid, want;
  commit(st, refs[0], p, jd, 3, &cj);
  commit(st, refs[1], p, ld, 1, &cl);
  commit(st, DK_MAIN_REF, p, jd, 2, &cm);
  struct dk_index *ix;
  assert_int_equal(dk_index_build(st, refs, 3, &ix), 0);
  assert_int_equal(dk_index_main(ix, p[0], &oid), 1);
  blob_of(jd[0], &want);
  assert_true(git_oid_equal(&oid, &want));
  assert_int_equal(dk_index_main(ix, p[2], &oid), 0);
  assert_int_equal(dk_index_source(ix, 1, p[0], &oid), 1);
  blob_of(ld[0], &want);
  assert_true(git_oid_equal(&oid, &want));
  assert_int_equal(dk_index_source(ix, 1, p[1], &oid), 0);
  assert_int_equal(dk_index_source_count(ix, 0), 3);
  assert_int_equal(dk_index_source_count(ix, 2), 0);
  /* who else holds tasks/01: linyi for jinan, jinan for linyi */
  size_t srcs[4];
  git_oid oids[4];
  assert_int_equal(dk_index_holders(ix, p[0], 0, srcs, oids, 4), 1);
  assert_int_equal(srcs[0], 1);
  assert_int_equal(dk_index_holders(ix, p[0], 1, srcs, oids, 4), 1);
  assert_int_equal(srcs[0], 0);
  assert_int_equal(dk_index_holders(ix, p[1], 0, srcs, oids, 4), 0);
  blob_of(jd[2], &want);
  assert_string_equal(dk_index_source_by_oid(ix, 0, &want), p[2]);
  assert_null(dk_index_source_by_oid(ix, 1, &want));
  int n = 0;
  assert_int_equal(dk_index_source_foreach(ix, 0, count_cb, &n), 0);
  assert_int_equal(n, 3);
  git_oid head;
  int found;
  dk_index_head(ix, 0, &head, &found);
  assert_true(found && git_oid_equal(&head, &cj));
  dk_index_head(ix, 2, &head, &found);
  assert_false(found);

  /* jinan drops 02 and changes 01: followed by comparing the trees */
  const char *jd2[] = {"{\"a\": 2}\n", NULL};
  git_oid cj2;
  commit(st, refs[0], p, jd2, 2, &cj2);
  assert_int_equal(dk_index_follow(ix, st, 0, &cj2), 0);
  assert_int_equal(dk_index_source(ix, 0, p[1], &oid), 0);
  assert_int_equal(dk_index_source(ix, 0, p[0], &oid), 1);
  blob_of(jd2[0], &want);
  assert_true(git_oid_equal(&oid, &want));
  assert_non_null(dk_index_source_by_oid(ix, 0, &want));
  blob_of(jd[0], &want);
  assert_null(dk_index_source_by_oid(ix, 0, &want)); /* the old blob is gone from its table */
  assert_int_equal(dk_index_source_count(ix, 0), 2);
  /* a ref that went away: everything it held is forgotten */
  assert_int_equal(dk_index_follow(ix, st, 1, NULL), 0);
  assert_int_equal(dk_index_holders(ix, p[0], 0, srcs, oids, 4), 0);
  /* set by hand, as a commit does: many paths, then all removed again */
  char path[64];
  for (int i = 0; i < 5000; i++) {
    snprintf(path, sizeof path, "tasks/p%03d/%02d.json", i / 100, i % 100);
    blob_of(path, &want);
    dk_index_set(ix, 2, path, &want);
  }
  assert_int_equal(dk_index_source_count(ix, 2), 5000);
  blob_of("tasks/p042/17.json", &want);
  assert_string_equal(dk_index_source_by_oid(ix, 2, &want), "tasks/p042/17.json");
  for (int i = 0; i < 5000; i++) {
    snprintf(path, sizeof path, "tasks/p%03d/%02d.json", i / 100, i % 100);
    dk_index_set(ix, 2, path, NULL);
  }
  assert_int_equal(dk_index_source_count(ix, 2), 0);
  assert_null(dk_index_source_by_oid(ix, 2, &want));
  assert_true(dk_index_bytes(ix) > 0);
  dk_index_free(ix);

  /* kept with the repository: saved, the refs moved on, loaded and brought
   * to them, it answers as one read from the trees */
  assert_int_equal(dk_index_build(st, refs, 3, &ix), 0);
  assert_int_equal(dk_index_save(ix, st, refs), 0);
  dk_index_free(ix);
  const char *ld2[] = {"{\"a\": 10}\n", "{\"b\": 20}\n", NULL};
  commit(st, refs[1], p, ld2, 2, &cl);
  const char *refs2[] = {refs[1], "refs/duikou/sources/new", refs[0]}; /* another order, one new */
  const char *np[] = {"units/linyi/教育局.json"};
  const char *nd[] = {"{\"u\": 1}\n"};
  git_oid cn;
  commit(st, refs2[1], np, nd, 1, &cn);
  struct dk_index *a, *b;
  assert_int_equal(dk_index_load(st, refs2, 3, &a), 0);
  assert_int_equal(dk_index_build(st, refs2, 3, &b), 0);
  const char *all[] = {p[0], p[1], p[2], np[0]};
  for (size_t i = 0; i < 4; i++) {
    git_oid x, y;
    assert_int_equal(dk_index_main(a, all[i], &x), dk_index_main(b, all[i], &y));
    for (size_t s = 0; s < 3; s++) {
      int fa = dk_index_source(a, s, all[i], &x), fb = dk_index_source(b, s, all[i], &y);
      assert_int_equal(fa, fb);
      if (fa) assert_true(git_oid_equal(&x, &y));
    }
    assert_int_equal(dk_index_holders(a, all[i], 5, srcs, oids, 4), dk_index_holders(b, all[i], 5, srcs, oids, 4));
  }
  for (size_t s = 0; s < 3; s++) assert_int_equal(dk_index_source_count(a, s), dk_index_source_count(b, s));
  /* written only when it changed: once saved, or loaded as it was saved,
   * no file is written again until a path or a head moves */
  char *ixp = dk_asprintf("%s/duikou.index", repo_path);
  assert_int_equal(dk_index_save(a, st, refs2), 0);
  assert_int_equal(unlink(ixp), 0);
  assert_int_equal(dk_index_save(a, st, refs2), 0);
  assert_int_not_equal(access(ixp, F_OK), 0);
  assert_int_equal(dk_index_save(b, st, refs2), 0); /* built from the trees: not yet kept */
  assert_int_equal(access(ixp, F_OK), 0);
  dk_index_free(a);
  assert_int_equal(dk_index_load(st, refs2, 3, &a), 0);
  assert_int_equal(unlink(ixp), 0);
  assert_int_equal(dk_index_save(a, st, refs2), 0);
  assert_int_not_equal(access(ixp, F_OK), 0);
  dk_index_set(a, 0, "units/x.json", &cn);
  assert_int_equal(dk_index_save(a, st, refs2), 0);
  assert_int_equal(access(ixp, F_OK), 0);
  dk_index_free(a);
  assert_int_equal(dk_index_load(st, refs, 3, &a), 0); /* the refs in another order: kept again */
  assert_int_equal(unlink(ixp), 0);
  assert_int_equal(dk_index_save(a, st, refs), 0);
  assert_int_equal(access(ixp, F_OK), 0);
  free(ixp);
  dk_index_free(a);
  dk_index_free(b);
  /* a file that is not one: read from the trees instead */
  char *ip = dk_asprintf("%s/duikou.index", repo_path);
  FILE *f = fopen(ip, "r+");
  assert_non_null(f);
  fseek(f, 20, SEEK_SET);
  fputs("garbage", f);
  fclose(f);
  assert_int_equal(dk_index_load(st, refs2, 3, &a), 0);
  assert_int_equal(dk_index_source_count(a, 0), 2);
  assert_int_equal(dk_index_source_count(a, 1), 1);
  dk_index_free(a);
  truncate(ip, 30);
  assert_int_equal(dk_index_load(st, refs2, 3, &a), 0);
  assert_int_equal(dk_index_source_count(a, 2), 2);
  dk_index_free(a);
  free(ip);

  /* the tree builder: main loses every file of tasks/jnly-2024 */
  const char *gone[] = {NULL, NULL};
  commit(st, DK_MAIN_REF, p, gone, 2, &cm);
  char *cmd = dk_asprintf("test -z \"$(git --git-dir '%s' ls-tree main)\"", repo_path);
  assert_int_equal(system(cmd), 0); /* the emptied folders went too: an empty root */
  free(cmd);
  assert_true(git_ok("fsck --strict"));
  dk_store_close(st);
}

/* A loose object is never written through a link planted as a fan-out
 * folder of objects/: the commit fails, naming the folder, and the link's
 * target stays empty. */
static void test_loose_no_links(void **state) {
  (void)state;
  struct dk_store *st;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_store_open(repo_path, &st, err), 0);
  char *elsewhere = dk_asprintf("%s/elsewhere", tmpl);
  char *cmd = dk_asprintf("mkdir -p '%s' && cd '%s/objects' && for a in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do "
                          "for b in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do [ -e $a$b ] || ln -s '%s' $a$b; done; done",
                          elsewhere, repo_path, elsewhere);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  struct dk_txn *t;
  assert_int_equal(dk_txn_begin(st, DK_MAIN_REF, &t), 0);
  assert_int_equal(dk_txn_put(t, "tasks/jnly-2024/01.json", "{}\n", 3), 1);
  git_oid c;
  assert_true(dk_txn_commit(t, &meta, 0, &c) < 0);
  assert_non_null(strstr(st->err, "/objects"));
  dk_txn_free(t);
  cmd = dk_asprintf("test -z \"$(ls -A '%s')\"", elsewhere);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  free(elsewhere);
  dk_store_close(st);
}

static void test_seen(void **state) {
  (void)state;
  struct dk_seen *s = dk_seen_new();
  git_oid raw, blob, got;
  for (int i = 0; i < 3000; i++) {
    char t[32];
    snprintf(t, sizeof t, "text %d", i);
    blob_of(t, &raw);
    snprintf(t, sizeof t, "blob %d", i);
    blob_of(t, &blob);
    dk_seen_put(s, &raw, &blob);
  }
  blob_of("text 7", &raw);
  blob_of("blob 8", &blob);
  dk_seen_put(s, &raw, &blob); /* replaced, not added */
  assert_int_equal(dk_seen_count(s), 3000);
  size_t len;
  unsigned char *d = dk_seen_dump(s, &len);
  assert_int_equal(len, 8 + 3000 * 40);
  struct dk_seen *back = dk_seen_parse(d, len);
  assert_int_equal(dk_seen_count(back), 3000);
  assert_int_equal(dk_seen_get(back, &raw, &got), 1);
  assert_true(git_oid_equal(&got, &blob));
  blob_of("never served", &raw);
  assert_int_equal(dk_seen_get(back, &raw, &got), 0);
  assert_int_equal(dk_seen_filed(back), 3000);
  dk_seen_free(back);
  /* a last pair cut short (an append stopped midway) is left out, the rest kept */
  back = dk_seen_parse(d, len - 1);
  assert_int_equal(dk_seen_count(back), 2999);
  assert_int_equal(dk_seen_filed(back), 2999);
  dk_seen_free(back);
  /* a pair appended later wins over an earlier one for the same text */
  unsigned char *more = dk_malloc(len + 40);
  memcpy(more, d, len);
  git_oid newer;
  blob_of("text 7", &raw);
  blob_of("blob 9", &newer);
  dk_seen_pair(&raw, &newer, more + len);
  back = dk_seen_parse(more, len + 40);
  assert_int_equal(dk_seen_count(back), 3000);
  assert_int_equal(dk_seen_filed(back), 3001);
  assert_int_equal(dk_seen_get(back, &raw, &got), 1);
  assert_true(git_oid_equal(&got, &newer));
  dk_seen_free(back);
  free(more);
  /* not such bytes: an empty table, never a crash */
  back = dk_seen_parse((const unsigned char *)"garbage", 7);
  assert_int_equal(dk_seen_count(back), 0);
  dk_seen_free(back);
  free(d);
  dk_seen_free(s);
}

/* The index a load gives answers as one built from the trees does, for
 * every path of paths[0..n) and every ref. */
static void same_index(struct dk_store *st, const char *const *refs, size_t nrefs, char **paths, size_t n) {
  struct dk_index *a, *b;
  assert_int_equal(dk_index_load(st, refs, nrefs, &a), 0);
  assert_int_equal(dk_index_build(st, refs, nrefs, &b), 0);
  for (size_t i = 0; i < n; i++) {
    git_oid x, y;
    int fa = dk_index_main(a, paths[i], &x), fb = dk_index_main(b, paths[i], &y);
    assert_int_equal(fa, fb);
    if (fa) assert_true(git_oid_equal(&x, &y));
    for (size_t s = 0; s < nrefs; s++) {
      fa = dk_index_source(a, s, paths[i], &x), fb = dk_index_source(b, s, paths[i], &y);
      if (fa != fb) fail_msg("%s in ref %zu: loaded %d, from the trees %d", paths[i], s, fa, fb);
      if (fa) assert_true(git_oid_equal(&x, &y));
    }
  }
  for (size_t s = 0; s < nrefs; s++) assert_int_equal(dk_index_source_count(a, s), dk_index_source_count(b, s));
  dk_index_free(a);
  dk_index_free(b);
}

static off_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Saves after the first append what changed to duikou.index.log, not the
 * whole file again; a load reads the base and the log, as far as the log
 * is whole and of the base's generation; a log grown past a quarter of the
 * base, cut short or of another base makes the next save write the base
 * anew and drop the log. */
static void test_index_log(void **state) {
  (void)state;
  struct dk_store *st;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_store_open(repo_path, &st, err), 0);
  const char *refs[] = {"refs/duikou/sources/jinan", "refs/duikou/sources/linyi"};
  enum { N = 3000 };
  char *paths[N + 1], *data[N];
  for (size_t i = 0; i < N; i++) {
    paths[i] = dk_asprintf("progress/jnly-2024/%03zu/jinan/2024-%02zu.json", i / 12 + 1, i % 12 + 1);
    data[i] = dk_asprintf("{\"percent\": %zu}\n", i % 100);
  }
  paths[N] = dk_strdup("tasks/jnly-2024/new.json");
  commit(st, refs[0], (const char *const *)paths, (const char *const *)data, N, NULL);
  commit(st, DK_MAIN_REF, (const char *const *)paths, (const char *const *)data, N, NULL);
  char *base = dk_asprintf("%s/duikou.index", repo_path), *log = dk_asprintf("%s/duikou.index.log", repo_path);
  struct dk_index *ix;
  assert_int_equal(dk_index_build(st, refs, 2, &ix), 0);
  assert_int_equal(dk_index_save(ix, st, refs), 0);
  off_t bsize = file_size(base);
  assert_true(bsize > 100000);
  assert_int_equal(file_size(log), -1);
  struct stat b0;
  assert_int_equal(stat(base, &b0), 0);

  /* three records change on jinan's branch, and one is added to linyi's */
  for (int round = 0; round < 3; round++) {
    const char *cp[] = {paths[round], paths[100 + round], paths[N]};
    char *cd0 = dk_asprintf("{\"percent\": %d}\n", 100 + round), *cd1 = dk_asprintf("{\"percent\": %d}\n", 200 + round),
         *cd2 = dk_asprintf("{\"t\": %d}\n", round);
    const char *cd[] = {cd0, cd1, cd2};
    git_oid c;
    commit(st, refs[0], cp, cd, 2, &c);
    assert_int_equal(dk_index_follow(ix, st, 0, &c), 0);
    commit(st, refs[1], cp + 2, cd + 2, 1, &c);
    assert_int_equal(dk_index_follow(ix, st, 1, &c), 0);
    assert_int_equal(dk_index_save(ix, st, refs), 0);
    free(cd0);
    free(cd1);
    free(cd2);
  }
  struct stat b1;
  assert_int_equal(stat(base, &b1), 0);
  assert_true(b1.st_ino == b0.st_ino && b1.st_size == b0.st_size); /* the base is not written again */
  off_t lsize = file_size(log);
  assert_true(lsize > 0 && lsize < bsize / 10);
  same_index(st, refs, 2, paths, N + 1);
  dk_index_free(ix);

  /* loaded from the base and the log, saved: nothing changed, nothing written */
  assert_int_equal(dk_index_load(st, refs, 2, &ix), 0);
  assert_int_equal(dk_index_save(ix, st, refs), 0);
  assert_int_equal(file_size(log), lsize);
  dk_index_free(ix);

  /* the log cut short (a save the machine stopped in): read as far as it
   * is whole, brought to the refs by comparing trees; the next save
   * writes a new base and no log */
  assert_int_equal(truncate(log, lsize - 7), 0);
  same_index(st, refs, 2, paths, N + 1);
  assert_int_equal(dk_index_load(st, refs, 2, &ix), 0);
  assert_int_equal(dk_index_save(ix, st, refs), 0);
  assert_int_equal(file_size(log), -1);
  assert_int_equal(stat(base, &b1), 0);
  assert_true(b1.st_ino != b0.st_ino);
  same_index(st, refs, 2, paths, N + 1);

  /* a log of another base is not read, and goes with the next save */
  const char *cp[] = {paths[7]};
  const char *cd[] = {"{\"percent\": 77}\n"};
  git_oid c;
  commit(st, refs[0], cp, cd, 1, &c);
  assert_int_equal(dk_index_follow(ix, st, 0, &c), 0);
  assert_int_equal(dk_index_save(ix, st, refs), 0);
  assert_true(file_size(log) > 0);
  FILE *f = fopen(log, "r+");
  fseek(f, 10, SEEK_SET);
  fputc('x', f); /* within its generation */
  fclose(f);
  same_index(st, refs, 2, paths, N + 1);
  dk_index_free(ix);
  assert_int_equal(dk_index_load(st, refs, 2, &ix), 0);
  dk_index_set(ix, 0, paths[8], &c); /* a change, so that it saves */
  assert_int_equal(dk_index_save(ix, st, refs), 0);
  assert_int_equal(file_size(log), -1);
  dk_index_free(ix);

  /* appends until the log passes a quarter of the base: then a new base */
  assert_int_equal(dk_index_load(st, refs, 2, &ix), 0);
  int rewrote = 0;
  for (size_t i = 0; i < N && !rewrote; i += 100) {
    for (size_t k = i; k < i + 100; k++) dk_index_set(ix, 0, paths[k], &c);
    assert_int_equal(dk_index_save(ix, st, refs), 0);
    rewrote = file_size(log) == -1;
    assert_true(rewrote || file_size(log) <= file_size(base) / 4);
  }
  assert_true(rewrote);
  dk_index_free(ix);

  for (size_t i = 0; i < N; i++) free(paths[i]), free(data[i]);
  free(paths[N]);
  free(base);
  free(log);
  dk_store_close(st);
}

int main(void) {
  dk_store_global_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_index, setup, teardown),
    cmocka_unit_test_setup_teardown(test_loose_no_links, setup, teardown),
    cmocka_unit_test_setup_teardown(test_index_log, setup, teardown),
    cmocka_unit_test(test_seen),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  dk_store_global_shutdown();
  return rc;
}

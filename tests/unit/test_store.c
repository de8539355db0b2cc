/* The snapshot store on a real bare repository, checked with the real git. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store.h"
#include "util.h"

static char tmpl[4096];
static char *repo_path;

static int setup(void **state) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/dk-store-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(tmpl));
  repo_path = dk_asprintf("%s/nested/snap.git", tmpl);
  return 0;
}

static int teardown(void **state) {
  char *cmd = dk_asprintf("rm -rf '%s'", tmpl);
  int rc = system(cmd);
  free(cmd);
  free(repo_path);
  return rc;
}

static int git_ok(const char *args) {
  char *cmd = dk_asprintf("git --git-dir '%s' %s >/dev/null 2>&1", repo_path, args);
  int rc = system(cmd);
  free(cmd);
  return rc == 0;
}

static char *git_out(const char *args) {
  char *cmd = dk_asprintf("git --git-dir '%s' %s 2>&1", repo_path, args);
  FILE *p = popen(cmd, "r");
  free(cmd);
  struct dk_buf b = {0};
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) dk_buf_append(&b, chunk, n);
  pclose(p);
  dk_buf_cstr(&b);
  return dk_buf_steal(&b);
}

static const struct dk_commit_meta meta = {
  .author_name = "jinan-tasks (jinan)", .author_email = "jinan-tasks@jinan.duikou.invalid",
  .message = "sync jinan-tasks: test\n",
};

static void test_create_put_commit(void **state) {
  struct dk_store *st = NULL;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_store_open(repo_path, &st, err), 0);
  struct dk_txn *t;
  assert_int_equal(dk_txn_begin(st, "refs/heads/main", &t), 0);
  assert_int_equal(dk_txn_put(t, "tasks/jnly-2024/01.json", "{}\n", 3), 1);
  assert_int_equal(dk_txn_put(t, "tasks/jnly-2024/02.json", "[]\n", 3), 1);
  assert_int_equal(dk_txn_put(t, "plans/jnly-2024.json", "{\"a\": 1}\n", 9), 1);
  assert_int_equal(dk_txn_changes(t), 3);
  git_oid first;
  assert_int_equal(dk_txn_commit(t, &meta, 0, &first), 1);
  dk_txn_free(t);
  assert_true(git_ok("fsck --strict"));
  char *files = git_out("ls-tree -r --name-only main");
  assert_string_equal(files, "plans/jnly-2024.json\ntasks/jnly-2024/01.json\ntasks/jnly-2024/02.json\n");
  free(files);

  /* The same bytes again: no change, no commit. */
  assert_int_equal(dk_txn_begin(st, "refs/heads/main", &t), 0);
  assert_int_equal(dk_txn_put(t, "tasks/jnly-2024/01.json", "{}\n", 3), 0);
  assert_int_equal(dk_txn_changes(t), 0);
  git_oid same;
  assert_int_equal(dk_txn_commit(t, &meta, 0, &same), 0);
  assert_true(git_oid_equal(&first, &same));
  dk_txn_free(t);

  /* A change and back again inside one transaction is no change. */
  assert_int_equal(dk_txn_begin(st, "refs/heads/main", &t), 0);
  assert_int_equal(dk_txn_put(t, "tasks/jnly-2024/01.json", "{\"x\": 1}\n", 9), 1);
  assert_int_equal(dk_txn_put(t, "tasks/jnly-2024/01.json", "{}\n", 3), 1);
  assert_int_equal(dk_txn_changes(t), 0);
  /* One change, one removal: the commit touches exactly those two paths. */
  assert_int_equal(dk_txn_put(t, "tasks/jnly-2024/02.json", "[1]\n", 4), 1);
  assert_int_equal(dk_txn_remove(t, "plans/jnly-2024.json"), 1);
  assert_int_equal(dk_txn_remove(t, "plans/none.json"), 0);
  git_oid second;
  assert_int_equal(dk_txn_commit(t, &meta, 0, &second), 1);
  dk_txn_free(t);
  char *touched = git_out("diff-tree --no-commit-id --name-status -r main");
  assert_string_equal(touched, "D\tplans/jnly-2024.json\nM\ttasks/jnly-2024/02.json\n");
  free(touched);
  char *count = git_out("rev-list --count main");
  assert_string_equal(count, "2\n");
  free(count);
  char *data = NULL;
  size_t len;
  assert_int_equal(dk_store_read(st, "refs/heads/main", NULL, "tasks/jnly-2024/02.json", &data, &len), 0);
  assert_string_equal(data, "[1]\n");
  free(data);
  assert_int_equal(dk_store_read(st, "refs/heads/main", NULL, "plans/jnly-2024.json", &data, &len), DK_ENOENT);
  assert_true(git_ok("fsck --strict"));
  dk_store_close(st);
}

static void test_compare_and_swap(void **state) {
  struct dk_store *st = NULL;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_store_open(repo_path, &st, err), 0);
  struct dk_txn *a, *b;
  assert_int_equal(dk_txn_begin(st, "refs/heads/main", &a), 0);
  assert_int_equal(dk_txn_begin(st, "refs/heads/main", &b), 0);
  assert_int_equal(dk_txn_put(a, "a.json", "1\n", 2), 1);
  assert_int_equal(dk_txn_put(b, "b.json", "2\n", 2), 1);
  git_oid oa, ob;
  assert_int_equal(dk_txn_commit(a, &meta, 0, &oa), 1);
  /* b started from the old main: its ref update must be refused. */
  assert_int_equal(dk_txn_commit(b, &meta, 0, &ob), DK_EEXIST);
  assert_non_null(strstr(st->err, "moved"));
  dk_txn_free(a);
  dk_txn_free(b);
  git_oid now;
  int found;
  assert_int_equal(dk_store_ref(st, "refs/heads/main", &now, &found), 0);
  assert_true(found);
  assert_true(git_oid_equal(&now, &oa));
  assert_true(git_ok("fsck --strict"));
  dk_store_close(st);
}

static void test_merge_commit_has_two_parents(void **state) {
  /* A reconcile commit on main has two parents: the previous main and the
   * source-branch commit it merges. */
  struct dk_store *st = NULL;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_store_open(repo_path, &st, err), 0);
  struct dk_txn *src;
  assert_int_equal(dk_txn_begin(st, "refs/duikou/sources/linyi-progress", &src), 0);
  assert_int_equal(dk_txn_put(src, "progress/jnly-2024/12/linyi/2024-06.json", "{\"percent\": 60}\n", 16), 1);
  git_oid source_commit, main_before, merged;
  assert_int_equal(dk_txn_commit(src, &meta, 0, &source_commit), 1);
  dk_txn_free(src);
  int found;
  assert_int_equal(dk_store_ref(st, "refs/heads/main", &main_before, &found), 0);
  assert_true(found);
  struct dk_txn *m;
  assert_int_equal(dk_txn_begin(st, "refs/heads/main", &m), 0);
  assert_int_equal(dk_txn_put(m, "progress/jnly-2024/12/linyi/2024-06.json", "{\"percent\": 60}\n", 16), 1);
  dk_txn_add_parent(m, &source_commit);
  assert_int_equal(dk_txn_commit(m, &meta, 0, &merged), 1);
  dk_txn_free(m);
  char want[2 * GIT_OID_HEXSZ + 3], a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
  git_oid_tostr(a, sizeof a, &main_before);
  git_oid_tostr(b, sizeof b, &source_commit);
  snprintf(want, sizeof want, "%s %s\n", a, b);
  char *parents = git_out("log -1 --format=%P main");
  assert_string_equal(parents, want);
  free(parents);
  assert_true(git_ok("fsck --strict"));
  dk_store_close(st);
}

/* A commit of many new objects writes them as one pack, trees too; few stay loose. Both read back, and the
 * real git finds the repository sound. */
static void test_large_commit_writes_a_pack(void **state) {
  struct dk_store *st = NULL;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_store_open(repo_path, &st, err), 0);
  char *packs_before = git_out("count-objects -v");
  struct dk_txn *t;
  assert_int_equal(dk_txn_begin(st, "refs/heads/packed", &t), 0);
  for (int i = 1; i <= 1100; i++) {
    char path[64], body[128];
    snprintf(path, sizeof path, "tasks/p%03d/%02d.json", i / 100, i % 100);
    int n = snprintf(body, sizeof body, "{\"number\": %d, \"title\": \"任务%d\"}\n", i, i);
    assert_int_equal(dk_txn_put(t, path, body, (size_t)n), 1);
  }
  /* the same bytes twice: one blob */
  assert_int_equal(dk_txn_put(t, "tasks/p9/01.json", "{\"number\": 1, \"title\": \"任务1\"}\n", 34), 1);
  git_oid c;
  assert_int_equal(dk_txn_commit(t, &meta, 0, &c), 1);
  dk_txn_free(t);
  char *packs = git_out("count-objects -v");
  assert_non_null(strstr(packs_before, "packs: 0"));
  assert_non_null(strstr(packs, "packs: 1"));
  /* 1,100 blobs (the same bytes twice are one) and the 15 trees (root,
   * tasks, p000 to p011, p9): the commit's objects, written once */
  assert_non_null(strstr(packs, "in-pack: 1115\n"));
  free(packs_before);
  free(packs);
  assert_true(git_ok("fsck --strict"));
  char *data = NULL;
  size_t len;
  assert_int_equal(dk_store_read(st, "refs/heads/packed", NULL, "tasks/p001/50.json", &data, &len), 0);
  assert_string_equal(data, "{\"number\": 150, \"title\": \"任务150\"}\n");
  free(data);
  char *shown = git_out("show packed:tasks/p002/99.json");
  assert_string_equal(shown, "{\"number\": 299, \"title\": \"任务299\"}\n");
  free(shown);
  /* a small change after it: loose, no new pack */
  assert_int_equal(dk_txn_begin(st, "refs/heads/packed", &t), 0);
  assert_int_equal(dk_txn_put(t, "tasks/p001/50.json", "{}\n", 3), 1);
  assert_int_equal(dk_txn_commit(t, &meta, 0, &c), 1);
  dk_txn_free(t);
  packs = git_out("count-objects -v");
  assert_non_null(strstr(packs, "packs: 1"));
  free(packs);
  assert_true(git_ok("fsck --strict"));
  dk_store_close(st);
}

static void test_open_refuses_a_file(void **state) {
  char *path = dk_asprintf("%s/not-a-repo", tmpl);
  FILE *f = fopen(path, "w");
  fputs("x", f);
  fclose(f);
  struct dk_store *st = NULL;
  char err[DK_ERRBUF_SIZE] = "";
  assert_int_not_equal(dk_store_open(path, &st, err), 0);
  assert_null(st);
  assert_true(strlen(err) > 0);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_create_put_commit),
    cmocka_unit_test(test_compare_and_swap),
    cmocka_unit_test(test_merge_commit_has_two_parents),
    cmocka_unit_test(test_large_commit_writes_a_pack),
    cmocka_unit_test(test_open_refuses_a_file),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

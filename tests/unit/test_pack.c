/* Packs written without libgit2's indexer, read back by libgit2 and checked
 * by the real git (fsck --strict, verify-pack). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "pack.h"
#include "util.h"

static char tmpl[4096];

static int setup(void **state) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/dk-pack-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(tmpl));
  git_libgit2_init();
  return 0;
}

static int teardown(void **state) {
  char *cmd = dk_asprintf("chmod -R u+w '%s'; rm -rf '%s'", tmpl, tmpl);
  int rc = system(cmd);
  free(cmd);
  git_libgit2_shutdown();
  return rc;
}

/* A fresh bare repository tmpl/name; caller frees the path. */
static char *new_repo(const char *name) {
  char *path = dk_asprintf("%s/%s", tmpl, name);
  git_repository *repo = NULL;
  assert_int_equal(git_repository_init(&repo, path, 1), 0);
  git_repository_free(repo);
  return path;
}

static int git_ok(const char *gitdir, const char *args) {
  char *cmd = dk_asprintf("cd '%s' && git --git-dir . %s >/dev/null 2>&1", gitdir, args);
  int rc = system(cmd);
  free(cmd);
  return rc == 0;
}

static char *git_out(const char *gitdir, const char *args) {
  char *cmd = dk_asprintf("cd '%s' && git --git-dir . %s 2>&1", gitdir, args);
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

/* The names in gitdir/objects/pack, sorted, one a line. */
static char *pack_files(const char *gitdir) {
  char *dir = dk_asprintf("%s/objects/pack", gitdir);
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  free(dir);
  assert_true(n >= 0);
  struct dk_buf b = {0};
  for (int i = 0; i < n; i++) {
    if (names[i]->d_name[0] != '.') dk_buf_printf(&b, "%s\n", names[i]->d_name);
    free(names[i]);
  }
  free(names);
  dk_buf_cstr(&b);
  return dk_buf_steal(&b);
}

struct obj {
  git_object_t type;
  char *data;
  size_t len;
  git_oid oid;
};
#define OBJ(t, d, l) {.type = (t), .data = (d), .len = (l)}

static void add(struct dk_pack *p, struct obj *o) {
  unsigned char *z;
  size_t zlen;
  assert_int_equal(dk_object_prepare(o->type, o->data, o->len, &o->oid, &z, &zlen), 0);
  assert_int_equal(dk_pack_add(p, o->type, &o->oid, o->len, z, zlen), 1);
}

static char *random_bytes(size_t n, unsigned seed) {
  char *b = dk_malloc(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    b[i] = (char)(x >> 24);
  }
  return b;
}

/* A tree of regular files; names sorted. */
static char *make_tree(const char **names, const struct obj *blobs, size_t n, size_t *len) {
  struct dk_buf b = {0};
  for (size_t i = 0; i < n; i++) {
    dk_buf_printf(&b, "100644 %s", names[i]);
    dk_buf_append(&b, "", 1);
    dk_buf_append(&b, blobs[i].oid.id, GIT_OID_RAWSZ);
  }
  *len = b.len;
  return dk_buf_steal(&b);
}

static char *make_commit(const git_oid *tree, size_t *len) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, tree);
  char *c = dk_asprintf("tree %s\nauthor Jinan <jinan@duikou.invalid> 1700000000 +0800\n"
                        "committer duikou <duikou@localhost> 1700000000 +0800\n\npacked directly\n", hex);
  *len = strlen(c);
  return c;
}

/* Each object's zlib stream inflates to its bytes, whatever its size (a
 * thread keeps a stream per window size and resets it: sizes up and down in
 * turn) and type (a tree's is stored, a blob's deflated). */
static void test_deflate_sizes(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 249, 250, 251, 512, 5000, 70000, 3, 300000, 1000, 1 << 20, 17};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    for (int t = 0; t < 2; t++) {
      size_t len = sizes[i];
      char *data = t ? random_bytes(len, (unsigned)i) : dk_malloc(len + 1);
      if (!t)
        for (size_t k = 0; k < len; k++) data[k] = "{\"id\": \"jnly-2024-001\"}\n"[k % 25];
      git_object_t type = t ? GIT_OBJECT_TREE : GIT_OBJECT_BLOB;
      unsigned char *z;
      size_t zlen;
      git_oid oid;
      assert_int_equal(dk_object_prepare(type, data, len, &oid, &z, &zlen), 0);
      assert_true(zlen >= 6);
      if (t) assert_true(zlen <= len + len / 64 + 64);  /* stored: its bytes and block headers */
      if (!t && len > 5000) assert_true(zlen < len / 4); /* text: deflated */
      unsigned char *back = dk_malloc(len + 1);
      uLongf blen = (uLongf)len + 1;
      assert_int_equal(uncompress(back, &blen, z, (uLong)zlen), Z_OK);
      assert_int_equal(blen, len);
      assert_memory_equal(back, data, len);
      free(back);
      free(z);
      assert_int_equal(dk_object_deflate(data, len, &z, &zlen), 0);
      back = dk_malloc(len + 1);
      blen = (uLongf)len + 1;
      assert_int_equal(uncompress(back, &blen, z, (uLong)zlen), Z_OK);
      assert_int_equal(blen, len);
      assert_memory_equal(back, data, len);
      free(back);
      free(z);
      free(data);
    }
}

static void test_pack_read_by_libgit2_and_git(void **state) {
  char *repo_path = new_repo("full.git");
  struct obj o[6] = {
    OBJ(GIT_OBJECT_BLOB, dk_strdup(""), 0),
    OBJ(GIT_OBJECT_BLOB, dk_strdup("{\"a\": 1}\n"), 9),
    OBJ(GIT_OBJECT_BLOB, random_bytes(100000, 1), 100000),  /* several size bytes */
    OBJ(GIT_OBJECT_BLOB, random_bytes(3000000, 2), 3000000), /* bigger than the write buffer */
  };
  const char *names[] = {"a-empty", "b.json", "c.bin", "d.bin"};
  struct dk_pack *p = dk_pack_new();
  for (int i = 0; i < 4; i++) add(p, &o[i]);
  o[4].type = GIT_OBJECT_TREE;
  o[4].data = make_tree(names, o, 4, &o[4].len);
  add(p, &o[4]);
  o[5].type = GIT_OBJECT_COMMIT;
  o[5].data = make_commit(&o[4].oid, &o[5].len);
  add(p, &o[5]);
  assert_int_equal(dk_pack_count(p), 6);

  char err[DK_ERRBUF_SIZE] = "";
  assert_int_equal(dk_pack_write(p, repo_path, err), 0);
  assert_int_equal(dk_pack_count(p), 6); /* the objects stay */

  /* one pack and its index, named by the pack's trailer, no temporary */
  char *files = pack_files(repo_path);
  assert_int_equal(strlen(files), 2 * (strlen("pack-.pack\n") + GIT_OID_HEXSZ) - 1);
  assert_non_null(strstr(files, ".idx\npack-"));
  char hex[GIT_OID_HEXSZ + 1];
  memcpy(hex, files + 5, GIT_OID_HEXSZ);
  hex[GIT_OID_HEXSZ] = '\0';
  char *packpath = dk_asprintf("%s/objects/pack/pack-%s.pack", repo_path, hex), *pack = NULL;
  size_t packlen;
  assert_int_equal(dk_read_file(packpath, &pack, &packlen, err), 0);
  assert_memory_equal(pack, "PACK\0\0\0\2\0\0\0\6", 12);
  git_oid trailer;
  git_oid_fromraw(&trailer, (const unsigned char *)pack + packlen - 20);
  char thex[GIT_OID_HEXSZ + 1];
  assert_string_equal(git_oid_tostr(thex, sizeof thex, &trailer), hex);
  free(packpath);
  free(pack);
  free(files);

  git_repository *repo;
  assert_int_equal(git_repository_open_bare(&repo, repo_path), 0);
  git_odb *odb;
  assert_int_equal(git_repository_odb(&odb, repo), 0);
  assert_int_equal(git_odb_refresh(odb), 0);
  for (int i = 0; i < 6; i++) {
    git_odb_object *obj;
    assert_int_equal(git_odb_read(&obj, odb, &o[i].oid), 0);
    assert_int_equal(git_odb_object_type(obj), o[i].type);
    assert_int_equal(git_odb_object_size(obj), o[i].len);
    assert_memory_equal(git_odb_object_data(obj), o[i].data, o[i].len);
    git_odb_object_free(obj);
  }
  git_odb_free(odb);
  git_reference *ref;
  assert_int_equal(git_reference_create(&ref, repo, "refs/heads/main", &o[5].oid, 0, "test"), 0);
  git_reference_free(ref);
  git_repository_free(repo);

  assert_true(git_ok(repo_path, "fsck --strict --no-dangling"));
  char *vp = git_out(repo_path, "verify-pack -v objects/pack/*.idx");
  assert_non_null(strstr(vp, "non delta: 6 objects"));
  assert_non_null(strstr(vp, ": ok\n"));
  free(vp);
  char *log = git_out(repo_path, "log --format=%s main");
  assert_string_equal(log, "packed directly\n");
  free(log);
  char *ls = git_out(repo_path, "ls-tree -r --name-only main");
  assert_string_equal(ls, "a-empty\nb.json\nc.bin\nd.bin\n");
  free(ls);
  char *count = git_out(repo_path, "count-objects -v");
  assert_non_null(strstr(count, "count: 0\n"));
  assert_non_null(strstr(count, "in-pack: 6\n"));
  free(count);

  /* the same objects again: the same pack, which is kept */
  assert_int_equal(dk_pack_write(p, repo_path, err), 0);
  char *again = pack_files(repo_path);
  assert_non_null(strstr(again, hex));
  assert_int_equal(strlen(again), 2 * (strlen("pack-.pack\n") + GIT_OID_HEXSZ) - 1);
  free(again);
  assert_true(git_ok(repo_path, "fsck --strict"));

  dk_pack_free(p);
  for (int i = 0; i < 6; i++) free(o[i].data);
  free(repo_path);
}

static void test_add_has_read(void **state) {
  struct dk_pack *p = dk_pack_new();
  struct obj a = OBJ(GIT_OBJECT_BLOB, "first\n", 6), b = OBJ(GIT_OBJECT_BLOB, "", 0);
  add(p, &a);
  add(p, &b);
  unsigned char *z;
  size_t zlen;
  git_oid again;
  assert_int_equal(dk_object_prepare(GIT_OBJECT_BLOB, "first\n", 6, &again, &z, &zlen), 0);
  assert_true(git_oid_equal(&again, &a.oid));
  assert_int_equal(dk_pack_add(p, GIT_OBJECT_BLOB, &again, 6, z, zlen), 0); /* z freed: ASan sees a leak if not */
  assert_int_equal(dk_pack_count(p), 2);
  assert_true(dk_pack_has(p, &a.oid));
  assert_true(dk_pack_has(p, &b.oid));
  git_oid other;
  dk_object_id(GIT_OBJECT_BLOB, "second\n", 7, &other);
  assert_false(dk_pack_has(p, &other));

  git_object_t type = GIT_OBJECT_INVALID;
  char *data;
  size_t len;
  assert_int_equal(dk_pack_read(p, &a.oid, &type, &data, &len), 0);
  assert_int_equal(type, GIT_OBJECT_BLOB);
  assert_int_equal(len, 6);
  assert_string_equal(data, "first\n");
  free(data);
  assert_int_equal(dk_pack_read(p, &b.oid, &type, &data, &len), 0);
  assert_int_equal(len, 0);
  assert_string_equal(data, "");
  free(data);
  assert_int_equal(dk_pack_read(p, &other, &type, &data, &len), DK_ENOENT);
  assert_null(data);

  /* not a base type: refused, z freed */
  assert_int_equal(dk_object_prepare(GIT_OBJECT_OFS_DELTA, "x", 1, &other, &z, &zlen), DK_EINVAL);
  assert_null(z);
  assert_int_equal(dk_object_prepare(GIT_OBJECT_BLOB, "x", 1, &other, &z, &zlen), 0);
  assert_int_equal(dk_pack_add(p, GIT_OBJECT_ANY, &other, 1, z, zlen), DK_EINVAL);
  assert_false(dk_pack_has(p, &other));

  /* many: the table grows and every object is still found */
  struct obj many[3000];
  for (int i = 0; i < 3000; i++) {
    many[i] = (struct obj)OBJ(GIT_OBJECT_BLOB, dk_asprintf("{\"n\": %d}\n", i), 0);
    many[i].len = strlen(many[i].data);
    add(p, &many[i]);
  }
  assert_int_equal(dk_pack_count(p), 3002);
  for (int i = 0; i < 3000; i++) {
    assert_true(dk_pack_has(p, &many[i].oid));
    assert_int_equal(dk_pack_read(p, &many[i].oid, NULL, &data, &len), 0);
    assert_string_equal(data, many[i].data);
    free(data);
  }
  char *repo_path = new_repo("many.git");
  char err[DK_ERRBUF_SIZE] = "";
  assert_int_equal(dk_pack_write(p, repo_path, err), 0);
  assert_true(git_ok(repo_path, "verify-pack objects/pack/*.idx"));
  assert_true(git_ok(repo_path, "fsck --strict"));
  char hex[GIT_OID_HEXSZ + 1];
  char *args = dk_asprintf("cat-file -p %s", git_oid_tostr(hex, sizeof hex, &many[1234].oid));
  char *cat = git_out(repo_path, args);
  assert_string_equal(cat, "{\"n\": 1234}\n");
  free(cat);
  free(args);
  for (int i = 0; i < 3000; i++) free(many[i].data);

  dk_pack_reset(p);
  assert_int_equal(dk_pack_count(p), 0);
  assert_false(dk_pack_has(p, &a.oid));
  add(p, &a);
  assert_int_equal(dk_pack_count(p), 1);
  dk_pack_free(p);
  free(repo_path);
}

static void test_object_id_agrees_with_libgit2(void **state) {
  struct obj blob = OBJ(GIT_OBJECT_BLOB, "hello\n", 6);
  git_oid mine, theirs;
  dk_object_id(blob.type, blob.data, blob.len, &mine);
  assert_int_equal(git_odb_hash(&theirs, blob.data, blob.len, blob.type), 0);
  assert_true(git_oid_equal(&mine, &theirs));
  git_oid_cpy(&blob.oid, &mine);
  dk_object_id(GIT_OBJECT_BLOB, "", 0, &mine);
  assert_int_equal(git_oid_fromstr(&theirs, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"), 0);
  assert_true(git_oid_equal(&mine, &theirs));

  const char *names[] = {"hello.txt"};
  size_t tlen, clen;
  char *tree = make_tree(names, &blob, 1, &tlen);
  dk_object_id(GIT_OBJECT_TREE, tree, tlen, &mine);
  assert_int_equal(git_odb_hash(&theirs, tree, tlen, GIT_OBJECT_TREE), 0);
  assert_true(git_oid_equal(&mine, &theirs));
  git_oid t;
  git_oid_cpy(&t, &mine);
  char *commit = make_commit(&t, &clen);
  dk_object_id(GIT_OBJECT_COMMIT, commit, clen, &mine);
  assert_int_equal(git_odb_hash(&theirs, commit, clen, GIT_OBJECT_COMMIT), 0);
  assert_true(git_oid_equal(&mine, &theirs));
  /* prepare gives the same id, and bytes that inflate back */
  unsigned char *z;
  size_t zlen;
  assert_int_equal(dk_object_prepare(GIT_OBJECT_COMMIT, commit, clen, &mine, &z, &zlen), 0);
  assert_true(git_oid_equal(&mine, &theirs));
  char *back = dk_malloc(clen + 1);
  uLongf blen = clen + 1;
  assert_int_equal(uncompress((Bytef *)back, &blen, z, zlen), Z_OK);
  assert_int_equal(blen, clen);
  assert_memory_equal(back, commit, clen);
  free(back);
  free(z);
  free(tree);
  free(commit);
}

static void test_empty_pack_writes_nothing(void **state) {
  char *repo_path = new_repo("empty.git");
  struct dk_pack *p = dk_pack_new();
  char err[DK_ERRBUF_SIZE] = "";
  assert_int_equal(dk_pack_write(p, repo_path, err), 0);
  char *files = pack_files(repo_path);
  assert_string_equal(files, "");
  free(files);
  /* not even a gitdir is needed for nothing */
  assert_int_equal(dk_pack_write(p, "/nonexistent/dk-pack-test.git", err), 0);
  dk_pack_free(p);
  free(repo_path);
}

static struct dk_pack *one_blob_pack(size_t n) {
  struct dk_pack *p = dk_pack_new();
  struct obj o = OBJ(GIT_OBJECT_BLOB, random_bytes(n, 7), n);
  add(p, &o);
  free(o.data);
  return p;
}

static void test_write_errors(void **state) {
  struct dk_pack *p = one_blob_pack(1000);
  char err[DK_ERRBUF_SIZE] = "";
  char *missing = dk_asprintf("%s/no-such.git", tmpl);
  assert_int_equal(dk_pack_write(p, missing, err), DK_EIO);
  assert_non_null(strstr(err, missing));
  free(missing);

  /* objects/pack not writable: meaningless as root, who writes anyway */
  char *repo_path = new_repo("readonly.git");
  if (geteuid() != 0) {
    char *dir = dk_asprintf("%s/objects/pack", repo_path);
    assert_int_equal(chmod(dir, 0555), 0);
    err[0] = '\0';
    assert_int_equal(dk_pack_write(p, repo_path, err), DK_EIO);
    assert_non_null(strstr(err, dir));
    assert_int_equal(chmod(dir, 0755), 0);
    free(dir);
  }
  dk_pack_free(p);

  /* a file-size limit (EFBIG) counts as no space, and nothing is left */
  p = one_blob_pack(200000);
  struct rlimit old, small = {.rlim_cur = 65536};
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  small.rlim_max = old.rlim_max;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
  err[0] = '\0';
  int rc = dk_pack_write(p, repo_path, err);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  assert_int_equal(rc, DK_ENOSPC);
  assert_non_null(strstr(err, repo_path));
  assert_non_null(strstr(err, "file-size limit"));
  char *files = pack_files(repo_path);
  assert_string_equal(files, "");
  free(files);
  /* and without the limit it works */
  assert_int_equal(dk_pack_write(p, repo_path, err), 0);
  assert_true(git_ok(repo_path, "verify-pack objects/pack/*.idx"));
  dk_pack_free(p);
  free(repo_path);
}

static uint32_t be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Packs over 2 GB: offsets past 2^31 go to the table of 8-byte offsets. */
static void test_idx_large_offsets(void **state) {
  struct dk__idx_entry e[4] = {0};
  const uint64_t offs[4] = {12, 0x7fffffffu, 0x80000000u, 0x123456789ull};
  for (int i = 0; i < 4; i++) {
    e[i].oid.id[0] = (unsigned char)(0xf0 - 0x30 * i); /* reverse order: sorting is checked too */
    e[i].oid.id[19] = (unsigned char)i;
    e[i].crc = 0xdead0000u + (uint32_t)i;
    e[i].offset = offs[i];
  }
  unsigned char sha[20];
  memset(sha, 0xab, sizeof sha);
  size_t len;
  unsigned char *idx = dk__pack_idx(e, 4, sha, &len);
  assert_int_equal(len, 8 + 1024 + 4 * 28 + 2 * 8 + 40);
  assert_memory_equal(idx, "\377tOc\0\0\0\2", 8);
  const unsigned char *fan = idx + 8;
  assert_int_equal(be32(fan + 4 * 0x4f), 0);
  assert_int_equal(be32(fan + 4 * 0x60), 1);
  assert_int_equal(be32(fan + 4 * 0xef), 3);
  assert_int_equal(be32(fan + 4 * 0xff), 4);
  const unsigned char *oids = fan + 1024, *crcs = oids + 80, *o4 = crcs + 16, *o8 = o4 + 16;
  for (int k = 0; k < 4; k++) {
    int i = 3 - k; /* the entry with the k-th smallest oid */
    assert_int_equal(oids[20 * k], 0xf0 - 0x30 * i);
    assert_int_equal(be32(crcs + 4 * k), 0xdead0000u + (uint32_t)i);
  }
  /* sorted: 0x123456789 (large #0), 0x80000000 (large #1), 0x7fffffff, 12 */
  assert_int_equal(be32(o4), 0x80000000u);
  assert_int_equal(be32(o4 + 4), 0x80000001u);
  assert_int_equal(be32(o4 + 8), 0x7fffffffu);
  assert_int_equal(be32(o4 + 12), 12);
  assert_int_equal(be32(o8), 1);
  assert_int_equal(be32(o8 + 4), 0x23456789u);
  assert_int_equal(be32(o8 + 8), 0);
  assert_int_equal(be32(o8 + 12), 0x80000000u);
  assert_memory_equal(o8 + 16, sha, 20);
  unsigned char self[20];
  SHA1(idx, len - 20, self);
  assert_memory_equal(idx + len - 20, self, 20);
  free(idx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_deflate_sizes),
    cmocka_unit_test(test_pack_read_by_libgit2_and_git),
    cmocka_unit_test(test_add_has_read),
    cmocka_unit_test(test_object_id_agrees_with_libgit2),
    cmocka_unit_test(test_empty_pack_writes_nothing),
    cmocka_unit_test(test_write_errors),
    cmocka_unit_test(test_idx_large_offsets),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* The safety modules on their own: redaction, terminal escaping, files
 * below a root that never follow a planted link, and the record shape
 * limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "canonical.h"
#include "config.h"
#include "error.h"
#include "escape.h"
#include "fsafe.h"
#include "record.h"
#include "redact.h"
#include "util.h"

static void test_redact(void **state) {
  dk_redact_reset();
  assert_null(dk_redact("nothing here", 12, NULL));
  dk_redact_add("s3cr3t-token");
  dk_redact_add("s3cr3t"); /* a shorter secret inside a longer one */
  dk_redact_add("");
  assert_true(dk_redact_found("x s3cr3t-token y", 16));
  size_t n;
  char *r = dk_redact("a s3cr3t-token b s3cr3t c", 25, &n);
  assert_string_equal(r, "a " DK_REDACTED " b " DK_REDACTED " c");
  assert_int_equal(n, strlen(r));
  free(r);
  char buf[24] = "tok=s3cr3t-token";
  dk_redact_buf(buf, sizeof buf);
  assert_string_equal(buf, "tok=" DK_REDACTED);
  /* a basic-auth pair registers the password, the pair and its base64 */
  setenv("DK_TEST_PW", "hunter2hunter2", 1);
  struct dk_auth a = {.basic_user = "duikou", .basic_password_env = "DK_TEST_PW"};
  char *h = NULL, err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_auth_header(&a, &h, err), 0);
  assert_true(dk_redact_found(h, strlen(h)));
  assert_true(dk_redact_found("duikou:hunter2hunter2", 21));
  assert_true(dk_redact_found("hunter2hunter2", 14));
  r = dk_redact(h, strlen(h), NULL);
  assert_string_equal(r, "Basic " DK_REDACTED);
  free(r);
  free(h);
  dk_redact_reset();
  assert_false(dk_redact_found("s3cr3t", 6));
}

static void test_escape(void **state) {
  char *e = dk_esc("ok 教育局 \x1b[31m\xc2\x85\xc2\x9b\xe2\x80\xae\n\t\x7f \xff end");
  assert_string_equal(e, "ok 教育局 \\x1b[31m\\u{0085}\\u{009B}\\u{202E}\\n\\t\\x7f \\xff end");
  free(e);
  struct dk_buf b = {0};
  dk_esc_append(&b, "a\"b\\c", 5, 1);
  assert_string_equal(dk_buf_cstr(&b), "a\\\"b\\\\c");
  dk_buf_free(&b);
  e = dk_esc_json("{\"a\": \"x\xc2\x9by\xe2\x80\xaez\"}");
  assert_string_equal(e, "{\"a\": \"x\\u009by\\u202ez\"}");
  json_t *v = json_loads(e, 0, NULL); /* the same JSON value */
  assert_string_equal(json_string_value(json_object_get(v, "a")), "x\xc2\x9by\xe2\x80\xaez");
  json_decref(v);
  free(e);
  char out[32];
  assert_string_equal(dk_excerpt(out, sizeof out, "a\xc2\x9b\xe2\x80\xae\x1b" "b", 8), "a???b");
}

static char root[256];

/* How many descriptors this process has open. */
static int open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void test_fsafe(void **state) {
  char err[DK_ERRBUF_SIZE], *data = NULL;
  size_t len;
  snprintf(root, sizeof root, "%s/fsafe.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  assert_non_null(mkdtemp(root));
  assert_int_equal(dk_fs_write_atomic(root, "a/b/c.json", "{}\n", 3, err), 0);
  assert_int_equal(dk_fs_read(root, "a/b/c.json", &data, &len, err), 0);
  assert_string_equal(data, "{}\n");
  free(data);
  assert_int_equal(dk_fs_read(root, "a/b/none.json", &data, &len, err), DK_ENOENT);
  /* a link as the file, as a folder, and a path that climbs out */
  char target[300], link[300];
  snprintf(target, sizeof target, "%s/target", root);
  assert_int_equal(dk_fs_write_atomic(root, "target", "keep", 4, err), 0);
  snprintf(link, sizeof link, "%s/a/b/c.json", root);
  unlink(link);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(dk_fs_write_atomic(root, "a/b/c.json", "evil", 4, err), 0); /* the link is replaced... */
  assert_int_equal(dk_fs_read(root, "target", &data, &len, err), 0);
  assert_string_equal(data, "keep"); /* ...never written through */
  free(data);
  unlink(link);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(dk_fs_read(root, "a/b/c.json", &data, &len, err), DK_EIO);
  assert_non_null(strstr(err, "a/b/c.json is a symbolic link"));
  int fd;
  assert_int_equal(dk_fs_open(root, "a/b/c.json", O_RDWR | O_CREAT, &fd, err), DK_EIO);
  snprintf(link, sizeof link, "%s/d", root);
  assert_int_equal(symlink("a", link), 0);
  assert_int_equal(dk_fs_write_atomic(root, "d/x.json", "x", 1, err), DK_EIO);
  assert_non_null(strstr(err, "/d is a symbolic link"));
  assert_int_equal(dk_fs_write_atomic(root, "../escape.json", "x", 1, err), DK_EINVAL);
  assert_int_equal(dk_fs_unlink(root, "a/b/c.json", err), 0); /* the link goes, not its target */
  assert_int_equal(access(target, F_OK), 0);
  /* the root itself may be a link an operator made */
  char alias[300];
  snprintf(alias, sizeof alias, "%s-alias", root);
  assert_int_equal(symlink(root, alias), 0);
  assert_int_equal(dk_fs_write_atomic(alias, "a/ok.json", "ok", 2, err), 0);
  unlink(alias);
  /* a replaced file is freed on another thread, which closes what it
   * held: many replacements in a row leave no descriptor behind (the files
   * replaced above may still be held when this counts first) */
  int before = open_fds();
  for (int i = 0; i < 600; i++) {
    char body[32];
    int n = snprintf(body, sizeof body, "{\"n\": %d}\n", i);
    assert_int_equal(dk_fs_write_atomic(root, "state/sources/s.json", body, (size_t)n, err), 0);
  }
  assert_int_equal(dk_fs_read(root, "state/sources/s.json", &data, &len, err), 0);
  assert_string_equal(data, "{\"n\": 599}\n");
  free(data);
  int after = open_fds();
  for (int tries = 0; tries < 200 && after > before; tries++) {
    usleep(10000);
    after = open_fds();
  }
  assert_true(after <= before); /* fewer: what the closer still held before is closed too */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  assert_int_equal(system(cmd), 0);
}

static void test_shape(void **state) {
  char err[DK_ERRBUF_SIZE];
  json_t *r = json_pack("{s:s, s:s, s:{s:{s:{s:i}}}}", "kind", "task", "id", "jnly-2024/01", "extra", "a", "b", "c", 1);
  assert_int_equal(dk_record_check_shape(r, 32, 1 << 20, err), 0);
  assert_int_equal(dk_record_check_shape(r, 3, 1 << 20, err), DK_EINVALID);
  assert_string_equal(err, "/extra/a/b/c: nested deeper than 3 levels (limits.depth)");
  assert_int_equal(dk_record_check_shape(r, 32, 60, err), DK_EINVALID);
  assert_string_equal(err, "/: larger than 60 bytes as canonical JSON (limits.record_size)");
  /* the bound counted is never below the real canonical size */
  size_t real;
  free(dk_canonical_dump(r, &real));
  assert_int_equal(dk_record_check_shape(r, 32, 2 * (long)real, err), 0); /* and not far above it */
  assert_int_equal(dk_record_check_shape(r, 32, (long)real - 1, err), DK_EINVALID);
  json_decref(r);
  json_t *big = json_pack("{s:s%}", "n", DK_NUMBER_MARK "1e999999", sizeof DK_NUMBER_MARK - 1 + 8);
  assert_int_equal(dk_record_check_shape(big, 32, 1 << 20, err), DK_EINVALID);
  assert_string_equal(err, "/n: the number 1e999999 fits neither a 64-bit integer nor a double (number range)");
  json_decref(big);
  json_t *nul = json_pack("{s:s%}", "t", "a\0b", (size_t)3);
  assert_int_equal(dk_record_check_shape(nul, 32, 1 << 20, err), DK_EINVALID);
  assert_non_null(strstr(err, "/t: a string holds a NUL character"));
  json_decref(nul);
}

static void test_names(void **state) {
  char err[DK_ERRBUF_SIZE], name[300];
  memset(name, 'a', sizeof name);
  memcpy(name, "jinan/", 6);
  name[6 + 250] = '\0';
  assert_int_equal(dk_record_check_id(DK_KIND_UNIT, name, err), 0);
  name[6 + 250] = 'a';
  name[6 + 251] = '\0';
  assert_int_equal(dk_record_check_id(DK_KIND_UNIT, name, err), DK_EINVALID);
  assert_non_null(strstr(err, "over 250 bytes")); /* the rule survives a long id */
  static const char *const bad[] = {"jinan/a\xc2\x85" "b", "jinan/a\xc2\x9b" "b", "jinan/a\xe2\x80\xae" "b",
                                    "jinan/a\xe2\x81\xa6" "b", "jinan/a\x7f" "b", "jinan/a\x1b" "b"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(dk_record_check_id(DK_KIND_UNIT, bad[i], err), DK_EINVALID);
  assert_int_equal(dk_record_check_id(DK_KIND_UNIT, "linyi/临沂市委人才发展服务中心", err), 0);
  char seg[300] = "jnly-";
  memset(seg + 5, '1', 250);
  seg[255] = '\0';
  assert_int_equal(dk_record_check_id(DK_KIND_PLAN, seg, err), DK_EINVALID);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_redact), cmocka_unit_test(test_escape), cmocka_unit_test(test_fsafe),
    cmocka_unit_test(test_shape),  cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

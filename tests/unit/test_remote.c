/* store_remote without servers: file:// between two real repositories,
 * what is refused before anything is tried, and secrets kept out of the
 * messages. The servers are test_remote.sh's. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "redact.h"
#include "store.h"
#include "store_remote.h"
#include "util.h"

static char tmpl[4096];
static struct dk_store *a, *b;
static char *shared_url;

static int setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/dk-remote-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(tmpl));
  char err[DK_ERRBUF_SIZE], *p;
  p = dk_asprintf("%s/a.git", tmpl);
  assert_int_equal(dk_store_open(p, &a, err), 0);
  free(p);
  p = dk_asprintf("%s/b.git", tmpl);
  assert_int_equal(dk_store_open(p, &b, err), 0);
  free(p);
  char *cmd = dk_asprintf("git init -q --bare '%s/shared.git'", tmpl);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  shared_url = dk_asprintf("file://%s/shared.git", tmpl);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  dk_store_close(a);
  dk_store_close(b);
  char *cmd = dk_asprintf("rm -rf '%s'", tmpl);
  int rc = system(cmd);
  free(cmd);
  free(shared_url);
  dk_redact_reset();
  return rc;
}

static void commit(struct dk_store *st, const char *ref, const char *text, git_oid *out) {
  struct dk_txn *t;
  assert_int_equal(dk_txn_begin(st, ref, &t), 0);
  assert_true(dk_txn_put(t, "x.json", text, strlen(text)) >= 0);
  struct dk_commit_meta m;
  dk_commit_meta_init(&m, "test", "test@localhost", 0);
  m.message = "test\n";
  assert_true(dk_txn_commit(t, &m, 1, out) >= 0);
  dk_txn_free(t);
}

static void test_url_display(void **state) {
  (void)state;
  static const char *const cases[][2] = {
    {"https://alice:pw@example.org/x.git", "https://alice:***@example.org/x.git"},
    {"https://alice@example.org/x.git", "https://alice@example.org/x.git"},
    {"http://a:b@c@host:8080/p@q", "http://a:***@host:8080/p@q"},
    {"file:///srv/share/x.git", "file:///srv/share/x.git"},
    {"ssh://git@host:22/x.git", "ssh://git@host:22/x.git"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *s = dk_remote_url_display(cases[i][0]);
    assert_string_equal(s, cases[i][1]);
    free(s);
  }
}

static void test_push_fetch_file(void **state) {
  (void)state;
  git_oid main1, main2, other;
  commit(a, "refs/heads/main", "{\"a\":1}", &main1);
  commit(b, "refs/heads/main", "{\"b\":1}", &other);
  struct dk_remote_opts o = {.name = "shared", .url = shared_url};
  const char *src[] = {"refs/heads/main"}, *dst[] = {"refs/duikou/sites/jinan/main"};
  struct dk_push_result pr;
  assert_int_equal(dk_store_push(a, &o, src, dst, 1, &pr), 0);
  assert_int_equal(pr.n, 1);
  assert_int_equal(pr.refs[0].ok, 1);
  assert_null(pr.refs[0].msg);
  assert_true(dk_oid_equal(&pr.refs[0].oid, &main1));
  dk_push_result_clear(&pr);

  struct dk_fetch_result fr;
  assert_int_equal(dk_store_fetch(b, &o, "refs/duikou/sites/", "refs/duikou/incoming/shared/", &fr), 0);
  assert_int_equal(fr.n, 1);
  assert_string_equal(fr.refs[0].local_ref, "refs/duikou/incoming/shared/jinan/main");
  assert_string_equal(fr.refs[0].remote_ref, "refs/duikou/sites/jinan/main");
  assert_int_equal(fr.refs[0].had_old, 0);
  assert_true(dk_oid_equal(&fr.refs[0].neu, &main1));
  dk_fetch_result_clear(&fr);

  /* b's unrelated main onto jinan's ref is refused; a fast-forward of a goes */
  const char *src2[] = {"refs/heads/main", "refs/heads/main"};
  const char *dst2[] = {"refs/duikou/sites/jinan/main", "refs/duikou/sites/linyi/main"};
  assert_int_equal(dk_store_push(b, &o, src2, dst2, 2, &pr), 0);
  assert_int_equal(pr.refs[0].ok, 0);
  assert_non_null(strstr(pr.refs[0].msg, "non-fast-forward"));
  assert_int_equal(pr.refs[1].ok, 1);
  dk_push_result_clear(&pr);
  commit(a, "refs/heads/main", "{\"a\":2}", &main2);
  assert_int_equal(dk_store_push(a, &o, src, dst, 1, &pr), 0);
  assert_int_equal(pr.refs[0].ok, 1);
  dk_push_result_clear(&pr);

  struct dk_remote_list l;
  assert_int_equal(dk_store_ls_remote(b, &o, "refs/duikou/sites/", &l), 0);
  assert_int_equal(l.n, 2);
  for (size_t i = 0; i < l.n; i++)
    assert_true(dk_oid_equal(&l.refs[i].oid, strstr(l.refs[i].ref, "jinan") ? &main2 : &other));
  dk_remote_list_clear(&l);

  assert_int_equal(dk_store_fetch(b, &o, "refs/duikou/sites/", "refs/duikou/incoming/shared/", &fr), 0);
  assert_int_equal(fr.n, 2);
  for (size_t i = 0; i < fr.n; i++) {
    if (strstr(fr.refs[i].local_ref, "jinan")) {
      assert_int_equal(fr.refs[i].had_old, 1);
      assert_true(dk_oid_equal(&fr.refs[i].old, &main1));
      assert_true(dk_oid_equal(&fr.refs[i].neu, &main2));
    } else {
      assert_true(dk_oid_equal(&fr.refs[i].neu, &other));
    }
  }
  dk_fetch_result_clear(&fr);
  git_oid got;
  int found;
  assert_int_equal(dk_store_ref(b, "refs/duikou/incoming/shared/jinan/main", &got, &found), 0);
  assert_true(found && dk_oid_equal(&got, &main2));
}

static void test_refused_before_trying(void **state) {
  (void)state;
  struct dk_push_result pr = {0};
  struct dk_fetch_result fr = {0};
  const char *src[] = {"refs/heads/main"}, *dst[] = {"refs/duikou/sites/jinan/main"};
  struct dk_remote_opts o = {.name = "shared", .url = "/srv/share/x.git"};
  assert_int_equal(dk_store_push(a, &o, src, dst, 1, &pr), DK_EINVAL);
  assert_non_null(strstr(a->err, "file:///path"));
  assert_non_null(strstr(a->err, "remote \"shared\""));
  o.url = "host:x.git";
  assert_int_equal(dk_store_fetch(a, &o, "refs/duikou/sites/", "refs/x/", &fr), DK_EINVAL);
  o.url = shared_url;
  assert_int_equal(dk_store_fetch(a, &o, "refs/duikou/sites", "refs/x/", &fr), DK_EINVAL);
  assert_int_equal(dk_store_fetch(a, &o, "refs/duikou/sites/", "heads/", &fr), DK_EINVAL);
  const char *nosuch[] = {"refs/heads/nosuch"}, *bad[] = {"refs/duikou/../x"};
  assert_int_equal(dk_store_push(a, &o, nosuch, dst, 1, &pr), DK_EINVAL);
  assert_non_null(strstr(a->err, "refs/heads/nosuch"));
  assert_int_equal(dk_store_push(a, &o, src, bad, 1, &pr), DK_EINVAL);
  assert_int_equal(pr.n, 0);
  assert_null(pr.refs);
  o.url = "https://alice:hunter2-pw@example.invalid/x.git";
  assert_int_equal(dk_store_push(a, &o, src, dst, 1, &pr), DK_EINVAL);
  assert_null(strstr(a->err, "hunter2-pw"));
}

static void test_secrets_out_of_messages(void **state) {
  (void)state;
  /* the password (and a registered secret) in a path libgit2 reports back */
  struct dk_fetch_result fr;
  char *url = dk_asprintf("file://%s/pw-Zq81x/tok-Rr5/none.git", tmpl);
  struct dk_remote_opts o = {.name = "shared", .url = url, .auth = {.password = "pw-Zq81x", .user = "u"}};
  dk_redact_add("tok-Rr5");
  assert_int_equal(dk_store_fetch(a, &o, "refs/duikou/sites/", "refs/x/", &fr), DK_EREMOTE);
  assert_non_null(strstr(a->err, "remote \"shared\""));
  assert_null(strstr(a->err, "pw-Zq81x"));
  assert_null(strstr(a->err, "tok-Rr5"));
  assert_non_null(strstr(a->err, DK_REDACTED));
  free(url);
  char *cfg = dk_asprintf("%s/a.git/config", tmpl);
  char *data, err[DK_ERRBUF_SIZE];
  size_t len;
  assert_int_equal(dk_read_file(cfg, &data, &len, err), 0);
  assert_null(strstr(data, "remote"));
  free(data);
  free(cfg);
}

int main(void) {
  dk_store_global_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_url_display),
    cmocka_unit_test(test_push_fetch_file),
    cmocka_unit_test(test_refused_before_trying),
    cmocka_unit_test(test_secrets_out_of_messages),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  dk_store_global_shutdown();
  return rc;
}

/* The fold: main as a pure function of its inputs. Unit tests of the key,
 * the checkpoints, deletions, resolutions and a late input, then the
 * property: random histories delivered to two stores in two random
 * interleavings, and to a third all at once, give byte-identical main trees.
 *
 * DK_FOLD_CASES (default 2000, about two minutes on two cores; 150 under
 * AddressSanitizer) and DK_FOLD_SEED (default fixed, printed)
 * set the property's size and seed. Stores live in DK_FOLD_TMP, else
 * /dev/shm when there is one (every commit ends in a syncfs), else TMPDIR. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "canonical.h"
#include "fold.h"
#include "index.h"
#include "merge.h"
#include "store.h"
#include "util.h"

#define T0 1719734400 /* 2024-06-30T08:00:00Z */

/* Under the sanitizers a case costs four times as much: fewer by default. */
#if defined(__SANITIZE_ADDRESS__)
#define DK__FOLD_CASES 150
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DK__FOLD_CASES 150
#endif
#endif
#ifndef DK__FOLD_CASES
#define DK__FOLD_CASES 2000
#endif

static char tmpl[4096];
static int nstores;

static int setup(void **state) {
  (void)state;
  const char *base = getenv("DK_FOLD_TMP");
  if (base == NULL || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/dk-fold-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(tmpl));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char *cmd = dk_asprintf("rm -rf '%s'", tmpl);
  int rc = system(cmd);
  free(cmd);
  return rc;
}

static struct dk_store *new_store(char **path_out) {
  char *path = dk_asprintf("%s/s%d.git", tmpl, nstores++);
  struct dk_store *st = NULL;
  char err[DK_ERRBUF_SIZE];
  if (dk_store_open(path, &st, err) != 0) fail_msg("store: %s", err);
  if (path_out) *path_out = path;
  else free(path);
  return st;
}

static void drop_store(struct dk_store *st) {
  char *cmd = dk_asprintf("rm -rf '%s'", st->path);
  dk_store_close(st);
  assert_int_equal(system(cmd), 0);
  free(cmd);
}

static json_t *J(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, 0, &e);
  if (v == NULL) fail_msg("bad JSON in the test: %s: %s", e.text, text);
  return v;
}

/* One source commit on ref at time t: the records given (path, JSON text;
 * NULL text: removed), with trailer lines `extra`. */
static void source_commit(struct dk_store *st, const char *ref, git_time_t t, const char *extra, int write_only,
                          git_oid *out, const char *path, const char *text, ...) {
  struct dk_txn *txn;
  assert_int_equal(dk_txn_begin(st, ref, &txn), 0);
  va_list ap;
  va_start(ap, text);
  while (path) {
    if (text == NULL) {
      assert_true(dk_txn_remove(txn, path) >= 0);
    } else {
      json_t *v = J(text);
      size_t len;
      char *data = dk_canonical_dump(v, &len);
      assert_true(dk_txn_put(txn, path, data, len) >= 0);
      free(data);
      json_decref(v);
    }
    path = va_arg(ap, const char *);
    if (path) text = va_arg(ap, const char *);
  }
  va_end(ap);
  char *msg = dk_asprintf("report %s\n%s%s", ref, extra ? "\n" : "", extra ? extra : "");
  struct dk_commit_meta meta = {.author_name = "src", .author_email = "src@duikou.invalid", .committer_name = "duikou",
                                .committer_email = "duikou@duikou.invalid", .when = t, .message = msg};
  git_oid oid;
  if (write_only) {
    assert_int_equal(dk_txn_write(txn, &meta, 1, &oid), 1);
  } else {
    assert_int_equal(dk_txn_commit(txn, &meta, 1, &oid), 1);
  }
  if (out) *out = oid;
  dk_txn_free(txn);
  free(msg);
}

/* Fold into main_ref and commit when the tree changes or the trailers
 * move (always, unless `lazy`: then only when the tree changes). */
static int fold_commit(struct dk_store *st, const char *main_ref, const struct dk_reconcile *rc,
                       const struct dk_fold_input *in, size_t n, struct dk_index *ix, int lazy,
                       struct dk_fold_out *out_keep) {
  struct dk_txn *mtx;
  assert_int_equal(dk_txn_begin(st, main_ref, &mtx), 0);
  struct dk_fold_out out;
  int ret = dk_fold(st, rc, in, n, mtx, ix, &out);
  if (ret != 0) fail_msg("dk_fold: %s (%s)", dk_strerror(ret), st->err);
  git_oid tip, c;
  char *old = NULL;
  if (dk_txn_base(mtx, &tip)) {
    struct dk_store_commit sc = {0};
    assert_int_equal(dk_store_commit(st, &tip, &sc), 0);
    const char *p = strstr(sc.message, "\n\n");
    old = dk_strdup(p ? p + 2 : "");
    dk_store_commit_clear(&sc);
  }
  int moved = old == NULL ? out.trailers.len > 0 : strcmp(old, dk_buf_cstr(&out.trailers)) != 0;
  int committed = 0;
  if (dk_txn_changes(mtx) > 0 || (moved && !lazy)) {
    char *msg = dk_asprintf("fold\n\n%s", dk_buf_cstr(&out.trailers));
    struct dk_commit_meta meta = {.author_name = "duikou", .author_email = "duikou@duikou.invalid",
                                  .committer_name = "duikou", .committer_email = "duikou@duikou.invalid",
                                  .when = T0, .message = msg};
    assert_int_equal(dk_txn_commit(mtx, &meta, 1, &c), 1);
    free(msg);
    committed = 1;
  }
  free(old);
  dk_txn_free(mtx);
  if (out_keep) *out_keep = out;
  else dk_fold_out_free(&out);
  return committed;
}

/* Every file of a ref's tree: "path blob\n" lines in path order. */
static int walk_cb(const char *path, const git_oid *blob, void *arg) {
  char hex[41];
  dk_buf_printf(arg, "%s %s\n", path, dk_oid_hex(blob, hex));
  return 0;
}

static char *tree_list(struct dk_store *st, const char *ref) {
  git_oid oid;
  int found;
  struct dk_buf b = {0};
  assert_int_equal(dk_store_ref(st, ref, &oid, &found), 0);
  if (found) assert_int_equal(dk_store_walk(st, &oid, walk_cb, &b), 0);
  dk_buf_cstr(&b);
  return dk_buf_steal(&b);
}

static char *read_at(struct dk_store *st, const char *ref, const char *path) {
  char *data = NULL;
  size_t len;
  return dk_store_read(st, ref, NULL, path, &data, &len) == 0 ? data : NULL;
}

/* ---- unit tests ---- */

static void test_key_order(void **state) {
  (void)state;
  struct dk_fold_key a = {.time = 100, .site = "jinan", .type = 0, .source = "s1", .seq = 2}, b;
  memset(a.hex, 'b', 40);
  a.hex[40] = 0;
  b = a;
  assert_int_equal(dk_fold_key_cmp(&a, &b), 0);
  b.time = 99;
  assert_true(dk_fold_key_cmp(&b, &a) < 0); /* time first, whatever follows */
  b = a;
  b.site = "linyi";
  b.time = 100;
  b.seq = 1;
  assert_true(dk_fold_key_cmp(&a, &b) < 0); /* then site */
  b = a;
  b.type = 1;
  b.source = NULL;
  assert_true(dk_fold_key_cmp(&a, &b) < 0); /* reports before resolutions */
  b = a;
  b.source = "s0";
  assert_true(dk_fold_key_cmp(&b, &a) < 0);
  b = a;
  b.seq = 3;
  b.hex[0] = '0';
  assert_true(dk_fold_key_cmp(&a, &b) < 0); /* an input's own order before the hex */
  b = a;
  b.hex[39] = 'c';
  assert_true(dk_fold_key_cmp(&a, &b) < 0);
  struct dk_buf t = {0};
  dk_fold_key_format(&a, &t);
  assert_string_equal(dk_buf_cstr(&t), "100 jinan 0 s1 2 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  dk_buf_free(&t);
}

static void test_point_roundtrip(void **state) {
  (void)state;
  struct dk_fold_pos pos[2] = {{.ref = "refs/duikou/sources/z", .etime = -5, .seq = 7},
                               {.ref = "refs/duikou/sites/linyi/sources/a", .etime = T0, .seq = 1}};
  memset(&pos[0].commit, 0x11, sizeof pos[0].commit);
  memset(&pos[1].commit, 0xab, sizeof pos[1].commit);
  struct dk_fold_point p = {.pos = pos, .npos = 2, .has_key = 1,
                            .key = {.time = T0, .site = "linyi", .type = 1, .source = NULL, .seq = 4}};
  memset(p.key.hex, 'e', 40);
  struct dk_buf b = {0};
  dk_buf_puts(&b, "fold: 3 tasks changed\n\ntasks/a.json: added\n\n");
  dk_fold_point_write(&p, &b);
  const char *msg = dk_buf_cstr(&b);
  assert_non_null(strstr(msg, "Duikou-Fold: refs/duikou/sites/linyi/sources/a abababababababababababababababababababab "
                              "1719734400 1\nDuikou-Fold: refs/duikou/sources/z "));
  struct dk_fold_point q;
  dk_fold_point_parse(msg, &q);
  assert_true(q.has_key);
  assert_int_equal(q.npos, 2);
  assert_int_equal(dk_fold_key_cmp(&q.key, &p.key), 0);
  assert_null(q.key.source);
  for (size_t i = 0; i < 2; i++) {
    const struct dk_fold_pos *w = strcmp(q.pos[i].ref, pos[0].ref) == 0 ? &pos[0] : &pos[1];
    assert_string_equal(q.pos[i].ref, w->ref);
    assert_true(dk_oid_equal(&q.pos[i].commit, &w->commit));
    assert_true(q.pos[i].etime == w->etime);
    assert_int_equal(q.pos[i].seq, w->seq);
  }
  struct dk_buf again = {0};
  dk_fold_point_write(&q, &again);
  assert_non_null(strstr(msg, dk_buf_cstr(&again)));
  dk_fold_point_free(&q);
  dk_buf_free(&again);
  /* no key, or a broken line: no checkpoint */
  dk_fold_point_parse("fold\n\nDuikou-Fold: refs/x 1111111111111111111111111111111111111111 5 1\n", &q);
  assert_false(q.has_key);
  dk_fold_point_free(&q);
  dk_fold_point_parse("fold\n\nDuikou-Fold: refs/x 11 5 1\nDuikou-Fold-Key: 1 a 0 s 1 "
                      "1111111111111111111111111111111111111111\n", &q);
  assert_false(q.has_key);
  dk_fold_point_free(&q);
  dk_buf_free(&b);
}

#define TASK1 "tasks/jnly-2024/01.json"
#define TASK1_JSON(status, title) \
  "{\"kind\":\"task\",\"id\":\"jnly-2024/01\",\"plan\":\"jnly-2024\",\"number\":1,\"status\":\"" status \
  "\",\"title\":\"" title "\"}"
#define CONF1 "conflicts/task/jnly-2024/01.json"

static void test_effective_time(void **state) {
  (void)state;
  struct dk_store *st = new_store(NULL);
  const char *ra = "refs/duikou/sources/a", *rb = "refs/duikou/sites/linyi/sources/b";
  /* a's clock goes back: its second report still comes after its first */
  source_commit(st, ra, T0 + 1000, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  git_oid a2, a3;
  source_commit(st, ra, T0 + 500, NULL, 0, &a2, TASK1, TASK1_JSON("in_progress", "x"), NULL);
  source_commit(st, ra, T0 + 500, NULL, 0, &a3, TASK1, TASK1_JSON("completed", "x"), NULL);
  source_commit(st, rb, T0 + 800, NULL, 0, NULL, "tasks/jnly-2024/02.json",
                "{\"kind\":\"task\",\"id\":\"jnly-2024/02\",\"plan\":\"jnly-2024\",\"number\":2,\"status\":\"not_started\",\"title\":\"y\"}", NULL);
  struct dk_fold_input in[2] = {{.ref = ra, .site = "jinan", .source = "a", .city = "jinan"},
                                {.ref = rb, .site = "linyi", .source = "b", .city = "linyi"}};
  struct dk_fold_out out;
  assert_int_equal(fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, &out), 1);
  assert_int_equal(out.events, 4);
  assert_int_equal(out.refolded, 0);
  assert_int_equal(out.added[DK_KIND_TASK], 2);
  char hex[41], *line = dk_asprintf("Duikou-Fold: %s %s %d 3\n", ra, dk_oid_hex(&a3, hex), T0 + 1000);
  assert_non_null(strstr(dk_buf_cstr(&out.trailers), line));
  free(line);
  /* the last event is a's third (effective time T0+1000), after b's (T0+800) */
  line = dk_asprintf("Duikou-Fold-Key: %d jinan 0 a 3 %s\n", T0 + 1000, hex);
  assert_non_null(strstr(dk_buf_cstr(&out.trailers), line));
  free(line);
  dk_fold_out_free(&out);
  char *rec = read_at(st, DK_MAIN_REF, TASK1);
  assert_non_null(strstr(rec, "completed"));
  free(rec);
  /* nothing new: no change, the same trailers, no commit */
  assert_int_equal(fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, &out), 0);
  assert_int_equal(out.events, 0);
  dk_fold_out_free(&out);
  drop_store(st);
}

static void test_late_input_refolds(void **state) {
  (void)state;
  struct dk_store *st = new_store(NULL);
  struct dk_reconcile *rc = NULL;
  char err[DK_ERRBUF_SIZE];
  json_t *conf = J("{\"default\":\"manual\"}");
  assert_int_equal(dk_reconcile_new(conf, &rc, err), 0);
  json_decref(conf);
  const char *ra = "refs/duikou/sources/a", *rb = "refs/duikou/sites/linyi/sources/b";
  source_commit(st, ra, T0, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  source_commit(st, ra, T0 + 2000, NULL, 0, NULL, TASK1, TASK1_JSON("in_progress", "x"), NULL);
  struct dk_fold_input in[2] = {{.ref = ra, .site = "jinan", .source = "a", .city = "jinan"},
                                {.ref = rb, .site = "linyi", .source = "b", .city = "linyi"}};
  struct dk_fold_out out;
  assert_int_equal(fold_commit(st, DK_MAIN_REF, rc, in, 2, NULL, 0, &out), 1);
  assert_int_equal(out.events, 2);
  dk_fold_out_free(&out);
  /* b's report of T0+1000 arrives late: it sorts between a's two */
  source_commit(st, rb, T0 + 1000, NULL, 0, NULL, TASK1, TASK1_JSON("completed", "y"), NULL);
  assert_int_equal(fold_commit(st, DK_MAIN_REF, rc, in, 2, NULL, 0, &out), 1);
  assert_int_equal(out.refolded, 1);
  assert_int_equal(out.events, 3); /* from the empty tree: the only checkpoint knew a's second */
  dk_fold_out_free(&out);
  /* the same as folding everything at once */
  assert_int_equal(fold_commit(st, "refs/heads/once", rc, in, 2, NULL, 0, &out), 1);
  assert_int_equal(out.refolded, 0);
  dk_fold_out_free(&out);
  char *t1 = tree_list(st, DK_MAIN_REF), *t2 = tree_list(st, "refs/heads/once");
  assert_string_equal(t1, t2);
  free(t1);
  free(t2);
  /* b's first report met a's record (manual: open, main kept), then a
   * moved status on from its own base */
  char *rec = read_at(st, DK_MAIN_REF, TASK1), *cf = read_at(st, DK_MAIN_REF, CONF1);
  assert_non_null(strstr(rec, "\"in_progress\""));
  assert_non_null(cf);
  assert_non_null(strstr(cf, "\"opened_at\": \"2024-06-30T08:16:40Z\""));
  assert_non_null(strstr(cf, "\"site\": \"linyi\""));
  free(rec);
  free(cf);
  /* a later event from a sorts last: no refold */
  source_commit(st, ra, T0 + 3000, NULL, 0, NULL, TASK1, TASK1_JSON("in_progress", "z"), NULL);
  fold_commit(st, DK_MAIN_REF, rc, in, 2, NULL, 0, &out);
  assert_int_equal(out.refolded, 0);
  assert_int_equal(out.events, 1);
  dk_fold_out_free(&out);
  /* a second late event, before the last checkpoint but after an earlier one */
  source_commit(st, rb, T0 + 2500, NULL, 0, NULL, TASK1, TASK1_JSON("completed", "w"), NULL);
  fold_commit(st, DK_MAIN_REF, rc, in, 2, NULL, 0, &out);
  assert_int_equal(out.refolded, 1);
  assert_int_equal(out.events, 2); /* from the checkpoint of T0+2000 */
  dk_fold_out_free(&out);
  fold_commit(st, "refs/heads/once2", rc, in, 2, NULL, 0, NULL);
  t1 = tree_list(st, DK_MAIN_REF);
  t2 = tree_list(st, "refs/heads/once2");
  assert_string_equal(t1, t2);
  free(t1);
  free(t2);
  dk_reconcile_free(rc);
  drop_store(st);
}

static void test_deletions(void **state) {
  (void)state;
  struct dk_store *st = new_store(NULL);
  const char *ra = "refs/duikou/sources/a", *rb = "refs/duikou/sources/b";
  struct dk_fold_input in[2] = {{.ref = ra, .site = "jinan", .source = "a", .city = "jinan"},
                                {.ref = rb, .site = "jinan", .source = "b", .city = "jinan"}};
  source_commit(st, ra, T0, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, NULL);
  /* no longer listed: main keeps it */
  source_commit(st, ra, T0 + 10, NULL, 0, NULL, TASK1, NULL, NULL);
  struct dk_fold_out out;
  assert_int_equal(fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, &out), 1); /* the trailers move */
  assert_int_equal(out.body.len, 0);
  dk_fold_out_free(&out);
  char *rec = read_at(st, DK_MAIN_REF, TASK1);
  assert_non_null(rec);
  free(rec);
  /* listed again, then a tombstone: main deletes it */
  source_commit(st, ra, T0 + 20, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  source_commit(st, ra, T0 + 30, "Duikou-Delete: " TASK1 "\n", 0, NULL, TASK1, NULL, NULL);
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, &out);
  assert_int_equal(out.deleted[DK_KIND_TASK], 1);
  assert_string_equal(dk_buf_cstr(&out.body), TASK1 ": deleted (tombstone)\n");
  dk_fold_out_free(&out);
  assert_null(read_at(st, DK_MAIN_REF, TASK1));
  /* re-added by b; a tombstone from a that never held this version:
   * main changed since a's base, so the tombstone conflicts (latest: main stays) */
  source_commit(st, rb, T0 + 40, NULL, 0, NULL, TASK1, TASK1_JSON("in_progress", "x"), NULL);
  source_commit(st, ra, T0 + 50, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, NULL);
  source_commit(st, ra, T0 + 60, "Duikou-Delete: " TASK1 "\n", 0, NULL, TASK1, NULL, NULL);
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, &out);
  assert_int_equal(out.conflicts, 1);
  dk_fold_out_free(&out);
  rec = read_at(st, DK_MAIN_REF, TASK1);
  assert_non_null(rec);
  free(rec);
  /* a configured absence: main's record goes, whoever changed it */
  source_commit(st, rb, T0 + 70, "Duikou-Absent: " TASK1 "\n", 0, NULL, TASK1, NULL, NULL);
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, &out);
  assert_string_equal(dk_buf_cstr(&out.body), TASK1 ": deleted (absent)\n");
  dk_fold_out_free(&out);
  assert_null(read_at(st, DK_MAIN_REF, TASK1));
  /* a trailer naming another path does not delete this one */
  source_commit(st, ra, T0 + 80, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "y"), NULL);
  source_commit(st, ra, T0 + 90, "Duikou-Delete: tasks/jnly-2024/02.json\n", 0, NULL, TASK1, NULL, NULL);
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, NULL);
  rec = read_at(st, DK_MAIN_REF, TASK1);
  assert_non_null(rec);
  assert_non_null(strstr(rec, "\"y\""));
  free(rec);
  drop_store(st);
}


/* The index answers for main and the other sources where it is at the very
 * commit the fold reads; an input whose history was rewritten makes the
 * checkpoints that name its lost commits unusable. */
static void test_index_and_rewritten(void **state) {
  (void)state;
  struct dk_store *st = new_store(NULL);
  const char *ra = "refs/duikou/sources/a", *rb = "refs/duikou/sources/b";
  struct dk_fold_input in[2] = {{.ref = ra, .site = "jinan", .source = "a", .city = "jinan", .ix1 = 1},
                                {.ref = rb, .site = "jinan", .source = "b", .city = "jinan", .ix1 = 2}};
  source_commit(st, ra, T0, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  source_commit(st, rb, T0 + 10, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, NULL);
  const char *refs[2] = {ra, rb};
  struct dk_index *ix = NULL;
  assert_int_equal(dk_index_build(st, refs, 2, &ix), 0);
  source_commit(st, ra, T0 + 20, NULL, 0, NULL, TASK1, TASK1_JSON("in_progress", "x"), NULL);
  struct dk_fold_out out;
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, ix, 0, &out);
  assert_int_equal(out.refolded, 0);
  assert_string_equal(dk_buf_cstr(&out.body), TASK1 ": status not_started \xe2\x86\x92 in_progress\n");
  dk_fold_out_free(&out);
  dk_index_free(ix);
  /* a's history replaced by another one: refolded, as if it had always been so */
  git_oid x1, x2;
  source_commit(st, "refs/tmp/x", T0 + 5, NULL, 0, &x1, TASK1, TASK1_JSON("completed", "y"), NULL);
  source_commit(st, "refs/tmp/x", T0 + 30, NULL, 0, &x2, TASK1, TASK1_JSON("completed", "z"), NULL);
  in[0].head = &x2;
  in[0].ix1 = in[1].ix1 = 0;
  fold_commit(st, DK_MAIN_REF, NULL, in, 2, NULL, 0, &out);
  assert_int_equal(out.refolded, 1);
  assert_int_equal(out.events, 3);
  dk_fold_out_free(&out);
  fold_commit(st, "refs/heads/once", NULL, in, 2, NULL, 0, NULL);
  char *t1 = tree_list(st, DK_MAIN_REF), *t2 = tree_list(st, "refs/heads/once");
  assert_string_equal(t1, t2);
  free(t1);
  free(t2);
  char *rec = read_at(st, DK_MAIN_REF, TASK1);
  assert_non_null(strstr(rec, "\"z\""));
  free(rec);
  /* an input that goes: its events go from main too */
  fold_commit(st, DK_MAIN_REF, NULL, &in[1], 1, NULL, 0, &out);
  assert_int_equal(out.refolded, 1);
  dk_fold_out_free(&out);
  rec = read_at(st, DK_MAIN_REF, TASK1);
  assert_non_null(strstr(rec, "\"not_started\""));
  free(rec);
  drop_store(st);
}

static int resolve(struct dk_store *st, const char *ref, git_time_t t, const char *json) {
  json_t *r = J(json);
  struct dk_commit_meta meta = {.author_name = "op", .author_email = "op@operator.duikou.invalid",
                                .committer_name = "duikou", .committer_email = "duikou@duikou.invalid", .when = t};
  git_oid oid;
  int rc = dk_fold_resolution_commit(st, ref, r, &meta, &oid);
  json_decref(r);
  return rc;
}

static void test_resolutions(void **state) {
  (void)state;
  char *path;
  struct dk_store *st = new_store(&path);
  struct dk_reconcile *rc = NULL;
  char err[DK_ERRBUF_SIZE];
  json_t *conf = J("{\"default\":\"manual\"}");
  assert_int_equal(dk_reconcile_new(conf, &rc, err), 0);
  json_decref(conf);
  const char *ra = "refs/duikou/sources/a", *rb = "refs/duikou/sites/linyi/sources/b",
             *rr = "refs/duikou/resolutions", *rl = "refs/duikou/sites/linyi/resolutions";
  struct dk_fold_input in[4] = {{.ref = ra, .site = "jinan", .source = "a", .city = "jinan"},
                                {.ref = rb, .site = "linyi", .source = "b", .city = "linyi"},
                                {.ref = rr, .site = "jinan"},
                                {.ref = rl, .site = "linyi"}};
  source_commit(st, ra, T0, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  source_commit(st, rb, T0 + 10, NULL, 0, NULL, TASK1, TASK1_JSON("not_started", "x"), NULL);
  source_commit(st, ra, T0 + 20, NULL, 0, NULL, TASK1, TASK1_JSON("in_progress", "z"), NULL);
  source_commit(st, rb, T0 + 30, NULL, 0, NULL, TASK1, TASK1_JSON("completed", "y"), NULL);
  struct dk_fold_out out;
  fold_commit(st, DK_MAIN_REF, rc, in, 4, NULL, 0, &out);
  assert_int_equal(out.open, 2);
  assert_non_null(strstr(dk_buf_cstr(&out.conf), "linyi/b completed"));
  dk_fold_out_free(&out);
  char *cf = read_at(st, DK_MAIN_REF, CONF1);
  assert_non_null(cf);
  assert_non_null(strstr(cf, "\"field\": \"status\""));
  assert_non_null(strstr(cf, "\"field\": \"title\""));
  assert_non_null(strstr(cf, "\"opened_at\": \"2024-06-30T08:00:30Z\""));
  free(cf);
  /* malformed: refused */
  assert_int_equal(resolve(st, rr, T0 + 35, "{\"path\":\"" TASK1 "\",\"field\":\"status\",\"how\":\"take\",\"by\":\"op\"}"),
                   DK_EINVAL);
  /* a field without an open conflict: a no-op */
  char *before = tree_list(st, DK_MAIN_REF);
  assert_int_equal(resolve(st, rr, T0 + 40, "{\"path\":\"" TASK1 "\",\"field\":\"plan\",\"how\":\"value\","
                                            "\"value\":\"other\",\"by\":\"op\"}"), 1);
  /* take from a (site, source) that has no entry: a no-op too */
  assert_int_equal(resolve(st, rl, T0 + 41, "{\"path\":\"" TASK1 "\",\"field\":\"status\",\"how\":\"take\","
                                            "\"site\":\"jinan\",\"source\":\"b\",\"by\":\"op\"}"), 1);
  fold_commit(st, DK_MAIN_REF, rc, in, 4, NULL, 0, &out);
  assert_int_equal(out.events, 2);
  assert_int_equal(out.resolved, 0);
  dk_fold_out_free(&out);
  char *after = tree_list(st, DK_MAIN_REF);
  assert_string_equal(before, after);
  free(before);
  free(after);
  /* take b's status: applied, its entry goes, title stays open */
  assert_int_equal(resolve(st, rl, T0 + 50, "{\"path\":\"" TASK1 "\",\"field\":\"status\",\"how\":\"take\","
                                            "\"site\":\"linyi\",\"source\":\"b\",\"by\":\"op\"}"), 1);
  fold_commit(st, DK_MAIN_REF, rc, in, 4, NULL, 0, &out);
  assert_non_null(strstr(dk_buf_cstr(&out.body), TASK1 ": status in_progress \xe2\x86\x92 completed"));
  assert_int_equal(out.resolved, 1);
  dk_fold_out_free(&out);
  char *rec = read_at(st, DK_MAIN_REF, TASK1);
  assert_non_null(strstr(rec, "\"completed\""));
  free(rec);
  cf = read_at(st, DK_MAIN_REF, CONF1);
  assert_null(strstr(cf, "\"field\": \"status\""));
  assert_non_null(strstr(cf, "\"field\": \"title\""));
  free(cf);
  /* keep main's title: the conflict file goes */
  assert_int_equal(resolve(st, rr, T0 + 60, "{\"path\":\"" TASK1 "\",\"field\":\"title\",\"how\":\"main\",\"by\":\"op\"}"), 1);
  fold_commit(st, DK_MAIN_REF, rc, in, 4, NULL, 0, NULL);
  assert_null(read_at(st, DK_MAIN_REF, CONF1));
  rec = read_at(st, DK_MAIN_REF, TASK1);
  assert_non_null(strstr(rec, "\"z\""));
  free(rec);
  /* the resolutions ref keeps the latest per record */
  char *res = read_at(st, rr, "resolutions/" TASK1);
  assert_non_null(strstr(res, "\"how\": \"main\""));
  free(res);
  /* the whole history folded at once, with the index, gives the same */
  const char *refs[2] = {ra, rb};
  struct dk_index *ix = NULL;
  assert_int_equal(dk_index_build(st, refs, 2, &ix), 0);
  in[0].ix1 = 1;
  in[1].ix1 = 2;
  fold_commit(st, "refs/heads/once", rc, in, 4, ix, 0, NULL);
  dk_index_free(ix);
  char *t1 = tree_list(st, DK_MAIN_REF), *t2 = tree_list(st, "refs/heads/once");
  assert_string_equal(t1, t2);
  free(t1);
  free(t2);
  char *cmd = dk_asprintf("git --git-dir '%s' fsck --strict >/dev/null 2>&1", path);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  free(path);
  dk_reconcile_free(rc);
  drop_store(st);
}


/* DK_FOLD_BENCH=<sources>: that many sources of 2,000 records each folded
 * into an empty main one report at a time, then 1% of one source's records
 * re-synced; prints the time of the folds alone. Skipped without it. */
static void test_bench(void **state) {
  (void)state;
  const char *eb = getenv("DK_FOLD_BENCH");
  if (eb == NULL || !*eb) {
    skip();
    return;
  }
  size_t ns = strtoul(eb, NULL, 10), nr = 2000;
  struct dk_store *st = new_store(NULL);
  struct dk_fold_input *in = dk_calloc(ns, sizeof *in);
  char **refs = dk_calloc(ns, sizeof *refs), **names = dk_calloc(ns, sizeof *names);
  double tfold = 0, tcommit = 0;
  struct timespec a, b;
  for (size_t s = 0; s < ns; s++) {
    names[s] = dk_asprintf("src%02zu", s);
    refs[s] = dk_asprintf("refs/duikou/sources/%s", names[s]);
    in[s] = (struct dk_fold_input){.ref = refs[s], .site = "jinan", .source = names[s], .city = "jinan"};
  }
  for (int round = 0; round < 2; round++)
    for (size_t s = 0; s < (round ? 1 : ns); s++) {
      clock_gettime(CLOCK_MONOTONIC, &a);
      struct dk_txn *txn;
      assert_int_equal(dk_txn_begin(st, refs[s], &txn), 0);
      for (size_t r = 0; r < nr; r++) {
        if (round && r % 100) continue;
        char *path = dk_asprintf("progress/jnly-2024/%02zu/linyi/%04zu-%02zu.json", s % 100, 2000 + r / 12, 1 + r % 12);
        char *data = dk_asprintf("{\n  \"city\": \"linyi\",\n  \"id\": \"jnly-2024/%02zu/linyi/%04zu-%02zu\",\n"
                                 "  \"kind\": \"progress\",\n  \"percent\": %d,\n  \"period\": \"%04zu-%02zu\",\n"
                                 "  \"task\": \"jnly-2024/%02zu\"\n}\n",
                                 s % 100, 2000 + r / 12, 1 + r % 12, round ? 90 : 10, 2000 + r / 12, 1 + r % 12, s % 100);
        assert_true(dk_txn_put(txn, path, data, strlen(data)) >= 0);
        free(path);
        free(data);
      }
      struct dk_commit_meta meta = {.author_name = names[s], .author_email = "s@duikou.invalid", .committer_name = "d",
                                    .committer_email = "d@duikou.invalid", .when = T0 + (git_time_t)(round * 100000 + s),
                                    .message = "report\n"};
      git_oid oid;
      assert_int_equal(dk_txn_commit(txn, &meta, 1, &oid), 1);
      dk_txn_free(txn);
      clock_gettime(CLOCK_MONOTONIC, &b);
      tcommit += (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
      struct dk_txn *mtx;
      assert_int_equal(dk_txn_begin(st, DK_MAIN_REF, &mtx), 0);
      struct dk_fold_out out;
      assert_int_equal(dk_fold(st, NULL, in, ns, mtx, NULL, &out), 0);
      assert_int_equal(out.refolded, 0);
      char *msg = dk_asprintf("fold\n\n%s", dk_buf_cstr(&out.trailers));
      meta.message = msg;
      assert_int_equal(dk_txn_commit(mtx, &meta, 1, &oid), 1);
      free(msg);
      dk_txn_free(mtx);
      dk_fold_out_free(&out);
      clock_gettime(CLOCK_MONOTONIC, &a);
      tfold += (double)(a.tv_sec - b.tv_sec) + (double)(a.tv_nsec - b.tv_nsec) / 1e9;
    }
  fprintf(stderr, "fold bench: %zu sources x %zu records: source commits %.2f s, folds and main commits %.2f s\n", ns,
          nr, tcommit, tfold);
  for (size_t s = 0; s < ns; s++) {
    free(names[s]);
    free(refs[s]);
  }
  free(names);
  free(refs);
  free(in);
  drop_store(st);
}

/* ---- the property ---- */

static uint64_t rng;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static unsigned R(unsigned n) { return (unsigned)(rnd() % n); }

#define NREC 4
static const char *const rec_path[NREC] = {"tasks/jnly-2024/01.json", "tasks/jnly-2024/02.json",
                                           "progress/jnly-2024/01/linyi/2024-06.json",
                                           "progress/jnly-2024/01/jinan/2024-06.json"};
static const char *const statuses[] = {"not_started", "in_progress", "completed"};
static const char *const titles[] = {"A", "B", "C"};
static const char *const times[] = {"2024-06-01T09:00:00+08:00", "2024-06-30T09:00:00Z", "2024-06-30T17:00:00+08:00",
                                    "2024-07-01T00:00:00Z"};
static const char *const unit_names[] = {"济南市教育局", "临沂市教育局", "济南市工业和信息化局"};
static const char *const roles[] = {"lead", "shared", "support"};
static const char *const fields[] = {"status", "title", "percent", "", "units[济南市教育局].role", "milestones[m1].done",
                                     "updated_at"};

static json_t *rand_units(void) {
  json_t *a = json_array();
  for (int i = 0; i < 3; i++)
    if (R(2))
      json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "name", unit_names[i], "city", i == 1 ? "linyi" : "jinan",
                                         "role", roles[R(3)]));
  return a;
}

static json_t *rand_milestones(void) {
  json_t *a = json_array();
  static const char *const ids[] = {"m1", "m2", "m3"};
  for (int i = 0; i < 3; i++)
    if (R(2)) json_array_append_new(a, json_pack("{s:s, s:b}", "id", ids[i], "done", (int)R(2)));
  return a;
}

static json_t *rand_record(int r) {
  json_t *v;
  if (r < 2) {
    char id[32];
    snprintf(id, sizeof id, "jnly-2024/%02d", r + 1);
    v = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "kind", "task", "id", id, "plan", "jnly-2024", "number", r + 1,
                  "title", titles[R(3)], "status", statuses[R(3)]);
    if (R(2)) json_object_set_new(v, "units", rand_units());
    if (R(2)) json_object_set_new(v, "milestones", rand_milestones());
  } else {
    const char *city = r == 2 ? "linyi" : "jinan";
    char id[64];
    snprintf(id, sizeof id, "jnly-2024/01/%s/2024-06", city);
    v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "kind", "progress", "id", id, "task", "jnly-2024/01", "city",
                  city, "period", "2024-06", "status", statuses[R(3)], "percent", (int)R(4) * 30);
  }
  if (R(3)) json_object_set_new(v, "updated_at", json_string(times[R(4)]));
  return v;
}

/* Change a record in place: one to three fields. */
static void mutate(json_t *v, int r) {
  for (unsigned k = 0, n = 1 + R(3); k < n; k++) {
    switch (R(6)) {
    case 0: json_object_set_new(v, "status", json_string(statuses[R(3)])); break;
    case 1:
      if (r < 2) json_object_set_new(v, "title", json_string(titles[R(3)]));
      else json_object_set_new(v, "percent", json_integer((json_int_t)R(4) * 30));
      break;
    case 2: json_object_set_new(v, "updated_at", json_string(times[R(4)])); break;
    case 3:
      if (r < 2) {
        json_t *u = json_object_get(v, "units");
        if (json_is_array(u) && json_array_size(u) && R(2)) {
          json_object_set_new(json_array_get(u, R((unsigned)json_array_size(u))), "role", json_string(roles[R(3)]));
        } else {
          json_object_set_new(v, "units", rand_units());
        }
      }
      break;
    case 4:
      if (r < 2) {
        json_t *m = json_object_get(v, "milestones");
        if (json_is_array(m) && json_array_size(m) && R(2))
          json_object_set_new(json_array_get(m, R((unsigned)json_array_size(m))), "done", json_boolean(R(2)));
        else json_object_set_new(v, "milestones", rand_milestones());
      }
      break;
    default: json_object_del(v, "updated_at"); break;
    }
  }
}

/* One event of an input, ready to be committed the same way in every store. */
struct pev {
  git_time_t t;
  char *files[NREC]; /* canonical text at rec_path[r], NULL: not in the tree (sources) */
  char *extra;       /* trailer lines (sources) */
  json_t *res;       /* a resolution (resolution inputs) */
};

struct pin {
  char ref[160];
  const char *site, *city;
  char source[24];
  struct pev *ev;
  size_t n;
};

struct pcase {
  struct pin in[6];
  size_t n;
  json_t *conf;
  struct dk_reconcile *rc;
};

static void case_free(struct pcase *c) {
  for (size_t i = 0; i < c->n; i++) {
    for (size_t e = 0; e < c->in[i].n; e++) {
      for (int r = 0; r < NREC; r++) free(c->in[i].ev[e].files[r]);
      free(c->in[i].ev[e].extra);
      json_decref(c->in[i].ev[e].res);
    }
    free(c->in[i].ev);
  }
  json_decref(c->conf);
  dk_reconcile_free(c->rc);
}

static git_time_t next_time(git_time_t t) {
  static const int steps[] = {-600, 0, 0, 600, 600, 1200, 1800};
  return t + steps[R(7)];
}

static void gen_case(struct pcase *c, unsigned k) {
  static const char *const sites[2] = {"jinan", "linyi"};
  static const char *const confs[] = {
      NULL, "{\"default\":\"owner\"}", "{\"default\":\"manual\"}", "{\"default\":\"latest\"}",
      "{\"default\":\"priority\",\"priority\":[\"s2\",\"s0\",\"s1\"]}",
      "{\"default\":\"manual\",\"kinds\":{\"task\":\"latest\"},\"fields\":{\"progress.percent\":\"owner\","
      "\"task.title\":\"priority\"},\"priority\":[\"s1\",\"s3\"]}"};
  memset(c, 0, sizeof *c);
  const char *conf = confs[R(6)];
  c->conf = conf ? J(conf) : NULL;
  char err[DK_ERRBUF_SIZE];
  if (dk_reconcile_new(c->conf, &c->rc, err) != 0) fail_msg("reconcile: %s", err);
  size_t ns = 2 + R(3);
  for (size_t i = 0; i < ns; i++) {
    struct pin *p = &c->in[c->n++];
    p->site = sites[i < 2 ? i : R(2)];
    p->city = R(4) ? (R(2) ? "jinan" : "linyi") : NULL;
    snprintf(p->source, sizeof p->source, "s%zu", i);
    snprintf(p->ref, sizeof p->ref, "refs/c%u/sites/%s/sources/s%zu", k, p->site, i);
    size_t nev = 1 + R(6);
    p->ev = dk_calloc(nev, sizeof *p->ev);
    json_t *state[NREC] = {0};
    git_time_t t = T0 + 600 * (git_time_t)R(4);
    for (size_t e = 0; e < nev; e++) {
      struct pev *ev = &p->ev[p->n++];
      ev->t = t;
      t = next_time(t);
      struct dk_buf extra = {0};
      for (unsigned m = 0, nm = 1 + R(2); m < nm; m++) {
        int r = (int)R(NREC);
        if (state[r] == NULL) {
          if (R(5)) state[r] = rand_record(r);
          continue;
        }
        unsigned op = R(10);
        if (op < 6) {
          mutate(state[r], r);
        } else if (op == 6) {
          json_decref(state[r]); /* no longer listed */
          state[r] = NULL;
        } else if (op < 9) {
          dk_buf_printf(&extra, "%s: %s\n", op == 7 ? DK_FOLD_DELETE_TRAILER : DK_FOLD_ABSENT_TRAILER, rec_path[r]);
          json_decref(state[r]);
          state[r] = NULL;
        } else {
          json_decref(state[r]);
          state[r] = rand_record(r); /* a new version altogether */
        }
      }
      for (int r = 0; r < NREC; r++) ev->files[r] = state[r] ? dk_canonical_dump(state[r], NULL) : NULL;
      ev->extra = extra.len ? dk_buf_steal(&extra) : NULL;
      dk_buf_free(&extra);
    }
    for (int r = 0; r < NREC; r++) json_decref(state[r]);
  }
  /* resolutions: one input per site, some of the time */
  for (int s = 0; s < 2; s++) {
    if (R(3) == 0) continue;
    struct pin *p = &c->in[c->n++];
    p->site = sites[s];
    snprintf(p->ref, sizeof p->ref, "refs/c%u/sites/%s/resolutions", k, p->site);
    size_t nev = 1 + R(3);
    p->ev = dk_calloc(nev, sizeof *p->ev);
    git_time_t t = T0 + 600 * (git_time_t)R(6);
    for (size_t e = 0; e < nev; e++) {
      struct pev *ev = &p->ev[p->n++];
      ev->t = t;
      t = next_time(t);
      int r = (int)R(NREC);
      const char *f = fields[R(7)];
      json_t *res = json_pack("{s:s, s:s, s:s}", "path", rec_path[r], "field", f, "by", "op");
      unsigned how = R(3);
      if (how == 0) {
        const struct pin *from = &c->in[R((unsigned)ns)];
        json_object_set_new(res, "how", json_string("take"));
        json_object_set_new(res, "site", json_string(from->site));
        json_object_set_new(res, "source", json_string(from->source));
      } else if (how == 1) {
        json_object_set_new(res, "how", json_string("main"));
      } else {
        json_object_set_new(res, "how", json_string("value"));
        json_t *v = f[0] == '\0' ? rand_record(r) : strcmp(f, "status") == 0 ? json_string(statuses[R(3)])
                    : strcmp(f, "percent") == 0 ? json_integer(50)
                    : strcmp(f, "milestones[m1].done") == 0 ? json_true() : json_string(titles[R(3)]);
        json_object_set_new(res, "value", v);
      }
      ev->res = res;
    }
  }
}

/* Commit event e of input i into store st (write_only: the objects, the ref
 * left where it is). */
static void deliver(struct dk_store *st, const struct pin *p, size_t e, int write_only, git_oid *out) {
  const struct pev *ev = &p->ev[e];
  if (ev->res) {
    struct dk_commit_meta meta = {.author_name = "op", .author_email = "op@operator.duikou.invalid",
                                  .committer_name = "duikou", .committer_email = "duikou@duikou.invalid",
                                  .when = ev->t};
    assert_int_equal(dk_fold_resolution_commit(st, p->ref, ev->res, &meta, out), 1);
    return;
  }
  struct dk_txn *txn;
  assert_int_equal(dk_txn_begin(st, p->ref, &txn), 0);
  for (int r = 0; r < NREC; r++) {
    if (ev->files[r]) assert_true(dk_txn_put(txn, rec_path[r], ev->files[r], strlen(ev->files[r])) >= 0);
    else assert_true(dk_txn_remove(txn, rec_path[r]) >= 0);
  }
  char *msg = dk_asprintf("report %s\n%s%s", p->source, ev->extra ? "\n" : "", ev->extra ? ev->extra : "");
  struct dk_commit_meta meta = {.author_name = p->source, .author_email = "src@duikou.invalid",
                                .committer_name = "duikou", .committer_email = "duikou@duikou.invalid",
                                .when = ev->t, .message = msg};
  if (write_only) assert_int_equal(dk_txn_write(txn, &meta, 1, out), 1);
  else assert_int_equal(dk_txn_commit(txn, &meta, 1, out), 1);
  dk_txn_free(txn);
  free(msg);
}

static void inputs_of(const struct pcase *c, struct dk_fold_input *in) {
  for (size_t i = 0; i < c->n; i++)
    in[i] = (struct dk_fold_input){.ref = c->in[i].ref, .site = c->in[i].site,
                                   .source = c->in[i].source[0] ? c->in[i].source : NULL, .city = c->in[i].city};
}

struct stats {
  size_t steps, refolds, lazy, heads, commits, resolved;
};

/* Deliver the case in a random interleaving that keeps each input's order,
 * folding after every step. */
static void interleave(struct dk_store *st, const struct pcase *c, const char *mref, struct stats *s) {
  size_t done[6] = {0}, left = 0;
  for (size_t i = 0; i < c->n; i++) left += c->in[i].n;
  struct dk_fold_input in[6];
  inputs_of(c, in);
  while (left > 0) {
    size_t moved = 0, last = 0, k = 0;
    for (size_t i = 0; i < c->n; i++) {
      if (done[i] == c->in[i].n || R(2)) continue;
      size_t m = 1 + R(2);
      if (m > c->in[i].n - done[i]) m = c->in[i].n - done[i];
      for (size_t e = 0; e < m; e++) deliver(st, &c->in[i], done[i]++, 0, &(git_oid){{0}});
      moved += m;
      left -= m;
      last = i;
      k++;
    }
    if (moved == 0) continue;
    int lazy = R(4) == 0;
    /* the engine's way: a new source commit folded before its ref moves */
    if (left > 0 && R(3) == 0) {
      for (size_t i = 0; i < c->n; i++)
        if (done[i] < c->in[i].n && c->in[i].source[0]) {
          git_oid head;
          struct dk_txn *txn;
          deliver(st, &c->in[i], done[i], 1, &head);
          in[i].head = &head;
          s->commits += fold_commit(st, mref, c->rc, in, c->n, NULL, lazy, NULL);
          in[i].head = NULL;
          assert_int_equal(dk_txn_begin(st, c->in[i].ref, &txn), 0);
          assert_int_equal(dk_txn_move(txn, &head), 0);
          dk_txn_free(txn);
          done[i]++;
          left--;
          s->heads++;
          break;
        }
    }
    struct dk_fold_out out;
    s->commits += fold_commit(st, mref, c->rc, in, c->n, NULL, lazy, &out);
    s->refolds += (size_t)out.refolded;
    s->resolved += out.resolved;
    s->lazy += (size_t)lazy;
    s->steps++;
    dk_fold_out_free(&out);
    (void)last;
    (void)k;
  }
  /* once more with nothing new: nothing changes */
  struct dk_fold_out out;
  struct dk_txn *mtx;
  assert_int_equal(dk_txn_begin(st, mref, &mtx), 0);
  assert_int_equal(dk_fold(st, c->rc, in, c->n, mtx, NULL, &out), 0);
  assert_int_equal(dk_txn_changes(mtx), 0);
  dk_txn_free(mtx);
  dk_fold_out_free(&out);
}

static void all_at_once(struct dk_store *st, const struct pcase *c, const char *mref) {
  struct dk_fold_input in[6];
  inputs_of(c, in);
  for (size_t i = 0; i < c->n; i++)
    for (size_t e = 0; e < c->in[i].n; e++) deliver(st, &c->in[i], e, 0, &(git_oid){{0}});
  fold_commit(st, mref, c->rc, in, c->n, NULL, 0, NULL);
}

static void print_case(const struct pcase *c) {
  char *conf = c->conf ? json_dumps(c->conf, JSON_COMPACT) : NULL;
  fprintf(stderr, "reconcile: %s\n", conf ? conf : "(none)");
  free(conf);
  for (size_t i = 0; i < c->n; i++) {
    const struct pin *p = &c->in[i];
    fprintf(stderr, "input %s (site %s, source %s, city %s)\n", p->ref, p->site, p->source[0] ? p->source : "-",
            p->city ? p->city : "-");
    for (size_t e = 0; e < p->n; e++) {
      fprintf(stderr, "  event %zu at %lld\n", e, (long long)(p->ev[e].t - T0));
      if (p->ev[e].res) {
        char *r = json_dumps(p->ev[e].res, JSON_COMPACT);
        fprintf(stderr, "    resolution %s\n", r);
        free(r);
        continue;
      }
      for (int r = 0; r < NREC; r++) {
        json_t *v = p->ev[e].files[r] ? json_loads(p->ev[e].files[r], 0, NULL) : NULL;
        char *d = v ? json_dumps(v, JSON_COMPACT) : NULL;
        fprintf(stderr, "    %s: %s\n", rec_path[r], d ? d : "(absent)");
        free(d);
        json_decref(v);
      }
      if (p->ev[e].extra) fprintf(stderr, "    trailers: %s", p->ev[e].extra);
    }
  }
}

static void print_diff(struct dk_store *a, const char *ra, struct dk_store *b, const char *rb) {
  char *la = tree_list(a, ra), *lb = tree_list(b, rb);
  fprintf(stderr, "--- first tree\n%s--- second tree\n%s", la, lb);
  for (int side = 0; side < 2; side++) {
    char *l = side ? lb : la, *o = side ? la : lb, *save = NULL;
    char *copy = dk_strdup(l);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      char *want = dk_asprintf("%s\n", line);
      if (strstr(o, want) == NULL) {
        char *sp = strchr(line, ' ');
        *sp = '\0';
        char *x = read_at(side ? b : a, side ? rb : ra, line), *y = read_at(side ? a : b, side ? ra : rb, line);
        fprintf(stderr, "=== %s\n--- in %s\n%s--- in %s\n%s", line, side ? "second" : "first", x ? x : "(absent)\n",
                side ? "first" : "second", y ? y : "(absent)\n");
        free(x);
        free(y);
        *sp = ' ';
      }
      free(want);
    }
    free(copy);
  }
  free(la);
  free(lb);
}


/* Every conflict file of a tree is canonical JSON, its entries sorted by
 * (field, site, source), each with what fold.h says it holds. */
static void check_conflict_files(struct dk_store *st, const char *ref, const char *list) {
  char *copy = dk_strdup(list), *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, "conflicts/", 10) != 0) continue;
    *strchr(line, ' ') = '\0';
    char *data = read_at(st, ref, line);
    json_t *doc = json_loads(data, 0, NULL), *fields = json_object_get(doc, "fields"), *e;
    assert_non_null(doc);
    char *again = dk_canonical_dump(doc, NULL);
    assert_string_equal(again, data);
    assert_true(json_array_size(fields) > 0);
    const json_t *prev = NULL;
    size_t i;
    json_array_foreach(fields, i, e) {
      const char *at = json_string_value(json_object_get(e, "opened_at"));
      assert_non_null(json_string_value(json_object_get(e, "site")));
      assert_non_null(json_string_value(json_object_get(e, "source")));
      assert_non_null(json_string_value(json_object_get(e, "policy")));
      assert_true(at && strlen(at) == 20 && at[19] == 'Z');
      if (prev) {
        int c = strcmp(json_string_value(json_object_get(prev, "field")), json_string_value(json_object_get(e, "field")));
        if (c == 0) c = strcmp(json_string_value(json_object_get(prev, "site")), json_string_value(json_object_get(e, "site")));
        if (c == 0) c = strcmp(json_string_value(json_object_get(prev, "source")), json_string_value(json_object_get(e, "source")));
        assert_true(c < 0);
      }
      prev = e;
    }
    free(again);
    free(data);
    json_decref(doc);
  }
  free(copy);
}

static void test_property(void **state) {
  (void)state;
  const char *ec = getenv("DK_FOLD_CASES"), *es = getenv("DK_FOLD_SEED");
  unsigned long cases = ec && *ec ? strtoul(ec, NULL, 10) : DK__FOLD_CASES;
  uint64_t seed = es && *es ? strtoull(es, NULL, 0) : 0x5eed2024u;
  fprintf(stderr, "fold property: %lu cases, seed %#llx (DK_FOLD_CASES, DK_FOLD_SEED)\n", cases,
          (unsigned long long)seed);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  struct stats s = {0};
  struct dk_store *st[3] = {0};
  char *paths[3] = {0};
  size_t identical = 0, with_conflicts = 0;
  for (unsigned long k = 0; k < cases; k++) {
    if (k % 100 == 0) {
      for (int x = 0; x < 3; x++) {
        if (st[x]) drop_store(st[x]);
        free(paths[x]);
        st[x] = new_store(&paths[x]);
      }
    }
    rng = seed ^ (0x9e3779b97f4a7c15ull * (k + 1));
    for (int w = 0; w < 4; w++) rnd();
    struct pcase c;
    gen_case(&c, (unsigned)k);
    char mref[64];
    snprintf(mref, sizeof mref, "refs/heads/c%lu", k);
    uint64_t keep = rng;
    interleave(st[0], &c, mref, &s);
    interleave(st[1], &c, mref, &s);
    all_at_once(st[2], &c, mref);
    rng = keep;
    char *a = tree_list(st[0], mref), *b = tree_list(st[1], mref), *o = tree_list(st[2], mref);
    int same = strcmp(a, b) == 0 && strcmp(a, o) == 0;
    if (!same) {
      fprintf(stderr, "fold property FAILED: seed %#llx, case %lu (DK_FOLD_SEED=%#llx DK_FOLD_CASES=%lu)\n",
              (unsigned long long)seed, k, (unsigned long long)seed, k + 1);
      print_case(&c);
      if (strcmp(a, b) != 0) print_diff(st[0], mref, st[1], mref);
      else print_diff(st[0], mref, st[2], mref);
    }
    if (same) check_conflict_files(st[0], mref, a);
    with_conflicts += strstr(a, "conflicts/") != NULL;
    identical += (size_t)same;
    free(a);
    free(b);
    free(o);
    case_free(&c);
    if (!same) break;
  }
  for (int x = 0; x < 3; x++) {
    if (x == 0 && st[x]) {
      char *cmd = dk_asprintf("git --git-dir '%s' fsck --strict >/dev/null 2>&1", paths[x]);
      assert_int_equal(system(cmd), 0);
      free(cmd);
    }
    if (st[x]) drop_store(st[x]);
    free(paths[x]);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  fprintf(stderr,
          "fold property: %zu/%lu cases identical in %.1f s; %zu fold steps (%zu refolded, %zu lazy, %zu folded a "
          "head before its ref moved), %zu main commits, %zu resolutions applied; %zu cases end with open conflicts\n",
          identical, cases, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, s.steps,
          s.refolds, s.lazy, s.heads, s.commits, s.resolved, with_conflicts);
  assert_int_equal(identical, cases);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_key_order),
    cmocka_unit_test(test_point_roundtrip),
    cmocka_unit_test(test_effective_time),
    cmocka_unit_test(test_late_input_refolds),
    cmocka_unit_test(test_deletions),
    cmocka_unit_test(test_resolutions),
    cmocka_unit_test(test_index_and_rewritten),
    cmocka_unit_test(test_property),
    cmocka_unit_test(test_bench),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

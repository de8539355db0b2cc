/* The audit trail: field names, changes, and history walks on a real bare
 * repository whose main has merge commits (only first parents count). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "audit.h"
#include "resolve.h"
#include "canonical.h"
#include "merge.h"
#include "schemas.h"
#include "util.h"

static json_t *J(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
  if (v == NULL) fail_msg("bad test JSON: %s: %s", text, e.text);
  return v;
}

/* The compact, key-sorted form, for comparisons. */
static char *S(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY); }

static void assert_json(const json_t *got, const char *want) {
  json_t *w = J(want);
  char *a = S(got), *b = S(w);
  if (strcmp(a, b) != 0) fail_msg("got %s\nwanted %s", a, b);
  free(a);
  free(b);
  json_decref(w);
}

static const char task_v1[] =
    "{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"plan\": \"jnly-2024\", \"number\": 12,"
    " \"title\": \"联合做强两市优势产业\", \"status\": \"in_progress\","
    " \"section\": {\"number\": \"四\", \"title\": \"推进产业深度合作\"},"
    " \"units\": [{\"name\": \"济南市工业和信息化局\", \"city\": \"jinan\", \"role\": \"shared\"},"
    "           {\"name\": \"临沂市工业和信息化局\", \"city\": \"linyi\", \"role\": \"shared\"}],"
    " \"targets\": [{\"metric\": \"m\", \"value\": 20}]}";

static void test_flatten(void **state) {
  json_t *rec = J(task_v1);
  json_t *flat = dk_audit_flatten(rec);
  const char *want[] = {"id", "kind", "number", "plan", "section.number", "section.title", "status", "targets",
                        "title", "units[济南市工业和信息化局].city", "units[济南市工业和信息化局].role",
                        "units[临沂市工业和信息化局].city", "units[临沂市工业和信息化局].role"};
  assert_int_equal(json_object_size(flat), sizeof want / sizeof want[0]);
  size_t i = 0;
  const char *k;
  json_t *v;
  json_object_foreach(flat, k, v) assert_string_equal(k, want[i++]);
  assert_string_equal(json_string_value(json_object_get(flat, "units[临沂市工业和信息化局].city")), "linyi");
  json_decref(flat);
  /* units with a repeated name are not keyed: one value */
  json_t *dup = J("{\"units\": [{\"name\": \"a\"}, {\"name\": \"a\"}], \"milestones\": [], \"x\": {}}");
  flat = dk_audit_flatten(dup);
  assert_json(flat, "{\"milestones\": [], \"units\": [{\"name\": \"a\"}, {\"name\": \"a\"}], \"x\": {}}");
  json_decref(flat);
  json_decref(dup);
  json_decref(rec);
}

static void test_changes(void **state) {
  json_t *a = J(task_v1), *b = json_deep_copy(a);
  json_object_set_new(b, "status", json_string("completed"));
  json_object_set_new(json_object_get(b, "section"), "title", json_string("新标题"));
  json_t *units = json_object_get(b, "units");
  json_object_set_new(json_array_get(units, 0), "role", json_string("lead"));
  json_array_remove(units, 1);
  json_array_append_new(units, J("{\"name\": \"临沂市教育局\", \"city\": \"linyi\", \"role\": \"support\"}"));
  json_object_set_new(b, "number", json_real(12.0)); /* the same number */
  json_object_set_new(b, "targets", J("[{\"metric\": \"m\", \"value\": 21}]"));
  json_object_set_new(b, "percent", json_integer(60));
  json_t *c = dk_audit_changes(a, b);
  assert_json(c, "[{\"field\": \"percent\", \"new\": 60},"
                 " {\"field\": \"section.title\", \"old\": \"推进产业深度合作\", \"new\": \"新标题\"},"
                 " {\"field\": \"status\", \"old\": \"in_progress\", \"new\": \"completed\"},"
                 " {\"field\": \"targets\", \"old\": [{\"metric\": \"m\", \"value\": 20}],"
                 "  \"new\": [{\"metric\": \"m\", \"value\": 21}]},"
                 " {\"field\": \"units[济南市工业和信息化局].role\", \"old\": \"shared\", \"new\": \"lead\"},"
                 " {\"field\": \"units[临沂市工业和信息化局]\","
                 "  \"old\": {\"name\": \"临沂市工业和信息化局\", \"city\": \"linyi\", \"role\": \"shared\"}},"
                 " {\"field\": \"units[临沂市教育局]\","
                 "  \"new\": {\"name\": \"临沂市教育局\", \"city\": \"linyi\", \"role\": \"support\"}}]");
  json_decref(c);
  c = dk_audit_changes(a, a);
  assert_int_equal(json_array_size(c), 0);
  json_decref(c);
  c = dk_audit_changes(NULL, a);
  assert_int_equal(json_array_size(c), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "field")), "");
  json_decref(c);
  json_decref(a);
  json_decref(b);
}

static void test_field_get_set(void **state) {
  char err[DK_ERRBUF_SIZE];
  json_t *r = J(task_v1);
  assert_string_equal(json_string_value(dk_audit_field_get(r, "section.title")), "推进产业深度合作");
  assert_string_equal(json_string_value(dk_audit_field_get(r, "units[临沂市工业和信息化局].role")), "shared");
  assert_null(dk_audit_field_get(r, "units[nobody].role"));
  assert_null(dk_audit_field_get(r, "section.nothing"));
  assert_ptr_equal(dk_audit_field_get(r, ""), r);

  assert_int_equal(dk_audit_field_set(&r, "status", json_string("delayed"), err), 0);
  assert_int_equal(dk_audit_field_set(&r, "section.title", json_string("T"), err), 0);
  assert_int_equal(dk_audit_field_set(&r, "units[临沂市工业和信息化局].role", json_string("lead"), err), 0);
  assert_int_equal(dk_audit_field_set(&r, "units[济南市工业和信息化局]", NULL, err), 0);
  assert_int_equal(dk_audit_field_set(&r, "units[a.b]局]", J("{\"city\": \"jinan\"}"), err), 0);
  assert_int_equal(dk_audit_field_set(&r, "milestones[m1].done", json_true(), err), 0);
  assert_int_equal(dk_audit_field_set(&r, "targets", NULL, err), 0);
  json_t *want = J(task_v1);
  json_object_set_new(want, "status", json_string("delayed"));
  json_object_set_new(json_object_get(want, "section"), "title", json_string("T"));
  json_object_set_new(want, "units", J("[{\"name\": \"临沂市工业和信息化局\", \"city\": \"linyi\", \"role\": \"lead\"},"
                                       " {\"name\": \"a.b]局\", \"city\": \"jinan\"}]"));
  json_object_set_new(want, "milestones", J("[{\"id\": \"m1\", \"done\": true}]"));
  json_object_del(want, "targets");
  assert_true(dk_json_same(r, want));
  json_decref(want);

  assert_int_equal(dk_audit_field_set(&r, "title[x]", json_string("v"), err), DK_EINVAL);
  assert_non_null(strstr(err, "not a keyed array"));
  assert_int_equal(dk_audit_field_set(&r, "status.x", json_string("v"), err), DK_EINVAL);
  assert_int_equal(dk_audit_field_set(&r, "units[x", json_string("v"), err), DK_EINVAL);
  assert_int_equal(dk_audit_field_set(&r, "units[x]", json_string("v"), err), DK_EINVAL);
  assert_int_equal(dk_audit_field_set(&r, "", NULL, err), 0);
  assert_null(r);
}

static void test_names_and_dates(void **state) {
  char err[DK_ERRBUF_SIZE], *path, *id, *file;
  enum dk_kind kind;
  assert_int_equal(dk_audit_record_name("jnly-2024/12", &path, &kind, &id, err), 0);
  assert_string_equal(path, "tasks/jnly-2024/12.json");
  assert_int_equal(kind, DK_KIND_TASK);
  free(path);
  free(id);
  assert_int_equal(dk_audit_record_name("units/linyi/教育局.json", &path, &kind, NULL, err), 0);
  assert_string_equal(path, "units/linyi/教育局.json");
  free(path);
  assert_int_equal(dk_audit_record_name("../etc/passwd", &path, &kind, &id, err), DK_EINVAL);
  assert_int_equal(dk_audit_conflict_name("conflicts/progress/jnly-2024/12/linyi/2024-06.json", &path, &kind, &id,
                                          &file, err),
                   0);
  assert_string_equal(path, "progress/jnly-2024/12/linyi/2024-06.json");
  assert_string_equal(id, "jnly-2024/12/linyi/2024-06");
  free(path);
  free(id);
  free(file);
  assert_int_equal(dk_audit_conflict_name("jnly-2024", &path, &kind, &id, &file, err), 0);
  assert_string_equal(file, "conflicts/plan/jnly-2024.json");
  free(path);
  free(id);
  free(file);
  assert_int_equal(dk_audit_conflict_name("conflicts/memo/x.json", &path, &kind, &id, &file, err), DK_EINVAL);
  assert_int_equal(dk_audit_conflict_name("conflicts/task/../x.json", &path, &kind, &id, &file, err), DK_EINVAL);

  time_t t;
  setenv("TZ", "Asia/Shanghai", 1);
  tzset();
  assert_int_equal(dk_audit_parse_date("2024-07-01", &t), 1);
  assert_int_equal((long long)t, 1719849599LL); /* 2024-07-01T23:59:59+08:00 */
  assert_int_equal(dk_audit_parse_date("2024-07-01T00:00:00+08:00", &t), 1);
  assert_int_equal((long long)t, 1719763200LL);
  assert_int_equal(dk_audit_parse_date("2024-02-30", &t), DK_EINVAL);
  assert_int_equal(dk_audit_parse_date("2024-07-01T00:00", &t), DK_EINVAL);
  assert_int_equal(dk_audit_parse_date("main~3", &t), 0);
  assert_int_equal(dk_audit_parse_date("ee4272cf", &t), 0);

  char *s = dk_value_short(NULL, 60);
  assert_string_equal(s, "(none)");
  free(s);
  json_t *v = json_string("贯彻落实《济南—临沂产业协作实施方案》");
  s = dk_value_short(v, 20);
  assert_string_equal(s, "贯彻落实《济..."); /* 20 bytes: cut at a character, never inside one */
  free(s);
  json_decref(v);
}

/* ---- on a repository ---- */

static char tmpl[4096];
static char *repo_path;

static int setup(void **state) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/dk-audit-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(tmpl));
  repo_path = dk_asprintf("%s/snap.git", tmpl);
  return 0;
}

static int teardown(void **state) {
  char *cmd = dk_asprintf("rm -rf '%s'", tmpl);
  int rc = system(cmd);
  free(cmd);
  free(repo_path);
  dk_schemas_shutdown();
  return rc;
}

/* Commit `rec` (NULL: nothing but `extra`) at path to ref, by `source`, at `when`. */
static git_oid commit(struct dk_store *st, const char *ref, const char *source, git_time_t when,
                      const char *path, const char *rec, const git_oid *merge) {
  struct dk_txn *txn;
  assert_int_equal(dk_txn_begin(st, ref, &txn), 0);
  if (rec) {
    json_t *v = J(rec);
    size_t len;
    char *data = dk_canonical_dump(v, &len);
    assert_true(dk_txn_put(txn, path, data, len) >= 0);
    free(data);
    json_decref(v);
  } else {
    dk_txn_put(txn, "plans/other.json", &when, sizeof when); /* some other change */
  }
  if (merge) dk_txn_add_parent(txn, merge);
  char *msg = dk_asprintf("sync %s: 1 task changed\n\n%s: …\n\nDuikou-Source: %s\nDuikou-City: jinan\n", source, path,
                          source);
  char *author = dk_asprintf("%s (jinan)", source);
  struct dk_commit_meta meta = {.author_name = author, .author_email = "x@jinan.duikou.invalid", .when = when,
                                .offset_minutes = 480, .message = msg};
  git_oid oid;
  assert_int_equal(dk_txn_commit(txn, &meta, 1, &oid), 1);
  dk_txn_free(txn);
  free(msg);
  free(author);
  return oid;
}

static void test_history(void **state) {
  struct dk_store *st;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_store_open(repo_path, &st, err), 0);
  const char *p = "tasks/jnly-2024/12.json";
  char v2[sizeof task_v1 + 64], v3[sizeof task_v1 + 64];
  snprintf(v2, sizeof v2, "%s", task_v1);
  memcpy(strstr(v2, "in_progress"), "completed\",   ", 14);
  snprintf(v3, sizeof v3, "%s", v2);
  memcpy(strstr(v3, "推进产业深度合作"), "推进产业深度合做", strlen("推进产业深度合作"));

  git_oid c1 = commit(st, DK_MAIN_REF, "jinan-tasks", 1719738000, p, task_v1, NULL);
  git_oid c2 = commit(st, DK_MAIN_REF, "plan-documents", 1719738100, NULL, NULL, NULL);
  /* linyi-tasks's own branch says v3 twice; main merges it once */
  git_oid s1 = commit(st, "refs/duikou/sources/linyi-tasks", "linyi-tasks", 1719738150, p, v3, NULL);
  commit(st, "refs/duikou/sources/linyi-tasks", "linyi-tasks", 1719738160, p, task_v1, NULL);
  git_oid c3 = commit(st, DK_MAIN_REF, "jinan-tasks", 1719738200, p, v2, NULL);
  git_oid c4 = commit(st, DK_MAIN_REF, "linyi-tasks", 1719738300, p, v3, &s1);

  struct dk_audit *a;
  assert_int_equal(dk_audit_open(repo_path, &a, err), 0);
  git_oid head;
  assert_int_equal(dk_audit_main(a, &head), 0);
  assert_true(git_oid_equal(&head, &c4));

  struct dk_audit_entry *e;
  size_t n;
  assert_int_equal(dk_audit_log(a, &head, p, 0, &e, &n), 0);
  assert_int_equal(n, 3); /* the source branch's own commits are not main's history */
  assert_true(git_oid_equal(&e[0].commit.oid, &c4));
  assert_string_equal(e[0].commit.source, "linyi-tasks");
  assert_json(e[0].changes, "[{\"field\": \"section.title\", \"old\": \"推进产业深度合作\", \"new\": \"推进产业深度合做\"}]");
  assert_true(git_oid_equal(&e[1].commit.oid, &c3));
  assert_json(e[1].changes, "[{\"field\": \"status\", \"old\": \"in_progress\", \"new\": \"completed\"}]");
  assert_int_equal(e[2].action, DK_AUDIT_ADDED);
  assert_true(git_oid_equal(&e[2].commit.oid, &c1));
  dk_audit_entries_free(e, n);
  assert_int_equal(dk_audit_log(a, &head, p, 1, &e, &n), 0);
  assert_int_equal(n, 1);
  dk_audit_entries_free(e, n);

  json_t *rec;
  struct dk_audit_blame *b;
  assert_int_equal(dk_audit_blame_record(a, &head, p, &rec, &b, &n), 0);
  json_t *flat = dk_audit_flatten(rec);
  assert_int_equal(n, json_object_size(flat)); /* every field, once */
  json_decref(flat);
  int later = 0; /* the fields changed after c1, both among them */
  for (size_t i = 0; i < n; i++) {
    const git_oid *want = strcmp(b[i].field, "status") == 0          ? &c3
                          : strcmp(b[i].field, "section.title") == 0 ? &c4
                                                                     : &c1;
    later += want != &c1;
    if (!git_oid_equal(&b[i].commit.oid, want)) fail_msg("field %s blamed on the wrong commit", b[i].field);
  }
  assert_int_equal(later, 2);
  dk_audit_blame_free(b, n);
  json_decref(rec);

  git_oid at, last;
  assert_int_equal(dk_audit_resolve_rev(a, "2024-06-30T17:03:00+08:00", &at), 0); /* 1719738180 */
  assert_true(git_oid_equal(&at, &c2));
  assert_int_equal(dk_audit_last_change(a, &at, p, &last), 0);
  assert_true(git_oid_equal(&last, &c1));
  assert_int_equal(dk_audit_resolve_rev(a, "2024-06-29", &at), DK_ENOENT);
  assert_int_equal(dk_audit_resolve_rev(a, "main~1", &at), 0);
  assert_true(git_oid_equal(&at, &c3));
  assert_int_equal(dk_audit_resolve_rev(a, "nosuchbranch", &at), DK_ENOENT);
  assert_int_equal(dk_audit_read(a, &c2, "tasks/jnly-2024/13.json", &rec, NULL), DK_ENOENT);

  struct dk_audit_delta *d;
  assert_int_equal(dk_audit_diff(a, &c1, &head, &d, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(d[0].path, "plans/other.json");
  assert_int_equal(d[0].kind, DK_KIND_PLAN);
  assert_int_equal(d[0].action, DK_AUDIT_ADDED);
  assert_string_equal(d[1].path, p);
  assert_int_equal(d[1].kind, DK_KIND_TASK);
  assert_int_equal(json_array_size(d[1].changes), 2);
  dk_audit_deltas_free(d, n);
  dk_audit_close(a);

  /* A conflict on it, then settled field by field. */
  char conflict[] =
      "{\"kind\": \"task\", \"id\": \"jnly-2024/12\", \"path\": \"tasks/jnly-2024/12.json\", \"fields\": ["
      "{\"field\": \"status\", \"base\": \"in_progress\", \"ours\": \"completed\", \"theirs\": \"delayed\","
      " \"source\": \"linyi-tasks\", \"city\": \"linyi\", \"policy\": \"manual\", \"opened_at\": \"2024-06-30T17:00:00+08:00\"},"
      "{\"field\": \"section.title\", \"ours\": \"推进产业深度合做\", \"source\": \"linyi-tasks\", \"city\": \"linyi\","
      " \"policy\": \"manual\", \"opened_at\": \"2024-06-30T17:00:00+08:00\"}]}";
  commit(st, DK_MAIN_REF, "linyi-tasks", 1719738400, "conflicts/task/jnly-2024/12.json", conflict, NULL);
  struct dk_resolve_result res;
  json_t *bogus = json_string("bogus");
  struct dk_resolve_req req = {.name = "jnly-2024/12", .field = "status", .how = DK_RESOLVE_VALUE, .value = bogus,
                               .by = "wang.li", .when = 1719738500};
  assert_int_equal(dk_resolve(st, &req, &res), DK_EINVALID);
  assert_non_null(strstr(st->err, "\"bogus\" is not one of"));
  json_decref(bogus);
  req = (struct dk_resolve_req){.name = "jnly-2024/12", .field = "status", .how = DK_RESOLVE_TAKE,
                                .source = "jinan-tasks", .by = "wang.li"};
  assert_int_equal(dk_resolve(st, &req, &res), DK_EINVAL);
  assert_non_null(strstr(st->err, "has no value from jinan-tasks (its sources: linyi-tasks)"));
  req.source = "linyi-tasks";
  assert_int_equal(dk_resolve(st, &req, &res), 0);
  assert_json(res.applied, "[{\"field\": \"status\", \"old\": \"completed\", \"new\": \"delayed\"}]");
  assert_json(res.remaining, "[\"section.title\"]");
  assert_non_null(strstr(res.message, "resolve tasks/jnly-2024/12.json: status \xe2\x86\x92 delayed (take linyi-tasks)\n"));
  assert_non_null(strstr(res.message, "\n\nDuikou-Resolved-By: wang.li\nDuikou-Resolution: take linyi-tasks\n"));
  dk_resolve_result_clear(&res);
  /* theirs has no section.title: taking linyi-tasks would remove it, which
   * the schema refuses; main's is kept instead */
  req.field = NULL;
  assert_int_equal(dk_resolve(st, &req, &res), DK_EINVALID);
  assert_non_null(strstr(st->err, "/section"));
  req.how = DK_RESOLVE_MAIN;
  assert_int_equal(dk_resolve(st, &req, &res), 0);
  assert_json(res.applied, "[{\"field\": \"section.title\", \"old\": \"推进产业深度合做\", \"new\": \"推进产业深度合做\"}]");
  assert_int_equal(json_array_size(res.remaining), 0);
  assert_non_null(strstr(res.message, "(keep main)\n"));
  dk_resolve_result_clear(&res);
  assert_int_equal(dk_resolve(st, &req, &res), DK_EINVAL);
  assert_non_null(strstr(st->err, "no open conflict on tasks/jnly-2024/12.json"));

  assert_int_equal(dk_audit_open(repo_path, &a, err), 0);
  assert_int_equal(dk_audit_main(a, &head), 0);
  assert_int_equal(dk_audit_read(a, &head, p, &rec, NULL), 0);
  assert_string_equal(json_string_value(json_object_get(rec, "status")), "delayed");
  assert_json(json_object_get(rec, "section"), "{\"number\": \"四\", \"title\": \"推进产业深度合做\"}");
  json_decref(rec);
  assert_int_equal(dk_audit_read(a, &head, "conflicts/task/jnly-2024/12.json", &rec, NULL), DK_ENOENT);
  struct dk_audit_commit info;
  assert_int_equal(dk_audit_commit_info(a, &head, &info), 0);
  assert_string_equal(info.source, "wang.li"); /* no Duikou-Source: the author */
  assert_null(info.city);
  dk_audit_commit_clear(&info);
  dk_audit_close(a);
  dk_store_close(st);

  assert_int_equal(dk_audit_open("/nonexistent/duikou.git", &a, err), DK_ENOENT);
  assert_non_null(strstr(err, "/nonexistent/duikou.git"));
}

int main(void) {
  git_libgit2_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_flatten),
    cmocka_unit_test(test_changes),
    cmocka_unit_test(test_field_get_set),
    cmocka_unit_test(test_names_and_dates),
    cmocka_unit_test_setup_teardown(test_history, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  git_libgit2_shutdown();
  return rc;
}

/* The per-record work the engine runs on several worker threads at once —
 * shape, path, validation, error lines, canonical dump, quarantine, log —
 * gives the same results from 4 threads as from one, with no lost or torn
 * output. Also run under ThreadSanitizer (not in CI):
 *   meson setup build-tsan -Db_sanitize=thread -Db_lundef=false
 *   meson test -C build-tsan threads */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "canonical.h"
#include "log.h"
#include "quarantine.h"
#include "record.h"
#include "redact.h"
#include "schemas.h"
#include "util.h"

#define NRECORDS 3000
#define NTHREADS 4
#define ROUNDS 6
#define SECRET "tok-8f3a9c1e77d2"

static char *texts[NRECORDS];

/* What the engine's ingest makes of one record. */
struct outcome {
  int valid;   /* shape + path + schema: 1, 0, or a negative code */
  char *lines; /* the error lines, one per line */
  char *canon; /* dk_canonical_dump */
  char *path;  /* dk_record_path's path, or its error */
};

/* A deterministic generator (rand() would be shared state itself). */
static unsigned next_rnd(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 16) & 0x7fff;
}

static const char *const statuses[] = {"not_started", "in_progress", "in_progress", "completed", "delayed"};
static const char *const cities[] = {"jinan", "linyi", "province"};

/* Record i as JSON text: tasks and progress reports, about one in four
 * broken in one of the ways a source breaks them. */
static char *make_record(size_t i, unsigned *s) {
  unsigned plan = 1 + i % 7, task = 1 + (i / 7) % 31, month = 1 + next_rnd(s) % 12;
  const char *status = statuses[next_rnd(s) % 5];
  const char *city = cities[next_rnd(s) % 3];
  unsigned pct = next_rnd(s) % 101, bad = i % 4 == 3 ? 1 + next_rnd(s) % 9 : 0;
  json_t *r;
  if (i % 3 == 0) {
    r = json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:s}, s:s, s:s, s:[{s:s, s:s, s:s}], s:[{s:s, s:i, s:s}], s:s}",
                  "kind", "task", "id", "x", "plan", "x", "number", task, "section", "number", "四", "title",
                  "推进产业深度合作", "title", "联合做强两市优势产业", "text", "两市工业和信息化部门牵头，推动产业链协同。",
                  "units", "name", "济南市工业和信息化局", "city", city, "role", "lead", "targets", "metric",
                  "teachers_sent", "value", (int)pct, "unit", "名", "status", status);
    json_object_set_new(r, "id", json_sprintf("jnly-2024-p%03u/%03u", plan, task));
    json_object_set_new(r, "plan", json_sprintf("jnly-2024-p%03u", plan));
    json_object_set_new(r, "updated_at", json_sprintf("2024-%02u-%02uT09:%02u:00+08:00", month, 1 + next_rnd(s) % 28,
                                                      next_rnd(s) % 60));
  } else {
    r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:[{s:s, s:s, s:b}]}", "kind", "progress", "id", "x", "task",
                  "x", "city", city, "status", status, "percent", (int)pct, "summary",
                  "已完成年度计划的阶段性工作，\"协同\"推进中。\n下一步继续落实。", "milestones", "id", "m1", "title",
                  "第1阶段工作", "done", pct > 33);
    json_object_set_new(r, "id", json_sprintf("jnly-2024-p%03u/%03u/%s/2024-%02u", plan, task, city, month));
    json_object_set_new(r, "task", json_sprintf("jnly-2024-p%03u/%03u", plan, task));
    json_object_set_new(r, "period", json_sprintf("2024-%02u", month));
    json_object_set_new(r, "reported_at", json_sprintf("2024-%02u-28T17:00:00+08:00", month));
    json_object_set_new(r, "percent", json_real(pct + 0.25 * (i % 4)));
  }
  int task_kind = i % 3 == 0;
  switch (bad) {
    case 1: json_object_set_new(r, "status", json_string("done")); break; /* enum */
    case 2: /* pattern (progress) / maximum (task number) */
      if (task_kind) json_object_set_new(r, "number", json_integer(1000));
      else json_object_set_new(r, "id", json_sprintf("jnly-2024-p%03u/%03u/%s/2024-13", plan, task, city));
      break;
    case 3: json_object_set_new(r, "updated_at", json_string("2024-02-30T25:00:00+08:00")); break; /* date-time */
    case 4: json_object_del(r, task_kind ? "title" : "status"); break; /* required */
    case 5: json_object_set_new(r, "percent", json_integer(120)); break;
    case 6: json_object_set_new(r, "colour", json_string("red")); break; /* additionalProperties */
    case 7: json_object_set_new(r, "id", json_string("jnly-2024/too/many/seg/ments")); break; /* path */
    case 8: json_object_set_new(r, "summary", json_string("token " SECRET " leaked")); break; /* shape */
    case 9: json_object_set_new(r, "kind", json_string("report")); break; /* kind */
  }
  char *text = json_dumps(r, JSON_COMPACT);
  json_decref(r);
  return text;
}

/* The ingest steps for one record, as dk__ingest runs them. */
static void work(const char *text, struct outcome *o) {
  json_t *rec = json_loads(text, 0, NULL);
  char err[DK_ERRBUF_SIZE] = "";
  struct dk_buf lines = {0};
  char *path = NULL;
  o->valid = 0;
  if (dk_record_check_shape(rec, 0, 0, err) != 0) {
    dk_buf_printf(&lines, "%s\n", err);
  } else if (dk_record_path(rec, &path, err) != 0) {
    dk_buf_printf(&lines, "%s\n", err);
  } else {
    struct dk_vresult vr = {0};
    o->valid = dk_schemas_validate_record(rec, &vr, err);
    for (size_t e = 0; o->valid != 1 && e < vr.nerrors; e++) {
      char *line = dk_schemas_format_error(&vr.errors[e]);
      dk_buf_printf(&lines, "%s\n", line);
      free(line);
    }
    dk_vresult_free(&vr);
  }
  o->lines = dk_strdup(dk_buf_cstr(&lines));
  o->path = path ? path : dk_strdup(err);
  o->canon = dk_canonical_dump(rec, NULL);
  dk_buf_free(&lines);
  json_decref(rec);
}

static void outcome_free(struct outcome *o) {
  free(o->lines);
  free(o->canon);
  free(o->path);
}

struct worker {
  int t, round;
  struct outcome *out; /* NRECORDS, only this thread's slots filled */
};

/* Thread t takes the records whose index, shifted by the round, falls to it:
 * neighbours run on different threads, and each round moves them. */
static void *work_thread(void *arg) {
  struct worker *w = arg;
  for (size_t i = 0; i < NRECORDS; i++)
    if ((i + (size_t)w->round) % NTHREADS == (size_t)w->t) work(texts[i], &w->out[i]);
  return NULL;
}

static int setup(void **state) {
  char err[DK_ERRBUF_SIZE];
  dk_redact_add(SECRET);
  if (dk_schemas_init(err) != 0) {
    fprintf(stderr, "schemas: %s\n", err);
    return -1;
  }
  unsigned s = 20240424;
  for (size_t i = 0; i < NRECORDS; i++) texts[i] = make_record(i, &s);
  return 0;
}

static int teardown(void **state) {
  for (size_t i = 0; i < NRECORDS; i++) free(texts[i]);
  dk_schemas_shutdown();
  dk_redact_reset();
  return 0;
}

static void test_records(void **state) {
  struct outcome *one = dk_calloc(NRECORDS, sizeof *one);
  size_t nvalid = 0, nkw[4] = {0};
  for (size_t i = 0; i < NRECORDS; i++) {
    work(texts[i], &one[i]);
    nvalid += one[i].valid == 1;
    nkw[0] += strstr(one[i].lines, "(enum)") != NULL;
    nkw[1] += strstr(one[i].lines, "(pattern)") != NULL;
    nkw[2] += strstr(one[i].lines, "(format)") != NULL;
    nkw[3] += strstr(one[i].lines, "(required)") != NULL;
  }
  /* the generator makes every kind of failure the test is about */
  assert_true(nvalid > NRECORDS / 2 && nvalid < NRECORDS);
  for (int k = 0; k < 4; k++) assert_true(nkw[k] > 10);

  struct outcome *many = dk_calloc(NRECORDS, sizeof *many);
  for (int round = 0; round < ROUNDS; round++) {
    pthread_t th[NTHREADS];
    struct worker w[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
      w[t] = (struct worker){t, round, many};
      assert_int_equal(pthread_create(&th[t], NULL, work_thread, &w[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    for (size_t i = 0; i < NRECORDS; i++) {
      assert_int_equal(many[i].valid, one[i].valid);
      assert_string_equal(many[i].lines, one[i].lines);
      assert_string_equal(many[i].canon, one[i].canon);
      assert_string_equal(many[i].path, one[i].path);
      outcome_free(&many[i]);
    }
  }
  for (size_t i = 0; i < NRECORDS; i++) outcome_free(&one[i]);
  free(one);
  free(many);
}

/* --- quarantine ------------------------------------------------------------ */

#define QITEMS 60

struct qworker {
  const char *state;
  int t;
  int rc[QITEMS];
  char names[QITEMS][DK_QUARANTINE_NAME_LEN + 1];
};

static void *quarantine_thread(void *arg) {
  struct qworker *w = arg;
  char source[32];
  snprintf(source, sizeof source, "city-%d", w->t);
  for (int k = 0; k < QITEMS; k++) {
    /* the same records on every thread: only the source tells them apart */
    json_t *rec = json_loads(texts[k], 0, NULL);
    json_t *errors = json_pack("[s, s]", "/status: \"done\" is not one of not_started, … (enum)",
                               "/percent: 120 is more than the maximum 100 (maximum)");
    char raw[64], where[32], err[DK_ERRBUF_SIZE];
    snprintf(raw, sizeof raw, "line %d: %s", k, k % 5 == 0 ? SECRET : "a,b,,c");
    snprintf(where, sizeof where, "record %d", k + 1);
    struct dk_quarantine_item it = {.source = source, .city = "jinan", .url = "https://example.invalid/api",
                                    .where = where, .record = k % 2 ? rec : NULL, .raw = k % 2 ? NULL : raw,
                                    .errors = errors};
    w->rc[k] = dk_quarantine_put(w->state, &it, w->names[k], err);
    if (w->rc[k] < 0) fprintf(stderr, "quarantine: %s\n", err);
    json_decref(errors);
    json_decref(rec);
  }
  return NULL;
}

static int run_quarantine(const char *dir, struct qworker *w) {
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++) {
    w[t].state = dir;
    w[t].t = t;
    if (pthread_create(&th[t], NULL, quarantine_thread, &w[t]) != 0) return -1;
  }
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(a, b); }

static void test_quarantine(void **state) {
  char dir[] = "/tmp/dk-threads-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct qworker *w = dk_calloc(NTHREADS, sizeof *w);
  assert_int_equal(run_quarantine(dir, w), 0);
  char(*all)[DK_QUARANTINE_NAME_LEN + 1] = dk_malloc(sizeof *all * NTHREADS * QITEMS);
  size_t n = 0;
  for (int t = 0; t < NTHREADS; t++)
    for (int k = 0; k < QITEMS; k++) {
      assert_int_equal(w[t].rc[k], 1); /* new */
      memcpy(all[n++], w[t].names[k], sizeof all[0]);
    }
  qsort(all, n, sizeof all[0], cmp_names);
  for (size_t i = 1; i < n; i++) assert_string_not_equal(all[i - 1], all[i]);

  /* every file whole: the list reads them all, each names itself */
  json_t *list = NULL;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_quarantine_list(dir, NULL, &list, err), 0);
  assert_int_equal(json_array_size(list), NTHREADS * QITEMS);
  for (int t = 0; t < NTHREADS; t++)
    for (int k = 0; k < QITEMS; k++) {
      char *path = dk_asprintf("%s/quarantine/city-%d/%s.json", dir, t, w[t].names[k]), *data;
      size_t len;
      assert_int_equal(dk_read_file(path, &data, &len, err), 0);
      json_t *e = json_loadb(data, len, 0, NULL);
      assert_non_null(e);
      assert_string_equal(json_string_value(json_object_get(e, "name")), w[t].names[k]);
      assert_int_equal(json_integer_value(json_object_get(e, "times")), 1);
      assert_null(strstr(data, SECRET));
      json_decref(e);
      free(data);
      free(path);
    }
  json_decref(list);

  /* seen again from 4 threads: the same names, no new file */
  struct qworker *again = dk_calloc(NTHREADS, sizeof *again);
  assert_int_equal(run_quarantine(dir, again), 0);
  for (int t = 0; t < NTHREADS; t++)
    for (int k = 0; k < QITEMS; k++) {
      assert_int_equal(again[t].rc[k], 0);
      assert_string_equal(again[t].names[k], w[t].names[k]);
    }
  assert_int_equal(dk_quarantine_list(dir, NULL, &list, err), 0);
  assert_int_equal(json_array_size(list), NTHREADS * QITEMS);
  json_decref(list);
  size_t removed;
  assert_int_equal(dk_quarantine_purge(dir, NULL, NULL, 0, &removed, err), 0);
  assert_int_equal(removed, NTHREADS * QITEMS);
  char *cmd = dk_asprintf("rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  free(all);
  free(again);
  free(w);
}

/* --- log ------------------------------------------------------------------- */

#define LOGLINES 400

static char *long_msg; /* a few KiB: more than one write() to a pipe holds atomically */

static void *log_thread(void *arg) {
  int t = (int)(intptr_t)arg;
  char th[8], seq[16];
  snprintf(th, sizeof th, "%d", t);
  for (int k = 0; k < LOGLINES; k++) {
    snprintf(seq, sizeof seq, "%d", k);
    dk_log(DK_LOG_WARN, "thread", th, "seq", seq, "record", "jnly-2024/12 临沂", NULL, "%s %s end", long_msg,
           SECRET);
  }
  return NULL;
}

static void test_log(void **state) {
  struct dk_buf b = {0};
  while (b.len < 3000) dk_buf_puts(&b, "济南—临沂对口合作 progress ");
  long_msg = dk_strdup(dk_buf_cstr(&b));
  dk_buf_free(&b);
  char path[] = "/tmp/dk-threads-log-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  assert_true(dup2(fd, 2) >= 0);
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, log_thread, (void *)(intptr_t)t), 0);
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);

  char *data, err[DK_ERRBUF_SIZE];
  size_t len;
  assert_int_equal(dk_read_file(path, &data, &len, err), 0);
  unlink(path);
  unsigned char seen[NTHREADS][LOGLINES] = {{0}};
  char *tail = dk_asprintf(" record=\"jnly-2024/12 临沂\" msg=\"%s " DK_REDACTED " end\"", long_msg);
  assert_true(len > 0 && data[len - 1] == '\n'); /* no line cut short at the end */
  size_t nlines = 0;
  for (char *line = data, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
    *nl = '\0';
    int t, k, used = 0;
    assert_int_equal(strncmp(line, "ts=", 3), 0);
    const char *lv = strstr(line, " level=warn thread=");
    assert_non_null(lv);
    assert_int_equal(sscanf(lv, " level=warn thread=%d seq=%d%n", &t, &k, &used), 2);
    assert_true(t >= 0 && t < NTHREADS && k >= 0 && k < LOGLINES);
    assert_string_equal(lv + used, tail);
    assert_int_equal(seen[t][k], 0);
    seen[t][k] = 1;
    nlines++;
  }
  assert_int_equal(nlines, NTHREADS * LOGLINES);
  free(tail);
  free(data);
  free(long_msg);
}

int main(void) {
  json_object_seed(0); /* as main() does, before any thread */
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_records),
    cmocka_unit_test(test_quarantine),
    cmocka_unit_test(test_log),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

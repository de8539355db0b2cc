/* Backoff and cron arithmetic: the pure parts of retries and scheduling. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "backoff.h"
#include "cron.h"
#include "scheduler.h"
#include "util.h"

static const struct dk_backoff B = {.base_ms = 1000, .cap_ms = 60000, .max_tries = 6};

static void test_full_jitter(void **state) {
  /* attempt n draws from [0, base * 2^(n-1)], capped */
  assert_int_equal(dk_backoff_delay(&B, 1, 0, 0.0), 0);
  assert_int_equal(dk_backoff_delay(&B, 1, 0, 0.5), 500);
  assert_true(dk_backoff_delay(&B, 1, 0, 0.9999) <= 1000);
  assert_int_equal(dk_backoff_delay(&B, 2, 0, 0.5), 1000);
  assert_int_equal(dk_backoff_delay(&B, 3, 0, 0.5), 2000);
  assert_int_equal(dk_backoff_delay(&B, 5, 0, 0.5), 8000);
  struct dk_backoff many = {.base_ms = 1000, .cap_ms = 60000, .max_tries = 100};
  assert_int_equal(dk_backoff_delay(&many, 40, 0, 0.5), 30000); /* capped at 60 s, no overflow */
  assert_true(dk_backoff_delay(&many, 99, 0, 0.9999) <= 60000);
  /* every draw stays in its window */
  for (unsigned a = 1; a < 6; a++)
    for (double r = 0; r < 1; r += 0.01) {
      int64_t d = dk_backoff_delay(&B, a, 0, r);
      assert_true(d >= 0 && d <= (int64_t)(1000u << (a - 1)));
    }
}

static void test_give_up_and_retry_after(void **state) {
  assert_int_equal(dk_backoff_delay(&B, 6, 0, 0.5), -1); /* six tries in all: five retries */
  assert_int_equal(dk_backoff_delay(&B, 0, 0, 0.5), -1);
  assert_int_equal(dk_backoff_delay(&B, 1, 30000, 0.5), 30000);   /* the server's wish wins */
  assert_int_equal(dk_backoff_delay(&B, 1, 3600000, 0.5), 60000); /* but not past the cap */
  assert_int_equal(dk_backoff_delay(&B, 5, 10, 0.5), 8000);       /* a shorter wish does not shorten */
}

static void test_retry_after_parse(void **state) {
  time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
  assert_int_equal(dk_retry_after_ms("120", now), 120000);
  assert_int_equal(dk_retry_after_ms(" 0", now), 0);
  assert_int_equal(dk_retry_after_ms("Wed, 21 Oct 2015 07:30:00 GMT", now), 120000);
  assert_int_equal(dk_retry_after_ms("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
  assert_int_equal(dk_retry_after_ms("soon", now), -1);
  assert_int_equal(dk_retry_after_ms("12s", now), -1);
  assert_int_equal(dk_retry_after_ms("Wed, 21 Oct 2015 07:30:00 CET", now), -1);
  assert_int_equal(dk_retry_after_ms(NULL, now), -1);
}

static void test_retryable(void **state) {
  assert_true(dk_http_retryable(0));
  assert_true(dk_http_retryable(429));
  assert_true(dk_http_retryable(500));
  assert_true(dk_http_retryable(503));
  assert_false(dk_http_retryable(404));
  assert_false(dk_http_retryable(401));
  assert_false(dk_http_retryable(200));
  assert_false(dk_http_retryable(304));
}

/* A local (Asia/Shanghai) time as time_t. */
static time_t at(int y, int mo, int d, int h, int mi) {
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_isdst = -1};
  return mktime(&tm);
}

static time_t next(const char *expr, time_t after) {
  struct dk_cron c;
  char err[DK_ERRBUF_SIZE];
  if (dk_cron_parse(expr, &c, err) != 0) fail_msg("%s: %s", expr, err);
  return dk_cron_next(&c, after);
}

static void test_cron_next(void **state) {
  /* every two hours on the hour */
  assert_int_equal(next("0 */2 * * *", at(2024, 6, 30, 17, 5)), at(2024, 6, 30, 18, 0));
  assert_int_equal(next("0 */2 * * *", at(2024, 6, 30, 18, 0)), at(2024, 6, 30, 20, 0)); /* strictly after */
  assert_int_equal(next("0 */2 * * *", at(2024, 12, 31, 23, 30)), at(2025, 1, 1, 0, 0));
  /* every quarter hour */
  assert_int_equal(next("*/15 * * * *", at(2024, 6, 30, 17, 5)), at(2024, 6, 30, 17, 15));
  /* weekdays at 9:30: after Friday 10:00 comes Monday (2024-07-01 is a Monday) */
  assert_int_equal(next("30 9 * * mon-fri", at(2024, 6, 28, 10, 0)), at(2024, 7, 1, 9, 30));
  /* lists and ranges with steps */
  assert_int_equal(next("0 8,12,17 * * *", at(2024, 6, 30, 12, 0)), at(2024, 6, 30, 17, 0));
  assert_int_equal(next("0 1-10/3 * * *", at(2024, 6, 30, 4, 30)), at(2024, 6, 30, 7, 0));
  /* 7 is Sunday too; 2024-06-30 is a Sunday */
  assert_int_equal(next("0 0 * * 7", at(2024, 6, 29, 12, 0)), at(2024, 6, 30, 0, 0));
  /* both day fields restricted: either matches (the 13th, or a Friday) */
  assert_int_equal(next("0 0 13 * 5", at(2024, 7, 1, 0, 0)), at(2024, 7, 5, 0, 0));
  assert_int_equal(next("0 0 13 * 5", at(2024, 7, 12, 1, 0)), at(2024, 7, 13, 0, 0));
  /* month names, and the end of the year */
  assert_int_equal(next("0 0 1 jan *", at(2024, 6, 30, 0, 0)), at(2025, 1, 1, 0, 0));
  /* 29 February: the next leap year */
  assert_int_equal(next("0 0 29 2 *", at(2024, 3, 1, 0, 0)), at(2028, 2, 29, 0, 0));
  /* never */
  assert_int_equal(next("0 0 30 2 *", at(2024, 1, 1, 0, 0)), (time_t)-1);
}

static void test_cron_errors(void **state) {
  static const struct { const char *expr, *msg; } cases[] = {
    {"* * *", "expected five fields (minute hour day month weekday), found 3"},
    {"* * * * * *", "found more"},
    {"60 * * * *", "minute: \"60\" is outside 0-59"},
    {"* 24 * * *", "hour: \"24\" is outside 0-23"},
    {"* * 0 * *", "day of month: \"0\" is outside 1-31"},
    {"* * * 13 *", "month: \"13\" is outside 1-12"},
    {"* * * * 8", "day of week: \"8\" is outside 0-7"},
    {"*/0 * * * *", "minute: \"*/0\": a step is a positive number"},
    {"5-1 * * * *", "minute: \"5-1\" is outside 0-59"},
    {"x * * * *", "minute: \"x\" is not a number or a name"},
    {"* * * foo *", "month: \"foo\" is not a number or a name"},
    {"1- * * * *", "minute: \"1-\": a range needs an end"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct dk_cron c;
    char err[DK_ERRBUF_SIZE] = "";
    assert_int_equal(dk_cron_parse(cases[i].expr, &c, err), DK_EINVAL);
    if (strstr(err, cases[i].msg) == NULL) fail_msg("\"%s\": \"%s\" lacks \"%s\"", cases[i].expr, err, cases[i].msg);
  }
}

static struct dk_sched_rule rule_of(const char *every, const char *cron) {
  struct dk_source_conf src = {.name = "s", .every = (char *)every, .cron = (char *)cron};
  struct dk_sched_rule r;
  char err[DK_ERRBUF_SIZE];
  assert_int_equal(dk_sched_rule(&src, &r, err), 0);
  return r;
}

#define MINUTE_MS 60000LL

static void test_sched_every(void **state) {
  struct dk_sched_rule r = rule_of("30m", NULL);
  assert_int_equal(r.every_ms, 30 * MINUTE_MS);
  assert_int_equal(rule_of("1500ms", NULL).every_ms, 1500);
  assert_int_equal(rule_of("2d", NULL).every_ms, 2 * 24 * 60 * MINUTE_MS);
  assert_int_equal(rule_of(NULL, NULL).every_ms, 30 * MINUTE_MS); /* neither: every 30 minutes */
  time_t now = at(2024, 6, 30, 17, 0);
  /* after a success: the interval, jittered within ±10 % */
  assert_int_equal(dk_sched_next_ms(&r, now, 0, 0.0), 27 * MINUTE_MS);
  assert_int_equal(dk_sched_next_ms(&r, now, 0, 0.5), 30 * MINUTE_MS);
  assert_true(dk_sched_next_ms(&r, now, 0, 0.999999) <= 33 * MINUTE_MS);
  /* after failures: doubling from the interval ... */
  assert_int_equal(dk_sched_next_ms(&r, now, 1, 0.5), 30 * MINUTE_MS);
  assert_int_equal(dk_sched_next_ms(&r, now, 2, 0.5), 60 * MINUTE_MS);
  assert_int_equal(dk_sched_next_ms(&r, now, 3, 0.5), 120 * MINUTE_MS);
  assert_int_equal(dk_sched_next_ms(&r, now, 4, 0.5), 240 * MINUTE_MS);
  /* ... capped at 6 hours */
  assert_int_equal(dk_sched_next_ms(&r, now, 5, 0.5), 360 * MINUTE_MS);
  assert_int_equal(dk_sched_next_ms(&r, now, 40, 0.5), 360 * MINUTE_MS);
  /* an interval longer than the cap is never shortened */
  struct dk_sched_rule daily = rule_of("1d", NULL);
  assert_int_equal(dk_sched_next_ms(&daily, now, 3, 0.5), 24 * 60 * MINUTE_MS);
}

static void test_sched_cron(void **state) {
  struct dk_sched_rule r = rule_of(NULL, "0 */2 * * *");
  assert_true(r.has_cron);
  time_t now = at(2024, 6, 30, 17, 5);
  /* the next slot, no jitter */
  assert_int_equal(dk_sched_next_ms(&r, now, 0, 0.9), 55 * MINUTE_MS);
  /* one failure keeps the next slot; then slots are skipped: 2 h, 4 h, ... */
  assert_int_equal(dk_sched_next_ms(&r, now, 1, 0.5), 55 * MINUTE_MS);
  assert_int_equal(dk_sched_next_ms(&r, now, 2, 0.5), 175 * MINUTE_MS);
  assert_int_equal(dk_sched_next_ms(&r, now, 3, 0.5), 295 * MINUTE_MS); /* 8 h, capped at 6 h */
  assert_true(dk_sched_next_ms(&r, now, 30, 0.5) <= 6 * 60 * MINUTE_MS);
  /* a bad expression is refused with the field */
  struct dk_source_conf bad = {.name = "s", .cron = "0 25 * * *"};
  struct dk_sched_rule out;
  char err[DK_ERRBUF_SIZE] = "";
  assert_int_equal(dk_sched_rule(&bad, &out, err), DK_EINVAL);
  assert_non_null(strstr(err, "hour"));
}

static void test_sched_first(void **state) {
  struct dk_sched_rule r = rule_of("30m", NULL);
  time_t now = at(2024, 6, 30, 17, 0);
  /* never run: at once, after at most a tenth of the interval (10 s cap) */
  assert_int_equal(dk_sched_first_ms(&r, now, 0, 0, 0.0), 0);
  assert_int_equal(dk_sched_first_ms(&r, now, 0, 0, 0.5), 5000);
  struct dk_sched_rule fast = rule_of("10s", NULL);
  assert_int_equal(dk_sched_first_ms(&fast, now, 0, 0, 0.5), 500);
  /* ran 10 minutes ago: keeps its rhythm */
  assert_int_equal(dk_sched_first_ms(&r, now, now - 600, 0, 0.5), 20 * MINUTE_MS);
  /* ran 2 hours ago: overdue, at once */
  assert_int_equal(dk_sched_first_ms(&r, now, now - 7200, 0, 0.0), 0);
  /* failed 3 times, last 10 minutes ago: the backoff (2 h) counts from then */
  assert_int_equal(dk_sched_first_ms(&r, now, now - 600, 3, 0.5), 110 * MINUTE_MS);
  /* a clock that went backwards: at once */
  assert_int_equal(dk_sched_first_ms(&r, now, now + 3600, 0, 0.0), 0);
  /* cron: a slot missed while down runs at once; otherwise the next slot */
  struct dk_sched_rule c = rule_of(NULL, "0 */2 * * *");
  time_t t = at(2024, 6, 30, 17, 5);
  assert_int_equal(dk_sched_first_ms(&c, t, at(2024, 6, 30, 15, 0), 0, 0.0), 0);
  assert_int_equal(dk_sched_first_ms(&c, t, at(2024, 6, 30, 16, 30), 0, 0.0), 55 * MINUTE_MS);
}

static void test_time_iso(void **state) {
  char buf[40];
  time_t t = at(2024, 6, 30, 17, 0);
  assert_string_equal(dk_time_iso(t, buf, sizeof buf), "2024-06-30T17:00:00+08:00");
  assert_int_equal(dk_time_parse_iso(buf), t);
  assert_int_equal(dk_time_parse_iso("2024-06-30T09:00:00Z"), t);
  assert_int_equal(dk_time_parse_iso("2024-06-30T09:00:00.250Z"), t);
  assert_int_equal(dk_time_parse_iso("2024-06-30T04:00-05:00"), t);
  assert_int_equal(dk_time_parse_iso("2024-06-30 17:00:00"), (time_t)-1);
  assert_int_equal(dk_time_parse_iso("2024-13-30T17:00:00Z"), (time_t)-1);
  assert_int_equal(dk_time_parse_iso("2024-06-30T17:00:00+08:00junk"), (time_t)-1);
  assert_int_equal(dk_time_parse_iso(NULL), (time_t)-1);
}

int main(void) {
  setenv("TZ", "Asia/Shanghai", 1);
  tzset();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_full_jitter),
    cmocka_unit_test(test_give_up_and_retry_after),
    cmocka_unit_test(test_retry_after_parse),
    cmocka_unit_test(test_retryable),
    cmocka_unit_test(test_cron_next),
    cmocka_unit_test(test_cron_errors),
    cmocka_unit_test(test_sched_every),
    cmocka_unit_test(test_sched_cron),
    cmocka_unit_test(test_sched_first),
    cmocka_unit_test(test_time_iso),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

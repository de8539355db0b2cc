/* Written by hand: no Debian C library parses five-field cron expressions
 * with day-of-month/day-of-week OR semantics and time zones as duikou needs. */
#include "cron.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const dk__mon_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dk__dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct {
  const char *name;
  int lo, hi;
  const char *const *names;
  int names_base;
} dk__fields[5] = {
  {"minute", 0, 59, NULL, 0},
  {"hour", 0, 23, NULL, 0},
  {"day of month", 1, 31, NULL, 0},
  {"month", 1, 12, dk__mon_names, 1},
  {"day of week", 0, 7, dk__dow_names, 0},
};

/* A number or a name at *p; advances *p. -1 when neither. */
static int dk__value(int f, const char **p) {
  const char *s = *p;
  if (isdigit((unsigned char)*s)) {
    int v = 0;
    while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
    *p = s;
    return v;
  }
  if (dk__fields[f].names) {
    int n = f == 3 ? 12 : 7;
    for (int i = 0; i < n; i++)
      if (strncasecmp(s, dk__fields[f].names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
        *p = s + 3;
        return i + dk__fields[f].names_base;
      }
  }
  return -1;
}

/* Parse one field into a bit set. */
static int dk__field(int f, const char *s, size_t len, uint64_t *bits, int *any, char *err) {
  char buf[128];
  if (len == 0 || len >= sizeof buf) return dk_failf(err, DK_EINVAL, "%s: empty or too long", dk__fields[f].name);
  memcpy(buf, s, len);
  buf[len] = '\0';
  int lo = dk__fields[f].lo, hi = dk__fields[f].hi;
  *bits = 0;
  *any = strcmp(buf, "*") == 0;
  char *save = NULL;
  for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    const char *p = item;
    int a, b, step = 1;
    if (*p == '*') {
      a = lo;
      b = hi;
      p++;
    } else {
      a = dk__value(f, &p);
      if (a < 0) return dk_failf(err, DK_EINVAL, "%s: \"%s\" is not a number or a name", dk__fields[f].name, item);
      b = a;
      if (*p == '-') {
        p++;
        b = dk__value(f, &p);
        if (b < 0) return dk_failf(err, DK_EINVAL, "%s: \"%s\": a range needs an end", dk__fields[f].name, item);
      }
    }
    if (*p == '/') {
      p++;
      const char *q = p;
      step = dk__value(0, &p);
      if (step <= 0 || p == q) return dk_failf(err, DK_EINVAL, "%s: \"%s\": a step is a positive number", dk__fields[f].name, item);
      if (b == a && item[0] != '*') b = hi; /* "5/15" means 5-hi/15 */
    }
    if (*p != '\0') return dk_failf(err, DK_EINVAL, "%s: \"%s\" is not understood", dk__fields[f].name, item);
    if (a < lo || b > hi || a > b)
      return dk_failf(err, DK_EINVAL, "%s: \"%s\" is outside %d-%d", dk__fields[f].name, item, lo, hi);
    for (int v = a; v <= b; v += step) *bits |= 1ULL << v;
  }
  return 0;
}

int dk_cron_parse(const char *expr, struct dk_cron *c, char *err) {
  memset(c, 0, sizeof *c);
  const char *p = expr;
  uint64_t bits[5];
  int any[5];
  for (int f = 0; f < 5; f++) {
    while (*p == ' ' || *p == '\t') p++;
    const char *start = p;
    while (*p && *p != ' ' && *p != '\t') p++;
    if (p == start) return dk_failf(err, DK_EINVAL, "expected five fields (minute hour day month weekday), found %d", f);
    int rc = dk__field(f, start, (size_t)(p - start), &bits[f], &any[f], err);
    if (rc != 0) return rc;
  }
  while (*p == ' ' || *p == '\t') p++;
  if (*p) return dk_failf(err, DK_EINVAL, "expected five fields (minute hour day month weekday), found more");
  c->minute = bits[0];
  c->hour = (uint32_t)bits[1];
  c->dom = (uint32_t)bits[2];
  c->month = (uint16_t)bits[3];
  c->dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
  c->dom_any = any[2];
  c->dow_any = any[4];
  return 0;
}

static int dk__day_ok(const struct dk_cron *c, const struct tm *tm) {
  int dom = (c->dom >> tm->tm_mday) & 1, dow = (c->dow >> tm->tm_wday) & 1;
  if (c->dom_any && c->dow_any) return 1;
  if (c->dom_any) return dow;
  if (c->dow_any) return dom;
  return dom || dow;
}

time_t dk_cron_next(const struct dk_cron *c, time_t after) {
  struct tm tm;
  time_t t = after - (after % 60) + 60; /* the next whole minute */
  time_t limit = after + (time_t)5 * 366 * 86400;
  localtime_r(&t, &tm);
  tm.tm_sec = 0;
  while (t <= limit) {
    if (!((c->month >> (tm.tm_mon + 1)) & 1)) {
      tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0;
    } else if (!dk__day_ok(c, &tm)) {
      tm.tm_mday++, tm.tm_hour = 0, tm.tm_min = 0;
    } else if (!((c->hour >> tm.tm_hour) & 1)) {
      tm.tm_hour++, tm.tm_min = 0;
    } else if (!((c->minute >> tm.tm_min) & 1)) {
      tm.tm_min++;
    } else {
      return t;
    }
    tm.tm_isdst = -1;
    t = mktime(&tm); /* normalises overflowing fields, and DST gaps */
    localtime_r(&t, &tm);
  }
  return (time_t)-1;
}

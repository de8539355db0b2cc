#include "backoff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int64_t dk_backoff_delay(const struct dk_backoff *b, unsigned attempt, uint64_t retry_after_ms, double rnd) {
  if (attempt == 0 || attempt >= b->max_tries) return -1;
  uint64_t ceiling = b->base_ms;
  for (unsigned i = 1; i < attempt && ceiling < b->cap_ms; i++) ceiling *= 2;
  if (ceiling > b->cap_ms) ceiling = b->cap_ms;
  if (rnd < 0) rnd = 0;
  if (rnd >= 1) rnd = 0.999999999;
  uint64_t d = (uint64_t)(rnd * (double)(ceiling + 1));
  if (retry_after_ms > d) d = retry_after_ms;
  if (d > b->cap_ms) d = b->cap_ms;
  return (int64_t)d;
}

static const char *const dk__months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int64_t dk_retry_after_ms(const char *v, time_t now) {
  if (v == NULL) return -1;
  while (*v == ' ') v++;
  if (*v >= '0' && *v <= '9') {
    char *end;
    unsigned long long s = strtoull(v, &end, 10);
    while (*end == ' ') end++;
    if (*end != '\0' || s > 86400ULL * 365) return -1;
    return (int64_t)s * 1000;
  }
  /* IMF-fixdate: "Wed, 21 Oct 2015 07:28:00 GMT" (the only form senders
   * must use; the obsolete ones are refused rather than guessed). */
  char wd[4], mon[4], tz[4];
  int day, year, hh, mm, ss;
  if (sscanf(v, "%3[A-Za-z], %d %3s %d %d:%d:%d %3s", wd, &day, mon, &year, &hh, &mm, &ss, tz) != 8 ||
      strcmp(tz, "GMT") != 0)
    return -1;
  int m = -1;
  for (int i = 0; i < 12; i++)
    if (strcasecmp(mon, dk__months[i]) == 0) m = i;
  if (m < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970) return -1;
  struct tm tm = {.tm_year = year - 1900, .tm_mon = m, .tm_mday = day, .tm_hour = hh, .tm_min = mm, .tm_sec = ss};
  time_t t = timegm(&tm);
  if (t <= now) return 0;
  return (int64_t)(t - now) * 1000;
}

int dk_http_retryable(long status) {
  return status == 0 || status == 429 || (status >= 500 && status <= 599);
}

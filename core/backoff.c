#include "backoff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

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
  /* An HTTP-date is in GMT (RFC 9110 5.6.7): a zone curl_getdate would
   * also take is refused rather than guessed. */
  size_t n = strlen(v);
  while (n > 0 && v[n - 1] == ' ') n--;
  if (n < 4 || strncmp(v + n - 4, " GMT", 4) != 0) return -1;
  time_t t = curl_getdate(v, NULL);
  if (t == -1) return -1;
  if (t <= now) return 0;
  return (int64_t)(t - now) * 1000;
}

int dk_http_retryable(long status) {
  return status == 0 || status == 429 || (status >= 500 && status <= 599);
}

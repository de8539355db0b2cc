/* Retry delays: exponential backoff with full jitter, honouring Retry-After.
 *
 * The engine owns retries; these are the pure computations, so that they can
 * be tested without clocks or servers. */
#ifndef DK_BACKOFF_H
#define DK_BACKOFF_H

#include <stdint.h>
#include <time.h>

struct dk_backoff {
  uint64_t base_ms;   /* first delay's ceiling (e.g. 1000) */
  uint64_t cap_ms;    /* no delay is longer (e.g. 300000) */
  unsigned max_tries; /* attempts in all, the first included (e.g. 5) */
};

/* The delay before retry number `attempt` (1 for the first retry): a uniform
 * random value in [0, min(cap, base * 2^(attempt-1))] ("full jitter"), drawn
 * from `rnd` (a value in [0, 1)). When the server asked for a delay
 * (retry_after_ms > 0), the delay is at least that, but never above cap.
 * Returns -1 when `attempt` is past max_tries: give up. */
int64_t dk_backoff_delay(const struct dk_backoff *b, unsigned attempt, uint64_t retry_after_ms, double rnd);

/* Parse a Retry-After value given as a string: delta-seconds ("120") or an
 * HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT", read by curl_getdate),
 * relative to `now`. Returns the delay in milliseconds (0 for a date in the
 * past), or -1 when it is neither. Responses do not need it: dk_http_res's
 * retry_after_ms is libcurl's reading (CURLINFO_RETRY_AFTER). */
int64_t dk_retry_after_ms(const char *value, time_t now);

/* Whether an HTTP outcome is worth retrying: connection errors and timeouts
 * (status 0), 5xx and 429. Other 4xx are not. */
int dk_http_retryable(long status);

#endif

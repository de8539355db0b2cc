/* Five-field cron expressions: minute, hour, day of month, month, day of
 * week, each a star, a number, a range `a-b`, a step (star, slash, n) or
 * `a-b/n`, or a comma list of those; months and days may be named (jan,
 * mon). Day of week 0 and 7 are Sunday. When both day fields are restricted,
 * a day matches when either does (as Vixie cron does). Times are local time
 * of the process's time zone (duikou sets TZ from the configuration, default
 * Asia/Shanghai). */
#ifndef DK_CRON_H
#define DK_CRON_H

#include <stdint.h>
#include <time.h>
#include "error.h"

struct dk_cron {
  uint64_t minute;   /* bit i: minute i */
  uint32_t hour;     /* bit i: hour i */
  uint32_t dom;      /* bit i: day i (1..31) */
  uint16_t month;    /* bit i: month i (1..12) */
  uint8_t dow;       /* bit i: weekday i (0 = Sunday) */
  int dom_any, dow_any;
};

/* Parse. Returns 0, or DK_EINVAL with err saying which field and why. */
int dk_cron_parse(const char *expr, struct dk_cron *out, char *err);
/* The first matching minute strictly after `after`, or (time_t)-1 when there
 * is none within the next five years (e.g. "0 0 30 2 *"). */
time_t dk_cron_next(const struct dk_cron *c, time_t after);

#endif

/* health: whether the data are healthy, for /healthz and /status.
 *
 * Not only the process: a source that missed its expected syncs (no success
 * within 2x its `every`, or across 2 of its cron slots; a source that never
 * succeeded once it failed twice), a source whose last round's share of
 * valid records fell more than status.health.valid_share_drop below its
 * usual (engine.c keeps both in the state file), open conflicts older than
 * health.conflict_max_age or more than health.conflict_max_open, the
 * repository not writable; with the exchange, a remote unreachable for
 * longer than health.remote_down_after and a site whose main differs from
 * this one's. Read from the state files and the repository only, so it
 * works without a daemon (libgit2 initialized: git_libgit2_init). */
#ifndef DK_HEALTH_H
#define DK_HEALTH_H

#include <time.h>
#include <jansson.h>
#include "config.h"

/* The reasons `cfg`'s data are unhealthy at `now`: a new JSON array of
 * strings, one line each, naming the source, remote or site and the
 * numbers; empty when healthy. A repository that cannot be read is a
 * reason too. The caller decrefs it. Never NULL. */
json_t *dk_health_check(const struct dk_config *cfg, time_t now);

/* "3d 4h", "25m", "40s": a duration for a reason line, into out (size n).
 * Returns out. */
char *dk_health_duration(long long secs, char *out, size_t n);

#endif

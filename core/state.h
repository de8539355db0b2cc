/* The per-source state file, state/sources/NAME.json: validators of the
 * last good response, the last attempt, success and failure, absences.
 * This module is its only reader and writer (the engine and the scheduler
 * go through it). Written atomically below the state folder, never through
 * a link (fsafe), and redacted: no secret reaches it. */
#ifndef DK_STATE_H
#define DK_STATE_H

#include <jansson.h>
#include "error.h"

/* The state of source `name` under `statedir`: a new object (empty when the
 * file is missing; a file that is not a JSON object is logged and taken as
 * empty). The caller owns the result. Never NULL. */
json_t *dk_state_load(const char *statedir, const char *name);

/* Save `state` for source `name`. Returns 0 or a DK_E* code with err
 * (DK_ERRBUF_SIZE) naming the path; the old file is then kept. */
int dk_state_save(const char *statedir, const char *name, const json_t *state, char *err);

struct dk_seen;
/* The table of what source `name` served (seen.h), from
 * state/sources/NAME.seen: an empty one when missing or unreadable (the
 * trouble logged). Never NULL; free with dk_seen_free. */
struct dk_seen *dk_state_load_seen(const char *statedir, const char *name);
/* Save it. Returns 0 or a DK_E* code with err. */
int dk_state_save_seen(const char *statedir, const char *name, const struct dk_seen *seen, char *err);

#endif

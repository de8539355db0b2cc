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
/* Save it whole (atomically). Returns 0 or a DK_E* code with err. */
int dk_state_save_seen(const char *statedir, const char *name, const struct dk_seen *seen, char *err);
/* Append n pairs (dk_seen_pair, 40 bytes each) to the file: what changed
 * since it was saved or last appended to. Returns 0 with *filed the pairs
 * the file now holds, or DK_ENOENT when there is no such file or it does
 * not end at a whole pair (then save it whole instead), or DK_EIO with err.
 * Not flushed to disk: a pair lost or cut short costs a parse. */
int dk_state_append_seen(const char *statedir, const char *name, const unsigned char *pairs, size_t n,
                         size_t *filed, char *err);

#endif

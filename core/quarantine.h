/* The quarantine: what a source sent that cannot be committed — records that
 * fail validation, and items its plugin could not turn into records — kept
 * in the state folder with their source, time, raw value and errors, so
 * that nothing is ever dropped silently.
 *
 * One file per distinct item: <state>/quarantine/<source>/<name>.json, where
 * name is the first 16 hex digits of the SHA-256 of the source and the raw
 * value. The same bad record sent every round is one entry whose last_seen
 * and times move, not a new file each time. Files are written atomically. */
#ifndef DK_QUARANTINE_H
#define DK_QUARANTINE_H

#include <stddef.h>
#include <time.h>
#include <jansson.h>
#include "error.h"

#define DK_QUARANTINE_NAME_LEN 16

struct dk_quarantine_item {
  const char *source, *city, *url; /* the source and the URL it came from */
  const char *where;  /* the record's id, or the plugin's place ("line 12", "/data/items/3") */
  const json_t *record; /* the record as received, or NULL (a refused item) */
  const char *raw;    /* the raw text of a refused item, or NULL */
  const json_t *errors; /* array of strings: "/percent: 120 is more than the maximum 100" */
};

/* Keep `item` in the quarantine under `statedir`. Writes the entry's name
 * into `name` (DK_QUARANTINE_NAME_LEN + 1 bytes). Returns 1 when the entry
 * is new, 0 when it was already there (now seen again), or DK_EIO with err.
 * Safe from several threads at once on different sources (names depend
 * only on source and content; temporary files have random names); two
 * concurrent puts of the same item may count one sighting instead of two. */
int dk_quarantine_put(const char *statedir, const struct dk_quarantine_item *item, char *name, char *err);

/* Every entry (of `source`, or of all sources when NULL), oldest first by
 * first_seen, as a new JSON array of the entry objects. Returns 0 or DK_EIO. */
int dk_quarantine_list(const char *statedir, const char *source, json_t **out, char *err);

/* The entry named `name` (unique across sources), as a new JSON object.
 * Returns 0, DK_ENOENT, or DK_EIO. */
int dk_quarantine_get(const char *statedir, const char *name, json_t **out, char *err);

/* Remove entries: the one named `name`, else those of `source`, else all;
 * with `before` > 0 only those last seen before it. *removed counts them.
 * Returns 0, DK_ENOENT (a name that is not there) or DK_EIO. */
int dk_quarantine_purge(const char *statedir, const char *name, const char *source, time_t before,
                        size_t *removed, char *err);

#endif

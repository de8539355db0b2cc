/* Canonical records: kinds, ids and where they live in the snapshot tree.
 *
 *   plan      jnly-2024                    plans/jnly-2024.json
 *   task      jnly-2024/12                 tasks/jnly-2024/12.json
 *   progress  jnly-2024/12/linyi/2024-06   progress/jnly-2024/12/linyi/2024-06.json
 *   unit      linyi/教育局                  units/linyi/教育局.json
 *
 * The path is always <folder>/<id>.json, so an id is one path and one path
 * is one id. Ids are lowercase ASCII segments [a-z0-9][a-z0-9._-]* joined by
 * '/'; the name segment of a unit may be any UTF-8 text without '/', control
 * characters or "..". An id that could escape its folder is refused, never
 * repaired. */
#ifndef DK_RECORD_H
#define DK_RECORD_H

#include <stddef.h>
#include <jansson.h>

enum dk_kind { DK_KIND_NONE = -1, DK_KIND_PLAN, DK_KIND_TASK, DK_KIND_PROGRESS, DK_KIND_UNIT, DK_KIND_COUNT };

/* An id segment (a unit's name included) takes at most this many bytes, so
 * that "<segment>.json" fits a file name of 255 bytes wherever the
 * repository is checked out. */
#define DK_RECORD_SEGMENT_MAX 250

/* Defaults of a source's `limits`: far above any real plan record. */
#define DK_RECORD_DEFAULT_DEPTH 32
#define DK_RECORD_DEFAULT_SIZE (1024L * 1024L)

/* A value a plugin could not hold as a JSON number (a 30-digit integer,
 * 1e999999) reaches the core as a string of this prefix and the number's
 * text (see DK_NUMBER_MARK in duikou/plugin.h); the record holding it is
 * refused by dk_record_check_shape, naming the number. */

/* "plan" -> DK_KIND_PLAN; DK_KIND_NONE when unknown. */
enum dk_kind dk_kind_from_name(const char *name);
const char *dk_kind_name(enum dk_kind kind);     /* "plan" */
const char *dk_kind_folder(enum dk_kind kind);   /* "plans" */

/* Check an id for a kind (segment count and characters). Returns 0, or
 * DK_EINVALID with err (DK_ERRBUF_SIZE) saying which rule is broken. */
int dk_record_check_id(enum dk_kind kind, const char *id, char *err);

/* The path of a record, "<folder>/<id>.json", and of its conflict document
 * on main, "conflicts/<kind>/<id>.json": the one definition of the layout.
 * The caller frees. */
char *dk_record_file(enum dk_kind kind, const char *id);
char *dk_record_conflict_file(enum dk_kind kind, const char *id);

/* Check the envelope of a record (an object with a known "kind" and a valid
 * "id") and give its path. Returns 0 and a malloc'd path in *path, or
 * DK_EINVALID with err naming the field and the rule. */
int dk_record_path(const json_t *record, char **path, char *err);

/* Check what a record is made of, before it is serialised or validated:
 * nesting no deeper than max_depth, a canonical form of at most max_size
 * bytes (counted, not written), no number a plugin marked out of range, no
 * NUL in a string, and no secret of the configuration (dk_redact). Returns
 * 0, or DK_EINVALID with err ("/extra/a: nested deeper than 32 levels
 * (limits.depth)") naming the place and the rule. */
int dk_record_check_shape(const json_t *record, int max_depth, long max_size, char *err);

/* The reverse: "tasks/jnly-2024/12.json" -> kind and id (malloc'd). Also
 * accepts a bare id with kind given by its shape ("jnly-2024/12" is a task).
 * Returns 0 or DK_EINVAL. */
int dk_record_parse_name(const char *name, enum dk_kind *kind, char **id);

#endif

/* What a source served, by the hash of each record's text as served: the
 * blob that text became. A source that serves its records in another form
 * than duikou's canonical one (compact, other key order) is known again
 * from this table without being parsed (emit->held): the text's hash gives
 * the blob, and the blob counts only if the source branch still holds it
 * at its path. Kept per source in state/sources/NAME.seen (state.c). */
#ifndef DK_SEEN_H
#define DK_SEEN_H

#include <stddef.h>
#include <git2.h>

struct dk_seen;

/* An empty table; never NULL. */
struct dk_seen *dk_seen_new(void);
void dk_seen_free(struct dk_seen *s);
/* The blob text `raw` became: 1 with *blob, or 0. */
int dk_seen_get(const struct dk_seen *s, const git_oid *raw, git_oid *blob);
/* Remember (or replace) what text `raw` became. */
void dk_seen_put(struct dk_seen *s, const git_oid *raw, const git_oid *blob);
size_t dk_seen_count(const struct dk_seen *s);
/* How many pairs the table's file holds, repeats and pairs no longer
 * served included (what dk_seen_parse read, then as the owner sets it
 * after appending or rewriting): a file much longer than the table is
 * rewritten whole. */
size_t dk_seen_filed(const struct dk_seen *s);
void dk_seen_filed_set(struct dk_seen *s, size_t n);

#define DK_SEEN_PAIR (2 * GIT_OID_RAWSZ)
/* One pair as the file holds it: raw then blob, 40 bytes. */
void dk_seen_pair(const git_oid *raw, const git_oid *blob, unsigned char out[DK_SEEN_PAIR]);
/* The table as bytes ("DKSEEN1\n", then 40 bytes a pair), malloc'd; and a
 * table from such bytes (an empty one when they are not such; pairs
 * appended later win over earlier ones, and a last pair cut short is left
 * out). */
unsigned char *dk_seen_dump(const struct dk_seen *s, size_t *len);
struct dk_seen *dk_seen_parse(const unsigned char *data, size_t len);

#endif

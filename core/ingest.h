/* Ingest: the round's records checked before anything is written. Each
 * record's shape (nesting, size, numbers, secrets) and envelope, then its
 * schema; the valid ones are kept by path for the source branch, the others
 * go to quarantine with their errors, logged with the source, the record,
 * the field and the rule. */
#ifndef DK_INGEST_H
#define DK_INGEST_H

#include "run.h"

enum dk__chg_kind {
  DK__CHG_REPORT,    /* the source says the record is theirs */
  DK__CHG_TOMBSTONE, /* the source says it is gone: merged like a change */
  DK__CHG_ABSENT     /* gone from delete_after full listings: main's record goes */
};

/* A changed record of this round: its path, what the source said before
 * (base, from its branch) and says now (theirs; NULL for a deletion). */
struct dk__chg {
  char *path;
  const struct dk__item *item; /* theirs' blob, prepared (NULL for a deletion) */
  enum dk__chg_kind kind;
  char *reason; /* of a deletion */
};

/* A valid record of the round, prepared off the loop: its canonical
 * bytes hashed and, unless the source branch holds them already, deflated
 * for the pack. A record the plugin knew the core held (emit->held) has no
 * rec. */
struct dk__item {
  char *path;        /* the round's, or the index's when path_borrowed */
  int path_borrowed;
  json_t *rec;       /* NULL for a held one */
  git_oid oid;       /* its blob */
  size_t size;       /* of the canonical bytes */
  unsigned char *z;  /* deflated blob; NULL when unchanged */
  size_t zlen;
  int unchanged;     /* the source branch holds exactly this at path */
  git_oid raw;       /* the hash of the text it was served as (has_raw) */
  int has_raw;
  int raw_filed;     /* that hash is in the .seen file already */
  struct dk__span span; /* where it was served (page 0: not known) */
};

/* What a round brought, stage by stage: ingest fills valid and invalid,
 * branch the changes, reconcile reads them. */
struct dk__round {
  struct dk__run *r;
  struct dk__item *items; /* this round's valid (or held) records, by path through slots */
  size_t nitems;
  size_t *slots, capslots; /* open addressing on the path's hash: index + 1, 0 free */
  json_t *invalid;    /* path -> true: listed, but invalid (kept as they were on the branch) */
  struct dk__chg *chg;
  size_t nchg, capchg;
  size_t quarantined;
};

/* Validate every record of the run into a new round (rd, to free with
 * dk__round_free): the valid ones by path (the later of two with one path
 * wins) with their blobs prepared, the others into quarantine. A record
 * whose blob the source branch holds at its path is not validated again,
 * unless r->revalidate (the schemas changed since). Runs on a worker
 * thread: it touches only the run, and reads the index's entries of its
 * own source. */
void dk__ingest(struct dk__run *r, struct dk__round *rd);
/* The item at path, or NULL. */
const struct dk__item *dk__round_item(const struct dk__round *rd, const char *path);
/* Whether the round holds a valid (or held) record at path. */
static inline int dk__round_has(const struct dk__round *rd, const char *path) {
  return dk__round_item(rd, path) != NULL;
}
/* Add a change to the round (path and reason copied; item borrowed from
 * the round). */
void dk__round_add(struct dk__round *rd, const char *path, const struct dk__item *item, enum dk__chg_kind kind,
                   const char *reason);
void dk__round_free(struct dk__round *rd);

#endif

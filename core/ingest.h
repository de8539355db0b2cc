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
  json_t *base, *theirs;
  enum dk__chg_kind kind;
  char *reason; /* of a deletion */
};

/* What a round brought, stage by stage: ingest fills valid and invalid,
 * branch the changes, reconcile reads them. */
struct dk__round {
  struct dk__run *r;
  json_t *valid;      /* path -> record, this round's valid records */
  json_t *invalid;    /* path -> true: listed, but invalid (kept as they were on the branch) */
  struct dk__chg *chg;
  size_t nchg, capchg;
  size_t quarantined;
};

/* Validate every record of the run into a new round (rd, to free with
 * dk__round_free): the valid ones by path (the later of two with one path
 * wins), the others into quarantine. */
void dk__ingest(struct dk__run *r, struct dk__round *rd);
/* Add a change to the round (path and reason copied; base and theirs
 * owned by the round from now on). */
void dk__round_add(struct dk__round *rd, const char *path, json_t *base, json_t *theirs, enum dk__chg_kind kind,
                   const char *reason);
void dk__round_free(struct dk__round *rd);

#endif

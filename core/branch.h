/* Branch: the source branch, refs/duikou/sources/<source>, holds exactly
 * what the source last said. A round puts its valid records there, removes
 * what a tombstone names and — after a full listing — what the source no
 * longer lists, and collects the changes with their base (what the source
 * said before) for reconcile. Absences from delete_after full listings in a
 * row become deletions. Also: the other sources' versions of a path, and the
 * repair of a run that died between main and its source branch. */
#ifndef DK_BRANCH_H
#define DK_BRANCH_H

#include "ingest.h"
#include "merge.h"
#include "store.h"

#define DK__SRC_PREFIX "refs/duikou/sources/"

/* Stage this round on the source branch (stx, a transaction on it) and
 * collect its changes into rd. Returns 0 or a DK_E* code (st->err). */
int dk__branch_update(struct dk__run *r, struct dk__round *rd, struct dk_txn *stx, int partial);

/* What every other configured source last said of `path` (from the index:
 * only the sources that hold it are read): fills others[]
 * and held[] (records owned by held[], NULL where a source does not hold
 * it; both sized for every source) and sets *n. Returns 0 or a DK_E* code
 * (then nothing is left to release). The caller releases held[0..*n). */
int dk__branch_others(struct dk__run *r, const char *path, struct dk_merge_other *others, json_t **held,
                      size_t *n);


/* A run that died after main merged its source commit but before the
 * source branch moved left the commit's id as `pending_source_commit` in
 * the state: when main holds it, move the branch there now; otherwise main
 * never moved and the commit is forgotten. Returns 0 or a DK_E* code. */
int dk__branch_repair(struct dk__run *r, const char *sref);

#endif

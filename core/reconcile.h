/* Reconcile: a round's changes merged into main, field by field (merge.c
 * holds the three-way merge and the policies). Base is what the source said
 * last time, ours is main, theirs is what it says now; every conflict is
 * written in the commit body, and the open ones in conflicts/<kind>/<id>.json
 * on main. */
#ifndef DK_RECONCILE_H
#define DK_RECONCILE_H

#include "ingest.h"
#include "record.h"
#include "store.h"
#include "util.h"

/* What a merge did, by kind, for the commit's summary. */
struct dk__tally {
  size_t added[DK_KIND_COUNT], changed[DK_KIND_COUNT], deleted[DK_KIND_COUNT];
  size_t conflicts, open;
};

/* Merge every change of the round into mtx, a transaction on main. The
 * record lines go to body, the conflicts to conf, the counts to tl; `when`
 * is the time written on conflicts opened now. Returns 0 or a DK_E* code
 * (the store's err says why): a failure stops the commit. */
int dk__reconcile(struct dk__run *r, struct dk__round *rd, struct dk_txn *mtx, struct dk_buf *body,
                  struct dk_buf *conf, struct dk__tally *tl, const char *when);

#endif

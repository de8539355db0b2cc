/* Commit messages: the first line summarises (`sync linyi-progress: 3 tasks
 * changed, 12 progress added, 1 conflict`), the body lists record-level
 * changes and conflicts, and trailers carry the provenance (source, city,
 * plugin, URL, fetch time, ETag, body hash, counts). Files hold data only;
 * all of this lives here. */
#ifndef DK_COMMITMSG_H
#define DK_COMMITMSG_H

#include "ingest.h"
#include "record.h"
#include "util.h"

/* What a merge did, by kind, for the commit's summary. */
struct dk__tally {
  size_t added[DK_KIND_COUNT], changed[DK_KIND_COUNT], deleted[DK_KIND_COUNT];
  size_t conflicts, open;
};
#include "store.h"

/* " 2 tasks changed, 1 progress added, 1 conflict (1 open)" (" no change"
 * when nothing is counted), appended to msg: a commit's first line. */
void dk__msg_summary(struct dk_buf *msg, const struct dk__tally *tl);

/* The first 200 lines of `lines` (one "<path>: …" a line) into msg, then
 * the rest counted by kind (`what`: "record", "conflict"): a commit of
 * 10,000 records stays a message a person reads, and `duikou diff` gives
 * the full list. */
void dk__lines_upto(struct dk_buf *msg, const struct dk_buf *lines, const char *what);

/* The source-branch commit's message into msg. */
void dk__msg_report(struct dk_buf *msg, struct dk__run *r, size_t changes, size_t quarantined, int partial);

/* main's merge commit message into msg: summary, partial note, body lines,
 * conflicts and trailers naming the source commit `shex`. */
void dk__msg_merge(struct dk_buf *msg, struct dk__run *r, const struct dk__tally *tl, const struct dk_buf *body,
                   const struct dk_buf *conf, size_t quarantined, int partial, const char *shex);

/* main's commit for n reports of one round (runs[i] with changes[i]
 * records changed on its branch) folded at once: no Duikou-Source, so
 * that the audit names, for each record, the report that changed it
 * (audit.h); the lines name every report, counted past 200. */
void dk__msg_group(struct dk_buf *msg, struct dk__run *const *runs, const size_t *changes, size_t n,
                   const struct dk__tally *tl, const struct dk_buf *body, const struct dk_buf *conf,
                   size_t quarantined);

/* Author (the source, its city) and committer (duikou) of a run's commits,
 * now, in the configured zone; the strings live in `names` (at least 512
 * bytes). */
void dk__msg_meta(struct dk__run *r, struct dk_commit_meta *meta, char *names, size_t n);

#endif

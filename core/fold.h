/* The fold: main as a pure function of its inputs.
 *
 * Inputs are first-parent histories: each source's branch (this site's
 * refs/duikou/sources/<s>, another site's refs/duikou/sites/<site>/sources/<s>)
 * and each site's resolutions ref. Every commit on an input's chain is an
 * event; all events are folded into main in one canonical total order, the
 * key
 *
 *   (effective time, site, type (0 report, 1 resolution), source, seq, commit hex)
 *
 * where effective time = max(commit time, effective time of the first
 * parent) and seq = the commit's depth on its chain (the root is 1), so that
 * an input's own order is kept when its clock goes back or two of its
 * commits share a second (the hex alone would reorder them). Two sites
 * holding the same inputs compute byte-identical main trees, whatever the
 * order in which the inputs arrived.
 *
 * A report, commit C of a source input: base = C's first parent's tree (empty
 * for a root), theirs = C's tree. Every record path that changed between them
 * is merged with dk_merge (ours = the fold's main, others = what every other
 * source input held at that path at its last commit folded so far). A path
 * C removed is only "no longer listed" and main keeps its record, unless C's
 * message says otherwise with a trailer line (one per path):
 *
 *   Duikou-Delete: <path>   a tombstone: merged (theirs absent), so it may
 *                           conflict when main changed the record since base
 *   Duikou-Absent: <path>   a configured absence (delete_after): main's
 *                           record goes, whoever changed it
 *
 * Conflicts open on a record live on main in conflicts/<kind>/<id>.json,
 * canonical JSON {"kind","id","path","fields":[entry...]}, one entry per open
 * conflict: {"field","source","site","city"(when known),"policy","opened_at",
 * "base","ours","theirs"} (a value absent on its side is left out), sorted
 * by (field, site, source). "opened_at" is the commit time of the event that
 * opened it, ISO-8601 UTC ("2024-06-30T08:00:00Z"), kept while the same
 * (site, source) leaves the same field open in later reports. A report
 * replaces its own (site, source) entries for the record by what it leaves
 * open; the file goes when no entry is left.
 *
 * A resolution, commit C of a resolutions input (dk_fold_resolution_commit
 * writes them): C's message has the trailer `Duikou-Resolve: <record path>`
 * and C's tree holds, at resolutions/<record path>, the canonical JSON
 *
 *   {"path": <record path>, "field": "status" | "units[x].role" | "" (the record),
 *    "how": "value" | "main" | "take", "value": <json> (how value),
 *    "site": <site>, "source": <source> (how take), "by": <operator>}
 *
 * (the tree keeps each record's latest resolution; the trailer says which
 * one this commit made). Folded: when the record has an open entry for that
 * field at that point of the fold, the choice is applied (value: the field
 * set to value; main: the fold's value kept; take: the `theirs` of the named
 * (site, source)'s entry) with dk_audit_field_set, as `duikou conflicts
 * resolve` does, and every entry of that field goes. Otherwise (no entry, a
 * take naming no entry, a field on a record main does not hold, a value that
 * would change the record's kind or id, a malformed resolution) it is a
 * no-op: a bad input never stops the fold, and every site skips it alike.
 *
 * Checkpoints: each main commit the fold makes carries trailers saying where
 * it stands,
 *
 *   Duikou-Fold: <input ref> <commit hex> <effective time> <seq>   (per input with something folded)
 *   Duikou-Fold-Key: <time> <site> <type> <source|-> <seq> <hex>   (the last event folded)
 *
 * and its tree is the canonical fold of exactly those commits. A main commit
 * without Duikou-Fold-Key is not a checkpoint. */
#ifndef DK_FOLD_H
#define DK_FOLD_H

#include <stddef.h>
#include <git2.h>
#include <jansson.h>

#include "index.h"
#include "merge.h"
#include "record.h"
#include "store.h"
#include "util.h"

#define DK_FOLD_TRAILER "Duikou-Fold"
#define DK_FOLD_KEY_TRAILER "Duikou-Fold-Key"
#define DK_FOLD_DELETE_TRAILER "Duikou-Delete"
#define DK_FOLD_ABSENT_TRAILER "Duikou-Absent"
#define DK_FOLD_RESOLVE_TRAILER "Duikou-Resolve"
#define DK_FOLD_RESOLUTIONS "resolutions/"
/* out->body describes the fields changed of this many changed records;
 * the lines after say only "<path>: changed" (a message lists no more). */
#define DK_FOLD_BODY_LINES 200

/* One path of a commit against its first parent, as dk_store_diff gives it. */
struct dk_fold_change {
  const char *path;
  enum dk_store_change how;
  git_oid old, neu; /* zeroed where there is none */
};

struct dk_fold_input {
  const char *ref;     /* "refs/duikou/sources/<s>", "refs/duikou/sites/<site>/sources/<s>", or a resolutions ref */
  const char *site;    /* the site that writes it ("jinan"); no spaces */
  const char *source;  /* the source's name (no spaces); NULL: a resolutions input */
  const char *city;    /* the source's city, for the owner policy; may be NULL */
  const git_oid *head; /* NULL: where ref points (absent ref: no events); else fold this head */
  size_t ix1;          /* 1 + this ref's number in the index given to dk_fold; 0: not in it */
  const struct dk_fold_change *changes; /* with head: what head changed against its first parent, in path */
  size_t nchanges;                      /* order (the engine knows it: no tree diff for it); NULL: diffed */
};

/* An event's place in the canonical order. Strings are borrowed. */
struct dk_fold_key {
  git_time_t time;    /* effective time */
  const char *site;
  int type;           /* 0 report, 1 resolution */
  const char *source; /* NULL for a resolution */
  unsigned long seq;  /* depth on the input's first-parent chain, root 1 */
  char hex[41];
};

/* <0, 0, >0 as a sorts before, with, after b in the canonical order (NULL
 * and "" sources compare equal). */
int dk_fold_key_cmp(const struct dk_fold_key *a, const struct dk_fold_key *b);
/* Append the key as the Duikou-Fold-Key value writes it (no newline). */
void dk_fold_key_format(const struct dk_fold_key *k, struct dk_buf *b);

/* Where a main commit stands. */
struct dk_fold_pos {
  char *ref;
  git_oid commit;      /* the input's last commit folded */
  git_time_t etime;    /* its effective time */
  unsigned long seq;   /* its depth */
};
struct dk_fold_point {
  struct dk_fold_pos *pos;
  size_t npos;
  int has_from;           /* a delta: the lines below update where commit `from` stands */
  git_oid from;
  unsigned depth;         /* how many deltas lead here from a full list (0: this is one) */
  int has_key;            /* 0: not a checkpoint (no Duikou-Fold-Key, or a malformed one) */
  struct dk_fold_key key; /* its strings point into keytext */
  char *keytext;
};

/* A checkpoint lists every input only every DK_FOLD_FULL_EVERY commits;
 * in between, `Duikou-Fold-From: <main commit> <depth>` and the inputs that
 * moved since it (a main commit of 1,000 sources stays small). */
#define DK_FOLD_FROM_TRAILER "Duikou-Fold-From"
#define DK_FOLD_FULL_EVERY 32

/* Parse a commit message's Duikou-Fold and Duikou-Fold-Key lines into *out
 * (empty, has_key 0, when it has none; a malformed Duikou-Fold line makes it
 * no checkpoint). Free with dk_fold_point_free. Never fails. */
void dk_fold_point_parse(const char *message, struct dk_fold_point *out);
/* The same, with the deltas resolved: the positions of the commits a
 * Duikou-Fold-From names folded in (has_from 0 after; depth kept). A base
 * that cannot be read or is no checkpoint makes it none. Returns 0 or
 * DK_EGIT with st->err. */
int dk_fold_point_load(struct dk_store *st, const char *message, struct dk_fold_point *out);
/* The same for main commit `main_commit`. Returns 0 or DK_EGIT with st->err. */
int dk_fold_point_read(struct dk_store *st, const git_oid *main_commit, struct dk_fold_point *out);
void dk_fold_point_free(struct dk_fold_point *p);
/* Append p's trailer lines (Duikou-Fold sorted by ref, then Duikou-Fold-Key
 * when has_key), each ending in '\n'. */
void dk_fold_point_write(const struct dk_fold_point *p, struct dk_buf *b);

/* Append one resolution (the JSON above; "path" and "field" strings, "how"
 * one of the three with what it needs, "by" a string; "site" and "source"
 * strings when given) to resolutions ref `ref` as one commit by
 * compare-and-swap: meta's message (NULL: "resolve <path> <field>") with the
 * Duikou-Resolve trailer added. Returns 1 with *out, DK_EINVAL (a malformed
 * resolution), DK_EEXIST (the ref moved meanwhile: read it and try again) or
 * DK_EGIT, with st->err. */
int dk_fold_resolution_commit(struct dk_store *st, const char *ref, const json_t *resolution,
                              const struct dk_commit_meta *meta, git_oid *out);

struct dk_fold_out {
  struct dk_buf body;     /* one line per record path whose main value changes vs main_tip's tree
                           * (the fields changed: DK_FOLD_BODY_LINES of them) */
  struct dk_buf conf;     /* one line per conflict met in the events folded now ("<site>/<source>") */
  struct dk_buf trailers; /* the Duikou-Fold lines for the commit */
  size_t events, conflicts, open; /* events folded now; conflicts met in them; of those, left open */
  size_t resolved;        /* resolutions folded now that applied (the others were no-ops) */
  size_t added[DK_KIND_COUNT], changed[DK_KIND_COUNT], deleted[DK_KIND_COUNT]; /* vs main_tip's tree */
  int refolded;           /* 1: a late input (or a rewritten one) made it start before main_tip */
};
void dk_fold_out_free(struct dk_fold_out *out);

/* Fold into mtx, a transaction on main whose base is main_tip (none: an
 * empty main), every event main_tip has not folded (per its trailers), in
 * canonical order: from main_tip when every new event sorts after its key,
 * else from the newest earlier first-parent main commit for which that holds
 * (refolded = 1), else from the empty tree; mtx then holds exactly the
 * canonical fold of all inputs (its differences from main_tip's tree staged).
 * A checkpoint is unusable when it names a ref that is no input, or a commit
 * its input's history no longer holds (rewritten): an earlier one, or the
 * empty tree, is used; not an error. A main commit without Duikou-Fold-Key
 * (one `duikou conflicts resolve` made before the fold, say) is no
 * checkpoint, and what it changed is not kept: main is the inputs' fold.
 *
 * Cost, when every new event sorts last: one read of main_tip's message,
 * each input's ref, the new commits; per new report a tree diff against its
 * parent and per changed record path main's blob (the index when it is at
 * main_tip), the conflict file's, and only when main holds the record the
 * three versions and the other inputs' (the index where it is at the commit
 * folded). in[].ix1 and ix (may be NULL) wire the index.
 *
 * Commit mtx when it has changes or out->trailers differ from main_tip's,
 * with out->trailers as the message's last paragraph. Returns 0 with *out
 * filled (free with dk_fold_out_free, also on failure), or a DK_E* code with
 * st->err: DK_EINVAL (an input without ref or site), DK_EINVALID (a source
 * commit's record that is not JSON, a merge refused), DK_EGIT. */
int dk_fold(struct dk_store *st, const struct dk_reconcile *rc, const struct dk_fold_input *in, size_t n,
            struct dk_txn *mtx, struct dk_index *ix, struct dk_fold_out *out);

#endif

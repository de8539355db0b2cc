/* The field-level three-way merge of one record into `main`. Pure: no I/O,
 * no clock; the caller reads the three versions and writes the result.
 *
 * base   = what the incoming source said last time (its source branch;
 *          NULL: it never said it)
 * ours   = the record on main now (NULL: absent)
 * theirs = what the source says now (NULL with `tombstone`: the source
 *          explicitly deletes it; a record merely missing from a listing is
 *          never merged)
 *
 * Equality is JSON equality with numbers compared by value (60 and 60.0 are
 * the same, as in the canonical form), so a record read back from git equals
 * the one a plugin built.
 *
 * Record level:
 * - theirs, no ours, no base: add theirs.
 * - theirs, no ours, base (main deleted it meanwhile): theirs equal to base
 *   → stays deleted; otherwise a record-level conflict; theirs winning
 *   re-adds it.
 * - tombstone, no ours: nothing to do.
 * - tombstone, ours equal to base: delete.
 * - tombstone, ours changed since base, or no base (the record on main is
 *   then someone else's): a record-level conflict; theirs winning deletes.
 * - theirs and ours: the field merge below, with a missing base taken as {}.
 * A record-level conflict has field "" (shown as "(record)") and is settled
 * by the record kind's policy.
 *
 * Field merge, for every member in the union of base/ours/theirs (b, o, t,
 * any absent), in key order; `kind` and `id` must agree and never conflict:
 * - t equals b → keep o;  o equals b → take t (t absent: removed);
 *   o equals t → keep it;
 * - otherwise, o and t objects (b an object or absent) → the same merge one
 *   level down, fields named "section.title";
 * - otherwise a keyed array (dk__keyed in merge.c: `milestones` by `id`,
 *   `units` by `name`; every element an object with a string key, keys
 *   unique) → merged element by element: added on one side → kept; deleted on
 *   one side and unchanged on the other → deleted; deleted on one side and
 *   changed on the other → a conflict on the element ("units[临沂市教育局]");
 *   changed on both → the merge inside the element
 *   ("units[临沂市教育局].role", "milestones[m1].done"). Result order: ours',
 *   then the elements new to main in theirs' order;
 * - anything else (another array, a type change, scalars) → a conflict on
 *   the value as a whole.
 *
 * A conflict is settled by the policy for (kind, top-level field), see
 * dk_reconcile_policy:
 * - owner: the record's `city` (theirs', else ours') owns it; the incoming
 *   source wins when its city is that city, main stays otherwise. A record
 *   without a city (plan, task) is settled by `latest` instead, and the
 *   conflict says `latest`.
 * - latest: the records' `updated_at` (else `reported_at`) compared as
 *   instants; theirs strictly newer wins; older, equal, missing or unparsable
 *   → main stays. A tombstone has no time: main stays.
 * - priority: the incoming source's rank against the best rank among the
 *   other sources whose record holds main's value at that field (who stands
 *   behind main's value; a source without the record stands behind nothing).
 *   Nobody → main stays (a person set it). Strictly better rank wins; an
 *   unlisted source ranks after every listed one; a tie → main stays.
 * - manual: main stays and the conflict is left open.
 * Without configuration the policy is `latest`: it settles most conflicts
 * without anyone's help and never lets an older report overwrite a newer
 * one. */
#ifndef DK_MERGE_H
#define DK_MERGE_H

#include <stddef.h>
#include <jansson.h>

enum dk_policy { DK_POLICY_OWNER, DK_POLICY_LATEST, DK_POLICY_PRIORITY, DK_POLICY_MANUAL };

/* Parse "owner" | "latest" | "priority" | "manual". Returns 0 or DK_EINVAL. */
int dk_policy_parse(const char *s, enum dk_policy *out);
/* "owner", ...; "unknown" for a value outside the enum. Never NULL. */
const char *dk_policy_name(enum dk_policy p);

/* The `reconcile` configuration in typed form. */
struct dk_reconcile;

/* Build from the configuration's `reconcile` mapping (NULL: every policy
 * `latest`, no priority list). Checks policy names, `kinds` keys (plan, task,
 * progress, unit), `fields` keys ("kind.field"), `priority` (unique source
 * names) and refuses unknown keys. Returns 0 with *out to free with
 * dk_reconcile_free, or DK_ECONFIG with err (DK_ERRBUF_SIZE) naming the
 * member at fault. */
int dk_reconcile_new(const json_t *conf, struct dk_reconcile **out, char *err);
void dk_reconcile_free(struct dk_reconcile *rc);

/* The policy for a top-level field of a kind: fields["kind.field"], else
 * kinds[kind], else the default. top_field NULL or "": the record as a
 * whole (kinds, else default). rc NULL: `latest`. */
enum dk_policy dk_reconcile_policy(const struct dk_reconcile *rc, const char *kind, const char *top_field);
/* 0-based rank of a source in `priority`, or -1 when it is not listed. */
int dk_reconcile_rank(const struct dk_reconcile *rc, const char *source);

/* What another source last said of the record (its source branch). */
struct dk_merge_other {
  const char *source;
  const char *city;
  const json_t *record; /* NULL: that source does not hold the record */
};

struct dk_merge_in {
  const struct dk_reconcile *rc;      /* NULL: every policy `latest` */
  const char *source, *city;          /* the incoming source and its city (city may be NULL) */
  const json_t *base, *ours, *theirs; /* borrowed; any may be NULL (see above) */
  int tombstone;                      /* with theirs NULL: the source deletes the record */
  const char *tombstone_reason;       /* or NULL; not used by the merge, carried for the caller */
  const struct dk_merge_other *others;
  size_t nothers;
};

struct dk_merge_conflict {
  char *field;                 /* "status", "section.title", "units[x].role"; "" for the record */
  json_t *base, *ours, *theirs; /* deep copies; NULL for absent */
  enum dk_policy policy;       /* the policy that settled it */
  char *winner;                /* "main", the incoming source's name, or "open" (manual) */
};

/* One value main changes, named where the rule settled it: a field the
 * source alone changed is one change even when it is an object or a unit
 * ("section", "units[x]"); "" when the whole record is added or deleted. */
struct dk_merge_change {
  char *field;
  json_t *from, *to; /* deep copies, as main sees them; NULL for absent */
};

enum dk_merge_action { DK_MERGE_NONE, DK_MERGE_ADD, DK_MERGE_CHANGE, DK_MERGE_DELETE };

struct dk_merge_out {
  json_t *merged;              /* the record main should hold (NULL: absent); owned */
  enum dk_merge_action action; /* NONE exactly when merged equals ours */
  struct dk_merge_conflict *conflicts; /* every conflict, settled or open, in field order */
  size_t nconflicts;
  size_t open;                 /* conflicts left open (manual) */
  struct dk_merge_change *changes; /* every value main changes, in field order */
  size_t nchanges;
};

/* Merge. Returns 0 with *out filled (free it with dk_merge_out_free), or
 * DK_EINVAL with err (DK_ERRBUF_SIZE) when the input breaks the contract
 * (no source, theirs and tombstone both or neither, a version that is not an
 * object with a known `kind` and a string `id`, versions of different
 * records); *out is then empty. */
int dk_merge(const struct dk_merge_in *in, struct dk_merge_out *out, char *err);
/* Free what out holds and empty it; safe on an emptied out. */
void dk_merge_out_free(struct dk_merge_out *out);

/* JSON equality with numbers compared by value (60 read back from a
 * canonical file is the 60.0 a plugin parsed); NULL equals only NULL. The
 * one equality of records everywhere: merge, audit, commit bodies. */
int dk_json_same(const json_t *a, const json_t *b);
/* The member identifying the elements of array member `field` ("units" →
 * "name", "milestones" → "id"), or NULL when it is not a keyed array. */
const char *dk_merge_key_of(const char *field);

#endif

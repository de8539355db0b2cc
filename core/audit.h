/* The audit trail: what the snapshot repository says about a record's past.
 *
 * `main`'s first-parent history is the reconciled view (a sync commit's
 * second parent is the source-branch commit it merges), so every walk here
 * follows first parents only. The source of a commit is its Duikou-Source
 * trailer, else its author's name (an operator's resolution).
 *
 * Records are compared as parsed JSON, field by field, with the names the
 * merge uses (merge.h): top-level "status"; nested "section.title"; elements
 * of the keyed arrays (`units` by `name`, `milestones` by `id`) as
 * "units[济南市教育局].role" or, for a whole element, "units[济南市教育局]";
 * any other array is one value; "" is the record as a whole. Values compare
 * with dk_json_same (merge.h): numbers by value (60 and 60.0 are equal).
 *
 * The repository is only read here; conflict resolution (resolve.h), which
 * commits a conflict's resolution through a store transaction. libgit2
 * errors are copied into the err buffers at once (they are thread-local). */
#ifndef DK_AUDIT_H
#define DK_AUDIT_H

#include <stddef.h>
#include <time.h>
#include <git2.h>
#include <jansson.h>

#include "error.h"
#include "record.h"
#include "store.h"


struct dk_audit {
  struct dk_store *st; /* opened for reading only */
  char *path;
  char err[DK_ERRBUF_SIZE];
};

/* Open the repository at `path` for reading; never creates it. Returns 0
 * with *out (close with dk_audit_close), DK_ENOENT when there is no
 * repository at `path`, or DK_EGIT; err (DK_ERRBUF_SIZE) names the path. */
int dk_audit_open(const char *path, struct dk_audit **out, char *err);
void dk_audit_close(struct dk_audit *a);

/* A record named by id ("jnly-2024/12", kind by its shape) or by path
 * ("tasks/jnly-2024/12.json"): its path, kind and id, all malloc'd for the
 * caller (id may be NULL when not wanted). Returns 0 or DK_EINVAL with err. */
int dk_audit_record_name(const char *name, char **path, enum dk_kind *kind, char **id, char *err);
/* A record named as above, or by its conflict file's path: the record's
 * path, kind and id and the conflict file's path (malloc'd). Returns 0 or
 * DK_EINVAL with err. */
int dk_audit_conflict_name(const char *name, char **record_path, enum dk_kind *kind, char **id, char **file,
                           char *err);

/* Parse a DATE: "YYYY-MM-DD" (the end of that day, local time) or RFC 3339.
 * Returns 1 with *t set, 0 when `s` does not look like a date at all (a
 * revision, then), or DK_EINVAL when it looks like one but is not valid. */
int dk_audit_parse_date(const char *s, time_t *t);

/* The commit `spec` names: a DATE (the last commit of main's first-parent
 * history whose committer time is at or before it) or anything
 * git_revparse_single takes ("main~3", a commit id). Returns 0, DK_ENOENT
 * (no such revision, nothing at or before the date, no main), DK_EINVAL (a
 * malformed date or revision, or not a commit) or DK_EGIT; a->err says why. */
int dk_audit_resolve_rev(struct dk_audit *a, const char *spec, git_oid *out);
/* Where main points. Returns 0, DK_ENOENT (no main yet) or DK_EGIT. */
int dk_audit_main(struct dk_audit *a, git_oid *out);

/* What the audit shows of a commit. */
struct dk_audit_commit {
  git_oid oid;
  char hex[GIT_OID_HEXSZ + 1];
  git_time_t time;    /* committer time */
  char *source;       /* Duikou-Source, else the author's name */
  char *city;         /* Duikou-City, or NULL */
  char *author;       /* author name */
  char *summary;      /* first line of the message */
};
/* Fill *out for commit `oid`. Returns 0 or DK_EGIT (a->err). Clear with
 * dk_audit_commit_clear. */
int dk_audit_commit_info(struct dk_audit *a, const git_oid *oid, struct dk_audit_commit *out);
void dk_audit_commit_clear(struct dk_audit_commit *c);

/* The record at `path` in commit `commit`. Returns 0 with *record (a new
 * reference; a blob that is not JSON is given as a string holding its text)
 * and, when blob is not NULL, its blob id; DK_ENOENT when absent, DK_EGIT. */
int dk_audit_read(struct dk_audit *a, const git_oid *commit, const char *path, json_t **record, git_oid *blob);

/* The fields of a record (the leaves, named as above, in key order with
 * keyed-array elements in array order; an empty object or array is a leaf),
 * as a new object: name -> value (borrowed into the object). A value that is
 * not an object is the single field "". */
json_t *dk_audit_flatten(const json_t *record);

/* What changed from `old` to `neu`, field by field, at the coarsest level
 * where one side lacks the field (a unit added is "units[X]", not each of
 * its members): a new array of {"field", "old", "new"}, "old"/"new" left out
 * when that side has no value. Either side may be NULL (absent): then one
 * change of field "". Equal values give an empty array. */
json_t *dk_audit_changes(const json_t *old, const json_t *neu);

/* The value at field `field` of `record` (borrowed), or NULL when the record
 * has no such field. "" is the record itself. */
json_t *dk_audit_field_get(const json_t *record, const char *field);
/* Set field `field` of *record to `value` (stolen; NULL removes the field).
 * Missing objects and keyed-array elements on the way are created. For ""
 * the record itself is replaced (*record may become NULL). Returns 0 or
 * DK_EINVAL with err (a malformed name, a member on the way that is not an
 * object or not a keyed array). */
int dk_audit_field_set(json_t **record, const char *field, json_t *value, char *err);


/* One change of a record on main. */
enum dk_audit_action { DK_AUDIT_ADDED, DK_AUDIT_CHANGED, DK_AUDIT_DELETED };
const char *dk_audit_action_name(enum dk_audit_action a); /* "added", "changed", "deleted" */

struct dk_audit_entry {
  struct dk_audit_commit commit;
  enum dk_audit_action action;
  json_t *changes; /* dk_audit_changes of the two versions (owned) */
};

/* The history of `path` along the first parents of `from`, newest first:
 * one entry per commit whose version of the path differs from its first
 * parent's, at most `limit` (0: all). Returns 0 with *entries (free with
 * dk_audit_entries_free; *n may be 0) or DK_EGIT. */
int dk_audit_log(struct dk_audit *a, const git_oid *from, const char *path, size_t limit,
                 struct dk_audit_entry **entries, size_t *n);
void dk_audit_entries_free(struct dk_audit_entry *entries, size_t n);

/* The commit of `from`'s first-parent history that wrote the version of
 * `path` that `from` holds. Returns 0, DK_ENOENT (absent at `from`), DK_EGIT. */
int dk_audit_last_change(struct dk_audit *a, const git_oid *from, const char *path, git_oid *out);

/* Who last changed each field of the record at `path` as of `from`. */
struct dk_audit_blame {
  char *field;
  json_t *value;              /* owned */
  struct dk_audit_commit commit;
};
/* Walks first parents only while some field is unattributed, and stops at
 * the commit that added the record (which gets every field still
 * unattributed). Returns 0 with *record (new reference) and *lines in
 * dk_audit_flatten order (free with dk_audit_blame_free), DK_ENOENT when the
 * record is absent at `from`, or DK_EGIT. */
int dk_audit_blame_record(struct dk_audit *a, const git_oid *from, const char *path, json_t **record,
                          struct dk_audit_blame **lines, size_t *n);
void dk_audit_blame_free(struct dk_audit_blame *lines, size_t n);

/* One path that differs between two trees. `kind` is DK_KIND_NONE for a
 * path that is not a record: `conflict` is then 1 for an open-conflict file
 * (conflicts/…), 0 for anything else. */
struct dk_audit_delta {
  char *path;
  enum dk_kind kind;
  int conflict;
  char *id;                     /* the record's id, or NULL */
  enum dk_audit_action action;
  json_t *changes;              /* for a changed record, else NULL (owned) */
};
/* Every path that differs from commit `from` to commit `to`, in path order
 * (git_diff_tree_to_tree, no rename detection). Returns 0 with *deltas (free
 * with dk_audit_deltas_free) or DK_EGIT. */
int dk_audit_diff(struct dk_audit *a, const git_oid *from, const git_oid *to, struct dk_audit_delta **deltas,
                  size_t *n);
void dk_audit_deltas_free(struct dk_audit_delta *deltas, size_t n);

/* The open conflicts at commit `at`: a new array of the conflict documents
 * in path order, each with "file" (its path) added. A file that is not a
 * JSON object is given as {"file", "error"}. Returns 0 or DK_EGIT. */
int dk_audit_conflicts(struct dk_audit *a, const git_oid *at, json_t **list);

#endif

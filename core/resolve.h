/* Conflict resolution: `duikou conflicts resolve` settles fields of an
 * open conflict on main with one commit, written through the store. The
 * one module besides the engine that writes to the repository. */
#ifndef DK_RESOLVE_H
#define DK_RESOLVE_H

#include <jansson.h>
#include "config.h"
#include "store.h"

/* How a conflict is settled. */
enum dk_resolve_how { DK_RESOLVE_TAKE, DK_RESOLVE_MAIN, DK_RESOLVE_VALUE };

struct dk_resolve_req {
  const char *name;         /* the record (id or path) or its conflict file */
  const char *field;        /* NULL: every field of the conflict */
  enum dk_resolve_how how;
  const char *source;       /* DK_RESOLVE_TAKE: whose `theirs` to take */
  const json_t *value;      /* DK_RESOLVE_VALUE (borrowed) */
  const char *by;           /* the operator: author of the commit */
  git_time_t when;          /* 0: now */
  const struct dk_config *cfg; /* the site and its reconcile policies (NULL: no site, `latest`) */
};

struct dk_resolve_result {
  char *path, *file;        /* the record's and its conflict file's paths */
  git_oid commit;           /* main's commit that applies it */
  git_oid input;            /* the last resolution commit on refs/duikou/resolutions */
  json_t *applied;          /* [{"field", "old", "new"}]: old = main before, new = after (owned) */
  json_t *remaining;        /* fields still open (owned array of strings) */
  char *resolution;         /* "take <source>", "keep main" or "value" (the Duikou-Resolution trailer) */
  char *message;            /* the commit message */
};

/* Settle fields of a record's open conflict on main (see `duikou conflicts
 * resolve` in README.md): the choice, checked against the record's schema
 * on main as it is, becomes an input of this site — one commit per field
 * on refs/duikou/resolutions, authored by the operator, that the other
 * sites fold too — and main is folded again (converge.h): the choice
 * applied, the settled entries removed from the conflict file (the file
 * removed when none remain), one commit on main by compare-and-swap. Returns 0 with *res filled (clear it with
 * dk_resolve_result_clear), or with st->err saying why: DK_EINVAL (a bad
 * name, no open conflict on the record, no such field or source in it, a
 * --value for "" that is not this record), DK_EINVALID (the result fails the
 * schema), DK_ENOENT (no main, or a field chosen on a record main no longer
 * holds), DK_EEXIST (main moved twice), DK_EGIT. */
int dk_resolve(struct dk_store *st, const struct dk_resolve_req *req, struct dk_resolve_result *res);
void dk_resolve_result_clear(struct dk_resolve_result *res);

#endif

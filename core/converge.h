/* What main is folded from: every source branch this repository holds
 * (this site's, refs/duikou/sources/*, and the other sites',
 * refs/duikou/sites/<site>/sources/*) and every site's resolutions; and the
 * commit that brings main to their canonical fold (fold.h) after an
 * exchange brought new inputs. Inputs are what the repository holds, not
 * what the configuration lists, so that two sites holding the same refs
 * fold the same main. */
#ifndef DK_CONVERGE_H
#define DK_CONVERGE_H

#include <jansson.h>
#include "config.h"
#include "fold.h"
#include "index.h"
#include "store.h"

/* The site name of an instance with no `site:`. */
#define DK_LOCAL_SITE "local"

struct dk_inputs {
  struct dk_fold_input *v;
  size_t n;
  char **owned; /* the strings v points to */
  size_t nowned;
  git_oid override; /* the head given for override_ref */
};

/* Every input the repository holds. A source's city is the configuration's
 * for this site's sources, else its head commit's Duikou-City trailer. With
 * override_ref, that input folds override_head instead of its ref (added
 * when the ref does not exist yet). Returns 0 with *out (free with
 * dk_inputs_free), or DK_EGIT with st->err. */
int dk_inputs_collect(struct dk_store *st, const struct dk_config *cfg, const char *override_ref,
                      const git_oid *override_head, struct dk_inputs *out);
void dk_inputs_free(struct dk_inputs *in);

struct dk_converge_result {
  int committed;              /* 1: main moved to a new commit */
  char commit[GIT_OID_HEXSZ + 1];
  size_t events;              /* inputs' commits folded now */
  int refolded;               /* a late input: folded again from an earlier point */
  char *summary;              /* "2 tasks changed, 1 conflict" (malloc'd) */
};

/* Fold every input not yet folded into main and commit when main's tree
 * changes (the message names `why` and what changed; the fold's trailers
 * say where main stands). ix, when given, is kept current. Returns 0 with
 * *out (clear with dk_converge_result_clear), or a DK_E* code with st->err. */
int dk_converge(struct dk_store *st, const struct dk_config *cfg, struct dk_index *ix, const char *why,
                struct dk_converge_result *out);
void dk_converge_result_clear(struct dk_converge_result *r);

/* The sites this repository knows, as JSON: {"site": this one, "sites":
 * [{"site", "self", "sources": [names], "last_input": ISO time of the newest
 * input commit, "main": "converged" | "differs" | "unknown" (no view of main
 * received yet), "differs": ["ref: theirs .. ours", …]}]}. Returns 0 with *out
 * (caller decrefs), or DK_EGIT with st->err. */
int dk_converge_sites(struct dk_store *st, const struct dk_config *cfg, json_t **out);

#endif

/* What main is folded from: every source branch this repository holds
 * (this site's, refs/duikou/sources/<name>, and the other sites',
 * refs/duikou/sites/<site>/sources/<name>) and every site's resolutions; and the
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
  git_oid *overrides; /* the heads given for override_refs, in their order */
  size_t noverrides;
  git_oid *heads;   /* heads known when collected, by input (realloc'd with v: set at the end) */
  char *hashead;
};

/* What an engine keeps between folds so that a fold of 1,000 sources does
 * not read 1,000 refs: this site's source branches that the configuration
 * no longer names (read once; zero it to start). */
struct dk_inputs_cache {
  int ready;
  char **extra;
  size_t nextra;
};
void dk_inputs_cache_free(struct dk_inputs_cache *c);

/* Every input the repository holds. A source's city is the configuration's
 * for this site's configured sources, else its head commit's Duikou-City
 * trailer. With ix (the engine's index, its sources in the configuration's
 * order), the heads of the configured sources are the index's; with cache,
 * the other local branches are listed once. Each of the noverrides inputs
 * override_refs[j] folds override_heads[j] instead of where its ref points
 * (added when the ref does not exist yet): a round's source commits, before
 * their refs move. Returns 0 with *out (free with dk_inputs_free), or DK_EGIT with
 * st->err. */
int dk_inputs_collect(struct dk_store *st, const struct dk_config *cfg, struct dk_index *ix,
                      struct dk_inputs_cache *cache, const char *const *override_refs,
                      const git_oid *override_heads, size_t noverrides, struct dk_inputs *out);
void dk_inputs_free(struct dk_inputs *in);

struct dk_converge_result {
  int committed;              /* 1: main moved to a new commit */
  char commit[GIT_OID_HEXSZ + 1];
  size_t events;              /* inputs' commits folded now */
  int refolded;               /* a late input: folded again from an earlier point */
  char *summary;              /* "2 tasks changed, 1 conflict" (malloc'd) */
  size_t conflicts, open;     /* conflicts the fold met; of those, left open (when committed) */
};

/* Who a converge commit is by and what its message says besides the fold's
 * lines: NULL fields take the defaults (duikou (<site>), "fold <why>: …"). */
struct dk_converge_meta {
  const char *why;      /* "exchange with shared" */
  const char *author, *email;
  git_time_t when;      /* 0: now */
  const char *subject;  /* the first line, instead of "fold <why>: <summary>" */
  const char *body;     /* text before the fold's lines */
  const char *trailers; /* lines after Duikou-Site, before the fold's trailers */
  int force;            /* commit even when the tree does not change */
};

struct dk__tally;
/* The fold's counts as a commit message's tally (commitmsg.h). */
void dk_converge_tally(const struct dk_fold_out *fo, struct dk__tally *tl);

/* Fold every input not yet folded into main and commit when main's tree
 * changes (or m->force); the fold's trailers say where main stands. ix,
 * when given, is kept current. Returns 0 with *out (clear with
 * dk_converge_result_clear), or a DK_E* code with st->err. */
int dk_converge(struct dk_store *st, const struct dk_config *cfg, struct dk_index *ix,
                const struct dk_converge_meta *m, struct dk_converge_result *out);

/* A main whose tip the fold did not make is taken as it stands: one commit
 * with its tree and trailers saying where it stands — where the newest
 * checkpoint below it stood (commits made by git plumbing or an earlier
 * duikou's resolution on top of a fold), or, when main never was a fold
 * (a repository from before), every input's head (`in`; NULL: collected
 * here). So that no change main holds is lost to a fold. Returns 1
 * (committed), 0 (nothing to do: no main, or its tip is a fold), or a
 * DK_E* code with st->err. */
int dk_converge_adopt(struct dk_store *st, const struct dk_config *cfg, const struct dk_inputs *in);
void dk_converge_result_clear(struct dk_converge_result *r);

/* The time to give a new input commit of this site (type 0 a report of
 * `source`, 1 a resolution): `now`, unless an event with that time would
 * sort before what main's tip has folded (commit times are seconds: a
 * resolution and the reports after it often share one) — then one second
 * after main's key, so that what a site writes after folding sorts after
 * it. Never fails: `now` when main has no key. */
git_time_t dk_converge_next_time(struct dk_store *st, const struct dk_config *cfg, int type, const char *source,
                                 git_time_t now);

/* Log each record the fold skipped (a record another site sent that duikou
 * would refuse: fold.c's "skipped" lines of conf), as a warning. */
void dk_converge_log_skips(const struct dk_buf *conf);

/* A short digest (16 hex digits) of the configuration's `reconcile:`
 * policies, written on every main commit as `Duikou-Policies`: two sites
 * whose policies differ cannot fold the same main, and `duikou sites` says
 * so. Returns out. */
const char *dk_converge_policies(const struct dk_config *cfg, char out[17]);

/* The sites this repository knows, as JSON: {"site": this one, "sites":
 * [{"site", "self", "sources": [names], "last_input": ISO time of the newest
 * input commit, "main": "converged" | "differs" | "unknown" (no view of main
 * received yet), "differs": ["ref: theirs .. ours", …], "policies": "same" | "differ" |
 * "unknown"}]}. Returns 0 with *out
 * (caller decrefs), or DK_EGIT with st->err. */
int dk_converge_sites(struct dk_store *st, const struct dk_config *cfg, json_t **out);

#endif

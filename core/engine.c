#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>

#include "branch.h"
#include "commitmsg.h"
#include "converge.h"
#include "fsafe.h"
#include "http.h"
#include "index.h"
#include "previous.h"
#include "ingest.h"
#include "loader.h"
#include "log.h"
#include "merge.h"
#include "metrics.h"
#include "plugin_host.h"
#include "publish.h"
#include "redact.h"
#include "run.h"
#include "schemas.h"
#include "seen.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define DK__MAX_CAS_TRIES 5
#define DK__IDLE_MS 30000
/* A round that parsed at most this many records (the rest known as served
 * before, or a small source) holds little while it waits for its commit:
 * it gives its place among the rounds being parsed to the next, up to
 * DK__MAX_LIGHT of them at once, so that the rounds that end while one is
 * committed are committed together (dk__commits_flush). */
#define DK__LIGHT_RECORDS 500
#define DK__MAX_LIGHT 64
/* ... and wait for those still parsed while one ends at least every
 * DK__GROUP_WAIT_MS, DK__GROUP_MAX_MS at most (a round still parsed joins
 * the commit of those that ended before it; the loop has nothing to do) */
#define DK__GROUP_WAIT_MS 300
#define DK__GROUP_MAX_MS 3000

/* A run as the engine keeps it: the run itself first (stages see only
 * that), and its place in the engine's list of runs in progress. */
struct dk__erun {
  struct dk__run run;
  struct dk_engine *engine;
  struct dk__erun *prev, *next;
  struct dk__erun *qnext; /* in the engine's commit queue */
  int queued;
  dk_run_cb cb;
  void *cb_arg;
};

struct dk_engine {
  struct dk__ctx ctx;
  struct dk_loader loader;
  struct dk__erun *active; /* runs in progress */
  size_t nactive;
  size_t nlive;            /* runs not yet freed (a closing timer keeps one alive) */
  uv_timer_t idle;         /* no run for a while: let go of what only rounds need */
  int idle_live;
  uv_idle_t commits;       /* runs whose rounds are ready: committed together, next turn of the loop */
  int commits_live;        /* the handle not yet closed */
  int commits_open;        /* and not closing: rounds wait for it */
  struct dk__erun *qhead, *qtail;
  size_t nqueued, qheavy;  /* rounds in the queue; of those, holding a place among the rounds parsed */
  uv_timer_t group;        /* how long light rounds wait for the ones still being parsed */
  uint64_t group_since;    /* when the first of them was queued (uv_hrtime) */
  int group_live, group_armed;
  struct dk_publish *publish; /* the exchange with the remotes (daemon only) */
  int publish_live;
  void (*closed)(void *arg);
  void *closed_arg;
};

/* --- committing a run ------------------------------------------------------- */

/* A commit failed: say so. A partial commit keeps the round's first error. */
static void dk__commit_failed(struct dk__run *r, int partial, const char *what, const char *why) {
  if (!partial) {
    r->mresult = "repository_error";
    dk__run_set_failed(r, "%s: %s", what, why);
    return;
  }
  size_t n = strlen(r->res->error);
  snprintf(r->res->error + n, sizeof r->res->error - n, "; the pages received could not be committed: %s", why);
  dk_redact_buf(r->res->error, sizeof r->res->error);
  dk_log(DK_LOG_ERROR, "source", r->src->name, NULL, "%s: %s", what, why);
}

struct dk__index_target {
  struct dk_index *index;
  size_t ref;
};

static void dk__index_put(const char *path, const git_oid *oid, void *arg) {
  struct dk__index_target *t = arg;
  dk_index_set(t->index, t->ref, path, oid);
}

/* What a commit that moved ref s (DK_INDEX_MAIN: main) to `head` changed, into
 * the index. */
static void dk__index_moved(struct dk__ctx *c, const struct dk_txn *txn, size_t s, const git_oid *head) {
  struct dk__index_target t = {c->index, s};
  dk_txn_foreach(txn, dk__index_put, &t);
  dk_index_set_head(c->index, s, head);
}

/* The index, read when a run first needs it (from duikou.index, else the
 * trees), then brought to where the source's branch points now (a repair
 * may have moved it). Returns 0 or a DK_E* code with the store's err. */
static int dk__index_ready(struct dk__run *r, const char *sref) {
  struct dk__ctx *c = r->ctx;
  if (c->index == NULL) {
    if (c->index_refs == NULL) {
      c->index_refs = dk_calloc(c->cfg->nsources ? c->cfg->nsources : 1, sizeof *c->index_refs);
      for (size_t i = 0; i < c->cfg->nsources; i++)
        c->index_refs[i] = dk_asprintf(DK__SRC_PREFIX "%s", c->cfg->sources[i].name);
    }
    int rc = dk_index_load(c->store, (const char *const *)c->index_refs, c->cfg->nsources, &c->index);
    if (rc != 0) return rc;
    dk_log(DK_LOG_DEBUG, "repository", c->store->path, NULL, "index read: %zu KB", dk_index_bytes(c->index) >> 10);
  }
  git_oid head;
  int found;
  int rc = dk_store_ref(c->store, sref, &head, &found);
  if (rc == 0) rc = dk_index_follow(c->index, c->store, r->sidx, found ? &head : NULL);
  return rc;
}

/* main: the canonical fold of every input (fold.h), this run's source
 * commit included before its ref moves. Returns 0 with *fo, or a DK_E*
 * code with the store's err. */
struct dk__hint {
  struct dk_fold_change *v;
  size_t n;
};

static void dk__hint_cb(const char *path, const git_oid *old, const git_oid *neu, void *arg) {
  struct dk__hint *h = arg;
  h->v = dk_realloc(h->v, (h->n + 1) * sizeof *h->v);
  struct dk_fold_change *c = &h->v[h->n++];
  memset(c, 0, sizeof *c);
  c->path = path; /* the source transaction's: it outlives the fold */
  c->how = old == NULL ? DK_STORE_ADDED : neu == NULL ? DK_STORE_DELETED : DK_STORE_MODIFIED;
  if (old) c->old = *old;
  if (neu) c->neu = *neu;
}

static int dk__hint_cmp(const void *a, const void *b) {
  return strcmp(((const struct dk_fold_change *)a)->path, ((const struct dk_fold_change *)b)->path);
}

/* A source commit of the round, written, its ref not yet moved. */
struct dk__scommit {
  const char *sref;
  git_oid commit;
  struct dk_txn *stx;
};

/* The index's blob of a path on main (arg: the context) or on a run's
 * source branch (arg: the run), for a transaction's hint (dk__txn_hint). */
static int dk__hint_main_cb(const char *path, git_oid *blob, void *arg) {
  return dk_index_main(((struct dk__ctx *)arg)->index, path, blob);
}
static int dk__hint_source_cb(const char *path, git_oid *blob, void *arg) {
  const struct dk__run *r = arg;
  return dk_index_source(r->ctx->index, r->sidx, path, blob);
}

/* Let txn ask the index what its base holds, rather than walk trees a path
 * at a time: main's (r NULL) or run r's branch, only when the index is at
 * that very commit. */
static void dk__txn_hint(struct dk__ctx *c, struct dk_txn *txn, struct dk__run *r) {
  git_oid base, at;
  int found;
  if (c->index == NULL || !dk_txn_base(txn, &base)) return;
  dk_index_head(c->index, r ? r->sidx : DK_INDEX_MAIN, &at, &found);
  if (!found || !dk_oid_equal(&at, &base)) return;
  if (r) dk_txn_base_hint(txn, dk__hint_source_cb, r);
  else dk_txn_base_hint(txn, dk__hint_main_cb, c);
}

static int dk__fold_run(struct dk__ctx *ctx, const struct dk__scommit *sc, size_t n, struct dk_txn *mtx,
                        struct dk_fold_out *fo) {
  struct dk_inputs in;
  if (ctx->inputs == NULL) ctx->inputs = dk_calloc(1, sizeof *ctx->inputs);
  const char **refs = dk_calloc(n ? n : 1, sizeof *refs);
  git_oid *heads = dk_calloc(n ? n : 1, sizeof *heads);
  for (size_t j = 0; j < n; j++) refs[j] = sc[j].sref, heads[j] = sc[j].commit;
  int rc = dk_inputs_collect(ctx->store, ctx->cfg, ctx->index, ctx->inputs, refs, heads, n, &in);
  free(refs);
  free(heads);
  if (rc == 0) {
    /* a main not made by the fold (an earlier duikou, git plumbing) is taken
     * as it stands, with this round's commits not yet among what it holds */
    rc = dk_converge_adopt(ctx->store, ctx->cfg, NULL);
    if (rc > 0) rc = DK_EEXIST; /* main moved: the commit starts again from it */
  }
  /* what the new source commits changed is known: the fold diffs no trees for them */
  struct dk__hint *h = dk_calloc(n ? n : 1, sizeof *h);
  for (size_t j = 0; rc == 0 && j < n; j++) {
    if (sc[j].stx == NULL || (rc = dk_txn_foreach_change(sc[j].stx, dk__hint_cb, &h[j])) != 0) continue;
    qsort(h[j].v, h[j].n, sizeof *h[j].v, dk__hint_cmp);
    for (size_t i = 0; i < in.n; i++)
      if (in.v[i].head == &in.overrides[j]) {
        in.v[i].changes = h[j].v;
        in.v[i].nchanges = h[j].n;
      }
  }
  if (rc == 0) rc = dk_fold(ctx->store, ctx->rc, in.v, in.n, mtx, ctx->index, fo);
  if (rc == 0) dk_converge_log_skips(&fo->conf);
  for (size_t j = 0; j < n; j++) free(h[j].v);
  free(h);
  dk_inputs_free(&in);
  return rc;
}

/* main: merge the round, and start again from the new main when it moved
 * (a person resolving a conflict meanwhile). The first commit of main is a
 * root (the source commit is named in its trailer), so that main's
 * first-parent line is its own history; every later one merges the source
 * commit as its second parent. Returns 1 (committed, *mcommit), 0 (nothing
 * changed) or a DK_E* code; *what says which step failed. */
static int dk__commit_main(struct dk__run *r, struct dk__round *rd, struct dk_commit_meta *meta, const char *sref,
                           struct dk_txn *stx, const git_oid *scommit, int partial, git_oid *mcommit,
                           const char **what) {
  struct dk_store *st = r->ctx->store;
  char shex[GIT_OID_HEXSZ + 1];
  dk_oid_hex(scommit, shex);
  struct dk__scommit sc = {sref, *scommit, stx};
  int rc;
  for (int attempt = 1;; attempt++) {
    struct dk__tally tl = {0};
    struct dk_buf msg = {0}, body = {0}, conf = {0};
    struct dk_txn *mtx = NULL;
    *what = "reconcile";
    git_oid mbase;
    struct dk_fold_out fo;
    memset(&fo, 0, sizeof fo);
    if ((rc = dk_txn_begin(st, DK_MAIN_REF, &mtx)) == 0 &&
        (rc = dk_index_follow(r->ctx->index, st, DK_INDEX_MAIN, dk_txn_base(mtx, &mbase) ? &mbase : NULL)) == 0 &&
        (dk__txn_hint(r->ctx, mtx, NULL), rc = dk__fold_run(r->ctx, &sc, 1, mtx, &fo)) == 0) {
      dk_converge_tally(&fo, &tl);
      if (dk_txn_has_base(mtx)) dk_txn_add_parent(mtx, scommit);
      dk__msg_merge(&msg, r, &tl, &fo.body, &fo.conf, rd->quarantined, partial, shex);
      char pol[17];
      dk_buf_printf(&msg, "Duikou-Site: %s\nDuikou-Policies: %s\n", r->ctx->cfg->site ? r->ctx->cfg->site : DK_LOCAL_SITE,
                    dk_converge_policies(r->ctx->cfg, pol));
      if (fo.trailers.len) dk_buf_append(&msg, fo.trailers.data, fo.trailers.len);
      meta->message = dk_buf_cstr(&msg);
      r->res->changed = dk_txn_changes(mtx);
      *what = "commit failed";
      /* a conflict is recorded in history even when main keeps its values */
      rc = dk_txn_commit(mtx, meta, tl.conflicts > 0, mcommit);
      if (rc == 1) dk__index_moved(r->ctx, mtx, DK_INDEX_MAIN, mcommit);
      if (rc == 1) dk__metrics_fold(r->ctx->metrics, fo.conflicts, fo.open);
    }
    dk_txn_free(mtx);
    dk_fold_out_free(&fo);
    dk_buf_free(&msg);
    dk_buf_free(&body);
    dk_buf_free(&conf);
    if (rc != DK_EEXIST || attempt >= DK__MAX_CAS_TRIES) return rc;
    dk_log(DK_LOG_INFO, "source", r->src->name, NULL, "main moved meanwhile; merging again");
  }
}

/* main for the reports of n runs of one round at once: one fold of all
 * their source commits, one merge commit whose parents are main and each of
 * them (its first parent line stays main's own history), dated `when`, by
 * the site. A round of 1,000 sources makes one main commit, not 1,000 (each
 * of which folded, built main's trees and moved its ref). Returns 1
 * (committed, *mcommit), 0 (main unchanged) or a DK_E* code; *what says
 * which step failed. */
static int dk__commit_group(struct dk__ctx *ctx, struct dk__run *const *runs, const struct dk__scommit *sc, size_t n,
                            git_time_t when, git_oid *mcommit, const char **what) {
  struct dk_store *st = ctx->store;
  const char *site = ctx->cfg->site ? ctx->cfg->site : DK_LOCAL_SITE;
  size_t *changes = dk_calloc(n, sizeof *changes), quarantined = 0;
  for (size_t j = 0; j < n; j++) {
    changes[j] = dk_txn_changes(sc[j].stx);
    runs[j]->res->changed = changes[j];
    quarantined += runs[j]->round->quarantined;
  }
  char author[160], email[160];
  snprintf(author, sizeof author, "duikou (%s)", site);
  snprintf(email, sizeof email, "duikou@%s.duikou.invalid", site);
  int rc;
  for (int attempt = 1;; attempt++) {
    struct dk__tally tl = {0};
    struct dk_buf msg = {0};
    struct dk_txn *mtx = NULL;
    struct dk_fold_out fo;
    memset(&fo, 0, sizeof fo);
    git_oid mbase;
    *what = "reconcile";
    if ((rc = dk_txn_begin(st, DK_MAIN_REF, &mtx)) == 0 &&
        (rc = dk_index_follow(ctx->index, st, DK_INDEX_MAIN, dk_txn_base(mtx, &mbase) ? &mbase : NULL)) == 0 &&
        (dk__txn_hint(ctx, mtx, NULL), rc = dk__fold_run(ctx, sc, n, mtx, &fo)) == 0) {
      dk_converge_tally(&fo, &tl);
      for (size_t j = 0; j < n && dk_txn_has_base(mtx); j++) dk_txn_add_parent(mtx, &sc[j].commit);
      dk__msg_group(&msg, runs, changes, n, &tl, &fo.body, &fo.conf, quarantined);
      char pol[17];
      dk_buf_printf(&msg, "Duikou-Site: %s\nDuikou-Policies: %s\n", site, dk_converge_policies(ctx->cfg, pol));
      if (fo.trailers.len) dk_buf_append(&msg, fo.trailers.data, fo.trailers.len);
      struct dk_commit_meta meta;
      dk_commit_meta_init(&meta, author, email, when);
      meta.message = dk_buf_cstr(&msg);
      *what = "commit failed";
      rc = dk_txn_commit(mtx, &meta, tl.conflicts > 0, mcommit);
      if (rc == 1) dk__index_moved(ctx, mtx, DK_INDEX_MAIN, mcommit);
      if (rc == 1) dk__metrics_fold(ctx->metrics, fo.conflicts, fo.open);
    }
    dk_txn_free(mtx);
    dk_fold_out_free(&fo);
    dk_buf_free(&msg);
    if (rc != DK_EEXIST || attempt >= DK__MAX_CAS_TRIES) break;
    dk_log(DK_LOG_INFO, "repository", st->path, NULL, "main moved meanwhile; merging the round again");
  }
  free(changes);
  return rc;
}

/* The source branch's commit of the round: 1 with *scommit, 0 when the
 * branch does not change, or a DK_E* code. *stx stays open for the move. */
static int dk__commit_source(struct dk__run *r, struct dk__round *rd, const char *sref, int partial,
                             struct dk_commit_meta *meta, struct dk_txn **stx, git_oid *scommit) {
  struct dk_store *st = r->ctx->store;
  int rc = dk_txn_begin(st, sref, stx);
  if (rc == 0) dk__txn_hint(r->ctx, *stx, r);
  if (rc == 0) rc = dk__branch_update(r, rd, *stx, partial);
  /* What main must delete travels with the report, so that every site folds
   * the same deletions: a tombstone, or an absence past delete_after (whose
   * path left the branch rounds ago: a commit is made for it alone). */
  size_t deletes = 0;
  for (size_t i = 0; i < rd->nchg; i++)
    deletes += rd->chg[i].kind == DK__CHG_TOMBSTONE || rd->chg[i].kind == DK__CHG_ABSENT;
  if (rc < 0 || (dk_txn_changes(*stx) == 0 && deletes == 0)) return rc;
  struct dk_buf smsg = {0};
  dk__msg_report(&smsg, r, dk_txn_changes(*stx), rd->quarantined, partial);
  for (size_t i = 0; i < rd->nchg; i++) {
    const struct dk__chg *c = &rd->chg[i];
    if (c->kind != DK__CHG_TOMBSTONE && c->kind != DK__CHG_ABSENT) continue;
    dk_buf_printf(&smsg, "%s: %s", c->kind == DK__CHG_ABSENT ? DK_FOLD_ABSENT_TRAILER : DK_FOLD_DELETE_TRAILER, c->path);
    if (c->reason && c->reason[0]) {
      dk_buf_puts(&smsg, "\t"); /* a path may hold spaces, never a tab */
      for (const char *q = c->reason; *q; q++) dk_buf_append(&smsg, (unsigned char)*q < 0x20 ? " " : q, 1);
    }
    dk_buf_puts(&smsg, "\n");
  }
  meta->message = dk_buf_cstr(&smsg);
  rc = dk_txn_write(*stx, meta, deletes > 0, scommit);
  dk_buf_free(&smsg);
  return rc < 0 ? rc : 1;
}

/* Validate the round's records (the invalid ones to quarantine), commit
 * what the source said to its branch, and reconcile the changes into main:
 * a merge commit whose parents are the previous main and the source-branch
 * commit. main moves first, then the source branch, both by
 * compare-and-swap; the source commit is named in the state file
 * (pending_source_commit) before main moves, so that a crash in between is
 * mended by the next run (dk__branch_repair). Sets the outcome (COMMITTED
 * or UNCHANGED; FAILED when the repository fails) — unless `partial`: the
 * round already failed after some pages, whose records are committed while
 * the outcome stays FAILED. */
/* The first half of a round's commit: the report on its source branch
 * (meta filled, its strings in names, 512 bytes), named in the state file
 * as pending before main may move: should the run die between main and
 * its source branch, the next one must know which source commit main
 * already merged. Returns 1 with *stx and *scommit, 0 when the branch does
 * not change (the outcome UNCHANGED unless partial), or a DK_E* code with
 * the store's err. *stx is the caller's to free in every case. */
static int dk__report_commit(struct dk__run *r, struct dk__round *rd, const char *sref, int partial,
                             struct dk_commit_meta *meta, char *names, struct dk_txn **stx, git_oid *scommit) {
  dk__msg_meta(r, meta, names, 512);
  /* a report sorts after what main folded: a second later when needed */
  meta->when = dk_converge_next_time(r->ctx->store, r->ctx->cfg, 0, r->src->name, meta->when);
  int rc = dk__index_ready(r, sref);
  if (rc == 0) rc = dk__commit_source(r, rd, sref, partial, meta, stx, scommit);
  if (rc == 0 && !partial) r->res->outcome = DK_SOURCE_UNCHANGED;
  if (rc == 1) {
    char shex[GIT_OID_HEXSZ + 1];
    dk_oid_hex(scommit, shex);
    json_object_set_new(r->state, "pending_source_commit", json_string(shex));
    dk__run_save_state(r);
  }
  return rc;
}

/* The second half, once main merged it: the source branch moved to its
 * commit, the index and the state told. Returns 0 or a DK_E* code. */
static int dk__report_moved(struct dk__run *r, struct dk_txn *stx, const git_oid *scommit, int partial) {
  int rc = dk_txn_move(stx, scommit);
  if (rc != 0) return rc;
  dk__index_moved(r->ctx, stx, r->sidx, scommit);
  json_object_del(r->state, "pending_source_commit");
  if (!partial) r->res->outcome = r->res->commit[0] ? DK_SOURCE_COMMITTED : DK_SOURCE_UNCHANGED;
  return 0;
}

static void dk__commit(struct dk__run *r, struct dk__round *rd, int partial) {
  struct dk_store *st = r->ctx->store;
  uint64_t t0 = uv_hrtime();
  r->res->partial = partial;
  char *sref = dk_asprintf(DK__SRC_PREFIX "%s", r->src->name), names[512];
  struct dk_commit_meta meta;
  struct dk_txn *stx = NULL;
  git_oid scommit, mcommit;
  const char *what = "source branch";
  int rc = dk__report_commit(r, rd, sref, partial, &meta, names, &stx, &scommit);
  if (rc == 1) {
    rc = dk__commit_main(r, rd, &meta, sref, stx, &scommit, partial, &mcommit, &what);
    if (rc == 1) dk_oid_hex(&mcommit, r->res->commit);
    if (rc >= 0) what = "source branch", rc = dk__report_moved(r, stx, &scommit, partial);
  }
  if (rc < 0) dk__commit_failed(r, partial, what, st->err);
  dk_txn_free(stx);
  free(sref);
  if (rc >= 0) dk__metrics_commit(r, (double)(uv_hrtime() - t0) / 1e9); /* a failed commit is counted as a failed fetch */
}

/* The rounds of n runs (none partial) that ended together, committed as
 * one: each source's own branch commit, then one main commit for all that
 * changed (dk__commit_group; a lone one goes the way of dk__commit), then
 * their branches. The crash mending is dk__commit's: each state file names
 * its pending source commit before main moves. Sets each run's outcome. */
static void dk__commit_batch(struct dk__run *const *runs, size_t n) {
  struct dk__ctx *ctx = runs[0]->ctx;
  struct dk_store *st = ctx->store;
  uint64_t t0 = uv_hrtime();
  struct dk__scommit *sc = dk_calloc(n, sizeof *sc);
  struct dk__run **mine = dk_calloc(n, sizeof *mine);
  struct dk__bmeta {
    struct dk_commit_meta meta;
    char names[512];
  } *bm = dk_calloc(n, sizeof *bm);
  size_t k = 0;
  git_time_t when = 0;
  dk_store_hold(st, 1); /* one pack for the round, written before main moves */
  dk_fs_defer();        /* and the pending commits in the state files, flushed before main moves */
  for (size_t i = 0; i < n; i++) {
    struct dk__run *r = runs[i];
    r->res->partial = 0;
    char *sref = dk_asprintf(DK__SRC_PREFIX "%s", r->src->name);
    struct dk_commit_meta *meta = &bm[k].meta;
    struct dk_txn *stx = NULL;
    git_oid scommit;
    int rc = dk__report_commit(r, r->round, sref, 0, meta, bm[k].names, &stx, &scommit);
    if (rc < 0) dk__commit_failed(r, 0, "source branch", st->err);
    if (rc != 1) {
      dk_txn_free(stx);
      free(sref);
      if (rc == 0) dk__metrics_commit(r, (double)(uv_hrtime() - t0) / 1e9);
      continue;
    }
    sc[k] = (struct dk__scommit){sref, scommit, stx};
    mine[k++] = r;
    if (meta->when > when) when = meta->when;
  }
  git_oid mcommit;
  const char *what = "source branch";
  char ferr[DK_ERRBUF_SIZE];
  int rc = 0;
  if (dk_fs_defer_end(ferr) != 0) { /* main must not move before the state names what it merges */
    snprintf(st->err, sizeof st->err, "%s", ferr);
    rc = DK_EIO;
    what = "state";
  }
  if (rc == 0 && k == 1)
    rc = dk__commit_main(mine[0], mine[0]->round, &bm[0].meta, sc[0].sref, sc[0].stx, &sc[0].commit, 0, &mcommit,
                         &what);
  else if (rc == 0 && k > 1)
    rc = dk__commit_group(ctx, mine, sc, k, when, &mcommit, &what);
  if (dk_store_hold(st, 0) != 0 && rc >= 0) rc = DK_EIO, what = "source branch"; /* main unchanged: nothing moved */
  dk_store_defer_refs(st); /* the branches made durable together, before their states say they moved */
  for (size_t j = 0; j < k; j++) {
    struct dk__run *r = mine[j];
    int mrc = rc;
    if (mrc == 1) dk_oid_hex(&mcommit, r->res->commit);
    if (mrc >= 0) what = "source branch", mrc = dk__report_moved(r, sc[j].stx, &sc[j].commit, 0);
    if (mrc < 0) {
      r->res->commit[0] = '\0';
      dk__commit_failed(r, 0, what, st->err);
    } else {
      dk__metrics_commit(r, (double)(uv_hrtime() - t0) / 1e9);
    }
    dk_txn_free(sc[j].stx);
    free((char *)sc[j].sref);
  }
  if (dk_store_defer_refs_end(st) != 0)
    dk_log(DK_LOG_ERROR, "repository", st->path, NULL, "the source branches moved may not be on disk: %s", st->err);
  dk_log(DK_LOG_DEBUG, "repository", st->path, NULL, "%zu rounds committed together (%zu changed their branch) in %.0f ms",
         n, k, (double)(uv_hrtime() - t0) / 1e6);
  free(bm);
  free(mine);
  free(sc);
}

/* --- the run's lifecycle ---------------------------------------------------- */

static void dk__engine_maybe_freed(struct dk_engine *e);

static void dk__run_free(struct dk__erun *er) {
  struct dk__run *r = &er->run;
  struct dk_engine *e = er->engine;
  dk__plugin_fini(r);
  dk_credentials_wipe(&r->auth);
  dk_credentials_wipe(&r->proxy_auth);
  if (r->early) dk__round_free(r->early), free(r->early);
  json_decref(r->records);
  json_decref(r->tombstones);
  json_decref(r->state);
  json_decref(r->seen_urls);
  free(r->url);
  free(r->next_url);
  for (size_t i = 0; i < r->nheaders; i++) free(r->headers[i]);
  free(r->headers);
  free(r->etag);
  free(r->last_modified);
  free(r->fetched_url);
  if (r->sha) EVP_MD_CTX_free(r->sha);
  dk_seen_free(r->seen);
  free(er);
  e->nlive--;
  dk__engine_maybe_freed(e);
}

static void dk__run_timer_closed(uv_handle_t *h) { dk__run_free((struct dk__erun *)h->data); }

/* The outcome into the state file (and the log): attempts, successes,
 * failures in a row, the validators of a good round. */
static void dk__record_outcome(struct dk__run *r) {
  char now[40];
  dk__iso_now(now, sizeof now);
  if (r->res->outcome == DK_SOURCE_FAILED) {
    json_object_set_new(r->state, "last_attempt", json_string(now));
    json_object_set_new(r->state, "last_failure", json_string(now));
    json_object_set_new(r->state, "last_failure_reason", json_string(r->res->error));
    json_object_set_new(r->state, "consecutive_failures",
                        json_integer(json_integer_value(json_object_get(r->state, "consecutive_failures")) + 1));
    /* The next round fetches everything again: no validators of a round
     * that did not end well. */
    json_object_del(r->state, "etag");
    json_object_del(r->state, "last_modified");
    if (r->res->partial)
      dk_log(DK_LOG_WARN, "source", r->src->name, "commit", r->res->commit[0] ? r->res->commit : NULL, NULL,
             "failed after %zu page%s; their %zu valid records were kept (%s)", r->res->pages,
             r->res->pages == 1 ? "" : "s", r->res->records, r->res->commit[0] ? "committed" : "no change");
    return;
  }
  json_object_set_new(r->state, "last_attempt", json_string(now));
  json_object_set_new(r->state, "last_success", json_string(now));
  json_object_set_new(r->state, "consecutive_failures", json_integer(0));
  if (r->res->outcome != DK_SOURCE_NOT_MODIFIED) {
    /* health.h compares a round's share of valid records with its usual:
     * the usual is an average of the rounds before, not of this one */
    json_t *prev = json_object_get(r->state, "valid_share");
    if (json_is_number(prev)) {
      json_t *u = json_object_get(r->state, "valid_share_usual");
      double usual = json_is_number(u) ? 0.8 * json_number_value(u) + 0.2 * json_number_value(prev)
                                       : json_number_value(prev);
      json_object_set_new(r->state, "valid_share_usual", json_real(usual));
    }
    size_t seen = r->res->records + r->res->invalid;
    json_object_set_new(r->state, "records", json_integer((json_int_t)r->res->records));
    json_object_set_new(r->state, "invalid", json_integer((json_int_t)r->res->invalid));
    if (seen > 0) json_object_set_new(r->state, "valid_share", json_real((double)r->res->records / (double)seen));
    json_object_set_new(r->state, "pages", json_integer((json_int_t)r->res->pages));
    json_object_set_new(r->state, "etag", r->etag ? json_string(r->etag) : json_null());
    json_object_set_new(r->state, "last_modified", r->last_modified ? json_string(r->last_modified) : json_null());
    json_object_set_new(r->state, "body_sha256", json_string(dk__run_body_sha(r)));
    /* the branch's records are known valid under these schemas: validated
     * now, or held from a round under the same ones (absent records wait
     * for their next listing) */
    if (!r->revalidate || json_object_size(json_object_get(r->state, "absent")) == 0)
      json_object_set_new(r->state, "schemas", json_string(dk_schemas_digest()));
  }
  char held[64] = "";
  if (r->nheld) snprintf(held, sizeof held, " (%zu known as served before: not parsed)", r->nheld);
  const char *what = r->res->outcome == DK_SOURCE_COMMITTED ? "committed"
                     : r->res->outcome == DK_SOURCE_UNCHANGED ? "unchanged" : "not modified (304)";
  dk_log(DK_LOG_INFO, "source", r->src->name, "commit", r->res->commit[0] ? r->res->commit : NULL, NULL,
         "%s: %zu records, %zu changed, %zu invalid, %zu rejected%s", what, r->res->records, r->res->changed,
         r->res->invalid, r->res->rejected, held);
}

/* Whether the previous file the state names may be used: written for the
 * commit the source branch is still at (its items are what the branch
 * holds), which the index, brought to the branch, knows. */
static void dk__prev_check(struct dk__run *r) {
  json_t *pv = json_object_get(r->state, "previous");
  const char *tag = json_string_value(json_object_get(pv, "tag"));
  const char *commit = json_string_value(json_object_get(pv, "commit"));
  git_oid want, head;
  int found = 0;
  if (tag && commit) dk_index_head(r->ctx->index, r->sidx, &head, &found);
  r->prev_ok = found && strlen(tag) == 2 * DK_PREV_TAG && dk_unhex(tag, r->prev_tag, DK_PREV_TAG) == 0 &&
               dk_oid_parse(commit, &want) == 0 && dk_oid_equal(&want, &head);
}

/* The run ready for its first parse (r->ready), once: a branch left by a
 * crash mended, the index brought to it, and whether records must be
 * validated again (the schemas changed since its branch was). Returns 0 or
 * a DK_E* code with the store's err. */
static int dk__run_ready(struct dk__run *r) {
  if (r->is_ready) return 0;
  char *sref = dk_asprintf(DK__SRC_PREFIX "%s", r->src->name);
  int rc = dk__branch_repair(r, sref);
  if (rc == 0) rc = dk__index_ready(r, sref);
  free(sref);
  const char *was = json_string_value(json_object_get(r->state, "schemas"));
  r->revalidate = was == NULL || strcmp(was, dk_schemas_digest()) != 0;
  if (rc == 0) dk__prev_check(r);
  if (rc == 0) r->is_ready = 1;
  return rc;
}

/* After a good round: what each record was served as, for the next one.
 * What is new is appended to the file (a round of held records writes
 * nothing, one of 1% changed 1% of it); the file is written whole, with
 * only what this round served, when it is missing or holds more than
 * twice the records listed (pairs no longer served are harmless
 * meanwhile: a blob counts only where the branch holds it). A round that
 * never read the table (its records were known by their blobs) appends
 * what it parsed without reading it now. */
static void dk__seen_update(struct dk__run *r, const struct dk__round *rd) {
  size_t nraw = 0, nnew = 0, limit = 2 * rd->nitems + 256, filed = 0;
  unsigned char *pairs = NULL;
  for (size_t i = 0; i < rd->nitems; i++) {
    const struct dk__item *it = &rd->items[i];
    if (!it->has_raw) continue;
    nraw++;
    if (it->raw_filed) continue; /* known from the previous page: filed when it was new */
    git_oid was;
    if (r->seen && dk_seen_get(r->seen, &it->raw, &was) && dk_oid_equal(&was, &it->oid)) continue;
    if (nnew % 256 == 0) pairs = dk_realloc(pairs, (nnew + 256) * DK_SEEN_PAIR);
    dk_seen_pair(&it->raw, &it->oid, pairs + nnew++ * DK_SEEN_PAIR);
    if (r->seen) dk_seen_put(r->seen, &it->raw, &it->oid);
  }
  char err[DK_ERRBUF_SIZE];
  int rc = DK_ENOENT;
  if (nnew == 0 && (r->seen == NULL || dk_seen_filed(r->seen) > 0 || nraw == 0)) {
    rc = 0;
  } else if (r->seen == NULL || (dk_seen_filed(r->seen) > 0 && dk_seen_filed(r->seen) + nnew <= limit)) {
    rc = dk_state_append_seen(r->ctx->cfg->state, r->src->name, pairs, nnew, &filed, err);
    if (rc == 0 && filed > limit) rc = DK_ENOENT; /* appended, but to be written whole */
    if (rc == 0 && r->seen) dk_seen_filed_set(r->seen, filed);
  }
  free(pairs);
  if (rc == 0) return;
  if (rc != DK_ENOENT)
    dk_log(DK_LOG_WARN, "source", r->src->name, NULL, "%s (the table is written whole instead)", err);
  struct dk_seen *next = dk_seen_new();
  for (size_t i = 0; i < rd->nitems; i++)
    if (rd->items[i].has_raw) dk_seen_put(next, &rd->items[i].raw, &rd->items[i].oid);
  if (dk_state_save_seen(r->ctx->cfg->state, r->src->name, next, err) != 0) {
    dk_log(DK_LOG_WARN, "source", r->src->name, NULL, "%s (the next round parses every record)", err);
    dk_seen_filed_set(next, 0); /* no file to append to: written whole next time */
  } else {
    dk_seen_filed_set(next, dk_seen_count(next));
  }
  dk_seen_free(r->seen);
  r->seen = next;
}

/* Whether the round's pages are the previous file's, byte for byte, and
 * every item was known from it: then the file says what it would. */
static int dk__prev_same(const struct dk__run *r, const struct dk__round *rd) {
  if (r->prev == NULL || r->prev->npages != r->npages) return 0;
  for (size_t i = 0; i < rd->nitems; i++)
    if (!rd->items[i].raw_filed || rd->items[i].rec) return 0;
  size_t kept = 0;
  for (size_t i = 0; i < r->npages; i++) {
    const struct dk_prev_page *pp = &r->prev->pages[i];
    const struct dk__page *pg = &r->pages[i];
    if (strcmp(pp->url, pg->url) != 0 || pp->len != pg->len || pp->first != pg->first || pp->end != pg->end ||
        memcmp(pp->body, pg->body, pg->len) != 0)
      return 0;
    kept += pp->nitems;
  }
  return kept == rd->nitems;
}

/* After the ingest of a whole round, on its worker: the round's pages and
 * where each item was served, kept for the next round as
 * state/sources/NAME.prev (previous.h), unless they are what the file holds
 * already (r->prev_kept says which). A page of unknown shape (its plugin
 * told no region), or one whose URL or body holds a secret of the
 * configuration (a server echoing the token), keeps none: a file the
 * state named is removed. The pages and the previous bodies are let go;
 * the round keeps borrowing the previous paths. */
static void dk__prev_keep(struct dk__run *r, const struct dk__round *rd) {
  r->prev_kept = DK__PREV_NONE;
  int whole = r->npages > 0;
  for (size_t i = 0; i < r->npages && whole; i++) {
    const struct dk__page *pg = &r->pages[i];
    whole = pg->has_region && pg->body && !dk_redact_found(pg->body, pg->len) &&
            !dk_redact_found(pg->url, strlen(pg->url));
  }
  if (whole && dk__prev_same(r, rd)) {
    r->prev_kept = DK__PREV_SAME;
  } else if (whole) {
    struct dk_prev_wpage *pages = dk_calloc(r->npages, sizeof *pages);
    struct dk_prev_witem *items = dk_calloc(rd->nitems ? rd->nitems : 1, sizeof *items);
    size_t n = 0;
    for (size_t i = 0; i < r->npages; i++)
      pages[i] = (struct dk_prev_wpage){r->pages[i].url, r->pages[i].body, r->pages[i].len, r->pages[i].first,
                                        r->pages[i].end};
    for (size_t i = 0; i < rd->nitems; i++) {
      const struct dk__item *it = &rd->items[i];
      if (it->span.page == 0 || it->span.page > r->npages) continue;
      items[n++] = (struct dk_prev_witem){it->span.page - 1, it->span.off, it->span.len, it->path, &it->oid,
                                          it->has_raw ? &it->raw : NULL};
    }
    char err[DK_ERRBUF_SIZE];
    int rc = dk_prev_save(r->ctx->cfg->state, r->src->name, pages, r->npages, items, n, r->prev_new, err);
    if (rc == 0) r->prev_kept = DK__PREV_NEW;
    else if (rc != DK_ENOENT)
      dk_log(DK_LOG_WARN, "source", r->src->name, NULL, "%s (the next round scans every item)", err);
    free(items);
    free(pages);
  }
  if (r->prev_kept == DK__PREV_NONE && json_object_get(r->state, "previous"))
    dk_prev_remove(r->ctx->cfg->state, r->src->name);
  dk__plugin_pages_free(r);
  dk_prev_drop_bodies(r->prev);
}

/* After a whole round's commit: the state names the previous file and the
 * commit the source branch is at now (the index follows it), or no file. */
static void dk__prev_note(struct dk__run *r) {
  git_oid head;
  int found = 0;
  if (r->prev_kept != DK__PREV_NONE) dk_index_head(r->ctx->index, r->sidx, &head, &found);
  if (!found) {
    json_object_del(r->state, "previous");
    return;
  }
  char hex[2 * DK_PREV_TAG + 1], ohex[GIT_OID_HEXSZ + 1];
  dk_hex(r->prev_kept == DK__PREV_NEW ? r->prev_new : r->prev_tag, DK_PREV_TAG, hex);
  dk_oid_hex(&head, ohex);
  json_object_set_new(r->state, "previous", json_pack("{s:s, s:s}", "tag", hex, "commit", ohex));
}

/* The index into <repo>/duikou.index, so that the next process (or round
 * after an idle time) starts from it; a failure costs only a tree walk. */
static void dk__index_keep(struct dk__ctx *c) {
  if (c->index && dk_index_save(c->index, c->store, (const char *const *)c->index_refs) != 0)
    dk_log(DK_LOG_WARN, "repository", c->store->path, NULL, "the index is not kept: %s", c->store->err);
}

/* No run for DK__IDLE_MS: the index (kept in duikou.index first), libgit2's
 * caches and the heap's free pages go back, so that an idle daemon holds
 * little; the next run reads the index from the file again. */
static void dk__engine_idle(uv_timer_t *t) {
  struct dk_engine *e = t->data;
  if (e->nactive > 0) return;
  dk__index_keep(&e->ctx);
  dk_index_free(e->ctx.index);
  e->ctx.index = NULL;
  dk_store_trim(e->ctx.store);
  malloc_trim(0);
  dk_log(DK_LOG_DEBUG, "engine", "idle", NULL, "index and caches released");
}

/* The end of a run: update and save the state, tell the caller, release. */
static void dk__run_end(struct dk__run *r) {
  struct dk__erun *er = (struct dk__erun *)r;
  struct dk_engine *e = er->engine;
  if (r->res->outcome == DK_SOURCE_CANCELED) {
    dk_log(DK_LOG_INFO, "source", r->src->name, NULL, "run canceled: duikou is stopping");
  } else {
    dk__record_outcome(r);
    if (r->state) dk__run_save_state(r);
  }
  dk__metrics_run_end(r);
  dk__fetch_release(r);
  if (r->light) {
    r->light = 0;
    r->ctx->light--;
  }
  if (er->prev) er->prev->next = er->next;
  else e->active = er->next;
  if (er->next) er->next->prev = er->prev;
  er->prev = er->next = NULL;
  e->nactive--;
  if (r->res->outcome == DK_SOURCE_COMMITTED) dk_publish_kick(e->publish);
  if (e->nactive == 0 && e->idle_live && !e->ctx.closing) uv_timer_start(&e->idle, dk__engine_idle, DK__IDLE_MS, 0);
  if (er->cb) er->cb(er->cb_arg, r->res);
  if (r->timer_live) {
    r->timer_live = 0;
    uv_close((uv_handle_t *)&r->timer, dk__run_timer_closed);
  } else {
    dk__run_free(er);
  }
}

/* The round's records checked and their blobs prepared, on a worker. */
static void dk__ingest_work(uv_work_t *w) {
  struct dk__run *r = w->data;
  dk__ingest(r, r->round);
  if (!r->partial) dk__prev_keep(r, r->round);
}

/* After its commit: what was served, kept for the next round; the run ends. */
static void dk__ingest_end(struct dk__run *r) {
  if (!r->partial && r->res->outcome != DK_SOURCE_FAILED) dk__seen_update(r, r->round), dk__prev_note(r);
  dk__round_free(r->round);
  free(r->round);
  r->round = NULL;
  dk_prev_free(r->prev); /* the round borrowed its paths */
  r->prev = NULL;
  dk__run_end(r);
}

/* Commit every round that is waiting: the ones that ended in the same turn
 * of the loop (while the last commit held it, say) as one (a partial round
 * alone, its message says what failed), then end their runs. */
static void dk__commits_flush(struct dk_engine *e) {
  if (e->commits_open) uv_idle_stop(&e->commits);
  if (e->group_armed) uv_timer_stop(&e->group), e->group_armed = 0;
  while (e->qhead) {
    size_t n = e->nqueued;
    struct dk__run **runs = dk_calloc(n, sizeof *runs), **whole = dk_calloc(n, sizeof *whole);
    size_t nw = 0, i = 0;
    for (struct dk__erun *er = e->qhead, *next; er; er = next) {
      next = er->qnext;
      er->qnext = NULL;
      er->queued = 0;
      runs[i++] = &er->run;
      if (!er->run.partial) whole[nw++] = &er->run;
    }
    e->qhead = e->qtail = NULL;
    e->nqueued = e->qheavy = 0;
    for (i = 0; i < n; i++)
      if (runs[i]->partial) dk__commit(runs[i], runs[i]->round, 1);
    /* from group_commits rounds on, main takes them in one commit; fewer
     * make a main commit each, the history a person reads best */
    long g = e->ctx.cfg->group_commits;
    int grouped = g > 0 && nw >= (size_t)g && nw > 1;
    if (grouped) dk__commit_batch(whole, nw);
    else
      for (i = 0; i < nw; i++) dk__commit(whole[i], whole[i]->round, 0);
    if (grouped) dk_fs_defer(); /* their state and seen files: one flush */
    for (i = 0; i < n; i++) dk__ingest_end(runs[i]);
    char err[DK_ERRBUF_SIZE];
    if (grouped && dk_fs_defer_end(err) != 0) dk_log(DK_LOG_WARN, "state", e->ctx.cfg->state, NULL, "%s", err);
    free(whole);
    free(runs);
  }
}

/* Runs on their way to the queue: fetching, parsed or ingested, or
 * waiting for a place (not those waiting to retry, or to end). */
static size_t dk__coming(const struct dk_engine *e) {
  size_t n = 0;
  for (const struct dk__erun *er = e->active; er; er = er->next)
    n += !er->queued && (er->run.wait == DK__WAIT_NONE || er->run.wait == DK__WAIT_START);
  return n;
}

static void dk__commits_late(uv_timer_t *t) {
  struct dk_engine *e = t->data;
  e->group_armed = 0;
  dk__commits_flush(e);
}

/* The next turn of the loop after rounds were queued: commit them, unless
 * all of them are light and more are on their way (then up to
 * DK__GROUP_WAIT_MS later, or when the last of those is queued). */
static void dk__commits_due(uv_idle_t *h) {
  struct dk_engine *e = h->data;
  size_t coming = e->qheavy == 0 && e->nqueued < DK__MAX_LIGHT && !e->ctx.closing ? dk__coming(e) : 0;
  uint64_t waited = (uv_hrtime() - e->group_since) / 1000000;
  long g = e->ctx.cfg->group_commits;
  if (coming > 0 && g > 1 && e->nqueued + coming >= (size_t)g && waited < DK__GROUP_MAX_MS) {
    uv_idle_stop(&e->commits);
    uint64_t left = DK__GROUP_MAX_MS - waited;
    uv_timer_start(&e->group, dk__commits_late, left < DK__GROUP_WAIT_MS ? left : DK__GROUP_WAIT_MS, 0);
    e->group_armed = 1;
    return;
  }
  dk__commits_flush(e);
}

/* Back on the loop: the round waits for the commit of the rounds that
 * ended in this turn of the loop. */
static void dk__ingest_done(uv_work_t *w, int status) {
  (void)status; /* never canceled: nothing calls uv_cancel */
  struct dk__run *r = w->data;
  struct dk__erun *er = (struct dk__erun *)r;
  struct dk_engine *e = er->engine;
  dk__metrics_round(r, r->round);
  size_t parsed = 0; /* what the round holds: the records parsed (a held one is an id) */
  for (size_t i = 0; i < r->round->nitems; i++) parsed += r->round->items[i].rec != NULL;
  if (r->has_slot && !r->partial && parsed <= DK__LIGHT_RECORDS && r->ctx->light < DK__MAX_LIGHT) {
    dk__fetch_release(r);
    r->light = 1;
    r->ctx->light++;
  }
  if (!e->commits_open) { /* the engine is closing: commit now */
    dk__commit(r, r->round, r->partial);
    dk__ingest_end(r);
    return;
  }
  if (e->qtail) e->qtail->qnext = er;
  else e->qhead = er, e->group_since = uv_hrtime();
  e->qtail = er;
  er->queued = 1;
  e->nqueued++;
  e->qheavy += r->has_slot != 0;
  uv_idle_start(&e->commits, dk__commits_due);
}

/* The run has ended (every stage hands back here): commit what it brought
 * (all of it, or on a failure the records of the pages fully received) —
 * ingest on a worker thread, the commit back on the loop — then end it. */
static void dk__run_finish(struct dk__run *r) {
  if (r->timer_live) uv_timer_stop(&r->timer);
  r->wait = DK__WAIT_NONE;
  int partial = -1;
  if (r->res->outcome == DK_SOURCE_PENDING) partial = 0;
  else if (r->res->outcome == DK_SOURCE_FAILED && r->pstate_live &&
           json_array_size(r->records) + json_array_size(r->tombstones) + r->nheld > 0)
    partial = 1;
  struct dk__round *early = r->early; /* ingested with its last page (fetch.c) */
  r->early = NULL;
  if (partial < 0) {
    if (early) dk__round_free(early), free(early);
    dk__run_end(r);
    return;
  }
  if (dk__run_ready(r) != 0) {
    if (early) dk__round_free(early), free(early);
    dk__commit_failed(r, partial, "source branch", r->ctx->store->err);
    dk__run_end(r);
    return;
  }
  r->partial = partial;
  if (early) {
    r->round = early;
    dk__ingest_done(&r->work, 0);
    return;
  }
  r->round = dk_calloc(1, sizeof *r->round);
  r->work.data = r;
  if (uv_queue_work(r->ctx->loop, &r->work, dk__ingest_work, dk__ingest_done) != 0) {
    dk__ingest_work(&r->work);
    dk__ingest_done(&r->work, 0);
  }
}

/* On the worker of the round's last parse: the round ingested there too,
 * rather than after a turn of the loop and of the work queue (which, while
 * transfers keep the loop busy, held a parse place idle for tens of ms a
 * round); dk__run_finish takes it. Only the run is touched, as by its
 * parse. */
static void dk__ingest_after_parse(struct dk__run *r) {
  r->early = dk_calloc(1, sizeof *r->early);
  dk__ingest(r, r->early);
  dk__prev_keep(r, r->early);
}

/* Set up a run. Returns 0 when it should fetch; otherwise its result says
 * why it failed. */
static int dk__run_setup(struct dk_engine *e, struct dk__run *r) {
  const struct dk_source_conf *src = r->src;
  char err[DK_ERRBUF_SIZE];
  r->records = json_array();
  r->tombstones = json_array();
  r->seen_urls = json_object();
  r->sha = EVP_MD_CTX_new();
  EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL);
  r->state = dk_state_load(e->ctx.cfg->state, src->name);
  r->url = dk_strdup(src->url);
  r->page = 1;
  r->plugin = dk_loader_find(&e->loader, src->plugin);
  if (r->plugin == NULL) return dk_failf(r->res->error, DK_EPLUGIN, "%s", e->loader.err);
  if (dk_auth_read(&src->auth, &r->auth, err) != 0) return dk_failf(r->res->error, DK_ECONFIG, "auth: %s", err);
  if ((src->proxy == NULL || src->proxy[0] != '\0') &&
      dk_auth_read(&e->ctx.cfg->http.proxy_auth, &r->proxy_auth, err) != 0)
    return dk_failf(r->res->error, DK_ECONFIG, "http.proxy_auth: %s", err);
  if (dk_schemas_check_options(r->plugin, src->options, src->pointer, err) != 0)
    return dk_failf(r->res->error, DK_ECONFIG, "%s", err);
  int rc = dk__plugin_init(r, err, sizeof err);
  if (rc != 0)
    return dk_failf(r->res->error, rc, "plugin %s refused the source's options: %s", r->plugin->name,
                    err[0] ? err : dk_strerror(rc));
  return 0;
}

/* --- the engine ----------------------------------------------------------- */

/* Release what dk_engine_open had opened, on its failure paths. */
static int dk__engine_abort(struct dk_engine *e, int rc) {
  dk_loader_free(&e->loader);
  dk_reconcile_free(e->ctx.rc);
  dk_store_close(e->ctx.store);
  free(e);
  return rc;
}

int dk_engine_open(uv_loop_t *loop, const struct dk_config *cfg, const char *plugin_dir, struct dk_engine **out,
                   char *err) {
  *out = NULL;
  /* Runs validate off the loop thread: finish compiling the schemas here. */
  int sfd, rc = dk_schemas_init(err);
  if (rc != 0) return rc;
  if ((rc = dk_fs_dir(cfg->state, "sources", 1, &sfd, err)) != 0) return rc;
  close(sfd);
  struct dk_engine *e = dk_calloc(1, sizeof *e);
  e->ctx.loop = loop;
  e->ctx.cfg = cfg;
  if ((rc = dk_store_open(cfg->repository, &e->ctx.store, err)) != 0) {
    free(e);
    return rc;
  }
  if ((rc = dk_store_lock(e->ctx.store, "duikou sync, daemon or demo", err)) != 0 ||
      (rc = dk_reconcile_new(cfg->reconcile, &e->ctx.rc, err)) != 0)
    return dk__engine_abort(e, rc);
  const char *pdir = dk_loader_pick_dir(plugin_dir, cfg->plugins);
  if ((rc = dk_loader_scan(&e->loader, pdir)) != 0) {
    dk_failf(err, rc, "%s", e->loader.err);
    return dk__engine_abort(e, rc);
  }
  for (size_t i = 0; i < e->loader.nentries; i++)
    if (e->loader.entries[i].error)
      dk_log(DK_LOG_WARN, "plugin", e->loader.entries[i].path, NULL, "refused: %s", e->loader.entries[i].error);
  if ((rc = dk_http_new(loop, cfg->http.max_connections, cfg->http.max_per_host, &e->ctx.http)) != 0) {
    dk_failf(err, rc, "cannot start the HTTP client");
    return dk__engine_abort(e, rc);
  }
  uv_timer_init(loop, &e->idle);
  e->idle.data = e;
  e->idle_live = 1;
  uv_unref((uv_handle_t *)&e->idle); /* never what keeps a loop running */
  uv_idle_init(loop, &e->commits);
  e->commits.data = e;
  e->commits_live = e->commits_open = 1;
  uv_timer_init(loop, &e->group);
  e->group.data = e;
  e->group_live = 1;
  *out = e;
  return 0;
}

/* Whether `src` has a run in progress. */
static int dk__engine_busy(const struct dk_engine *e, const struct dk_source_conf *src) {
  for (const struct dk__erun *er = e->active; er; er = er->next)
    if (er->run.src == src || strcmp(er->run.src->name, src->name) == 0) return 1;
  return 0;
}

size_t dk_engine_active(const struct dk_engine *e) { return e->nactive; }

void dk_engine_progress(const struct dk_engine *e, void (*cb)(void *arg, const struct dk_run_progress *p),
                        void *arg) {
  for (const struct dk__erun *er = e->active; er; er = er->next) {
    const struct dk__run *r = &er->run;
    struct dk_run_progress p = {.name = r->src->name, .index = r->sidx, .page = r->page,
                                .pages = r->res->pages, .bytes = r->progress_bytes,
                                .records = r->progress_records};
    if (r->round || r->wait == DK__WAIT_FINISH) p.phase = DK_RUN_COMMITTING;
    else if (r->page_res) p.phase = DK_RUN_PARSING;
    else if (r->wait == DK__WAIT_START) p.phase = DK_RUN_WAITING;
    else if (r->wait == DK__WAIT_RETRY) p.phase = DK_RUN_RETRYING;
    else p.phase = DK_RUN_FETCHING;
    cb(arg, &p);
  }
}

int dk_engine_run(struct dk_engine *e, const struct dk_source_conf *src, dk_run_cb cb, void *arg) {
  if (e->ctx.closing) return DK_ECANCELED;
  if (dk__engine_busy(e, src)) return DK_EBUSY;
  if (e->idle_live) uv_timer_stop(&e->idle);
  struct dk__erun *er = dk_calloc(1, sizeof *er);
  struct dk__run *r = &er->run;
  er->engine = e;
  er->cb = cb;
  er->cb_arg = arg;
  r->ctx = &e->ctx;
  r->finish = dk__run_finish;
  r->after_last_parse = dk__ingest_after_parse;
  r->ready = dk__run_ready;
  r->src = src;
  for (size_t i = 0; i < e->ctx.cfg->nsources; i++)
    if (strcmp(e->ctx.cfg->sources[i].name, src->name) == 0) r->sidx = i;
  r->res = &r->result;
  r->res->name = src->name;
  er->next = e->active;
  if (e->active) e->active->prev = er;
  e->active = er;
  e->nactive++;
  e->nlive++;
  dk_log(DK_LOG_DEBUG, "source", src->name, NULL, "run started");
  /* The first fetch (or the report of a failed setup) comes from the loop,
   * so that cb is never called before this function has returned. */
  if (dk__run_setup(e, r) != 0) {
    r->res->outcome = DK_SOURCE_FAILED;
    r->mresult = "setup_error";
    dk_log(DK_LOG_ERROR, "source", src->name, NULL, "%s", r->res->error);
    dk__run_arm(r, DK__WAIT_FINISH, 0);
  } else {
    dk__run_arm(r, DK__WAIT_START, 0);
  }
  return 0;
}

static void dk__engine_maybe_freed(struct dk_engine *e) {
  if (!e->ctx.closing || e->ctx.http != NULL || e->nlive > 0 || e->idle_live || e->commits_live || e->group_live ||
      e->publish_live)
    return;
  void (*closed)(void *) = e->closed;
  void *arg = e->closed_arg;
  dk_loader_free(&e->loader);
  dk__index_keep(&e->ctx);
  dk_index_free(e->ctx.index);
  if (e->ctx.inputs) dk_inputs_cache_free(e->ctx.inputs);
  free(e->ctx.inputs);
  for (size_t i = 0; e->ctx.index_refs && i < e->ctx.cfg->nsources; i++) free(e->ctx.index_refs[i]);
  free(e->ctx.index_refs);
  dk_store_close(e->ctx.store);
  dk_reconcile_free(e->ctx.rc);
  free(e);
  if (closed) closed(arg);
}

static void dk__engine_idle_closed(uv_handle_t *h) {
  struct dk_engine *e = h->data;
  e->idle_live = 0;
  dk__engine_maybe_freed(e);
}

static void dk__engine_commits_closed(uv_handle_t *h) {
  struct dk_engine *e = h->data;
  e->commits_live = 0;
  dk__engine_maybe_freed(e);
}

static void dk__engine_group_closed(uv_handle_t *h) {
  struct dk_engine *e = h->data;
  e->group_live = 0;
  dk__engine_maybe_freed(e);
}

static void dk__engine_publish_closed(void *arg) {
  struct dk_engine *e = arg;
  e->publish = NULL;
  e->publish_live = 0;
  dk__engine_maybe_freed(e);
}

static void dk__engine_http_closed(void *arg) {
  struct dk_engine *e = arg;
  e->ctx.http = NULL;
  dk__engine_maybe_freed(e);
}

void dk_engine_close(struct dk_engine *e, void (*done)(void *arg), void *arg) {
  if (e->ctx.closing) return;
  e->ctx.closing = 1;
  e->closed = done;
  e->closed_arg = arg;
  /* Runs waiting on a timer end now; runs in a transfer end through the
   * HTTP client's cancellation below. */
  struct dk__erun *next;
  for (struct dk__erun *er = e->active; er; er = next) {
    next = er->next;
    if (er->run.wait == DK__WAIT_FINISH) dk__run_finish(&er->run);
    else if (er->run.wait != DK__WAIT_NONE) dk__run_cancel(&er->run);
  }
  if (e->idle_live) uv_close((uv_handle_t *)&e->idle, dk__engine_idle_closed);
  dk__commits_flush(e); /* the rounds that ended are committed, not dropped */
  if (e->commits_open) {
    e->commits_open = 0; /* from now on a round commits as it ends */
    uv_close((uv_handle_t *)&e->commits, dk__engine_commits_closed);
    uv_close((uv_handle_t *)&e->group, dk__engine_group_closed);
  }
  if (e->publish_live) dk_publish_close(e->publish, dk__engine_publish_closed, e);
  dk_http_close(e->ctx.http, dk__engine_http_closed, e);
}

/* Another site's inputs arrived: main is folded again, on the loop (the
 * engine's store and index), and the new view goes out. */
static void dk__engine_fold(void *arg, const char *remote) {
  struct dk_engine *e = arg;
  char why[200];
  snprintf(why, sizeof why, "exchange with %s", remote);
  struct dk_converge_result cr;
  struct dk_converge_meta m = {.why = why};
  if (dk_converge(e->ctx.store, e->ctx.cfg, e->ctx.index, &m, &cr) != 0) {
    dk_log(DK_LOG_ERROR, "remote", remote, NULL, "main not folded: %s", e->ctx.store->err);
  } else if (cr.committed) {
    dk__metrics_fold(e->ctx.metrics, cr.conflicts, cr.open);
    dk_log(DK_LOG_INFO, "remote", remote, "commit", cr.commit, NULL, "main folded: %s (%zu event%s)%s", cr.summary,
           cr.events, cr.events == 1 ? "" : "s", cr.refolded ? ", from an earlier point: a late input" : "");
    dk_publish_kick(e->publish);
  }
  dk_converge_result_clear(&cr);
}

int dk_engine_publish(struct dk_engine *e, char *err) {
  if (e->publish_live) return 0;
  int rc = dk_publish_open(e->ctx.loop, e->ctx.cfg, dk__engine_fold, e, &e->publish, err);
  e->publish_live = rc == 0 && e->publish != NULL;
  if (e->publish_live) dk_publish_set_metrics(e->publish, e->ctx.metrics);
  return rc;
}

void dk_engine_set_metrics(struct dk_engine *e, struct dk_metrics *m) {
  e->ctx.metrics = m;
  if (e->publish_live) dk_publish_set_metrics(e->publish, m);
}

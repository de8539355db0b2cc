#include "branch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canonical.h"
#include "index.h"
#include "log.h"
#include "util.h"


/* A blob's text as a record (NULL for NULL); a blob that is not JSON is an
 * error, not an absent record. */
static int dk__parse(struct dk_store *st, const char *path, const char *data, json_t **out) {
  *out = NULL;
  if (data == NULL) return 0;
  json_error_t jerr;
  if ((*out = json_loads(data, 0, &jerr)) == NULL)
    return dk_failf(st->err, DK_EINVALID, "%s in the repository is not JSON: %s", path, jerr.text);
  return 0;
}

/* The record in blob `oid` (path names it in a message). */
static int dk__read_blob(struct dk_store *st, const char *path, const git_oid *oid, json_t **out) {
  char *data = NULL;
  size_t len;
  *out = NULL;
  int rc = dk_store_blob(st, oid, &data, &len);
  if (rc == 0) rc = dk__parse(st, path, data, out);
  free(data);
  return rc;
}

int dk__branch_others(struct dk__run *r, const char *path, struct dk_merge_other *others, json_t **held,
                      size_t *n) {
  const struct dk_config *cfg = r->ctx->cfg;
  size_t cap = cfg->nsources ? cfg->nsources : 1;
  size_t *srcs = dk_calloc(cap, sizeof *srcs);
  git_oid *oids = dk_calloc(cap, sizeof *oids);
  size_t k = dk_index_holders(r->ctx->index, path, r->sidx, srcs, oids, cap);
  int rc = 0;
  *n = 0;
  for (size_t i = 0; i < k && i < cap && rc == 0; i++) {
    held[*n] = NULL;
    rc = dk__read_blob(r->ctx->store, path, &oids[i], &held[*n]);
    if (rc != 0) break;
    const struct dk_source_conf *o = &cfg->sources[srcs[i]];
    others[*n] = (struct dk_merge_other){o->name, o->city, held[*n]};
    (*n)++;
  }
  if (rc != 0) {
    for (size_t i = 0; i < *n; i++) json_decref(held[i]);
    *n = 0;
  }
  free(srcs);
  free(oids);
  return rc;
}

/* Does another source's branch hold `path`? */
static int dk__held_elsewhere(struct dk__run *r, const char *path) {
  size_t src;
  git_oid oid;
  return dk_index_holders(r->ctx->index, path, r->sidx, &src, &oid, 1) > 0;
}

/* Put every valid record that changed (its blob prepared by ingest); a
 * put that changes the path is a change. */
static int dk__put_valid(struct dk__run *r, struct dk__round *rd, struct dk_txn *stx) {
  for (size_t i = 0; i < rd->nitems; i++) {
    struct dk__item *it = &rd->items[i];
    if (it->unchanged) continue;
    unsigned char *z = it->z;
    it->z = NULL; /* the transaction's now */
    int rc = dk_txn_put_blob(stx, it->path, &it->oid, it->size, z, it->zlen);
    if (rc == 1) dk__round_add(rd, it->path, it, DK__CHG_REPORT, NULL);
    if (rc < 0) return rc;
  }
  return 0;
}

/* Remove what tombstones name (a record listed and deleted in one round
 * stays: the record wins). */
static int dk__put_tombstones(struct dk__run *r, struct dk__round *rd, struct dk_txn *stx) {
  size_t i;
  json_t *t;
  json_array_foreach(r->tombstones, i, t) {
    const char *tp = json_string_value(json_object_get(t, "path"));
    if (dk__round_has(rd, tp)) continue;
    int rc = dk_txn_remove(stx, tp);
    if (rc < 0) return rc;
    dk__round_add(rd, tp, NULL, DK__CHG_TOMBSTONE, json_string_value(json_object_get(t, "reason")));
  }
  return 0;
}

struct dk__absent_ctx {
  struct dk__round *rd;
  json_t *listed_before; /* paths of the source branch not listed now */
};

static int dk__collect_absent(const char *path, const git_oid *oid, void *arg) {
  (void)oid;
  struct dk__absent_ctx *a = arg;
  if (!dk__round_has(a->rd, path) && !json_object_get(a->rd->invalid, path))
    json_object_set_new(a->listed_before, path, json_true());
  return 0;
}

/* One more absence of `path` (n in a row): past delete_after it becomes a
 * deletion, unless another source still lists it. Returns 1 when the count
 * ends, 0 when it goes on, or a DK_E* code. */
static int dk__absence(struct dk__run *r, struct dk__round *rd, const char *path, json_int_t n) {
  if (r->src->delete_after <= 0 || n < r->src->delete_after) return 0;
  int held = dk__held_elsewhere(r, path);
  if (held < 0) return held;
  if (held) {
    dk_log(DK_LOG_INFO, "source", r->src->name, "path", path, NULL,
           "absent from %lld full listings, but another source still lists it: kept", (long long)n);
  } else {
    char reason[128];
    snprintf(reason, sizeof reason, "absent from %lld consecutive full listings (delete_after: %d)", (long long)n,
             r->src->delete_after);
    dk__round_add(rd, path, NULL, DK__CHG_ABSENT, reason);
  }
  return 1;
}

/* Whether the round lists every path the branch holds (the index is still
 * at the branch's head): then none left it, and the branch's paths need not
 * be walked. Listed paths are distinct; an unchanged item is one the
 * branch holds. */
static int dk__all_listed(struct dk__run *r, const struct dk__round *rd) {
  size_t listed = 0;
  git_oid oid;
  for (size_t i = 0; i < rd->nitems; i++)
    listed += rd->items[i].unchanged || dk_index_source(r->ctx->index, r->sidx, rd->items[i].path, &oid);
  const char *path;
  json_t *v;
  json_object_foreach(rd->invalid, path, v) listed += !dk__round_has(rd, path) &&
                                                      dk_index_source(r->ctx->index, r->sidx, path, &oid);
  return listed >= dk_index_source_count(r->ctx->index, r->sidx);
}

/* After a full listing: what the source no longer lists leaves its branch,
 * and the absences in the state are counted on. */
static int dk__absences(struct dk__run *r, struct dk__round *rd, struct dk_txn *stx) {
  struct dk__absent_ctx a = {rd, json_object()};
  int rc = dk__all_listed(r, rd) ? 0 : dk_index_source_foreach(r->ctx->index, r->sidx, dk__collect_absent, &a);
  json_t *absent = json_object_get(r->state, "absent"), *next = json_object(), *t;
  const char *path;
  void *tmp;
  json_object_foreach(a.listed_before, path, t) json_object_set_new(next, path, json_integer(0));
  json_object_foreach(absent, path, t)
    if (!dk__round_has(rd, path) && !json_object_get(rd->invalid, path))
      json_object_set_new(next, path, json_integer(json_integer_value(t)));
  json_object_foreach_safe(next, tmp, path, t) {
    if (rc < 0) break;
    json_int_t n = json_integer_value(t) + 1;
    json_object_set_new(next, path, json_integer(n));
    if (json_object_get(a.listed_before, path) && (rc = dk_txn_remove(stx, path)) < 0) break;
    if ((rc = dk__absence(r, rd, path, n)) == 1) json_object_del(next, path);
  }
  if (rc >= 0) json_object_set_new(r->state, "absent", next);
  else json_decref(next);
  json_decref(a.listed_before);
  return rc < 0 ? rc : 0;
}

int dk__branch_update(struct dk__run *r, struct dk__round *rd, struct dk_txn *stx, int partial) {
  int rc = dk__put_valid(r, rd, stx);
  if (rc == 0) rc = dk__put_tombstones(r, rd, stx);
  /* Absences count only after a full listing that brought something: an
   * empty page or a failed round never deletes anything. */
  if (rc == 0 && !partial && rd->nitems > 0) rc = dk__absences(r, rd, stx);
  return rc;
}

int dk__branch_repair(struct dk__run *r, const char *sref) {
  struct dk_store *st = r->ctx->store;
  const char *hex = json_string_value(json_object_get(r->state, "pending_source_commit"));
  git_oid pending, main_oid;
  int found = 0, rc = 0;
  if (hex == NULL) return 0;
  if (dk_oid_parse(hex, &pending) == 0 && (rc = dk_store_ref(st, DK_MAIN_REF, &main_oid, &found)) == 0 && found &&
      (rc = dk_store_descends(st, &main_oid, &pending)) == 1) {
    rc = 0;
    struct dk_txn *stx = NULL;
    git_oid cur;
    int have = 0;
    if ((rc = dk_store_ref(st, sref, &cur, &have)) == 0 && !(have && dk_oid_equal(&cur, &pending)) &&
        (rc = dk_txn_begin(st, sref, &stx)) == 0) {
      rc = dk_txn_move(stx, &pending);
      if (rc == 0)
        dk_log(DK_LOG_WARN, "source", r->src->name, "commit", hex, NULL,
               "the last run stopped after merging into main: its source branch is moved there now");
    }
    dk_txn_free(stx);
  }
  if (rc == 0) {
    json_object_del(r->state, "pending_source_commit");
    dk__run_save_state(r);
  }
  return rc;
}

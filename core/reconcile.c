#include "reconcile.h"

#include <stdlib.h>
#include <string.h>

#include "branch.h"
#include "canonical.h"
#include "index.h"
#include "log.h"
#include "merge.h"

#define DK__SHOW 80 /* bytes of a value in a commit body line */

/* "status in_progress → completed, percent 40 → 60": the field changes. */
static void dk__describe_changes(struct dk_buf *b, const struct dk_merge_out *mo) {
  for (size_t i = 0; i < mo->nchanges; i++) {
    char *from = dk_value_short(mo->changes[i].from, DK__SHOW), *to = dk_value_short(mo->changes[i].to, DK__SHOW);
    dk_buf_printf(b, "%s%s %s \xe2\x86\x92 %s", i ? ", " : "", mo->changes[i].field, from, to);
    free(from);
    free(to);
  }
}

/* Update conflicts/<kind>/<id>.json on main: this source's entries are
 * replaced by the conflicts it leaves open now (none: removed). */
static int dk__conflict_file(struct dk__run *r, struct dk_txn *mtx, enum dk_kind kind, const char *id,
                             const char *path, const struct dk_merge_out *mo, const char *when) {
  char *cpath = dk_record_conflict_file(kind, id), *old = NULL;
  json_t *doc = NULL;
  git_oid coid;
  size_t olen;
  int rrc = dk_index_main(r->ctx->index, cpath, &coid) ? dk_store_blob(r->ctx->store, &coid, &old, &olen) : DK_ENOENT;
  if (rrc == 0 && (doc = json_loads(old, 0, NULL)) == NULL)
    rrc = dk_failf(r->ctx->store->err, DK_EINVALID, "%s on main is not JSON: it is not overwritten", cpath);
  free(old);
  if (rrc < 0 && rrc != DK_ENOENT) {
    free(cpath);
    return rrc;
  }
  if (doc == NULL && mo->open == 0) {
    free(cpath);
    return 0;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    doc = json_pack("{s:s, s:s, s:s, s:[]}", "kind", dk_kind_name(kind), "id", id, "path", path, "fields");
  }
  json_t *fields = json_object_get(doc, "fields"), *kept = json_array();
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    const char *fs = json_string_value(json_object_get(f, "source"));
    if (fs == NULL || strcmp(fs, r->src->name) != 0) json_array_append(kept, f);
  }
  for (size_t c = 0; c < mo->nconflicts; c++) {
    const struct dk_merge_conflict *k = &mo->conflicts[c];
    if (strcmp(k->winner, "open") != 0) continue;
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "field", k->field, "source", r->src->name, "city",
                          r->src->city, "policy", dk_policy_name(k->policy), "opened_at", when);
    if (k->base) json_object_set(e, "base", k->base);
    if (k->ours) json_object_set(e, "ours", k->ours);
    if (k->theirs) json_object_set(e, "theirs", k->theirs);
    json_array_append_new(kept, e);
  }
  int rc;
  if (json_array_size(kept) == 0) {
    rc = dk_txn_remove(mtx, cpath);
  } else {
    json_object_set_new(doc, "fields", kept);
    kept = NULL;
    size_t len;
    char *data = dk_canonical_dump(doc, &len);
    rc = dk_txn_put(mtx, cpath, data, len);
    free(data);
  }
  json_decref(kept);
  json_decref(doc);
  free(cpath);
  return rc < 0 ? rc : 0;
}

/* main's record at path (NULL: none). A blob that is not JSON is an error
 * (st->err), not an absent record. */
static int dk__ours(struct dk__run *r, const char *path, json_t **out) {
  struct dk_store *st = r->ctx->store;
  char *old = NULL;
  git_oid oid;
  size_t len;
  *out = NULL;
  if (!dk_index_main(r->ctx->index, path, &oid)) return 0;
  int rc = dk_store_blob(st, &oid, &old, &len);
  if (rc == 0 && (*out = json_loads(old, 0, NULL)) == NULL)
    rc = dk_failf(st->err, DK_EINVALID, "%s on main is not JSON", path);
  free(old);
  return rc;
}

/* A configured absence: main's record goes, whoever changed it. */
static int dk__apply_absence(struct dk_txn *mtx, const struct dk__chg *c, enum dk_kind kind, const json_t *ours,
                             struct dk_buf *body, struct dk__tally *tl) {
  if (ours == NULL) return 0;
  int rc = dk_txn_remove(mtx, c->path);
  if (rc < 0) return rc;
  tl->deleted[kind]++;
  dk_buf_printf(body, "%s: deleted (%s)\n", c->path, c->reason);
  return 0;
}

/* Write what the merge decided for one record, and its body line. */
static int dk__apply_merge(struct dk_txn *mtx, const struct dk__chg *c, enum dk_kind kind,
                           const struct dk_merge_out *mo, struct dk_buf *body, struct dk__tally *tl) {
  int rc = 0;
  if (mo->action == DK_MERGE_DELETE) {
    rc = dk_txn_remove(mtx, c->path);
    tl->deleted[kind]++;
    dk_buf_printf(body, "%s: deleted (%s)\n", c->path, c->reason ? c->reason : "tombstone");
  } else if (mo->action != DK_MERGE_NONE) {
    if (c->item && c->item->rec && (mo->merged == c->item->rec || json_equal(mo->merged, c->item->rec))) {
      /* what the source said, as it said it: the blob its commit wrote */
      rc = dk_txn_put_blob(mtx, c->path, &c->item->oid, c->item->size, NULL, 0);
    } else {
      size_t len;
      char *data = dk_canonical_dump(mo->merged, &len);
      rc = dk_txn_put(mtx, c->path, data, len);
      free(data);
    }
    if (mo->action == DK_MERGE_ADD) {
      tl->added[kind]++;
      dk_buf_printf(body, "%s: added\n", c->path);
    } else {
      tl->changed[kind]++;
      dk_buf_printf(body, "%s: ", c->path);
      dk__describe_changes(body, mo);
      dk_buf_puts(body, "\n");
    }
  }
  return rc < 0 ? rc : 0;
}

/* The conflicts of one merge, one body line each. */
static void dk__describe_conflicts(struct dk_buf *conf, const char *path, const char *source,
                                   const struct dk_merge_out *mo) {
  for (size_t k = 0; k < mo->nconflicts; k++) {
    const struct dk_merge_conflict *x = &mo->conflicts[k];
    char *b = dk_value_short(x->base, DK__SHOW), *o = dk_value_short(x->ours, DK__SHOW),
         *t = dk_value_short(x->theirs, DK__SHOW);
    dk_buf_printf(conf, "%s %s: base %s, main %s, %s %s \xe2\x86\x92 %s (%s)\n", path,
                  x->field[0] ? x->field : "(record)", b, o, source, t,
                  strcmp(x->winner, "open") == 0 ? "open, main kept" : x->winner, dk_policy_name(x->policy));
    free(b);
    free(o);
    free(t);
  }
}

/* A record main has never held, that this source reports for the first
 * time, with no conflict file left for it: what the merge would decide
 * (main takes it as it is; the other sources are not consulted) without
 * copying it twice. */
static int dk__plain_add(struct dk__run *r, const struct dk__chg *c, enum dk_kind kind, const char *id,
                         const json_t *ours) {
  if (ours || c->base || c->kind != DK__CHG_REPORT || c->item == NULL || c->item->rec == NULL) return 0;
  char *cpath = dk_record_conflict_file(kind, id);
  git_oid oid;
  int conflicted = dk_index_main(r->ctx->index, cpath, &oid);
  free(cpath);
  return !conflicted;
}

static int dk__apply_add(struct dk_txn *mtx, const struct dk__chg *c, enum dk_kind kind, struct dk_buf *body,
                         struct dk__tally *tl) {
  int rc = dk_txn_put_blob(mtx, c->path, &c->item->oid, c->item->size, NULL, 0);
  if (rc < 0) return rc;
  tl->added[kind]++;
  dk_buf_printf(body, "%s: added\n", c->path);
  return 0;
}

/* Merge one change into main. */
static int dk__reconcile_one(struct dk__run *r, const struct dk__chg *c, struct dk_txn *mtx, struct dk_buf *body,
                             struct dk_buf *conf, struct dk__tally *tl, const char *when,
                             struct dk_merge_other *others, json_t **held) {
  enum dk_kind kind;
  char *id = NULL;
  json_t *ours = NULL;
  size_t no = 0;
  if (dk_record_parse_name(c->path, &kind, &id) != 0) return 0; /* not a record path: never merged */
  int rc = dk__ours(r, c->path, &ours);
  if (rc == 0 && c->kind == DK__CHG_ABSENT) rc = dk__apply_absence(mtx, c, kind, ours, body, tl);
  else if (rc == 0 && dk__plain_add(r, c, kind, id, ours)) rc = dk__apply_add(mtx, c, kind, body, tl);
  else if (rc == 0 && (rc = dk__branch_others(r, c->path, others, held, &no)) == 0) {
    struct dk_merge_in in = {.rc = r->ctx->rc, .source = r->src->name, .city = r->src->city, .base = c->base,
                             .ours = ours, .theirs = c->theirs, .tombstone = c->kind == DK__CHG_TOMBSTONE,
                             .tombstone_reason = c->reason, .others = others, .nothers = no};
    struct dk_merge_out mo = {0};
    char err[DK_ERRBUF_SIZE];
    if (dk_merge(&in, &mo, err) != 0) {
      /* skipping it would move the source branch past a change main never
       * got: the commit stops instead */
      rc = dk_failf(r->ctx->store->err, DK_EINVALID, "%s: cannot merge: %s", c->path, err);
    } else {
      rc = dk__apply_merge(mtx, c, kind, &mo, body, tl);
      dk__describe_conflicts(conf, c->path, r->src->name, &mo);
      tl->conflicts += mo.nconflicts;
      tl->open += mo.open;
      if (rc == 0) rc = dk__conflict_file(r, mtx, kind, id, c->path, &mo, when);
      dk_merge_out_free(&mo);
    }
    for (size_t s = 0; s < no; s++) json_decref(held[s]);
  }
  json_decref(ours);
  free(id);
  return rc;
}

int dk__reconcile(struct dk__run *r, struct dk__round *rd, struct dk_txn *mtx, struct dk_buf *body,
                  struct dk_buf *conf, struct dk__tally *tl, const char *when) {
  size_t cap = r->ctx->cfg->nsources ? r->ctx->cfg->nsources : 1;
  struct dk_merge_other *others = dk_calloc(cap, sizeof *others);
  json_t **held = dk_calloc(cap, sizeof *held);
  int rc = 0;
  for (size_t i = 0; i < rd->nchg && rc == 0; i++)
    rc = dk__reconcile_one(r, &rd->chg[i], mtx, body, conf, tl, when, others, held);
  free(others);
  free(held);
  return rc;
}

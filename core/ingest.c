#include "ingest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "canonical.h"
#include "log.h"
#include "pack.h"
#include "quarantine.h"
#include "record.h"
#include "schemas.h"
#include "util.h"

#define DK__RAW_MAX 16384 /* bytes of a record over its limits kept in quarantine */

void dk__round_add(struct dk__round *rd, const char *path, const struct dk__item *item, enum dk__chg_kind kind,
                   const char *reason) {
  if (rd->nchg == rd->capchg) {
    rd->capchg = rd->capchg ? 2 * rd->capchg : 64;
    rd->chg = dk_realloc(rd->chg, rd->capchg * sizeof *rd->chg);
  }
  rd->chg[rd->nchg++] = (struct dk__chg){dk_strdup(path), item, kind, reason ? dk_strdup(reason) : NULL};
}

/* The slot of path: its item's (index + 1), or the free one it would take. */
static size_t *dk__round_find(const struct dk__round *rd, const char *path) {
  for (size_t i = dk_str_hash(path) & (rd->capslots - 1);; i = (i + 1) & (rd->capslots - 1)) {
    size_t *s = &rd->slots[i];
    if (*s == 0 || strcmp(rd->items[*s - 1].path, path) == 0) return s;
  }
}

/* The item for path (taken: a malloc'd copy, the round's now, unless
 * borrowed: the index's): a new one, or the one an earlier record of the
 * round had (the later record wins; path is then let go). The items and
 * the table are made at their size by dk__ingest: one item a held or
 * parsed record at most, the table at most half full. */
static struct dk__item *dk__round_slot(struct dk__round *rd, char *path, int borrowed, int *dup) {
  size_t *slot = dk__round_find(rd, path);
  *dup = *slot != 0;
  if (*dup) {
    if (!borrowed) free(path);
    struct dk__item *it = &rd->items[*slot - 1];
    json_decref(it->rec);
    free(it->z);
    char *p = it->path;
    int pb = it->path_borrowed;
    *it = (struct dk__item){.path = p, .path_borrowed = pb};
    return it;
  }
  struct dk__item *it = &rd->items[rd->nitems];
  *it = (struct dk__item){.path = path, .path_borrowed = borrowed};
  *slot = ++rd->nitems;
  return it;
}

const struct dk__item *dk__round_item(const struct dk__round *rd, const char *path) {
  if (rd->capslots == 0 || path == NULL) return NULL;
  size_t s = *dk__round_find(rd, path);
  return s ? &rd->items[s - 1] : NULL;
}

/* Whether the source branch holds blob oid at path. */
static int dk__branch_holds(struct dk__run *r, const char *path, const git_oid *oid) {
  const char *held = dk_index_source_by_oid(r->ctx->index, r->sidx, oid);
  return held && strcmp(held, path) == 0;
}

/* A valid record's blob (id `oid`, `unchanged` when the branch holds it
 * at path), deflated unless unchanged. */
static void dk__prepare(struct dk__item *it, json_t *rec, const char *canon, size_t len, const git_oid *oid,
                        int unchanged) {
  it->rec = json_incref(rec);
  it->size = len;
  it->oid = *oid;
  it->unchanged = unchanged;
  if (!unchanged && dk_object_deflate(canon, len, &it->z, &it->zlen) != 0) it->z = NULL;
}

void dk__round_free(struct dk__round *rd) {
  for (size_t i = 0; i < rd->nitems; i++) {
    if (!rd->items[i].path_borrowed) free(rd->items[i].path);
    json_decref(rd->items[i].rec);
    free(rd->items[i].z);
  }
  free(rd->items);
  for (size_t i = 0; i < rd->nchg; i++) {
    free(rd->chg[i].path);
    free(rd->chg[i].reason);
  }
  free(rd->chg);
  free(rd->slots);
  json_decref(rd->invalid);
}

static void dk__quarantine(struct dk__run *r, const char *where, const json_t *record, const char *raw,
                           json_t *errors, struct dk__round *rd) {
  char name[DK_QUARANTINE_NAME_LEN + 1], err[DK_ERRBUF_SIZE];
  struct dk_quarantine_item it = {.source = r->src->name, .city = r->src->city, .url = r->url, .where = where,
                                  .record = record, .raw = raw, .errors = errors};
  int rc = dk_quarantine_put(r->ctx->cfg->state, &it, name, err);
  if (rc < 0) dk_log(DK_LOG_ERROR, "source", r->src->name, "record", where, NULL, "cannot quarantine: %s", err);
  else if (rd) rd->quarantined++;
}

/* What is wrong with a record whose shape and path are sound, as error
 * lines into errors: nothing when its blob is what the source branch holds
 * at its path (validated when it was committed), unless revalidating. */
static void dk__check(struct dk__run *r, json_t *rec, int unchanged, json_t *errors) {
  char err[DK_ERRBUF_SIZE];
  if (unchanged && !r->revalidate) return;
  struct dk_vresult vr = {0};
  int vrc = dk_schemas_validate_record(rec, &vr, err);
  if (vrc < 0) json_array_append_new(errors, json_string(vrc == DK_ETOOBIG ? "nested too deeply to validate" : err));
  for (size_t e = 0; vrc != 1 && e < vr.nerrors; e++) {
    char *line = dk_schemas_format_error(&vr.errors[e]);
    json_array_append_new(errors, json_string(line));
    free(line);
  }
  dk_vresult_free(&vr);
}

void dk__ingest(struct dk__run *r, struct dk__round *rd) {
  *rd = (struct dk__round){.r = r, .invalid = json_object(),
                           .quarantined = r->quarantined_rejects};
  /* made at their size: no table or array grown item by item */
  size_t want = r->nheld + json_array_size(r->records);
  rd->items = dk_malloc((want ? want : 1) * sizeof *rd->items);
  for (rd->capslots = 512; rd->capslots < 2 * (want + 1);) rd->capslots *= 2;
  rd->slots = dk_calloc(rd->capslots, sizeof *rd->slots);
  int dup;
  for (size_t h = 0; h < r->nheld; h++) {
    struct dk__item *it = dk__round_slot(rd, (char *)r->held[h].path, 1, &dup);
    it->oid = r->held[h].oid;
    it->unchanged = 1;
    it->has_raw = r->held[h].has_raw;
    it->raw = r->held[h].raw;
    it->raw_filed = r->held[h].raw_filed;
    it->span = r->held[h].span;
    r->res->records++;
  }
  size_t i;
  json_t *rec;
  json_array_foreach(r->records, i, rec) {
    char *path = NULL, *canon = NULL, err[DK_ERRBUF_SIZE];
    size_t clen = 0;
    git_oid oid;
    int unchanged = 0;
    const char *id = json_string_value(json_object_get(rec, "id"));
    char where[32];
    snprintf(where, sizeof where, "record %zu", i + 1);
    json_t *errors = json_array();
    char *raw = NULL;
    if (dk_record_check_shape(rec, r->src->max_depth, r->src->max_record, err) != 0) {
      /* kept as a bounded excerpt: the record itself may be what blows up */
      json_array_append_new(errors, json_string(err));
      char *full = json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);
      size_t n = full ? strlen(full) : 0;
      raw = full && n > DK__RAW_MAX ? dk_asprintf("%.*s... (%zu bytes)", DK__RAW_MAX, full, n) : dk_strdup(full);
      free(full);
      dk_record_path(rec, &path, err);
    } else if (dk_record_path(rec, &path, err) != 0) {
      json_array_append_new(errors, json_string(err));
    } else {
      canon = dk_canonical_dump(rec, &clen);
      dk_object_id(GIT_OBJECT_BLOB, canon, clen, &oid);
      unchanged = dk__branch_holds(r, path, &oid);
      dk__check(r, rec, unchanged, errors);
    }
    if (json_array_size(errors) > 0) {
      r->res->invalid++;
      if (path) json_object_set_new(rd->invalid, path, json_true());
      size_t k;
      json_t *m;
      json_array_foreach(errors, k, m)
        dk_log(DK_LOG_WARN, "source", r->src->name, "record", id ? id : where, NULL, "invalid record: %s",
               json_string_value(m));
      dk__quarantine(r, id ? id : where, raw ? NULL : rec, raw ? raw : NULL, errors, rd);
    } else {
      struct dk__item *it = dk__round_slot(rd, path, 0, &dup);
      path = NULL; /* the round's now */
      if (dup)
        dk_log(DK_LOG_WARN, "source", r->src->name, "record", id, NULL,
               "record appears twice in one round; the later one is kept");
      r->res->records++;
      dk__prepare(it, rec, canon, clen, &oid, unchanged);
      if (i < r->capraws && r->raws[i].set) {
        it->has_raw = 1;
        it->raw = r->raws[i].oid;
        it->span = r->raws[i].span;
      }
    }
    json_decref(errors);
    free(canon);
    free(raw);
    free(path);
  }
  /* the records live on as items; the run's array is not needed again */
  json_array_clear(r->records);
}

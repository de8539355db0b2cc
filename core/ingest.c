#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quarantine.h"
#include "record.h"
#include "schemas.h"
#include "util.h"

#define DK__RAW_MAX 16384 /* bytes of a record over its limits kept in quarantine */

void dk__round_add(struct dk__round *rd, const char *path, json_t *base, json_t *theirs,
                        enum dk__chg_kind kind, const char *reason) {
  if (rd->nchg == rd->capchg) {
    rd->capchg = rd->capchg ? 2 * rd->capchg : 64;
    rd->chg = dk_realloc(rd->chg, rd->capchg * sizeof *rd->chg);
  }
  rd->chg[rd->nchg++] = (struct dk__chg){dk_strdup(path), base, theirs, kind, reason ? dk_strdup(reason) : NULL};
}

void dk__round_free(struct dk__round *rd) {
  for (size_t i = 0; i < rd->nchg; i++) {
    free(rd->chg[i].path);
    json_decref(rd->chg[i].base);
    json_decref(rd->chg[i].theirs);
    free(rd->chg[i].reason);
  }
  free(rd->chg);
  json_decref(rd->valid);
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

void dk__ingest(struct dk__run *r, struct dk__round *rd) {
  *rd = (struct dk__round){.r = r, .valid = json_object(), .invalid = json_object(),
                           .quarantined = r->quarantined_rejects};
  size_t i;
  json_t *rec;
  json_array_foreach(r->records, i, rec) {
    char *path = NULL, err[DK_ERRBUF_SIZE];
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
      struct dk_vresult vr = {0};
      int vrc = dk_schemas_validate_record(rec, &vr, err);
      if (vrc < 0)
        json_array_append_new(errors, json_string(vrc == DK_ETOOBIG ? "nested too deeply to validate" : err));
      for (size_t e = 0; vrc != 1 && e < vr.nerrors; e++) {
        char *line = dk_schemas_format_error(&vr.errors[e]);
        json_array_append_new(errors, json_string(line));
        free(line);
      }
      dk_vresult_free(&vr);
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
      if (json_object_get(rd->valid, path))
        dk_log(DK_LOG_WARN, "source", r->src->name, "record", id, NULL,
               "record appears twice in one round; the later one is kept");
      json_object_set(rd->valid, path, rec);
      r->res->records++;
    }
    json_decref(errors);
    free(raw);
    free(path);
  }
}


#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "canonical.h"
#include "merge.h"
#include "schemas.h"
#include "util.h"

/* ---- resolution ---- */

void dk_resolve_result_clear(struct dk_resolve_result *res) {
  free(res->path);
  free(res->file);
  json_decref(res->applied);
  json_decref(res->remaining);
  free(res->resolution);
  free(res->message);
  memset(res, 0, sizeof *res);
}

static const char *dk__field_label(const char *f) { return f[0] ? f : "(record)"; }

/* "a, b, c" of the strings of an array. */
static char *dk__list(const json_t *arr) {
  struct dk_buf b = {0};
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) dk_buf_printf(&b, "%s%s", i ? ", " : "", dk__field_label(json_string_value(v)));
  return dk_buf_steal(&b);
}

static int dk__in(const json_t *arr, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), s) == 0) return 1;
  return 0;
}

static int dk__check_name(const char *by, char *err) {
  if (by == NULL || by[0] == '\0') return dk_failf(err, DK_EINVAL, "--by: the operator's name is empty");
  for (const unsigned char *p = (const unsigned char *)by; *p; p++)
    if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
      return dk_failf(err, DK_EINVAL, "--by: a name may not hold '<', '>' or control characters");
  if (!dk_utf8_valid(by, strlen(by))) return dk_failf(err, DK_EINVAL, "--by: the name is not UTF-8");
  return 0;
}

static int dk__resolve_once(struct dk_store *st, const struct dk_resolve_req *req, struct dk_resolve_result *res) {
  struct dk_txn *txn = NULL;
  char *raw = NULL;
  json_t *doc = NULL, *record = NULL, *neu = NULL, *fields = NULL, *applied = json_array(), *remaining = json_array(),
         *kept = json_array();
  struct dk_buf msg = {0}, body = {0};
  int ret = 0;
  git_oid head;
  int found;
  if ((ret = dk_store_ref(st, DK_MAIN_REF, &head, &found)) != 0) goto out;
  if (!found) {
    ret = dk_failf(st->err, DK_ENOENT, "%s has no main branch yet: nothing was synced", st->path);
    goto out;
  }
  if ((ret = dk_txn_begin(st, DK_MAIN_REF, &txn)) != 0) goto out;
  ret = dk_txn_base_read(txn, res->file, &raw, NULL);
  if (ret == DK_ENOENT) {
    ret = dk_failf(st->err, DK_EINVAL, "no open conflict on %s (main has no %s)", res->path, res->file);
    goto out;
  }
  if (ret != 0) goto out;
  doc = json_loads(raw, 0, NULL);
  /* held: the file's list is replaced by what stays open before the
   * message, which still describes the settled entries, is written */
  fields = json_incref(json_object_get(doc, "fields"));
  if (!json_is_object(doc) || !json_is_array(fields)) {
    ret = dk_failf(st->err, DK_EINVAL, "%s is not a conflict document (no \"fields\" list)", res->file);
    goto out;
  }
  /* The fields chosen, each once, in the file's order. */
  json_t *chosen = json_array(), *all = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(fields, i, e) {
    const char *f = json_string_value(json_object_get(e, "field"));
    if (f == NULL) continue;
    if (!dk__in(all, f)) json_array_append_new(all, json_string(f));
    if ((req->field == NULL || strcmp(f, req->field) == 0) && !dk__in(chosen, f))
      json_array_append_new(chosen, json_string(f));
  }
  if (json_array_size(chosen) == 0) {
    char *names = dk__list(all);
    ret = dk_failf(st->err, DK_EINVAL, "the conflict on %s has no field \"%s\" (its fields: %s)", res->path,
                   req->field ? req->field : "", names);
    free(names);
    json_decref(chosen);
    json_decref(all);
    goto out;
  }
  json_decref(all);

  char *rraw = NULL;
  ret = dk_txn_base_read(txn, res->path, &rraw, NULL);
  if (ret != 0 && ret != DK_ENOENT) {
    json_decref(chosen);
    goto out;
  }
  ret = 0;
  if (rraw) {
    record = json_loads(rraw, 0, NULL);
    free(rraw);
    if (record == NULL) {
      ret = dk_failf(st->err, DK_EINVAL, "%s on main is not JSON", res->path);
      json_decref(chosen);
      goto out;
    }
  }
  neu = record ? json_deep_copy(record) : NULL;
  json_t *fv;
  json_array_foreach(chosen, i, fv) {
    const char *f = json_string_value(fv);
    const json_t *old = dk_audit_field_get(record, f);
    if (req->how != DK_RESOLVE_MAIN && f[0] && neu == NULL) {
      ret = dk_failf(st->err, DK_ENOENT, "%s is not on main: only the whole record (--field \"\") can be chosen",
                     res->path);
      break;
    }
    json_t *val = NULL;
    if (req->how == DK_RESOLVE_TAKE) {
      const json_t *entry = NULL;
      json_t *sources = json_array();
      size_t j;
      json_array_foreach(fields, j, e) {
        const char *ef = json_string_value(json_object_get(e, "field")),
                   *es = json_string_value(json_object_get(e, "source"));
        if (ef == NULL || strcmp(ef, f) != 0 || es == NULL) continue;
        json_array_append_new(sources, json_string(es));
        if (strcmp(es, req->source) == 0) entry = e;
      }
      if (entry == NULL) {
        char *names = dk__list(sources);
        ret = dk_failf(st->err, DK_EINVAL, "field %s of the conflict on %s has no value from %s (its sources: %s)",
                       dk__field_label(f), res->path, req->source, names[0] ? names : "none");
        free(names);
        json_decref(sources);
        break;
      }
      json_decref(sources);
      json_t *theirs = json_object_get(entry, "theirs");
      val = theirs ? json_deep_copy(theirs) : NULL;
    } else if (req->how == DK_RESOLVE_VALUE) {
      val = json_deep_copy(req->value);
      if (f[0] == '\0') {
        char *p = NULL, perr[DK_ERRBUF_SIZE];
        int ok = dk_record_path(val, &p, perr) == 0 && strcmp(p, res->path) == 0;
        free(p);
        if (!ok) {
          json_decref(val);
          ret = dk_failf(st->err, DK_EINVAL, "--value for the whole record must be the record at %s (kind and id)",
                         res->path);
          break;
        }
      }
    }
    if (req->how != DK_RESOLVE_MAIN && (ret = dk_audit_field_set(&neu, f, val, st->err)) != 0) break;
    const json_t *now = dk_audit_field_get(neu, f);
    json_t *a = json_pack("{s:s}", "field", f);
    if (old) json_object_set_new(a, "old", json_deep_copy(old));
    if (now) json_object_set_new(a, "new", json_deep_copy(now));
    json_array_append_new(applied, a);
  }
  if (ret != 0) {
    json_decref(chosen);
    goto out;
  }
  json_array_foreach(fields, i, e) {
    const char *f = json_string_value(json_object_get(e, "field"));
    if (f && dk__in(chosen, f)) continue;
    json_array_append(kept, e);
    if (f && !dk__in(remaining, f)) json_array_append_new(remaining, json_string(f));
  }
  json_decref(chosen);

  /* What main keeps must pass its schema, as any synced record does. */
  if (neu && !dk_json_same(neu, record)) {
    char *p = NULL, verr[DK_ERRBUF_SIZE];
    if (dk_record_path(neu, &p, verr) != 0 || strcmp(p, res->path) != 0) {
      ret = dk_failf(st->err, DK_EINVALID, "the record would no longer be %s: %s", res->path,
                     p ? "its kind or id changed" : verr);
      free(p);
      goto out;
    }
    free(p);
    struct dk_vresult vr = {0};
    int v = dk_schemas_validate_record(neu, &vr, verr);
    if (v != 1) {
      char *first = vr.nerrors ? dk_schemas_format_error(&vr.errors[0]) : NULL;
      ret = dk_failf(st->err, DK_EINVALID, "the resolved record would be invalid: %s%s",
                     first ? first : v < 0 ? verr : "?", vr.nerrors > 1 ? " (and more)" : "");
      free(first);
      dk_vresult_free(&vr);
      goto out;
    }
    dk_vresult_free(&vr);
  }
  if (neu) {
    size_t len;
    char *data = dk_canonical_dump(neu, &len);
    ret = dk_txn_put(txn, res->path, data, len);
    free(data);
  } else if (record) {
    ret = dk_txn_remove(txn, res->path);
  }
  if (ret < 0) goto out;
  if (json_array_size(kept) > 0) {
    json_object_set(doc, "fields", kept);
    size_t len;
    char *data = dk_canonical_dump(doc, &len);
    ret = dk_txn_put(txn, res->file, data, len);
    free(data);
  } else {
    ret = dk_txn_remove(txn, res->file);
  }
  if (ret < 0) goto out;

  char how[300];
  if (req->how == DK_RESOLVE_TAKE) snprintf(how, sizeof how, "take %s", req->source);
  else snprintf(how, sizeof how, "%s", req->how == DK_RESOLVE_MAIN ? "keep main" : "value");
  dk_buf_printf(&msg, "resolve %s: ", res->path);
  json_array_foreach(applied, i, e) {
    const char *f = json_string_value(json_object_get(e, "field"));
    char *nv = dk_value_short(json_object_get(e, "new"), 60), *ov = dk_value_short(json_object_get(e, "old"), 60);
    dk_buf_printf(&msg, "%s%s \xe2\x86\x92 %s", i ? ", " : "", dk__field_label(f), nv);
    if (req->how == DK_RESOLVE_MAIN) dk_buf_printf(&body, "%s: %s (kept)\n", dk__field_label(f), nv);
    else dk_buf_printf(&body, "%s: %s \xe2\x86\x92 %s\n", dk__field_label(f), ov, nv);
    free(nv);
    free(ov);
    size_t j;
    json_t *c;
    json_array_foreach(fields, j, c) {
      const char *cf = json_string_value(json_object_get(c, "field"));
      if (cf == NULL || strcmp(cf, f) != 0) continue;
      char *b = dk_value_short(json_object_get(c, "base"), 40), *o = dk_value_short(json_object_get(c, "ours"), 40),
           *t = dk_value_short(json_object_get(c, "theirs"), 40);
      const char *src = json_string_value(json_object_get(c, "source")),
                 *pol = json_string_value(json_object_get(c, "policy")),
                 *at = json_string_value(json_object_get(c, "opened_at"));
      dk_buf_printf(&body, "  conflict: base %s, ours %s, theirs %s from %s (policy %s, opened %s)\n", b, o, t,
                    src ? src : "?", pol ? pol : "?", at ? at : "?");
      free(b);
      free(o);
      free(t);
    }
  }
  dk_buf_printf(&msg, " (%s)\n\n", how);
  dk_buf_append(&msg, body.data, body.len);
  if (json_array_size(remaining) > 0) {
    char *names = dk__list(remaining);
    dk_buf_printf(&msg, "%s: still open: %s\n", res->file, names);
    free(names);
  } else {
    dk_buf_printf(&msg, "%s: removed, no field left open\n", res->file);
  }
  dk_buf_printf(&msg, "\nDuikou-Resolved-By: %s\nDuikou-Resolution: %s\n", req->by, how);

  struct dk_buf email = {0};
  for (const char *p = req->by; *p; p++) dk_buf_append(&email, *p == ' ' || *p == '\t' ? "." : p, 1);
  dk_buf_puts(&email, "@operator.duikou.invalid");
  time_t now = req->when ? (time_t)req->when : time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  struct dk_commit_meta meta = {
    .author_name = req->by, .author_email = dk_buf_cstr(&email),
    .committer_name = "duikou", .committer_email = "duikou@localhost",
    .when = (git_time_t)now, .offset_minutes = (int)(tm.tm_gmtoff / 60),
    .message = dk_buf_cstr(&msg),
  };
  ret = dk_txn_commit(txn, &meta, 1, &res->commit);
  dk_buf_free(&email);
  if (ret < 0) goto out;
  ret = 0;
  res->applied = applied;
  res->remaining = remaining;
  res->message = dk_buf_steal(&msg);
  res->resolution = dk_strdup(how);
  applied = remaining = NULL;
out:
  dk_txn_free(txn);
  free(raw);
  json_decref(doc);
  json_decref(fields);
  json_decref(record);
  json_decref(neu);
  json_decref(applied);
  json_decref(remaining);
  json_decref(kept);
  dk_buf_free(&msg);
  dk_buf_free(&body);
  return ret;
}

int dk_resolve(struct dk_store *st, const struct dk_resolve_req *req, struct dk_resolve_result *res) {
  memset(res, 0, sizeof *res);
  enum dk_kind kind;
  char *id = NULL;
  int ret = dk_audit_conflict_name(req->name, &res->path, &kind, &id, &res->file, st->err);
  free(id);
  if (ret == 0) ret = dk__check_name(req->by, st->err);
  if (ret == 0 && req->how == DK_RESOLVE_TAKE && (req->source == NULL || req->source[0] == '\0'))
    ret = dk_failf(st->err, DK_EINVAL, "--take needs a source name, or main");
  if (ret == 0 && req->how == DK_RESOLVE_VALUE && req->value == NULL)
    ret = dk_failf(st->err, DK_EINVAL, "--value needs a JSON value");
  /* Compare-and-swap lost to a sync: once more from the new main. */
  for (int attempt = 0; ret == 0; attempt++) {
    ret = dk__resolve_once(st, req, res);
    if (ret != DK_EEXIST || attempt == 1) break;
    ret = 0;
  }
  if (ret != 0) {
    dk_resolve_result_clear(res);
    return ret;
  }
  return 0;
}

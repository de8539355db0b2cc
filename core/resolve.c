#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "canonical.h"
#include "converge.h"
#include "exchange.h"
#include "fold.h"
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

/* One attempt at a resolution: what it reads and builds, released by
 * dk__rs_free. */
struct dk__rs {
  struct dk_store *st;
  const struct dk_resolve_req *req;
  struct dk_resolve_result *res;
  struct dk_txn *txn;
  json_t *doc;       /* the conflict document on main */
  json_t *fields;    /* its entries, held: the file's list is replaced by what stays open */
  json_t *chosen;    /* the fields settled now, each once, in the file's order */
  json_t *record;    /* main's record, or NULL */
  json_t *neu;       /* the record after the choice, or NULL */
  json_t *applied, *remaining, *kept;
  json_t *takes;     /* field -> {site, source}: whose entry --take chose */
  json_t *applied_values; /* field -> the --value given for it */
  int ambiguous;     /* --take SOURCE matched entries of two sites */
};

static void dk__rs_free(struct dk__rs *rs) {
  dk_txn_free(rs->txn);
  json_decref(rs->doc);
  json_decref(rs->fields);
  json_decref(rs->chosen);
  json_decref(rs->record);
  json_decref(rs->neu);
  json_decref(rs->applied);
  json_decref(rs->remaining);
  json_decref(rs->kept);
  json_decref(rs->takes);
  json_decref(rs->applied_values);
}

/* main's blob at path as JSON into *out (NULL when absent). */
static int dk__rs_read(struct dk__rs *rs, const char *path, json_t **out) {
  char *raw = NULL;
  *out = NULL;
  int rc = dk_txn_base_read(rs->txn, path, &raw, NULL);
  if (rc == 0 && (*out = json_loads(raw, 0, NULL)) == NULL)
    rc = dk_failf(rs->st->err, DK_EINVAL, "%s on main is not JSON", path);
  free(raw);
  return rc;
}

/* Start on main, read the conflict document and main's record. */
static int dk__rs_load(struct dk__rs *rs) {
  git_oid head;
  int found, rc = dk_store_ref(rs->st, DK_MAIN_REF, &head, &found);
  if (rc != 0) return rc;
  if (!found) return dk_failf(rs->st->err, DK_ENOENT, "%s has no main branch yet: nothing was synced", rs->st->path);
  if ((rc = dk_txn_begin(rs->st, DK_MAIN_REF, &rs->txn)) != 0) return rc;
  rc = dk__rs_read(rs, rs->res->file, &rs->doc);
  if (rc == DK_ENOENT)
    return dk_failf(rs->st->err, DK_EINVAL, "no open conflict on %s (main has no %s)", rs->res->path, rs->res->file);
  if (rc != 0) return rc;
  rs->fields = json_incref(json_object_get(rs->doc, "fields"));
  if (!json_is_object(rs->doc) || !json_is_array(rs->fields))
    return dk_failf(rs->st->err, DK_EINVAL, "%s is not a conflict document (no \"fields\" list)", rs->res->file);
  rc = dk__rs_read(rs, rs->res->path, &rs->record);
  return rc == DK_ENOENT ? 0 : rc;
}

/* The fields the request settles, each once, in the file's order. */
static int dk__rs_choose(struct dk__rs *rs) {
  json_t *all = json_array(), *e;
  size_t i;
  rs->chosen = json_array();
  json_array_foreach(rs->fields, i, e) {
    const char *f = json_string_value(json_object_get(e, "field"));
    if (f == NULL) continue;
    if (!dk__in(all, f)) json_array_append_new(all, json_string(f));
    if ((rs->req->field == NULL || strcmp(f, rs->req->field) == 0) && !dk__in(rs->chosen, f))
      json_array_append_new(rs->chosen, json_string(f));
  }
  int rc = 0;
  if (json_array_size(rs->chosen) == 0) {
    char *names = dk__list(all);
    rc = dk_failf(rs->st->err, DK_EINVAL, "the conflict on %s has no field \"%s\" (its fields: %s)", rs->res->path,
                  rs->req->field ? rs->req->field : "", names);
    free(names);
  }
  json_decref(all);
  return rc;
}

/* The value --take SOURCE gives field f: that source's `theirs`. */
static int dk__rs_taken(struct dk__rs *rs, const char *f, json_t **val) {
  const json_t *entry = NULL;
  json_t *sources = json_array(), *e;
  size_t j;
  json_array_foreach(rs->fields, j, e) {
    const char *ef = json_string_value(json_object_get(e, "field")),
               *es = json_string_value(json_object_get(e, "source")),
               *site = json_string_value(json_object_get(e, "site"));
    if (ef == NULL || strcmp(ef, f) != 0 || es == NULL) continue;
    char *qual = site ? dk_asprintf("%s/%s", site, es) : dk_strdup(es);
    json_array_append_new(sources, json_string(qual));
    /* SOURCE, or SITE/SOURCE where two sites have a source of that name */
    if (strcmp(es, rs->req->source) == 0 || strcmp(qual, rs->req->source) == 0) {
      if (entry && strcmp(qual, rs->req->source) != 0) entry = NULL, rs->ambiguous = 1;
      else entry = e, rs->ambiguous = 0;
    }
    free(qual);
  }
  int rc = 0;
  if (entry == NULL && rs->ambiguous) {
    char *names = dk__list(sources);
    rc = dk_failf(rs->st->err, DK_EINVAL, "field %s of the conflict on %s has values from more than one %s: say "
                  "which as SITE/SOURCE (%s)", dk__field_label(f), rs->res->path, rs->req->source, names);
    free(names);
  } else if (entry == NULL) {
    char *names = dk__list(sources);
    rc = dk_failf(rs->st->err, DK_EINVAL, "field %s of the conflict on %s has no value from %s (its sources: %s)",
                  dk__field_label(f), rs->res->path, rs->req->source, names[0] ? names : "none");
    free(names);
  } else {
    json_t *theirs = json_object_get(entry, "theirs");
    *val = theirs ? json_deep_copy(theirs) : NULL;
    json_object_set_new(rs->takes, f, json_pack("{s:o*, s:o*}", "site", json_incref(json_object_get(entry, "site")),
                                                "source", json_incref(json_object_get(entry, "source"))));
  }
  json_decref(sources);
  return rc;
}

/* The value --value gives field f; for "" it must be this very record. */
static int dk__rs_given(struct dk__rs *rs, const char *f, json_t **val) {
  *val = json_deep_copy(rs->req->value);
  if (f[0] != '\0') return 0;
  char *p = NULL, perr[DK_ERRBUF_SIZE];
  int ok = dk_record_path(*val, &p, perr) == 0 && strcmp(p, rs->res->path) == 0;
  free(p);
  if (ok) return 0;
  json_decref(*val);
  *val = NULL;
  return dk_failf(rs->st->err, DK_EINVAL, "--value for the whole record must be the record at %s (kind and id)",
                  rs->res->path);
}

/* Apply the choice to every chosen field (rs->applied), and keep the
 * entries that stay open (rs->kept, rs->remaining). */
static int dk__rs_apply(struct dk__rs *rs) {
  const struct dk_resolve_req *req = rs->req;
  rs->neu = rs->record ? json_deep_copy(rs->record) : NULL;
  rs->applied = json_array();
  size_t i;
  json_t *fv, *e;
  json_array_foreach(rs->chosen, i, fv) {
    const char *f = json_string_value(fv);
    const json_t *old = dk_audit_field_get(rs->record, f);
    if (req->how != DK_RESOLVE_MAIN && f[0] && rs->neu == NULL)
      return dk_failf(rs->st->err, DK_ENOENT, "%s is not on main: only the whole record (--field \"\") can be chosen",
                      rs->res->path);
    json_t *val = NULL;
    int rc = req->how == DK_RESOLVE_TAKE ? dk__rs_taken(rs, f, &val)
             : req->how == DK_RESOLVE_VALUE ? dk__rs_given(rs, f, &val) : 0;
    if (rc == 0 && req->how == DK_RESOLVE_VALUE) json_object_set(rs->applied_values, f, val);
    if (rc == 0 && req->how != DK_RESOLVE_MAIN) rc = dk_audit_field_set(&rs->neu, f, val, rs->st->err);
    if (rc != 0) return rc;
    const json_t *now = dk_audit_field_get(rs->neu, f);
    json_t *a = json_pack("{s:s}", "field", f);
    if (old) json_object_set_new(a, "old", json_deep_copy(old));
    if (now) json_object_set_new(a, "new", json_deep_copy(now));
    json_array_append_new(rs->applied, a);
  }
  rs->kept = json_array();
  rs->remaining = json_array();
  json_array_foreach(rs->fields, i, e) {
    const char *f = json_string_value(json_object_get(e, "field"));
    if (f && dk__in(rs->chosen, f)) continue;
    json_array_append(rs->kept, e);
    if (f && !dk__in(rs->remaining, f)) json_array_append_new(rs->remaining, json_string(f));
  }
  return 0;
}

/* What main keeps must pass its schema, as any synced record does. */
static int dk__rs_check(struct dk__rs *rs) {
  if (rs->neu == NULL || dk_json_same(rs->neu, rs->record)) return 0;
  char *p = NULL, verr[DK_ERRBUF_SIZE];
  if (dk_record_path(rs->neu, &p, verr) != 0 || strcmp(p, rs->res->path) != 0) {
    int rc = dk_failf(rs->st->err, DK_EINVALID, "the record would no longer be %s: %s", rs->res->path,
                      p ? "its kind or id changed" : verr);
    free(p);
    return rc;
  }
  free(p);
  struct dk_vresult vr = {0};
  int v = dk_schemas_validate_record(rs->neu, &vr, verr), rc = 0;
  if (v != 1) {
    char *first = vr.nerrors ? dk_schemas_format_error(&vr.errors[0]) : NULL;
    rc = dk_failf(rs->st->err, DK_EINVALID, "the resolved record would be invalid: %s%s",
                  first ? first : v < 0 ? verr : "?", vr.nerrors > 1 ? " (and more)" : "");
    free(first);
  }
  dk_vresult_free(&vr);
  return rc;
}

/* The conflict entries of field f, for the commit body. */
static void dk__rs_describe(struct dk__rs *rs, const char *f, struct dk_buf *body) {
  size_t j;
  json_t *c;
  json_array_foreach(rs->fields, j, c) {
    const char *cf = json_string_value(json_object_get(c, "field"));
    if (cf == NULL || strcmp(cf, f) != 0) continue;
    char *b = dk_value_short(json_object_get(c, "base"), 40), *o = dk_value_short(json_object_get(c, "ours"), 40),
         *t = dk_value_short(json_object_get(c, "theirs"), 40);
    const char *src = json_string_value(json_object_get(c, "source")),
               *pol = json_string_value(json_object_get(c, "policy")),
               *at = json_string_value(json_object_get(c, "opened_at"));
    dk_buf_printf(body, "  conflict: base %s, ours %s, theirs %s from %s (policy %s, opened %s)\n", b, o, t,
                  src ? src : "?", pol ? pol : "?", at ? at : "?");
    free(b);
    free(o);
    free(t);
  }
}

/* The resolution commit's message: the choice per field, the conflicts
 * it settles, what stays open, and the trailers. */
static void dk__rs_message(struct dk__rs *rs, const char *how, struct dk_buf *msg) {
  struct dk_buf body = {0};
  size_t i;
  json_t *e;
  dk_buf_printf(msg, "resolve %s: ", rs->res->path);
  json_array_foreach(rs->applied, i, e) {
    const char *f = json_string_value(json_object_get(e, "field"));
    char *nv = dk_value_short(json_object_get(e, "new"), 60), *ov = dk_value_short(json_object_get(e, "old"), 60);
    dk_buf_printf(msg, "%s%s \xe2\x86\x92 %s", i ? ", " : "", dk__field_label(f), nv);
    if (rs->req->how == DK_RESOLVE_MAIN) dk_buf_printf(&body, "%s: %s (kept)\n", dk__field_label(f), nv);
    else dk_buf_printf(&body, "%s: %s \xe2\x86\x92 %s\n", dk__field_label(f), ov, nv);
    free(nv);
    free(ov);
    dk__rs_describe(rs, f, &body);
  }
  dk_buf_printf(msg, " (%s)\n\n", how);
  dk_buf_append(msg, body.data, body.len);
  dk_buf_free(&body);
  if (json_array_size(rs->remaining) > 0) {
    char *names = dk__list(rs->remaining);
    dk_buf_printf(msg, "%s: still open: %s\n", rs->res->file, names);
    free(names);
  } else {
    dk_buf_printf(msg, "%s: removed, no field left open\n", rs->res->file);
  }
  dk_buf_printf(msg, "\nDuikou-Resolved-By: %s\nDuikou-Resolution: %s\n", rs->req->by, how);
}

/* The operator's name as an e-mail local part. */
static char *dk__rs_email(const char *by) {
  struct dk_buf email = {0};
  for (const char *p = by; *p; p++) dk_buf_append(&email, *p == ' ' || *p == '\t' ? "." : p, 1);
  dk_buf_puts(&email, "@operator.duikou.invalid");
  return dk_buf_steal(&email);
}

/* Each chosen field as one commit on this site's resolutions, then main
 * folded again, authored by the operator. */
static int dk__rs_commit(struct dk__rs *rs, const char *how) {
  const struct dk_resolve_req *req = rs->req;
  char *email = dk__rs_email(req->by);
  struct dk_commit_meta meta;
  dk_commit_meta_init(&meta, req->by, email, req->when);
  static struct dk_config none;
  const struct dk_config *cfg = req->cfg ? req->cfg : &none;
  /* a main the fold did not make is taken as it stands first, so that the
   * resolutions written now are folded, not counted as folded already */
  int rc = dk_converge_adopt(rs->st, cfg, NULL);
  rc = rc < 0 ? rc : 0;
  /* after what main folded, which the operator saw: a second later when needed */
  meta.when = dk_converge_next_time(rs->st, cfg, 1, NULL, meta.when);
  size_t i;
  json_t *fv;
  json_array_foreach(rs->chosen, i, fv) {
    if (rc != 0) break;
    const char *f = json_string_value(fv);
    const char *hw = req->how == DK_RESOLVE_TAKE ? "take" : req->how == DK_RESOLVE_MAIN ? "main" : "value";
    json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "path", rs->res->path, "field", f, "how", hw, "by", req->by);
    if (req->how == DK_RESOLVE_VALUE) json_object_set(r, "value", json_object_get(rs->applied_values, f));
    json_t *who = json_object_get(rs->takes, f);
    if (req->how == DK_RESOLVE_TAKE && who) {
      if (json_object_get(who, "site")) json_object_set(r, "site", json_object_get(who, "site"));
      json_object_set(r, "source", json_object_get(who, "source"));
    }
    for (int attempt = 0;; attempt++) {
      rc = dk_fold_resolution_commit(rs->st, DK_RESOLUTIONS_REF, r, &meta, &rs->res->input);
      if (rc != DK_EEXIST || attempt == 2) break;
    }
    json_decref(r);
    if (rc < 0) break;
    rc = 0;
  }
  struct dk_buf msg = {0}, subject = {0}, trailers = {0};
  dk__rs_message(rs, how, &msg);
  /* the message is subject, blank line, body, blank line, trailers */
  const char *nl = strchr(msg.data, '\n');
  dk_buf_append(&subject, msg.data, (size_t)(nl - msg.data));
  const char *tr = strstr(msg.data, "\n\nDuikou-Resolved-By: ");
  char *body = dk_strndup(nl + 2, (size_t)(tr - nl - 2));
  dk_buf_puts(&trailers, tr + 2);
  struct dk_converge_meta m = {.why = "resolution", .author = req->by, .email = email, .when = req->when,
                               .subject = dk_buf_cstr(&subject), .body = body, .trailers = dk_buf_cstr(&trailers),
                               .force = 1};
  struct dk_converge_result cr;
  memset(&cr, 0, sizeof cr);
  if (rc == 0) rc = dk_converge(rs->st, cfg, NULL, &m, &cr);
  if (rc == 0 && !cr.committed) rc = dk_failf(rs->st->err, DK_EGIT, "main was not folded again");
  if (rc == 0) {
    dk_oid_parse(cr.commit, &rs->res->commit);
    rs->res->message = dk_buf_steal(&msg);
    rs->res->resolution = dk_strdup(how);
    rs->res->applied = rs->applied;
    rs->res->remaining = rs->remaining;
    rs->applied = rs->remaining = NULL;
  }
  dk_converge_result_clear(&cr);
  free(body);
  free(email);
  dk_buf_free(&msg);
  dk_buf_free(&subject);
  dk_buf_free(&trailers);
  return rc < 0 ? rc : 0;
}

static int dk__resolve_once(struct dk_store *st, const struct dk_resolve_req *req, struct dk_resolve_result *res) {
  struct dk__rs rs = {.st = st, .req = req, .res = res, .takes = json_object(), .applied_values = json_object()};
  char how[300];
  if (req->how == DK_RESOLVE_TAKE) snprintf(how, sizeof how, "take %s", req->source);
  else snprintf(how, sizeof how, "%s", req->how == DK_RESOLVE_MAIN ? "keep main" : "value");
  int rc = dk__rs_load(&rs);
  if (rc == 0) rc = dk__rs_choose(&rs);
  if (rc == 0) rc = dk__rs_apply(&rs);
  if (rc == 0) rc = dk__rs_check(&rs);
  if (rc == 0) rc = dk__rs_commit(&rs, how);
  dk__rs_free(&rs);
  return rc;
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

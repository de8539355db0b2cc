#include "converge.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "branch.h"
#include "canonical.h"
#include "commitmsg.h"
#include "exchange.h"
#include "log.h"
#include "merge.h"
#include "util.h"

static char *dk__own(struct dk_inputs *in, char *s) {
  in->owned = dk_realloc(in->owned, (in->nowned + 1) * sizeof *in->owned);
  in->owned[in->nowned++] = s;
  return s;
}

void dk_inputs_free(struct dk_inputs *in) {
  for (size_t i = 0; i < in->nowned; i++) free(in->owned[i]);
  free(in->owned);
  free(in->v);
  free(in->heads);
  free(in->hashead);
  free(in->overrides);
  memset(in, 0, sizeof *in);
}

static const char *dk__site(const struct dk_config *cfg) { return cfg->site ? cfg->site : DK_LOCAL_SITE; }

/* The commits the site itself makes: by "duikou (<site>)". */
static void dk__site_meta(const struct dk_config *cfg, char *author, char *email, size_t n, const char **a,
                          const char **e) {
  snprintf(author, n, "duikou (%s)", dk__site(cfg));
  snprintf(email, n, "duikou@%s.duikou.invalid", dk__site(cfg));
  *a = author;
  *e = email;
}

struct dk__collect {
  struct dk_store *st;
  const struct dk_config *cfg;
  struct dk_inputs *in;
  const char *const *orefs; /* the inputs given a head of their own */
  size_t no;
  char *overridden;         /* by override: met among the refs */
};

/* The override of ref: its number, or (size_t)-1. */
static size_t dk__override(const struct dk__collect *c, const char *ref) {
  for (size_t j = 0; j < c->no; j++)
    if (strcmp(ref, c->orefs[j]) == 0) return j;
  return (size_t)-1;
}

/* The city a source's head commit names (its Duikou-City trailer), so that
 * every site folds an input with the same city; else the configuration's. */
static const char *dk__city(struct dk__collect *c, const git_oid *head, const char *source, int own) {
  struct dk_store_commit sc;
  char *city = NULL;
  if (dk_store_commit(c->st, head, &sc) == 0) {
    city = dk_store_trailer(sc.message, "Duikou-City");
    dk_store_commit_clear(&sc);
  }
  if (city == NULL && own) {
    const struct dk_source_conf *s = dk_config_source(c->cfg, source);
    if (s && s->city) city = dk_strdup(s->city);
  }
  return city ? dk__own(c->in, city) : NULL;
}

static void dk__add(struct dk__collect *c, const char *ref, const char *site, const char *source, const git_oid *head,
                    int own, const char *city, size_t ix1) {
  struct dk_inputs *in = c->in;
  in->v = dk_realloc(in->v, (in->n + 1) * sizeof *in->v);
  struct dk_fold_input *f = &in->v[in->n++];
  memset(f, 0, sizeof *f);
  f->ref = dk__own(in, dk_strdup(ref));
  f->site = dk__own(in, dk_strdup(site));
  f->source = source ? dk__own(in, dk_strdup(source)) : NULL;
  f->ix1 = ix1;
  in->heads = dk_realloc(in->heads, in->n * sizeof *in->heads);
  in->hashead = dk_realloc(in->hashead, in->n);
  in->hashead[in->n - 1] = 0;
  size_t o = dk__override(c, ref);
  if (o != (size_t)-1) {
    f->head = &in->overrides[o];
    c->overridden[o] = 1;
    head = &in->overrides[o];
  } else if (head) {
    /* known already (read, or the index's): the fold reads no ref for it */
    in->heads[in->n - 1] = *head;
    in->hashead[in->n - 1] = 1;
  }
  if (source) f->city = city ? city : dk__city(c, head, source, own);
}

static int dk__configured(const struct dk_config *cfg, const char *name) {
  return dk_config_source(cfg, name) != NULL;
}

static int dk__own_cb(const char *ref, const git_oid *oid, void *arg) {
  struct dk__collect *c = arg;
  const char *name = ref + strlen(DK__SRC_PREFIX);
  if (*name && !strchr(name, '/') && !dk__configured(c->cfg, name)) dk__add(c, ref, dk__site(c->cfg), name, oid, 1, NULL, 0);
  return 0;
}

static int dk__extra_cb(const char *ref, const git_oid *oid, void *arg) {
  (void)oid;
  struct dk_inputs_cache *cache = arg;
  const char *name = ref + strlen(DK__SRC_PREFIX);
  if (*name && !strchr(name, '/')) {
    cache->extra = dk_realloc(cache->extra, (cache->nextra + 1) * sizeof *cache->extra);
    cache->extra[cache->nextra++] = dk_strdup(ref);
  }
  return 0;
}

void dk_inputs_cache_free(struct dk_inputs_cache *c) {
  for (size_t i = 0; i < c->nextra; i++) free(c->extra[i]);
  free(c->extra);
  memset(c, 0, sizeof *c);
}

static int dk__sites_cb(const char *ref, const git_oid *oid, void *arg) {
  struct dk__collect *c = arg;
  const char *rest = ref + strlen(DK_SITES_PREFIX), *slash = strchr(rest, '/');
  if (slash == NULL || slash == rest) return 0;
  char *site = dk_strndup(rest, (size_t)(slash - rest));
  const char *name = slash + 1;
  if (strcmp(site, dk__site(c->cfg)) != 0) {
    if (strncmp(name, "sources/", 8) == 0 && name[8] && !strchr(name + 8, '/'))
      dk__add(c, ref, site, name + 8, oid, 0, NULL, 0);
    else if (strcmp(name, "resolutions") == 0)
      dk__add(c, ref, site, NULL, oid, 0, NULL, 0);
  }
  free(site);
  return 0;
}

int dk_inputs_collect(struct dk_store *st, const struct dk_config *cfg, struct dk_index *ix,
                      struct dk_inputs_cache *cache, const char *const *override_refs,
                      const git_oid *override_heads, size_t noverrides, struct dk_inputs *out) {
  memset(out, 0, sizeof *out);
  struct dk__collect c = {st, cfg, out, override_refs, noverrides, NULL};
  if (noverrides) {
    out->overrides = dk_calloc(noverrides, sizeof *out->overrides);
    out->noverrides = noverrides;
    memcpy(out->overrides, override_heads, noverrides * sizeof *out->overrides);
    c.overridden = dk_calloc(noverrides, 1);
  }
  int rc = 0;
  /* this site's configured sources, in the configuration's (the index's) order */
  for (size_t i = 0; i < cfg->nsources && rc == 0; i++) {
    const struct dk_source_conf *s = &cfg->sources[i];
    char *ref = dk_asprintf(DK__SRC_PREFIX "%s", s->name);
    git_oid head;
    int have = 0;
    if (ix) dk_index_head(ix, i, &head, &have);
    else rc = dk_store_ref(st, ref, &head, &have);
    if (rc == 0 && (have || dk__override(&c, ref) != (size_t)-1))
      dk__add(&c, ref, dk__site(cfg), s->name, have ? &head : NULL, 1, s->city ? dk__own(out, dk_strdup(s->city)) : NULL,
              ix ? i + 1 : 0);
    free(ref);
  }
  /* the others it holds: once per engine with a cache, else listed now */
  if (rc == 0 && cache && !cache->ready) {
    rc = dk_store_refs(st, DK__SRC_PREFIX, dk__extra_cb, cache);
    if (rc == 0) cache->ready = 1;
  }
  if (rc == 0 && cache) {
    for (size_t i = 0; i < cache->nextra && rc == 0; i++) {
      const char *name = cache->extra[i] + strlen(DK__SRC_PREFIX);
      if (dk__configured(cfg, name)) continue;
      git_oid head;
      int have = 0;
      if ((rc = dk_store_ref(st, cache->extra[i], &head, &have)) == 0 && have)
        dk__add(&c, cache->extra[i], dk__site(cfg), name, &head, 1, NULL, 0);
    }
  } else if (rc == 0) {
    rc = dk_store_refs(st, DK__SRC_PREFIX, dk__own_cb, &c);
  }
  git_oid res;
  int have = 0;
  if (rc == 0) rc = dk_store_ref(st, DK_RESOLUTIONS_REF, &res, &have);
  if (rc == 0 && have) dk__add(&c, DK_RESOLUTIONS_REF, dk__site(cfg), NULL, &res, 1, NULL, 0);
  if (rc == 0) rc = dk_store_refs(st, DK_SITES_PREFIX, dk__sites_cb, &c);
  for (size_t j = 0; rc == 0 && j < noverrides; j++) {
    if (c.overridden[j]) continue;
    const char *oref = override_refs[j];
    int is_src = strncmp(oref, DK__SRC_PREFIX, strlen(DK__SRC_PREFIX)) == 0;
    dk__add(&c, oref, dk__site(cfg), is_src ? oref + strlen(DK__SRC_PREFIX) : NULL, &out->overrides[j], 1, NULL, 0);
  }
  free(c.overridden);
  /* heads known: the fold reads them from here (the array may have moved) */
  for (size_t i = 0; rc == 0 && i < out->n; i++)
    if (out->v[i].head == NULL && out->hashead[i]) out->v[i].head = &out->heads[i];
  if (rc != 0) dk_inputs_free(out);
  return rc;
}

void dk_converge_result_clear(struct dk_converge_result *r) {
  free(r->summary);
  memset(r, 0, sizeof *r);
}

void dk_converge_tally(const struct dk_fold_out *fo, struct dk__tally *tl) {
  for (int k = 0; k < DK_KIND_COUNT; k++) {
    tl->added[k] = fo->added[k];
    tl->changed[k] = fo->changed[k];
    tl->deleted[k] = fo->deleted[k];
  }
  tl->conflicts = fo->conflicts;
  tl->open = fo->open;
}

/* The first line's counts, as a sync commit's (commitmsg.h), malloc'd. */
static char *dk__summary(const struct dk_fold_out *fo) {
  struct dk__tally tl = {0};
  struct dk_buf b = {0};
  dk_converge_tally(fo, &tl);
  dk__msg_summary(&b, &tl);
  char *s = dk_strdup(b.data[0] == ' ' ? b.data + 1 : b.data);
  dk_buf_free(&b);
  return s;
}

/* Where an input's head stands on its chain: its effective time (the
 * latest commit time of the chain) and depth. Returns 0 or DK_EGIT. */
static int dk__chain(struct dk_store *st, const git_oid *head, git_time_t *etime, unsigned long *seq) {
  git_oid at = *head;
  *etime = 0;
  *seq = 0;
  for (;;) {
    struct dk_store_commit c;
    int rc = dk_store_commit(st, &at, &c);
    if (rc != 0) return rc;
    if (c.time > *etime) *etime = c.time;
    (*seq)++;
    int more = c.nparents > 0;
    at = c.parent;
    dk_store_commit_clear(&c);
    if (!more) return 0;
  }
}

static int dk__adopt_commit(struct dk_store *st, const struct dk_config *cfg, const char *why, struct dk_buf *tr,
                            struct dk_fold_point *own, int rc);

int dk_converge_adopt(struct dk_store *st, const struct dk_config *cfg, const struct dk_inputs *in) {
  git_oid tip, at;
  int found = 0, rc = dk_store_ref(st, DK_MAIN_REF, &tip, &found);
  if (rc != 0 || !found) return rc;
  /* the newest checkpoint of main's first-parent line */
  struct dk_fold_point below = {0};
  int depth = 0;
  for (at = tip;; depth++) {
    struct dk_store_commit c;
    if ((rc = dk_store_commit(st, &at, &c)) != 0) return rc;
    if (depth == 0) dk_fold_point_parse(c.message, &below); /* the tip: only whether it is one */
    else if ((rc = dk_fold_point_load(st, c.message, &below)) != 0) {
      dk_store_commit_clear(&c);
      return rc;
    }
    int more = c.nparents > 0;
    at = c.parent;
    dk_store_commit_clear(&c);
    if (below.has_key) break;
    dk_fold_point_free(&below);
    if (!more) break;
  }
  if (below.has_key && depth == 0) {
    dk_fold_point_free(&below);
    return 0; /* main's tip is a fold */
  }
  struct dk_fold_point fp = {0};
  const char *why;
  if (below.has_key) {
    /* commits made on main by something else than the fold (git plumbing, an
     * earlier duikou's resolution): their tree is kept, folded through where
     * the checkpoint below them stands */
    fp = below;
    why = "commits made on main by something else than the fold: their tree is kept, folded through\n"
          "the inputs the last fold below them had folded.";
  } else {
    why = "main was made before it was the fold of its inputs: its tree is kept, and every\n"
          "input's head counts as folded into it.";
    struct dk_inputs mine = {0};
    if (in == NULL && (rc = dk_inputs_collect(st, cfg, NULL, NULL, NULL, NULL, 0, &mine)) != 0) return rc;
    if (in == NULL) in = &mine;
    fp.pos = dk_calloc(in->n ? in->n : 1, sizeof *fp.pos);
    struct dk_fold_key best = {0, "-", 0, NULL, 0, "0000000000000000000000000000000000000000"};
    for (size_t i = 0; i < in->n && rc == 0; i++) {
      /* only this site's sources made a main from before: what other sites
       * and resolutions bring is folded, never taken as folded */
      if (strncmp(in->v[i].ref, DK__SRC_PREFIX, strlen(DK__SRC_PREFIX)) != 0) continue;
      git_oid head;
      int have = 0;
      if (in->v[i].head) head = *in->v[i].head, have = 1;
      else rc = dk_store_ref(st, in->v[i].ref, &head, &have);
      if (rc != 0 || !have) continue;
      struct dk_fold_pos *p = &fp.pos[fp.npos];
      if ((rc = dk__chain(st, &head, &p->etime, &p->seq)) != 0) break;
      p->ref = dk_strdup(in->v[i].ref);
      p->commit = head;
      fp.npos++;
      struct dk_fold_key k = {p->etime, in->v[i].site, in->v[i].source ? 0 : 1, in->v[i].source, p->seq, ""};
      dk_oid_hex(&head, k.hex);
      if (dk_fold_key_cmp(&k, &best) > 0) best = k;
    }
    fp.has_key = 1;
    fp.key = best;
    /* the key's strings are the inputs': write the trailers before freeing them */
    struct dk_buf tr = {0};
    dk_fold_point_write(&fp, &tr);
    dk_inputs_free(&mine);
    return dk__adopt_commit(st, cfg, why, &tr, &fp, rc);
  }
  struct dk_buf tr = {0};
  dk_fold_point_write(&fp, &tr);
  dk_fold_point_free(&fp);
  return dk__adopt_commit(st, cfg, why, &tr, NULL, rc);
}

/* The adoption's commit: main's tree, the trailers tr (freed here). */
static int dk__adopt_commit(struct dk_store *st, const struct dk_config *cfg, const char *why, struct dk_buf *tr,
                            struct dk_fold_point *own, int rc) {
  if (own) {
    for (size_t i = 0; i < own->npos; i++) free(own->pos[i].ref);
    free(own->pos);
  }
  int made = 0;
  if (rc == 0) {
    struct dk_buf msg = {0};
    dk_buf_printf(&msg, "fold: main taken as it stands\n\n%s\n\nDuikou-Site: %s\n", why, dk__site(cfg));
    dk_buf_append(&msg, tr->data, tr->len);
    struct dk_txn *t = NULL;
    struct dk_commit_meta meta;
    char author[160], email[160];
    const char *an, *ae;
    dk__site_meta(cfg, author, email, sizeof author, &an, &ae);
    dk_commit_meta_init(&meta, an, ae, 0);
    meta.message = dk_buf_cstr(&msg);
    git_oid c;
    if ((rc = dk_txn_begin(st, DK_MAIN_REF, &t)) == 0 && (rc = dk_txn_commit(t, &meta, 1, &c)) == 1) made = 1;
    dk_txn_free(t);
    dk_buf_free(&msg);
  }
  dk_buf_free(tr);
  return rc < 0 ? rc : made;
}

int dk_converge(struct dk_store *st, const struct dk_config *cfg, struct dk_index *ix,
                const struct dk_converge_meta *m, struct dk_converge_result *out) {
  memset(out, 0, sizeof *out);
  static const struct dk_converge_meta none = {0};
  if (m == NULL) m = &none;
  struct dk_reconcile *rcf = NULL;
  char err[DK_ERRBUF_SIZE];
  if (dk_reconcile_new(cfg->reconcile, &rcf, err) != 0) return dk_failf(st->err, DK_ECONFIG, "reconcile: %s", err);
  struct dk_inputs in;
  int rc = dk_inputs_collect(st, cfg, ix, NULL, NULL, NULL, 0, &in);
  if (rc == 0) rc = dk_converge_adopt(st, cfg, &in);
  if (rc > 0) rc = 0;
  for (int attempt = 0; rc == 0; attempt++) {
    struct dk_txn *mtx = NULL;
    struct dk_fold_out fo;
    memset(&fo, 0, sizeof fo);
    if ((rc = dk_txn_begin(st, DK_MAIN_REF, &mtx)) == 0 &&
        (rc = dk_fold(st, rcf, in.v, in.n, mtx, ix, &fo)) == 0 && (dk_converge_log_skips(&fo.conf), 1) &&
        (dk_txn_changes(mtx) > 0 || m->force)) {
      free(out->summary);
      out->summary = dk__summary(&fo);
      out->events = fo.events;
      out->refolded = fo.refolded;
      out->conflicts = fo.conflicts;
      out->open = fo.open;
      struct dk_buf msg = {0};
      if (m->subject) dk_buf_printf(&msg, "%s\n\n", m->subject);
      else dk_buf_printf(&msg, "fold %s: %s\n\n", m->why ? m->why : "inputs", out->summary);
      if (m->body) dk_buf_printf(&msg, "%s\n", m->body);
      if (fo.refolded)
        dk_buf_puts(&msg, "An input arrived that sorts before what main had folded: main is the canonical fold of\n"
                          "every input again, from an earlier point.\n\n");
      dk__lines_upto(&msg, &fo.body, "record");
      if (fo.conf.len) {
        dk_buf_printf(&msg, "%sConflicts:\n", fo.body.len ? "\n" : "");
        dk__lines_upto(&msg, &fo.conf, "conflict");
      }
      char pol[17];
      dk_buf_printf(&msg, "\nDuikou-Site: %s\nDuikou-Policies: %s\n", dk__site(cfg), dk_converge_policies(cfg, pol));
      if (m->trailers) dk_buf_puts(&msg, m->trailers);
      if (fo.trailers.len) dk_buf_append(&msg, fo.trailers.data, fo.trailers.len);
      struct dk_commit_meta meta;
      char author[160], email[160];
      const char *an, *ae;
      dk__site_meta(cfg, author, email, sizeof author, &an, &ae);
      dk_commit_meta_init(&meta, m->author ? m->author : an, m->email ? m->email : ae, m->when);
      meta.message = dk_buf_cstr(&msg);
      git_oid c;
      rc = dk_txn_commit(mtx, &meta, m->force, &c);
      dk_buf_free(&msg);
      if (rc == 1) {
        out->committed = 1;
        dk_oid_hex(&c, out->commit);
        if (ix) rc = dk_index_follow(ix, st, DK_INDEX_MAIN, &c);
        rc = rc < 0 ? rc : 0;
      }
    }
    dk_fold_out_free(&fo);
    dk_txn_free(mtx);
    if (rc != DK_EEXIST || attempt >= 2) break;
    rc = 0; /* main moved meanwhile (a sync): fold again from there */
  }
  if (out->summary == NULL) out->summary = dk_strdup("no record changed");
  dk_inputs_free(&in);
  dk_reconcile_free(rcf);
  return rc;
}

void dk_converge_log_skips(const struct dk_buf *conf) {
  for (const char *l = conf->data; l && *l;) {
    const char *nl = strchr(l, '\n');
    size_t n = nl ? (size_t)(nl - l) : strlen(l);
    if (memmem(l, n, " skipped, ", 10))
      dk_log(DK_LOG_WARN, "fold", "main", NULL, "%.*s: not folded until that site sends it again valid", (int)n, l);
    l = nl ? nl + 1 : NULL;
  }
}

const char *dk_converge_policies(const struct dk_config *cfg, char out[17]) {
  char *text = cfg->reconcile ? dk_canonical_dump(cfg->reconcile, NULL) : dk_strdup("default");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  EVP_DigestUpdate(c, text, strlen(text));
  EVP_DigestFinal_ex(c, md, &n);
  EVP_MD_CTX_free(c);
  dk_hex(md, 8, out);
  free(text);
  return out;
}

git_time_t dk_converge_next_time(struct dk_store *st, const struct dk_config *cfg, int type, const char *source,
                                 git_time_t now) {
  git_oid at;
  int found = 0;
  if (dk_store_ref(st, DK_MAIN_REF, &at, &found) != 0 || !found) return now;
  /* main's newest checkpoint: its tip, or below commits the fold did not
   * make (they are taken as they stand with that key: converge_adopt) */
  struct dk_fold_point fp; /* its key only: no delta to resolve */
  memset(&fp, 0, sizeof fp);
  for (;;) {
    struct dk_store_commit c;
    if (dk_store_commit(st, &at, &c) != 0) return now;
    dk_fold_point_parse(c.message, &fp);
    int more = c.nparents > 0;
    at = c.parent;
    dk_store_commit_clear(&c);
    if (fp.has_key || !more) break;
    dk_fold_point_free(&fp);
  }
  git_time_t t = now;
  if (fp.has_key) {
    struct dk_fold_key k = {now, dk__site(cfg), type, source, ULONG_MAX, "ffffffffffffffffffffffffffffffffffffffff"};
    if (dk_fold_key_cmp(&k, &fp.key) <= 0) t = fp.key.time + 1;
  }
  dk_fold_point_free(&fp);
  return t;
}

/* ---- sites ---- */

struct dk__sites {
  struct dk_store *st;
  const struct dk_config *cfg;
  json_t *by_site; /* site -> {"sources": [], "newest": int} */
};

static json_t *dk__site_obj(struct dk__sites *s, const char *site) {
  json_t *o = json_object_get(s->by_site, site);
  if (o == NULL) {
    o = json_pack("{s:s, s:b, s:[], s:I}", "site", site, "self", strcmp(site, dk__site(s->cfg)) == 0, "sources",
                  "newest", (json_int_t)0);
    json_object_set_new(s->by_site, site, o);
  }
  return o;
}

static void dk__newest(struct dk__sites *s, json_t *o, const git_oid *head) {
  struct dk_store_commit c;
  if (dk_store_commit(s->st, head, &c) != 0) return;
  if ((json_int_t)c.time > json_integer_value(json_object_get(o, "newest")))
    json_object_set_new(o, "newest", json_integer((json_int_t)c.time));
  dk_store_commit_clear(&c);
}

static int dk__sites_own_cb(const char *ref, const git_oid *oid, void *arg) {
  struct dk__sites *s = arg;
  json_t *o = dk__site_obj(s, dk__site(s->cfg));
  json_array_append_new(json_object_get(o, "sources"), json_string(ref + strlen(DK__SRC_PREFIX)));
  dk__newest(s, o, oid);
  return 0;
}

static int dk__sites_other_cb(const char *ref, const git_oid *oid, void *arg) {
  struct dk__sites *s = arg;
  const char *rest = ref + strlen(DK_SITES_PREFIX), *slash = strchr(rest, '/');
  if (slash == NULL || slash == rest) return 0;
  char *site = dk_strndup(rest, (size_t)(slash - rest));
  const char *name = slash + 1;
  if (strcmp(site, dk__site(s->cfg)) != 0) {
    json_t *o = dk__site_obj(s, site);
    if (strncmp(name, "sources/", 8) == 0) {
      json_array_append_new(json_object_get(o, "sources"), json_string(name + 8));
      dk__newest(s, o, oid);
    } else if (strcmp(name, "resolutions") == 0) {
      dk__newest(s, o, oid);
    } else if (strcmp(name, "main") == 0) {
      char hex[GIT_OID_HEXSZ + 1];
      json_object_set_new(o, "main_commit", json_string(dk_oid_hex(oid, hex)));
    }
  }
  free(site);
  return 0;
}

/* The Duikou-Fold lines of a commit, by input named site-qualified
 * ("jinan/sources/x"), as seen from `site` (whose own refs are local). */
static json_t *dk__fold_heads(struct dk_store *st, const git_oid *commit, const char *site) {
  json_t *heads = json_object();
  struct dk_fold_point fp;
  if (dk_fold_point_read(st, commit, &fp) != 0 || !fp.has_key) {
    dk_fold_point_free(&fp);
    return heads;
  }
  for (size_t i = 0; i < fp.npos; i++) {
    const char *ref = fp.pos[i].ref;
    char hex[GIT_OID_HEXSZ + 1];
    dk_oid_hex(&fp.pos[i].commit, hex);
    char *own = dk_exchange_own_name(ref), *key;
    if (own) key = dk_asprintf("%s/%s", site, own);
    else if (strncmp(ref, DK_SITES_PREFIX, strlen(DK_SITES_PREFIX)) == 0) key = dk_strdup(ref + strlen(DK_SITES_PREFIX));
    else key = dk_strdup(ref);
    json_object_set_new(heads, key, json_string(hex));
    free(key);
    free(own);
  }
  dk_fold_point_free(&fp);
  return heads;
}

static int dk__tree_of(struct dk_store *st, const git_oid *commit, git_oid *tree) {
  struct dk_store_commit c;
  int rc = dk_store_commit(st, commit, &c);
  if (rc == 0) *tree = c.tree;
  dk_store_commit_clear(&c);
  return rc;
}

int dk_converge_sites(struct dk_store *st, const struct dk_config *cfg, json_t **out) {
  struct dk__sites s = {st, cfg, json_object()};
  dk__site_obj(&s, dk__site(cfg));
  int rc = dk_store_refs(st, DK__SRC_PREFIX, dk__sites_own_cb, &s);
  if (rc == 0) rc = dk_store_refs(st, DK_SITES_PREFIX, dk__sites_other_cb, &s);
  git_oid mine, mtree;
  int have = 0;
  if (rc == 0) rc = dk_store_ref(st, DK_MAIN_REF, &mine, &have);
  if (rc == 0 && have) rc = dk__tree_of(st, &mine, &mtree);
  if (rc != 0) {
    json_decref(s.by_site);
    return rc;
  }
  json_t *ours = have ? dk__fold_heads(st, &mine, dk__site(cfg)) : json_object();
  json_t *list = json_array();
  const char *name;
  json_t *o;
  json_object_foreach(s.by_site, name, o) {
    json_int_t t = json_integer_value(json_object_get(o, "newest"));
    if (t > 0) {
      char iso[40];
      json_object_set_new(o, "last_input", json_string(dk_time_iso((time_t)t, iso, sizeof iso)));
    }
    json_object_del(o, "newest");
    const char *mhex = json_string_value(json_object_get(o, "main_commit"));
    git_oid theirs, ttree;
    if (!json_is_true(json_object_get(o, "self"))) {
      struct dk_store_commit tc;
      char *tp = NULL, pol[17];
      if (mhex && dk_oid_parse(mhex, &theirs) == 0 && dk_store_commit(st, &theirs, &tc) == 0) {
        tp = dk_store_trailer(tc.message, "Duikou-Policies");
        dk_store_commit_clear(&tc);
      }
      dk_converge_policies(cfg, pol);
      json_object_set_new(o, "policies", json_string(tp == NULL ? "unknown" : strcmp(tp, pol) == 0 ? "same" : "differ"));
      if (tp && strcmp(tp, pol) != 0) {
        char *line = dk_asprintf("reconcile policies differ (theirs %s, ours %s): both configurations must say "
                                 "the same for main to converge", tp, pol);
        json_object_set_new(o, "policies_note", json_string(line));
        free(line);
      }
      free(tp);
    }
    if (json_is_true(json_object_get(o, "self"))) {
      json_object_set_new(o, "main", json_string(have ? "this site's" : "none yet"));
    } else if (mhex == NULL || dk_oid_parse(mhex, &theirs) != 0 || dk__tree_of(st, &theirs, &ttree) != 0) {
      json_object_set_new(o, "main", json_string("unknown (no view of main received yet)"));
    } else if (have && dk_oid_equal(&ttree, &mtree)) {
      json_object_set_new(o, "main", json_string("converged"));
    } else {
      json_object_set_new(o, "main", json_string("differs"));
      json_t *th = dk__fold_heads(st, &theirs, name), *diff = json_array();
      const char *k;
      json_t *v;
      json_object_foreach(th, k, v) {
        const char *m = json_string_value(json_object_get(ours, k));
        if (m == NULL || strcmp(m, json_string_value(v)) != 0) {
          char *line = dk_asprintf("%s: theirs %.12s, ours %.12s", k, json_string_value(v), m ? m : "(none)");
          json_array_append_new(diff, json_string(line));
          free(line);
        }
      }
      json_object_foreach(ours, k, v)
        if (!json_object_get(th, k)) {
          char *line = dk_asprintf("%s: theirs (none), ours %.12s", k, json_string_value(v));
          json_array_append_new(diff, json_string(line));
          free(line);
        }
      json_object_set_new(o, "differs", diff);
      json_decref(th);
    }
    json_array_append(list, o);
  }
  json_decref(ours);
  json_decref(s.by_site);
  *out = json_pack("{s:s, s:o}", "site", dk__site(cfg), "sites", list);
  return 0;
}

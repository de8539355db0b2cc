#include "exchange.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "branch.h"
#include "fsafe.h"
#include "log.h"
#include "redact.h"
#include "store_remote.h"
#include "util.h"

void dk_exchange_report_clear(struct dk_exchange_report *rep) {
  for (size_t i = 0; i < rep->nin; i++) free(rep->in[i].ref);
  for (size_t i = 0; i < rep->nout; i++) free(rep->out[i].ref);
  free(rep->in);
  free(rep->out);
  json_decref(rep->alarms);
  memset(rep, 0, sizeof *rep);
}

char *dk_exchange_own_name(const char *local_ref) {
  size_t n = strlen(DK__SRC_PREFIX);
  if (strncmp(local_ref, DK__SRC_PREFIX, n) == 0 && local_ref[n]) return dk_asprintf("sources/%s", local_ref + n);
  if (strcmp(local_ref, DK_RESOLUTIONS_REF) == 0) return dk_strdup("resolutions");
  if (strcmp(local_ref, DK_MAIN_REF) == 0) return dk_strdup("main");
  return NULL;
}

/* The local ref this site writes that `name` (below sites/<site>/) is, or NULL. */
static char *dk__own_local(const char *name) {
  if (strncmp(name, "sources/", 8) == 0 && name[8] && !strchr(name + 8, '/'))
    return dk_asprintf(DK__SRC_PREFIX "%s", name + 8);
  if (strcmp(name, "resolutions") == 0) return dk_strdup(DK_RESOLUTIONS_REF);
  if (strcmp(name, "main") == 0) return dk_strdup(DK_MAIN_REF);
  return NULL;
}

static void dk__alarm(struct dk_exchange_report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dk__alarm(struct dk_exchange_report *rep, const char *fmt, ...) {
  char msg[DK_ERRBUF_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_array_append_new(rep->alarms, json_string(msg));
  dk_log(DK_LOG_ERROR, "remote", rep->remote, NULL, "%s", msg);
}

static void dk__moved(struct dk_exchange_ref **v, size_t *n, const char *ref, const git_oid *old, int had_old,
                      const git_oid *neu) {
  *v = dk_realloc(*v, (*n + 1) * sizeof **v);
  struct dk_exchange_ref *m = &(*v)[(*n)++];
  memset(m, 0, sizeof *m);
  m->ref = dk_strdup(ref);
  if (had_old) m->old = *old;
  m->had_old = had_old;
  m->neu = *neu;
}

/* Move `ref` to `to` when it still is where it was read (created when
 * absent). Returns 0 or a DK_E* code with st->err. */
static int dk__set_ref(struct dk_store *st, const char *ref, const git_oid *to) {
  struct dk_txn *t = NULL;
  int rc = dk_txn_begin(st, ref, &t);
  if (rc == 0) rc = dk_txn_move(t, to);
  dk_txn_free(t);
  return rc;
}

struct dk__accept {
  struct dk_store *st;
  const struct dk_config *cfg;
  struct dk_exchange_report *rep;
  size_t skip;      /* strlen of refs/duikou/incoming/<remote>/ */
  json_t *remote;   /* what the remote holds: own remote name -> hex, for the push */
  json_t *blocked;  /* own remote names not to push (the remote holds something else) */
  int rc;
};

/* One staged ref, "<site>/<name>": another site's is accepted when it is a
 * fast-forward; this site's own is compared with what the site holds. */
static int dk__accept_cb(const char *ref, const git_oid *oid, void *arg) {
  struct dk__accept *a = arg;
  const char *rest = ref + a->skip, *slash = strchr(rest, '/');
  if (slash == NULL || slash == rest) return 0;
  char site[128];
  snprintf(site, sizeof site, "%.*s", (int)(slash - rest), rest);
  const char *name = slash + 1;
  char hex[GIT_OID_HEXSZ + 1];
  dk_oid_hex(oid, hex);
  if (strcmp(site, a->cfg->site) == 0) {
    json_object_set_new(a->remote, name, json_string(hex));
    char *local = dk__own_local(name);
    if (local == NULL) return 0;
    git_oid mine;
    int have = 0, rc = dk_store_ref(a->st, local, &mine, &have);
    if (rc == 0 && have && !dk_oid_equal(&mine, oid)) rc = dk_store_descends(a->st, &mine, oid);
    else if (rc == 0) rc = have ? 1 : 0;
    if (rc == 0) {
      json_object_set_new(a->blocked, name, json_true());
      dk__alarm(a->rep,
                "the remote's %s%s/%s (%.12s) is not an ancestor of this site's %s: another duikou writes as site "
                "\"%s\", or this repository came back from an older copy; it is not pushed (never forced) until "
                "a person settles it",
                DK_SITES_PREFIX, site, name, hex, local, site);
    }
    free(local);
    if (rc < 0) a->rc = rc;
    return rc < 0 ? rc : 0;
  }
  char *accepted = dk_asprintf(DK_SITES_PREFIX "%s/%s", site, name);
  git_oid was;
  int had = 0, rc = dk_store_ref(a->st, accepted, &was, &had);
  if (rc == 0 && had && dk_oid_equal(&was, oid)) {
    free(accepted);
    return 0;
  }
  if (rc == 0 && had) rc = dk_store_descends(a->st, oid, &was);
  else if (rc == 0) rc = 1;
  if (rc == 0) {
    char whex[GIT_OID_HEXSZ + 1];
    dk__alarm(a->rep, "site \"%s\" rewrote %s (%.12s is not a fast-forward of %.12s): refused, the history "
              "received before is kept", site, accepted, hex, dk_oid_hex(&was, whex));
  } else if (rc == 1 && (rc = dk__set_ref(a->st, accepted, oid)) == 0) {
    dk__moved(&a->rep->in, &a->rep->nin, accepted, &was, had, oid);
  }
  free(accepted);
  if (rc < 0) a->rc = rc;
  return rc < 0 ? rc : 0;
}

struct dk__own {
  char **src, **dst;
  git_oid *oids, *olds; /* what each is, here and (had[i]) on the remote */
  int *had;
  size_t n;
  const char *site;
  json_t *remote, *blocked;
};

static int dk__own_cb(const char *ref, const git_oid *oid, void *arg) {
  struct dk__own *o = arg;
  char *name = dk_exchange_own_name(ref);
  if (name == NULL) return 0;
  char hex[GIT_OID_HEXSZ + 1];
  const char *there = json_string_value(json_object_get(o->remote, name));
  if (json_object_get(o->blocked, name) || (there && strcmp(there, dk_oid_hex(oid, hex)) == 0)) {
    free(name);
    return 0;
  }
  o->src = dk_realloc(o->src, (o->n + 1) * sizeof *o->src);
  o->dst = dk_realloc(o->dst, (o->n + 1) * sizeof *o->dst);
  o->oids = dk_realloc(o->oids, (o->n + 1) * sizeof *o->oids);
  o->olds = dk_realloc(o->olds, (o->n + 1) * sizeof *o->olds);
  o->had = dk_realloc(o->had, (o->n + 1) * sizeof *o->had);
  o->had[o->n] = there && dk_oid_parse(there, &o->olds[o->n]) == 0;
  o->src[o->n] = dk_strdup(ref);
  o->dst[o->n] = dk_asprintf(DK_SITES_PREFIX "%s/%s", o->site, name);
  o->oids[o->n++] = *oid;
  free(name);
  return 0;
}

/* The state file: when the remote answered, when it stopped, why. */
static void dk__save_state(const struct dk_config *cfg, const struct dk_exchange_report *rep) {
  json_t *st = dk_exchange_state(cfg, rep->remote);
  if (st == NULL) st = json_object();
  char now[40];
  dk_time_iso(time(NULL), now, sizeof now);
  json_object_set_new(st, "last_attempt", json_string(now));
  if (rep->code == 0) {
    json_object_set_new(st, "last_success", json_string(now));
    json_object_del(st, "down_since");
    json_object_del(st, "error");
    json_object_set_new(st, "received", json_integer((json_int_t)rep->nin));
    json_object_set_new(st, "pushed", json_integer((json_int_t)rep->nout));
  } else {
    if (!json_object_get(st, "down_since")) json_object_set_new(st, "down_since", json_string(now));
    json_object_set_new(st, "error", json_string(rep->err));
  }
  json_object_set(st, "alarms", rep->alarms);
  char err[DK_ERRBUF_SIZE], *rel = dk_asprintf("remotes/%s.json", rep->remote);
  int fd;
  size_t len;
  char *text = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
  len = text ? strlen(text) : 0;
  if (dk_fs_dir(cfg->state, "remotes", 1, &fd, err) != 0 ||
      (close(fd), dk_fs_write_atomic(cfg->state, rel, text, len, err)) != 0)
    dk_log(DK_LOG_WARN, "remote", rep->remote, NULL, "cannot keep its state: %s", err);
  free(text);
  free(rel);
  json_decref(st);
}

json_t *dk_exchange_state(const struct dk_config *cfg, const char *remote) {
  char err[DK_ERRBUF_SIZE], *rel = dk_asprintf("remotes/%s.json", remote), *data = NULL;
  size_t len;
  json_t *st = NULL;
  if (dk_fs_read(cfg->state, rel, &data, &len, err) == 0) st = json_loadb(data, len, 0, NULL);
  free(data);
  free(rel);
  if (st && !json_is_object(st)) {
    json_decref(st);
    st = NULL;
  }
  return st;
}

int dk_exchange_creds_read(const struct dk_remote_conf *rc, struct dk_exchange_creds *out, char *err) {
  memset(out, 0, sizeof *out);
  if (rc->auth.basic_user) {
    struct dk_credentials cred = {0};
    int code = dk_auth_read(&rc->auth, &cred, err);
    if (code != 0) return code;
    out->user = cred.user;
    out->password = cred.password;
    cred.user = cred.password = NULL;
    dk_credentials_wipe(&cred);
  } else if (rc->ssh_key && (rc->ssh_passphrase_env || rc->ssh_passphrase_file)) {
    int code = dk_secret_read(rc->ssh_passphrase_env, rc->ssh_passphrase_file, &out->ssh_passphrase, err);
    if (code != 0) return code;
  }
  return 0;
}

void dk_exchange_creds_wipe(struct dk_exchange_creds *c) {
  free(c->user);
  dk_secret_wipe(c->password);
  dk_secret_wipe(c->ssh_passphrase);
  memset(c, 0, sizeof *c);
}

int dk_exchange(struct dk_store *st, const struct dk_config *cfg, const struct dk_remote_conf *rc,
                const struct dk_exchange_creds *given, struct dk_exchange_report *rep) {
  memset(rep, 0, sizeof *rep);
  snprintf(rep->remote, sizeof rep->remote, "%s", rc->name);
  rep->alarms = json_array();
  struct dk_exchange_creds mine = {0};
  int code = given ? 0 : dk_exchange_creds_read(rc, &mine, rep->err);
  const struct dk_exchange_creds *cr = given ? given : &mine;
  struct dk_remote_opts o = {.name = rc->name, .url = rc->url, .timeout_ms = rc->timeout_ms};
  o.auth.user = cr->user;
  o.auth.password = cr->password;
  o.auth.ssh_user = rc->ssh_user; /* NULL: the URL's user, else git */
  o.auth.ssh_key = rc->ssh_key;
  o.auth.ssh_passphrase = cr->ssh_passphrase;
  char *pubkey = rc->ssh_key ? dk_asprintf("%s.pub", rc->ssh_key) : NULL;
  if (pubkey && access(pubkey, R_OK) != 0) {
    free(pubkey);
    pubkey = NULL; /* libssh2 derives it from the private key */
  }
  o.auth.ssh_pubkey = pubkey;
  char *staging = dk_asprintf(DK_INCOMING_PREFIX "%s/", rc->name);
  struct dk_fetch_result fr = {0};
  if (code == 0 && (code = dk_store_fetch(st, &o, DK_SITES_PREFIX, staging, &fr)) != 0)
    snprintf(rep->err, sizeof rep->err, "%s", st->err);
  dk_fetch_result_clear(&fr);
  struct dk__accept a = {st, cfg, rep, strlen(staging), json_object(), json_object(), 0};
  if (code == 0 && (code = dk_store_refs(st, staging, dk__accept_cb, &a)) != 0)
    snprintf(rep->err, sizeof rep->err, "%s", st->err);
  rep->fetched = code == 0;
  if (code == 0 && rc->push) {
    struct dk__own own = {.site = cfg->site, .remote = a.remote, .blocked = a.blocked};
    code = dk_store_refs(st, "refs/", dk__own_cb, &own);
    struct dk_push_result pr = {0};
    if (code == 0 && own.n > 0)
      code = dk_store_push(st, &o, (const char *const *)own.src, (const char *const *)own.dst, own.n, &pr);
    if (code != 0) snprintf(rep->err, sizeof rep->err, "%s", st->err);
    for (size_t i = 0; code == 0 && i < pr.n; i++) {
      const struct dk_ref_status *s = &pr.refs[i];
      if (s->ok) {
        size_t k = 0;
        while (k < own.n && strcmp(own.dst[k], s->ref) != 0) k++;
        dk__moved(&rep->out, &rep->nout, s->ref, k < own.n ? &own.olds[k] : NULL, k < own.n && own.had[k],
                  k < own.n ? &own.oids[k] : &s->oid);
      } else {
        dk__alarm(rep, "the remote refused %s: %s%s", s->ref, s->msg ? s->msg : "no reason given",
                  s->msg && strstr(s->msg, "fast") ? " (another duikou writes as this site?)" : "");
      }
    }
    dk_push_result_clear(&pr);
    for (size_t i = 0; i < own.n; i++) {
      free(own.src[i]);
      free(own.dst[i]);
    }
    free(own.src);
    free(own.dst);
    free(own.oids);
    free(own.olds);
    free(own.had);
  }
  json_decref(a.remote);
  json_decref(a.blocked);
  free(staging);
  free(pubkey);
  dk_exchange_creds_wipe(&mine);
  rep->code = code;
  if (code != 0)
    dk_log(DK_LOG_WARN, "remote", rc->name, NULL, "exchange failed: %s", rep->err);
  dk__save_state(cfg, rep);
  return code;
}

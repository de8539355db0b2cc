/* Test driver of store_remote: one store operation per run, against the
 * real servers of git_servers.sh.
 *
 *   remote_tool commit REPO REF PATH TEXT      a commit on REF putting TEXT at PATH
 *   remote_tool push   REPO URL [opts] SRC:DST...
 *   remote_tool fetch  REPO URL [opts] REMOTE_PREFIX LOCAL_PREFIX
 *   remote_tool ls     REPO URL [opts] [PREFIX]
 *   opts: --name N --user U --password P --token T --tries N --timeout MS
 *         --ssh-user U --ssh-key FILE --ssh-pub FILE --ssh-pass P --ca PEMFILE
 *
 * push prints "ok REF OID" or "refused REF OID MSG" per ref; fetch prints
 * "moved LOCAL OLD NEW" per ref (0000... for none); ls "REF OID". On an
 * error: "error CODE NAME" on stdout, the message on stderr, exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_remote.h"
#include "util.h"

static void fail(int rc, const char *msg) {
  printf("error %d %s\n", rc, dk_strerror(rc));
  fprintf(stderr, "%s\n", msg);
  exit(2);
}

static int opts(int argc, char **argv, int i, struct dk_remote_opts *o) {
  for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
    const char *k = argv[i] + 2, *v = argv[i + 1];
    if (!strcmp(k, "name")) o->name = v;
    else if (!strcmp(k, "user")) o->auth.user = v;
    else if (!strcmp(k, "password")) o->auth.password = v;
    else if (!strcmp(k, "token")) o->auth.token = v;
    else if (!strcmp(k, "ssh-user")) o->auth.ssh_user = v;
    else if (!strcmp(k, "ssh-key")) o->auth.ssh_key = v;
    else if (!strcmp(k, "ssh-pub")) o->auth.ssh_pubkey = v;
    else if (!strcmp(k, "ssh-pass")) o->auth.ssh_passphrase = v;
    else if (!strcmp(k, "ca")) {
      char err[DK_ERRBUF_SIZE];
      int rc = dk_remote_set_ca(v, NULL, err);
      if (rc != 0) fail(rc, err);
    } else if (!strcmp(k, "tries")) o->max_auth_tries = atoi(v);
    else if (!strcmp(k, "timeout")) o->timeout_ms = atol(v);
    else {
      fprintf(stderr, "unknown option --%s\n", k);
      exit(64);
    }
  }
  return i;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: remote_tool commit|push|fetch|ls REPO ...\n");
    return 64;
  }
  dk_store_global_init();
  struct dk_store *st;
  char err[DK_ERRBUF_SIZE];
  int rc = dk_store_open(argv[2], &st, err);
  if (rc != 0) fail(rc, err);
  const char *cmd = argv[1];
  char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
  if (!strcmp(cmd, "commit")) {
    if (argc != 6) return 64;
    struct dk_txn *t;
    if ((rc = dk_txn_begin(st, argv[3], &t)) != 0) fail(rc, st->err);
    if ((rc = dk_txn_put(t, argv[4], argv[5], strlen(argv[5]))) < 0) fail(rc, st->err);
    struct dk_commit_meta m;
    dk_commit_meta_init(&m, "test", "test@localhost", 0);
    m.message = "test commit\n";
    git_oid oid;
    if ((rc = dk_txn_commit(t, &m, 1, &oid)) < 0) fail(rc, st->err);
    dk_txn_free(t);
    printf("%s\n", dk_oid_hex(&oid, a));
  } else {
    struct dk_remote_opts o = {.name = "shared", .url = argv[3]};
    int i = opts(argc, argv, 4, &o);
    if (!strcmp(cmd, "push")) {
      size_t n = (size_t)(argc - i);
      const char **src = dk_calloc(n + 1, sizeof *src), **dst = dk_calloc(n + 1, sizeof *dst);
      char **specs = dk_calloc(n + 1, sizeof *specs);
      for (size_t k = 0; k < n; k++) {
        specs[k] = dk_strdup(argv[i + (int)k]);
        char *colon = strchr(specs[k], ':');
        if (!colon) return 64;
        *colon = '\0';
        src[k] = specs[k];
        dst[k] = colon + 1;
      }
      struct dk_push_result res;
      if ((rc = dk_store_push(st, &o, src, dst, n, &res)) != 0) fail(rc, st->err);
      for (size_t k = 0; k < res.n; k++) {
        if (res.refs[k].ok) printf("ok %s %s\n", res.refs[k].ref, dk_oid_hex(&res.refs[k].oid, a));
        else printf("refused %s %s %s\n", res.refs[k].ref, dk_oid_hex(&res.refs[k].oid, a), res.refs[k].msg);
      }
      dk_push_result_clear(&res);
      for (size_t k = 0; k < n; k++) free(specs[k]);
      free(specs);
      free(src);
      free(dst);
    } else if (!strcmp(cmd, "fetch")) {
      if (argc - i != 2) return 64;
      struct dk_fetch_result res;
      if ((rc = dk_store_fetch(st, &o, argv[i], argv[i + 1], &res)) != 0) fail(rc, st->err);
      for (size_t k = 0; k < res.n; k++)
        printf("moved %s %s %s\n", res.refs[k].local_ref, dk_oid_hex(&res.refs[k].old, a),
               dk_oid_hex(&res.refs[k].neu, b));
      dk_fetch_result_clear(&res);
    } else if (!strcmp(cmd, "ls")) {
      struct dk_remote_list l;
      if ((rc = dk_store_ls_remote(st, &o, i < argc ? argv[i] : NULL, &l)) != 0) fail(rc, st->err);
      for (size_t k = 0; k < l.n; k++) printf("%s %s\n", l.refs[k].ref, dk_oid_hex(&l.refs[k].oid, a));
      dk_remote_list_clear(&l);
    } else {
      return 64;
    }
  }
  dk_store_close(st);
  dk_store_global_shutdown();
  return 0;
}

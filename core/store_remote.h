/* The store's remote half: push to and fetch from the shared repository of
 * the two sites, through libgit2, with every failure said.
 *
 * The remote is anonymous: nothing about it, and no credential, is written
 * into the repository's config, and the config's url.*.insteadOf is not
 * applied. URLs are file://, git://, http(s):// or ssh://; a plain path or
 * scp-like "host:path" is refused, and so is a password in the URL.
 * Connections are made by duikou's own socket stream (registered with
 * libgit2 for the process), so a connect, read or write that takes longer
 * than timeout_ms fails instead of hanging (libgit2 1.5 has no server
 * timeout option); over ssh://, where libssh2 reads the socket itself, a
 * watchdog shuts the connection down when nothing has moved for that long.
 * No redirect to another host is followed, and credentials are only handed
 * to the URL's host and port. ssh:// host keys are checked by libgit2
 * against ~/.ssh/known_hosts of the user duikou runs as; https://
 * certificates against the system's authorities, or dk_remote_set_ca's
 * (libgit2 here is built on mbedTLS: SSL_CERT_FILE is not read). Secrets are borrowed, handed to libgit2 only
 * through its credentials callback, and scrubbed (with every secret
 * dk_redact knows) from every message. One operation at a time per store;
 * operations on different stores may run on different threads. */
#ifndef DK_STORE_REMOTE_H
#define DK_STORE_REMOTE_H

#include <stddef.h>
#include <git2.h>
#include "store.h"

struct dk_remote_auth {    /* secrets, borrowed; never logged, never in err */
  const char *token;       /* HTTP: sent as the password of basic auth, with user (NULL: "duikou") */
  const char *user;        /* HTTP basic (with password, or with token) */
  const char *password;
  const char *ssh_user;    /* ssh:// (NULL: the URL's user, else "git") */
  const char *ssh_key;     /* private key file */
  const char *ssh_pubkey;  /* NULL: libssh2 derives it */
  const char *ssh_passphrase;
};

struct dk_remote_opts {
  const char *name;        /* for messages: "shared" (NULL: "remote") */
  const char *url;
  struct dk_remote_auth auth;
  int max_auth_tries;      /* 0: 3; the credentials asked for more often than this -> DK_EAUTH */
  long timeout_ms;         /* 0: 60 s; for connecting and for each read and write */
};

struct dk_ref_status {
  char *ref;               /* the remote ref */
  git_oid oid;             /* what was pushed (the local ref's commit) */
  int ok;                  /* 1: the remote ref is at oid now (moved or already there) */
  char *msg;               /* why it was refused (non-fast-forward, the hook's text); NULL when ok */
};
struct dk_push_result {
  struct dk_ref_status *refs; /* in the order of src/dst */
  size_t n;
};

/* Push local refs src[i] to remote refs dst[i], fast-forward only (never
 * forced). A ref whose remote value is not an ancestor of the local one is
 * refused before anything is sent, so the other refs still go. Returns 0
 * when the transport worked: then every ref's status is in out (refused
 * ones with ok 0 and msg). Else DK_EINVAL (bad URL or ref, a missing local
 * ref, an unreadable ssh key file), DK_EREMOTE (cannot reach or talk to the remote), DK_EAUTH
 * (credentials refused, missing, or asked for more than max_auth_tries
 * times) or DK_EGIT, with st->err naming the remote (name and URL, no
 * password) and the reason. out is filled on 0 only; free it with
 * dk_push_result_clear (safe on a zeroed one). */
int dk_store_push(struct dk_store *st, const struct dk_remote_opts *o, const char *const *src,
                  const char *const *dst, size_t n, struct dk_push_result *out);
void dk_push_result_clear(struct dk_push_result *r);

struct dk_fetch_ref {
  char *remote_ref, *local_ref;
  git_oid old, neu;        /* neu zeroed: the ref was pruned (gone from the remote) */
  int had_old;             /* 0: the ref is new here */
};
struct dk_fetch_result {
  struct dk_fetch_ref *refs; /* the local refs that changed, appeared or were pruned */
  size_t n;
};

/* Fetch every remote ref below remote_prefix ("refs/duikou/sites/") into
 * local_prefix ("refs/duikou/incoming/shared/"), both ending in '/':
 * forced, as a staging area (the caller decides whether each one is a
 * fast-forward of what it accepted before); local refs below local_prefix
 * that the remote no longer has are removed. Objects are indexed, and refs
 * moved under the store's refs lock (duikou.refs.lock, as dk_txn_move),
 * before this returns. Returns 0 with out, or DK_EINVAL / DK_EREMOTE /
 * DK_EAUTH / DK_EGIT with st->err. Free out with dk_fetch_result_clear. */
int dk_store_fetch(struct dk_store *st, const struct dk_remote_opts *o, const char *remote_prefix,
                   const char *local_prefix, struct dk_fetch_result *out);
void dk_fetch_result_clear(struct dk_fetch_result *r);

struct dk_remote_ref {
  char *ref;
  git_oid oid;
};
struct dk_remote_list {
  struct dk_remote_ref *refs;
  size_t n;
};
/* The remote's refs below prefix (NULL: all), as advertised (ls-remote).
 * Returns 0 or the codes of dk_store_fetch. Free with dk_remote_list_clear. */
int dk_store_ls_remote(struct dk_store *st, const struct dk_remote_opts *o, const char *prefix,
                       struct dk_remote_list *out);
void dk_remote_list_clear(struct dk_remote_list *l);

/* Trust the certificate authorities in `file` (concatenated PEM) and/or
 * the folder `dir` (either NULL) for https:// instead of the system's
 * (libgit2's option, for the whole process: call it once, before any
 * operation, from the main thread). Returns 0, or DK_EINVAL / DK_EGIT with
 * err (DK_ERRBUF_SIZE). */
int dk_remote_set_ca(const char *file, const char *dir, char *err);

/* The URL as messages may show it: any password in it replaced by "***".
 * Malloc'd. */
char *dk_remote_url_display(const char *url);

#endif

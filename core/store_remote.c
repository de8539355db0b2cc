#include "store_remote.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <git2/sys/stream.h>

#include "fsafe.h"
#include "redact.h"
#include "util.h"

#define DK__TIMEOUT_MS 60000L
#define DK__AUTH_TRIES 3
#define DK__SAID_MAX 2048 /* what the remote says on its side band, kept for the refusal messages */

/* ---- the socket stream: libgit2 1.5 has no server timeout option ---- */

/* Laid out as libgit2's git_socket_stream (streams/socket.h, 1.5): its ssh
 * transport reads the socket from that struct, whatever the registered
 * stream is. */
struct dk__watch;
struct dk__sock {
  git_stream parent;
  char *host;
  char *port;
  int s;
  long timeout_ms;
  int defer;           /* a failed connect is said by the first read or write */
  char *failed;        /* that failure */
  struct dk__watch *watch;
};

/* The timeout of the push or fetch this thread runs (the stream is made
 * inside libgit2, which passes it nothing of ours). */
static _Thread_local long dk__timeout_ms;
/* libgit2 1.5.1's git:// push leaks its stream when connect fails
 * (transports/git.c, _git_receivepack_ls), not when a later read or write
 * does: there, the failure waits for the first of those. */
static _Thread_local int dk__defer_connect;

/* ssh:// reads and writes are libssh2's, on the socket itself, and wait
 * without end (libgit2 1.5 sets no libssh2 timeout): a watchdog thread shuts
 * the socket down when nothing has moved for the timeout, what moves being
 * seen through libgit2's callbacks (host key, credentials, progress, side
 * band). */
static _Thread_local int dk__watch_ssh;
static _Thread_local struct dk__watch *dk__watch_cur;
static _Thread_local int dk__watch_fired;

struct dk__watch {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t th;
  int fd, stop, fired;
  long timeout_ms;
  struct timespec last;
};

static void *dk__watch_run(void *arg) {
  struct dk__watch *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    struct timespec dl = w->last, now;
    dl.tv_sec += w->timeout_ms / 1000;
    dl.tv_nsec += (w->timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&w->cv, &w->mu, &dl);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (w->stop) break;
    long idle = (now.tv_sec - w->last.tv_sec) * 1000L + (now.tv_nsec - w->last.tv_nsec) / 1000000L;
    if (idle >= w->timeout_ms) {
      shutdown(w->fd, SHUT_RDWR); /* libssh2 then reads the end of the stream */
      w->fired = 1;
      break;
    }
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void dk__ping(void) {
  struct dk__watch *w = dk__watch_cur;
  if (w == NULL) return;
  pthread_mutex_lock(&w->mu);
  clock_gettime(CLOCK_MONOTONIC, &w->last);
  pthread_mutex_unlock(&w->mu);
}

static void dk__watch_start(struct dk__sock *st) {
  struct dk__watch *w = dk_calloc(1, sizeof *w);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&w->mu, NULL);
  w->fd = st->s;
  w->timeout_ms = st->timeout_ms;
  clock_gettime(CLOCK_MONOTONIC, &w->last);
  if (pthread_create(&w->th, NULL, dk__watch_run, w) != 0) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    return; /* no watchdog: the connection may then wait as libssh2 does */
  }
  st->watch = w;
  dk__watch_cur = w;
}

/* Before the socket is closed (its number may be reused). */
static void dk__watch_stop(struct dk__sock *st) {
  struct dk__watch *w = st->watch;
  if (w == NULL) return;
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->th, NULL);
  if (w->fired) dk__watch_fired = 1;
  if (dk__watch_cur == w) dk__watch_cur = NULL;
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
  st->watch = NULL;
}

static int dk__neterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int dk__neterr(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  git_error_set_str(GIT_ERROR_NET, msg);
  return -1;
}

static long dk__secs(long ms) { return (ms + 999) / 1000; }

/* connect() bounded by the timeout: non-blocking, then poll. Returns 0, or
 * -1 with errno. */
static int dk__connect_fd(int s, const struct sockaddr *a, socklen_t alen, long ms) {
  int fl = fcntl(s, F_GETFL);
  if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
  if (connect(s, a, alen) != 0) {
    if (errno != EINPROGRESS) return -1;
    struct pollfd p = {.fd = s, .events = POLLOUT};
    int n;
    do n = poll(&p, 1, ms > 0x7fffffffL ? 0x7fffffff : (int)ms);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    if (n < 0) return -1;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) return -1;
    if (soerr != 0) {
      errno = soerr;
      return -1;
    }
  }
  return fcntl(s, F_SETFL, fl);
}

static int dk__sock_connect(git_stream *stream) {
  struct dk__sock *st = (struct dk__sock *)stream;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC}, *info = NULL, *p;
  int rc = getaddrinfo(st->host, st->port, &hints, &info);
  if (rc != 0) return dk__neterr("cannot resolve %s: %s", st->host, gai_strerror(rc));
  int e = 0;
  for (p = info; p; p = p->ai_next) {
    int s = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
    if (s < 0) {
      e = errno;
      continue;
    }
    if (dk__connect_fd(s, p->ai_addr, p->ai_addrlen, st->timeout_ms) == 0) {
      struct timeval tv = {.tv_sec = st->timeout_ms / 1000, .tv_usec = (st->timeout_ms % 1000) * 1000};
      setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      st->s = s;
      freeaddrinfo(info);
      if (dk__watch_ssh) dk__watch_start(st);
      return 0;
    }
    e = errno;
    close(s);
  }
  freeaddrinfo(info);
  if (e == ETIMEDOUT)
    st->failed = dk_asprintf("cannot connect to %s port %s: no answer within %ld s", st->host, st->port,
                             dk__secs(st->timeout_ms));
  else
    st->failed = dk_asprintf("cannot connect to %s port %s: %s", st->host, st->port, strerror(e));
  if (st->defer) return 0;
  git_error_set_str(GIT_ERROR_NET, st->failed);
  return -1;
}

static ssize_t dk__sock_io_fail(struct dk__sock *st, const char *what) {
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    return dk__neterr("%s %s port %s: nothing moved within %ld s", what, st->host, st->port,
                      dk__secs(st->timeout_ms));
  return dk__neterr("%s %s port %s: %s", what, st->host, st->port, strerror(errno));
}

static ssize_t dk__sock_write(git_stream *stream, const char *data, size_t len, int flags) {
  struct dk__sock *st = (struct dk__sock *)stream;
  ssize_t n;
  if (st->failed) return git_error_set_str(GIT_ERROR_NET, st->failed), -1;
  do n = send(st->s, data, len, flags | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? dk__sock_io_fail(st, "cannot send to") : n;
}

static ssize_t dk__sock_read(git_stream *stream, void *data, size_t len) {
  struct dk__sock *st = (struct dk__sock *)stream;
  ssize_t n;
  if (st->failed) return git_error_set_str(GIT_ERROR_NET, st->failed), -1;
  do n = recv(st->s, data, len, 0);
  while (n < 0 && errno == EINTR);
  return n < 0 ? dk__sock_io_fail(st, "cannot receive from") : n;
}

static int dk__sock_close(git_stream *stream) {
  struct dk__sock *st = (struct dk__sock *)stream;
  dk__watch_stop(st);
  int rc = st->s >= 0 ? close(st->s) : 0;
  st->s = -1;
  return rc;
}

static void dk__sock_free(git_stream *stream) {
  struct dk__sock *st = (struct dk__sock *)stream;
  dk__watch_stop(st);
  if (st->s >= 0) close(st->s);
  free(st->host);
  free(st->port);
  free(st->failed);
  free(st);
}

static int dk__sock_new(git_stream **out, const char *host, const char *port) {
  struct dk__sock *st = dk_calloc(1, sizeof *st);
  st->parent.version = GIT_STREAM_VERSION;
  st->parent.connect = dk__sock_connect;
  st->parent.read = dk__sock_read;
  st->parent.write = dk__sock_write;
  st->parent.close = dk__sock_close;
  st->parent.free = dk__sock_free;
  st->host = dk_strdup(host);
  st->port = dk_strdup(port ? port : "");
  st->s = -1;
  st->timeout_ms = dk__timeout_ms > 0 ? dk__timeout_ms : DK__TIMEOUT_MS;
  st->defer = dk__defer_connect;
  *out = &st->parent;
  return 0;
}

/* ---- one operation on the remote ---- */

struct dk__pushed {
  const char *ref;     /* dst, borrowed */
  int reported;
  char *status;        /* the remote's refusal, NULL when it took it */
};

struct dk__ctx {
  struct dk_store *st;
  const struct dk_remote_opts *o;
  char *shown;         /* the URL without a password */
  int tries, max_tries;
  int auth_exhausted, auth_missing;
  char *redirected;    /* the URL the remote sent the credentials' request to, when another server */
  struct dk_buf said;  /* the remote's side-band text ("remote: ...") */
  struct dk__pushed *pushed;
  size_t npushed;
};

char *dk_remote_url_display(const char *url) {
  if (url == NULL) return dk_strdup("");
  const char *sch = strstr(url, "://");
  if (sch == NULL) return dk_strdup(url);
  const char *auth = sch + 3;
  size_t hostlen = strcspn(auth, "/?#");
  const char *at = memchr(auth, '@', hostlen);
  if (at == NULL) return dk_strdup(url);
  /* the last '@' of the authority ends the user information */
  for (const char *q = at; q < auth + hostlen; q++)
    if (*q == '@') at = q;
  const char *colon = memchr(auth, ':', (size_t)(at - auth));
  if (colon == NULL) return dk_strdup(url);
  return dk_asprintf("%.*s:***%s", (int)(colon - url), url, at);
}

/* Every secret of the options out of a message, then the configuration's
 * registered ones (dk_redact). */
static void dk__scrub(char *buf, size_t cap, const struct dk_remote_auth *a) {
  const char *sec[] = {a->token, a->password, a->ssh_passphrase};
  for (size_t i = 0; i < sizeof sec / sizeof *sec; i++) {
    if (sec[i] == NULL || sec[i][0] == '\0') continue;
    size_t sl = strlen(sec[i]);
    struct dk_buf b = {0};
    const char *p = buf, *q;
    int hit = 0;
    while ((q = strstr(p, sec[i])) != NULL) {
      dk_buf_append(&b, p, (size_t)(q - p));
      dk_buf_puts(&b, DK_REDACTED);
      p = q + sl;
      hit = 1;
    }
    if (hit) {
      dk_buf_puts(&b, p);
      snprintf(buf, cap, "%s", dk_buf_cstr(&b));
    }
    dk_buf_free(&b);
  }
  dk_redact_buf(buf, cap);
}

static const char *dk__name(const struct dk__ctx *c) { return c->o->name ? c->o->name : "remote"; }

static int dk__fail(struct dk__ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int dk__fail(struct dk__ctx *c, int code, const char *fmt, ...) {
  char why[DK_ERRBUF_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  dk_failf(c->st->err, code, "remote \"%s\" (%s): %s", dk__name(c), c->shown, why);
  dk__scrub(c->st->err, sizeof c->st->err, &c->o->auth);
  return code;
}

/* A libgit2 failure (rc) while doing `what`, copied out at once: an
 * authentication failure, one of reaching or talking to the remote
 * (`connecting`: everything before the remote answered), or libgit2's. */
static int dk__gitfail(struct dk__ctx *c, int rc, const char *what, int connecting) {
  const git_error *e = git_error_last();
  char msg[DK_ERRBUF_SIZE];
  snprintf(msg, sizeof msg, "%s", e && e->message ? e->message : "unknown libgit2 error");
  int klass = e ? e->klass : GIT_ERROR_NONE;
  int fired = dk__watch_fired;
  if (!fired && dk__watch_cur) {
    pthread_mutex_lock(&dk__watch_cur->mu);
    fired = dk__watch_cur->fired;
    pthread_mutex_unlock(&dk__watch_cur->mu);
  }
  if (fired)
    return dk__fail(c, DK_EREMOTE, "%s: nothing moved within %ld s (%s)", what, dk__secs(dk__timeout_ms), msg);
  if (c->redirected)
    return dk__fail(c, DK_EAUTH, "%s: the remote redirected to %s; credentials are only sent to the configured server",
                    what, c->redirected);
  if (c->auth_exhausted)
    return dk__fail(c, DK_EAUTH, "%s: the credentials were refused (%d attempts)", what, c->tries - 1);
  if (c->auth_missing)
    return dk__fail(c, DK_EAUTH, "%s: the remote asks for credentials and none are configured", what);
  if (rc == GIT_EAUTH || strstr(msg, "authenticat") || strstr(msg, "status code: 401"))
    return c->tries > 0 ? dk__fail(c, DK_EAUTH, "%s: %s (%d attempts)", what, msg, c->tries)
                        : dk__fail(c, DK_EAUTH, "%s: %s", what, msg);
  if (rc == GIT_ECERTIFICATE && strncmp(c->o->url, "ssh://", 6) == 0)
    return dk__fail(c, DK_EREMOTE, "%s: %s (libgit2 looks for it in ~/.ssh/known_hosts of the user duikou runs as)",
                    what, msg);
  if (connecting || klass == GIT_ERROR_NET || klass == GIT_ERROR_SSH || klass == GIT_ERROR_HTTP ||
      klass == GIT_ERROR_SSL)
    return dk__fail(c, DK_EREMOTE, "%s: %s", what, msg);
  return dk__fail(c, DK_EGIT, "%s: %s", what, msg);
}

/* The host and port of a URL, lower case, the scheme's port when none is
 * given ("example.org:443"). Malloc'd. */
static char *dk__authority(const char *url) {
  const char *p = strstr(url, "://");
  if (p == NULL) return dk_strdup("");
  size_t sl = (size_t)(p - url);
  p += 3;
  size_t n = strcspn(p, "/?#");
  const char *at = NULL;
  for (const char *q = p; q < p + n; q++)
    if (*q == '@') at = q;
  if (at) {
    n -= (size_t)(at + 1 - p);
    p = at + 1;
  }
  const char *close = memchr(p, ']', n), *colon = NULL;
  for (const char *q = close ? close : p; q < p + n; q++)
    if (*q == ':') colon = q;
  const char *port = colon ? colon + 1 : !strncmp(url, "https", sl) && sl == 5 ? "443"
                                         : !strncmp(url, "http", sl) && sl == 4 ? "80"
                                         : !strncmp(url, "ssh", sl) && sl == 3  ? "22"
                                                                                : "";
  size_t hl = colon ? (size_t)(colon - p) : n;
  size_t pl = colon ? n - hl - 1 : strlen(port);
  char *out = dk_asprintf("%.*s:%.*s", (int)hl, p, (int)pl, port);
  for (char *q = out; *q; q++)
    if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
  return out;
}

static int dk__cred(git_credential **out, const char *url, const char *url_user, unsigned int allowed,
                    void *payload) {
  struct dk__ctx *c = payload;
  const struct dk_remote_auth *a = &c->o->auth;
  dk__ping();
  /* libgit2 follows a redirect to the same host name on any port, whatever
   * follow_redirects says: the credentials go to the configured server only */
  char *want = dk__authority(c->o->url), *got = dk__authority(url ? url : "");
  int same = strcmp(want, got) == 0;
  free(want);
  free(got);
  if (!same) {
    c->redirected = dk_remote_url_display(url);
    git_error_set_str(GIT_ERROR_CALLBACK, "redirected");
    return GIT_EUSER;
  }
  if (++c->tries > c->max_tries) {
    c->auth_exhausted = 1;
    git_error_set_str(GIT_ERROR_CALLBACK, "credentials refused");
    return GIT_EUSER;
  }
  if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
    const char *user = a->user ? a->user : url_user;
    if (a->token && a->token[0]) return git_credential_userpass_plaintext_new(out, user ? user : "duikou", a->token);
    if (user && a->password) return git_credential_userpass_plaintext_new(out, user, a->password);
  }
  const char *suser = a->ssh_user ? a->ssh_user : url_user ? url_user : "git";
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && a->ssh_key)
    return git_credential_ssh_key_new(out, suser, a->ssh_pubkey, a->ssh_key, a->ssh_passphrase);
  if (allowed & GIT_CREDENTIAL_USERNAME) return git_credential_username_new(out, suser);
  c->auth_missing = 1;
  git_error_set_str(GIT_ERROR_CALLBACK, "no credentials");
  return GIT_EUSER;
}

static int dk__sideband(const char *str, int len, void *payload) {
  struct dk__ctx *c = payload;
  dk__ping();
  if (len > 0 && c->said.len < DK__SAID_MAX)
    dk_buf_append(&c->said, str, (size_t)len < DK__SAID_MAX - c->said.len ? (size_t)len : DK__SAID_MAX - c->said.len);
  return 0;
}

static int dk__push_status(const char *ref, const char *status, void *payload) {
  struct dk__ctx *c = payload;
  for (size_t i = 0; i < c->npushed; i++) {
    if (strcmp(c->pushed[i].ref, ref) != 0 || c->pushed[i].reported) continue;
    c->pushed[i].reported = 1;
    c->pushed[i].status = status ? dk_strdup(status) : NULL;
    return 0;
  }
  return 0;
}

static int dk__progress(const git_indexer_progress *stats, void *payload) {
  (void)stats;
  (void)payload;
  dk__ping();
  return 0;
}

static int dk__push_progress(unsigned int current, unsigned int total, size_t bytes, void *payload) {
  (void)current;
  (void)total;
  (void)bytes;
  (void)payload;
  dk__ping();
  return 0;
}

static int dk__push_negotiation(const git_push_update **updates, size_t len, void *payload) {
  (void)updates;
  (void)len;
  (void)payload;
  dk__ping();
  return 0;
}

/* The host key is libgit2's to judge (known_hosts, or the TLS chain). */
static int dk__certificate(git_cert *cert, int valid, const char *host, void *payload) {
  (void)cert;
  (void)valid;
  (void)host;
  (void)payload;
  dk__ping();
  return GIT_PASSTHROUGH;
}

static void dk__callbacks(struct dk__ctx *c, git_remote_callbacks *cb) {
  git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
  cb->credentials = dk__cred;
  cb->transfer_progress = dk__progress;
  cb->push_transfer_progress = dk__push_progress;
  cb->push_negotiation = dk__push_negotiation;
  cb->certificate_check = dk__certificate;
  cb->sideband_progress = dk__sideband;
  cb->push_update_reference = dk__push_status;
  cb->payload = c;
}

/* file://, git://, http(s):// or ssh://, with no password in it. */
static int dk__check_url(struct dk__ctx *c) {
  const char *u = c->o->url;
  static const char *const ok[] = {"file://", "git://", "http://", "https://", "ssh://"};
  if (u == NULL || u[0] == '\0') return dk__fail(c, DK_EINVAL, "no URL");
  size_t i;
  for (i = 0; i < sizeof ok / sizeof *ok; i++)
    if (strncmp(u, ok[i], strlen(ok[i])) == 0) break;
  if (i == sizeof ok / sizeof *ok)
    return dk__fail(c, DK_EINVAL,
                    "not a URL duikou exchanges through: it must start with file://, git://, http://, https:// or "
                    "ssh:// (a path is written file:///path)");
  if (strcmp(c->shown, u) != 0)
    return dk__fail(c, DK_EINVAL, "a password belongs in the credentials, not in the URL");
  const char *keys[] = {c->o->auth.ssh_key, c->o->auth.ssh_pubkey};
  for (i = 0; i < 2 && !strncmp(u, "ssh://", 6); i++)
    if (keys[i] && access(keys[i], R_OK) != 0)
      return dk__fail(c, DK_EINVAL, "cannot read the ssh key file %s: %s", keys[i], strerror(errno));
  return 0;
}

static void dk__ctx_init(struct dk__ctx *c, struct dk_store *st, const struct dk_remote_opts *o) {
  memset(c, 0, sizeof *c);
  c->st = st;
  c->o = o;
  c->shown = dk_remote_url_display(o->url);
  c->max_tries = o->max_auth_tries > 0 ? o->max_auth_tries : DK__AUTH_TRIES;
  dk__timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DK__TIMEOUT_MS;
  dk__watch_ssh = o->url && strncmp(o->url, "ssh://", 6) == 0;
  dk__watch_fired = 0;
}

static void dk__ctx_free(struct dk__ctx *c) {
  free(c->shown);
  free(c->redirected);
  dk_buf_free(&c->said);
  for (size_t i = 0; i < c->npushed; i++) free(c->pushed[i].status);
  free(c->pushed);
  dk__timeout_ms = 0;
  dk__watch_ssh = 0;
}

/* An anonymous remote (nothing written to the config), connected. Returns 0
 * with *out, or a DK_E* code with st->err. */
static int dk__open(struct dk__ctx *c, git_direction dir, git_remote **out) {
  static const git_stream_registration reg = {.version = GIT_STREAM_VERSION, .init = dk__sock_new};
  *out = NULL;
  int rc = dk__check_url(c);
  if (rc != 0) return rc;
  /* registered every time: libgit2's shutdown forgets it */
  if (git_stream_register(GIT_STREAM_STANDARD, (git_stream_registration *)&reg) != 0)
    return dk__gitfail(c, -1, "cannot set up the connection", 0);
  git_remote *r = NULL;
  /* anonymous: nothing is written to the config. The repository's
   * url.*.insteadOf is not applied: the URL is the configured one, and
   * libgit2 1.5.1 leaks a pcre2 match block for each config entry the
   * insteadOf search does not match (util/regexp.c, git_regexp_match) */
  git_remote_create_options co;
  git_remote_create_options_init(&co, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  co.repository = c->st->repo;
  co.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  if ((rc = git_remote_create_with_opts(&r, c->o->url, &co)) != 0) return dk__gitfail(c, rc, "bad URL", 0);
  /* no redirect is followed: the credentials are for this URL's server */
  git_remote_connect_options cco;
  git_remote_connect_options_init(&cco, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
  dk__callbacks(c, &cco.callbacks);
  cco.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
  dk__defer_connect = dir == GIT_DIRECTION_PUSH && strncmp(c->o->url, "git://", 6) == 0;
  rc = git_remote_connect_ext(r, dir, &cco);
  dk__defer_connect = 0;
  if (rc != 0) {
    rc = dk__gitfail(c, rc, "cannot connect", 1);
    git_remote_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

static int dk__has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int dk__check_prefix(struct dk__ctx *c, const char *p) {
  size_t n = p ? strlen(p) : 0;
  if (n < 6 || strncmp(p, "refs/", 5) != 0 || p[n - 1] != '/')
    return dk__fail(c, DK_EINVAL, "\"%s\" is not a ref prefix (refs/.../)", p ? p : "");
  return 0;
}

int dk_remote_set_ca(const char *file, const char *dir, char *err) {
  const char *what[] = {file, dir};
  for (int i = 0; i < 2; i++)
    if (what[i] && access(what[i], R_OK) != 0)
      return dk_failf(err, DK_EINVAL, "cannot read the certificate authorities in %s: %s", what[i], strerror(errno));
  if (file == NULL && dir == NULL) return dk_failf(err, DK_EINVAL, "no certificate authorities given");
  if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, dir) != 0) {
    const git_error *e = git_error_last();
    return dk_failf(err, DK_EGIT, "cannot use the certificate authorities in %s: %s", file ? file : dir,
                    e && e->message ? e->message : "unknown libgit2 error");
  }
  return 0;
}

/* ---- push ---- */

void dk_push_result_clear(struct dk_push_result *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->n; i++) {
    free(r->refs[i].ref);
    free(r->refs[i].msg);
  }
  free(r->refs);
  r->refs = NULL;
  r->n = 0;
}

/* What the remote said on its side band (a hook's output), as one
 * printable line without its progress meters; "" when nothing. */
static char *dk__said(struct dk__ctx *c) {
  static const char *const meters[] = {"Resolving deltas", "Unpacking objects", "Counting objects",
                                       "Compressing objects", "Writing objects", "Total "};
  struct dk_buf keep = {0};
  const char *p = c->said.data, *end = p + c->said.len;
  while (p && p < end) {
    size_t n = 0;
    while (p + n < end && p[n] != '\n' && p[n] != '\r') n++;
    int meter = 0;
    for (size_t k = 0; k < sizeof meters / sizeof *meters; k++)
      if (n >= strlen(meters[k]) && !strncmp(p, meters[k], strlen(meters[k]))) meter = 1;
    if (n > 0 && !meter) {
      if (keep.len) dk_buf_puts(&keep, " ");
      dk_buf_append(&keep, p, n);
    }
    p += n + 1;
  }
  char out[600];
  dk_excerpt(out, sizeof out, dk_buf_cstr(&keep), keep.len);
  dk_buf_free(&keep);
  char *s = out;
  while (*s == ' ') s++;
  dk__scrub(s, sizeof out - (size_t)(s - out), &c->o->auth);
  return dk_strdup(s);
}

int dk_store_push(struct dk_store *st, const struct dk_remote_opts *o, const char *const *src,
                  const char *const *dst, size_t n, struct dk_push_result *out) {
  struct dk__ctx c;
  dk__ctx_init(&c, st, o);
  memset(out, 0, sizeof *out);
  struct dk_ref_status *res = dk_calloc(n ? n : 1, sizeof *res);
  git_remote *r = NULL;
  char **specs = dk_calloc(n ? n : 1, sizeof *specs);
  size_t nspecs = 0;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    res[i].ref = dk_strdup(dst[i]);
    int valid = 0;
    git_reference_name_is_valid(&valid, dst[i]);
    if (!dk__has_prefix(dst[i], "refs/") || !valid)
      rc = dk__fail(&c, DK_EINVAL, "\"%s\" is not a ref name", dst[i]);
    else if (git_reference_name_to_id(&res[i].oid, st->repo, src[i]) != 0)
      rc = dk__fail(&c, DK_EINVAL, "there is no local ref %s to push", src[i]);
  }
  if (rc == 0) rc = dk__open(&c, GIT_DIRECTION_PUSH, &r);
  if (rc != 0) goto done;

  const git_remote_head **heads;
  size_t nheads;
  if (git_remote_ls(&heads, &nheads, r) != 0) {
    rc = dk__gitfail(&c, -1, "cannot list its refs", 1);
    goto done;
  }
  c.pushed = dk_calloc(n ? n : 1, sizeof *c.pushed);
  /* fast-forward only, decided here per ref: libgit2 fails the whole push
   * on one that is not, and the others must still go */
  for (size_t i = 0; i < n; i++) {
    const git_oid *theirs = NULL;
    for (size_t h = 0; h < nheads; h++)
      if (strcmp(heads[h]->name, dst[i]) == 0) theirs = &heads[h]->oid;
    char hex[GIT_OID_HEXSZ + 1];
    if (theirs && git_oid_equal(theirs, &res[i].oid)) {
      res[i].ok = 1;
      continue;
    }
    if (theirs) {
      int desc = 0;
      git_odb *odb = NULL;
      int known = git_repository_odb(&odb, st->repo) == 0 && git_odb_exists(odb, theirs);
      git_odb_free(odb);
      if (known) desc = git_graph_descendant_of(st->repo, &res[i].oid, theirs);
      if (desc != 1) {
        git_oid_tostr(hex, sizeof hex, theirs);
        res[i].msg = dk_asprintf("non-fast-forward: the remote's %s is at %.12s, %s", dst[i], hex,
                                 known ? "which this push does not descend from"
                                       : "which this site does not have (fetch first)");
        continue;
      }
    }
    specs[nspecs++] = dk_asprintf("%s:%s", src[i], dst[i]);
    c.pushed[c.npushed++].ref = dst[i];
  }
  if (nspecs > 0) {
    git_push_options po;
    git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
    dk__callbacks(&c, &po.callbacks);
    po.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
    git_strarray arr = {.strings = specs, .count = nspecs};
    int grc = git_remote_upload(r, &arr, &po);
    if (grc != 0) {
      rc = dk__gitfail(&c, grc, "push failed", 0);
      goto done;
    }
    char *said = dk__said(&c);
    for (size_t i = 0; i < n; i++) {
      if (res[i].ok || res[i].msg) continue;
      struct dk__pushed *p = NULL;
      for (size_t k = 0; k < c.npushed; k++)
        if (strcmp(c.pushed[k].ref, dst[i]) == 0) p = &c.pushed[k];
      if (p && p->reported && p->status == NULL) {
        res[i].ok = 1;
        continue;
      }
      const char *why = !p || !p->reported ? "the remote reported nothing for this ref" : p->status;
      char m[DK_ERRBUF_SIZE + 700];
      if (said[0]) snprintf(m, sizeof m, "%s (remote: %s)", why, said);
      else snprintf(m, sizeof m, "%s", why);
      dk__scrub(m, sizeof m, &o->auth);
      res[i].msg = dk_strdup(m);
    }
    free(said);
  }
done:
  if (r) {
    git_remote_disconnect(r);
    git_remote_free(r);
  }
  for (size_t i = 0; i < nspecs; i++) free(specs[i]);
  free(specs);
  if (rc == 0) {
    out->refs = res;
    out->n = n;
  } else {
    struct dk_push_result tmp = {res, n};
    dk_push_result_clear(&tmp);
  }
  dk__ctx_free(&c);
  return rc;
}

/* ---- ls-remote ---- */

void dk_remote_list_clear(struct dk_remote_list *l) {
  if (l == NULL) return;
  for (size_t i = 0; i < l->n; i++) free(l->refs[i].ref);
  free(l->refs);
  l->refs = NULL;
  l->n = 0;
}

/* The connected remote's refs below prefix (peeled tag entries left out). */
static int dk__list(struct dk__ctx *c, git_remote *r, const char *prefix, struct dk_remote_list *out) {
  const git_remote_head **heads;
  size_t nheads;
  memset(out, 0, sizeof *out);
  if (git_remote_ls(&heads, &nheads, r) != 0) return dk__gitfail(c, -1, "cannot list its refs", 1);
  out->refs = dk_calloc(nheads ? nheads : 1, sizeof *out->refs);
  for (size_t h = 0; h < nheads; h++) {
    const char *nm = heads[h]->name;
    if ((prefix && !dk__has_prefix(nm, prefix)) || strstr(nm, "^{}")) continue;
    out->refs[out->n].ref = dk_strdup(nm);
    git_oid_cpy(&out->refs[out->n].oid, &heads[h]->oid);
    out->n++;
  }
  return 0;
}

int dk_store_ls_remote(struct dk_store *st, const struct dk_remote_opts *o, const char *prefix,
                       struct dk_remote_list *out) {
  struct dk__ctx c;
  dk__ctx_init(&c, st, o);
  memset(out, 0, sizeof *out);
  git_remote *r = NULL;
  int rc = dk__open(&c, GIT_DIRECTION_FETCH, &r);
  if (rc == 0) rc = dk__list(&c, r, prefix, out);
  if (r) {
    git_remote_disconnect(r);
    git_remote_free(r);
  }
  if (rc != 0) dk_remote_list_clear(out);
  dk__ctx_free(&c);
  return rc;
}

/* ---- fetch ---- */

void dk_fetch_result_clear(struct dk_fetch_result *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->n; i++) {
    free(r->refs[i].remote_ref);
    free(r->refs[i].local_ref);
  }
  free(r->refs);
  r->refs = NULL;
  r->n = 0;
}

static struct dk_fetch_ref *dk__moved(struct dk_fetch_result *out, size_t *cap) {
  if (out->n == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    out->refs = dk_realloc(out->refs, *cap * sizeof *out->refs);
  }
  struct dk_fetch_ref *m = &out->refs[out->n++];
  memset(m, 0, sizeof *m);
  return m;
}


/* Set or remove (oid NULL) a ref, as dk_txn_move does under the refs lock:
 * a <ref>.lock found then was left by a writer that died. */
static int dk__set_ref(git_repository *repo, const char *ref, const git_oid *oid, const char *log) {
  int rc;
  for (int attempt = 0;; attempt++) {
    if (oid) {
      git_reference *nr = NULL;
      rc = git_reference_create(&nr, repo, ref, oid, 1, log);
      git_reference_free(nr);
    } else {
      rc = git_reference_remove(repo, ref);
      if (rc == GIT_ENOTFOUND) rc = 0;
    }
    if (rc != GIT_ELOCKED || attempt > 0) return rc;
    char *stale = dk_asprintf("%s%s.lock", git_repository_path(repo), ref);
    unlink(stale);
    free(stale);
  }
}

int dk_store_fetch(struct dk_store *st, const struct dk_remote_opts *o, const char *remote_prefix,
                   const char *local_prefix, struct dk_fetch_result *out) {
  struct dk__ctx c;
  dk__ctx_init(&c, st, o);
  memset(out, 0, sizeof *out);
  struct dk_remote_list theirs = {0};
  git_remote *r = NULL;
  int lfd = -1, rc;
  size_t cap = 0;
  if ((rc = dk__check_prefix(&c, remote_prefix)) != 0 || (rc = dk__check_prefix(&c, local_prefix)) != 0) goto done;
  if ((rc = dk__open(&c, GIT_DIRECTION_FETCH, &r)) != 0) goto done;
  if ((rc = dk__list(&c, r, remote_prefix, &theirs)) != 0) goto done;
  size_t rpl = strlen(remote_prefix);
  for (size_t i = 0; i < theirs.n; i++) {
    char *local = dk_asprintf("%s%s", local_prefix, theirs.refs[i].ref + rpl);
    int valid = 0;
    git_reference_name_is_valid(&valid, local);
    free(local);
    if (!valid) {
      rc = dk__fail(&c, DK_EGIT, "its ref %s has no valid name here", theirs.refs[i].ref);
      goto done;
    }
  }
  if (theirs.n > 0) {
    git_fetch_options fo;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    dk__callbacks(&c, &fo.callbacks);
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    fo.update_fetchhead = 0;
    fo.prune = GIT_FETCH_NO_PRUNE;
    fo.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
    char *spec = dk_asprintf("+%s*:%s*", remote_prefix, local_prefix);
    git_strarray arr = {.strings = &spec, .count = 1};
    int grc = git_remote_download(r, &arr, &fo);
    free(spec);
    if (grc != 0) {
      rc = dk__gitfail(&c, grc, "fetch failed", 0);
      goto done;
    }
  }
  git_remote_disconnect(r);
  git_odb *odb = NULL;
  if (git_repository_odb(&odb, st->repo) != 0) {
    rc = dk__gitfail(&c, -1, "cannot open the object database", 0);
    goto done;
  }
  for (size_t i = 0; i < theirs.n && rc == 0; i++)
    if (!git_odb_exists(odb, &theirs.refs[i].oid)) {
      char hex[GIT_OID_HEXSZ + 1];
      rc = dk__fail(&c, DK_EGIT, "its %s (%s) did not arrive", theirs.refs[i].ref,
                    git_oid_tostr(hex, sizeof hex, &theirs.refs[i].oid));
    }
  git_odb_free(odb);
  if (rc != 0) goto done;
  if (theirs.n > 0 && (rc = dk_store_flush(st)) != 0) goto done;

  if (dk_fs_open(st->path, "duikou.refs.lock", O_RDWR | O_CREAT, &lfd, st->err) != 0) {
    rc = DK_EIO;
    goto done;
  }
  if (flock(lfd, LOCK_EX) != 0) {
    rc = dk_failf(st->err, DK_EIO, "cannot lock the refs of %s: %s", st->path, strerror(errno));
    goto done;
  }
  char *log = dk_asprintf("duikou: fetch from %s", dk__name(&c));
  for (size_t i = 0; i < theirs.n && rc == 0; i++) {
    char *local = dk_asprintf("%s%s", local_prefix, theirs.refs[i].ref + rpl);
    git_oid old;
    int had = git_reference_name_to_id(&old, st->repo, local) == 0;
    if (had && git_oid_equal(&old, &theirs.refs[i].oid)) {
      free(local);
      continue;
    }
    int grc = dk__set_ref(st->repo, local, &theirs.refs[i].oid, log);
    if (grc != 0) {
      rc = dk__gitfail(&c, grc, local, 0);
      free(local);
      break;
    }
    struct dk_fetch_ref *m = dk__moved(out, &cap);
    m->remote_ref = dk_strdup(theirs.refs[i].ref);
    m->local_ref = local;
    m->had_old = had;
    if (had) git_oid_cpy(&m->old, &old);
    git_oid_cpy(&m->neu, &theirs.refs[i].oid);
  }
  /* prune: what the remote no longer has */
  git_reference_iterator *it = NULL;
  if (rc == 0 && git_reference_iterator_new(&it, st->repo) != 0) rc = dk__gitfail(&c, -1, "cannot list the refs", 0);
  char **drop = NULL;
  git_oid *dropoid = NULL;
  size_t ndrop = 0;
  const char *nm;
  git_reference *ref;
  while (rc == 0 && git_reference_next(&ref, it) == 0) {
    nm = git_reference_name(ref);
    if (dk__has_prefix(nm, local_prefix) && git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
      int found = 0;
      for (size_t i = 0; i < theirs.n && !found; i++)
        found = strcmp(theirs.refs[i].ref + rpl, nm + strlen(local_prefix)) == 0;
      if (!found) {
        drop = dk_realloc(drop, (ndrop + 1) * sizeof *drop);
        dropoid = dk_realloc(dropoid, (ndrop + 1) * sizeof *dropoid);
        drop[ndrop] = dk_strdup(nm);
        git_oid_cpy(&dropoid[ndrop++], git_reference_target(ref));
      }
    }
    git_reference_free(ref);
  }
  git_reference_iterator_free(it);
  for (size_t i = 0; i < ndrop; i++) {
    int grc = rc == 0 ? dk__set_ref(st->repo, drop[i], NULL, log) : 0;
    if (rc == 0 && grc != 0) rc = dk__gitfail(&c, grc, drop[i], 0);
    if (rc == 0) {
      struct dk_fetch_ref *m = dk__moved(out, &cap);
      m->remote_ref = dk_asprintf("%s%s", remote_prefix, drop[i] + strlen(local_prefix));
      m->local_ref = drop[i];
      m->had_old = 1;
      git_oid_cpy(&m->old, &dropoid[i]);
    } else {
      free(drop[i]);
    }
  }
  free(drop);
  free(dropoid);
  free(log);
  if (rc == 0 && out->n > 0) rc = dk_store_flush(st);
done:
  if (lfd >= 0) close(lfd);
  if (r) {
    git_remote_disconnect(r);
    git_remote_free(r);
  }
  dk_remote_list_clear(&theirs);
  if (rc != 0) dk_fetch_result_clear(out);
  dk__ctx_free(&c);
  return rc;
}

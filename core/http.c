#include "http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "log.h"
#include "util.h"

#ifndef DK_VERSION
#define DK_VERSION "0"
#endif

struct dk_http {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  int closing;
  int handles_open; /* uv handles not yet closed: the timer and the polls */
  void (*done)(void *);
  void *done_arg;
  struct dk__xfer *xfers; /* running transfers, for close */
  struct dk__xfer *queue, *queue_tail; /* waiting for a connection, in order */
  long max_total, max_host, running;
  struct dk__poll *polls; /* open polls, for close */
};

struct dk__poll {
  uv_poll_t poll;
  curl_socket_t fd;
  struct dk_http *http;
  struct dk__poll *next, *prev;
};

struct dk__xfer {
  struct dk_http *http;
  CURL *easy;
  struct curl_slist *hdrs;
  struct curl_slist *phdrs; /* to the proxy only */
  struct dk_buf body;
  size_t max_body;
  int too_big;
  char **rheaders;
  size_t nrheaders;
  dk_http_cb cb;
  void *arg;
  char curlerr[CURL_ERROR_SIZE];
  char *host;  /* scheme://host:port, for the per-host limit; NULL: none (file:) */
  int started; /* handed to libcurl (else still queued) */
  struct dk__xfer *next, *prev;
};

static char *dk__origin(const char *url);

const char *dk_http_user_agent(void) { return "duikou/" DK_VERSION; }

static void dk__http_maybe_done(struct dk_http *http) {
  if (http->closing && http->handles_open == 0) {
    void (*done)(void *) = http->done;
    void *arg = http->done_arg;
    free(http);
    if (done) done(arg);
  }
}

static void dk__poll_closed(uv_handle_t *h) {
  struct dk__poll *p = h->data;
  struct dk_http *http = p->http;
  if (p->prev) p->prev->next = p->next; else http->polls = p->next;
  if (p->next) p->next->prev = p->prev;
  free(p);
  http->handles_open--;
  dk__http_maybe_done(http);
}

static void dk__xfer_free(struct dk__xfer *x) {
  free(x->host);
  curl_slist_free_all(x->hdrs);
  curl_slist_free_all(x->phdrs);
  dk_buf_free(&x->body);
  for (size_t i = 0; i < x->nrheaders; i++) free(x->rheaders[i]);
  free(x->rheaders);
  free(x);
}

static char *dk__dup_trim(const char *s) {
  if (s == NULL) return NULL;
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  return dk_strndup(s, n);
}

const char *dk_http_res_header(const struct dk_http_res *res, const char *name) {
  size_t nl = strlen(name);
  for (char **h = res->headers; h && *h; h++)
    if (strncasecmp(*h, name, nl) == 0 && (*h)[nl] == ':') return *h + nl + 1 + ((*h)[nl + 1] == ' ');
  return NULL;
}

struct dk_http_res *dk_http_res_copy(const struct dk_http_res *res) {
  struct dk_http_res *c = dk_malloc(sizeof *c);
  *c = *res;
  if (res->dk__body && res->dk__body->data == res->body && res->body) {
    /* a body can be tens of MB: moved, and its slack given back */
    c->body = dk_realloc(res->body, res->body_len + 1);
    res->dk__body->data = NULL;
    res->dk__body->len = res->dk__body->cap = 0;
  } else {
    c->body = dk_malloc(res->body_len + 1);
    if (res->body_len) memcpy(c->body, res->body, res->body_len);
    c->body[res->body_len] = '\0';
  }
  c->dk__body = NULL;
  c->effective_url = dk_strdup(res->effective_url);
  c->content_type = dk_strdup(res->content_type);
  c->etag = dk_strdup(res->etag);
  c->last_modified = dk_strdup(res->last_modified);
  size_t n = 0;
  while (res->headers && res->headers[n]) n++;
  c->headers = dk_calloc(n + 1, sizeof *c->headers);
  for (size_t i = 0; i < n; i++) c->headers[i] = dk_strdup(res->headers[i]);
  return c;
}

void dk_http_res_free(struct dk_http_res *c) {
  if (c == NULL) return;
  free(c->body);
  free(c->effective_url);
  free(c->content_type);
  free(c->etag);
  free(c->last_modified);
  for (size_t i = 0; c->headers[i]; i++) free(c->headers[i]);
  free(c->headers);
  free(c);
}

/* What the response's Retry-After asks, in ms: -1 when it has none. libcurl
 * reads both forms (it says 0 for one it cannot read: retry now); a date in
 * the past is now, and a year is as long as anyone waits. */
static int64_t dk__retry_after(CURL *easy, const struct dk_http_res *res) {
  curl_off_t secs = 0;
  if (dk_http_res_header(res, "retry-after") == NULL ||
      curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &secs) != CURLE_OK)
    return -1;
  if (secs < 0) secs = 0;
  if (secs > 86400 * 365) secs = 86400 * 365;
  return (int64_t)secs * 1000;
}

static void dk__xfer_finish(struct dk__xfer *x, CURLcode code);

/* Transfers running now to x's host. */
static long dk__host_running(const struct dk_http *http, const struct dk__xfer *x) {
  long n = 0;
  for (const struct dk__xfer *r = http->xfers; r && x->host; r = r->next)
    n += r->host && strcmp(r->host, x->host) == 0;
  return n;
}

/* Hand libcurl one transfer: into the multi handle, where its timeouts
 * start. Returns 0 or DK_EHTTP (x is then the caller's). */
static int dk__start(struct dk_http *http, struct dk__xfer *x) {
  if (curl_multi_add_handle(http->multi, x->easy) != CURLM_OK) return DK_EHTTP;
  x->started = 1;
  x->prev = NULL;
  x->next = http->xfers;
  if (x->next) x->next->prev = x;
  http->xfers = x;
  http->running++;
  return 0;
}

/* Start what waits, in order, as far as the limits allow: no more than
 * max_total at once, no more than max_host to one host (a transfer whose
 * host is full lets those behind it for other hosts go first). libcurl
 * starts a transfer's clock when it is added, so a transfer is added only
 * when it can run: its `timeout` is its own, not the queue's. */
static void dk__pump(struct dk_http *http) {
  struct dk__xfer **pp = &http->queue, *prev = NULL;
  while (!http->closing && http->multi && *pp && http->running < http->max_total) {
    struct dk__xfer *x = *pp;
    if (x->host && dk__host_running(http, x) >= http->max_host) {
      prev = x;
      pp = &x->next;
      continue;
    }
    *pp = x->next;
    if (http->queue_tail == x) http->queue_tail = prev;
    x->next = NULL;
    if (dk__start(http, x) != 0) {
      snprintf(x->curlerr, sizeof x->curlerr, "cannot start the transfer");
      dk__xfer_finish(x, CURLE_FAILED_INIT);
      return; /* finish pumped again */
    }
  }
}

/* Finish one transfer: build the response and call back. */
static void dk__xfer_finish(struct dk__xfer *x, CURLcode code) {
  struct dk_http *http = x->http;
  struct dk_http_res res;
  memset(&res, 0, sizeof res);
  dk_buf_cstr(&x->body);
  res.body = x->body.data;
  res.body_len = x->body.len;
  res.dk__body = &x->body;
  x->rheaders = dk_realloc(x->rheaders, (x->nrheaders + 1) * sizeof *x->rheaders);
  x->rheaders[x->nrheaders] = NULL;
  res.headers = x->rheaders;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res.status);
  char *eff = NULL;
  curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &eff);
  res.effective_url = eff;
  curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &res.total_secs);
  res.content_type = (char *)dk_http_res_header(&res, "content-type");
  res.etag = (char *)dk_http_res_header(&res, "etag");
  res.last_modified = (char *)dk_http_res_header(&res, "last-modified");
  res.retry_after_ms = dk__retry_after(x->easy, &res);
  if (x->too_big || code == CURLE_FILESIZE_EXCEEDED) {
    res.err = dk_failf(res.errmsg, DK_ETOOBIG, "response body larger than the limit of %zu bytes",
                       x->max_body);
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    res.err = dk_failf(res.errmsg, DK_ETIMEDOUT, "%s", x->curlerr[0] ? x->curlerr : curl_easy_strerror(code));
  } else if (code == CURLE_ABORTED_BY_CALLBACK && http->closing) {
    res.err = dk_failf(res.errmsg, DK_ECANCELED, "transfer canceled at shutdown");
  } else if (code != CURLE_OK) {
    res.err = dk_failf(res.errmsg, DK_EHTTP, "%s", x->curlerr[0] ? x->curlerr : curl_easy_strerror(code));
  }
  if (x->started) {
    if (x->prev) x->prev->next = x->next; else http->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    curl_multi_remove_handle(http->multi, x->easy);
    http->running--;
  }
  x->cb(x->arg, &res);
  /* Only now: effective_url belongs to the easy handle. */
  curl_easy_cleanup(x->easy);
  dk__xfer_free(x);
  dk__pump(http);
}

/* Always drain the message queue, even when no transfer is running any more:
 * the last completion is only reported through it. */
static void dk__drain(struct dk_http *http) {
  CURLMsg *msg;
  int pending;
  /* A completion callback may close the client: stop draining then. */
  while (http->multi && (msg = curl_multi_info_read(http->multi, &pending)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    struct dk__xfer *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    dk__xfer_finish(x, msg->data.result);
  }
}

static void dk__on_poll(uv_poll_t *h, int status, int events) {
  struct dk__poll *p = h->data;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  if (p->http->multi == NULL) return;
  curl_multi_socket_action(p->http->multi, p->fd, flags, &running);
  dk__drain(p->http);
}

static void dk__on_timer(uv_timer_t *t) {
  struct dk_http *http = t->data;
  int running;
  if (http->multi == NULL) return;
  curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  dk__drain(http);
}

static int dk__cb_timer(CURLM *multi, long timeout_ms, void *userp) {
  struct dk_http *http = userp;
  if (timeout_ms < 0) uv_timer_stop(&http->timer);
  else uv_timer_start(&http->timer, dk__on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

/* One uv_poll_t per socket, found again through curl_multi_assign. */
static int dk__cb_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp) {
  struct dk_http *http = userp;
  struct dk__poll *p = socketp;
  if (action == CURL_POLL_REMOVE) {
    if (p && !uv_is_closing((uv_handle_t *)&p->poll)) {
      uv_poll_stop(&p->poll);
      if (http->multi) curl_multi_assign(http->multi, s, NULL);
      uv_close((uv_handle_t *)&p->poll, dk__poll_closed);
    }
    return 0;
  }
  if (p == NULL) {
    if (http->closing) return 0;
    p = dk_calloc(1, sizeof *p);
    p->fd = s;
    p->http = http;
    if (uv_poll_init_socket(http->loop, &p->poll, s) != 0) {
      free(p);
      return -1;
    }
    p->poll.data = p;
    p->next = http->polls;
    if (p->next) p->next->prev = p;
    http->polls = p;
    http->handles_open++;
    curl_multi_assign(http->multi, s, p);
  }
  int ev = 0;
  if (action == CURL_POLL_IN || action == CURL_POLL_INOUT) ev |= UV_READABLE;
  if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT) ev |= UV_WRITABLE;
  uv_poll_start(&p->poll, ev, dk__on_poll);
  return 0;
}

static void dk__curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int dk_http_new(uv_loop_t *loop, long max_total, long max_host, struct dk_http **out) {
  static uv_once_t once = UV_ONCE_INIT;
  uv_once(&once, dk__curl_init);
  *out = NULL;
  struct dk_http *http = dk_calloc(1, sizeof *http);
  http->loop = loop;
  http->multi = curl_multi_init();
  if (http->multi == NULL) {
    free(http);
    return DK_ENOMEM;
  }
  uv_timer_init(loop, &http->timer);
  http->timer.data = http;
  http->handles_open = 1;
  curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, dk__cb_socket);
  curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
  curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, dk__cb_timer);
  curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
  http->max_total = max_total > 0 ? max_total : 16L;
  http->max_host = max_host > 0 ? max_host : 4L;
  curl_multi_setopt(http->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, http->max_total);
  curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, http->max_host);
  *out = http;
  return 0;
}

static size_t dk__cb_write(char *data, size_t size, size_t n, void *userp) {
  struct dk__xfer *x = userp;
  size_t len = size * n;
  if (x->body.len + len > x->max_body) {
    x->too_big = 1;
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  if (x->body.cap == 0) {
    /* a body of many MB grown by doubling is copied as many times: room
     * for what Content-Length announces (within the limit), at once */
    curl_off_t cl = -1;
    if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl > 0 &&
        (uint64_t)cl <= x->max_body) {
      x->body.data = dk_malloc((size_t)cl + 1);
      x->body.cap = (size_t)cl + 1;
    }
  }
  dk_buf_append(&x->body, data, len);
  return len;
}

static size_t dk__cb_header(char *data, size_t size, size_t n, void *userp) {
  struct dk__xfer *x = userp;
  size_t len = size * n;
  /* A new status line (after a redirect or a 100 Continue) starts a new set. */
  if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
    for (size_t i = 0; i < x->nrheaders; i++) free(x->rheaders[i]);
    x->nrheaders = 0;
    return len;
  }
  const char *colon = memchr(data, ':', len);
  if (colon == NULL) return len;
  char *line = dk_strndup(data, len);
  for (char *c = line; *c && *c != ':'; c++) *c = (char)tolower((unsigned char)*c);
  char *v = dk__dup_trim(line + (colon - data) + 1);
  int nlen = (int)(colon - data);
  /* Lines of one name are one comma-separated list (RFC 9110, 5.3), so that
   * a plugin sees every Link of the response; Set-Cookie cannot be joined. */
  for (size_t i = 0; i < x->nrheaders; i++) {
    char *old = x->rheaders[i];
    if (strncmp(old, line, (size_t)nlen) == 0 && old[nlen] == ':' && strcmp(line, "set-cookie") != 0 &&
        strncmp(line, "set-cookie", (size_t)nlen) != 0) {
      x->rheaders[i] = dk_asprintf("%s, %s", old, v);
      free(old);
      free(v);
      free(line);
      return len;
    }
  }
  char *h = dk_asprintf("%.*s: %s", nlen, line, v);
  free(v);
  free(line);
  x->rheaders = dk_realloc(x->rheaders, (x->nrheaders + 2) * sizeof *x->rheaders);
  x->rheaders[x->nrheaders++] = h;
  return len;
}

static int dk__cb_progress(void *userp, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln) {
  struct dk__xfer *x = userp;
  if (x->http->closing) return 1;
  if (dlt > 0 && (size_t)dlt > x->max_body) {
    x->too_big = 1; /* Content-Length says it already */
    return 1;
  }
  return 0;
}

/* Basic auth by libcurl, sent at once (no 401 round trip first). libcurl
 * keeps its own copies of the strings. */
static void dk__set_basic(CURL *e, const struct dk_http_req *req) {
  if (req->username && req->password) {
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, req->username);
    curl_easy_setopt(e, CURLOPT_PASSWORD, req->password);
  }
  if (req->proxy_username && req->proxy_password) {
    curl_easy_setopt(e, CURLOPT_PROXYAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, req->proxy_username);
    curl_easy_setopt(e, CURLOPT_PROXYPASSWORD, req->proxy_password);
  }
}

int dk_http_get(struct dk_http *http, const struct dk_http_req *req, dk_http_cb cb, void *arg) {
  if (http->closing) return DK_ECANCELED;
  if (req->url == NULL || cb == NULL) return DK_EINVAL;
  struct dk__xfer *x = dk_calloc(1, sizeof *x);
  x->http = http;
  x->cb = cb;
  x->arg = arg;
  x->max_body = req->max_body ? req->max_body : (size_t)64 << 20;
  CURL *e = x->easy = curl_easy_init();
  if (e == NULL) {
    free(x);
    return DK_ENOMEM;
  }
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curlerr);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, dk__cb_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, dk__cb_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, dk__cb_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, dk_http_user_agent());
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding libcurl was built with */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 60000L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, req->low_speed_bytes > 0 ? req->low_speed_bytes : 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, req->low_speed_secs > 0 ? req->low_speed_secs : 30L);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_body);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, req->insecure ? 0L : 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, req->insecure ? 0L : 2L);
  if (req->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
  if (req->proxy) curl_easy_setopt(e, CURLOPT_PROXY, req->proxy);
  /* Credentials must not follow a redirect to another host. */
  curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
  dk__set_basic(e, req);
  for (const char *const *h = req->headers; h && *h; h++) x->hdrs = curl_slist_append(x->hdrs, *h);
  if (req->authorization) {
    char *h = dk_asprintf("Authorization: %s", req->authorization);
    x->hdrs = curl_slist_append(x->hdrs, h);
    memset(h, 0, strlen(h));
    free(h);
  }
  if (req->if_none_match) {
    char *h = dk_asprintf("If-None-Match: %s", req->if_none_match);
    x->hdrs = curl_slist_append(x->hdrs, h);
    free(h);
  }
  if (req->if_modified_since) {
    char *h = dk_asprintf("If-Modified-Since: %s", req->if_modified_since);
    x->hdrs = curl_slist_append(x->hdrs, h);
    free(h);
  }
  if (x->hdrs) curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
  if (req->proxy_authorization) {
    char *h = dk_asprintf("Proxy-Authorization: %s", req->proxy_authorization);
    x->phdrs = curl_slist_append(x->phdrs, h);
    explicit_bzero(h, strlen(h));
    free(h);
    /* proxy headers go to the proxy, the others to the source, never mixed */
    curl_easy_setopt(e, CURLOPT_HEADEROPT, CURLHEADER_SEPARATE);
    curl_easy_setopt(e, CURLOPT_PROXYHEADER, x->phdrs);
  }
  x->host = dk__origin(req->url);
  /* Start now when the limits allow (an error is then returned, and cb is
   * never called); else wait in the queue, in order. */
  if (http->queue == NULL && http->running < http->max_total &&
      (x->host == NULL || dk__host_running(http, x) < http->max_host)) {
    if (dk__start(http, x) != 0) {
      curl_easy_cleanup(e);
      dk__xfer_free(x);
      return DK_EHTTP;
    }
    return 0;
  }
  if (http->queue_tail) http->queue_tail->next = x;
  else http->queue = x;
  http->queue_tail = x;
  return 0;
}


static void dk__timer_closed(uv_handle_t *h) {
  struct dk_http *http = h->data;
  http->handles_open--;
  dk__http_maybe_done(http);
}

void dk_http_close(struct dk_http *http, void (*done)(void *), void *arg) {
  if (http->closing) return;
  http->closing = 1;
  http->done = done;
  http->done_arg = arg;
  /* Finish what is left as canceled; removing the easy handles makes libcurl
   * tell us to forget their sockets (CURL_POLL_REMOVE), closing the polls. */
  while (http->queue) {
    struct dk__xfer *x = http->queue;
    http->queue = x->next;
    if (http->queue == NULL) http->queue_tail = NULL;
    dk__xfer_finish(x, CURLE_ABORTED_BY_CALLBACK);
  }
  while (http->xfers) dk__xfer_finish(http->xfers, CURLE_ABORTED_BY_CALLBACK);
  /* Cleaning up the multi closes its cached connections, which removes
   * their sockets through dk__cb_socket; any poll still open after that is
   * closed here. */
  CURLM *multi = http->multi;
  http->multi = NULL;
  curl_multi_cleanup(multi);
  for (struct dk__poll *p = http->polls; p; p = p->next)
    if (!uv_is_closing((uv_handle_t *)&p->poll)) {
      uv_poll_stop(&p->poll);
      uv_close((uv_handle_t *)&p->poll, dk__poll_closed);
    }
  uv_timer_stop(&http->timer);
  uv_close((uv_handle_t *)&http->timer, dk__timer_closed);
}

/* scheme, host and port of `url` into one string ("https://a.example:443"),
 * or NULL when it does not parse. Caller frees. */
static char *dk__origin(const char *url) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    for (char *c = host; *c; c++) *c = (char)tolower((unsigned char)*c);
    out = dk_asprintf("%s://%s:%s", scheme, host, port);
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return out;
}

int dk_http_same_origin(const char *a, const char *b) {
  char *x = dk__origin(a), *y = dk__origin(b);
  int same = x && y && strcasecmp(x, y) == 0;
  free(x);
  free(y);
  return same;
}

char *dk_http_resolve(const char *base, const char *ref) {
  if (base == NULL || ref == NULL) return NULL;
  CURLU *u = curl_url();
  char *got = NULL, *out = NULL;
  /* Setting a URL on a handle that holds one resolves it against that. */
  if (u && curl_url_set(u, CURLUPART_URL, base, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, ref, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &got, 0) == CURLUE_OK)
    out = dk_strdup(got);
  curl_free(got);
  curl_url_cleanup(u);
  return out;
}

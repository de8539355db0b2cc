/* HTTP client: libcurl's multi interface driven by a libuv loop.
 *
 * One dk_http per loop. Requests run concurrently; each completes through its
 * callback exactly once — unless dk_http_get() returns an error, in which case
 * the callback is never called (libuv's rule). Credentials passed in
 * `authorization` are handed to libcurl only and never logged. */
#ifndef DK_HTTP_H
#define DK_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "error.h"

struct dk_buf;

struct dk_http;

struct dk_http_req {
  const char *url;
  const char *const *headers;  /* NULL-terminated "Name: value" lines, or NULL */
  const char *authorization;   /* full header value ("Bearer …"), or NULL: a secret */
  const char *username;        /* basic auth, sent by libcurl to the URL's host only, or NULL */
  const char *password;        /* with username: a secret */
  const char *if_none_match;   /* ETag of the last good response, or NULL */
  const char *if_modified_since; /* Last-Modified of the last good response, or NULL */
  long connect_timeout_ms;     /* 0: 10 s */
  long timeout_ms;             /* whole transfer; 0: 60 s */
  long low_speed_bytes;        /* abort when slower than this ... (0: 1 byte/s) */
  long low_speed_secs;         /* ... for this long (0: 30 s) */
  size_t max_body;             /* 0: 64 MiB */
  const char *ca_file;         /* or NULL for the system store */
  const char *proxy;           /* or NULL (libcurl then honours *_proxy env) */
  const char *proxy_authorization; /* Proxy-Authorization value, to the proxy only, or NULL: a secret */
  const char *proxy_username;  /* the proxy's basic auth, or NULL */
  const char *proxy_password;  /* with proxy_username: a secret */
  int insecure;                /* 1: skip TLS verification (never the default) */
};

struct dk_http_res {
  int err;            /* 0, DK_EHTTP (transport), DK_ETIMEDOUT or DK_ETOOBIG */
  long status;        /* HTTP status, 0 when no response */
  char *body;         /* NUL-terminated; owned by the response */
  size_t body_len;
  char *effective_url;
  char *content_type; /* or NULL */
  char *etag;         /* or NULL */
  char *last_modified; /* or NULL */
  int64_t retry_after_ms; /* what Retry-After asks (seconds or an HTTP-date, read by
                             libcurl: CURLINFO_RETRY_AFTER), 0 for now, -1 when absent */
  char **headers;     /* NULL-terminated "name: value" lines, names lowercased */
  double total_secs;
  char errmsg[DK_ERRBUF_SIZE]; /* why err != 0 */
  struct dk_buf *dk__body; /* where body lives, for dk_http_res_copy to take it */
};

/* Called once per request. The response is valid during the call only. */
typedef void (*dk_http_cb)(void *arg, const struct dk_http_res *res);

/* Create a client on `loop`. No more than max_total_connections transfers
 * run at once, and no more than max_host_connections to one host; the rest
 * wait in order, and a transfer's timeouts start when it runs. Returns 0
 * or DK_ENOMEM / DK_EHTTP. */
int dk_http_new(uv_loop_t *loop, long max_total_connections, long max_host_connections,
                struct dk_http **out);
/* Start a GET. Returns 0 (cb will be called) or a negative DK_E* code (cb is
 * never called). Strings in req are copied. */
int dk_http_get(struct dk_http *http, const struct dk_http_req *req, dk_http_cb cb, void *arg);
/* Header value from a response (case-insensitive), or NULL. */
const char *dk_http_res_header(const struct dk_http_res *res, const char *name);
/* A copy of a response that outlives the callback (for a worker thread to
 * parse); free it with dk_http_res_free. Called in the callback, it takes
 * the body instead of copying it: res->body is not to be read after. */
struct dk_http_res *dk_http_res_copy(const struct dk_http_res *res);
void dk_http_res_free(struct dk_http_res *res);
/* Abort transfers still running (their callbacks are called with
 * DK_ECANCELED), close every handle; `done` is called once all libuv handles
 * are closed, then the client is freed. */
void dk_http_close(struct dk_http *http, void (*done)(void *arg), void *arg);

/* 1 when two URLs have one origin (scheme, host and port, the default port
 * filled in), as curl judges a redirect before it sends credentials on; 0
 * when not, or when either does not parse. */
int dk_http_same_origin(const char *a, const char *b);

/* `ref` resolved against the absolute URL `base` (RFC 3986 section 5) by
 * libcurl's URL parser, the one requests go through. Returns a malloc'd
 * absolute URL (the caller frees), or NULL when `base` is not an absolute
 * URL or `ref` does not parse. */
char *dk_http_resolve(const char *base, const char *ref);

/* The User-Agent sent: "duikou/VERSION". */
const char *dk_http_user_agent(void);

#endif

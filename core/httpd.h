/* httpd: one HTTP/1.1 server on a libuv loop and Debian's http_parser, for
 * the status listener (status.h) and city-sim.
 *
 * One request is answered at a time per connection: once a request is
 * complete the parser is paused and reading stops until its response is
 * written, then parsing resumes on what the client already sent, so
 * pipelined responses keep their order even when a handler answers later.
 * Keep-alive, an idle timeout, HEAD (headers only), a Date header, and the
 * request limits: a head over max_head bytes or with more than max_headers
 * headers gets 431, a body over max_body 413 (bodies are read and dropped),
 * a malformed request 400; those are answered here, never handed on. */
#ifndef DK_HTTPD_H
#define DK_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>
#include "error.h"

#define DK_HTTPD_MAX_HEAD 16384
#define DK_HTTPD_MAX_HEADERS 64
#define DK_HTTPD_MAX_BODY (1u << 20)
#define DK_HTTPD_IDLE_MS 30000

struct dk_httpd;
struct dk__hconn;

/* A request, valid from the handler's call until its answer is queued
 * (dk_httpd_respond, _reply, _error, _reset) or its connection closes. */
struct dk_httpd_req {
  int method;              /* enum http_method (http_parser.h) */
  const char *method_name; /* "GET", ...; "-" for a request answered by httpd itself */
  const char *url;         /* the request target as sent, or "-" */
  const char *path;        /* percent-decoded, no "." or ".." segments */
  const char *query;       /* raw, without '?', or NULL */
  const char *peer;        /* "ADDR:PORT", "[ADDR6]:PORT" or "-" */
  void *data;              /* opts.req_data zeroed bytes for the handler, or NULL */
  struct dk__hconn *conn_; /* private */
};

/* Called for each complete request; answer now or later (dk_httpd_defer). */
typedef void (*dk_httpd_handler)(void *arg, struct dk_httpd_req *req);

struct dk_httpd_opts {
  const char *host;   /* address to bind (a literal or a name); NULL = "127.0.0.1" */
  int port;           /* 0 = ephemeral, see dk_httpd_port */
  size_t max_head;    /* 0 = DK_HTTPD_MAX_HEAD */
  int max_headers;    /* 0 = DK_HTTPD_MAX_HEADERS */
  size_t max_body;    /* 0 = DK_HTTPD_MAX_BODY */
  int idle_ms;        /* 0 = DK_HTTPD_IDLE_MS */
  const char *server; /* Server header value, or NULL for none (copied) */
  size_t req_data;    /* size of req->data */
  /* One call per response queued (status and Content-Length), or NULL. */
  void (*log)(void *arg, const struct dk_httpd_req *req, int status, size_t len);
  int *uv_err;        /* if not NULL: set to the libuv error of a failed start, else 0 */
};

/* Bind and listen on opts->host:opts->port on `loop`. Returns 0 with *out,
 * or a negative DK_E* code (DK_EINVAL for a bad port, DK_EIO when the
 * address cannot be resolved or bound) with err naming the address and the
 * reason; *out is NULL then, and a handle may still be closing (run the loop
 * before uv_loop_close). Writes to a closed peer raise SIGPIPE: the caller
 * should ignore it. */
int dk_httpd_start(uv_loop_t *loop, const struct dk_httpd_opts *opts, dk_httpd_handler handler, void *arg,
                   struct dk_httpd **out, char *err);
/* The port actually listened on (useful with port 0). */
int dk_httpd_port(const struct dk_httpd *s);
/* Close the listener and every connection (a response being written is
 * cut), free `s`, then call done(arg) (if not NULL) from the loop once every
 * handle is closed. */
void dk_httpd_close(struct dk_httpd *s, void (*done)(void *arg), void *arg);

/* The value of request header `name` (case-insensitive), trailing blanks
 * trimmed, or NULL. */
const char *dk_httpd_header(struct dk_httpd_req *req, const char *name);

/* A response in full. HEAD and 304 get the headers only. */
struct dk_httpd_reply {
  int status;
  const char *ctype;  /* Content-Type, or NULL */
  const char *extra;  /* further header lines, each ending in CRLF, or NULL */
  const void *body;
  size_t len;
  /* `pad` bytes sent after the body (counted in Content-Length), written
   * from pad_chunk (pad_chunk_len bytes, repeated; the caller's memory, alive
   * until the server is closed), never allocated whole */
  size_t pad;
  const char *pad_chunk;
  size_t pad_chunk_len;
  int truncate;       /* send the first half of the body only, then close */
};

/* Queue the response (the data are copied, except the padding). On memory
 * or socket trouble the connection is closed. `req` is no longer valid. */
void dk_httpd_reply(struct dk_httpd_req *req, const struct dk_httpd_reply *r);
/* The same with no padding and no truncation. */
void dk_httpd_respond(struct dk_httpd_req *req, int status, const char *ctype, const char *extra, const void *body,
                      size_t len);
/* A status with a short text body ("404 Not Found\n") and the header lines
 * `extra` (or NULL). */
void dk_httpd_error(struct dk_httpd_req *req, int status, const char *extra);
/* Close the connection with a TCP reset (RST), no answer. */
void dk_httpd_reset(struct dk_httpd_req *req);
/* Call fn(req) after `ms` milliseconds (once; the loop serves others
 * meanwhile); never called if the connection closes first. */
void dk_httpd_defer(struct dk_httpd_req *req, uint64_t ms, void (*fn)(struct dk_httpd_req *req));

/* IMF-fixdate of `t` into out ("Sun, 06 Nov 1994 08:49:37 GMT"). */
void dk_httpd_date(time_t t, char out[32]);

#endif

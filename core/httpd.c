/* httpd: HTTP/1.1 on libuv + http_parser (see httpd.h). */
#include "httpd.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define DK__H_READ_CHUNK 16384

struct dk__hheader {
  struct dk_buf name, value;
};

/* A request being read, and the public view handed to the handler. */
struct dk__hreq {
  struct dk_httpd_req pub;
  struct dk_buf url;
  struct dk__hheader *hdrs; /* max_headers of them */
  int nhdrs;
  int in_value;        /* the last header callback was a value */
  size_t head_bytes, body_bytes;
  int error;           /* status to answer instead of handing on, or 0 */
  int keep_alive;
  char *path, *query;  /* owned */
  void (*deferred)(struct dk_httpd_req *req);
};

struct dk__hconn {
  struct dk_httpd *s;
  uv_tcp_t tcp;
  uv_timer_t timer;    /* idle timeout, a deferred answer, the drain deadline */
  http_parser parser;
  struct dk__hreq req;
  struct dk_buf in;    /* received bytes not yet parsed (only while busy) */
  size_t in_off;
  int refs;            /* open handles + write/shutdown requests in flight */
  int closing;         /* uv_close called */
  int draining;        /* last response queued, shutting down */
  int busy;            /* a request is being answered */
  int reading;
  uv_shutdown_t shut;
  char peer[64];
  struct dk__hconn *next, **pprev;
  char rbuf[DK__H_READ_CHUNK];
};

struct dk_httpd {
  uv_loop_t *loop;
  uv_tcp_t listener;
  struct dk_httpd_opts o;
  char *server;
  dk_httpd_handler handler;
  void *arg;
  int port;
  struct dk__hconn *conns;
  int closing, listener_open;
  void (*done)(void *arg);
  void *done_arg;
};

struct dk__hwrite {
  uv_write_t w;
  struct dk__hconn *c;
  size_t len;
  char data[];
};

static void dk__hconn_process(struct dk__hconn *c);
static void dk__hconn_close(struct dk__hconn *c);
static void dk__hconn_unref(struct dk__hconn *c);

static const char *const dk__wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const dk__months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* By hand: strftime's names follow the caller's locale. */
void dk_httpd_date(time_t t, char out[32]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", dk__wdays[tm.tm_wday], tm.tm_mday,
           dk__months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Free what a request holds and zero it for the next one (its header
 * array and handler room are kept). */
static void dk__hreq_reset(struct dk__hconn *c) {
  struct dk__hreq *r = &c->req;
  dk_buf_free(&r->url);
  for (int i = 0; i < r->nhdrs; i++) {
    dk_buf_free(&r->hdrs[i].name);
    dk_buf_free(&r->hdrs[i].value);
  }
  free(r->path);
  free(r->query);
  struct dk__hheader *hdrs = r->hdrs;
  void *data = r->pub.data;
  memset(r, 0, sizeof *r);
  r->hdrs = hdrs;
  if (data) memset(data, 0, c->s->o.req_data);
  r->pub.data = data;
  r->pub.conn_ = c;
  r->pub.method_name = "-";
  r->pub.url = "-";
  r->pub.path = "";
  r->pub.peer = c->peer;
}

const char *dk_httpd_header(struct dk_httpd_req *req, const char *name) {
  struct dk__hreq *r = &req->conn_->req;
  for (int i = 0; i < r->nhdrs; i++) {
    struct dk__hheader *h = &r->hdrs[i];
    if (h->name.data && strcasecmp(h->name.data, name) == 0) {
      if (!h->value.data) return "";
      while (h->value.len && (h->value.data[h->value.len - 1] == ' ' || h->value.data[h->value.len - 1] == '\t'))
        h->value.data[--h->value.len] = '\0';
      return h->value.data;
    }
  }
  return NULL;
}

/* ---- responses -------------------------------------------------------- */

static void dk__hon_idle(uv_timer_t *t) {
  dk__hconn_close(t->data);
}

static void dk__hidle_restart(struct dk__hconn *c) {
  uv_timer_start(&c->timer, dk__hon_idle, (uint64_t)c->s->o.idle_ms, 0);
}

/* The last response is flushed: close the connection. */
static void dk__hon_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  struct dk__hconn *c = req->data;
  dk__hconn_close(c);
  dk__hconn_unref(c);
}

/* A response is written: unless the connection is ending, go on with the
 * next request already received. */
static void dk__hon_write(uv_write_t *w, int status) {
  struct dk__hwrite *wr = (struct dk__hwrite *)w;
  struct dk__hconn *c = wr->c;
  free(wr);
  if (status < 0) {
    dk__hconn_close(c);
  } else if (!c->draining && !c->closing) {
    dk__hreq_reset(c);
    c->busy = 0;
    dk__hidle_restart(c);
    dk__hconn_process(c);
  }
  dk__hconn_unref(c);
}

void dk_httpd_reply(struct dk_httpd_req *req, const struct dk_httpd_reply *rp) {
  struct dk__hconn *c = req->conn_;
  struct dk__hreq *r = &c->req;
  struct dk_httpd *s = c->s;
  if (c->closing || c->draining) return;
  uv_timer_stop(&c->timer);
  int status = rp->status;
  int close_after = r->error || !r->keep_alive || s->closing;
  int no_body = status == 304 || r->pub.method == HTTP_HEAD;
  size_t len = rp->len, pad = rp->pad_chunk && rp->pad_chunk_len ? rp->pad : 0;
  size_t clen = len + pad;
  size_t blen = no_body ? 0 : rp->truncate ? len / 2 : len;
  if (no_body) pad = 0;
  char date[32];
  dk_httpd_date(time(NULL), date);
  struct dk_buf h = {0};
  const char *reason = http_status_str((enum http_status)status);
  dk_buf_printf(&h, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, reason, date);
  if (s->server) dk_buf_printf(&h, "Server: %s\r\n", s->server);
  if (status != 304)
    dk_buf_printf(&h, "Content-Length: %zu\r\n", clen);
  if (close_after) dk_buf_puts(&h, "Connection: close\r\n");
  if (rp->ctype) dk_buf_printf(&h, "Content-Type: %s\r\n", rp->ctype);
  if (rp->extra) dk_buf_puts(&h, rp->extra);
  dk_buf_append(&h, "\r\n", 2);
  size_t nbufs = 1 + (pad ? (pad + rp->pad_chunk_len - 1) / rp->pad_chunk_len : 0);
  struct dk__hwrite *wr = malloc(sizeof *wr + h.len + blen);
  uv_buf_t *bufs = wr ? calloc(nbufs, sizeof *bufs) : NULL;
  if (s->o.log) s->o.log(s->arg, req, status, clen);
  if (!bufs) {
    free(wr);
    dk_buf_free(&h);
    dk__hconn_close(c);
    return;
  }
  wr->c = c;
  wr->len = h.len + blen;
  memcpy(wr->data, h.data, h.len);
  if (blen) memcpy(wr->data + h.len, rp->body, blen);
  dk_buf_free(&h);
  bufs[0] = uv_buf_init(wr->data, (unsigned)wr->len);
  /* Padding is many buffers pointing at one chunk: sent as the peer reads.
   * libuv copies the array itself. */
  for (size_t i = 1; i < nbufs; i++, pad -= rp->pad_chunk_len)
    bufs[i] = uv_buf_init((char *)rp->pad_chunk, (unsigned)(pad < rp->pad_chunk_len ? pad : rp->pad_chunk_len));
  int werr = uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, (unsigned)nbufs, dk__hon_write);
  free(bufs);
  if (werr < 0) {
    free(wr);
    dk__hconn_close(c);
    return;
  }
  c->refs++;
  if (close_after || rp->truncate) {
    c->draining = 1;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, dk__hon_shutdown) < 0) {
      dk__hconn_close(c);
      return;
    }
    c->refs++;
    /* A peer that never reads must not hold the connection forever. */
    dk__hidle_restart(c);
  }
}

void dk_httpd_respond(struct dk_httpd_req *req, int status, const char *ctype, const char *extra, const void *body,
                      size_t len) {
  struct dk_httpd_reply rp = {.status = status, .ctype = ctype, .extra = extra, .body = body, .len = len};
  dk_httpd_reply(req, &rp);
}

void dk_httpd_error(struct dk_httpd_req *req, int status, const char *extra) {
  char body[64];
  int n = snprintf(body, sizeof body, "%d %s\n", status, http_status_str((enum http_status)status));
  dk_httpd_respond(req, status, "text/plain; charset=utf-8", extra, body, (size_t)n);
}

static void dk__hon_conn_close(uv_handle_t *h) {
  dk__hconn_unref(h->data);
}

void dk_httpd_reset(struct dk_httpd_req *req) {
  struct dk__hconn *c = req->conn_;
  if (c->closing) return;
  c->closing = 1;
  if (uv_tcp_close_reset(&c->tcp, dk__hon_conn_close) < 0) uv_close((uv_handle_t *)&c->tcp, dk__hon_conn_close);
  uv_close((uv_handle_t *)&c->timer, dk__hon_conn_close);
}

static void dk__hon_deferred(uv_timer_t *t) {
  struct dk__hconn *c = t->data;
  void (*fn)(struct dk_httpd_req *) = c->req.deferred;
  c->req.deferred = NULL;
  if (fn) fn(&c->req.pub);
}

void dk_httpd_defer(struct dk_httpd_req *req, uint64_t ms, void (*fn)(struct dk_httpd_req *req)) {
  struct dk__hconn *c = req->conn_;
  if (c->closing) return;
  c->req.deferred = fn;
  uv_timer_start(&c->timer, dk__hon_deferred, ms, 0);
}

/* ---- dispatch ----------------------------------------------------------- */

static int dk__hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Percent-decode `n` bytes of a path. Returns NULL when the result could
 * leave its folder or is malformed: NUL, bad escapes, "." or ".." segments
 * (decoding first catches %2e%2e and ..%2f). */
static char *dk__decode_path(const char *s, size_t n) {
  char *out = malloc(n + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '%') {
      int hi = i + 2 < n ? dk__hexval(s[i + 1]) : -1;
      int lo = i + 2 < n ? dk__hexval(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) goto bad;
      ch = (char)(hi * 16 + lo);
      i += 2;
    }
    if (ch == '\0') goto bad;
    out[o++] = ch;
  }
  out[o] = '\0';
  if (out[0] != '/') goto bad;
  for (const char *seg = out; seg; seg = strchr(seg + 1, '/')) {
    const char *p = seg + 1;
    size_t len = strcspn(p, "/");
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) goto bad;
  }
  return out;
bad:
  free(out);
  return NULL;
}

/* Answer the complete request in c->req: an error of its own, else the
 * handler's. */
static void dk__hdispatch(struct dk__hconn *c) {
  struct dk__hreq *r = &c->req;
  struct http_parser_url u;
  c->busy = 1;
  uv_timer_stop(&c->timer);
  if (r->error) {
    dk_httpd_error(&r->pub, r->error, NULL);
    return;
  }
  r->pub.url = r->url.data ? r->url.data : "-";
  r->pub.method_name = http_method_str((enum http_method)r->pub.method);
  http_parser_url_init(&u);
  if (!r->url.data || http_parser_parse_url(r->url.data, r->url.len, 0, &u) != 0 ||
      !(u.field_set & (1 << UF_PATH))) {
    dk_httpd_error(&r->pub, 400, NULL);
    return;
  }
  if (u.field_set & (1 << UF_QUERY))
    r->query = strndup(r->url.data + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
  r->path = dk__decode_path(r->url.data + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  if (!r->path || ((u.field_set & (1 << UF_QUERY)) && !r->query)) {
    dk_httpd_error(&r->pub, 400, NULL);
    return;
  }
  r->pub.path = r->path;
  r->pub.query = r->query;
  c->s->handler(c->s->arg, &r->pub);
}

/* ---- parsing ---------------------------------------------------------- */

/* Count n more bytes of request line and headers; NULL (and a 431) past
 * max_head. */
static struct dk__hreq *dk__hhead_room(http_parser *p, size_t n) {
  struct dk__hconn *c = p->data;
  c->req.head_bytes += n;
  if (c->req.head_bytes > c->s->o.max_head) {
    c->req.error = 431;
    return NULL;
  }
  return &c->req;
}

/* http_parser callbacks: collect the request, within the limits. A nonzero
 * return stops the parser (the error is answered by dk__hdispatch). */
static int dk__hon_message_begin(http_parser *p) {
  dk__hreq_reset(p->data);
  return 0;
}

static int dk__hon_url(http_parser *p, const char *at, size_t n) {
  struct dk__hreq *r = dk__hhead_room(p, n);
  if (!r) return 1;
  dk_buf_append(&r->url, at, n);
  return 0;
}

static int dk__hon_header_field(http_parser *p, const char *at, size_t n) {
  struct dk__hreq *r = dk__hhead_room(p, n);
  if (!r) return 1;
  if (r->in_value || r->nhdrs == 0) {
    if (r->nhdrs == ((struct dk__hconn *)p->data)->s->o.max_headers) {
      r->error = 431;
      return 1;
    }
    r->nhdrs++;
    r->in_value = 0;
  }
  dk_buf_append(&r->hdrs[r->nhdrs - 1].name, at, n);
  return 0;
}

static int dk__hon_header_value(http_parser *p, const char *at, size_t n) {
  struct dk__hreq *r = dk__hhead_room(p, n);
  if (!r) return 1;
  r->in_value = 1;
  dk_buf_append(&r->hdrs[r->nhdrs - 1].value, at, n);
  return 0;
}

static int dk__hon_body(http_parser *p, const char *at, size_t n) {
  (void)at;
  struct dk__hconn *c = p->data;
  c->req.body_bytes += n;
  if (c->req.body_bytes > c->s->o.max_body) {
    c->req.error = 413;
    return 1;
  }
  return 0;
}

static int dk__hon_message_complete(http_parser *p) {
  struct dk__hreq *r = &((struct dk__hconn *)p->data)->req;
  r->pub.method = (int)p->method;
  r->keep_alive = http_should_keep_alive(p);
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings dk__hsettings = {
  .on_message_begin = dk__hon_message_begin,
  .on_url = dk__hon_url,
  .on_header_field = dk__hon_header_field,
  .on_header_value = dk__hon_header_value,
  .on_body = dk__hon_body,
  .on_message_complete = dk__hon_message_complete,
};

/* ---- connections ------------------------------------------------------ */

/* Once closing and every handle is gone, free s and call done(). */
static void dk__hmaybe_free(struct dk_httpd *s) {
  if (!s->closing || s->listener_open || s->conns) return;
  void (*done)(void *) = s->done;
  void *arg = s->done_arg;
  free(s->server);
  free(s);
  if (done) done(arg);
}

/* Drop a reference; the last one unlinks and frees the connection. */
static void dk__hconn_unref(struct dk__hconn *c) {
  if (--c->refs > 0) return;
  struct dk_httpd *s = c->s;
  if ((*c->pprev = c->next)) c->next->pprev = c->pprev;
  dk__hreq_reset(c);
  free(c->req.hdrs);
  free(c->req.pub.data);
  dk_buf_free(&c->in);
  free(c);
  dk__hmaybe_free(s);
}

/* Close the connection's handles (once); it is freed when all are closed. */
static void dk__hconn_close(struct dk__hconn *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, dk__hon_conn_close);
  uv_close((uv_handle_t *)&c->timer, dk__hon_conn_close);
}

static void dk__hon_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  struct dk__hconn *c = h->data;
  *b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

/* Received bytes: queue them and parse. */
static void dk__hon_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  struct dk__hconn *c = st->data;
  if (nread == 0) return;
  /* Reading stops while a request is answered, so EOF here means nothing is
   * pending: a half-sent request is dropped with the connection. */
  if (nread < 0) {
    dk__hconn_close(c);
    return;
  }
  dk_buf_append(&c->in, b->base, (size_t)nread);
  dk__hidle_restart(c);
  dk__hconn_process(c);
}

/* Parse queued bytes while no request is being answered, dispatching each
 * complete request; read only while idle. */
static void dk__hconn_process(struct dk__hconn *c) {
  while (!c->busy && !c->closing && !c->draining && c->in_off < c->in.len) {
    size_t n = http_parser_execute(&c->parser, &dk__hsettings, c->in.data + c->in_off, c->in.len - c->in_off);
    c->in_off += n;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
      dk__hdispatch(c);
    } else if (e != HPE_OK) {
      if (!c->req.error) c->req.error = e == HPE_HEADER_OVERFLOW ? 431 : 400;
      dk__hdispatch(c);
    }
  }
  if (c->closing) return;
  if (c->in_off == c->in.len) c->in_off = c->in.len = 0;
  int want = !c->busy && !c->draining;
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, dk__hon_alloc, dk__hon_read) < 0) {
      dk__hconn_close(c);
      return;
    }
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
  c->reading = want;
}

/* Accept a connection and start reading it. */
static void dk__hon_connection(uv_stream_t *server, int status) {
  struct dk_httpd *s = server->data;
  if (status < 0) return;
  struct dk__hconn *c = calloc(1, sizeof *c);
  if (c) c->req.hdrs = calloc((size_t)s->o.max_headers, sizeof *c->req.hdrs);
  if (c && c->req.hdrs && s->o.req_data) c->req.pub.data = calloc(1, s->o.req_data);
  if (!c || !c->req.hdrs || (s->o.req_data && !c->req.pub.data) || uv_tcp_init(s->loop, &c->tcp) < 0) {
    if (c) free(c->req.hdrs), free(c->req.pub.data);
    free(c);
    return;
  }
  uv_timer_init(s->loop, &c->timer);
  c->s = s;
  c->refs = 2;
  c->tcp.data = c->timer.data = c;
  if ((c->next = s->conns)) c->next->pprev = &c->next;
  s->conns = c;
  c->pprev = &s->conns;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  strcpy(c->peer, "-");
  dk__hreq_reset(c);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    dk__hconn_close(c);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    char ip[48];
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
      snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
      snprintf(c->peer, sizeof c->peer, "%s:%d", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
  }
  dk__hidle_restart(c);
  dk__hconn_process(c);
}

/* ---- public API ------------------------------------------------------- */

static void dk__hon_listener_close(uv_handle_t *h) {
  struct dk_httpd *s = h->data;
  s->listener_open = 0;
  dk__hmaybe_free(s);
}

/* An address for host:port (a literal, else the first getaddrinfo answer).
 * Returns 0 or a libuv error. */
static int dk__hresolve(uv_loop_t *loop, const char *host, int port, struct sockaddr_storage *ss) {
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0 || uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  uv_getaddrinfo_t req;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  int err = uv_getaddrinfo(loop, &req, NULL, host, service, &hints); /* NULL cb: synchronous */
  if (err < 0) return err;
  memcpy(ss, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
  uv_freeaddrinfo(req.addrinfo);
  return 0;
}

int dk_httpd_start(uv_loop_t *loop, const struct dk_httpd_opts *opts, dk_httpd_handler handler, void *arg,
                   struct dk_httpd **out, char *err) {
  struct sockaddr_storage ss;
  const char *host = opts->host ? opts->host : "127.0.0.1";
  *out = NULL;
  if (opts->uv_err) *opts->uv_err = 0;
  if (opts->port < 0 || opts->port > 65535 || handler == NULL)
    return dk_failf(err, DK_EINVAL, "listen %s:%d: the port must be 0 to 65535", host, opts->port);
  int rc = dk__hresolve(loop, host, opts->port, &ss);
  if (rc < 0 && opts->uv_err) *opts->uv_err = rc;
  if (rc < 0) return dk_failf(err, DK_EIO, "listen %s:%d: cannot resolve the address: %s", host, opts->port, uv_strerror(rc));
  struct dk_httpd *s = dk_calloc(1, sizeof *s);
  s->loop = loop;
  s->o = *opts;
  s->o.host = NULL;
  s->o.server = NULL;
  s->o.uv_err = NULL;
  if (!s->o.max_head) s->o.max_head = DK_HTTPD_MAX_HEAD;
  if (s->o.max_headers <= 0) s->o.max_headers = DK_HTTPD_MAX_HEADERS;
  if (!s->o.max_body) s->o.max_body = DK_HTTPD_MAX_BODY;
  if (s->o.idle_ms <= 0) s->o.idle_ms = DK_HTTPD_IDLE_MS;
  s->server = dk_strdup(opts->server);
  s->handler = handler;
  s->arg = arg;
  if ((rc = uv_tcp_init(loop, &s->listener)) < 0) {
    if (opts->uv_err) *opts->uv_err = rc;
    free(s->server);
    free(s);
    return dk_failf(err, DK_EIO, "listen %s:%d: %s", host, opts->port, uv_strerror(rc));
  }
  s->listener.data = s;
  s->listener_open = 1;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0)) < 0 ||
      (rc = uv_listen((uv_stream_t *)&s->listener, 128, dk__hon_connection)) < 0 ||
      (rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len)) < 0) {
    s->closing = 1;
    uv_close((uv_handle_t *)&s->listener, dk__hon_listener_close);
    if (opts->uv_err) *opts->uv_err = rc;
    return dk_failf(err, DK_EIO, "listen %s:%d: %s", host, opts->port, uv_strerror(rc));
  }
  s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
  *out = s;
  return 0;
}

int dk_httpd_port(const struct dk_httpd *s) {
  return s->port;
}

void dk_httpd_close(struct dk_httpd *s, void (*done)(void *arg), void *arg) {
  s->closing = 1;
  s->done = done;
  s->done_arg = arg;
  uv_close((uv_handle_t *)&s->listener, dk__hon_listener_close);
  for (struct dk__hconn *c = s->conns; c; c = c->next) dk__hconn_close(c);
}

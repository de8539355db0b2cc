/* city-sim: HTTP/1.1 on libuv + http_parser.
 *
 * One request is handled at a time per connection: when a request is
 * complete the parser is paused and reading stops until its response has
 * been written, then parsing resumes on whatever the client already sent.
 * That keeps pipelined responses in order even once handlers answer late. */
#include "citysim.h"
#include "citysim_data.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CSIM_READ_CHUNK 16384
#define CSIM_MAX_HEAD 16384          /* request line and headers, bytes */
#define CSIM_MAX_HEADERS 64
#define CSIM_MAX_BODY (1u << 20)     /* request bodies are read and dropped */
#define CSIM_MAX_FILE (64u << 20)
#define CSIM_IDLE_MS 30000
/* The embedded plan was published on 2024-04-24 (UTC+8). */
#define CSIM_DATA_MTIME ((time_t)1713888000)

struct buf {
  char *p;
  size_t len, cap;
};

struct header {
  struct buf name, value;
};

struct request {
  struct buf url;
  struct header hdrs[CSIM_MAX_HEADERS];
  int nhdrs;
  int in_value;        /* the last header callback was a value */
  size_t head_bytes, body_bytes;
  int error;           /* status to answer instead of dispatching, or 0 */
  int method;          /* enum http_method */
  int keep_alive;
  char *path;          /* percent-decoded path, owned */
  const char *query;   /* raw query inside url, or NULL */
};

struct conn {
  struct csim *sim;
  uv_tcp_t tcp;
  uv_timer_t timer;    /* idle timeout, and the drain deadline when closing */
  http_parser parser;
  struct request req;
  struct buf in;       /* received bytes not yet parsed (only while busy) */
  size_t in_off;
  int refs;            /* open handles + write/shutdown requests in flight */
  int closing;         /* uv_close called */
  int draining;        /* last response queued, shutting down */
  int busy;            /* a request is being answered */
  int reading;
  uv_shutdown_t shut;
  char peer[64];
  struct conn *next, **pprev;
  char rbuf[CSIM_READ_CHUNK];
};

#define CSIM_MAX_FLAKY 64

struct csim {
  /* Misbehaviour on request: "?fail=N&status=S&retry_after=R" makes the first
   * N requests of that path and query answer S (default 503), with a
   * Retry-After of R seconds when given. */
  struct {
    char key[256];
    int served;
  } flaky[CSIM_MAX_FLAKY];
  uv_loop_t *loop;
  uv_tcp_t listener;
  char *host, *data_dir;
  int quiet, idle_ms, port;
  time_t started;
  struct conn *conns;
  int closing, listener_open;
  void (*done)(void *arg);
  void *done_arg;
};

struct route;
typedef void (*csim_handler)(struct conn *c, const struct route *rt);

#define M(m) (1u << (m))
#define M_READ (M(HTTP_GET) | M(HTTP_HEAD))

struct route {
  const char *path;    /* exact match */
  unsigned methods;    /* M() mask */
  csim_handler fn;
  const unsigned char *data; /* handler arguments */
  const size_t *len;
};

struct wreq {
  uv_write_t w;
  struct conn *c;
  size_t len;
  char data[];
};

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);
static void conn_unref(struct conn *c);
static void h_healthz(struct conn *c, const struct route *rt);
static void h_blob(struct conn *c, const struct route *rt);
static void h_file(struct conn *c, const struct route *rt);

/* ---- small helpers ---------------------------------------------------- */

static int buf_add(struct buf *b, const char *s, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...)
{
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp)
    return -1;
  return buf_add(b, tmp, (size_t)n);
}

static void buf_free(struct buf *b)
{
  free(b->p);
  memset(b, 0, sizeof *b);
}

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* IMF-fixdate by hand: strftime's names follow the caller's locale. */
static void http_date(time_t t, char out[32])
{
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int parse_http_date(const char *s, time_t *out)
{
  char wd[4], mon[4];
  struct tm tm = {0};
  if (sscanf(s, "%3s, %d %3s %d %d:%d:%d GMT", wd, &tm.tm_mday, mon, &tm.tm_year,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 7)
    return -1;
  tm.tm_mon = -1;
  for (int i = 0; i < 12; i++)
    if (strcmp(mon, months[i]) == 0)
      tm.tm_mon = i;
  if (tm.tm_mon < 0)
    return -1;
  tm.tm_year -= 1900;
  *out = timegm(&tm);
  return 0;
}

static uint64_t fnv1a(const void *data, size_t len)
{
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 0x100000001b3u;
  return h;
}

/* The value of request header `name`, trailing blanks trimmed, or NULL. */
static const char *req_header(struct request *r, const char *name)
{
  for (int i = 0; i < r->nhdrs; i++) {
    struct header *h = &r->hdrs[i];
    if (h->name.p && strcasecmp(h->name.p, name) == 0) {
      if (!h->value.p)
        return "";
      while (h->value.len && (h->value.p[h->value.len - 1] == ' ' ||
                              h->value.p[h->value.len - 1] == '\t'))
        h->value.p[--h->value.len] = '\0';
      return h->value.p;
    }
  }
  return NULL;
}

static void request_reset(struct request *r)
{
  buf_free(&r->url);
  for (int i = 0; i < r->nhdrs; i++) {
    buf_free(&r->hdrs[i].name);
    buf_free(&r->hdrs[i].value);
  }
  free(r->path);
  memset(r, 0, sizeof *r);
}

/* ---- responses -------------------------------------------------------- */

static void log_request(struct conn *c, int status, size_t len)
{
  if (c->sim->quiet)
    return;
  struct request *r = &c->req;
  fprintf(stderr, "city-sim: %s \"%s %s\" %d %zu\n", c->peer,
          r->error ? "-" : http_method_str((enum http_method)r->method),
          r->url.p ? r->url.p : "-", status, len);
}

static void on_idle(uv_timer_t *t)
{
  conn_close(t->data);
}

static void idle_restart(struct conn *c)
{
  uv_timer_start(&c->timer, on_idle, (uint64_t)c->sim->idle_ms, 0);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
  struct conn *c = req->data;
  conn_close(c);
  conn_unref(c);
}

static void on_write(uv_write_t *w, int status)
{
  struct wreq *wr = (struct wreq *)w;
  struct conn *c = wr->c;
  free(wr);
  if (status < 0) {
    conn_close(c);
  } else if (!c->draining && !c->closing) {
    request_reset(&c->req);
    c->busy = 0;
    idle_restart(c);
    conn_process(c);
  }
  conn_unref(c);
}

/* Queue one complete response. `extra` holds further header lines, each
 * ending in CRLF. HEAD and 304 get the headers only. */
static void respond(struct conn *c, int status, const char *extra, const void *body, size_t len)
{
  struct request *r = &c->req;
  int close_after = r->error || !r->keep_alive || c->sim->closing;
  int no_body = status == 304 || r->method == HTTP_HEAD;
  struct buf h = {0};
  char date[32];
  http_date(time(NULL), date);
  int err = buf_printf(&h, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: city-sim\r\n", status,
                       http_status_str((enum http_status)status), date);
  if (status != 304)
    err |= buf_printf(&h, "Content-Length: %zu\r\n", len);
  if (close_after)
    err |= buf_add(&h, "Connection: close\r\n", 19);
  if (extra)
    err |= buf_add(&h, extra, strlen(extra));
  err |= buf_add(&h, "\r\n", 2);
  size_t blen = no_body ? 0 : len;
  struct wreq *wr = err ? NULL : malloc(sizeof *wr + h.len + blen);
  log_request(c, status, len);
  if (!wr) {
    buf_free(&h);
    conn_close(c);
    return;
  }
  wr->c = c;
  wr->len = h.len + blen;
  memcpy(wr->data, h.p, h.len);
  if (blen)
    memcpy(wr->data + h.len, body, blen);
  buf_free(&h);
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
    free(wr);
    conn_close(c);
    return;
  }
  c->refs++;
  if (close_after) {
    c->draining = 1;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
      conn_close(c);
      return;
    }
    c->refs++;
    /* A peer that never reads must not hold the connection forever. */
    idle_restart(c);
  }
}

static void reply_error(struct conn *c, int status, const char *extra)
{
  char body[64];
  int n = snprintf(body, sizeof body, "%d %s\n", status, http_status_str((enum http_status)status));
  char hdrs[256];
  snprintf(hdrs, sizeof hdrs, "Content-Type: text/plain; charset=utf-8\r\n%s", extra ? extra : "");
  respond(c, status, hdrs, body, (size_t)n);
}

/* If-None-Match: a list of entity tags or "*", compared weakly (RFC 9110). */
static int etag_listed(const char *list, const char *etag)
{
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (*p == '*')
      return 1;
    if (strncmp(p, "W/", 2) == 0)
      p += 2;
    if (*p != '"')
      return 0;
    const char *end = strchr(p + 1, '"');
    if (!end)
      return 0;
    size_t n = (size_t)(end - p + 1);
    if (n == strlen(etag) && memcmp(p, etag, n) == 0)
      return 1;
    p = end + 1;
  }
  return 0;
}

/* 200 with validators, or 304 when the client's copy is current. */
static void reply_ok(struct conn *c, const char *ctype, const void *body, size_t len, time_t mtime)
{
  char etag[24], lm[32], hdrs[256];
  snprintf(etag, sizeof etag, "\"%016" PRIx64 "\"", fnv1a(body, len));
  http_date(mtime, lm);
  const char *inm = req_header(&c->req, "If-None-Match");
  const char *ims = req_header(&c->req, "If-Modified-Since");
  time_t since;
  int fresh = inm ? etag_listed(inm, etag)
                  : ims && parse_http_date(ims, &since) == 0 && mtime <= since;
  if (fresh) {
    snprintf(hdrs, sizeof hdrs, "ETag: %s\r\nLast-Modified: %s\r\n", etag, lm);
    respond(c, 304, hdrs, NULL, 0);
    return;
  }
  snprintf(hdrs, sizeof hdrs, "Content-Type: %s\r\nETag: %s\r\nLast-Modified: %s\r\n", ctype,
           etag, lm);
  respond(c, 200, hdrs, body, len);
}

/* ---- routes ----------------------------------------------------------- */

/* Add new endpoints here; paths not listed fall through to data_dir. */
static const struct route routes[] = {
  {"/healthz", M_READ, h_healthz, NULL, 0},
  {"/jinan/tasks.json", M_READ, h_blob, csim_data_jnly_2024, &csim_data_jnly_2024_len},
};

static const struct route file_route = {NULL, M_READ, h_file, NULL, 0};

static void h_healthz(struct conn *c, const struct route *rt)
{
  reply_ok(c, "text/plain; charset=utf-8", "ok", 2, c->sim->started);
}

static void h_blob(struct conn *c, const struct route *rt)
{
  reply_ok(c, "application/json; charset=utf-8", rt->data, *rt->len, CSIM_DATA_MTIME);
}

static const char *content_type(const char *path)
{
  static const struct {
    const char *ext, *type;
  } types[] = {
    {".json", "application/json; charset=utf-8"},
    {".csv", "text/csv"}, /* charset left out: the cities' exports are often GBK */
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".html", "text/html; charset=utf-8"},
  };
  const char *dot = strrchr(path, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot, types[i].ext) == 0)
        return types[i].type;
  return "application/octet-stream";
}

/* Files are small fixtures, so they are read synchronously on the loop. */
static void h_file(struct conn *c, const struct route *rt)
{
  struct buf full = {0};
  const char *path = c->req.path;
  if (path[strlen(path) - 1] == '/' || buf_add(&full, c->sim->data_dir, strlen(c->sim->data_dir)) ||
      buf_add(&full, path, strlen(path))) {
    buf_free(&full);
    reply_error(c, 404, NULL);
    return;
  }
  int fd = open(full.p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  buf_free(&full);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    int e = fd < 0 ? errno : 0;
    if (fd >= 0)
      close(fd);
    reply_error(c, e == 0 || e == ENOENT || e == ENOTDIR || e == ELOOP || e == EACCES ? 404 : 500,
                NULL);
    return;
  }
  size_t size = (size_t)st.st_size, got = 0;
  char *data = size <= CSIM_MAX_FILE ? malloc(size + 1) : NULL;
  while (data && got < size) {
    ssize_t n = read(fd, data + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  if (!data || got != size) {
    free(data);
    reply_error(c, 500, NULL);
    return;
  }
  reply_ok(c, content_type(path), data, size, st.st_mtime);
  free(data);
}

static int hexval(char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Percent-decode `n` bytes of a path. Returns NULL when the result could
 * leave its folder or is malformed: NUL, bad escapes, "." or ".." segments
 * (decoding first catches %2e%2e and ..%2f). */
static char *decode_path(const char *s, size_t n)
{
  char *out = malloc(n + 1);
  size_t o = 0;
  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '%') {
      int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        goto bad;
      ch = (char)(hi * 16 + lo);
      i += 2;
    }
    if (ch == '\0')
      goto bad;
    out[o++] = ch;
  }
  out[o] = '\0';
  if (out[0] != '/')
    goto bad;
  for (const char *seg = out; seg; seg = strchr(seg + 1, '/')) {
    const char *p = seg + 1;
    size_t len = strcspn(p, "/");
    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
      goto bad;
  }
  return out;
bad:
  free(out);
  return NULL;
}

/* The integer value of `name` in a query string, or `dflt`. */
static int query_int(const char *q, const char *name, int dflt)
{
  size_t n = strlen(name);
  for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
    if (strncmp(p, name, n) == 0 && p[n] == '=')
      return atoi(p + n + 1);
  return dflt;
}

/* Answer with the requested failure while the path still owes some. */
static int misbehave(struct conn *c)
{
  const char *q = c->req.query;
  int fail = q ? query_int(q, "fail", 0) : 0;
  if (fail <= 0)
    return 0;
  char key[256];
  snprintf(key, sizeof key, "%s?%.*s", c->req.path, (int)strcspn(q, " #"), q);
  struct csim *sim = c->sim;
  int slot = -1;
  for (int i = 0; i < CSIM_MAX_FLAKY && slot < 0; i++)
    if (sim->flaky[i].key[0] == '\0' || strcmp(sim->flaky[i].key, key) == 0)
      slot = i;
  if (slot < 0)
    return 0;
  if (sim->flaky[slot].key[0] == '\0')
    snprintf(sim->flaky[slot].key, sizeof sim->flaky[slot].key, "%s", key);
  if (sim->flaky[slot].served >= fail)
    return 0;
  sim->flaky[slot].served++;
  int status = query_int(q, "status", 503), ra = query_int(q, "retry_after", -1);
  char extra[64] = "";
  if (ra >= 0)
    snprintf(extra, sizeof extra, "Retry-After: %d\r\n", ra);
  reply_error(c, status, extra);
  return 1;
}

static void dispatch(struct conn *c)
{
  struct request *r = &c->req;
  struct http_parser_url u;
  c->busy = 1;
  uv_timer_stop(&c->timer);
  if (r->error) {
    reply_error(c, r->error, NULL);
    return;
  }
  http_parser_url_init(&u);
  if (!r->url.p || http_parser_parse_url(r->url.p, r->url.len, 0, &u) != 0 ||
      !(u.field_set & (1 << UF_PATH))) {
    reply_error(c, 400, NULL);
    return;
  }
  if (u.field_set & (1 << UF_QUERY))
    r->query = r->url.p + u.field_data[UF_QUERY].off;
  r->path = decode_path(r->url.p + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  if (!r->path) {
    reply_error(c, 400, NULL);
    return;
  }
  const struct route *rt = NULL;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !rt; i++)
    if (strcmp(routes[i].path, r->path) == 0)
      rt = &routes[i];
  if (!rt && c->sim->data_dir)
    rt = &file_route;
  if (!rt)
    reply_error(c, 404, NULL);
  else if (!(rt->methods & M(r->method)))
    reply_error(c, 405, "Allow: GET, HEAD\r\n");
  else if (!misbehave(c))
    rt->fn(c, rt);
}

/* ---- parsing ---------------------------------------------------------- */

static struct request *head_room(http_parser *p, size_t n)
{
  struct conn *c = p->data;
  c->req.head_bytes += n;
  if (c->req.head_bytes > CSIM_MAX_HEAD) {
    c->req.error = 431;
    return NULL;
  }
  return &c->req;
}

static int on_message_begin(http_parser *p)
{
  request_reset(&((struct conn *)p->data)->req);
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
  struct request *r = head_room(p, n);
  return !r || buf_add(&r->url, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
  struct request *r = head_room(p, n);
  if (!r)
    return 1;
  if (r->in_value || r->nhdrs == 0) {
    if (r->nhdrs == CSIM_MAX_HEADERS) {
      r->error = 431;
      return 1;
    }
    r->nhdrs++;
    r->in_value = 0;
  }
  return buf_add(&r->hdrs[r->nhdrs - 1].name, at, n) != 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
  struct request *r = head_room(p, n);
  if (!r)
    return 1;
  r->in_value = 1;
  return buf_add(&r->hdrs[r->nhdrs - 1].value, at, n) != 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
  struct request *r = &((struct conn *)p->data)->req;
  r->body_bytes += n;
  if (r->body_bytes > CSIM_MAX_BODY) {
    r->error = 413;
    return 1;
  }
  return 0;
}

static int on_message_complete(http_parser *p)
{
  struct request *r = &((struct conn *)p->data)->req;
  r->method = (int)p->method;
  r->keep_alive = http_should_keep_alive(p);
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings parser_settings = {
  .on_message_begin = on_message_begin,
  .on_url = on_url,
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};

/* ---- connections ------------------------------------------------------ */

static void sim_maybe_free(struct csim *sim)
{
  if (!sim->closing || sim->listener_open || sim->conns)
    return;
  void (*done)(void *) = sim->done;
  void *arg = sim->done_arg;
  free(sim->host);
  free(sim->data_dir);
  free(sim);
  if (done)
    done(arg);
}

static void conn_unref(struct conn *c)
{
  if (--c->refs > 0)
    return;
  struct csim *sim = c->sim;
  if ((*c->pprev = c->next))
    c->next->pprev = c->pprev;
  request_reset(&c->req);
  buf_free(&c->in);
  free(c);
  sim_maybe_free(sim);
}

static void on_conn_close(uv_handle_t *h)
{
  conn_unref(h->data);
}

static void conn_close(struct conn *c)
{
  if (c->closing)
    return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_conn_close);
  uv_close((uv_handle_t *)&c->timer, on_conn_close);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
  struct conn *c = h->data;
  *b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
  struct conn *c = s->data;
  if (nread == 0)
    return;
  /* Reading stops while a request is answered, so EOF here means nothing is
   * pending: a half-sent request is dropped with the connection. */
  if (nread < 0 || buf_add(&c->in, b->base, (size_t)nread) != 0) {
    conn_close(c);
    return;
  }
  idle_restart(c);
  conn_process(c);
}

static void conn_process(struct conn *c)
{
  while (!c->busy && !c->closing && !c->draining && c->in_off < c->in.len) {
    size_t n = http_parser_execute(&c->parser, &parser_settings, c->in.p + c->in_off,
                                   c->in.len - c->in_off);
    c->in_off += n;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
      dispatch(c);
    } else if (e != HPE_OK) {
      if (!c->req.error)
        c->req.error = e == HPE_HEADER_OVERFLOW ? 431 : 400;
      dispatch(c);
    }
  }
  if (c->closing)
    return;
  if (c->in_off == c->in.len)
    c->in_off = c->in.len = 0;
  int want = !c->busy && !c->draining;
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
      conn_close(c);
      return;
    }
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
  c->reading = want;
}

static void on_connection(uv_stream_t *server, int status)
{
  struct csim *sim = server->data;
  if (status < 0) {
    if (!sim->quiet)
      fprintf(stderr, "city-sim: accept: %s\n", uv_strerror(status));
    return;
  }
  struct conn *c = calloc(1, sizeof *c);
  if (!c || uv_tcp_init(sim->loop, &c->tcp) < 0) {
    free(c);
    return;
  }
  uv_timer_init(sim->loop, &c->timer);
  c->sim = sim;
  c->refs = 2;
  c->tcp.data = c->timer.data = c;
  if ((c->next = sim->conns))
    c->next->pprev = &c->next;
  sim->conns = c;
  c->pprev = &sim->conns;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  strcpy(c->peer, "-");
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    conn_close(c);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    char ip[48];
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
      snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
  }
  idle_restart(c);
  conn_process(c);
}

/* ---- public API ------------------------------------------------------- */

static void on_listener_close(uv_handle_t *h)
{
  struct csim *sim = h->data;
  sim->listener_open = 0;
  sim_maybe_free(sim);
}

static int resolve(uv_loop_t *loop, const char *host, int port, struct sockaddr_storage *ss)
{
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0 ||
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  uv_getaddrinfo_t req;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  int err = uv_getaddrinfo(loop, &req, NULL, host, service, &hints); /* NULL cb: synchronous */
  if (err < 0)
    return err;
  memcpy(ss, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
  uv_freeaddrinfo(req.addrinfo);
  return 0;
}

/* See citysim.h. */
int csim_start(uv_loop_t *loop, const struct csim_options *opts, struct csim **out)
{
  struct sockaddr_storage ss;
  struct stat st;
  const char *host = opts->host ? opts->host : "127.0.0.1";
  *out = NULL;
  if (opts->port < 0 || opts->port > 65535)
    return UV_EINVAL;
  if (opts->data_dir && stat(opts->data_dir, &st) < 0)
    return uv_translate_sys_error(errno);
  if (opts->data_dir && !S_ISDIR(st.st_mode))
    return UV_ENOTDIR;
  int err = resolve(loop, host, opts->port, &ss);
  if (err < 0)
    return err;
  struct csim *sim = calloc(1, sizeof *sim);
  if (!sim)
    return UV_ENOMEM;
  sim->loop = loop;
  sim->host = strdup(host);
  sim->data_dir = opts->data_dir ? strdup(opts->data_dir) : NULL;
  sim->quiet = opts->quiet;
  sim->idle_ms = opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : CSIM_IDLE_MS;
  sim->started = time(NULL);
  if (!sim->host || (opts->data_dir && !sim->data_dir) ||
      (err = uv_tcp_init(loop, &sim->listener)) < 0) {
    free(sim->host);
    free(sim->data_dir);
    free(sim);
    return err < 0 ? err : UV_ENOMEM;
  }
  sim->listener.data = sim;
  sim->listener_open = 1;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  if ((err = uv_tcp_bind(&sim->listener, (struct sockaddr *)&ss, 0)) < 0 ||
      (err = uv_listen((uv_stream_t *)&sim->listener, 128, on_connection)) < 0 ||
      (err = uv_tcp_getsockname(&sim->listener, (struct sockaddr *)&bound, &len)) < 0) {
    sim->closing = 1;
    uv_close((uv_handle_t *)&sim->listener, on_listener_close);
    return err;
  }
  sim->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
  *out = sim;
  return 0;
}

/* See citysim.h. */
int csim_port(const struct csim *sim)
{
  return sim->port;
}

/* See citysim.h. */
void csim_close(struct csim *sim, void (*done)(void *arg), void *arg)
{
  sim->closing = 1;
  sim->done = done;
  sim->done_arg = arg;
  uv_close((uv_handle_t *)&sim->listener, on_listener_close);
  for (struct conn *c = sim->conns; c; c = c->next)
    conn_close(c);
}

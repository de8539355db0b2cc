/* httpd: a real server on an ephemeral loopback port, its loop on a thread
 * of its own, and a real client socket: keep-alive, pipelined answers in
 * order even when the first is late, HEAD without a body, handler errors
 * (404, 405 with Allow), the limits (413, 431), a bad path (400), the idle
 * timeout, and close with connections open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

struct fixture {
  uv_loop_t loop;
  uv_async_t stop;
  uv_thread_t thread;
  struct dk_httpd *s;
  int port;
  int closed;
};

/* "path=P query=Q" as the body; /late answers after 300 ms; /missing 404;
 * POST 405. */
static void late(struct dk_httpd_req *req) {
  dk_httpd_respond(req, 200, "text/plain", NULL, "late\n", 5);
}

static void handler(void *arg, struct dk_httpd_req *req) {
  (void)arg;
  char body[512];
  if (req->method == HTTP_POST) {
    dk_httpd_error(req, 405, "Allow: GET, HEAD\r\n");
    return;
  }
  if (strcmp(req->path, "/missing") == 0) {
    dk_httpd_error(req, 404, NULL);
    return;
  }
  if (strcmp(req->path, "/late") == 0) {
    dk_httpd_defer(req, 300, late);
    return;
  }
  const char *x = dk_httpd_header(req, "X-Test");
  int n = snprintf(body, sizeof body, "path=%s query=%s x=%s\n", req->path, req->query ? req->query : "-",
                   x ? x : "-");
  dk_httpd_respond(req, 200, "text/plain", NULL, body, (size_t)n);
}

static void on_closed(void *arg) {
  ((struct fixture *)arg)->closed = 1;
}

static void on_stop(uv_async_t *a) {
  struct fixture *f = a->data;
  dk_httpd_close(f->s, on_closed, f);
  uv_close((uv_handle_t *)&f->stop, NULL);
}

static void run_loop(void *arg) {
  struct fixture *f = arg;
  uv_run(&f->loop, UV_RUN_DEFAULT);
}

static int setup(void **state) {
  signal(SIGPIPE, SIG_IGN);
  struct fixture *f = calloc(1, sizeof *f);
  char err[DK_ERRBUF_SIZE];
  uv_loop_init(&f->loop);
  struct dk_httpd_opts o = {.host = "127.0.0.1", .max_head = 2048, .max_headers = 8, .max_body = 1024,
                            .idle_ms = 300, .server = "test"};
  if (dk_httpd_start(&f->loop, &o, handler, f, &f->s, err) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  f->port = dk_httpd_port(f->s);
  uv_async_init(&f->loop, &f->stop, on_stop);
  f->stop.data = f;
  uv_thread_create(&f->thread, run_loop, f);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  uv_async_send(&f->stop);
  uv_thread_join(&f->thread);
  int closed = f->closed;
  uv_loop_close(&f->loop);
  free(f);
  return closed ? 0 : -1;
}

static int connect_to(struct fixture *f) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  struct timeval tv = {.tv_sec = 3};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static void send_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0) return; /* the server may close first (413, 431) */
    s += w;
    n -= (size_t)w;
  }
}

/* Read into out (size n) until `until` appears, the peer closes (*eof set)
 * or 3 s pass. Returns the bytes read. */
static size_t read_until(int fd, char *out, size_t n, const char *until, int *eof) {
  size_t len = 0;
  *eof = 0;
  out[0] = '\0';
  while (len + 1 < n) {
    if (until && strstr(out, until)) break;
    ssize_t r = recv(fd, out + len, n - 1 - len, 0);
    if (r == 0) {
      *eof = 1;
      break;
    }
    if (r < 0) break;
    len += (size_t)r;
    out[len] = '\0';
  }
  return len;
}

static int count(const char *s, const char *needle) {
  int k = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) k++;
  return k;
}

static void test_keep_alive(void **state) {
  struct fixture *f = *state;
  char buf[8192];
  int eof;
  int fd = connect_to(f);
  const char *r1 = "GET /one?a=1 HTTP/1.1\r\nHost: x\r\nX-Test: yes  \r\n\r\n";
  send_all(fd, r1, strlen(r1));
  read_until(fd, buf, sizeof buf, "x=yes\n", &eof);
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(buf, "\r\nDate: "));
  assert_non_null(strstr(buf, "\r\nServer: test\r\n"));
  assert_non_null(strstr(buf, "path=/one query=a=1 x=yes\n"));
  assert_null(strstr(buf, "Connection: close"));
  const char *r2 = "GET /two%20x HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, r2, strlen(r2));
  read_until(fd, buf, sizeof buf, "x=-\n", &eof);
  assert_false(eof);
  assert_non_null(strstr(buf, "path=/two x query=- x=-\n"));
  /* HTTP/1.0 without keep-alive: answered, then closed */
  send_all(fd, "GET /three HTTP/1.0\r\n\r\n", 23);
  read_until(fd, buf, sizeof buf, NULL, &eof);
  assert_true(eof);
  assert_non_null(strstr(buf, "Connection: close\r\n"));
  assert_non_null(strstr(buf, "path=/three"));
  close(fd);
}

static void test_pipelining_order(void **state) {
  struct fixture *f = *state;
  char buf[8192];
  int eof;
  int fd = connect_to(f);
  const char *rs = "GET /late HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, rs, strlen(rs));
  read_until(fd, buf, sizeof buf, "path=/c", &eof);
  char *a = strstr(buf, "late\n"), *b = strstr(buf, "path=/b"), *c = strstr(buf, "path=/c");
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  assert_true(a < b && b < c);
  assert_int_equal(count(buf, "HTTP/1.1 200 OK"), 3);
  close(fd);
}

static void test_head_and_errors(void **state) {
  struct fixture *f = *state;
  char buf[8192];
  int eof;
  int fd = connect_to(f);
  const char *rs = "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                   "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd"
                   "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, rs, strlen(rs));
  read_until(fd, buf, sizeof buf, "path=/after", &eof);
  /* HEAD: the length of the body GET would get, and no body: the next
   * response follows the blank line at once */
  char *head = strstr(buf, "HTTP/1.1 200 OK\r\n");
  assert_non_null(head);
  assert_non_null(strstr(head, "Content-Length: 20\r\n"));
  char *end = strstr(head, "\r\n\r\n");
  assert_non_null(end);
  assert_memory_equal(end + 4, "HTTP/1.1 404 Not Found\r\n", 24);
  assert_non_null(strstr(buf, "404 Not Found\n"));
  char *m = strstr(buf, "HTTP/1.1 405 Method Not Allowed\r\n");
  assert_non_null(m);
  assert_non_null(strstr(m, "Allow: GET, HEAD\r\n"));
  assert_non_null(strstr(buf, "path=/after"));
  close(fd);
}

static void test_limits(void **state) {
  struct fixture *f = *state;
  char buf[8192], big[4096];
  int eof;
  /* a body over max_body (1024): 413, then the connection closes */
  int fd = connect_to(f);
  const char *h = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n";
  send_all(fd, h, strlen(h));
  memset(big, 'b', 2000);
  send_all(fd, big, 2000);
  read_until(fd, buf, sizeof buf, NULL, &eof);
  assert_non_null(strstr(buf, "HTTP/1.1 413 Payload Too Large\r\n"));
  assert_non_null(strstr(buf, "Connection: close\r\n"));
  assert_true(eof);
  close(fd);
  /* a head over max_head (2048): 431 */
  fd = connect_to(f);
  int n = snprintf(big, sizeof big, "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ");
  memset(big + n, 'a', 2500);
  memcpy(big + n + 2500, "\r\n\r\n", 4);
  send_all(fd, big, (size_t)n + 2504);
  read_until(fd, buf, sizeof buf, NULL, &eof);
  assert_non_null(strstr(buf, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  assert_true(eof);
  close(fd);
  /* more headers than max_headers (8): 431 */
  fd = connect_to(f);
  struct { char *data; size_t len; } req = {big, 0};
  req.len = (size_t)snprintf(big, sizeof big, "GET /x HTTP/1.1\r\n");
  for (int i = 0; i < 9; i++) req.len += (size_t)snprintf(big + req.len, sizeof big - req.len, "H%d: v\r\n", i);
  req.len += (size_t)snprintf(big + req.len, sizeof big - req.len, "\r\n");
  send_all(fd, req.data, req.len);
  read_until(fd, buf, sizeof buf, NULL, &eof);
  assert_non_null(strstr(buf, "HTTP/1.1 431 "));
  close(fd);
  /* a path that leaves its folder: 400, never handed on */
  fd = connect_to(f);
  send_all(fd, "GET /a/%2e%2e/b HTTP/1.1\r\nHost: x\r\n\r\n", 37);
  read_until(fd, buf, sizeof buf, "\r\n\r\n", &eof);
  assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request\r\n"));
  close(fd);
  /* not HTTP at all: 400 and closed */
  fd = connect_to(f);
  send_all(fd, "\x01\x02 nonsense\r\n\r\n", 15);
  read_until(fd, buf, sizeof buf, NULL, &eof);
  assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request\r\n"));
  assert_true(eof);
  close(fd);
}

static void test_idle_timeout(void **state) {
  struct fixture *f = *state;
  char buf[256];
  int eof;
  int fd = connect_to(f);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t n = read_until(fd, buf, sizeof buf, NULL, &eof);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  assert_int_equal(n, 0);
  assert_true(eof);            /* closed by the server, not by our 3 s timeout */
  assert_true(ms >= 250 && ms < 2500);
  close(fd);
  /* a half-sent request is dropped with the connection too */
  fd = connect_to(f);
  send_all(fd, "GET /x HTTP/1.1\r\nHo", 19);
  n = read_until(fd, buf, sizeof buf, NULL, &eof);
  assert_int_equal(n, 0);
  assert_true(eof);
  close(fd);
}

/* Connections still open when the server closes: teardown checks done()
 * is called once every handle is gone. */
static void test_close_with_connections(void **state) {
  struct fixture *f = *state;
  char buf[512];
  int eof;
  int fd = connect_to(f);
  send_all(fd, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n", 31);
  usleep(100 * 1000); /* accepted, and its answer deferred */
  uv_async_send(&f->stop);
  read_until(fd, buf, sizeof buf, NULL, &eof);
  assert_true(eof);
  close(fd);
  uv_thread_join(&f->thread);
  assert_int_equal(f->closed, 1);
  /* the fixture's teardown must not stop it again */
  uv_loop_close(&f->loop);
  free(f);
  *state = NULL;
}

static void test_bad_start(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct dk_httpd *s;
  char err[DK_ERRBUF_SIZE];
  struct dk_httpd_opts o = {.host = "127.0.0.1", .port = 70000};
  assert_int_equal(dk_httpd_start(&loop, &o, handler, NULL, &s, err), DK_EINVAL);
  assert_null(s);
  assert_non_null(strstr(err, "70000"));
  o.port = 0;
  o.host = "192.0.2.1"; /* TEST-NET-1: not an address of this machine */
  int uv_err = 0;
  o.uv_err = &uv_err;
  assert_int_equal(dk_httpd_start(&loop, &o, handler, NULL, &s, err), DK_EIO);
  assert_non_null(strstr(err, "listen 192.0.2.1:0: "));
  assert_int_equal(uv_err, UV_EADDRNOTAVAIL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pipelining_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_head_and_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
    cmocka_unit_test_setup(test_close_with_connections, setup),
    cmocka_unit_test(test_bad_start),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* status: the listener on a real loop (on a thread of its own) and a real
 * client socket: pages by exact path and by longest prefix, /healthz and
 * /status first, 404, 405 with Allow, the bearer token (401 without it),
 * and a move to another address with dk_status_use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <git2.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "status.h"

static char dir[64];

struct fixture {
  uv_loop_t loop;
  uv_async_t stop;
  uv_thread_t thread;
  struct dk_status *s;
  struct dk_config *cfg;
  int closed;
};

static int page(void *arg, const char *path, const char *query, struct dk_buf *body, const char **ctype) {
  dk_buf_printf(body, "%s path=%s query=%s\n", (const char *)arg, path, query ? query : "-");
  *ctype = "text/x-test";
  return strstr(path, "gone") ? 410 : 200;
}

static void on_closed(void *arg) {
  ((struct fixture *)arg)->closed = 1;
}

static void on_stop(uv_async_t *a) {
  struct fixture *f = a->data;
  dk_status_close(f->s, on_closed, f);
  uv_close((uv_handle_t *)&f->stop, NULL);
}

static void run_loop(void *arg) {
  uv_run(&((struct fixture *)arg)->loop, UV_RUN_DEFAULT);
}

static struct dk_config *load(const char *status) {
  char *text = dk_asprintf("repository: %s/r.git\nstate: %s/state\n%s\n"
                           "sources:\n  - { name: a, plugin: csv, city: jinan, url: http://x.example/a }\n",
                           dir, dir, status);
  struct dk_config *cfg = NULL;
  int rc = dk_config_load_string("t.yaml", text, strlen(text), dir, &cfg);
  if (rc != 0) fprintf(stderr, "%s\n", json_string_value(json_array_get(cfg->errors, 0)));
  assert_int_equal(rc, 0);
  free(text);
  return cfg;
}

static int setup(void **state) {
  signal(SIGPIPE, SIG_IGN);
  strcpy(dir, "/tmp/dk-status-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  struct fixture *f = calloc(1, sizeof *f);
  uv_loop_init(&f->loop);
  setenv("DK_TEST_STATUS_TOKEN", "t0ken-for-the-test", 1);
  f->cfg = load("status: { listen: \"127.0.0.1:0\", token_env: DK_TEST_STATUS_TOKEN }");
  char err[DK_ERRBUF_SIZE];
  if (dk_status_start(&f->loop, f->cfg, &f->s, err) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  assert_int_equal(dk_status_add_page(f->s, "/metrics", page, "metrics"), 0);
  assert_int_equal(dk_status_add_page(f->s, "/tasks/", page, "tasks"), 0);
  assert_int_equal(dk_status_add_page(f->s, "/", page, "root"), 0);
  assert_int_equal(dk_status_add_page(f->s, "nope", page, "x"), DK_EINVAL);
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
  dk_config_free(f->cfg);
  free(f);
  char *cmd = dk_asprintf("rm -rf '%s'", dir);
  int rc = system(cmd);
  free(cmd);
  return closed && rc == 0 ? 0 : -1;
}

/* One request on a new connection to `url` ("http://127.0.0.1:PORT/"),
 * the whole answer into out. */
static void ask(const char *url, const char *method, const char *path, const char *token, char *out, size_t n) {
  int port = atoi(strrchr(url, ':') + 1);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char req[512];
  int len = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s%s\r\n", method, path,
                     token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
  assert_int_equal(send(fd, req, (size_t)len, MSG_NOSIGNAL), len);
  size_t got = 0;
  ssize_t r;
  while (got + 1 < n && (r = recv(fd, out + got, n - 1 - got, 0)) > 0) got += (size_t)r;
  out[got] = '\0';
  close(fd);
}

#define TOKEN "t0ken-for-the-test"

static void test_routes(void **state) {
  struct fixture *f = *state;
  char buf[16384];
  const char *url = dk_status_url(f->s);
  assert_non_null(url);
  assert_int_equal(strncmp(url, "http://127.0.0.1:", 17), 0);
  ask(url, "GET", "/healthz", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(buf, "Cache-Control: no-store\r\n"));
  assert_non_null(strstr(buf, "\r\n\r\nok\n"));
  ask(url, "GET", "/status", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "Content-Type: application/json; charset=utf-8\r\n"));
  json_t *doc = json_loads(strstr(buf, "\r\n\r\n") + 4, 0, NULL);
  assert_non_null(doc);
  assert_true(json_is_true(json_object_get(json_object_get(doc, "health"), "ok")));
  assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(doc, "sources"), 0), "name")),
                      "a");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(json_array_get(json_object_get(doc, "sources"), 0), "schedule"), "every")),
                      "30m");
  json_decref(doc);
  ask(url, "GET", "/metrics?x=1", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "Content-Type: text/x-test\r\n"));
  assert_non_null(strstr(buf, "metrics path=/metrics query=x=1\n"));
  ask(url, "GET", "/metrics/more", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "root path=/metrics/more"));
  ask(url, "GET", "/tasks/jnly-2024%2F12", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "tasks path=/tasks/jnly-2024/12 query=-"));
  ask(url, "GET", "/tasks/gone", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "HTTP/1.1 410 Gone\r\n"));
  ask(url, "GET", "/", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "root path=/ query=-"));
  ask(url, "HEAD", "/", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  assert_null(strstr(buf, "root path"));
  ask(url, "DELETE", "/status", TOKEN, buf, sizeof buf);
  assert_non_null(strstr(buf, "HTTP/1.1 405 Method Not Allowed\r\n"));
  assert_non_null(strstr(buf, "Allow: GET, HEAD\r\n"));
}

static void test_token(void **state) {
  struct fixture *f = *state;
  char buf[4096];
  const char *url = dk_status_url(f->s);
  ask(url, "GET", "/healthz", NULL, buf, sizeof buf);
  assert_non_null(strstr(buf, "HTTP/1.1 401 Unauthorized\r\n"));
  assert_non_null(strstr(buf, "WWW-Authenticate: Bearer realm=\"duikou\"\r\n"));
  ask(url, "GET", "/healthz", "t0ken-for-the-tesT", buf, sizeof buf);
  assert_non_null(strstr(buf, "HTTP/1.1 401 "));
  ask(url, "GET", "/healthz", "t0ken-for-the-test-and-more", buf, sizeof buf);
  assert_non_null(strstr(buf, "HTTP/1.1 401 "));
  ask(url, "GET", "/nowhere-without-token", NULL, buf, sizeof buf);
  assert_non_null(strstr(buf, "HTTP/1.1 401 ")); /* nothing is said about paths before the token */
}

/* A reload to a new address moves the listener (pages kept); one to an
 * address in use, or naming a token that is not there, changes nothing. */
static void test_use(void **state) {
  struct fixture *f = *state;
  char buf[4096], err[DK_ERRBUF_SIZE];
  /* stop the loop thread: dk_status_use runs on the loop's thread */
  struct dk_config *in_use = NULL;
  int holder = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  assert_int_equal(bind(holder, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(holder, 1), 0);
  getsockname(holder, (struct sockaddr *)&sa, &sl);
  char st[128];
  snprintf(st, sizeof st, "status: { listen: \"127.0.0.1:%d\" }", ntohs(sa.sin_port));
  in_use = load(st);
  struct dk_config *no_token = load("status: { listen: \"127.0.0.1:0\", token_env: DK_TEST_STATUS_NOTHING }");
  struct dk_config *open = load("status: { listen: \"[::1]:0\" }");
  char old[64];
  snprintf(old, sizeof old, "%s", dk_status_url(f->s));
  uv_async_send(&f->stop); /* closes the fixture's status: start one here */
  uv_thread_join(&f->thread);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(f->closed, 1);
  f->closed = 0;
  assert_int_equal(dk_status_start(&f->loop, f->cfg, &f->s, err), 0);
  assert_int_equal(dk_status_add_page(f->s, "/metrics", page, "metrics"), 0);
  snprintf(old, sizeof old, "%s", dk_status_url(f->s));
  assert_int_equal(dk_status_use(f->s, in_use, err), DK_EIO);
  assert_non_null(strstr(err, "status listener: listen 127.0.0.1:"));
  assert_non_null(strstr(err, "address already in use"));
  assert_string_equal(dk_status_url(f->s), old);
  assert_int_equal(dk_status_use(f->s, no_token, err), DK_ECONFIG);
  assert_non_null(strstr(err, "DK_TEST_STATUS_NOTHING"));
  assert_string_equal(dk_status_url(f->s), old);
  int v6 = dk_status_use(f->s, open, err);
  if (v6 != 0) { /* no IPv6 loopback here */
    fprintf(stderr, "# skipped the move to [::1]: %s\n", err);
  } else {
    assert_int_equal(strncmp(dk_status_url(f->s), "http://[::1]:", 13), 0);
  }
  uv_async_init(&f->loop, &f->stop, on_stop);
  f->stop.data = f;
  uv_thread_create(&f->thread, run_loop, f);
  if (v6 == 0) {
    /* the old address is closed; the new one has the page and no token */
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT,
                              .sin6_port = htons((uint16_t)atoi(strrchr(dk_status_url(f->s), ':') + 1))};
    assert_int_equal(connect(fd, (struct sockaddr *)&a6, sizeof a6), 0);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    size_t got = 0;
    ssize_t r;
    while ((r = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0) got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    assert_non_null(strstr(buf, "metrics path=/metrics"));
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(strrchr(old, ':') + 1))};
    a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a4, sizeof a4), 0);
    close(fd);
  }
  close(holder);
  /* the fixture frees its own configuration; these outlive their use */
  uv_async_send(&f->stop);
  uv_thread_join(&f->thread);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(f->closed, 1);
  dk_config_free(in_use);
  dk_config_free(no_token);
  dk_config_free(open);
  /* a fresh one for teardown */
  f->closed = 0;
  assert_int_equal(dk_status_start(&f->loop, f->cfg, &f->s, err), 0);
  uv_async_init(&f->loop, &f->stop, on_stop);
  f->stop.data = f;
  uv_thread_create(&f->thread, run_loop, f);
}

int main(void) {
  git_libgit2_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_token, setup, teardown),
    cmocka_unit_test_setup_teardown(test_use, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

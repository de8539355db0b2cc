/* city-sim: a small HTTP/1.1 server on libuv that plays the Jinan and Linyi
 * data sources for `duikou demo` and the integration tests. */
#ifndef CITYSIM_H
#define CITYSIM_H

#include <uv.h>

struct csim;

struct csim_options {
  const char *host;     /* address to bind; NULL = "127.0.0.1" */
  int port;             /* 0 = ephemeral, see csim_port() */
  const char *data_dir; /* serve files from here, or NULL */
  int quiet;            /* nonzero: no per-request log line on stderr */
  int idle_timeout_ms;  /* close a connection idle this long; 0 = 30000 */
};

/* Bind and listen on opts->host:opts->port on `loop`. The options are copied.
 * Returns 0 and sets *out, or a negative libuv error with *out = NULL; on
 * error nothing is left running, but a handle may still be closing, so run
 * the loop (e.g. uv_run(loop, UV_RUN_NOWAIT)) before uv_loop_close().
 * Writes to a closed peer raise SIGPIPE: the caller should ignore it. */
int csim_start(uv_loop_t *loop, const struct csim_options *opts, struct csim **out);

/* The port actually listened on (useful with port 0). */
int csim_port(const struct csim *sim);

/* Close the listener and every connection, free `sim`, then call done(arg)
 * (if done is not NULL) from the loop once every handle is closed. `sim` must
 * not be used after this call. */
void csim_close(struct csim *sim, void (*done)(void *arg), void *arg);

#endif

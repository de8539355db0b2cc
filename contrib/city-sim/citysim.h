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
  const char *date;     /* simulated date "YYYY-MM-DD"; NULL = "2024-06-30" */
  const char *token;    /* bearer token Jinan's API wants; NULL = "jinan-demo-token" */
  int story;            /* nonzero: the demo's story (story.h): a task delayed, the two
                           cities disagreeing, a typo in one export; and Linyi's ledger */
};

/* Bind and listen on opts->host:opts->port on `loop`. The options are copied.
 * Returns 0 and sets *out, or a negative libuv error with *out = NULL
 * (UV_EINVAL for a bad port, date or token); on
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

/* Set the simulated date, "YYYY-MM-DD" from 2000-01-01 to 2099-12-31.
 * Returns 0, or UV_EINVAL (date unchanged). */
int csim_set_date(struct csim *sim, const char *yyyy_mm_dd);

/* Move the simulated date by `days` (may be negative). Returns 0, or
 * UV_EINVAL when the result would leave 2000-2099 (date unchanged). */
int csim_advance(struct csim *sim, int days);

/* The simulated date, "YYYY-MM-DD"; valid until the next change or close. */
const char *csim_date(const struct csim *sim);

/* Make requests for `path` (exact; any query unless query=) misbehave.
 * `spec` is a query string: "mode=MODE[&count=N][&query=SUBSTR][&status=S]
 * [&retry_after=R][&delay_ms=D][&bytes=B]", as for POST /_sim/misbehave
 * (see README.md); "mode=none" or NULL clears every rule of the path.
 * Returns 0, UV_EINVAL for a bad path or spec, or UV_ENOSPC when 32 rules
 * are already set. */
int csim_misbehave(struct csim *sim, const char *path, const char *spec);

#endif

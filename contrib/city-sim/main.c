/* city-sim [--host H] [--port N] [--data DIR] [--port-file FILE] [--date YYYY-MM-DD]
 *          [--token T] [--quiet] */
#include "citysim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uv_signal_t sigterm, sigint;
static struct csim *sim;

/* The usage line; with `full`, every option too (--help). */
static void usage(FILE *f, int full)
{
  fputs("usage: city-sim [--host H] [--port N] [--data DIR] [--port-file FILE]\n"
        "                [--date YYYY-MM-DD] [--token T] [--story] [--quiet]\n",
        f);
  if (!full)
    return;
  fputs("\nThe simulated Jinan and Linyi data sources, on loopback.\n\n"
        "  --host H            address to listen on (default 127.0.0.1)\n"
        "  --port N            port, 0 = a free one (default 0)\n"
        "  --data DIR          also serve the files under DIR\n"
        "  --port-file FILE    write the port to FILE once listening\n"
        "  --date YYYY-MM-DD   simulated date, 2000-2099 (default 2024-06-30);\n"
        "                      change it later with POST /_sim/clock\n"
        "  --token T           bearer token of /jinan/api/tasks (default $CITY_SIM_TOKEN,\n"
        "                      else jinan-demo-token)\n"
        "  --story             the demo's story (README.md, \"The story\") and Linyi's ledger\n"
        "  --quiet             no log line per request on stderr\n"
        "  -h, --help          this help\n\n"
        "Routes, misbehaviours and the progress model: contrib/city-sim/README.md\n",
        f);
}

/* SIGTERM / SIGINT: close the simulator and the signal handles, so the
 * loop ends and main returns 0. */
static void on_signal(uv_signal_t *s, int signum)
{
  if (!sim)
    return;
  csim_close(sim, NULL, NULL);
  sim = NULL;
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
}

/* Write temp + rename, so a reader never sees a half-written port. */
static int write_port_file(const char *path, int port)
{
  size_t n = strlen(path) + 32;
  char *tmp = malloc(n);
  if (!tmp)
    return -1;
  snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  int ok = f && fprintf(f, "%d\n", port) > 0;
  if (f && fclose(f) != 0)
    ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    perror(path);
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  return 0;
}

/* Parse the options, listen, print the address, run until a signal.
 * Exit status: 0, 1 when it cannot start, 2 for bad usage. */
int main(int argc, char **argv)
{
  struct csim_options opts = {.host = "127.0.0.1"};
  const char *port_file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--quiet") == 0) {
      opts.quiet = 1;
      continue;
    }
    if (strcmp(a, "--story") == 0) {
      opts.story = 1;
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout, 1);
      return 0;
    }
    if (!v || (strcmp(a, "--host") && strcmp(a, "--port") && strcmp(a, "--data") &&
               strcmp(a, "--port-file") && strcmp(a, "--date") && strcmp(a, "--token"))) {
      usage(stderr, 0);
      return 2;
    }
    i++;
    if (strcmp(a, "--host") == 0) {
      opts.host = v;
    } else if (strcmp(a, "--data") == 0) {
      opts.data_dir = v;
    } else if (strcmp(a, "--port-file") == 0) {
      port_file = v;
    } else if (strcmp(a, "--date") == 0) {
      opts.date = v;
    } else if (strcmp(a, "--token") == 0) {
      opts.token = v;
    } else {
      char *end;
      long p = strtol(v, &end, 10);
      if (*v == '\0' || *end != '\0' || p < 0 || p > 65535) {
        fprintf(stderr, "city-sim: bad port: %s\n", v);
        return 2;
      }
      opts.port = (int)p;
    }
  }

  if (!opts.token && getenv("CITY_SIM_TOKEN") && *getenv("CITY_SIM_TOKEN"))
    opts.token = getenv("CITY_SIM_TOKEN");

  signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  int err = uv_loop_init(&loop);
  if (err == 0)
    err = csim_start(&loop, &opts, &sim);
  if (err == UV_EINVAL && (opts.date || opts.token)) {
    fprintf(stderr, "city-sim: bad --date (want YYYY-MM-DD, 2000-01-01 to 2099-12-31) or "
                    "empty --token\n");
  } else if (err < 0) {
    fprintf(stderr, "city-sim: %s:%d: %s\n", opts.host, opts.port, uv_strerror(err));
  }
  if (err < 0) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return 1;
  }
  uv_signal_init(&loop, &sigterm);
  uv_signal_init(&loop, &sigint);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_start(&sigint, on_signal, SIGINT);

  int port = csim_port(sim);
  int v6 = strchr(opts.host, ':') != NULL;
  printf("city-sim: listening on http://%s%s%s:%d\n", v6 ? "[" : "", opts.host, v6 ? "]" : "",
         port);
  fflush(stdout);
  int failed = port_file && write_port_file(port_file, port) < 0;
  if (failed)
    on_signal(&sigterm, SIGTERM);

  uv_run(&loop, UV_RUN_DEFAULT);
  err = uv_loop_close(&loop);
  if (err < 0)
    fprintf(stderr, "city-sim: loop close: %s\n", uv_strerror(err));
  return failed || err < 0;
}

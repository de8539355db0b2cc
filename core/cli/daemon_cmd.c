/* `duikou daemon`: the scheduler on the loop, in the foreground, until
 * SIGTERM or SIGINT.
 *
 * SIGTERM lets no new run start, cancels fetches still running (their state
 * records no failure), and exits once every handle is closed; a commit in
 * progress is never cut short, since commits run on the loop thread between
 * events. SIGHUP reloads the configuration: a bad file is reported and the
 * running one kept; a good one waits for the runs in progress to end, then
 * replaces the engine and the scheduler. With $NOTIFY_SOCKET set (systemd
 * Type=notify) it reports READY=1, RELOADING=1 and STOPPING=1, and with
 * $WATCHDOG_USEC, WATCHDOG=1 at half of it. The status listener (status.h)
 * serves across reloads and closes on SIGTERM. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "options.h"
#include "config.h"
#include "dashboard.h"
#include "planview.h"
#include "log.h"
#include "metrics.h"
#include "scheduler.h"
#include "status.h"
#include "sync.h"
#include "util.h"

struct dk__daemon {
  uv_loop_t *loop;
  const struct dk_cli_opts *opts;
  const char *config_path;
  struct dk_config *cfg;
  struct dk_engine *engine;
  struct dk_sched *sched;
  struct dk_config *next_cfg; /* a reload waiting for the old scheduler and engine to end */
  struct dk_status *listener; /* the status listener (none when status.listen is off) */
  struct dk_metrics *metrics; /* the process's counters: they outlive an engine replaced by a reload */
  struct dk_metrics_view mview; /* what /metrics renders: the current configuration and scheduler */
  struct dk_dashboard_opts dview; /* what the dashboard (/ and /tasks/) renders, alike */
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t watchdog;
  uv_timer_t dash_idle; /* the dashboard's parsed reports dropped a while after its last page */
  int watchdog_on;
  int stopping;
  int status;
  int listener_failed;
};

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void dk__notify(const char *msg) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (path == NULL || (path[0] != '/' && path[0] != '@')) return;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = strlen(path);
  if (n >= sizeof sa.sun_path) return;
  memcpy(sa.sun_path, path, n);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0'; /* abstract namespace */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
    dk_log(DK_LOG_WARN, NULL, "cannot notify the service manager: %s", strerror(errno));
  close(fd);
}

static void dk__watchdog_tick(uv_timer_t *t) { dk__notify("WATCHDOG=1"); }

/* systemd's watchdog (WatchdogSec=): WATCHDOG=1 from the loop at half of
 * $WATCHDOG_USEC, so that a loop that stops turning is restarted; only when
 * $WATCHDOG_PID is unset or names this process (sd_watchdog_enabled(3)). */
static void dk__watchdog_start(struct dk__daemon *d) {
  const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
  if (usec == NULL || *usec == '\0') return;
  if (pid && *pid && strtoll(pid, NULL, 10) != (long long)getpid()) return;
  char *end;
  errno = 0;
  unsigned long long us = strtoull(usec, &end, 10);
  if (errno || *end || us == 0) {
    dk_log(DK_LOG_WARN, NULL, "WATCHDOG_USEC=\"%s\" is not a number of microseconds: no watchdog", usec);
    return;
  }
  uint64_t ms = us / 2000 ? us / 2000 : 1;
  uv_timer_init(d->loop, &d->watchdog);
  uv_timer_start(&d->watchdog, dk__watchdog_tick, ms, ms);
  d->watchdog_on = 1;
}

/* The scheduler's next run of a source for the metrics and the pages: 1
 * with *when, 0 when none is set (no scheduler between a reload's end and
 * its begin). */
static int dk__next_run(void *arg, const char *source, time_t *when) {
  const struct dk__daemon *d = arg;
  return d->sched ? dk_sched_next_run(d->sched, source, when) : 0;
}

/* The dashboard keeps the reports it parsed (planview.h) while it is being
 * read; a minute after the last page they go back, with the heap's free
 * pages, so that an idle daemon holds little (as the engine's own idle
 * time does for the index and libgit2's caches). */
#define DK__DASH_IDLE_MS 60000

static void dk__dash_idle(uv_timer_t *t) {
  (void)t;
  dk_pv_cache_clear();
  malloc_trim(0);
}

static int dk__dash_page(void *arg, const char *path, const char *query, struct dk_buf *body, const char **ctype) {
  struct dk__daemon *d = arg;
  int status = dk_dashboard_serve(&d->dview, path, query, body, ctype);
  uv_timer_start(&d->dash_idle, dk__dash_idle, DK__DASH_IDLE_MS, 0);
  return status;
}

/* Engine and scheduler on d->cfg. Returns 0 or a DK_E* code (logged). */
static int dk__daemon_begin(struct dk__daemon *d) {
  char err[DK_ERRBUF_SIZE];
  dk_config_apply_timezone(d->cfg);
  int rc = dk_engine_open(d->loop, d->cfg, d->opts->plugin_dir, &d->engine, err);
  if (rc != 0) {
    dk_log(DK_LOG_ERROR, NULL, "cannot start: %s", err);
    return rc;
  }
  dk_engine_set_metrics(d->engine, d->metrics);
  d->mview = (struct dk_metrics_view){.m = d->metrics, .cfg = d->cfg, .next_run = dk__next_run, .next_arg = d};
  d->dview = (struct dk_dashboard_opts){.cfg = d->cfg, .next_run = dk__next_run, .next_arg = d};
  if ((rc = dk_engine_publish(d->engine, err)) != 0) {
    dk_log(DK_LOG_ERROR, NULL, "cannot start: %s", err);
    return rc;
  }
  rc = dk_sched_start(d->loop, d->cfg, d->engine, &d->sched, err);
  if (rc != 0) {
    dk_log(DK_LOG_ERROR, NULL, "cannot start: %s", err);
    return rc;
  }
  if (d->listener) dk_status_set_sched(d->listener, d->sched);
  dk_log(DK_LOG_INFO, "config", d->cfg->path, "timezone", d->cfg->timezone, NULL,
         "running: %zu source%s, %zu remote%s, repository %s", d->cfg->nsources, d->cfg->nsources == 1 ? "" : "s",
         d->cfg->nremotes, d->cfg->nremotes == 1 ? "" : "s", d->cfg->repository);
  return 0;
}

static void dk__close_signals(struct dk__daemon *d) {
  uv_close((uv_handle_t *)&d->dash_idle, NULL);
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
  uv_close((uv_handle_t *)&d->sighup, NULL);
  if (d->watchdog_on) uv_close((uv_handle_t *)&d->watchdog, NULL);
  d->watchdog_on = 0;
}

static void dk__engine_closed(void *arg);

/* Stop for good: no run starts any more, runs in flight are canceled, and
 * the signal handles close once the engine has (the loop then ends). */
static void dk__shutdown(struct dk__daemon *d) {
  d->stopping = 1;
  if (d->sched) dk_sched_stop(d->sched, NULL, NULL);
  d->sched = NULL;
  if (d->listener) dk_status_close(d->listener, NULL, NULL);
  d->listener = NULL;
  if (d->engine) dk_engine_close(d->engine, dk__engine_closed, d);
  else dk__close_signals(d);
}

static void dk__engine_closed(void *arg) {
  struct dk__daemon *d = arg;
  d->engine = NULL;
  if (d->stopping) {
    dk_log(DK_LOG_INFO, NULL, "stopped");
    dk__close_signals(d);
    return;
  }
  /* a reload: begin again on the new configuration */
  dk_config_free(d->cfg);
  d->cfg = d->next_cfg;
  d->next_cfg = NULL;
  /* the pages never see the freed configuration, even when begin fails */
  d->mview.cfg = d->dview.cfg = d->cfg;
  if (dk__daemon_begin(d) != 0) {
    d->status = DK_EXIT_FAILED;
    dk__shutdown(d);
    return;
  }
  dk__notify("READY=1");
}

static void dk__sched_stopped(void *arg) {
  struct dk__daemon *d = arg;
  if (!d->stopping && d->engine) dk_engine_close(d->engine, dk__engine_closed, d);
}

static void dk__on_stop(uv_signal_t *h, int signum) {
  struct dk__daemon *d = h->data;
  if (d->stopping) return;
  dk_log(DK_LOG_INFO, NULL, "%s: stopping (%zu run%s in progress canceled)", signum == SIGTERM ? "SIGTERM" : "SIGINT",
         d->engine ? dk_engine_active(d->engine) : (size_t)0,
         d->engine && dk_engine_active(d->engine) == 1 ? "" : "s");
  dk__notify("STOPPING=1");
  dk__shutdown(d);
}

static void dk__on_hup(uv_signal_t *h, int signum) {
  struct dk__daemon *d = h->data;
  if (d->stopping || d->next_cfg) return;
  struct dk_config *cfg = NULL;
  int rc = dk_config_load(d->config_path, &cfg);
  if (rc != 0) {
    size_t i;
    json_t *e;
    json_array_foreach(cfg->errors, i, e)
      dk_log(DK_LOG_ERROR, "config", d->config_path, NULL, "reload refused: %s", json_string_value(e));
    dk_config_free(cfg);
    return;
  }
  /* the listener keeps serving; it moves only when status.listen changed,
   * and a new address that cannot be bound refuses the reload */
  char err[DK_ERRBUF_SIZE];
  if (d->listener && dk_status_use(d->listener, cfg, err) != 0) {
    dk_log(DK_LOG_ERROR, "config", d->config_path, NULL, "reload refused: %s", err);
    dk_config_free(cfg);
    return;
  }
  dk_log(DK_LOG_INFO, "config", d->config_path, NULL, "SIGHUP: reloading once the %zu run%s in progress end",
         dk_engine_active(d->engine), dk_engine_active(d->engine) == 1 ? "" : "s");
  dk__notify("RELOADING=1");
  d->next_cfg = cfg;
  /* The old scheduler ends once its runs have; then the engine closes and
   * the new configuration begins (dk__engine_closed). */
  struct dk_sched *old = d->sched;
  d->sched = NULL;
  if (d->listener) dk_status_set_sched(d->listener, NULL);
  dk_sched_stop(old, dk__sched_stopped, d);
}

static void dk__daemon_usage(FILE *f) {
  fprintf(f, "usage: duikou daemon [-c FILE]\n\n"
             "Runs every source on its schedule (every: or cron:, in the configured time zone),\n"
             "in the foreground, until SIGTERM or SIGINT. SIGHUP reloads the configuration.\n"
             "With `status:` in the configuration it serves /healthz, /status, /metrics and\n"
             "the dashboard (/ and /tasks/PLAN/N) on that address (loopback by default).\n"
             "Logs go to stderr. Exit status: 0 after SIGTERM/SIGINT, 1 when it cannot start,\n"
             "2 on a usage or configuration error.\n\n%s",
          dk_cli_common_help);
}

int dk_cmd_daemon(int argc, char **argv) {
  struct dk_cli_opts o;
  int rc = dk_cli_parse_opts("daemon", dk__daemon_usage, argc, argv, &o, 0, 0);
  if (rc != 0) return rc < 0 ? DK_EXIT_OK : rc;
  if (o.positional < argc) {
    fprintf(stderr, "duikou daemon: unexpected argument \"%s\"\n", argv[o.positional]);
    dk__daemon_usage(stderr);
    return DK_EXIT_USAGE;
  }
  struct dk__daemon d = {.opts = &o, .config_path = o.config ? o.config : "/etc/duikou/duikou.yaml"};
  d.cfg = dk_cli_load_config(d.config_path, &o);
  if (d.cfg == NULL) return DK_EXIT_USAGE;
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  uv_loop_t loop;
  uv_loop_init(&loop);
  d.loop = &loop;
  uv_signal_init(&loop, &d.sigterm);
  uv_signal_init(&loop, &d.sigint);
  uv_signal_init(&loop, &d.sighup);
  d.sigterm.data = d.sigint.data = d.sighup.data = &d;
  uv_signal_start(&d.sigterm, dk__on_stop, SIGTERM);
  uv_signal_start(&d.sigint, dk__on_stop, SIGINT);
  uv_signal_start(&d.sighup, dk__on_hup, SIGHUP);
  dk__watchdog_start(&d);
  uv_timer_init(&loop, &d.dash_idle);
  char err[DK_ERRBUF_SIZE];
  if (dk_status_start(&loop, d.cfg, &d.listener, err) != 0) {
    dk_log(DK_LOG_ERROR, NULL, "cannot start: %s", err);
    d.listener = NULL;
    d.listener_failed = 1;
  }
  d.metrics = dk_metrics_new();
  d.mview = (struct dk_metrics_view){.m = d.metrics, .cfg = d.cfg, .next_run = dk__next_run, .next_arg = &d};
  d.dview = (struct dk_dashboard_opts){.cfg = d.cfg, .next_run = dk__next_run, .next_arg = &d};
  if (d.listener) {
    dk_status_add_page(d.listener, "/metrics", dk_metrics_page, &d.mview);
    dk_status_add_page(d.listener, "/", dk__dash_page, &d);
  }
  if (d.listener_failed || dk__daemon_begin(&d) != 0) {
    d.status = DK_EXIT_FAILED;
    dk__shutdown(&d);
  } else {
    dk__notify("READY=1");
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  dk_config_free(d.cfg);
  dk_config_free(d.next_cfg);
  dk_metrics_free(d.metrics);
  return d.status;
}

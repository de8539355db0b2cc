#include "progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"
#include "util.h"

#define DK__PROGRESS_DELAY_MS 1000
#define DK__PROGRESS_EVERY_MS 250
#define DK__PROGRESS_MAX_ROWS 20

struct dk_cli_progress {
  FILE *f;
  pthread_mutex_t mu; /* the log hook runs on any thread */
  int drawn;          /* rows on screen; the cursor is at the start of the first */
  struct dk_run_progress *runs;
  size_t nruns, cap;
};

/* Erase what is drawn; with p->mu held. */
static void dk__progress_erase_locked(struct dk_cli_progress *p) {
  if (!p->drawn) return;
  fputs("\r\033[J", p->f);
  fflush(p->f);
  p->drawn = 0;
}

static void dk__progress_erase(void *arg) {
  struct dk_cli_progress *p = arg;
  pthread_mutex_lock(&p->mu);
  dk__progress_erase_locked(p);
  pthread_mutex_unlock(&p->mu);
}

static void dk__progress_collect(void *arg, const struct dk_run_progress *r) {
  struct dk_cli_progress *p = arg;
  if (p->nruns == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 8;
    p->runs = dk_realloc(p->runs, p->cap * sizeof *p->runs);
  }
  p->runs[p->nruns++] = *r;
}

static int dk__progress_cmp(const void *a, const void *b) {
  const struct dk_run_progress *x = a, *y = b;
  return x->index < y->index ? -1 : x->index > y->index;
}

static void dk__human_bytes(char *out, size_t n, unsigned long long b) {
  if (b < 1024) snprintf(out, n, "%llu B", b);
  else if (b < 1024 * 1024) snprintf(out, n, "%.1f KiB", (double)b / 1024);
  else snprintf(out, n, "%.1f MiB", (double)b / (1024 * 1024));
}

/* One source's line, cut to `width` columns (a wrapped line would break
 * the redraw). */
static void dk__progress_line(struct dk_buf *b, const struct dk_run_progress *r, size_t width) {
  static const char *const what[] = {"waiting", "fetching page", "retrying page", "parsing page", "committing"};
  char bytes[32];
  dk__human_bytes(bytes, sizeof bytes, r->bytes);
  struct dk_buf line = {0};
  dk_buf_printf(&line, "%-20s %s", dk_esc_tmp(r->name), what[r->phase]);
  if (r->phase != DK_RUN_WAITING && r->phase != DK_RUN_COMMITTING) dk_buf_printf(&line, " %u", r->page);
  dk_buf_printf(&line, " (%zu page%s, %s, %zu record%s)", r->pages, r->pages == 1 ? "" : "s", bytes, r->records,
                r->records == 1 ? "" : "s");
  size_t len = line.len, cols = 0, i = 0;
  const unsigned char *s = (const unsigned char *)dk_buf_cstr(&line);
  /* columns: a CJK character takes two, so count a lead byte of 3 or 4 as two */
  while (i < len) {
    size_t cl = s[i] < 0x80 ? 1 : s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : 2;
    size_t w = cl >= 3 ? 2 : 1;
    if (cols + w > width || i + cl > len) break;
    cols += w;
    i += cl;
  }
  dk_buf_append(b, (const char *)s, i);
  dk_buf_free(&line);
}

static void dk__progress_tick(struct dk_sync *sync, void *arg) {
  struct dk_cli_progress *p = arg;
  p->nruns = 0;
  dk_sync_progress(sync, dk__progress_collect, p);
  qsort(p->runs, p->nruns, sizeof *p->runs, dk__progress_cmp);
  struct winsize ws;
  size_t width = ioctl(fileno(p->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1u : 79u;
  size_t rows = p->nruns < DK__PROGRESS_MAX_ROWS ? p->nruns : DK__PROGRESS_MAX_ROWS;
  struct dk_buf b = {0};
  dk_buf_puts(&b, "\r\033[J");
  for (size_t i = 0; i < rows; i++) {
    if (i) dk_buf_puts(&b, "\n");
    dk__progress_line(&b, &p->runs[i], width);
  }
  if (rows > 1) dk_buf_printf(&b, "\033[%zuA", rows - 1);
  dk_buf_puts(&b, "\r");
  pthread_mutex_lock(&p->mu);
  if (rows == 0) {
    dk__progress_erase_locked(p);
  } else {
    fwrite(b.data, 1, b.len, p->f);
    fflush(p->f);
    p->drawn = (int)rows;
  }
  pthread_mutex_unlock(&p->mu);
  dk_buf_free(&b);
}

struct dk_cli_progress *dk_cli_progress_new(FILE *f, struct dk_sync_opts *opts) {
  const char *term = getenv("TERM");
  if (!isatty(fileno(f)) || term == NULL || *term == '\0' || strcmp(term, "dumb") == 0) return NULL;
  struct dk_cli_progress *p = dk_calloc(1, sizeof *p);
  p->f = f;
  pthread_mutex_init(&p->mu, NULL);
  opts->tick = dk__progress_tick;
  opts->tick_arg = p;
  opts->tick_delay_ms = DK__PROGRESS_DELAY_MS;
  opts->tick_ms = DK__PROGRESS_EVERY_MS;
  dk_log_set_before_write(dk__progress_erase, p);
  return p;
}

void dk_cli_progress_free(struct dk_cli_progress *p) {
  if (p == NULL) return;
  dk_log_set_before_write(NULL, NULL);
  dk__progress_erase(p);
  pthread_mutex_destroy(&p->mu);
  free(p->runs);
  free(p);
}

#include "log.h"

#include <stdlib.h>
#include "escape.h"
#include "redact.h"
#include "util.h"

#include <string.h>
#include <time.h>
#include <sys/time.h>

static enum dk_log_level dk__level = DK_LOG_INFO;
static void (*dk__before_write)(void *arg);
static void *dk__before_write_arg;

void dk_log_set_before_write(void (*fn)(void *arg), void *arg) {
  dk__before_write = fn;
  dk__before_write_arg = arg;
}

static const char *const dk__level_names[] = {"error", "warn", "info", "debug"};

void dk_log_set_level(enum dk_log_level level) { dk__level = level; }
enum dk_log_level dk_log_get_level(void) { return dk__level; }

int dk_log_parse_level(const char *s, enum dk_log_level *out) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, dk__level_names[i]) == 0) {
      *out = (enum dk_log_level)i;
      return 0;
    }
  }
  if (strcmp(s, "warning") == 0) {
    *out = DK_LOG_WARN;
    return 0;
  }
  return DK_EINVAL;
}

#define DK__FIELD_MAX 1024 /* bytes of one field's value in a line */
#define DK__MSG_MAX 8192

/* Append " key=value" (value redacted, escaped, quoted when it needs it, and
 * cut at a character boundary past `max` bytes, saying how long it was), so
 * that a line is never cut inside a field and never carries a secret or a
 * control character. */
static void dk__field(struct dk_buf *b, const char *key, const char *value, size_t max, int quote) {
  size_t len = strlen(value);
  char *red = dk_redact(value, len, &len);
  const char *v = red ? red : value;
  size_t keep = len;
  if (keep > max) {
    keep = max;
    while (keep > 0 && ((unsigned char)v[keep] & 0xC0) == 0x80) keep--;
  }
  quote |= (len == 0);
  for (size_t i = 0; i < keep && !quote; i++)
    quote = v[i] == ' ' || v[i] == '"' || v[i] == '=' || v[i] == '\\' || (unsigned char)v[i] < 0x20;
  dk_buf_printf(b, " %s=", key);
  if (quote) dk_buf_puts(b, "\"");
  dk_esc_append(b, v, keep, 1);
  if (keep < len) dk_buf_printf(b, "...(%zu bytes)", len);
  if (quote) dk_buf_puts(b, "\"");
  free(red);
}

void dk_vlog(enum dk_log_level level, const char **kv, const char *fmt, va_list ap) {
  if (level > dk__level) return;
  struct dk_buf line = {0}, msg = {0};
  char head[64];
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  localtime_r(&tv.tv_sec, &tm);
  char z[8];
  strftime(z, sizeof z, "%z", &tm);
  size_t o = strftime(head, sizeof head, "ts=%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(head + o, sizeof head - o, ".%03d%.3s:%.2s level=%s", (int)(tv.tv_usec / 1000), z, z + 3,
           dk__level_names[level]);
  dk_buf_puts(&line, head);
  for (size_t i = 0; kv && kv[i]; i += 2)
    if (kv[i + 1] != NULL) dk__field(&line, kv[i], kv[i + 1], DK__FIELD_MAX, 0);
  dk_buf_vprintf(&msg, fmt, ap);
  dk__field(&line, "msg", dk_buf_cstr(&msg), DK__MSG_MAX, 1);
  dk_buf_puts(&line, "\n");
  /* Several threads log: the whole line goes out under the stream's lock,
   * so lines never interleave. */
  flockfile(stderr);
  if (dk__before_write) dk__before_write(dk__before_write_arg);
  fwrite(line.data, 1, line.len, stderr);
  fflush(stderr);
  funlockfile(stderr);
  dk_buf_free(&line);
  dk_buf_free(&msg);
}

void dk_log(enum dk_log_level level, ...) {
  const char *kv[33];
  size_t n = 0;
  va_list ap;
  va_start(ap, level);
  for (;;) {
    const char *k = va_arg(ap, const char *);
    if (k == NULL) break;
    const char *v = va_arg(ap, const char *);
    if (n < 32) { kv[n++] = k; kv[n++] = v; }
  }
  kv[n] = NULL;
  const char *fmt = va_arg(ap, const char *);
  dk_vlog(level, kv, fmt, ap);
  va_end(ap);
}

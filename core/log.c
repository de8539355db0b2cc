#include "log.h"

#include <string.h>
#include <time.h>
#include <sys/time.h>

static enum dk_log_level dk__level = DK_LOG_INFO;

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

static size_t dk__quote(char *out, size_t n, const char *s, int quote) {
  size_t o = 0;
  quote |= (*s == '\0');
  for (const char *p = s; *p; p++)
    if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20 || *p == '\\')
      quote = 1;
#define PUT(c) do { if (o + 1 < n) out[o++] = (c); } while (0)
  if (quote) PUT('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') { PUT('\\'); PUT((char)*p); }
    else if (*p == '\n') { PUT('\\'); PUT('n'); }
    else if (*p == '\t') { PUT('\\'); PUT('t'); }
    else if (*p < 0x20) { PUT('?'); }
    else PUT((char)*p);
  }
  if (quote) PUT('"');
#undef PUT
  if (n) out[o < n ? o : n - 1] = '\0';
  return o;
}


void dk_vlog(enum dk_log_level level, const char **kv, const char *fmt, va_list ap) {
  if (level > dk__level) return;
  char line[4096], msg[2048];
  size_t o = 0;
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  localtime_r(&tv.tv_sec, &tm);
  char z[8];
  strftime(z, sizeof z, "%z", &tm);
  o += strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
  o += (size_t)snprintf(line + o, sizeof line - o, ".%03d%.3s:%.2s level=%s", (int)(tv.tv_usec / 1000), z,
                        z + 3, dk__level_names[level]);
  for (size_t i = 0; kv && kv[i]; i += 2) {
    if (kv[i + 1] == NULL) continue;
    if (o + 2 >= sizeof line) break;
    o += (size_t)snprintf(line + o, sizeof line - o, " %s=", kv[i]);
    if (o < sizeof line) o += dk__quote(line + o, sizeof line - o, kv[i + 1], 0);
  }
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (o + 6 < sizeof line) {
    memcpy(line + o, " msg=", 5);
    o += 5;
    o += dk__quote(line + o, sizeof line - o, msg, 1);
  }
  if (o >= sizeof line) o = sizeof line - 1;
  line[o] = '\0';
  fprintf(stderr, "%s\n", line);
  fflush(stderr);
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

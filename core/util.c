#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "escape.h"

static void dk__oom(size_t n) {
  fprintf(stderr, "duikou: out of memory allocating %zu bytes\n", n);
  abort();
}

void *dk_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) dk__oom(n);
  return p;
}

void *dk_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (p == NULL) dk__oom(n * size);
  return p;
}

void *dk_realloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (p == NULL) dk__oom(n);
  return p;
}

char *dk_strdup(const char *s) {
  return s ? dk_strndup(s, strlen(s)) : NULL;
}

char *dk_strndup(const char *s, size_t n) {
  char *p = dk_malloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *dk_asprintf(const char *fmt, ...) {
  struct dk_buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  dk_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  dk_buf_cstr(&b);
  return dk_buf_steal(&b);
}

int dk_read_file(const char *path, char **data, size_t *len, char *err) {
  *data = NULL;
  if (len) *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return dk_failf(err, errno == ENOENT ? DK_ENOENT : DK_EIO, "%s: %s", path, strerror(errno));
  struct dk_buf b = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) dk_buf_append(&b, chunk, n);
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    dk_buf_free(&b);
    return dk_failf(err, DK_EIO, "%s: read error", path);
  }
  dk_buf_cstr(&b);
  if (len) *len = b.len;
  *data = dk_buf_steal(&b);
  return 0;
}

int dk_mkdir_p(const char *path, int private_dir, char *err) {
  char *p = dk_strdup(path);
  mode_t mode = private_dir ? 0700 : 0755;
  for (char *s = p + 1; ; s++) {
    if (*s == '/' || *s == '\0') {
      char c = *s;
      *s = '\0';
      if (mkdir(p, mode) != 0 && errno != EEXIST) {
        int e = errno;
        int rc = dk_failf(err, DK_EIO, "cannot create folder %s: %s", p, strerror(e));
        free(p);
        return rc;
      }
      *s = c;
      if (c == '\0') break;
    }
  }
  free(p);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return dk_failf(err, DK_EIO, "%s is not a folder", path);
  return 0;
}

char *dk_path_abs(const char *base, const char *path) {
  if (path[0] == '/') return dk_strdup(path);
  char cwd[4096];
  if (base == NULL || base[0] == '\0') {
    if (getcwd(cwd, sizeof cwd) == NULL) return dk_strdup(path);
    base = cwd;
  } else if (base[0] != '/') {
    if (getcwd(cwd, sizeof cwd) == NULL) return dk_strdup(path);
    char *b = dk_asprintf("%s/%s", cwd, base);
    char *r = dk_path_abs(b, path);
    free(b);
    return r;
  }
  if (strcmp(path, ".") == 0) return dk_strdup(base);
  if (strncmp(path, "./", 2) == 0) path += 2;
  size_t bl = strlen(base);
  while (bl > 1 && base[bl - 1] == '/') bl--;
  return dk_asprintf("%.*s/%s", (int)bl, base, path);
}

char *dk_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) return dk_strdup(".");
  if (slash == path) return dk_strdup("/");
  return dk_strndup(path, (size_t)(slash - path));
}

static void dk__buf_grow(struct dk_buf *b, size_t need) {
  if (b->len + need + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + need + 1) cap *= 2;
  b->data = dk_realloc(b->data, cap);
  b->cap = cap;
}

void dk_buf_append(struct dk_buf *b, const void *data, size_t n) {
  dk__buf_grow(b, n);
  if (n) memcpy(b->data + b->len, data, n); /* an empty buffer's data may be NULL */
  b->len += n;
  b->data[b->len] = '\0';
}

void dk_buf_puts(struct dk_buf *b, const char *s) { dk_buf_append(b, s, strlen(s)); }

void dk_buf_vprintf(struct dk_buf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return;
  dk__buf_grow(b, (size_t)n);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void dk_buf_printf(struct dk_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

const char *dk_buf_cstr(struct dk_buf *b) {
  dk__buf_grow(b, 0);
  b->data[b->len] = '\0';
  return b->data;
}

char *dk_buf_steal(struct dk_buf *b) {
  char *d = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}

void dk_buf_free(struct dk_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void dk_random_bytes(void *out, size_t n) {
  unsigned char *p = out;
  if (getrandom(p, n, 0) == (ssize_t)n) return;
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)rand();
}

uint64_t dk_str_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int dk_utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str, *end = s + len;
  while (s < end) {
    unsigned c = *s;
    if (c < 0x80) { s++; continue; }
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else return 0;
    if ((size_t)(end - s) <= n) return 0;
    for (size_t i = 1; i <= n; i++) {
      if ((s[i] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    s += n + 1;
  }
  return 1;
}

char *dk_excerpt(char *out, size_t n, const char *s, size_t len) {
  size_t o = 0, i = 0, room = n - 4; /* keep space for "..." and the NUL */
  while (i < len) {
    size_t k = 1;
    unsigned char b = (unsigned char)s[i];
    if (b >= 0xF0) k = 4;
    else if (b >= 0xE0) k = 3;
    else if (b >= 0xC0) k = 2;
    if (o + k > room || i + k > len) break;
    const char *p = s + i;
    uint32_t cp = k > 1 && dk_utf8_valid(s + i, k) ? dk_utf8_next(&p, s + len) : b;
    if (b == '\n' || b == '\r') out[o++] = ' ';
    else if (dk_esc_unsafe(cp) || (k > 1 && cp == b)) out[o++] = '?';
    else memcpy(out + o, s + i, k), o += k;
    i += k;
  }
  if (i < len) memcpy(out + o, "...", 3), o += 3;
  out[o] = '\0';
  return out;
}

uint32_t dk_utf8_next(const char **pp, const char *end) {
  const unsigned char *s = (const unsigned char *)*pp;
  uint32_t c = s[0];
  size_t n = 0;
  if (c >= 0xF0) { c &= 0x07; n = 3; }
  else if (c >= 0xE0) { c &= 0x0F; n = 2; }
  else if (c >= 0xC0) { c &= 0x1F; n = 1; }
  for (size_t i = 1; i <= n && (end == NULL || (const char *)s + i < end); i++) c = (c << 6) | (s[i] & 0x3F);
  *pp += n + 1;
  return c;
}

char *dk_time_iso(time_t t, char *out, size_t n) {
  struct tm tm;
  char z[8];
  localtime_r(&t, &tm);
  strftime(z, sizeof z, "%z", &tm); /* +0800 */
  strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
  size_t l = strlen(out);
  snprintf(out + l, n - l, "%.3s:%.2s", z, z + 3);
  return out;
}

time_t dk_time_parse_iso(const char *s) {
  int y, mo, d, h, mi, sec = 0, used = 0;
  if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &used) != 5) return (time_t)-1;
  const char *p = s + used;
  if (*p == ':') {
    int k = 0;
    if (sscanf(p, ":%2d%n", &sec, &k) != 1) return (time_t)-1;
    p += k;
    if (*p == '.')
      for (p++; *p >= '0' && *p <= '9'; p++) {}
  }
  long off = 0;
  if (*p == 'Z' || *p == 'z') p++;
  else if (*p == '+' || *p == '-') {
    int oh, om;
    if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2) return (time_t)-1;
    off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
    p += 6;
  } else return (time_t)-1;
  if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return (time_t)-1;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
  time_t t = timegm(&tm);
  return t == (time_t)-1 ? t : t - off;
}

void dk_hex(const void *data, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *d = data;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  out[2 * n] = '\0';
}

int dk_unhex(const char *hex, void *out, size_t n) {
  unsigned char *o = out;
  for (size_t i = 0; i < 2 * n; i++) {
    char c = hex[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return DK_EINVAL;
    if (i % 2 == 0) o[i / 2] = (unsigned char)(v << 4);
    else o[i / 2] |= (unsigned char)v;
  }
  return hex[2 * n] == '\0' ? 0 : DK_EINVAL;
}

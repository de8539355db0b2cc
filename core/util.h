/* Small helpers: memory (abort on exhaustion, as Redis' zmalloc does: a
 * daemon that cannot allocate a few bytes cannot report it either), files
 * and paths. */
#ifndef DK_UTIL_H
#define DK_UTIL_H

#include <stddef.h>
#include <time.h>
#include <stdarg.h>
#include <stdint.h>

void *dk_malloc(size_t n);
void *dk_calloc(size_t n, size_t size);
void *dk_realloc(void *p, size_t n);
char *dk_strdup(const char *s);           /* NULL in, NULL out */
char *dk_strndup(const char *s, size_t n);
char *dk_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a whole file into a NUL-terminated buffer the caller frees.
 * Returns 0, or DK_EIO / DK_ENOENT with err (DK_ERRBUF_SIZE) saying why. */
int dk_read_file(const char *path, char **data, size_t *len, char *err);
/* mkdir -p with mode 0755 (0700 when private is set). Returns 0 or DK_EIO. */
int dk_mkdir_p(const char *path, int private_dir, char *err);
/* Absolute form of `path` relative to `base` (or the current folder when
 * base is NULL). Does not touch the file system. Caller frees. */
char *dk_path_abs(const char *base, const char *path);
/* Folder part of a path ("." when none). Caller frees. */
char *dk_dirname(const char *path);

/* Growable byte buffer. */
struct dk_buf {
  char *data; /* NUL-terminated when len > 0 or after dk_buf_cstr */
  size_t len, cap;
};
void dk_buf_append(struct dk_buf *b, const void *data, size_t n);
void dk_buf_puts(struct dk_buf *b, const char *s);
void dk_buf_printf(struct dk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dk_buf_vprintf(struct dk_buf *b, const char *fmt, va_list ap);
const char *dk_buf_cstr(struct dk_buf *b); /* "" for an empty buffer */
char *dk_buf_steal(struct dk_buf *b);      /* hand over the data; b is reset */
void dk_buf_free(struct dk_buf *b);

/* A short, printable copy of user text for a message, written into out
 * (size n, at least 8): cut at a UTF-8 character boundary with "..." when it
 * does not fit; control characters (C0, DEL, C1), bidi formatting
 * characters and bytes that are not UTF-8 shown as '?' (newlines as
 * spaces). Returns out. */
char *dk_excerpt(char *out, size_t n, const char *s, size_t len);

/* Decode the UTF-8 character at *pp (text already known to be valid UTF-8)
 * and advance *pp past it; never reads at or past `end` (NULL: no bound). */
uint32_t dk_utf8_next(const char **pp, const char *end);

/* n random bytes into out (getrandom; rand() should the kernel refuse):
 * for names of temporary files and generations, not for secrets. */
void dk_random_bytes(void *out, size_t n);
/* n bytes as 2n lowercase hex digits and a NUL into out (2n + 1 bytes). */
void dk_hex(const void *data, size_t n, char *out);
/* Exactly 2n lowercase hex digits (then the string's end) into n bytes:
 * 0, or DK_EINVAL (out then undefined). */
int dk_unhex(const char *hex, void *out, size_t n);

/* FNV-1a of a NUL-terminated string: the hash of the path tables (the
 * index, a round's records). */
uint64_t dk_str_hash(const char *s);

/* Validate UTF-8 (no overlongs, no surrogates, max U+10FFFF). 1 if valid. */
int dk_utf8_valid(const char *s, size_t len);

/* `t` as RFC 3339 local time with its offset ("2024-06-30T17:00:00+08:00")
 * into out (at least 32 bytes). Returns out. */
char *dk_time_iso(time_t t, char *out, size_t n);
/* Parse what dk_time_iso writes (also "Z" and no-seconds forms). Returns
 * the time, or (time_t)-1 when `s` is not such a date-time. */
time_t dk_time_parse_iso(const char *s);

#endif

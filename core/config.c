#include "config.h"
#include "redact.h"
#include "util.h"
#include "schemas.h"
#include "cron.h"
#include "merge.h"
#include "record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#define DK__DEFAULT_TIMEOUT_MS 60000L
#define DK__DEFAULT_MAX_BODY (64L * 1024 * 1024)

/* Accepted JSON types of a key, as a bit mask. */
enum { T_STR = 1, T_INT = 2, T_MAP = 4, T_LIST = 8 };

struct dk__pending {
  int line, col;
  size_t seq;
  json_t *msg;
};

struct dk__cctx {
  struct dk_config *cfg;
  char *basedir; /* absolute folder relative paths are resolved against */
  struct dk__pending *pending; /* problems found, sorted by position at the end */
  size_t npending, cappending;
  bool oom;
};

/* A value check: returns NULL when `v` is fine, else says what was expected
 * (written into msg). */
typedef const char *(*dk__check_fn)(const json_t *v, char *msg, size_t n);

/* One key of a mapping. The structure checks are these tables (to be
 * replaced by schemas/config.schema.json), plus the few rules between keys
 * that follow each table's use. */
struct dk__field {
  const char *key;
  unsigned types;
  bool required;
  dk__check_fn check;
  ptrdiff_t off; /* offset of the char * the string is copied to, or -1 */
};

static const char *dk__excerpt(char out[80], const char *s) {
  return dk_excerpt(out, 72, s, strlen(s));
}

static const char *dk__type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "a mapping";
  case JSON_ARRAY: return "a list";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "something else";
}

static unsigned dk__type_bit(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return T_MAP;
  case JSON_ARRAY: return T_LIST;
  case JSON_STRING: return T_STR;
  case JSON_INTEGER: return T_INT;
  default: return 0;
  }
}

/* pointer + "/" + key, with RFC 6901 escaping. */
static void dk__ptr(char *out, size_t n, const char *parent, const char *key) {
  size_t o = (size_t)snprintf(out, n, "%s/", parent);
  for (const char *p = key; *p && o + 3 < n; p++) {
    if (*p == '~') out[o++] = '~', out[o++] = '0';
    else if (*p == '/') out[o++] = '~', out[o++] = '1';
    else out[o++] = *p;
  }
  out[o < n ? o : n - 1] = '\0';
}

static json_t *dk__message(const char *msg) {
  json_t *s = json_string(msg);
  if (s == NULL) {
    /* not UTF-8 (a file name, say): keep the ASCII */
    char *copy = strdup(msg);
    if (copy != NULL) {
      for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
      s = json_string(copy);
      free(copy);
    }
  }
  return s;
}

static void dk__add_error(struct dk__cctx *c, const char *msg) {
  json_t *s = dk__message(msg);
  if (s == NULL || json_array_append_new(c->cfg->errors, s)) c->oom = true;
}

static int dk__pending_cmp(const void *a, const void *b) {
  const struct dk__pending *x = a, *y = b;
  if (x->line != y->line) return x->line < y->line ? -1 : 1;
  if (x->col != y->col) return x->col < y->col ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Move the problems found into cfg->errors, in the order of the file. */
static void dk__flush_errors(struct dk__cctx *c) {
  if (c->npending > 1) qsort(c->pending, c->npending, sizeof *c->pending, dk__pending_cmp);
  for (size_t i = 0; i < c->npending; i++)
    if (json_array_append_new(c->cfg->errors, c->pending[i].msg)) c->oom = true;
  free(c->pending);
  c->pending = NULL;
  c->npending = 0;
}

static void dk__errf(struct dk__cctx *c, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record "FILE:LINE:COLUMN: what (at POINTER)". */
static void dk__errf(struct dk__cctx *c, const char *pointer, const char *fmt, ...) {
  char what[DK_ERRBUF_SIZE], msg[2 * DK_ERRBUF_SIZE];
  int line = 1, col = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  dk_yamldoc_mark(&c->cfg->doc, pointer, &line, &col);
  snprintf(msg, sizeof msg, "%s:%d:%d: %s (at %s)", c->cfg->doc.name, line, col, what,
           pointer[0] ? pointer : "/");
  if (c->npending == c->cappending) {
    size_t n = c->cappending ? 2 * c->cappending : 16;
    struct dk__pending *p = realloc(c->pending, n * sizeof *p);
    if (p == NULL) {
      c->oom = true;
      return;
    }
    c->pending = p;
    c->cappending = n;
  }
  json_t *s = dk__message(msg);
  if (s == NULL) {
    c->oom = true;
    return;
  }
  c->pending[c->npending] = (struct dk__pending){line, col, c->npending, s};
  c->npending++;
}

static char *dk__strdup(struct dk__cctx *c, const char *s) {
  char *d = strdup(s);
  if (d == NULL) c->oom = true;
  return d;
}

/* --- value checks ------------------------------------------------------ */

/* "30s", "15m", "2h", "1d" in milliseconds; 0 when malformed. */
static long dk__duration_ms(const char *s) {
  long v = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > 100000000L) return 0;
    v = v * 10 + (*p - '0');
  }
  if (p == s || *p == '\0') return 0;
  if (strcmp(p, "ms") == 0) return v;
  if (p[1] != '\0') return 0;
  switch (*p) {
  case 's': return v * 1000L;
  case 'm': return v * 60000L;
  case 'h': return v * 3600000L;
  case 'd': return v * 86400000L;
  }
  return 0;
}

static const char *dk__check_duration(const json_t *v, char *msg, size_t n) {
  if (dk__duration_ms(json_string_value(v)) > 0) return NULL;
  char ex[80];
  snprintf(msg, n, "expected a duration such as 500ms, 30s, 15m, 2h or 1d, found \"%s\"",
           dk__excerpt(ex, json_string_value(v)));
  return msg;
}

static const char *dk__check_cron(const json_t *v, char *msg, size_t n) {
  struct dk_cron c;
  char err[DK_ERRBUF_SIZE];
  if (dk_cron_parse(json_string_value(v), &c, err) == 0) return NULL;
  snprintf(msg, n, "cron %s", err);
  return msg;
}

/* An integer, or "64M"-style text; -1 when malformed or not positive. */
static long dk__size_bytes(const json_t *v) {
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    return i > 0 && i <= LONG_MAX ? (long)i : -1;
  }
  const char *s = json_string_value(v), *p = s;
  long n = 0, mult = 1;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (n > LONG_MAX / 10 - 9) return -1;
    n = n * 10 + (*p - '0');
  }
  if (p == s) return -1;
  switch (*p) {
  case '\0': break;
  case 'K': case 'k': mult = 1024L; break;
  case 'M': case 'm': mult = 1024L * 1024; break;
  case 'G': case 'g': mult = 1024L * 1024 * 1024; break;
  default: return -1;
  }
  if (*p && p[1] != '\0') return -1;
  if (n <= 0 || n > LONG_MAX / mult) return -1;
  return n * mult;
}

static const char *dk__check_size(const json_t *v, char *msg, size_t n) {
  if (dk__size_bytes(v) > 0) return NULL;
  if (json_is_integer(v)) return "expected a positive number of bytes";
  char ex[80];
  snprintf(msg, n, "expected a size in bytes, or a number with K, M or G such as 64M, found \"%s\"",
           dk__excerpt(ex, json_string_value(v)));
  return msg;
}

#define DK__DEFAULT_TZ "Asia/Shanghai"

/* The zone must exist in the system's zone database, or glibc would silently
 * use UTC and every cron schedule would fire eight hours off. */
static const char *dk__check_timezone(const json_t *v, char *msg, size_t n) {
  const char *tz = json_string_value(v), *dir = getenv("TZDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
  if (strstr(tz, "..") == NULL && access(path, R_OK) == 0) return NULL;
  char ex[80];
  snprintf(msg, n, "unknown time zone \"%s\" (not in %s; install tzdata, or use a name such as Asia/Shanghai)",
           dk__excerpt(ex, tz), dir && *dir ? dir : "/usr/share/zoneinfo");
  return msg;
}

/* --- tables ------------------------------------------------------------- */

#define NO_FIELD ((ptrdiff_t)-1)

enum { C_REPOSITORY, C_STATE, C_PLUGINS, C_LOG_LEVEL, C_TIMEZONE, C_HTTP, C_RECONCILE,
       C_SOURCES, C_SITE, C_REMOTES, C_STATUS, C_GROUP_COMMITS };

static const struct dk__field dk__top_fields[] = {
  [C_REPOSITORY] = {"repository", T_STR, true, NULL, offsetof(struct dk_config, repository)},
  [C_STATE] = {"state", T_STR, false, NULL, offsetof(struct dk_config, state)},
  [C_PLUGINS] = {"plugins", T_STR, false, NULL, offsetof(struct dk_config, plugins)},
  [C_LOG_LEVEL] = {"log_level", T_STR, false, NULL, offsetof(struct dk_config, log_level)},
  [C_TIMEZONE] = {"timezone", T_STR, false, dk__check_timezone, offsetof(struct dk_config, timezone)},
  [C_HTTP] = {"http", T_MAP, false, NULL, NO_FIELD},
  [C_RECONCILE] = {"reconcile", T_MAP, false, NULL, NO_FIELD},
  [C_SOURCES] = {"sources", T_LIST, true, NULL, NO_FIELD},
  [C_SITE] = {"site", T_STR, false, NULL, offsetof(struct dk_config, site)},
  [C_REMOTES] = {"remotes", T_LIST, false, NULL, NO_FIELD},
  [C_STATUS] = {"status", T_MAP, false, NULL, NO_FIELD},
  [C_GROUP_COMMITS] = {"group_commits", T_INT, false, NULL, NO_FIELD},
};

enum { R_NAME, R_URL, R_EVERY, R_TIMEOUT, R_AUTH };

static const struct dk__field dk__remote_fields[] = {
  [R_NAME] = {"name", T_STR, true, NULL, offsetof(struct dk_remote_conf, name)},
  [R_URL] = {"url", T_STR, true, NULL, offsetof(struct dk_remote_conf, url)},
  [R_EVERY] = {"every", T_STR, false, dk__check_duration, NO_FIELD},
  [R_TIMEOUT] = {"timeout", T_STR, false, dk__check_duration, NO_FIELD},
  [R_AUTH] = {"auth", T_MAP, false, NULL, NO_FIELD},
};

enum { RA_BASIC_USER, RA_BASIC_PASSWORD_ENV, RA_BASIC_PASSWORD_FILE, RA_SSH_USER, RA_SSH_KEY, RA_SSH_PASS_ENV,
       RA_SSH_PASS_FILE };

/* The remote's auth mapping lands in a scratch struct, then on the remote. */
struct dk__rauth {
  char *basic_user, *basic_password_env, *basic_password_file, *ssh_user, *ssh_key, *ssh_pass_env, *ssh_pass_file;
};

static const struct dk__field dk__rauth_fields[] = {
  [RA_BASIC_USER] = {"basic_user", T_STR, false, NULL, offsetof(struct dk__rauth, basic_user)},
  [RA_BASIC_PASSWORD_ENV] = {"basic_password_env", T_STR, false, NULL, offsetof(struct dk__rauth, basic_password_env)},
  [RA_BASIC_PASSWORD_FILE] = {"basic_password_file", T_STR, false, NULL, offsetof(struct dk__rauth, basic_password_file)},
  [RA_SSH_USER] = {"ssh_user", T_STR, false, NULL, offsetof(struct dk__rauth, ssh_user)},
  [RA_SSH_KEY] = {"ssh_key", T_STR, false, NULL, offsetof(struct dk__rauth, ssh_key)},
  [RA_SSH_PASS_ENV] = {"ssh_passphrase_env", T_STR, false, NULL, offsetof(struct dk__rauth, ssh_pass_env)},
  [RA_SSH_PASS_FILE] = {"ssh_passphrase_file", T_STR, false, NULL, offsetof(struct dk__rauth, ssh_pass_file)},
};

enum { S_NAME, S_PLUGIN, S_CITY, S_URL, S_EVERY, S_CRON, S_AUTH, S_OPTIONS, S_TIMEOUT, S_MAX_BODY, S_RETRIES,
       S_RETRY_BASE, S_PROXY, S_CA_FILE, S_DELETE_AFTER, S_LIMITS, S_OTHER_ORIGIN };

static const struct dk__field dk__source_fields[] = {
  [S_NAME] = {"name", T_STR, true, NULL, offsetof(struct dk_source_conf, name)},
  [S_PLUGIN] = {"plugin", T_STR, true, NULL, offsetof(struct dk_source_conf, plugin)},
  [S_CITY] = {"city", T_STR, true, NULL, offsetof(struct dk_source_conf, city)},
  [S_URL] = {"url", T_STR, true, NULL, offsetof(struct dk_source_conf, url)},
  [S_EVERY] = {"every", T_STR, false, dk__check_duration, offsetof(struct dk_source_conf, every)},
  [S_CRON] = {"cron", T_STR, false, dk__check_cron, offsetof(struct dk_source_conf, cron)},
  [S_AUTH] = {"auth", T_MAP, false, NULL, NO_FIELD},
  [S_OPTIONS] = {"options", T_MAP, false, NULL, NO_FIELD},
  [S_TIMEOUT] = {"timeout", T_STR, false, dk__check_duration, NO_FIELD},
  [S_MAX_BODY] = {"max_body", T_INT | T_STR, false, dk__check_size, NO_FIELD},
  [S_RETRIES] = {"retries", T_INT, false, NULL, NO_FIELD},
  [S_RETRY_BASE] = {"retry_base", T_STR, false, dk__check_duration, NO_FIELD},
  [S_PROXY] = {"proxy", T_STR, false, NULL, offsetof(struct dk_source_conf, proxy)},
  [S_CA_FILE] = {"ca_file", T_STR, false, NULL, offsetof(struct dk_source_conf, ca_file)},
  [S_DELETE_AFTER] = {"delete_after", T_INT, false, NULL, NO_FIELD},
  [S_LIMITS] = {"limits", T_MAP, false, NULL, NO_FIELD},
  [S_OTHER_ORIGIN] = {"other_origin", T_STR, false, NULL, NO_FIELD},
};

enum { H_MAX_CONNECTIONS, H_MAX_PER_HOST, H_CONNECT_TIMEOUT, H_LOW_SPEED_TIME, H_PROXY, H_CA_FILE, H_PROXY_AUTH };

/* The http mapping's strings land in a scratch struct, then on each source. */
struct dk__http_strings {
  char *proxy, *ca_file;
};

static const struct dk__field dk__http_fields[] = {
  [H_MAX_CONNECTIONS] = {"max_connections", T_INT, false, NULL, NO_FIELD},
  [H_MAX_PER_HOST] = {"max_per_host", T_INT, false, NULL, NO_FIELD},
  [H_CONNECT_TIMEOUT] = {"connect_timeout", T_STR, false, dk__check_duration, NO_FIELD},
  [H_LOW_SPEED_TIME] = {"low_speed_time", T_STR, false, dk__check_duration, NO_FIELD},
  [H_PROXY] = {"proxy", T_STR, false, NULL, offsetof(struct dk__http_strings, proxy)},
  [H_CA_FILE] = {"ca_file", T_STR, false, NULL, offsetof(struct dk__http_strings, ca_file)},
  [H_PROXY_AUTH] = {"proxy_auth", T_MAP, false, NULL, NO_FIELD},
};

enum { A_BEARER_ENV, A_BEARER_FILE, A_BASIC_USER, A_BASIC_PASSWORD_ENV, A_BASIC_PASSWORD_FILE };

static const struct dk__field dk__auth_fields[] = {
  [A_BEARER_ENV] = {"bearer_env", T_STR, false, NULL, offsetof(struct dk_auth, bearer_env)},
  [A_BEARER_FILE] = {"bearer_file", T_STR, false, NULL, offsetof(struct dk_auth, bearer_file)},
  [A_BASIC_USER] = {"basic_user", T_STR, false, NULL, offsetof(struct dk_auth, basic_user)},
  [A_BASIC_PASSWORD_ENV] = {"basic_password_env", T_STR, false, NULL,
                            offsetof(struct dk_auth, basic_password_env)},
  [A_BASIC_PASSWORD_FILE] = {"basic_password_file", T_STR, false, NULL,
                             offsetof(struct dk_auth, basic_password_file)},
};

#define NFIELDS(t) (sizeof t / sizeof *t)
#define BIT(i) (1u << (i))

/* Check `obj` (at `pointer`) against a table: unknown keys, missing required
 * keys, types and values. Valid strings are copied into `target`. Returns the
 * mask of keys present with a valid value. */
/* Copy the fields of `obj` into `target`. The structure (types, required
 * and unknown keys) was already checked against schemas/config.schema.json;
 * what is left here are the rules a schema cannot state clearly, each with
 * its own message. Returns a bit set of the fields present and accepted. */
static unsigned dk__check_fields(struct dk__cctx *c, const json_t *obj, const char *pointer,
                                 const struct dk__field *fields, size_t nfields, void *target) {
  char ptr[512], msg[DK_ERRBUF_SIZE];
  unsigned ok = 0;
  for (size_t i = 0; i < nfields; i++) {
    const struct dk__field *f = &fields[i];
    json_t *v = json_object_get(obj, f->key);
    if (v == NULL || (dk__type_bit(v) & f->types) == 0) continue;
    dk__ptr(ptr, sizeof ptr, pointer, f->key);
    if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
      dk__errf(c, ptr, "a NUL character is not allowed here");
      continue;
    }
    const char *why = f->check ? f->check(v, msg, sizeof msg) : NULL;
    if (why != NULL) {
      dk__errf(c, ptr, "%s", why);
      continue;
    }
    ok |= BIT(i);
    if (f->off != NO_FIELD) *(char **)((char *)target + f->off) = dk__strdup(c, json_string_value(v));
  }
  return ok;
}

/* Absolute path of `p`: kept when absolute, else under c->basedir. */
static char *dk__resolve_path(struct dk__cctx *c, const char *p) {
  if (p == NULL) return NULL;
  if (p[0] == '/') return dk__strdup(c, p);
  while (p[0] == '.' && p[1] == '/') p += 2 + strspn(p + 2, "/");
  char *out = NULL;
  size_t n = strlen(c->basedir);
  const char *sep = n && c->basedir[n - 1] == '/' ? "" : "/";
  if (asprintf(&out, "%s%s%s", c->basedir, sep, p[0] ? p : ".") < 0) {
    c->oom = true;
    return NULL;
  }
  return out;
}

static void dk__resolve_in_place(struct dk__cctx *c, char **p) {
  if (*p == NULL) return;
  char *abs = dk__resolve_path(c, *p);
  free(*p);
  *p = abs;
}

static void dk__check_auth(struct dk__cctx *c, const json_t *obj, const char *spointer, const char *key,
                           struct dk_auth *auth) {
  char pointer[512];
  dk__ptr(pointer, sizeof pointer, spointer, key);
  size_t before = c->npending;
  unsigned ok = dk__check_fields(c, obj, pointer, dk__auth_fields, NFIELDS(dk__auth_fields), auth);
  dk__resolve_in_place(c, &auth->bearer_file);
  dk__resolve_in_place(c, &auth->basic_password_file);
  if (c->npending != before) return;
  bool bearer = ok & (BIT(A_BEARER_ENV) | BIT(A_BEARER_FILE));
  bool basic = ok & (BIT(A_BASIC_USER) | BIT(A_BASIC_PASSWORD_ENV) | BIT(A_BASIC_PASSWORD_FILE));
  unsigned both_bearer = BIT(A_BEARER_ENV) | BIT(A_BEARER_FILE);
  unsigned both_pass = BIT(A_BASIC_PASSWORD_ENV) | BIT(A_BASIC_PASSWORD_FILE);
  if (bearer && basic)
    dk__errf(c, pointer, "use either bearer_env/bearer_file or basic_user, not both");
  else if ((ok & both_bearer) == both_bearer)
    dk__errf(c, pointer, "give one of bearer_env and bearer_file, not both");
  else if ((ok & both_pass) == both_pass)
    dk__errf(c, pointer, "give one of basic_password_env and basic_password_file, not both");
  else if (basic && !(ok & BIT(A_BASIC_USER))) {
    char ptr[600];
    dk__ptr(ptr, sizeof ptr, pointer, "basic_user");
    dk__errf(c, ptr, "missing required key \"basic_user\"");
  }
  else if (basic && !(ok & both_pass))
    dk__errf(c, pointer, "basic_user needs basic_password_env or basic_password_file");
  else if (!bearer && !basic)
    dk__errf(c, pointer, "expected one of bearer_env, bearer_file or basic_user");
}

static json_t *dk__copy(struct dk__cctx *c, const json_t *v) {
  if (v == NULL) return NULL;
  json_t *copy = json_deep_copy(v);
  if (copy == NULL) c->oom = true;
  return copy;
}

static void dk__check_source(struct dk__cctx *c, const json_t *obj, size_t index) {
  struct dk_source_conf *s = &c->cfg->sources[index];
  char ptr[512];
  unsigned ok = dk__check_fields(c, obj, s->pointer, dk__source_fields, NFIELDS(dk__source_fields), s);
  if ((ok & BIT(S_EVERY)) && (ok & BIT(S_CRON))) {
    dk__ptr(ptr, sizeof ptr, s->pointer, "cron");
    dk__errf(c, ptr, "give either every or cron, not both");
  }
  if (s->name != NULL) {
    for (size_t i = 0; i < index; i++) {
      if (c->cfg->sources[i].name && strcmp(c->cfg->sources[i].name, s->name) == 0) {
        dk__ptr(ptr, sizeof ptr, s->pointer, "name");
        dk__errf(c, ptr, "duplicate source name \"%s\", already used by %s", s->name,
                 c->cfg->sources[i].pointer);
        break;
      }
    }
  }
  if (ok & BIT(S_TIMEOUT)) s->timeout_ms = dk__duration_ms(json_string_value(json_object_get(obj, "timeout")));
  if (ok & BIT(S_MAX_BODY)) s->max_body = dk__size_bytes(json_object_get(obj, "max_body"));
  if (ok & BIT(S_RETRIES)) s->retries = (int)json_integer_value(json_object_get(obj, "retries"));
  if (ok & BIT(S_DELETE_AFTER)) s->delete_after = (int)json_integer_value(json_object_get(obj, "delete_after"));
  if (ok & BIT(S_RETRY_BASE)) s->retry_base_ms = dk__duration_ms(json_string_value(json_object_get(obj, "retry_base")));
  if (ok & BIT(S_AUTH)) dk__check_auth(c, json_object_get(obj, "auth"), s->pointer, "auth", &s->auth);
  if (ok & BIT(S_LIMITS)) {
    const json_t *lim = json_object_get(obj, "limits"), *v;
    if ((v = json_object_get(lim, "depth")) != NULL) s->max_depth = (int)json_integer_value(v);
    if ((v = json_object_get(lim, "record_size")) != NULL) s->max_record = dk__size_bytes(v);
  }
  if (ok & BIT(S_OTHER_ORIGIN))
    s->other_origin_without_auth = strcmp(json_string_value(json_object_get(obj, "other_origin")), "without_auth") == 0;
  dk__resolve_in_place(c, &s->ca_file);
  json_t *options = ok & BIT(S_OPTIONS) ? dk__copy(c, json_object_get(obj, "options")) : NULL;
  if (options != NULL) {
    json_decref(s->options);
    s->options = options;
  }
}

/* The http mapping: limits into cfg->http; proxy and CA file become each
 * source's default (a source's own value wins). */
static void dk__check_http(struct dk__cctx *c, const json_t *obj) {
  struct dk_config *cfg = c->cfg;
  struct dk__http_strings hs = {0};
  unsigned ok = dk__check_fields(c, obj, "/http", dk__http_fields, NFIELDS(dk__http_fields), &hs);
  if (ok & BIT(H_MAX_CONNECTIONS)) cfg->http.max_connections = (long)json_integer_value(json_object_get(obj, "max_connections"));
  if (ok & BIT(H_MAX_PER_HOST)) cfg->http.max_per_host = (long)json_integer_value(json_object_get(obj, "max_per_host"));
  if (ok & BIT(H_CONNECT_TIMEOUT))
    cfg->http.connect_timeout_ms = dk__duration_ms(json_string_value(json_object_get(obj, "connect_timeout")));
  if (ok & BIT(H_LOW_SPEED_TIME)) {
    long ms = dk__duration_ms(json_string_value(json_object_get(obj, "low_speed_time")));
    cfg->http.low_speed_secs = ms < 1000 ? 1 : ms / 1000;
  }
  if (cfg->http.max_per_host > cfg->http.max_connections)
    dk__errf(c, "/http/max_per_host", "max_per_host (%ld) is more than max_connections (%ld)",
             cfg->http.max_per_host, cfg->http.max_connections);
  dk__resolve_in_place(c, &hs.ca_file);
  if (ok & BIT(H_PROXY_AUTH))
    dk__check_auth(c, json_object_get(obj, "proxy_auth"), "/http", "proxy_auth", &cfg->http.proxy_auth);
  for (size_t i = 0; i < cfg->nsources; i++) {
    struct dk_source_conf *s = &cfg->sources[i];
    if (s->proxy == NULL && hs.proxy) s->proxy = dk__strdup(c, hs.proxy);
    if (s->ca_file == NULL && hs.ca_file) s->ca_file = dk__strdup(c, hs.ca_file);
  }
  free(hs.proxy);
  free(hs.ca_file);
}

static void dk__check_sources(struct dk__cctx *c, const json_t *list) {
  struct dk_config *cfg = c->cfg;
  size_t n = json_array_size(list);
  if (n == 0) {
    dk__errf(c, "/sources", "expected at least one source");
    return;
  }
  if ((cfg->sources = calloc(n, sizeof *cfg->sources)) == NULL) {
    c->oom = true;
    return;
  }
  cfg->nsources = n;
  for (size_t i = 0; i < n; i++) {
    struct dk_source_conf *s = &cfg->sources[i];
    s->timeout_ms = DK__DEFAULT_TIMEOUT_MS;
    s->max_body = DK__DEFAULT_MAX_BODY;
    s->retries = 3;
    s->retry_base_ms = 1000;
    s->max_depth = DK_RECORD_DEFAULT_DEPTH;
    s->max_record = DK_RECORD_DEFAULT_SIZE;
    s->options = json_object();
    if (asprintf(&s->pointer, "/sources/%zu", i) < 0) s->pointer = NULL;
    if (s->options == NULL || s->pointer == NULL) {
      c->oom = true;
      return;
    }
    const json_t *item = json_array_get(list, i);
    if (!json_is_object(item))
      dk__errf(c, s->pointer, "expected a mapping, found %s", dk__type_name(item));
    else
      dk__check_source(c, item, i);
  }
}

static void dk__check_remote_auth(struct dk__cctx *c, const json_t *obj, struct dk_remote_conf *r) {
  char pointer[512], ptr[600];
  dk__ptr(pointer, sizeof pointer, r->pointer, "auth");
  struct dk__rauth a = {0};
  unsigned ok = dk__check_fields(c, obj, pointer, dk__rauth_fields, NFIELDS(dk__rauth_fields), &a);
  unsigned basic = BIT(RA_BASIC_USER) | BIT(RA_BASIC_PASSWORD_ENV) | BIT(RA_BASIC_PASSWORD_FILE);
  unsigned ssh = BIT(RA_SSH_USER) | BIT(RA_SSH_KEY) | BIT(RA_SSH_PASS_ENV) | BIT(RA_SSH_PASS_FILE);
  int is_ssh = r->url && strncmp(r->url, "ssh://", 6) == 0;
  if ((ok & basic) && (ok & ssh))
    dk__errf(c, pointer, "use either basic_user (HTTP) or ssh_key (SSH), not both");
  else if ((ok & basic) && is_ssh)
    dk__errf(c, pointer, "basic_user is for http(s):// remotes; an ssh:// remote takes ssh_key");
  else if ((ok & ssh) && !is_ssh)
    dk__errf(c, pointer, "ssh_key is for ssh:// remotes");
  else if ((ok & BIT(RA_BASIC_PASSWORD_ENV)) && (ok & BIT(RA_BASIC_PASSWORD_FILE)))
    dk__errf(c, pointer, "give one of basic_password_env and basic_password_file, not both");
  else if ((ok & BIT(RA_SSH_PASS_ENV)) && (ok & BIT(RA_SSH_PASS_FILE)))
    dk__errf(c, pointer, "give one of ssh_passphrase_env and ssh_passphrase_file, not both");
  else if ((ok & basic) && !(ok & BIT(RA_BASIC_USER))) {
    dk__ptr(ptr, sizeof ptr, pointer, "basic_user");
    dk__errf(c, ptr, "missing required key \"basic_user\"");
  } else if ((ok & BIT(RA_BASIC_USER)) && !(ok & (BIT(RA_BASIC_PASSWORD_ENV) | BIT(RA_BASIC_PASSWORD_FILE))))
    dk__errf(c, pointer, "basic_user needs basic_password_env or basic_password_file");
  else if ((ok & ssh) && !(ok & BIT(RA_SSH_KEY))) {
    dk__ptr(ptr, sizeof ptr, pointer, "ssh_key");
    dk__errf(c, ptr, "missing required key \"ssh_key\"");
  }
  r->auth.basic_user = a.basic_user;
  r->auth.basic_password_env = a.basic_password_env;
  r->auth.basic_password_file = a.basic_password_file;
  dk__resolve_in_place(c, &r->auth.basic_password_file);
  r->ssh_user = a.ssh_user;
  r->ssh_key = a.ssh_key;
  dk__resolve_in_place(c, &r->ssh_key);
  r->ssh_passphrase_env = a.ssh_pass_env;
  r->ssh_passphrase_file = a.ssh_pass_file;
  dk__resolve_in_place(c, &r->ssh_passphrase_file);
}

static void dk__check_remotes(struct dk__cctx *c, const json_t *list) {
  struct dk_config *cfg = c->cfg;
  size_t n = json_array_size(list);
  if (n == 0) return;
  if ((cfg->remotes = calloc(n, sizeof *cfg->remotes)) == NULL) {
    c->oom = true;
    return;
  }
  cfg->nremotes = n;
  for (size_t i = 0; i < n; i++) {
    struct dk_remote_conf *r = &cfg->remotes[i];
    r->push = r->after_commit = 1;
    r->every_ms = 10L * 60 * 1000;
    r->timeout_ms = 60L * 1000;
    if (asprintf(&r->pointer, "/remotes/%zu", i) < 0) {
      r->pointer = NULL;
      c->oom = true;
      return;
    }
    const json_t *obj = json_array_get(list, i), *v;
    unsigned ok = dk__check_fields(c, obj, r->pointer, dk__remote_fields, NFIELDS(dk__remote_fields), r);
    char ptr[600];
    if (ok & BIT(R_EVERY)) r->every_ms = dk__duration_ms(json_string_value(json_object_get(obj, "every")));
    if (ok & BIT(R_TIMEOUT)) r->timeout_ms = dk__duration_ms(json_string_value(json_object_get(obj, "timeout")));
    if ((v = json_object_get(obj, "push")) != NULL) r->push = json_is_true(v);
    if ((v = json_object_get(obj, "after_commit")) != NULL) r->after_commit = json_is_true(v);
    if (r->url && strchr(r->url, '@') && strncmp(r->url, "ssh://", 6) != 0) {
      /* user:password@ in a URL ends up in logs and state: auth it is */
      dk__ptr(ptr, sizeof ptr, r->pointer, "url");
      dk__errf(c, ptr, "no credentials in the URL: name them under auth (basic_password_env or _file)");
    }
    if (ok & BIT(R_AUTH)) dk__check_remote_auth(c, json_object_get(obj, "auth"), r);
    for (size_t k = 0; r->name && k < i; k++)
      if (cfg->remotes[k].name && strcmp(cfg->remotes[k].name, r->name) == 0) {
        dk__ptr(ptr, sizeof ptr, r->pointer, "name");
        dk__errf(c, ptr, "duplicate remote name \"%s\", already used by %s", r->name, cfg->remotes[k].pointer);
        break;
      }
  }
  if (cfg->site == NULL) dk__errf(c, "/remotes", "remotes need site: this instance's name among the sites (jinan, linyi)");
}

const char *dk_config_parse_listen(const char *v, struct dk_status_conf *st) {
  const char *colon = NULL, *host = v;
  size_t hlen;
  if (v[0] == '[') {
    const char *end = strchr(v, ']');
    if (end == NULL || end[1] != ':') return "expected [ADDRESS]:PORT, such as [::1]:8787";
    host = v + 1;
    hlen = (size_t)(end - host);
    colon = end + 1;
  } else {
    colon = strrchr(v, ':');
    if (colon == NULL || memchr(v, ':', (size_t)(colon - v)) != NULL)
      return "expected ADDRESS:PORT, such as 127.0.0.1:8787 (an IPv6 address in brackets: [::1]:8787)";
    hlen = (size_t)(colon - v);
  }
  char *endp;
  long port = strtol(colon + 1, &endp, 10);
  if (hlen == 0) return "no address before the port: such as 127.0.0.1:8787";
  if (colon[1] < '0' || colon[1] > '9' || *endp != '\0' || port < 0 || port > 65535)
    return "the port must be a number from 0 to 65535";
  st->host = dk_strndup(host, hlen);
  st->port = (int)port;
  struct in_addr a4;
  struct in6_addr a6;
  st->loopback = strcmp(st->host, "localhost") == 0 ||
                 (inet_pton(AF_INET, st->host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
                 (inet_pton(AF_INET6, st->host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
  return NULL;
}

/* `status:` (the keys' types were checked by the schema). */
static void dk__check_status(struct dk__cctx *c, const json_t *obj) {
  struct dk_status_conf *st = &c->cfg->status;
  const json_t *v = json_object_get(obj, "listen");
  st->listen = !(json_is_false(v) || (json_is_string(v) && strcmp(json_string_value(v), "off") == 0));
  if (st->listen && json_is_string(v)) {
    const char *why = dk_config_parse_listen(json_string_value(v), st);
    if (why) dk__errf(c, "/status/listen", "%s, found \"%s\"", why, json_string_value(v));
  }
  if (st->listen && st->host == NULL && !c->oom) {
    st->host = dk__strdup(c, "127.0.0.1");
    st->loopback = 1;
  }
  if ((v = json_object_get(obj, "token_env")) != NULL) st->token_env = dk__strdup(c, json_string_value(v));
  if ((v = json_object_get(obj, "token_file")) != NULL) st->token_file = dk__resolve_path(c, json_string_value(v));
  if (st->token_env && st->token_file)
    dk__errf(c, "/status/token_file", "give token_env or token_file, not both");
  if (st->listen && st->host && !st->loopback && !st->token_env && !st->token_file)
    dk__errf(c, "/status/listen",
             "listening on %s (not loopback) needs a token: set status.token_env or status.token_file, "
             "and send it as \"Authorization: Bearer TOKEN\"", st->host);
  const json_t *h = json_object_get(obj, "health");
  if ((v = json_object_get(h, "conflict_max_age")) != NULL)
    st->conflict_max_age_ms = dk__duration_ms(json_string_value(v));
  if ((v = json_object_get(h, "conflict_max_open")) != NULL) st->conflict_max_open = (long)json_integer_value(v);
  if ((v = json_object_get(h, "remote_down_after")) != NULL)
    st->remote_down_after_ms = dk__duration_ms(json_string_value(v));
  if ((v = json_object_get(h, "valid_share_drop")) != NULL) st->valid_share_drop = json_number_value(v);
}

static void dk__check_config(struct dk__cctx *c) {
  struct dk_config *cfg = c->cfg;
  const json_t *root = cfg->doc.root;
  if (!json_is_object(root)) {
    dk__errf(c, "", "expected a mapping, found %s", dk__type_name(root));
    return;
  }
  unsigned ok = dk__check_fields(c, root, "", dk__top_fields, NFIELDS(dk__top_fields), cfg);
  dk__resolve_in_place(c, &cfg->repository);
  dk__resolve_in_place(c, &cfg->plugins);
  if (ok & BIT(C_STATE))
    dk__resolve_in_place(c, &cfg->state);
  else if (!json_object_get(root, "state"))
    cfg->state = dk__resolve_path(c, "state");
  if (ok & BIT(C_RECONCILE)) {
    cfg->reconcile = dk__copy(c, json_object_get(root, "reconcile"));
    struct dk_reconcile *rc = NULL;
    char err[DK_ERRBUF_SIZE];
    if (dk_reconcile_new(cfg->reconcile, &rc, err) != 0) dk__errf(c, "/reconcile", "%s", err);
    dk_reconcile_free(rc);
  }
  if (ok & BIT(C_SOURCES)) dk__check_sources(c, json_object_get(root, "sources"));
  if (ok & BIT(C_HTTP)) dk__check_http(c, json_object_get(root, "http"));
  if (ok & BIT(C_REMOTES)) dk__check_remotes(c, json_object_get(root, "remotes"));
  if (ok & BIT(C_STATUS)) dk__check_status(c, json_object_get(root, "status"));
  if (ok & BIT(C_GROUP_COMMITS)) {
    json_int_t g = json_integer_value(json_object_get(root, "group_commits"));
    if (g < 0 || g > 1000000) dk__errf(c, "/group_commits", "group_commits must be from 0 (never) to 1000000, not %lld",
                                       (long long)g);
    else cfg->group_commits = (long)g;
  }
  for (size_t i = 0; i < cfg->nsources; i++) {
    const char *ca = cfg->sources[i].ca_file;
    if (ca && access(ca, R_OK) != 0) {
      char ptr[600];
      int own = json_object_get(json_array_get(json_object_get(root, "sources"), i), "ca_file") != NULL;
      if (own) dk__ptr(ptr, sizeof ptr, cfg->sources[i].pointer, "ca_file");
      else snprintf(ptr, sizeof ptr, "/http/ca_file");
      dk__errf(c, ptr, "cannot read CA file %s: %s", ca, strerror(errno));
      if (!own) break;
    }
  }
  if (cfg->timezone == NULL) cfg->timezone = dk__strdup(c, DK__DEFAULT_TZ);
  /* a priority list naming no configured source is a typo waiting to bite */
  const json_t *prio = json_object_get(cfg->reconcile, "priority"), *name;
  size_t i;
  json_array_foreach(prio, i, name) {
    if (json_is_string(name) && dk_config_source(cfg, json_string_value(name)) == NULL) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/reconcile/priority/%zu", i);
      dk__errf(c, ptr, "no source named \"%s\" in sources", json_string_value(name));
    }
  }
}

/* Absolute form of `dir` (NULL: the working directory). */
static char *dk__absdir(const char *dir) {
  if (dir != NULL && dir[0] == '/') return strdup(dir);
  char *cwd = getcwd(NULL, 0);
  if (cwd == NULL || dir == NULL || strcmp(dir, ".") == 0) return cwd;
  char *out = NULL;
  if (asprintf(&out, "%s/%s", cwd, dir) < 0) out = NULL;
  free(cwd);
  return out;
}

/* Check the document against schemas/config.schema.json; each error is
 * reported at the line and column of the value it is about. Returns the
 * number of errors. */
static size_t dk__check_schema(struct dk__cctx *c) {
  char err[DK_ERRBUF_SIZE];
  const struct dk_schema *schema = dk_schemas_config(err);
  if (schema == NULL) {
    dk__errf(c, "", "built-in configuration schema: %s", err);
    return 1;
  }
  struct dk_vresult res = {0};
  int rc = dk_schema_validate(schema, c->cfg->doc.root, &res);
  size_t n = res.nerrors;
  for (size_t i = 0; i < res.nerrors; i++)
    dk__errf(c, res.errors[i].instance_location, "%s", res.errors[i].message);
  if (rc < 0 && n == 0) {
    dk__errf(c, "", "cannot be checked: %s", dk_strerror(rc));
    n = 1;
  }
  dk_vresult_free(&res);
  return n;
}

static int dk__finish(struct dk__cctx *c, int rc) {
  if (rc == 0) {
    if (dk__check_schema(c) == 0) dk__check_config(c);
  } else {
    dk__add_error(c, c->cfg->doc.err[0] ? c->cfg->doc.err : "out of memory");
  }
  dk__flush_errors(c);
  free(c->basedir);
  if (c->oom) return DK_ENOMEM;
  if (rc == 0 && json_array_size(c->cfg->errors) > 0) rc = DK_ECONFIG;
  return rc;
}

static struct dk_config *dk__config_new(void) {
  struct dk_config *cfg = calloc(1, sizeof *cfg);
  if (cfg == NULL) return NULL;
  cfg->group_commits = 8;
  cfg->http = (struct dk_http_conf){.max_connections = 16, .max_per_host = 4, .connect_timeout_ms = 10000,
                                    .low_speed_secs = 30};
  cfg->status = (struct dk_status_conf){.port = 8787, .conflict_max_age_ms = 7L * 86400 * 1000, .conflict_max_open = 50,
                                        .remote_down_after_ms = 3600L * 1000, .valid_share_drop = 0.2};
  if ((cfg->errors = json_array()) == NULL) {
    free(cfg);
    return NULL;
  }
  return cfg;
}

int dk_config_load(const char *path, struct dk_config **out) {
  struct dk_config *cfg = *out = dk__config_new();
  if (cfg == NULL) return DK_ENOMEM;
  struct dk__cctx c = {.cfg = cfg};
  if ((cfg->path = strdup(path)) == NULL) c.oom = true;
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    c.basedir = dk__absdir(NULL);
  } else {
    char *dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    c.basedir = dir ? dk__absdir(dir) : NULL;
    free(dir);
  }
  if (c.basedir == NULL) c.oom = true;
  int rc = dk_yamldoc_load_file(&cfg->doc, path);
  if (c.oom && rc == 0) rc = DK_ENOMEM;
  return dk__finish(&c, rc);
}

int dk_config_load_string(const char *name, const char *text, size_t len, const char *basedir,
                          struct dk_config **out) {
  struct dk_config *cfg = *out = dk__config_new();
  if (cfg == NULL) return DK_ENOMEM;
  struct dk__cctx c = {.cfg = cfg};
  if ((c.basedir = dk__absdir(basedir)) == NULL) c.oom = true;
  int rc = dk_yamldoc_load_string(&cfg->doc, name, text, len);
  if (c.oom && rc == 0) rc = DK_ENOMEM;
  return dk__finish(&c, rc);
}

static void dk__auth_free(struct dk_auth *a) {
  free(a->bearer_env);
  free(a->bearer_file);
  free(a->basic_user);
  free(a->basic_password_env);
  free(a->basic_password_file);
}

void dk_config_free(struct dk_config *cfg) {
  if (cfg == NULL) return;
  for (size_t i = 0; i < cfg->nsources; i++) {
    struct dk_source_conf *s = &cfg->sources[i];
    free(s->name);
    free(s->plugin);
    free(s->city);
    free(s->url);
    free(s->every);
    free(s->cron);
    json_decref(s->options);
    dk__auth_free(&s->auth);
    free(s->proxy);
    free(s->ca_file);
    free(s->pointer);
  }
  free(cfg->sources);
  free(cfg->status.host);
  free(cfg->status.token_env);
  free(cfg->status.token_file);
  for (size_t i = 0; i < cfg->nremotes; i++) {
    struct dk_remote_conf *r = &cfg->remotes[i];
    free(r->name);
    free(r->url);
    dk__auth_free(&r->auth);
    free(r->ssh_user);
    free(r->ssh_key);
    free(r->ssh_passphrase_env);
    free(r->ssh_passphrase_file);
    free(r->pointer);
  }
  free(cfg->remotes);
  free(cfg->site);
  free(cfg->path);
  free(cfg->repository);
  free(cfg->state);
  free(cfg->plugins);
  free(cfg->log_level);
  free(cfg->timezone);
  dk__auth_free(&cfg->http.proxy_auth);
  json_decref(cfg->reconcile);
  json_decref(cfg->errors);
  dk_yamldoc_free(&cfg->doc);
  free(cfg);
}

void dk_config_apply_timezone(const struct dk_config *cfg) {
  setenv("TZ", cfg->timezone ? cfg->timezone : DK__DEFAULT_TZ, 1);
  tzset();
}

const struct dk_remote_conf *dk_config_remote(const struct dk_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->nremotes; i++)
    if (strcmp(cfg->remotes[i].name, name) == 0) return &cfg->remotes[i];
  return NULL;
}

const struct dk_source_conf *dk_config_source(const struct dk_config *cfg, const char *name) {
  for (size_t i = 0; cfg && i < cfg->nsources; i++)
    if (cfg->sources[i].name && strcmp(cfg->sources[i].name, name) == 0) return &cfg->sources[i];
  return NULL;
}

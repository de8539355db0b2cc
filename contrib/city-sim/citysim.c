/* city-sim: the simulated sources' handlers, on duikou's HTTP server
 * (core/httpd.h: connections, parsing, limits, keep-alive, pipelining in
 * order even when the "slow" misbehaviour answers from a timer). */
#include "citysim.h"
#include "story.h"
#include "citysim_data.h"
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <iconv.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CSIM_MAX_HEAD 16384          /* request line and headers, bytes */
#define CSIM_MAX_HEADERS 64
#define CSIM_MAX_BODY (1u << 20)     /* request bodies are read and dropped */
#define CSIM_MAX_FILE (64u << 20)
#define CSIM_IDLE_MS 30000
/* The embedded 2024 plan was published on 2024-04-24, the 2023 one on
 * 2023-06-01 (00:00 UTC+8). */
#define CSIM_DATA_MTIME ((time_t)1713888000)
#define CSIM_PLAN_2023_MTIME ((time_t)1685548800)
#define CSIM_DEFAULT_DATE "2024-06-30"
#define CSIM_DEFAULT_TOKEN "jinan-demo-token"
#define CSIM_MIN_YEAR 2000           /* keeps the CSV (a row per month) bounded */
#define CSIM_MAX_YEAR 2099
#define CSIM_MAX_RULES 32
#define CSIM_PAD_CHUNK 65536         /* oversize padding is written from this */
#define CSIM_MAX_PAD (1ul << 30)
#define CSIM_MAX_DELAY_MS 600000
#define CSIM_WHY 160                 /* room for a parameter error message */

struct buf {
  char *p;
  size_t len, cap;
};

enum mb_mode {
  MB_NONE,
  MB_STATUS,
  MB_SLOW,
  MB_TRUNCATE,
  MB_WRONG_TYPE,
  MB_INVALID_JSON,
  MB_INVALID_UTF8,
  MB_OVERSIZE,
  MB_RESET,
};

static const char *const mb_names[] = {"none", "status", "slow", "truncate", "wrong-type",
                                       "invalid-json", "invalid-utf8", "oversize", "reset"};

/* One misbehaviour, with every parameter resolved to its default. */
struct mb_spec {
  int mode;            /* enum mb_mode */
  int status;          /* status: the answer */
  int retry_after;     /* seconds, or -1: no Retry-After */
  int delay_ms;        /* slow */
  size_t bytes;        /* oversize: padding after the body */
  long count;          /* requests left, or -1: unlimited */
};

/* A misbehaviour set on a path with POST /_sim/misbehave or csim_misbehave. */
struct mb_rule {
  int used;
  char path[256];
  char query[128];     /* only requests whose raw query contains this; "" = all */
  struct mb_spec spec;
};

/* The request being answered: httpd's, and what the routes add. */
struct request {
  struct dk_httpd_req *h;
  int method;          /* enum http_method */
  const char *path;    /* percent-decoded path */
  const char *query;   /* raw query (no '?'), or NULL */
  const struct route *rt; /* the route answering, once dispatched */
  struct mb_spec mb;   /* this request's misbehaviour; respond() applies body modes */
};

/* A request's room (httpd's req->data): what every handler is handed. */
struct conn {
  struct csim *sim;
  struct request req;
};

#define CSIM_MAX_FLAKY 64

struct csim {
  /* Misbehaviour on request: "?fail=N&status=S&retry_after=R" makes the first
   * N requests of that path and query answer S (default 503), with a
   * Retry-After of R seconds when given; "?misbehave=MODE&count=N" counts
   * here too. */
  struct {
    char key[256];
    int served;
  } flaky[CSIM_MAX_FLAKY];
  struct mb_rule rules[CSIM_MAX_RULES];
  struct dk_httpd *httpd;
  char *host, *data_dir, *token;
  int quiet, port;
  int story;           /* the demo's story is on (story.h) */
  time_t started;
  long today;          /* simulated date, days since 1970-01-01 */
  char today_str[16];  /* the same as "YYYY-MM-DD" */
  json_t *data;        /* the embedded records, parsed once */
  json_t **tasks;      /* its task records, by number (borrowed from data) */
  size_t ntasks;
  void (*done)(void *arg);
  void *done_arg;
  char pad[2][CSIM_PAD_CHUNK]; /* oversize padding: '\n' and ' ' */
};

struct route;
typedef void (*csim_handler)(struct conn *c, const struct route *rt);

#define M(m) (1u << (m))
#define M_READ (M(HTTP_GET) | M(HTTP_HEAD))
#define M_SIM (M_READ | M(HTTP_POST))

struct route {
  const char *path;    /* exact match */
  unsigned methods;    /* M() mask */
  csim_handler fn;
  const unsigned char *data; /* h_blob: the body, its length, type and date */
  const size_t *len;
  const char *ctype;
  time_t mtime;
};

static void h_healthz(struct conn *c, const struct route *rt);
static void h_blob(struct conn *c, const struct route *rt);
static void h_file(struct conn *c, const struct route *rt);
static void h_jinan_tasks(struct conn *c, const struct route *rt);
static void h_jinan_progress(struct conn *c, const struct route *rt);
static void jinan_page(struct conn *c, json_t *items, long page, long per, size_t total,
                       const char *next);
static void h_linyi_progress(struct conn *c, const struct route *rt);
static void h_linyi_ledger(struct conn *c, const struct route *rt);
static void h_clock(struct conn *c, const struct route *rt);
static void h_misbehave(struct conn *c, const struct route *rt);

/* ---- small helpers ---------------------------------------------------- */

/* Append n bytes, keeping b NUL-terminated. Returns 0 or -1 (no memory). */
static int buf_add(struct buf *b, const char *s, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

/* Append a C string. Returns 0 or -1. */
static int buf_str(struct buf *b, const char *s)
{
  return buf_add(b, s, strlen(s));
}

/* Append printf output of under 512 bytes. Returns 0 or -1. */
static int buf_printf(struct buf *b, const char *fmt, ...)
{
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp)
    return -1;
  return buf_add(b, tmp, (size_t)n);
}

/* Free the bytes and leave b empty, ready for reuse. */
static void buf_free(struct buf *b)
{
  free(b->p);
  memset(b, 0, sizeof *b);
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};


/* Parse an IMF-fixdate into *out. Returns 0 or -1. */
static int parse_http_date(const char *s, time_t *out)
{
  char wd[4], mon[4];
  struct tm tm = {0};
  if (sscanf(s, "%3s, %d %3s %d %d:%d:%d GMT", wd, &tm.tm_mday, mon, &tm.tm_year,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 7)
    return -1;
  tm.tm_mon = -1;
  for (int i = 0; i < 12; i++)
    if (strcmp(mon, months[i]) == 0)
      tm.tm_mon = i;
  if (tm.tm_mon < 0)
    return -1;
  tm.tm_year -= 1900;
  *out = timegm(&tm);
  return 0;
}

/* FNV-1a, 64 bits: the strong ETag of a body. */
static uint64_t fnv1a(const void *data, size_t len)
{
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 0x100000001b3u;
  return h;
}

/* The value of request header `name`, trailing blanks trimmed, or NULL. */
static const char *req_header(struct request *r, const char *name)
{
  return dk_httpd_header(r->h, name);
}

/* ---- calendar --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); m is 1-12. */
static long days_from_civil(long y, long m, long d)
{
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  long yoe = y - era * 400;
  long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

long csim__days(long y, long m, long d)
{
  return days_from_civil(y, m, d);
}

/* The inverse of days_from_civil. */
static void civil_from_days(long z, int *y, int *m, int *d)
{
  z += 719468;
  long era = (z >= 0 ? z : z - 146096) / 146097;
  long doe = z - era * 146097;
  long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* 1 when `day` lies within CSIM_MIN_YEAR..CSIM_MAX_YEAR. */
static int day_in_range(long day)
{
  return day >= days_from_civil(CSIM_MIN_YEAR, 1, 1) &&
         day <= days_from_civil(CSIM_MAX_YEAR, 12, 31);
}

/* Parse exactly "YYYY-MM-DD", a real date within CSIM_MIN/MAX_YEAR, into
 * days since 1970-01-01. Returns 0 or -1. */
static int parse_day(const char *s, long *out)
{
  if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
    return -1;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
      return -1;
  int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
  if (m < 1 || m > 12 || d < 1 || d > 31)
    return -1;
  long day = days_from_civil(y, m, d);
  int y2, m2, d2;
  civil_from_days(day, &y2, &m2, &d2);
  if (y2 != y || m2 != m || d2 != d || !day_in_range(day)) /* e.g. 2023-02-30 */
    return -1;
  *out = day;
  return 0;
}

/* "YYYY-MM-DD" of a day number. */
static void format_day(long day, char out[16])
{
  int y, m, d;
  civil_from_days(day, &y, &m, &d);
  snprintf(out, 16, "%04d-%02d-%02d", y, m, d);
}

/* Set the simulated date (today and today_str together). */
static void set_today(struct csim *sim, long day)
{
  sim->today = day;
  format_day(day, sim->today_str);
}

/* The instant `hour`:00 in UTC+8 (both cities' time) on `day`. */
static time_t day_time(long day, int hour)
{
  return (time_t)day * 86400 + (hour - 8) * 3600;
}

/* ---- query strings ---------------------------------------------------- */

struct qparam {
  char key[64];
  char val[512];
  int bad;             /* malformed escape, NUL or too long */
};

/* The value of a hex digit, or -1. */
static int hexval(char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Percent-decode s[0..n) into out (size outsz); with `form`, '+' is a space
 * (query strings). Returns 0, or -1 when malformed, too long or holding a
 * NUL. */
static int url_decode(const char *s, size_t n, char *out, size_t outsz, int form)
{
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '%') {
      int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return -1;
      ch = (char)(hi * 16 + lo);
      i += 2;
    } else if (ch == '+' && form) {
      ch = ' ';
    }
    if (ch == '\0' || o + 1 >= outsz)
      return -1;
    out[o++] = ch;
  }
  out[o] = '\0';
  return 0;
}

/* Read the "key=value" at *pp (inside a query string) into *qp and move *pp
 * past it. Returns 0 when no parameter is left. */
static int query_next(const char **pp, struct qparam *qp)
{
  const char *p = *pp;
  while (p && *p == '&')
    p++;
  if (!p || !*p)
    return 0;
  size_t n = strcspn(p, "&");
  const char *eq = memchr(p, '=', n);
  size_t kn = eq ? (size_t)(eq - p) : n;
  qp->bad = url_decode(p, kn, qp->key, sizeof qp->key, 1) < 0;
  if (eq)
    qp->bad |= url_decode(eq + 1, n - kn - 1, qp->val, sizeof qp->val, 1) < 0;
  else
    qp->val[0] = '\0';
  *pp = p + n;
  return 1;
}

/* The decoded value of the first parameter `name` of query `q` (may be
 * NULL), copied into out. Returns 1 when found, 0 when absent, -1 when
 * malformed or longer than out. */
static int query_get(const char *q, const char *name, char *out, size_t outsz)
{
  struct qparam qp;
  while (query_next(&q, &qp)) {
    if (strcmp(qp.key, name) != 0)
      continue;
    if (qp.bad || strlen(qp.val) >= outsz)
      return -1;
    memcpy(out, qp.val, strlen(qp.val) + 1);
    return 1;
  }
  return 0;
}

/* Parse a whole decimal integer within [lo, hi]. Returns 0 or -1. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
  if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
    return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

/* Integer parameter `name` of `q` within [lo, hi] into *out, left alone
 * when absent. Returns 0, or -1 when present but not such a number. */
static int query_long(const char *q, const char *name, long lo, long hi, long *out)
{
  char v[32];
  int found = query_get(q, name, v, sizeof v);
  return found == 0 ? 0 : found < 0 ? -1 : parse_long(v, lo, hi, out);
}

/* ---- the progress model ----------------------------------------------- */

/* Where a task stands on a given day; every route uses task_progress(). */
struct progress {
  long start, end;     /* days: work starts, work is due (start + duration) */
  int percent;         /* 0-100, in steps of 5 */
  const char *status;  /* not_started | in_progress | completed | delayed */
  long modified;       /* day of the last change, or -1: the plan's publication */
};

/* Task number `n` as of `day`: start s = 2024-05-01 + (n*37 % 60) days,
 * duration d = 90 + (n*53 % 150) days, percent = floor((day-s)/d*100/5)*5
 * clamped to 0-100; tasks n % 10 == 3 under 80% from 2024-09-01 are delayed;
 * modified = the later of s and s+d that has been reached. */
static struct progress task_progress(long n, long day)
{
  struct progress p;
  p.start = days_from_civil(2024, 5, 1) + (n * 37) % 60;
  long d = 90 + (n * 53) % 150;
  p.end = p.start + d;
  /* Integer arithmetic: (day-s)/d*100/5 == (day-s)*20/d exactly. */
  long pct = day <= p.start ? 0 : (day - p.start) * 20 / d * 5;
  p.percent = pct > 100 ? 100 : (int)pct;
  p.status = p.percent == 0 ? "not_started" : p.percent == 100 ? "completed" : "in_progress";
  if (n % 10 == 3 && p.percent < 80 && day >= days_from_civil(2024, 9, 1))
    p.status = "delayed";
  p.modified = p.end <= day ? p.end : p.start <= day ? p.start : -1;
  return p;
}

/* Task `n` on `day` as `view`'s system reports it: the model, with the
 * demo's story when it is on; *text_add is what the story adds to the
 * task's text (NULL: nothing). */
static struct progress story_progress(const struct csim *sim, enum csim_view view, long n, long day,
                                      const char **text_add)
{
  struct progress p = task_progress(n, day);
  struct csim_story st;
  *text_add = NULL;
  if (!sim->story || !csim_story_task(view, n, day, &st))
    return p;
  if (st.status) {
    p.status = st.status;
    p.modified = st.modified;
  }
  if (st.percent >= 0)
    p.percent = st.percent;
  *text_add = st.text_add;
  return p;
}

/* The task's text with what the story adds, or NULL when it has no text. */
static json_t *story_text(json_t *rec, const char *text_add)
{
  json_t *v = json_object_get(rec, "text");
  if (!v || !text_add)
    return v ? json_incref(v) : NULL;
  return json_sprintf("%s%s", json_string_value(v), text_add);
}

/* Jinan's "modified": 09:00 UTC+8 on the day of the last change. */
static void format_modified(long day, char out[32])
{
  if (day < 0) {
    snprintf(out, 32, "2024-04-24T09:00:00+08:00");
    return;
  }
  char d[16];
  format_day(day, d);
  snprintf(out, 32, "%sT09:00:00+08:00", d);
}

/* A task record's "number" (0 when missing). */
static long task_number(json_t *rec)
{
  return (long)json_integer_value(json_object_get(rec, "number"));
}

/* ---- misbehaviour ----------------------------------------------------- */

/* How mb_parse treats keys it does not know. */
enum mb_strict {
  MB_LENIENT,          /* ?misbehave= on a route: the others are the route's own */
  MB_STRICT,           /* csim_misbehave: an error (a typo would do nothing) */
  MB_STRICT_PATH,      /* POST /_sim/misbehave: an error, but for path= */
};

/* Fill *spec from the parameters of query `q`: the mode under `mode_key`,
 * then count, query, status, retry_after, delay_ms and bytes; `strict` says
 * what other keys are (enum mb_strict). `filter` (size 128)
 * gets query=, or "". Returns 0, or -1 with the reason in `why` (size
 * CSIM_WHY). */
static int mb_parse(const char *q, const char *mode_key, enum mb_strict strict,
                    struct mb_spec *spec, char *filter, char *why)
{
  struct qparam qp;
  *spec = (struct mb_spec){.mode = -1, .status = 500, .retry_after = -1, .delay_ms = 5000,
                           .bytes = 8u << 20, .count = -1};
  filter[0] = '\0';
  while (query_next(&q, &qp)) {
    long v;
    int is_mode = strcmp(qp.key, mode_key) == 0;
    if (qp.bad && (strict || is_mode)) {
      snprintf(why, CSIM_WHY, "malformed parameter");
      return -1;
    }
    if (is_mode) {
      for (size_t i = 0; i < sizeof mb_names / sizeof mb_names[0]; i++)
        if (strcmp(qp.val, mb_names[i]) == 0)
          spec->mode = (int)i;
      if (spec->mode < 0) {
        snprintf(why, CSIM_WHY, "unknown mode (none, status, slow, truncate, wrong-type, "
                                "invalid-json, invalid-utf8, oversize, reset)");
        return -1;
      }
    } else if (strcmp(qp.key, "count") == 0) {
      if (parse_long(qp.val, 1, 1000000000, &spec->count) < 0) {
        snprintf(why, CSIM_WHY, "count: a whole number from 1");
        return -1;
      }
    } else if (strcmp(qp.key, "query") == 0) {
      if (strlen(qp.val) >= 128) {
        snprintf(why, CSIM_WHY, "query: at most 127 bytes");
        return -1;
      }
      strcpy(filter, qp.val);
    } else if (strcmp(qp.key, "status") == 0) {
      if (parse_long(qp.val, 200, 599, &v) < 0) {
        snprintf(why, CSIM_WHY, "status: 200-599");
        return -1;
      }
      spec->status = (int)v;
    } else if (strcmp(qp.key, "retry_after") == 0) {
      if (parse_long(qp.val, 0, 86400, &v) < 0) {
        snprintf(why, CSIM_WHY, "retry_after: 0-86400 seconds");
        return -1;
      }
      spec->retry_after = (int)v;
    } else if (strcmp(qp.key, "delay_ms") == 0) {
      if (parse_long(qp.val, 0, CSIM_MAX_DELAY_MS, &v) < 0) {
        snprintf(why, CSIM_WHY, "delay_ms: 0-600000");
        return -1;
      }
      spec->delay_ms = (int)v;
    } else if (strcmp(qp.key, "bytes") == 0) {
      if (parse_long(qp.val, 0, (long)CSIM_MAX_PAD, &v) < 0) {
        snprintf(why, CSIM_WHY, "bytes: 0-1073741824");
        return -1;
      }
      spec->bytes = (size_t)v;
    } else if (strict == MB_STRICT || (strict == MB_STRICT_PATH && strcmp(qp.key, "path"))) {
      snprintf(why, CSIM_WHY, "unknown parameter: %s", qp.key);
      return -1;
    }
  }
  if (spec->mode < 0) {
    snprintf(why, CSIM_WHY, "mode is missing");
    return -1;
  }
  return 0;
}

/* Set the rule for (path, filter), replacing one with the same pair; mode
 * none drops every rule of the path. Returns 0, UV_EINVAL (path not
 * absolute, too long or with a '?') or UV_ENOSPC. */
static int mb_set(struct csim *sim, const char *path, const char *filter,
                  const struct mb_spec *spec)
{
  /* Rules match the path alone: a '?' could never match. */
  if (path[0] != '/' || strchr(path, '?') || strlen(path) >= sizeof sim->rules[0].path)
    return UV_EINVAL;
  struct mb_rule *slot = NULL;
  for (int i = 0; i < CSIM_MAX_RULES; i++) {
    struct mb_rule *rl = &sim->rules[i];
    if (rl->used && strcmp(rl->path, path) == 0 &&
        (spec->mode == MB_NONE || strcmp(rl->query, filter) == 0))
      rl->used = 0;
    if (!rl->used && !slot)
      slot = rl;
  }
  if (spec->mode == MB_NONE)
    return 0;
  if (!slot)
    return UV_ENOSPC;
  slot->used = 1;
  snprintf(slot->path, sizeof slot->path, "%s", path);
  snprintf(slot->query, sizeof slot->query, "%s", filter);
  slot->spec = *spec;
  return 0;
}

/* The rules as JSON: {"misbehaviours":[{path, query, mode, remaining, ...}]}.
 * Returns a malloc'ed string or NULL. */
static char *mb_list(const struct csim *sim)
{
  json_t *list = json_array();
  for (int i = 0; list && i < CSIM_MAX_RULES; i++) {
    const struct mb_rule *rl = &sim->rules[i];
    if (!rl->used)
      continue;
    const struct mb_spec *s = &rl->spec;
    json_t *query = rl->query[0] ? json_string(rl->query) : json_null();
    json_t *left = s->count < 0 ? json_null() : json_integer(s->count);
    json_t *ra = s->retry_after < 0 ? json_null() : json_integer(s->retry_after);
    json_array_append_new(list, json_pack("{s:s,s:o,s:s,s:o,s:i,s:o,s:i,s:I}", "path", rl->path,
                                          "query", query, "mode", mb_names[s->mode], "remaining",
                                          left, "status", s->status, "retry_after", ra,
                                          "delay_ms", s->delay_ms, "bytes", (json_int_t)s->bytes));
  }
  json_t *root = list ? json_pack("{s:o}", "misbehaviours", list) : NULL;
  char *out = root ? json_dumps(root, JSON_COMPACT) : NULL;
  json_decref(root);
  return out;
}

/* Count one more request of r's path and query; returns 1 while fewer than
 * `limit` have been counted, else 0 (or when the table is full). */
static int flaky_take(struct csim *sim, const struct request *r, long limit)
{
  char key[256];
  snprintf(key, sizeof key, "%s?%s", r->path, r->query);
  int slot = -1;
  for (int i = 0; i < CSIM_MAX_FLAKY && slot < 0; i++)
    if (sim->flaky[i].key[0] == '\0' || strcmp(sim->flaky[i].key, key) == 0)
      slot = i;
  if (slot < 0)
    return 0;
  if (sim->flaky[slot].key[0] == '\0')
    snprintf(sim->flaky[slot].key, sizeof sim->flaky[slot].key, "%s", key);
  if (sim->flaky[slot].served >= limit)
    return 0;
  sim->flaky[slot].served++;
  return 1;
}

/* Where invalid-utf8 inserts 0xFF 0xFE: from the middle, past any non-ASCII
 * bytes, past the ASCII run that follows, at the next byte >= 0x80 -- a
 * character's first byte in both UTF-8 and GBK. The end when there is none. */
static size_t utf8_break(const unsigned char *b, size_t len)
{
  size_t i = len / 2;
  while (i < len && b[i] >= 0x80)
    i++;
  while (i < len && b[i] < 0x80)
    i++;
  return i;
}

/* ---- responses -------------------------------------------------------- */

/* One access-log line on stderr, unless quiet (httpd's log hook). */
static void log_request(void *arg, const struct dk_httpd_req *h, int status, size_t len)
{
  struct csim *sim = arg;
  if (sim->quiet)
    return;
  fprintf(stderr, "city-sim: %s \"%s %s\" %d %zu\n", h->peer, h->method_name, h->url, status, len);
}

/* A log line naming the request's misbehaviour, unless quiet. */
static void log_misbehave(struct conn *c)
{
  if (c->sim->quiet)
    return;
  struct request *r = &c->req;
  fprintf(stderr, "city-sim: %s \"%s %s\" misbehave=%s\n", r->h->peer, r->h->method_name, r->h->url,
          mb_names[r->mb.mode]);
}

/* Answer 500 when a reply cannot be built (no memory); the name is from
 * before httpd, kept for the handlers that call it. */
static void conn_close(struct conn *c)
{
  dk_httpd_error(c->req.h, 500, NULL);
}

/* Queue one complete response: `ctype` (or NULL) becomes Content-Type,
 * `extra` holds further header lines, each ending in CRLF. HEAD and 304 get
 * the headers only. The request's body misbehaviour is applied here, to
 * whatever the route answered: truncate, invalid-json, invalid-utf8 and
 * oversize (see README.md). */
static void respond(struct conn *c, int status, const char *ctype, const char *extra,
                    const void *body, size_t len)
{
  struct request *r = &c->req;
  struct csim *sim = c->sim;
  struct dk_httpd_reply rp = {.status = status, .ctype = ctype, .extra = extra};
  struct buf alt = {0};
  int err = 0;
  if (status != 304) {
    switch (r->mb.mode) {
    case MB_TRUNCATE:
      rp.truncate = 1;
      break;
    case MB_INVALID_JSON:
      err = buf_add(&alt, body, len / 2) || buf_add(&alt, "}", 1);
      break;
    case MB_INVALID_UTF8: {
      size_t at = utf8_break(body, len);
      err = buf_add(&alt, body, at) || buf_add(&alt, "\xff\xfe", 2) ||
            buf_add(&alt, (const char *)body + at, len - at);
      break;
    }
    case MB_OVERSIZE:
      rp.pad = r->mb.bytes;
      break;
    default:
      break;
    }
  }
  if (err) {
    buf_free(&alt);
    conn_close(c);
    return;
  }
  rp.body = alt.p ? alt.p : body;
  rp.len = alt.p ? alt.len : len;
  /* Padding that keeps the body valid: spaces in JSON, newlines elsewhere. */
  rp.pad_chunk = sim->pad[ctype && strstr(ctype, "json") ? 1 : 0];
  rp.pad_chunk_len = CSIM_PAD_CHUNK;
  dk_httpd_reply(r->h, &rp);
  buf_free(&alt);
}

/* A status with a short text body ("404 Not Found") and the header lines
 * `extra` (or NULL). */
static void reply_error(struct conn *c, int status, const char *extra)
{
  dk_httpd_error(c->req.h, status, extra);
}

/* reply_error() with "Retry-After: R" when retry_after >= 0. */
static void reply_status(struct conn *c, int status, long retry_after)
{
  char extra[64] = "";
  if (retry_after >= 0)
    snprintf(extra, sizeof extra, "Retry-After: %ld\r\n", retry_after);
  reply_error(c, status, extra);
}

/* A plain-text answer: `msg` and a newline. */
static void reply_text(struct conn *c, int status, const char *msg)
{
  struct buf b = {0};
  if (buf_str(&b, msg) || buf_add(&b, "\n", 1)) {
    buf_free(&b);
    conn_close(c);
    return;
  }
  respond(c, status, "text/plain; charset=utf-8", NULL, b.p, b.len);
  buf_free(&b);
}

/* A JSON answer that no cache should keep (the simulator's own state). */
static void reply_json(struct conn *c, int status, const char *json)
{
  if (!json) {
    reply_error(c, 500, NULL);
    return;
  }
  respond(c, status, "application/json; charset=utf-8", "Cache-Control: no-store\r\n", json,
          strlen(json));
}

/* If-None-Match: a list of entity tags or "*", compared weakly (RFC 9110). */
static int etag_listed(const char *list, const char *etag)
{
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (*p == '*')
      return 1;
    if (strncmp(p, "W/", 2) == 0)
      p += 2;
    if (*p != '"')
      return 0;
    const char *end = strchr(p + 1, '"');
    if (!end)
      return 0;
    size_t n = (size_t)(end - p + 1);
    if (n == strlen(etag) && memcmp(p, etag, n) == 0)
      return 1;
    p = end + 1;
  }
  return 0;
}

/* 200 with validators (and the header lines `extra`, or NULL), or 304 when
 * the client's copy is current. */
static void reply_ok_extra(struct conn *c, const char *ctype, const void *body, size_t len,
                           time_t mtime, const char *extra)
{
  char etag[24], lm[32];
  struct buf h = {0};
  snprintf(etag, sizeof etag, "\"%016" PRIx64 "\"", fnv1a(body, len));
  dk_httpd_date(mtime, lm);
  const char *inm = req_header(&c->req, "If-None-Match");
  const char *ims = req_header(&c->req, "If-Modified-Since");
  time_t since;
  int fresh = inm ? etag_listed(inm, etag)
                  : ims && parse_http_date(ims, &since) == 0 && mtime <= since;
  int err = buf_printf(&h, "ETag: %s\r\nLast-Modified: %s\r\n", etag, lm);
  if (!fresh && extra)
    err |= buf_str(&h, extra);
  if (err) {
    buf_free(&h);
    conn_close(c);
    return;
  }
  if (fresh)
    respond(c, 304, NULL, h.p, NULL, 0);
  else
    respond(c, 200, ctype, h.p, body, len);
  buf_free(&h);
}

/* reply_ok_extra() without extra headers. */
static void reply_ok(struct conn *c, const char *ctype, const void *body, size_t len, time_t mtime)
{
  reply_ok_extra(c, ctype, body, len, mtime, NULL);
}

/* ---- routes ----------------------------------------------------------- */

/* Add new endpoints here; paths not listed fall through to data_dir. */
static const struct route routes[] = {
  {"/healthz", M_READ, h_healthz, NULL, NULL, NULL, 0},
  {"/jinan/tasks.json", M_READ, h_blob, csim_data_jnly_2024, &csim_data_jnly_2024_len,
   "application/json; charset=utf-8", CSIM_DATA_MTIME},
  {"/jinan/api/tasks", M_READ, h_jinan_tasks, NULL, NULL, NULL, 0},
  {"/jinan/api/progress", M_READ, h_jinan_progress, NULL, NULL, NULL, 0},
  {"/linyi/export/progress.csv", M_READ, h_linyi_progress, NULL, NULL, NULL, 0},
  {"/linyi/api/ledger", M_READ, h_linyi_ledger, NULL, NULL, NULL, 0},
  {"/plans/jnly-2024.txt", M_READ, h_blob, csim_plan_jnly_2024, &csim_plan_jnly_2024_len,
   "text/plain; charset=utf-8", CSIM_DATA_MTIME},
  {"/plans/jnly-2023.md", M_READ, h_blob, csim_plan_jnly_2023, &csim_plan_jnly_2023_len,
   "text/markdown; charset=utf-8", CSIM_PLAN_2023_MTIME},
  {"/_sim/clock", M_SIM, h_clock, NULL, NULL, NULL, 0},
  {"/_sim/misbehave", M_SIM, h_misbehave, NULL, NULL, NULL, 0},
};

static const struct route file_route = {NULL, M_READ, h_file, NULL, NULL, NULL, 0};

/* GET /healthz: "ok". */
static void h_healthz(struct conn *c, const struct route *rt)
{
  reply_ok(c, "text/plain; charset=utf-8", "ok", 2, c->sim->started);
}

/* An embedded document: rt->data with rt->ctype and rt->mtime. */
static void h_blob(struct conn *c, const struct route *rt)
{
  reply_ok(c, rt->ctype, rt->data, *rt->len, rt->mtime);
}

/* Jinan's error envelope: {"code":N,"message":"..."}. */
static void jinan_error(struct conn *c, int status, const char *msg, const char *extra)
{
  json_t *o = json_pack("{s:i,s:s}", "code", status, "message", msg);
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!s) {
    reply_error(c, 500, NULL);
    return;
  }
  respond(c, status, "application/json; charset=utf-8", extra, s, strlen(s));
  free(s);
}

/* 1 when the request carries "Authorization: Bearer <token>". */
static int bearer_ok(struct request *r, const char *token)
{
  const char *a = req_header(r, "Authorization");
  if (!a || strncasecmp(a, "Bearer ", 7) != 0) /* the scheme is case-insensitive */
    return 0;
  a += 7;
  while (*a == ' ')
    a++;
  return strcmp(a, token) == 0;
}

/* One task as Jinan's register shows it: its own field names, canonical
 * values, state and modified from the progress model. */
static json_t *jinan_item(const struct csim *sim, json_t *rec)
{
  long n = task_number(rec);
  const char *text_add;
  struct progress p = story_progress(sim, CSIM_VIEW_JINAN, n, sim->today, &text_add);
  char mod[32];
  format_modified(p.modified, mod);
  json_t *o = json_object();
  if (!o)
    return NULL;
  json_object_set(o, "code", json_object_get(rec, "id"));
  json_object_set(o, "plan_code", json_object_get(rec, "plan"));
  json_object_set_new(o, "no", json_integer(n));
  json_object_set(o, "name", json_object_get(rec, "title"));
  static const char *const opt[][2] = {{"text", "content"}, {"section", "category"},
                                       {"units", "depts"}};
  for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
    json_t *v = json_object_get(rec, opt[i][0]);
    if (v)
      json_object_set(o, opt[i][1], v);
  }
  if (text_add)
    json_object_set_new(o, "content", story_text(rec, text_add));
  json_object_set_new(o, "state", json_string(p.status));
  json_object_set_new(o, "modified", json_string(mod));
  return o;
}

/* GET /jinan/api/tasks?page=N&per_page=M: the paged task register, behind
 * a bearer token. */
static void h_jinan_tasks(struct conn *c, const struct route *rt)
{
  struct csim *sim = c->sim;
  struct request *r = &c->req;
  if (!bearer_ok(r, sim->token)) {
    jinan_error(c, 401, "missing or wrong bearer token",
                "WWW-Authenticate: Bearer realm=\"jinan\"\r\n");
    return;
  }
  long page = 1, per = 10;
  if (query_long(r->query, "page", 1, 1000000, &page) < 0) {
    jinan_error(c, 400, "page must be a whole number from 1", NULL);
    return;
  }
  if (query_long(r->query, "per_page", 1, 100, &per) < 0) {
    jinan_error(c, 400, "per_page must be a whole number from 1 to 100", NULL);
    return;
  }
  size_t first = (size_t)((page - 1) * per), last = (size_t)(page * per);
  char next[96];
  snprintf(next, sizeof next, "/jinan/api/tasks?page=%ld&per_page=%ld", page + 1, per);
  json_t *items = json_array();
  for (size_t i = first; items && i < last && i < sim->ntasks; i++)
    json_array_append_new(items, jinan_item(sim, sim->tasks[i]));
  jinan_page(c, items, page, per, sim->ntasks, next);
}

/* Answer one page of Jinan's API: the envelope {code, message, data: {page,
 * per_page, total, items}, links: {next}} and a Link header, the next page
 * being `next` (a path) when page * per < total. Takes `items` (NULL: 500). */
static void jinan_page(struct conn *c, json_t *items, long page, long per, size_t total,
                       const char *next)
{
  struct csim *sim = c->sim;
  struct request *r = &c->req;
  int more = (size_t)(page * per) < total;
  json_t *root = json_pack("{s:i,s:s,s:{s:I,s:I,s:I,s:o},s:{s:o}}", "code", 0, "message", "ok",
                           "data", "page", (json_int_t)page, "per_page", (json_int_t)per, "total",
                           (json_int_t)total, "items", items, "links", "next",
                           more ? json_string(next) : json_null());
  char *body = root ? json_dumps(root, JSON_COMPACT) : NULL;
  json_decref(root);
  struct buf link = {0};
  const char *host = req_header(r, "Host");
  int err = !body;
  if (more && host && *host)
    err |= buf_printf(&link, "Link: <http://%.400s%s>; rel=\"next\"\r\n", host, next);
  else if (more) /* HTTP/1.0 without Host: the address listened on */
    err |= buf_printf(&link, "Link: <http://%s%.200s%s:%d%s>; rel=\"next\"\r\n",
                      strchr(sim->host, ':') ? "[" : "", sim->host,
                      strchr(sim->host, ':') ? "]" : "", sim->port, next);
  if (err)
    reply_error(c, 500, NULL);
  else
    reply_ok_extra(c, "application/json; charset=utf-8", body, strlen(body),
                   day_time(sim->today, 17), link.p);
  buf_free(&link);
  free(body);
}

/* Append one CSV field, quoted per RFC 4180 when it needs to be. */
static int csv_field(struct buf *b, const char *s)
{
  if (!strpbrk(s, ",\"\r\n"))
    return buf_str(b, s);
  int err = buf_add(b, "\"", 1);
  for (; *s; s++)
    err |= *s == '"' ? buf_add(b, "\"\"", 2) : buf_add(b, s, 1);
  return err | buf_add(b, "\"", 1);
}

/* Linyi's 进展情况 for a report: a sentence by percent band. A task already
 * complete before the report's month has an ASCII comma, so every export
 * from 2024-09 on exercises CSV quoting. */
static const char *progress_phrase(const struct progress *p, long month_first)
{
  if (strcmp(p->status, "delayed") == 0)
    return "进度滞后，正在加紧推进";
  if (p->percent == 100)
    return p->end < month_first ? "已完成,转入常态化推进" : "已全面完成年度任务";
  if (p->percent > 70)
    return "主体工作基本完成，正在收尾";
  if (p->percent > 30)
    return "按计划推进，已完成阶段性目标";
  return "已启动，正在制定工作方案";
}

/* The first unit of `rec` in `city`, or NULL. */
static const char *city_unit(json_t *rec, const char *city)
{
  size_t i;
  json_t *u;
  json_array_foreach(json_object_get(rec, "units"), i, u) {
    const char *c = json_string_value(json_object_get(u, "city"));
    if (c && strcmp(c, city) == 0)
      return json_string_value(json_object_get(u, "name"));
  }
  return NULL;
}

/* The first unit of `rec` in Linyi, or NULL. */
static const char *linyi_unit(json_t *rec)
{
  return city_unit(rec, "linyi");
}

/* UTF-8 to GBK (never longer for this text: 3-byte CJK become 2).
 * Returns 0, or -1 when iconv cannot. */
static int to_gbk(const struct buf *in, struct buf *out)
{
  iconv_t cd = iconv_open("GBK", "UTF-8");
  if (cd == (iconv_t)-1)
    return -1;
  memset(out, 0, sizeof *out);
  out->p = malloc(in->len + 1);
  char *ip = in->p, *op = out->p;
  size_t il = in->len, ol = in->len;
  size_t rc = out->p ? iconv(cd, &ip, &il, &op, &ol) : (size_t)-1;
  iconv_close(cd);
  if (rc == (size_t)-1) {
    buf_free(out);
    return -1;
  }
  out->len = (size_t)(op - out->p);
  out->cap = in->len + 1;
  return 0;
}

/* GET /linyi/export/progress.csv: Linyi's monthly progress reports, GBK,
 * one row per task with a Linyi unit and month from 2024-05 in which the
 * task had started by the report (the month's last day 17:00, or today's). */
static void h_linyi_progress(struct conn *c, const struct route *rt)
{
  struct csim *sim = c->sim;
  struct buf csv = {0}, gbk;
  int ty, tm, td;
  civil_from_days(sim->today, &ty, &tm, &td);
  /* The story's exports also say which tasks are delayed (状态 滞后; empty
   * otherwise, the status then following from the percent). */
  int err = buf_str(&csv, sim->story ? "任务编号,进展情况,完成比例,填报单位,填报时间,状态\r\n"
                                     : "任务编号,进展情况,完成比例,填报单位,填报时间\r\n");
  for (size_t i = 0; i < sim->ntasks && !err; i++) {
    const char *unit = linyi_unit(sim->tasks[i]);
    long n = task_number(sim->tasks[i]);
    if (!unit)
      continue;
    /* Months as y * 12 + (m - 1), from 2024-05 to today's month. */
    for (long k = 2024 * 12 + 4; !err && k <= ty * 12L + tm - 1; k++) {
      long first = days_from_civil(k / 12, k % 12 + 1, 1);
      long next = days_from_civil((k + 1) / 12, (k + 1) % 12 + 1, 1);
      long report = next > sim->today ? sim->today : next - 1;
      const char *text_add;
      struct progress p = story_progress(sim, CSIM_VIEW_LINYI, n, report, &text_add);
      if (p.start > report)
        continue;
      char day[16];
      format_day(report, day);
      err |= buf_printf(&csv, "%ld,", n) || csv_field(&csv, progress_phrase(&p, first)) ||
             buf_printf(&csv, ",%d%%,", p.percent) || csv_field(&csv, unit) ||
             buf_printf(&csv, ",%s 17:00%s\r\n", day,
                        !sim->story ? "" : strcmp(p.status, "delayed") == 0 ? ",滞后" : ",");
    }
  }
  if (err || to_gbk(&csv, &gbk) < 0) {
    buf_free(&csv);
    reply_error(c, 500, NULL);
    return;
  }
  buf_free(&csv);
  reply_ok(c, "text/csv; charset=GBK", gbk.p, gbk.len, day_time(sim->today, 17));
  buf_free(&gbk);
}

/* GET /linyi/api/ledger: Linyi's task ledger (台账), the tasks of the demo's
 * story as canonical task records (an empty list without the story). */
static void h_linyi_ledger(struct conn *c, const struct route *rt)
{
  struct csim *sim = c->sim;
  json_t *items = json_array();
  for (size_t i = 0; items && sim->story && i < sim->ntasks; i++) {
    json_t *rec = sim->tasks[i];
    long n = task_number(rec);
    if (!csim_story_ledger_has(n))
      continue;
    const char *text_add;
    struct progress p = story_progress(sim, CSIM_VIEW_LINYI, n, sim->today, &text_add);
    char mod[32];
    format_modified(p.modified, mod);
    json_t *o = json_pack("{s:s,s:O,s:O,s:I,s:O,s:s,s:s}", "kind", "task", "id", json_object_get(rec, "id"),
                          "plan", json_object_get(rec, "plan"), "number", (json_int_t)n, "title",
                          json_object_get(rec, "title"), "status",
                          csim_story_ledger_status(n, sim->today, p.status), "updated_at", mod);
    json_t *text = story_text(rec, text_add);
    if (o && text)
      json_object_set_new(o, "text", text);
    else
      json_decref(text);
    if (!o || json_array_append_new(items, o) < 0) {
      json_decref(items);
      items = NULL;
    }
  }
  char *body = items ? json_dumps(items, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(items);
  if (!body)
    reply_error(c, 500, NULL);
  else
    reply_ok(c, "application/json; charset=utf-8", body, strlen(body), day_time(sim->today, 18));
  free(body);
}

/* Task `n` as Jinan's monthly report of `report` (a day) has it: the
 * register's status (the story's when on); the percent 100 when completed,
 * 0 when not started, the story's when it fixes one, else Jinan's own view
 * of the model — read (n % 3 - 1) * 12 days later, so a little behind, level
 * with or ahead of Linyi's, kept within 5-95 while the task is under way. */
static struct progress jinan_progress(const struct csim *sim, long n, long report)
{
  const char *text_add;
  struct progress p = story_progress(sim, CSIM_VIEW_JINAN, n, report, &text_add);
  struct csim_story st;
  int fixed = sim->story && csim_story_task(CSIM_VIEW_JINAN, n, report, &st) && st.percent >= 0;
  if (strcmp(p.status, "completed") == 0) {
    p.percent = 100;
  } else if (strcmp(p.status, "not_started") == 0) {
    p.percent = 0;
  } else if (!fixed) {
    int v = task_progress(n, report + (n % 3 - 1) * 12).percent;
    p.percent = v < 5 ? 5 : v > 95 ? 95 : v;
  }
  return p;
}

/* Jinan's 进展情况 for a report: its own sentences, by status and percent. */
static const char *jinan_phrase(const struct progress *p)
{
  if (strcmp(p->status, "delayed") == 0)
    return "受多方因素影响进度滞后，已制定追赶计划";
  if (strcmp(p->status, "completed") == 0)
    return "年度任务已完成";
  if (p->percent == 0)
    return "尚未启动，正在开展前期对接";
  if (p->percent > 70)
    return "主要工作基本完成，进入收尾阶段";
  if (p->percent > 30)
    return "有序推进，阶段性目标已实现";
  return "已启动实施，正在细化工作方案";
}

/* GET /jinan/api/progress?month=YYYY-MM&page=N&per_page=M: Jinan's monthly
 * progress reports (月度进展), behind the bearer token and paged like the
 * register. With the story on, one report per task started by the report
 * day (the month's last day, or today in today's month; none for a month
 * after today); without it none. month defaults to today's. */
static void h_jinan_progress(struct conn *c, const struct route *rt)
{
  struct csim *sim = c->sim;
  struct request *r = &c->req;
  if (!bearer_ok(r, sim->token)) {
    jinan_error(c, 401, "missing or wrong bearer token",
                "WWW-Authenticate: Bearer realm=\"jinan\"\r\n");
    return;
  }
  long page = 1, per = 10, first = sim->today;
  char month[16], day[16];
  int found = query_get(r->query, "month", month, sizeof month);
  snprintf(day, sizeof day, "%.7s-01", found > 0 ? month : sim->today_str);
  if (found < 0 || (found > 0 && strlen(month) != 7) || parse_day(day, &first) < 0) {
    jinan_error(c, 400, "month must be YYYY-MM from 2000-01 to 2099-12", NULL);
    return;
  }
  if (query_long(r->query, "page", 1, 1000000, &page) < 0) {
    jinan_error(c, 400, "page must be a whole number from 1", NULL);
    return;
  }
  if (query_long(r->query, "per_page", 1, 100, &per) < 0) {
    jinan_error(c, 400, "per_page must be a whole number from 1 to 100", NULL);
    return;
  }
  int y, m, d;
  civil_from_days(first, &y, &m, &d);
  long next_month = days_from_civil(y + m / 12, m % 12 + 1, 1);
  long report = next_month > sim->today ? sim->today : next_month - 1;
  char when[32];
  format_day(report, day);
  snprintf(when, sizeof when, "%sT16:00:00+08:00", day);
  /* Every report of the month, then the page's slice of them. */
  json_t *all = json_array(), *items = json_array();
  for (size_t i = 0; all && sim->story && first <= sim->today && i < sim->ntasks; i++) {
    json_t *rec = sim->tasks[i];
    long n = task_number(rec);
    struct progress p = jinan_progress(sim, n, report);
    if (p.start > report)
      continue;
    const char *tid = json_string_value(json_object_get(rec, "id"));
    char id[160];
    snprintf(id, sizeof id, "%.100s/jinan/%.7s", tid ? tid : "", day);
    json_t *o = json_pack("{s:s,s:s,s:s%,s:s,s:i,s:s,s:s}", "code", id, "task_code",
                          tid ? tid : "", "month", day, (size_t)7, "state", p.status, "rate",
                          p.percent, "progress_desc", jinan_phrase(&p), "report_time", when);
    const char *unit = city_unit(rec, "jinan");
    if (o && unit)
      json_object_set_new(o, "dept", json_string(unit));
    if (!o || json_array_append_new(all, o) < 0) {
      json_decref(all);
      all = NULL;
    }
  }
  for (size_t i = (size_t)((page - 1) * per);
       all && items && i < (size_t)(page * per) && i < json_array_size(all); i++)
    json_array_append(items, json_array_get(all, i));
  char next[128];
  snprintf(next, sizeof next, "/jinan/api/progress?month=%.7s&page=%ld&per_page=%ld", day, page + 1, per);
  size_t total = all ? json_array_size(all) : 0;
  if (!all) {
    json_decref(items);
    items = NULL;
  }
  json_decref(all);
  jinan_page(c, items, page, per, total, next);
}

/* GET /_sim/clock: the date; POST ?date=YYYY-MM-DD or ?advance=DAYS sets it. */
static void h_clock(struct conn *c, const struct route *rt)
{
  struct csim *sim = c->sim;
  struct request *r = &c->req;
  if (r->method == HTTP_POST) {
    char v[32];
    long days;
    int hd = query_get(r->query, "date", v, sizeof v);
    char a[32];
    int ha = query_get(r->query, "advance", a, sizeof a);
    if (hd < 0 || ha < 0 || hd + ha != 1) {
      reply_text(c, 400, "want ?date=YYYY-MM-DD or ?advance=DAYS");
      return;
    }
    if (hd && csim_set_date(sim, v) < 0) {
      reply_text(c, 400, "date: want YYYY-MM-DD, a real day from 2000-01-01 to 2099-12-31");
      return;
    }
    if (ha && (parse_long(a, -100000, 100000, &days) < 0 || csim_advance(sim, (int)days) < 0)) {
      reply_text(c, 400, "advance: want whole days, and the date must stay within 2000-2099");
      return;
    }
    if (!sim->quiet)
      fprintf(stderr, "city-sim: clock set to %s\n", sim->today_str);
  }
  char body[48];
  snprintf(body, sizeof body, "{\"date\":\"%s\"}", sim->today_str);
  reply_json(c, 200, body);
}

/* GET /_sim/misbehave lists the rules; POST ?path=P&mode=M... sets one. */
static void h_misbehave(struct conn *c, const struct route *rt)
{
  struct csim *sim = c->sim;
  struct request *r = &c->req;
  if (r->method == HTTP_POST) {
    char path[256], filter[128];
    struct mb_spec spec;
    char why[CSIM_WHY];
    int err;
    if (query_get(r->query, "path", path, sizeof path) != 1 || path[0] != '/') {
      reply_text(c, 400, "path: want an absolute path, e.g. path=/jinan/api/tasks");
      return;
    }
    if (mb_parse(r->query, "mode", MB_STRICT_PATH, &spec, filter, why) < 0) {
      reply_text(c, 400, why);
      return;
    }
    if ((err = mb_set(sim, path, filter, &spec)) < 0) {
      reply_text(c, 400, err == UV_ENOSPC ? "too many misbehaviours (32)"
                                          : "path: at most 255 bytes, no '?' (see query=)");
      return;
    }
    if (!sim->quiet)
      fprintf(stderr, "city-sim: misbehave rule %s query=\"%s\": %s\n", path, filter,
              mb_names[spec.mode]);
  }
  char *list = mb_list(sim);
  reply_json(c, 200, list);
  free(list);
}

/* The Content-Type of a --data file, by extension. */
static const char *content_type(const char *path)
{
  static const struct {
    const char *ext, *type;
  } types[] = {
    {".json", "application/json; charset=utf-8"},
    {".csv", "text/csv"}, /* charset left out: the cities' exports are often GBK */
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".html", "text/html; charset=utf-8"},
  };
  const char *dot = strrchr(path, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot, types[i].ext) == 0)
        return types[i].type;
  return "application/octet-stream";
}

/* Files are small fixtures, so they are read synchronously on the loop. */
static void h_file(struct conn *c, const struct route *rt)
{
  struct buf full = {0};
  const char *path = c->req.path;
  if (path[strlen(path) - 1] == '/' || buf_add(&full, c->sim->data_dir, strlen(c->sim->data_dir)) ||
      buf_add(&full, path, strlen(path))) {
    buf_free(&full);
    reply_error(c, 404, NULL);
    return;
  }
  int fd = open(full.p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  buf_free(&full);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    int e = fd < 0 ? errno : 0;
    if (fd >= 0)
      close(fd);
    reply_error(c, e == 0 || e == ENOENT || e == ENOTDIR || e == ELOOP || e == EACCES ? 404 : 500,
                NULL);
    return;
  }
  size_t size = (size_t)st.st_size, got = 0;
  char *data = size <= CSIM_MAX_FILE ? malloc(size + 1) : NULL;
  while (data && got < size) {
    ssize_t n = read(fd, data + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  if (!data || got != size) {
    free(data);
    reply_error(c, 500, NULL);
    return;
  }
  reply_ok(c, content_type(path), data, size, st.st_mtime);
  free(data);
}

/* The request's misbehaviour into r->mb (mode MB_NONE when it has none):
 * "?misbehave=MODE..." on the request first, else the most specific rule of
 * its path (one whose query= matches, else one without). A rule with a
 * count is used up here. Returns 0, or -1 with the reason in `why` (size
 * CSIM_WHY) for bad parameters. */
static int pick_misbehaviour(struct csim *sim, struct request *r, char *why)
{
  char filter[128], mode[32];
  r->mb.mode = MB_NONE;
  if (query_get(r->query, "misbehave", mode, sizeof mode) != 0) {
    if (mb_parse(r->query, "misbehave", MB_LENIENT, &r->mb, filter, why) < 0)
      return -1;
    /* the first `count` requests of this path and query */
    if (r->mb.count > 0 && !flaky_take(sim, r, r->mb.count))
      r->mb.mode = MB_NONE;
    return 0;
  }
  struct mb_rule *best = NULL;
  for (int i = 0; i < CSIM_MAX_RULES; i++) {
    struct mb_rule *rl = &sim->rules[i];
    if (!rl->used || strcmp(rl->path, r->path) != 0)
      continue;
    if (rl->query[0] && r->query && strstr(r->query, rl->query))
      best = rl;
    else if (!rl->query[0] && !best)
      best = rl;
  }
  if (!best)
    return 0;
  r->mb = best->spec;
  if (best->spec.count > 0 && --best->spec.count == 0)
    best->used = 0;
  return 0;
}

/* The old form: "?fail=N[&status=S][&retry_after=R]". Answers and returns
 * 1 while the path and query still owe failures. */
static int fail_first(struct conn *c)
{
  struct request *r = &c->req;
  long fail = 0, status = 503, ra = -1;
  if (query_long(r->query, "fail", 1, 1000000000, &fail) < 0 || fail <= 0)
    return 0;
  if (!flaky_take(c->sim, r, fail))
    return 0;
  if (query_long(r->query, "status", 100, 599, &status) < 0)
    status = 503;
  if (query_long(r->query, "retry_after", 0, 1000000000, &ra) < 0)
    ra = -1;
  reply_status(c, (int)status, ra);
  return 1;
}

/* The slow delay is over: let the route answer. */
static void on_slow(struct dk_httpd_req *h)
{
  struct conn *c = h->data;
  c->req.rt->fn(c, c->req.rt);
}

static const char wrong_type_page[] =
  "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head><meta charset=\"utf-8\">"
  "<title>统一身份认证</title></head>\n<body>\n<h1>统一身份认证 登录</h1>\n"
  "<form method=\"post\" action=\"/sso/login\">\n"
  "<p><label>用户名 <input name=\"username\"></label></p>\n"
  "<p><label>密码 <input name=\"password\" type=\"password\"></label></p>\n"
  "<p><button type=\"submit\">登录</button></p>\n</form>\n</body>\n</html>\n";

/* Answer with the request's misbehaviour, or let the route answer (body
 * misbehaviours are applied by respond()). */
static void misbehave_or_answer(struct conn *c)
{
  struct request *r = &c->req;
  const struct route *rt = r->rt;
  char why[CSIM_WHY];
  /* The simulator's own routes never misbehave: their parameters overlap. */
  if (strncmp(r->path, "/_sim/", 6) == 0) {
    rt->fn(c, rt);
    return;
  }
  if (fail_first(c))
    return;
  if (pick_misbehaviour(c->sim, r, why) < 0) {
    char msg[CSIM_WHY + 16];
    snprintf(msg, sizeof msg, "misbehave: %s", why);
    reply_text(c, 400, msg);
    return;
  }
  if (r->mb.mode != MB_NONE)
    log_misbehave(c);
  switch (r->mb.mode) {
  case MB_STATUS:
    reply_status(c, r->mb.status, r->mb.retry_after);
    break;
  case MB_SLOW: /* the loop keeps serving others meanwhile */
    dk_httpd_defer(r->h, (uint64_t)r->mb.delay_ms, on_slow);
    break;
  case MB_WRONG_TYPE:
    respond(c, 200, "text/html; charset=utf-8", NULL, wrong_type_page, sizeof wrong_type_page - 1);
    break;
  case MB_RESET:
    dk_httpd_reset(r->h);
    break;
  default:
    rt->fn(c, rt);
  }
}

/* "GET, HEAD[, POST]" for a route's methods. */
static void allow_header(unsigned methods, char out[64])
{
  snprintf(out, 64, "Allow: GET, HEAD%s\r\n", methods & M(HTTP_POST) ? ", POST" : "");
}

/* httpd's handler: find the request's route, check the method, then
 * misbehave or let the route answer. */
static void dispatch(void *arg, struct dk_httpd_req *h)
{
  struct conn *c = h->data;
  struct request *r = &c->req;
  c->sim = arg;
  r->h = h;
  r->method = h->method;
  r->path = h->path;
  r->query = h->query;
  const struct route *rt = NULL;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !rt; i++)
    if (strcmp(routes[i].path, r->path) == 0)
      rt = &routes[i];
  if (!rt && c->sim->data_dir)
    rt = &file_route;
  r->rt = rt;
  char allow[64];
  if (!rt) {
    reply_error(c, 404, NULL);
  } else if (!(rt->methods & M(r->method))) {
    allow_header(rt->methods, allow);
    reply_error(c, 405, allow);
  } else {
    misbehave_or_answer(c);
  }
}

/* Free the simulator's memory (its server must be closed). */
static void sim_free(struct csim *sim)
{
  free(sim->host);
  free(sim->data_dir);
  free(sim->token);
  free(sim->tasks);
  json_decref(sim->data);
  free(sim);
}

/* ---- public API ------------------------------------------------------- */

/* The server is closed: free sim and call done(). */
static void on_server_closed(void *arg)
{
  struct csim *sim = arg;
  void (*done)(void *) = sim->done;
  void *done_arg = sim->done_arg;
  sim_free(sim);
  if (done)
    done(done_arg);
}

/* qsort order of task records: by number. */
static int by_number(const void *a, const void *b)
{
  long x = task_number(*(json_t *const *)a), y = task_number(*(json_t *const *)b);
  return (x > y) - (x < y);
}

/* Parse the embedded records once and index the tasks by number.
 * Returns 0 or UV_ENOMEM / UV_EINVAL. */
static int load_tasks(struct csim *sim)
{
  sim->data = json_loadb((const char *)csim_data_jnly_2024, csim_data_jnly_2024_len, 0, NULL);
  if (!json_is_array(sim->data))
    return UV_EINVAL;
  sim->tasks = calloc(json_array_size(sim->data) + 1, sizeof *sim->tasks);
  if (!sim->tasks)
    return UV_ENOMEM;
  size_t i;
  json_t *rec;
  json_array_foreach(sim->data, i, rec) {
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    if (kind && strcmp(kind, "task") == 0 && json_is_integer(json_object_get(rec, "number")))
      sim->tasks[sim->ntasks++] = rec;
  }
  qsort(sim->tasks, sim->ntasks, sizeof *sim->tasks, by_number);
  return 0;
}

/* See citysim.h. */
int csim_start(uv_loop_t *loop, const struct csim_options *opts, struct csim **out)
{
  struct stat st;
  const char *token = opts->token ? opts->token : CSIM_DEFAULT_TOKEN;
  long today;
  *out = NULL;
  if (opts->port < 0 || opts->port > 65535 || !*token || strpbrk(token, "\r\n") ||
      parse_day(opts->date ? opts->date : CSIM_DEFAULT_DATE, &today) < 0)
    return UV_EINVAL;
  if (opts->data_dir && stat(opts->data_dir, &st) < 0)
    return uv_translate_sys_error(errno);
  if (opts->data_dir && !S_ISDIR(st.st_mode))
    return UV_ENOTDIR;
  struct csim *sim = calloc(1, sizeof *sim);
  if (!sim)
    return UV_ENOMEM;
  sim->host = strdup(opts->host ? opts->host : "127.0.0.1");
  sim->data_dir = opts->data_dir ? strdup(opts->data_dir) : NULL;
  sim->token = strdup(token);
  sim->quiet = opts->quiet;
  sim->story = opts->story;
  sim->started = time(NULL);
  set_today(sim, today);
  memset(sim->pad[0], '\n', CSIM_PAD_CHUNK);
  memset(sim->pad[1], ' ', CSIM_PAD_CHUNK);
  int err = 0;
  if (!sim->host || !sim->token || (opts->data_dir && !sim->data_dir))
    err = UV_ENOMEM;
  if (err == 0)
    err = load_tasks(sim);
  if (err < 0) {
    sim_free(sim);
    return err;
  }
  int uv_err = 0;
  char why[DK_ERRBUF_SIZE];
  struct dk_httpd_opts ho = {
    .host = sim->host,
    .port = opts->port,
    .max_head = CSIM_MAX_HEAD,
    .max_headers = CSIM_MAX_HEADERS,
    .max_body = CSIM_MAX_BODY,
    .idle_ms = opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : CSIM_IDLE_MS,
    .server = "city-sim",
    .req_data = sizeof(struct conn),
    .log = log_request,
    .uv_err = &uv_err,
  };
  if (dk_httpd_start(loop, &ho, dispatch, sim, &sim->httpd, why) != 0) {
    sim_free(sim);
    return uv_err < 0 ? uv_err : UV_EINVAL;
  }
  sim->port = dk_httpd_port(sim->httpd);
  *out = sim;
  return 0;
}

/* See citysim.h. */
int csim_port(const struct csim *sim)
{
  return sim->port;
}

/* See citysim.h. */
void csim_close(struct csim *sim, void (*done)(void *arg), void *arg)
{
  sim->done = done;
  sim->done_arg = arg;
  dk_httpd_close(sim->httpd, on_server_closed, sim);
}

/* See citysim.h. */
int csim_set_date(struct csim *sim, const char *yyyy_mm_dd)
{
  long day;
  if (parse_day(yyyy_mm_dd, &day) < 0)
    return UV_EINVAL;
  set_today(sim, day);
  return 0;
}

/* See citysim.h. */
int csim_advance(struct csim *sim, int days)
{
  long day = sim->today + days;
  if (!day_in_range(day))
    return UV_EINVAL;
  set_today(sim, day);
  return 0;
}

/* See citysim.h. */
const char *csim_date(const struct csim *sim)
{
  return sim->today_str;
}

/* See citysim.h. */
int csim_misbehave(struct csim *sim, const char *path, const char *spec)
{
  struct mb_spec s;
  char filter[128];
  char why[CSIM_WHY];
  if (!path)
    return UV_EINVAL;
  if (mb_parse(spec ? spec : "mode=none", "mode", MB_STRICT, &s, filter, why) < 0)
    return UV_EINVAL;
  return mb_set(sim, path, filter, &s);
}

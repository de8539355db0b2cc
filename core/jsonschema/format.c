/* The "format" vocabulary: dates and times (RFC 3339), durations (RFC 3339
 * appendix A), UUIDs, JSON Pointers (RFC 6901 and the relative draft) and
 * ECMA-262 regexes here; IP addresses, host names, e-mail addresses, URIs,
 * IRIs and URI templates in format_net.c. dk_format_check dispatches. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../util.h"

/* n ASCII digits at s as a number, or -1. */
static long num(const char *s, size_t n) {
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!dk__is_digit((unsigned char)s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}


/* --- dates and times --------------------------------------------------- */

static int days_in_month(long y, long m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) return 29;
  return d[m - 1];
}

static int check_date(const char *s, size_t len) {
  if (len != 10 || s[4] != '-' || s[7] != '-') return 0;
  long y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
  if (y < 0 || m < 1 || m > 12 || d < 1) return 0;
  return d <= days_in_month(y, m);
}

/* full-time: HH:MM:SS[.frac](Z|+HH:MM|-HH:MM). A leap second is only valid
 * at 23:59:60 UTC. */
static int check_time(const char *s, size_t len) {
  if (len < 9 || s[2] != ':' || s[5] != ':') return 0;
  long h = num(s, 2), mi = num(s + 3, 2), sec = num(s + 6, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60) return 0;
  size_t i = 8;
  if (i < len && s[i] == '.') {
    size_t j = ++i;
    while (i < len && dk__is_digit((unsigned char)s[i])) i++;
    if (i == j) return 0;
  }
  if (i >= len) return 0;
  long off = 0;
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
    off = 0;
  } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':') {
    long oh = num(s + i + 1, 2), om = num(s + i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return 0;
    off = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
  } else {
    return 0;
  }
  if (sec == 60) {
    long utc = ((h * 60 + mi - off) % 1440 + 1440) % 1440;
    if (utc != 23 * 60 + 59) return 0;
  }
  return 1;
}

static int check_date_time(const char *s, size_t len) {
  if (len < 11 || (s[10] != 'T' && s[10] != 't')) return 0;
  return check_date(s, 10) && check_time(s + 11, len - 11);
}

/* duration = "P" (dur-date [dur-time] / dur-time / dur-week); units come in
 * order and, once started, without gaps (P1Y2D is not valid). */
static int check_duration(const char *s, size_t len) {
  if (len < 2 || s[0] != 'P') return 0;
  size_t i = 1;
  int elements = 0, in_time = 0, last = -1;
  while (i < len) {
    if (s[i] == 'T') {
      if (in_time) return 0;
      in_time = 1;
      last = -1;
      if (++i == len) return 0;  /* "T" needs an element */
      continue;
    }
    size_t j = i;
    while (i < len && dk__is_digit((unsigned char)s[i])) i++;
    if (i == j || i == len) return 0;
    const char *units = in_time ? "HMS" : "YMD";
    const char *u = strchr(units, s[i]);
    if (!in_time && s[i] == 'W') {
      if (elements != 0 || i + 1 != len) return 0;
      return 1;
    }
    if (u == NULL || s[i] == 0) return 0;
    int idx = (int)(u - units);
    if (last >= 0 && idx != last + 1) return 0;
    last = idx;
    elements++;
    i++;
  }
  return elements > 0;
}

/* --- the rest ---------------------------------------------------------- */

static int check_uuid(const char *s, size_t len) {
  if (len != 36) return 0;
  for (size_t i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return 0;
    } else if (!dk__is_hex((unsigned char)s[i])) {
      return 0;
    }
  }
  return 1;
}

static int check_json_pointer(const char *s, size_t len) {
  if (len > 0 && s[0] != '/') return 0;
  for (size_t i = 0; i < len; i++)
    if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1'))) return 0;
  return 1;
}

static int check_relative_json_pointer(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && dk__is_digit((unsigned char)s[i])) i++;
  if (i == 0 || (i > 1 && s[0] == '0')) return 0;
  if (i < len && s[i] == '#') return i + 1 == len;
  return check_json_pointer(s + i, len - i);
}

static int check_regex(const char *s, size_t len) {
  char err[DK_ERRBUF_SIZE];
  struct dk_regex *re = dk_regex_compile(s, len, err);
  dk_regex_free(re);
  return re != NULL;
}

/* Check len bytes at s against a format. 1 valid, 0 invalid (text that is
 * not UTF-8 is invalid for every known format), -1 unknown format. */
int dk_format_check(const char *format, const char *s, size_t len) {
  static const struct {
    const char *name;
    int kind;
  } formats[] = {
      {"date", 1}, {"date-time", 2}, {"time", 3}, {"duration", 4}, {"email", 5},
      {"idn-email", 6}, {"hostname", 7}, {"idn-hostname", 8}, {"ipv4", 9}, {"ipv6", 10},
      {"uri", 11}, {"uri-reference", 12}, {"iri", 13}, {"iri-reference", 14},
      {"uri-template", 15}, {"uuid", 16}, {"json-pointer", 17},
      {"relative-json-pointer", 18}, {"regex", 19},
  };
  int kind = 0;
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
    if (strcmp(format, formats[i].name) == 0) kind = formats[i].kind;
  if (kind == 0) return -1;
  if (!dk_utf8_valid(s, len)) return 0;
  switch (kind) {
  case 1: return check_date(s, len);
  case 2: return check_date_time(s, len);
  case 3: return check_time(s, len);
  case 4: return check_duration(s, len);
  case 5: return dk__format_email(s, len, 0);
  case 6: return dk__format_email(s, len, 1);
  case 7: return dk__format_hostname(s, len, 0);
  case 8: return dk__format_hostname(s, len, 1);
  case 9: return dk__format_ipv4(s, len);
  case 10: return dk__format_ipv6(s, len);
  case 11: return dk__format_uri(s, len, 0, 0);
  case 12: return dk__format_uri(s, len, 0, 1);
  case 13: return dk__format_uri(s, len, 1, 0);
  case 14: return dk__format_uri(s, len, 1, 1);
  case 15: return dk__format_uri_template(s, len);
  case 16: return check_uuid(s, len);
  case 17: return check_json_pointer(s, len);
  case 18: return check_relative_json_pointer(s, len);
  default: return check_regex(s, len);
  }
}

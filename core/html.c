/* HTML for people: see html.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"

void dk_html_text(struct dk_buf *b, const char *s) {
  if (s == NULL) return;
  size_t len = strlen(s);
  const char *p = s, *end = s + len;
  while (p < end) {
    const char *run = p;
    while (p < end && *p != '&' && *p != '<' && *p != '>' && *p != '"' && *p != '\'' &&
           ((unsigned char)*p >= 0x20 || *p == '\n' || *p == '\t') && (unsigned char)*p < 0x7f)
      p++;
    dk_buf_append(b, run, (size_t)(p - run));
    if (p >= end) break;
    unsigned char c = (unsigned char)*p;
    switch (c) {
      case '&': dk_buf_puts(b, "&amp;"); p++; continue;
      case '<': dk_buf_puts(b, "&lt;"); p++; continue;
      case '>': dk_buf_puts(b, "&gt;"); p++; continue;
      case '"': dk_buf_puts(b, "&quot;"); p++; continue;
      case '\'': dk_buf_puts(b, "&#39;"); p++; continue;
      default: break;
    }
    if (c < 0x80) { /* a control character or DEL */
      dk_buf_puts(b, "\xEF\xBF\xBD");
      p++;
      continue;
    }
    /* One UTF-8 character, checked on its own so that one bad byte costs one character. */
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (n > 1 && (size_t)(end - p) >= n && dk_utf8_valid(p, n)) {
      const char *q = p;
      uint32_t u = dk_utf8_next(&q, end);
      if ((u >= 0x80 && u < 0xA0) || (u >= 0x202A && u <= 0x202E) || (u >= 0x2066 && u <= 0x2069))
        dk_buf_puts(b, "\xEF\xBF\xBD"); /* C1 controls, bidi overrides */
      else
        dk_buf_append(b, p, n);
      p += n;
    } else {
      dk_buf_puts(b, "\xEF\xBF\xBD");
      p++;
    }
  }
}

void dk_html_url(struct dk_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
        *p == '.' || *p == '_' || *p == '~') {
      dk_buf_append(b, p, 1);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      dk_buf_append(b, e, 3);
    }
  }
}

static const char dk__css[] =
  "body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"Microsoft YaHei\",\"PingFang SC\",sans-serif;"
  "margin:0;color:#1d2733;background:#f5f7fa;font-size:15px;line-height:1.5}"
  "header{background:#8b1a1a;color:#fff;padding:12px 24px}header h1{margin:0;font-size:22px}"
  "header p{margin:2px 0 0;font-size:13px;opacity:.9}header a{color:#fff}"
  "main{padding:12px 24px;max-width:1400px}"
  "section.panel{background:#fff;border:1px solid #d8dee6;border-radius:4px;margin:12px 0;padding:8px 14px}"
  "h2{font-size:18px;margin:6px 0 8px;border-left:4px solid #8b1a1a;padding-left:8px}"
  "h3{font-size:16px;margin:10px 0 6px}"
  "table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e3e8ee;padding:4px 6px;"
  "text-align:left;vertical-align:top}th{background:#eef2f6;font-weight:600;white-space:nowrap}"
  "td.num{white-space:nowrap;text-align:right}a{color:#0b5394}"
  ".st{display:inline-block;padding:0 6px;border-radius:3px;font-size:13px;white-space:nowrap;border:1px solid}"
  ".st-delayed{background:#fde2e1;color:#a61b1b;border-color:#e99}"
  ".st-not_started{background:#fff4d6;color:#8a5a00;border-color:#e8c66a}"
  ".st-in_progress{background:#e1efff;color:#0b4f94;border-color:#8fb8e8}"
  ".st-completed{background:#e3f5e6;color:#1d6b2c;border-color:#8fcf9c}"
  ".st-cancelled{background:#eee;color:#555;border-color:#bbb}.st-none{background:#fff;color:#888;border-color:#ccc}"
  ".bar{display:inline-block;width:120px;height:10px;background:#e6e9ee;border-radius:2px;vertical-align:middle;"
  "margin-right:4px;-webkit-print-color-adjust:exact;print-color-adjust:exact}"
  ".bar i{display:block;height:10px;border-radius:2px}.c-jinan{background:#1f6fb2}.c-linyi{background:#d9822b}"
  ".city{white-space:nowrap;font-size:13px}.muted{color:#6b7785;font-size:13px}"
  "form.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:center;margin:4px 0}"
  "form.filters select,form.filters button{font-size:14px;padding:2px 4px}"
  ".summary span{margin-right:14px}.bad{color:#a61b1b}.text{white-space:pre-wrap}"
  "svg{vertical-align:middle}"
  "@media print{body{background:#fff;font-size:12px}header{background:#fff;color:#000;border-bottom:2px solid #000}"
  "header a{color:#000}form.filters,.noprint{display:none}section.panel{border:none;padding:0;break-inside:auto}"
  "tr{break-inside:avoid}a{color:#000;text-decoration:none}}";

void dk_html_begin(struct dk_buf *b, const char *title) {
  dk_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
  dk_html_text(b, title);
  dk_buf_puts(b, "</title>\n<style>");
  dk_buf_puts(b, dk__css);
  dk_buf_puts(b, "</style>\n</head>\n<body>\n");
}

void dk_html_end(struct dk_buf *b) {
  dk_buf_puts(b, "<footer class=\"muted\" style=\"padding:8px 24px\">由 duikou 生成 · generated by duikou</footer>\n"
                 "</body>\n</html>\n");
}

static const struct { const char *key, *zh; } dk__status[] = {
  {"delayed", "滞后"}, {"not_started", "未开始"}, {"in_progress", "进行中"},
  {"completed", "已完成"}, {"cancelled", "已取消"},
};

const char *dk_html_status(const char *status) {
  if (status == NULL) return "未报送";
  for (size_t i = 0; i < sizeof dk__status / sizeof dk__status[0]; i++)
    if (strcmp(status, dk__status[i].key) == 0) return dk__status[i].zh;
  return status;
}

int dk_html_status_rank(const char *status) {
  if (status == NULL) return 2;
  static const char *order[] = {"delayed", "not_started", "", "in_progress", "completed", "cancelled"};
  for (int i = 0; i < 6; i++)
    if (strcmp(status, order[i]) == 0) return i;
  return 6;
}

const char *dk_html_city(const char *city) {
  if (city == NULL) return "";
  if (strcmp(city, "jinan") == 0) return "济南";
  if (strcmp(city, "linyi") == 0) return "临沂";
  if (strcmp(city, "province") == 0) return "省级";
  if (strcmp(city, "central") == 0) return "中央";
  if (strcmp(city, "other") == 0) return "其他";
  return city;
}

const char *dk_html_role(const char *role) {
  if (role == NULL) return "";
  if (strcmp(role, "lead") == 0) return "牵头";
  if (strcmp(role, "shared") == 0) return "共同牵头";
  if (strcmp(role, "support") == 0) return "配合";
  if (strcmp(role, "sole") == 0) return "独立承担";
  return role;
}

const char *dk_html_date(time_t t, int with_time, char *out, size_t n) {
  struct tm tm;
  if (t <= 0 || localtime_r(&t, &tm) == NULL) {
    snprintf(out, n, "—");
    return out;
  }
  strftime(out, n, with_time ? "%Y-%m-%d %H:%M" : "%Y-%m-%d", &tm);
  return out;
}

const char *dk_html_date_iso(const char *iso, int with_time, char *out, size_t n) {
  if (iso == NULL) {
    snprintf(out, n, "—");
    return out;
  }
  time_t t = dk_time_parse_iso(iso);
  if (t == (time_t)-1) {
    /* not a date: shown as given, minus anything that is not a date's
     * character (the callers print it as it is, and it came from a record) */
    size_t o = 0;
    for (const char *p = iso; *p && o + 1 < n; p++)
      out[o++] = strchr("0123456789-:+.TZ ", *p) ? *p : '?';
    out[o] = '\0';
    return out;
  }
  return dk_html_date(t, with_time, out, n);
}

void dk_html_badge(struct dk_buf *b, const char *status) {
  int known = status == NULL || dk_html_status(status) != status;
  dk_buf_printf(b, "<span class=\"st st-%s\">", status == NULL ? "none" : known ? status : "none");
  dk_html_text(b, dk_html_status(status));
  dk_buf_puts(b, "</span>");
}

void dk_html_bar(struct dk_buf *b, double percent, const char *city) {
  if (percent < 0) {
    dk_buf_puts(b, "<span class=\"bar\"></span><span class=\"muted\">—</span>");
    return;
  }
  if (percent > 100) percent = 100;
  const char *c = city && strcmp(city, "linyi") == 0 ? "linyi" : "jinan";
  dk_buf_printf(b, "<span class=\"bar\"><i class=\"c-%s\" style=\"width:%.0f%%\"></i></span><b class=\"pct\">%g%%</b>",
                c, percent, percent);
}

/* "x,y" of two small non-negative numbers into out; returns its length. */
static int dk__xy(char *out, int x, int y) {
  char tmp[24];
  int n = 0, t = 0;
  for (int v = x < 0 ? 0 : x; t == 0 || v; v /= 10) tmp[t++] = (char)('0' + v % 10);
  while (t) out[n++] = tmp[--t];
  out[n++] = ',';
  for (int v = y < 0 ? 0 : y; t == 0 || v; v /= 10) tmp[t++] = (char)('0' + v % 10);
  while (t) out[n++] = tmp[--t];
  return n;
}

static int dk__cmpstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void dk_html_chart(struct dk_buf *b, const struct dk_html_series *s, size_t ns, int width, int height,
                   int labels) {
  size_t total = 0;
  for (size_t i = 0; i < ns; i++) total += s[i].n;
  const char **all = dk_calloc(total + 1, sizeof *all);
  size_t na = 0;
  for (size_t i = 0; i < ns; i++)
    for (size_t j = 0; j < s[i].n; j++) all[na++] = s[i].periods[j];
  qsort(all, na, sizeof *all, dk__cmpstr);
  size_t nu = 0;
  for (size_t i = 0; i < na; i++)
    if (nu == 0 || strcmp(all[nu - 1], all[i]) != 0) all[nu++] = all[i];
  int left = labels ? 34 : 3, right = labels ? 24 : 6, top = 6, bottom = labels ? 20 : 3;
  int pw = width - left - right, ph = height - top - bottom;
  dk_buf_printf(b, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                   "aria-label=\"进度变化\">",
                width, height, width, height);
  dk_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafbfc\" stroke=\"#d8dee6\"/>", left,
                top, pw, ph);
  if (labels) {
    for (int g = 0; g <= 100; g += 50) {
      double y = top + ph - ph * g / 100.0;
      dk_buf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e8ee\"/>"
                       "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#6b7785\">%d%%</text>",
                    left, left + pw, y, y, left - 3, y + 3, g);
    }
    if (nu > 0) {
      size_t step = nu > 6 ? (nu + 5) / 6 : 1;
      for (size_t i = 0; i < nu; i += step) {
        double x = left + (nu == 1 ? pw / 2.0 : pw * (double)i / (double)(nu - 1));
        dk_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" fill=\"#6b7785\">",
                      x, height - 6);
        dk_html_text(b, all[i]);
        dk_buf_puts(b, "</text>");
      }
    }
  }
  /* Whole pixels, written without printf: a page has a few thousand points. */
  size_t k = 0;
  for (size_t i = 0; i < ns; i++) {
    if (s[i].n == 0) continue;
    const char *color = s[i].city && strcmp(s[i].city, "linyi") == 0 ? "#d9822b" : "#1f6fb2";
    if (s[i].n > 1)
      dk_buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (int pass = s[i].n > 1 ? 0 : 1; pass < 2; pass++) {
      if (pass == 1 && !labels && s[i].n > 1) break; /* a sparkline: the line alone */
      for (size_t j = 0; j < s[i].n; j++) {
        while (k < nu && strcmp(all[k], s[i].periods[j]) != 0) k = k + 1 < nu ? k + 1 : 0;
        double p = s[i].percent[j] < 0 ? 0 : s[i].percent[j] > 100 ? 100 : s[i].percent[j];
        int x = (int)(left + (nu == 1 ? pw / 2.0 : pw * (double)k / (double)(nu - 1)) + 0.5);
        int y = (int)(top + ph - ph * p / 100.0 + 0.5);
        char num[32];
        if (pass == 0) {
          int len = dk__xy(num, x, y);
          if (j) dk_buf_append(b, " ", 1);
          dk_buf_append(b, num, (size_t)len);
          continue;
        }
        dk_buf_printf(b, "<circle cx=\"%d\" cy=\"%d\" r=\"2.5\" fill=\"%s\"><title>", x, y, color);
        dk_html_text(b, dk_html_city(s[i].city));
        dk_buf_puts(b, " ");
        dk_html_text(b, s[i].periods[j]);
        dk_buf_printf(b, ": %g%%</title></circle>", s[i].percent[j]);
      }
      if (pass == 0) dk_buf_puts(b, "\"/>");
    }
  }
  dk_buf_puts(b, "</svg>");
  free(all);
}

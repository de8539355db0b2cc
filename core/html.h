/* What the dashboard and the period report share to write HTML: escaping,
 * the page's frame (inline CSS, printable, no script, nothing fetched from
 * the network), the words an official reads (Chinese first), dates in the
 * configured time zone, percent bars and the small inline SVG chart of a
 * task's percent over time. Every text that comes from a record goes
 * through dk_html_text or dk_html_attr: records are untrusted. */
#ifndef DK_HTML_H
#define DK_HTML_H

#include <stddef.h>
#include <time.h>
#include "util.h"

/* Append `s` escaped for HTML text and attribute values (& < > " '). Bytes
 * that are not UTF-8 and control characters other than newline and tab
 * become U+FFFD; NULL appends nothing. */
void dk_html_text(struct dk_buf *b, const char *s);
/* The same for a value in a URL's query or path: percent-encoded (RFC 3986
 * unreserved characters kept), then safe in an attribute as it is. */
void dk_html_url(struct dk_buf *b, const char *s);

/* Start a page: doctype, <head> with `title` (escaped) and the inline
 * style sheet, <body>, the banner. dk_html_end closes it. */
void dk_html_begin(struct dk_buf *b, const char *title);
void dk_html_end(struct dk_buf *b);

/* The Chinese word of a status ("滞后" for "delayed"); "未报送" for NULL;
 * the value itself (the caller escapes it) for one duikou does not know. */
const char *dk_html_status(const char *status);
/* Sort rank of a status: delayed first, then not started, then no report
 * (NULL), in progress, completed, cancelled, unknown ones last. */
int dk_html_status_rank(const char *status);
/* 济南, 临沂, 省级, 中央, 其他; the value itself for another. */
const char *dk_html_city(const char *city);
/* 牵头, 共同牵头, 配合, 独立承担; the value itself for another. */
const char *dk_html_role(const char *role);

/* `t` in the process's time zone as "2024-06-30 17:00" (with_time) or
 * "2024-06-30", into out (at least 32 bytes). "—" for t <= 0. */
const char *dk_html_date(time_t t, int with_time, char *out, size_t n);
/* An RFC 3339 text as dk_html_date shows it; the text itself when it is
 * not one, "—" for NULL. */
const char *dk_html_date_iso(const char *iso, int with_time, char *out, size_t n);

/* A status badge: <span class="st st-delayed">滞后</span>. */
void dk_html_badge(struct dk_buf *b, const char *status);
/* A percent bar with its number (percent < 0: no report). */
void dk_html_bar(struct dk_buf *b, double percent, const char *city);

/* One city's series for the chart: n points of (period label, percent). */
struct dk_html_series {
  const char *city;            /* jinan, linyi: its color and legend */
  const char *const *periods;  /* "2024-06" */
  const double *percent;
  size_t n;
};
/* An inline SVG line chart of the series over the union of their periods
 * (sorted), 0–100 %, width × height pixels, with the axes labelled when
 * `labels` is set. Nothing but an empty box when no series has a point. */
void dk_html_chart(struct dk_buf *b, const struct dk_html_series *s, size_t ns, int width, int height,
                   int labels);

#endif

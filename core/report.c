/* The period report: see report.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "html.h"
#include "planview.h"
#include "report.h"

int dk_report_period_ok(const char *p) {
  if (p == NULL || strlen(p) != 7 || p[4] != '-') return 0;
  for (int i = 0; i < 7; i++)
    if (i != 4 && (p[i] < '0' || p[i] > '9')) return 0;
  int m = (p[5] - '0') * 10 + (p[6] - '0');
  return m >= 1 && m <= 12;
}

struct dk__rrow { const struct dk_pv_task *t; const struct dk_pv_report *r[DK_PV_NCITIES]; int rank; };

static int dk__rrow_cmp(const void *a, const void *b) {
  const struct dk__rrow *x = a, *y = b;
  if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
  return x->t->number < y->t->number ? -1 : x->t->number > y->t->number;
}

/* The rows of plan p for period: NULL when no task has a report for it. */
static struct dk__rrow *dk__rows(const struct dk_pv_plan *p, const char *period, size_t *n) {
  struct dk__rrow *rows = dk_calloc(p->n + 1, sizeof *rows);
  int any = 0;
  for (size_t i = 0; i < p->n; i++) {
    struct dk__rrow *r = &rows[i];
    r->t = &p->tasks[i];
    r->rank = dk_html_status_rank(NULL); /* neither city reported */
    int first = 1;
    for (int c = 0; c < DK_PV_NCITIES; c++) {
      r->r[c] = dk_pv_report_for(r->t, c, period);
      if (r->r[c] == NULL) continue;
      any = 1;
      int k = dk_html_status_rank(r->r[c]->status);
      if (first || k < r->rank) r->rank = k;
      first = 0;
    }
  }
  if (!any) {
    free(rows);
    return NULL;
  }
  qsort(rows, p->n, sizeof *rows, dk__rrow_cmp);
  *n = p->n;
  return rows;
}

static const char *dk__str(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static void dk__units(struct dk_buf *b, const struct dk_pv_task *t, int html) {
  size_t i;
  json_t *u;
  json_array_foreach(json_object_get(t->rec, "units"), i, u) {
    if (i) dk_buf_puts(b, "；");
    const char *name = dk__str(u, "name"), *role = dk__str(u, "role");
    if (html) dk_html_text(b, name);
    else dk_buf_puts(b, name ? name : "");
    if (role) dk_buf_printf(b, "（%s）", dk_html_role(role));
  }
}

/* One CSV field, always quoted (RFC 4180); a text a spreadsheet would take
 * for a formula (=, +, -, @ first) gets a leading apostrophe. */
static void dk__csv(struct dk_buf *b, const char *s, int last) {
  dk_buf_puts(b, "\"");
  if (s && (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r')) dk_buf_puts(b, "'");
  for (const char *p = s ? s : ""; *p; p++) {
    if (*p == '"') dk_buf_puts(b, "\"\"");
    else dk_buf_append(b, p, 1);
  }
  dk_buf_puts(b, last ? "\"\r\n" : "\",");
}

static void dk__csv_rows(struct dk_buf *b, const struct dk_pv_plan *p, const struct dk__rrow *rows, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const struct dk_pv_task *t = rows[i].t;
    char num[24];
    snprintf(num, sizeof num, "%ld", t->number);
    struct dk_buf sec = {0}, units = {0};
    if (t->sec_number) dk_buf_printf(&sec, "%s、", t->sec_number);
    if (t->sec_title) dk_buf_puts(&sec, t->sec_title);
    dk__units(&units, t, 0);
    dk__csv(b, p->plan, 0);
    dk__csv(b, num, 0);
    dk__csv(b, t->title, 0);
    dk__csv(b, dk_buf_cstr(&sec), 0);
    dk__csv(b, dk_buf_cstr(&units), 0);
    for (int c = 0; c < DK_PV_NCITIES; c++) {
      const struct dk_pv_report *r = rows[i].r[c];
      char pct[32] = "";
      if (r && r->percent >= 0) snprintf(pct, sizeof pct, "%g", r->percent);
      dk__csv(b, dk_html_status(r ? r->status : NULL), 0);
      dk__csv(b, pct, 0);
      dk__csv(b, r ? r->summary : NULL, c == DK_PV_NCITIES - 1);
    }
    dk_buf_free(&sec);
    dk_buf_free(&units);
  }
}

static void dk__html_rows(struct dk_buf *b, const struct dk_pv_plan *p, const struct dk__rrow *rows, size_t n) {
  const char *title = p->plan_rec ? dk__str(p->plan_rec, "title") : NULL;
  dk_buf_puts(b, "<section class=\"panel\"><h2>");
  dk_html_text(b, title ? title : p->plan);
  size_t counts[8] = {0};
  for (size_t i = 0; i < n; i++) counts[rows[i].rank < 7 ? rows[i].rank : 7]++;
  dk_buf_printf(b, "</h2>\n<p class=\"summary\"><span>共 %zu 项任务</span>", n);
  static const char *const order[] = {"delayed", "not_started", NULL, "in_progress", "completed", "cancelled"};
  for (int i = 0; i < 6; i++)
    if (counts[i]) {
      dk_buf_puts(b, "<span>");
      dk_html_badge(b, order[i]);
      dk_buf_printf(b, " %zu 项</span>", counts[i]);
    }
  dk_buf_puts(b, "</p>\n<p class=\"muted\">按两市报送中较不利的状态排序：滞后、未开始在前。</p>\n"
                 "<table><thead><tr><th>序号</th><th>任务</th><th>责任单位</th>");
  for (int c = 0; c < DK_PV_NCITIES; c++)
    dk_buf_printf(b, "<th>%s</th><th>%s情况</th>", dk_html_city(dk_pv_cities[c]), dk_html_city(dk_pv_cities[c]));
  dk_buf_puts(b, "</tr></thead><tbody>\n");
  for (size_t i = 0; i < n; i++) {
    const struct dk_pv_task *t = rows[i].t;
    dk_buf_puts(b, "<tr class=\"task\" data-task=\"");
    dk_html_text(b, t->id);
    dk_buf_printf(b, "\"><td class=\"num\">%ld</td><td>", t->number);
    dk_html_text(b, t->title);
    dk_buf_puts(b, "</td><td class=\"muted\">");
    dk__units(b, t, 1);
    dk_buf_puts(b, "</td>");
    for (int c = 0; c < DK_PV_NCITIES; c++) {
      const struct dk_pv_report *r = rows[i].r[c];
      dk_buf_printf(b, "<td class=\"city\" data-city=\"%s\">", dk_pv_cities[c]);
      dk_html_badge(b, r ? r->status : NULL);
      if (r) {
        dk_buf_puts(b, "<br>");
        dk_html_bar(b, r->percent, dk_pv_cities[c]);
      }
      dk_buf_puts(b, "</td><td>");
      if (r) dk_html_text(b, r->summary);
      dk_buf_puts(b, "</td>");
    }
    dk_buf_puts(b, "</tr>\n");
  }
  dk_buf_puts(b, "</tbody></table></section>\n");
}

int dk_report_render(const char *repo, const char *period, enum dk_report_format fmt, struct dk_buf *out,
                     size_t *ntasks, char *err) {
  out->len = 0;
  if (ntasks) *ntasks = 0;
  if (!dk_report_period_ok(period))
    return dk_failf(err, DK_EINVAL, "period \"%s\" is not a month as YYYY-MM (2024-06)", period ? period : "");
  struct dk_audit *a = NULL;
  int rc = dk_audit_open(repo, &a, err);
  if (rc != 0) return rc;
  git_oid main;
  rc = dk_audit_main(a, &main);
  if (rc != 0) {
    dk_failf(err, rc, "%s: %s", repo, rc == DK_ENOENT ? "no main branch yet (nothing synced)" : a->err);
    dk_audit_close(a);
    return rc;
  }
  json_t *plans = NULL;
  rc = dk_pv_plans(a->st, &main, &plans, err);
  size_t i, total = 0;
  json_t *v;
  int y = atoi(period), m = atoi(period + 5);
  if (rc == 0) {
    char title[64];
    snprintf(title, sizeof title, "济南—临沂对口合作 工作进展报告 %d年%d月", y, m);
    if (fmt == DK_REPORT_CSV) {
      dk_buf_puts(out, "\xEF\xBB\xBF");
      const char *head[] = {"计划", "序号", "任务", "章节", "责任单位", "济南状态", "济南进度(%)", "济南情况说明",
                            "临沂状态", "临沂进度(%)", "临沂情况说明"};
      for (int k = 0; k < 11; k++) dk__csv(out, head[k], k == 10);
    } else {
      dk_html_begin(out, title);
      dk_buf_printf(out, "<header><h1>%s</h1><p>报告期：%d年%d月（%s）</p></header>\n<main>\n", title, y, m, period);
    }
  }
  json_array_foreach(plans, i, v) {
    if (rc != 0) break;
    struct dk_pv_plan p;
    rc = dk_pv_load(a->st, &main, json_string_value(v), &p, err);
    if (rc != 0) break;
    size_t n = 0;
    struct dk__rrow *rows = dk__rows(&p, period, &n);
    if (rows) {
      if (fmt == DK_REPORT_CSV) dk__csv_rows(out, &p, rows, n);
      else dk__html_rows(out, &p, rows, n);
      total += n;
    }
    free(rows);
    dk_pv_plan_clear(&p);
  }
  json_decref(plans);
  dk_audit_close(a);
  if (rc == 0 && total == 0)
    rc = dk_failf(err, DK_ENOENT, "%s: no progress report for %s on main", repo, period);
  if (rc != 0) {
    dk_buf_free(out);
    return rc;
  }
  if (fmt == DK_REPORT_HTML) {
    dk_buf_puts(out, "</main>\n");
    dk_html_end(out);
  }
  if (ntasks) *ntasks = total;
  return 0;
}

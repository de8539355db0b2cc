/* The dashboard's pages: see dashboard.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "dashboard.h"
#include "log.h"
#include "html.h"
#include "planview.h"
#include "quarantine.h"
#include "state.h"

#define DK__RECENT 10     /* commits shown under 最近更新 */
#define DK__QUARANTINE 5  /* latest quarantine entries shown */
#define DK__HISTORY 50    /* changes shown on a task's page */
#define DK__SHORT 160     /* bytes of a value shown in a table */

static const char dk__html_type[] = "text/html; charset=utf-8";

char *dk_dashboard_query(const char *query, const char *key) {
  size_t klen = strlen(key);
  for (const char *p = query; p && *p;) {
    const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
    if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      struct dk_buf v = {0};
      for (const char *q = p + klen + 1; q < end; q++) {
        if (*q == '+') {
          dk_buf_append(&v, " ", 1);
        } else if (*q == '%' && end - q >= 3 && isxdigit((unsigned char)q[1]) && isxdigit((unsigned char)q[2])) {
          char hex[3] = {q[1], q[2], 0};
          char c = (char)strtol(hex, NULL, 16);
          dk_buf_append(&v, &c, 1);
          q += 2;
        } else {
          dk_buf_append(&v, q, 1);
        }
      }
      if (v.len == 0 || memchr(v.data, '\0', v.len) || !dk_utf8_valid(v.data, v.len)) {
        dk_buf_free(&v);
        return NULL;
      }
      return dk_buf_steal(&v);
    }
    p = amp ? amp + 1 : end;
  }
  return NULL;
}

/* ---- small pieces ---- */

static const char *dk__str(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A JSON value for a table cell: a string as it is, a status in words,
 * anything else as compact JSON; cut to DK__SHORT bytes. */
static void dk__value(struct dk_buf *b, const json_t *v, const char *field) {
  char out[DK__SHORT + 8];
  if (v == NULL) {
    dk_buf_puts(b, "<span class=\"muted\">（无）</span>");
    return;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (field && strcmp(field, "status") == 0) s = dk_html_status(s);
    dk_html_text(b, dk_excerpt(out, sizeof out, s, strlen(s)));
    return;
  }
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
  if (s) dk_html_text(b, dk_excerpt(out, sizeof out, s, strlen(s)));
  free(s);
}

/* A field's name in words: "status" is 状态, "units[济南市教育局].role" is
 * 责任单位（济南市教育局）职责; an unknown one as it is. */
static void dk__field(struct dk_buf *b, const char *field) {
  static const struct { const char *k, *zh; } names[] = {
    {"", "整条记录"}, {"title", "标题"}, {"text", "内容"}, {"status", "状态"}, {"number", "序号"},
    {"plan", "计划"}, {"section", "章节"}, {"section.title", "章节标题"}, {"section.number", "章节序号"},
    {"subsection", "小节"}, {"updated_at", "更新时间"}, {"percent", "进度"}, {"summary", "情况说明"},
    {"unit", "报送单位"}, {"period", "期间"}, {"reported_at", "报送时间"}, {"targets", "目标"},
    {"units", "责任单位"}, {"milestones", "里程碑"}, {"city", "城市"}, {"id", "编号"}, {"kind", "类型"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(field, names[i].k) == 0) {
      dk_buf_puts(b, names[i].zh);
      return;
    }
  if (strncmp(field, "units[", 6) == 0) {
    const char *close = strchr(field, ']');
    if (close) {
      char *name = dk_strndup(field + 6, (size_t)(close - field - 6));
      dk_buf_puts(b, "责任单位（");
      dk_html_text(b, name);
      dk_buf_puts(b, "）");
      free(name);
      if (strcmp(close, "].role") == 0) dk_buf_puts(b, "职责");
      else if (strcmp(close, "].city") == 0) dk_buf_puts(b, "城市");
      else if (close[1]) dk_html_text(b, close + 1);
      return;
    }
  }
  dk_html_text(b, field);
}

/* A source's name with its city: "jinan-tasks（济南）". */
static void dk__source(struct dk_buf *b, const char *source, const char *city) {
  dk_html_text(b, source ? source : "—");
  if (city && *city) {
    dk_buf_puts(b, "（");
    dk_html_text(b, dk_html_city(city));
    dk_buf_puts(b, "）");
  }
}

static void dk__task_link(struct dk_buf *b, const char *plan, long number) {
  dk_buf_puts(b, "/tasks/");
  dk_html_url(b, plan);
  dk_buf_printf(b, "/%ld", number);
}

static void dk__banner(struct dk_buf *b, const char *subtitle, time_t updated) {
  char d[32];
  dk_buf_puts(b, "<header><h1>济南—临沂对口合作 工作进展</h1><p>");
  dk_html_text(b, subtitle);
  if (updated > 0) {
    dk_buf_puts(b, " · 数据更新于 ");
    dk_buf_puts(b, dk_html_date(updated, 1, d, sizeof d));
  }
  dk_buf_puts(b, "</p></header>\n<main>\n");
}

static int dk__message_page(struct dk_buf *body, int status, const char *title, const char *msg) {
  body->len = 0;
  dk_html_begin(body, title);
  dk__banner(body, title, 0);
  dk_buf_puts(body, "<section class=\"panel\"><h2>");
  dk_html_text(body, title);
  dk_buf_puts(body, "</h2><p>");
  dk_html_text(body, msg);
  dk_buf_puts(body, "</p><p><a href=\"/\">返回总览</a></p></section>\n</main>\n");
  dk_html_end(body);
  return status;
}

/* ---- what one page reads ---- */

struct dk__page {
  const struct dk_dashboard_opts *o;
  struct dk_audit *a;
  git_oid main;
  int has_main;
  time_t main_time;
  char *err;
};

/* Open the repository and find main. Returns 0 (has_main 0 when there is no
 * main yet) or DK_EGIT / DK_ENOENT with err. */
static int dk__page_open(struct dk__page *pg) {
  int rc = dk_audit_open(pg->o->cfg->repository, &pg->a, pg->err);
  if (rc != 0) return rc;
  rc = dk_audit_main(pg->a, &pg->main);
  if (rc == DK_ENOENT) return 0;
  if (rc != 0) return dk_failf(pg->err, rc, "%s", pg->a->err);
  pg->has_main = 1;
  struct dk_store_commit c;
  if (dk_store_commit(pg->a->st, &pg->main, &c) != 0) return dk_failf(pg->err, DK_EGIT, "%s", pg->a->st->err);
  pg->main_time = (time_t)c.time;
  dk_store_commit_clear(&c);
  return 0;
}

/* ---- the index page ---- */

struct dk__filter {
  char *city, *status, *unit, *plan;
  int city_ix; /* DK_PV_JINAN, DK_PV_LINYI, or -1 */
};

static int dk__task_has_city(const struct dk_pv_task *t, const char *city, int c) {
  if (t->nreports[c]) return 1;
  size_t i;
  json_t *u;
  json_array_foreach(json_object_get(t->rec, "units"), i, u) {
    const char *uc = dk__str(u, "city");
    if (uc && strcmp(uc, city) == 0) return 1;
  }
  return 0;
}

/* The status a task sorts and filters by: the filtered city's latest report, else the task's own. */
static const char *dk__task_status(const struct dk_pv_task *t, const struct dk__filter *f) {
  if (f->city_ix >= 0) {
    const struct dk_pv_report *r = dk_pv_latest(t, f->city_ix);
    return r ? r->status : NULL;
  }
  return t->status;
}

static int dk__task_matches(const struct dk_pv_task *t, const struct dk__filter *f) {
  if (f->city_ix >= 0 && !dk__task_has_city(t, f->city, f->city_ix)) return 0;
  if (f->status) {
    int hit = 0;
    const char *s = dk__task_status(t, f);
    if (s && strcmp(s, f->status) == 0) hit = 1;
    for (int c = 0; !hit && f->city_ix < 0 && c < DK_PV_NCITIES; c++) {
      const struct dk_pv_report *r = dk_pv_latest(t, c);
      if (r && r->status && strcmp(r->status, f->status) == 0) hit = 1;
    }
    if (!hit) return 0;
  }
  if (f->unit) {
    json_t *units = dk_pv_task_units(t), *u;
    size_t i;
    int hit = 0;
    json_array_foreach(units, i, u) if (strcmp(json_string_value(u), f->unit) == 0) hit = 1;
    json_decref(units);
    if (!hit) return 0;
  }
  return 1;
}

/* A city's cell: status, bar and the period of its latest report. */
static void dk__city_cell(struct dk_buf *b, const struct dk_pv_task *t, int c) {
  const struct dk_pv_report *r = dk_pv_latest(t, c);
  dk_buf_printf(b, "<td class=\"city\" data-city=\"%s\"", dk_pv_cities[c]);
  if (r && r->percent >= 0) dk_buf_printf(b, " data-percent=\"%g\"", r->percent);
  dk_buf_puts(b, ">");
  if (r == NULL) {
    dk_html_badge(b, NULL);
    dk_buf_puts(b, "</td>");
    return;
  }
  dk_html_badge(b, r->status);
  dk_buf_puts(b, "<br>");
  dk_html_bar(b, r->percent, dk_pv_cities[c]);
  dk_buf_puts(b, " <span class=\"muted\">");
  dk_html_text(b, r->period);
  dk_buf_puts(b, "</span></td>");
}

static void dk__chart_of(struct dk_buf *b, const struct dk_pv_task *t, int only, int width, int height,
                         int labels) {
  struct dk_html_series s[DK_PV_NCITIES];
  const char **periods[DK_PV_NCITIES];
  double *pct[DK_PV_NCITIES];
  size_t ns = 0;
  for (int c = 0; c < DK_PV_NCITIES; c++) {
    periods[c] = NULL;
    pct[c] = NULL;
    if (only >= 0 && c != only) continue;
    size_t n = 0;
    periods[c] = dk_calloc(t->nreports[c] + 1, sizeof **periods);
    pct[c] = dk_calloc(t->nreports[c] + 1, sizeof **pct);
    for (size_t k = 0; k < t->nreports[c]; k++)
      if (t->reports[c][k].percent >= 0 && t->reports[c][k].period) {
        periods[c][n] = t->reports[c][k].period;
        pct[c][n++] = t->reports[c][k].percent;
      }
    s[ns++] = (struct dk_html_series){dk_pv_cities[c], periods[c], pct[c], n};
  }
  dk_html_chart(b, s, ns, width, height, labels);
  for (int c = 0; c < DK_PV_NCITIES; c++) {
    free(periods[c]);
    free(pct[c]);
  }
}

static void dk__units_inline(struct dk_buf *b, const struct dk_pv_task *t) {
  size_t i;
  json_t *u;
  int first = 1;
  json_array_foreach(json_object_get(t->rec, "units"), i, u) {
    dk_buf_puts(b, first ? "" : "；");
    first = 0;
    dk_html_text(b, dk__str(u, "name"));
    const char *role = dk__str(u, "role");
    if (role) {
      dk_buf_puts(b, "（");
      dk_html_text(b, dk_html_role(role));
      dk_buf_puts(b, "）");
    }
  }
}

struct dk__row { const struct dk_pv_task *t; int rank; size_t section; };

static int dk__row_cmp(const void *a, const void *b) {
  const struct dk__row *x = a, *y = b;
  if (x->section != y->section) return x->section < y->section ? -1 : 1;
  if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
  return x->t->number < y->t->number ? -1 : x->t->number > y->t->number;
}

static void dk__select(struct dk_buf *b, const char *name, const char *label, const char *current,
                       const char *const *values, const char *const *words, size_t n) {
  dk_buf_printf(b, "<label>%s <select name=\"%s\"><option value=\"\">全部</option>", label, name);
  for (size_t i = 0; i < n; i++) {
    dk_buf_puts(b, "<option value=\"");
    dk_html_text(b, values[i]);
    dk_buf_puts(b, current && strcmp(current, values[i]) == 0 ? "\" selected>" : "\">");
    dk_html_text(b, words[i]);
    dk_buf_puts(b, "</option>");
  }
  dk_buf_puts(b, "</select></label>");
}

static int dk__strcmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void dk__filters(struct dk_buf *b, const struct dk_pv_plan *p, const struct dk__filter *f) {
  static const char *const cities[] = {"jinan", "linyi"}, *const cwords[] = {"济南", "临沂"};
  static const char *const sts[] = {"delayed", "not_started", "in_progress", "completed", "cancelled"};
  const char *swords[5];
  for (int i = 0; i < 5; i++) swords[i] = dk_html_status(sts[i]);
  json_t *all = json_object(); /* a set of the names */
  for (size_t i = 0; i < p->n; i++) {
    json_t *u = dk_pv_task_units(&p->tasks[i]), *v;
    size_t k;
    json_array_foreach(u, k, v) json_object_set(all, json_string_value(v), json_true());
    json_decref(u);
  }
  size_t nu = 0;
  const char **units = dk_calloc(json_object_size(all) + 1, sizeof *units), *name;
  json_t *v;
  json_object_foreach(all, name, v) units[nu++] = name;
  qsort(units, nu, sizeof *units, dk__strcmp);
  dk_buf_puts(b, "<form class=\"filters\" method=\"get\" action=\"/\">");
  dk_buf_puts(b, "<input type=\"hidden\" name=\"plan\" value=\"");
  dk_html_text(b, p->plan);
  dk_buf_puts(b, "\">");
  dk__select(b, "city", "城市", f->city, cities, cwords, 2);
  dk__select(b, "status", "状态", f->status, sts, swords, 5);
  dk__select(b, "unit", "责任单位", f->unit, units, units, nu);
  dk_buf_puts(b, "<button type=\"submit\">筛选</button> <a href=\"/?plan=");
  dk_html_url(b, p->plan);
  dk_buf_puts(b, "\">清除筛选</a></form>\n");
  free(units);
  json_decref(all);
}

static void dk__tasks_panel(struct dk_buf *b, const struct dk_pv_plan *p, const struct dk__filter *f) {
  size_t counts[7] = {0}, shown = 0;
  for (size_t i = 0; i < p->n; i++) counts[dk_html_status_rank(p->tasks[i].status)]++;
  dk_buf_printf(b, "<section class=\"panel\" id=\"tasks\"><h2>任务进展</h2><p class=\"summary\"><span>共 %zu 项任务</span>",
                p->n);
  static const char *const order[] = {"delayed", "not_started", "in_progress", "completed", "cancelled"};
  for (int i = 0; i < 5; i++) {
    size_t c = counts[dk_html_status_rank(order[i])];
    if (c) {
      dk_buf_puts(b, "<span>");
      dk_html_badge(b, order[i]);
      dk_buf_printf(b, " %zu 项</span>", c);
    }
  }
  dk_buf_puts(b, "</p>\n");
  dk__filters(b, p, f);
  /* Sections in the order of their first task. */
  struct dk__row *rows = dk_calloc(p->n + 1, sizeof *rows);
  const char **secs = dk_calloc(p->n + 1, sizeof *secs);
  size_t nsec = 0;
  for (size_t i = 0; i < p->n; i++) {
    const struct dk_pv_task *t = &p->tasks[i];
    const char *key = t->sec_title ? t->sec_title : "";
    size_t s = 0;
    while (s < nsec && strcmp(secs[s], key) != 0) s++;
    if (s == nsec) secs[nsec++] = key;
    if (!dk__task_matches(t, f)) continue;
    rows[shown++] = (struct dk__row){t, dk_html_status_rank(dk__task_status(t, f)), s};
  }
  qsort(rows, shown, sizeof *rows, dk__row_cmp);
  if (shown == 0) dk_buf_puts(b, "<p class=\"muted\">没有符合条件的任务。</p>\n");
  else if (f->city || f->status || f->unit) dk_buf_printf(b, "<p class=\"muted\">符合条件的任务 %zu 项。</p>\n", shown);
  size_t cur = (size_t)-1;
  for (size_t i = 0; i < shown; i++) {
    const struct dk_pv_task *t = rows[i].t;
    if (rows[i].section != cur) {
      if (cur != (size_t)-1) dk_buf_puts(b, "</tbody></table>\n");
      cur = rows[i].section;
      dk_buf_puts(b, "<h3>");
      if (t->sec_number) {
        dk_html_text(b, t->sec_number);
        dk_buf_puts(b, "、");
      }
      dk_html_text(b, t->sec_title ? t->sec_title : "其他任务");
      dk_buf_puts(b, "</h3>\n<table><thead><tr><th>序号</th><th>任务</th><th>任务状态</th>");
      for (int c = 0; c < DK_PV_NCITIES; c++)
        if (f->city_ix < 0 || f->city_ix == c) dk_buf_printf(b, "<th>%s</th>", dk_html_city(dk_pv_cities[c]));
      dk_buf_puts(b, "<th>进度变化</th></tr></thead><tbody>\n");
    }
    dk_buf_puts(b, "<tr class=\"task\" data-task=\"");
    dk_html_text(b, t->id);
    dk_buf_printf(b, "\"><td class=\"num\">%ld</td><td><a href=\"", t->number);
    dk__task_link(b, p->plan, t->number);
    dk_buf_puts(b, "\">");
    dk_html_text(b, t->title ? t->title : t->id);
    dk_buf_puts(b, "</a><br><span class=\"muted\">");
    dk__units_inline(b, t);
    dk_buf_puts(b, "</span></td><td>");
    dk_html_badge(b, t->status);
    dk_buf_puts(b, "</td>");
    for (int c = 0; c < DK_PV_NCITIES; c++)
      if (f->city_ix < 0 || f->city_ix == c) dk__city_cell(b, t, c);
    dk_buf_puts(b, "<td>");
    dk__chart_of(b, t, f->city_ix, 150, 36, 0);
    dk_buf_puts(b, "</td></tr>\n");
  }
  if (cur != (size_t)-1) dk_buf_puts(b, "</tbody></table>\n");
  dk_buf_puts(b, "<p class=\"muted\">图例：<span style=\"color:#1f6fb2\">■ 济南</span> "
                 "<span style=\"color:#d9822b\">■ 临沂</span>；“未报送”表示该市尚无进度报告。</p></section>\n");
  free(rows);
  free(secs);
}

static void dk__sources_panel(struct dk_buf *b, const struct dk_dashboard_opts *o) {
  const struct dk_config *cfg = o->cfg;
  char d1[32], d2[32], d3[32];
  dk_buf_puts(b, "<section class=\"panel\" id=\"sources\"><h2>数据来源</h2>\n<table><thead><tr><th>来源</th>"
                 "<th>城市</th><th>同步计划</th><th>上次成功同步</th><th>下次同步</th><th>连续失败</th>"
                 "<th>最近一次失败</th></tr></thead><tbody>\n");
  for (size_t i = 0; i < cfg->nsources; i++) {
    const struct dk_source_conf *s = &cfg->sources[i];
    json_t *st = dk_state_load(cfg->state, s->name);
    long fails = (long)json_integer_value(json_object_get(st, "consecutive_failures"));
    time_t next = 0;
    int has_next = o->next_run && o->next_run(o->next_arg, s->name, &next) == 1;
    dk_buf_puts(b, "<tr data-source=\"");
    dk_html_text(b, s->name);
    dk_buf_puts(b, fails ? "\" class=\"bad\"><td>" : "\"><td>");
    dk_html_text(b, s->name);
    dk_buf_puts(b, "</td><td>");
    dk_html_text(b, dk_html_city(s->city));
    dk_buf_puts(b, "</td><td>");
    if (s->every) {
      dk_buf_puts(b, "每 ");
      dk_html_text(b, s->every);
    } else if (s->cron) {
      dk_buf_puts(b, "定时 ");
      dk_html_text(b, s->cron);
    }
    dk_buf_printf(b, "</td><td>%s</td><td>%s</td><td class=\"num\">%ld</td><td>",
                  dk_html_date_iso(dk__str(st, "last_success"), 1, d1, sizeof d1),
                  has_next ? dk_html_date(next, 1, d2, sizeof d2) : "—", fails);
    const char *why = dk__str(st, "last_failure_reason");
    if (dk__str(st, "last_failure")) {
      dk_buf_puts(b, dk_html_date_iso(dk__str(st, "last_failure"), 1, d3, sizeof d3));
      if (why) {
        dk_buf_puts(b, "：");
        dk_html_text(b, why);
      }
    } else {
      dk_buf_puts(b, "—");
    }
    dk_buf_puts(b, "</td></tr>\n");
    json_decref(st);
  }
  if (cfg->nsources == 0) dk_buf_puts(b, "<tr><td colspan=\"7\" class=\"muted\">未配置数据来源</td></tr>\n");
  dk_buf_puts(b, "</tbody></table></section>\n");
}

/* The open conflicts, all of them or those of record `path`. */
static int dk__conflicts_panel(struct dk_buf *b, struct dk__page *pg, const char *path) {
  json_t *list = NULL;
  if (pg->has_main && dk_audit_conflicts(pg->a, &pg->main, &list) != 0)
    return dk_failf(pg->err, DK_EGIT, "%s", pg->a->err);
  size_t rows = 0, i;
  json_t *c;
  struct dk_buf t = {0};
  json_array_foreach(list, i, c) {
    const char *rp = dk__str(c, "path");
    if (path && (rp == NULL || strcmp(rp, path) != 0)) continue;
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(c, "fields"), k, e) {
      char d[32];
      rows++;
      dk_buf_puts(&t, "<tr class=\"conflict\"><td>");
      const char *kind = dk__str(c, "kind"), *id = dk__str(c, "id");
      const char *slash = id ? strrchr(id, '/') : NULL;
      if (kind && strcmp(kind, "task") == 0 && slash && !path) {
        char *plan = dk_strndup(id, (size_t)(slash - id));
        dk_buf_puts(&t, "<a href=\"");
        dk__task_link(&t, plan, strtol(slash + 1, NULL, 10));
        dk_buf_puts(&t, "\">");
        dk_html_text(&t, id);
        dk_buf_puts(&t, "</a>");
        free(plan);
      } else {
        dk_html_text(&t, id ? id : dk__str(c, "file"));
      }
      dk_buf_puts(&t, "</td><td>");
      dk__field(&t, dk__str(e, "field") ? dk__str(e, "field") : "");
      dk_buf_puts(&t, "</td><td>");
      dk__value(&t, json_object_get(e, "ours"), dk__str(e, "field"));
      dk_buf_puts(&t, "</td><td>");
      dk__value(&t, json_object_get(e, "theirs"), dk__str(e, "field"));
      dk_buf_puts(&t, "</td><td>");
      dk__source(&t, dk__str(e, "source"), dk__str(e, "city"));
      dk_buf_printf(&t, "</td><td>%s</td></tr>\n", dk_html_date_iso(dk__str(e, "opened_at"), 1, d, sizeof d));
    }
  }
  dk_buf_printf(b, "<section class=\"panel\" id=\"conflicts\"><h2>待处理的数据冲突（%zu）</h2>\n", rows);
  if (rows == 0) {
    dk_buf_puts(b, "<p class=\"muted\">没有待处理的冲突。</p>");
  } else {
    dk_buf_puts(b, "<p class=\"muted\">两个来源对同一项内容给出了不同的值，需要人工确认"
                   "（<code>duikou conflicts resolve</code>）。</p>\n<table><thead><tr><th>记录</th><th>内容</th>"
                   "<th>现有值</th><th>来源报送的值</th><th>来源</th><th>发现时间</th></tr></thead><tbody>\n");
    dk_buf_append(b, t.data, t.len);
    dk_buf_puts(b, "</tbody></table>");
  }
  dk_buf_puts(b, "</section>\n");
  dk_buf_free(&t);
  json_decref(list);
  return 0;
}

static int dk__last_seen_cmp(const void *a, const void *b) {
  const char *x = dk__str(*(json_t *const *)a, "last_seen"), *y = dk__str(*(json_t *const *)b, "last_seen");
  time_t tx = x ? dk_time_parse_iso(x) : 0, ty = y ? dk_time_parse_iso(y) : 0;
  return tx > ty ? -1 : tx < ty;
}

static void dk__quarantine_panel(struct dk_buf *b, const struct dk_config *cfg) {
  json_t *list = NULL;
  char qerr[DK_ERRBUF_SIZE];
  dk_buf_puts(b, "<section class=\"panel\" id=\"quarantine\"><h2>未通过校验的数据（隔离区）</h2>\n");
  if (dk_quarantine_list(cfg->state, NULL, &list, qerr) != 0) {
    /* the reason names the state folder: the operator's, in the log */
    dk_log(DK_LOG_ERROR, "dashboard", "quarantine", NULL, "%s", qerr);
    dk_buf_puts(b, "<p class=\"bad\">暂时无法读取隔离区（原因见 duikou 的日志）。</p></section>\n");
    return;
  }
  size_t n = json_array_size(list);
  dk_buf_printf(b, "<p>共 <b class=\"qcount\">%zu</b> 条数据因不符合规范未被采用，已留存待查"
                   "（<code>duikou quarantine list</code>）。</p>\n", n);
  if (n) {
    json_t **v = dk_calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(list, i);
    qsort(v, n, sizeof *v, dk__last_seen_cmp);
    dk_buf_puts(b, "<table><thead><tr><th>来源</th><th>位置</th><th>原因</th><th>最近收到</th><th>次数</th>"
                   "</tr></thead><tbody>\n");
    for (size_t i = 0; i < n && i < DK__QUARANTINE; i++) {
      char d[32], ex[DK__SHORT + 8];
      dk_buf_puts(b, "<tr><td>");
      dk__source(b, dk__str(v[i], "source"), dk__str(v[i], "city"));
      dk_buf_puts(b, "</td><td>");
      dk_html_text(b, dk__str(v[i], "where"));
      dk_buf_puts(b, "</td><td>");
      const char *why = json_string_value(json_array_get(json_object_get(v[i], "errors"), 0));
      if (why) dk_html_text(b, dk_excerpt(ex, sizeof ex, why, strlen(why)));
      dk_buf_printf(b, "</td><td>%s</td><td class=\"num\">%lld</td></tr>\n",
                    dk_html_date_iso(dk__str(v[i], "last_seen"), 1, d, sizeof d),
                    (long long)json_integer_value(json_object_get(v[i], "times")));
    }
    dk_buf_puts(b, "</tbody></table>");
    free(v);
  }
  dk_buf_puts(b, "</section>\n");
  json_decref(list);
}

/* What a commit changed, by kind, in words. */
struct dk__tally { size_t n[5][3]; };
static const char *const dk__dirs[5] = {"tasks/", "progress/", "plans/", "units/", "conflicts/"};
static const char *const dk__dir_words[5] = {"任务", "进度报告", "计划", "单位", "冲突记录"};

static int dk__tally_cb(const char *path, enum dk_store_change how, const git_oid *old, const git_oid *neu,
                        void *arg) {
  (void)old;
  (void)neu;
  struct dk__tally *t = arg;
  for (int i = 0; i < 5; i++)
    if (strncmp(path, dk__dirs[i], strlen(dk__dirs[i])) == 0) t->n[i][how]++;
  return 0;
}

static int dk__recent_panel(struct dk_buf *b, struct dk__page *pg) {
  dk_buf_puts(b, "<section class=\"panel\" id=\"recent\"><h2>最近更新</h2>\n");
  if (!pg->has_main) {
    dk_buf_puts(b, "<p class=\"muted\">还没有同步过数据。</p></section>\n");
    return 0;
  }
  dk_buf_puts(b, "<table><thead><tr><th>时间</th><th>来源</th><th>更新内容</th></tr></thead><tbody>\n");
  git_oid cur = pg->main;
  struct dk_store *st = pg->a->st;
  for (int i = 0; i < DK__RECENT; i++) {
    struct dk_store_commit c;
    if (dk_store_commit(st, &cur, &c) != 0) return dk_failf(pg->err, DK_EGIT, "%s", st->err);
    struct dk__tally t = {0};
    if (dk_store_diff(st, c.nparents ? &c.parent : NULL, &cur, dk__tally_cb, &t) != 0) {
      dk_store_commit_clear(&c);
      return dk_failf(pg->err, DK_EGIT, "%s", st->err);
    }
    char *resolve = dk_store_trailer(c.message, "Duikou-Resolve");
    char d[32];
    dk_buf_printf(b, "<tr><td>%s</td><td>", dk_html_date((time_t)c.time, 1, d, sizeof d));
    /* its source as the audit says it (a fold of another site's reports:
     * the inputs that moved); a person's when it is the author's own name */
    struct dk_audit_commit ac;
    if (dk_audit_commit_info(pg->a, &cur, &ac) != 0) {
      free(resolve);
      dk_store_commit_clear(&c);
      return dk_failf(pg->err, DK_EGIT, "%s", pg->a->err);
    }
    if (!resolve && strcmp(ac.source, ac.author) != 0) {
      dk__source(b, ac.source, ac.city);
    } else {
      dk_html_text(b, c.author);
      dk_buf_puts(b, "（人工）");
    }
    dk_audit_commit_clear(&ac);
    dk_buf_puts(b, "</td><td>");
    static const char *const how[3] = {"新增", "修改", "删除"};
    int any = 0;
    for (int k = 0; k < 5; k++) {
      size_t sum = t.n[k][0] + t.n[k][1] + t.n[k][2];
      if (sum == 0) continue;
      dk_buf_printf(b, "%s%s：", any ? "；" : "", dk__dir_words[k]);
      int first = 1;
      for (int h = 0; h < 3; h++)
        if (t.n[k][h]) {
          dk_buf_printf(b, "%s%s %zu 项", first ? "" : "，", how[h], t.n[k][h]);
          first = 0;
        }
      any = 1;
    }
    if (!any) dk_buf_puts(b, resolve ? "人工处理冲突" : "无内容变化");
    dk_buf_puts(b, "</td></tr>\n");
    free(resolve);
    int more = c.nparents > 0;
    cur = c.parent;
    dk_store_commit_clear(&c);
    if (!more) break;
  }
  dk_buf_puts(b, "</tbody></table></section>\n");
  return 0;
}

static int dk__index(struct dk__page *pg, const char *query, struct dk_buf *body) {
  struct dk__filter f = {.city_ix = -1};
  f.city = dk_dashboard_query(query, "city");
  f.status = dk_dashboard_query(query, "status");
  f.unit = dk_dashboard_query(query, "unit");
  f.plan = dk_dashboard_query(query, "plan");
  for (int c = 0; f.city && c < DK_PV_NCITIES; c++)
    if (strcmp(f.city, dk_pv_cities[c]) == 0) f.city_ix = c;
  if (f.city && f.city_ix < 0) {
    free(f.city);
    f.city = NULL;
  }
  if (f.status && dk_html_status(f.status) == f.status) {
    free(f.status);
    f.status = NULL;
  }
  json_t *plans = NULL;
  struct dk_pv_plan p = {0};
  int rc = 0;
  if (pg->has_main) rc = dk_pv_plans(pg->a->st, &pg->main, &plans, pg->err);
  const char *plan = NULL;
  size_t i;
  json_t *v;
  json_array_foreach(plans, i, v) if (f.plan && strcmp(f.plan, json_string_value(v)) == 0) plan = f.plan;
  if (plan == NULL && json_array_size(plans)) plan = json_string_value(json_array_get(plans, 0));
  if (rc == 0 && plan) rc = dk_pv_load(pg->a->st, &pg->main, plan, &p, pg->err);
  if (rc == 0) {
    const char *title = p.plan_rec ? dk__str(p.plan_rec, "title") : NULL;
    struct dk_buf sub = {0};
    if (title) dk_buf_puts(&sub, title);
    else if (plan) dk_buf_printf(&sub, "计划 %s", plan);
    else dk_buf_puts(&sub, "尚无计划数据");
    dk_html_begin(body, dk_buf_cstr(&sub));
    dk__banner(body, dk_buf_cstr(&sub), pg->main_time);
    dk_buf_free(&sub);
    if (json_array_size(plans) > 1) {
      dk_buf_puts(body, "<p class=\"noprint\">其他计划：");
      json_array_foreach(plans, i, v) {
        const char *id = json_string_value(v);
        if (plan && strcmp(id, plan) == 0) continue;
        dk_buf_puts(body, "<a href=\"/?plan=");
        dk_html_url(body, id);
        dk_buf_puts(body, "\">");
        dk_html_text(body, id);
        dk_buf_puts(body, "</a> ");
      }
      dk_buf_puts(body, "</p>\n");
    }
    if (plan) dk__tasks_panel(body, &p, &f);
    else dk_buf_puts(body, "<section class=\"panel\"><p>仓库中还没有任务数据。</p></section>\n");
    dk__sources_panel(body, pg->o);
    rc = dk__conflicts_panel(body, pg, NULL);
  }
  if (rc == 0) {
    dk__quarantine_panel(body, pg->o->cfg);
    rc = dk__recent_panel(body, pg);
  }
  if (rc == 0) {
    dk_buf_puts(body, "</main>\n");
    dk_html_end(body);
  }
  dk_pv_plan_clear(&p);
  json_decref(plans);
  free(f.city);
  free(f.status);
  free(f.unit);
  free(f.plan);
  return rc;
}

/* ---- a task's page ---- */

static void dk__history(struct dk_buf *b, struct dk__page *pg, const char *path) {
  struct dk_audit_entry *e = NULL;
  size_t n = 0;
  dk_buf_puts(b, "<section class=\"panel\" id=\"history\"><h2>变更历史</h2>\n");
  if (dk_audit_log(pg->a, &pg->main, path, DK__HISTORY, &e, &n) != 0) {
    dk_log(DK_LOG_ERROR, "dashboard", path, NULL, "history: %s", pg->a->err);
    dk_buf_puts(b, "<p class=\"bad\">暂时无法读取变更历史（原因见 duikou 的日志）。</p></section>\n");
    return;
  }
  static const char *const action[3] = {"新增", "修改", "删除"};
  dk_buf_puts(b, "<table><thead><tr><th>时间</th><th>来源</th><th>操作</th><th>变更内容</th></tr></thead><tbody>\n");
  for (size_t i = 0; i < n; i++) {
    char d[32];
    dk_buf_printf(b, "<tr><td>%s</td><td>", dk_html_date((time_t)e[i].commit.time, 1, d, sizeof d));
    dk__source(b, e[i].commit.source, e[i].commit.city);
    dk_buf_printf(b, "</td><td>%s</td><td>", action[e[i].action]);
    if (e[i].action == DK_AUDIT_CHANGED) {
      size_t k;
      json_t *c;
      json_array_foreach(e[i].changes, k, c) {
        const char *field = dk__str(c, "field");
        dk_buf_puts(b, k ? "<br>" : "");
        dk__field(b, field ? field : "");
        dk_buf_puts(b, "：");
        dk__value(b, json_object_get(c, "old"), field);
        dk_buf_puts(b, " → ");
        dk__value(b, json_object_get(c, "new"), field);
      }
    }
    dk_buf_puts(b, "</td></tr>\n");
  }
  dk_buf_puts(b, "</tbody></table></section>\n");
  dk_audit_entries_free(e, n);
}

static void dk__blame(struct dk_buf *b, struct dk__page *pg, const char *path) {
  json_t *rec = NULL;
  struct dk_audit_blame *l = NULL;
  size_t n = 0;
  dk_buf_puts(b, "<section class=\"panel\" id=\"blame\"><h2>各项内容的最近修改</h2>\n");
  if (dk_audit_blame_record(pg->a, &pg->main, path, &rec, &l, &n) != 0) {
    dk_log(DK_LOG_ERROR, "dashboard", path, NULL, "blame: %s", pg->a->err);
    dk_buf_puts(b, "<p class=\"bad\">暂时无法读取（原因见 duikou 的日志）。</p></section>\n");
    return;
  }
  dk_buf_puts(b, "<table><thead><tr><th>内容</th><th>当前值</th><th>来源系统</th><th>修改时间</th></tr></thead>"
                 "<tbody>\n");
  for (size_t i = 0; i < n; i++) {
    char d[32];
    dk_buf_puts(b, "<tr><td>");
    dk__field(b, l[i].field);
    dk_buf_puts(b, "</td><td>");
    dk__value(b, l[i].value, l[i].field);
    dk_buf_puts(b, "</td><td>");
    dk__source(b, l[i].commit.source, l[i].commit.city);
    dk_buf_printf(b, "</td><td>%s</td></tr>\n", dk_html_date((time_t)l[i].commit.time, 1, d, sizeof d));
  }
  dk_buf_puts(b, "</tbody></table></section>\n");
  dk_audit_blame_free(l, n);
  json_decref(rec);
}

static void dk__reports_table(struct dk_buf *b, const struct dk_pv_task *t, int c) {
  char d[32];
  dk_buf_printf(b, "<h3>%s</h3>\n", dk_html_city(dk_pv_cities[c]));
  if (t->nreports[c] == 0) {
    dk_buf_puts(b, "<p class=\"muted\">尚无进度报告。</p>\n");
    return;
  }
  dk_buf_printf(b, "<table class=\"reports\" data-city=\"%s\"><thead><tr><th>期间</th><th>状态</th><th>进度</th>"
                   "<th>情况说明</th><th>报送单位</th><th>报送时间</th></tr></thead><tbody>\n", dk_pv_cities[c]);
  for (size_t k = t->nreports[c]; k-- > 0;) {
    const struct dk_pv_report *r = &t->reports[c][k];
    dk_buf_puts(b, "<tr><td>");
    dk_html_text(b, r->period);
    dk_buf_puts(b, "</td><td>");
    dk_html_badge(b, r->status);
    dk_buf_puts(b, "</td><td class=\"city\">");
    dk_html_bar(b, r->percent, dk_pv_cities[c]);
    dk_buf_puts(b, "</td><td>");
    dk_html_text(b, r->summary);
    dk_buf_puts(b, "</td><td>");
    dk_html_text(b, r->unit);
    dk_buf_printf(b, "</td><td>%s</td></tr>\n", dk_html_date_iso(r->reported_at, 0, d, sizeof d));
  }
  dk_buf_puts(b, "</tbody></table>\n");
}

/* /tasks/<plan>/<n>: returns 200, 404, or a negative code with pg->err. */
static int dk__task_page(struct dk__page *pg, const char *rest, struct dk_buf *body) {
  const char *slash = strrchr(rest, '/');
  if (slash == NULL || slash == rest || slash[1] == '\0' || strlen(slash + 1) > 3) return 404;
  for (const char *q = slash + 1; *q; q++)
    if (!isdigit((unsigned char)*q)) return 404;
  for (const char *q = rest; q < slash; q++)
    if (!(islower((unsigned char)*q) || isdigit((unsigned char)*q) || *q == '.' || *q == '_' || *q == '-'))
      return 404;
  if (!pg->has_main) return 404;
  char *plan = dk_strndup(rest, (size_t)(slash - rest));
  long number = strtol(slash + 1, NULL, 10);
  struct dk_pv_plan p;
  int rc = dk_pv_load(pg->a->st, &pg->main, plan, &p, pg->err);
  free(plan);
  if (rc != 0) return rc;
  const struct dk_pv_task *t = NULL;
  for (size_t i = 0; i < p.n; i++)
    if (p.tasks[i].number == number) t = &p.tasks[i];
  if (t == NULL) {
    dk_pv_plan_clear(&p);
    return 404;
  }
  struct dk_buf title = {0};
  dk_buf_printf(&title, "%ld. %s", t->number, t->title ? t->title : t->id);
  dk_html_begin(body, dk_buf_cstr(&title));
  const char *ptitle = p.plan_rec ? dk__str(p.plan_rec, "title") : NULL;
  dk__banner(body, ptitle ? ptitle : p.plan, pg->main_time);
  dk_buf_puts(body, "<p class=\"noprint\"><a href=\"/?plan=");
  dk_html_url(body, p.plan);
  dk_buf_puts(body, "\">← 返回总览</a></p>\n<section class=\"panel\" id=\"task\"><h2>");
  dk_html_text(body, dk_buf_cstr(&title));
  dk_buf_puts(body, "</h2>\n<p>状态：");
  dk_html_badge(body, t->status);
  if (t->sec_title) {
    dk_buf_puts(body, " · 章节：");
    if (t->sec_number) {
      dk_html_text(body, t->sec_number);
      dk_buf_puts(body, "、");
    }
    dk_html_text(body, t->sec_title);
  }
  dk_buf_puts(body, "</p>\n<p class=\"text\">");
  dk_html_text(body, t->text);
  dk_buf_puts(body, "</p>\n<h3>责任单位</h3><table><thead><tr><th>单位</th><th>城市</th><th>职责</th></tr></thead><tbody>\n");
  size_t i;
  json_t *u;
  json_array_foreach(json_object_get(t->rec, "units"), i, u) {
    dk_buf_puts(body, "<tr><td>");
    dk_html_text(body, dk__str(u, "name"));
    dk_buf_puts(body, "</td><td>");
    dk_html_text(body, dk_html_city(dk__str(u, "city")));
    dk_buf_puts(body, "</td><td>");
    dk_html_text(body, dk_html_role(dk__str(u, "role")));
    dk_buf_puts(body, "</td></tr>\n");
  }
  dk_buf_puts(body, "</tbody></table></section>\n<section class=\"panel\" id=\"progress\"><h2>进度</h2>\n");
  dk__chart_of(body, t, -1, 520, 170, 1);
  dk_buf_puts(body, "<p class=\"muted\">图例：<span style=\"color:#1f6fb2\">■ 济南</span> "
                    "<span style=\"color:#d9822b\">■ 临沂</span></p>\n");
  for (int c = 0; c < DK_PV_NCITIES; c++) dk__reports_table(body, t, c);
  dk_buf_puts(body, "</section>\n");
  rc = dk__conflicts_panel(body, pg, t->path);
  if (rc == 0) {
    dk__history(body, pg, t->path);
    dk__blame(body, pg, t->path);
    dk_buf_puts(body, "</main>\n");
    dk_html_end(body);
  }
  dk_buf_free(&title);
  dk_pv_plan_clear(&p);
  return rc == 0 ? 200 : rc;
}

int dk_dashboard_page(const struct dk_dashboard_opts *o, const char *path, const char *query,
                      struct dk_buf *body, const char **ctype, char *err) {
  *ctype = dk__html_type;
  err[0] = '\0';
  body->len = 0;
  int is_index = strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0;
  int is_task = strncmp(path, "/tasks/", 7) == 0;
  if (!is_index && !is_task) {
    dk_failf(err, DK_ENOENT, "no page at %s", path);
    return dk__message_page(body, 404, "页面不存在", "没有这个页面。");
  }
  struct dk__page pg = {.o = o, .err = err};
  int rc = dk__page_open(&pg);
  int status = 200;
  if (rc == 0) {
    if (is_index) {
      rc = dk__index(&pg, query, body);
    } else {
      status = dk__task_page(&pg, path + 7, body);
      if (status < 0) rc = status;
      else if (status == 404) {
        dk_failf(err, DK_ENOENT, "no task at %s", path);
        dk__message_page(body, 404, "任务不存在", "当前数据中没有这项任务。");
      }
    }
  }
  if (pg.a) dk_audit_close(pg.a);
  if (rc != 0) {
    /* The reason (a path, a libgit2 message) is the operator's, in err: not on a page anyone may read. */
    return dk__message_page(body, 500, "数据读取失败", "暂时无法读取数据，请联系系统管理员（原因见 duikou 的日志）。");
  }
  return status;
}

int dk_dashboard_serve(void *arg, const char *path, const char *query, struct dk_buf *body, const char **ctype) {
  char err[DK_ERRBUF_SIZE];
  int status = dk_dashboard_page(arg, path, query, body, ctype, err);
  if (status >= 500) dk_log(DK_LOG_ERROR, "dashboard", path, NULL, "%s", err);
  return status;
}

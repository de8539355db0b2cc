/* plan-text: plan and task records from a published plan document.
 *
 * The body is plain text, Markdown, HTML, or text extracted from a PDF. It is
 * read line by line: a plan title (a line ending in 工作要点/方案/计划),
 * sections "一、", subsections "（一）", numbered tasks "1." / "1．" and the
 * responsible-unit clause that closes each task. Any other line continues the
 * open task, which is how PDF page breaks inside a sentence are undone.
 * Sections, subsections and tasks must come in order (next number only), so
 * a broken line that happens to start with "2." or "三、" stays text. */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <duikou/plugin.h>

#define PT_MAX_TITLE 200 /* codepoints, as in the schemas */
#define PT_MAX_UNIT 100

struct pt_state {
  char *plan;    /* options.plan, or NULL */
  json_t *plans; /* options.plans, or NULL (owned reference) */
};

static const char options_schema[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\", \"additionalProperties\": false,"
    " \"properties\": {"
    "  \"plan\": {\"type\": \"string\", \"pattern\": \"^[a-z0-9][a-z0-9._-]*$\", \"maxLength\": 60,"
    "            \"description\": \"id of the (first) plan; default jnly-<year>\"},"
    "  \"plans\": {\"type\": \"array\", \"minItems\": 1,"
    "             \"items\": {\"type\": \"string\", \"pattern\": \"^[a-z0-9][a-z0-9._-]*$\", \"maxLength\": 60},"
    "             \"description\": \"ids of the plans the document carries, in order\"}"
    " }}";

/* --- growable byte buffer ------------------------------------------------ */

struct buf {
  char *p;
  size_t n, cap;
};

static bool buf_add(struct buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return false;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
  return true;
}

static bool buf_adds(struct buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

static bool buf_cp(struct buf *b, unsigned long cp) {
  char u[4];
  size_t n;
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) { u[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
  else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
  }
  return buf_add(b, u, n);
}

/* --- UTF-8 helpers -------------------------------------------------------- */

static bool starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static bool ends(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static size_t u8len(unsigned char c) {
  if (c >= 0xF0) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC0) return 2;
  return 1;
}

/* Byte length of the first `max` codepoints of s (all of it if shorter). */
static size_t u8prefix(const char *s, size_t n, size_t max) {
  size_t i = 0;
  for (size_t k = 0; i < n && k < max; k++) {
    size_t l = u8len((unsigned char)s[i]);
    if (i + l > n) break;
    i += l;
  }
  return i;
}

static json_t *jstrn_max(const char *s, size_t n, size_t max) {
  return json_stringn(s, u8prefix(s, n, max));
}

/* Opening / closing parenthesis, ASCII or full-width, at s: its byte length. */
static size_t open_paren(const char *s) {
  if (*s == '(') return 1;
  return starts(s, "（") ? 3 : 0;
}
static size_t close_paren(const char *s) {
  if (*s == ')') return 1;
  return starts(s, "）") ? 3 : 0;
}

/* --- HTML ------------------------------------------------------------------ */

static bool is_html(const struct dk_response *resp) {
  if (resp->content_type && strstr(resp->content_type, "text/html")) return true;
  const char *p = resp->body;
  if (starts(p, "\xEF\xBB\xBF")) p += 3;
  while (*p && isspace((unsigned char)*p)) p++;
  return *p == '<';
}

static bool tag_is(const char *name, size_t n, const char *want) {
  return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Text of an HTML document: tags gone (block ones become line breaks),
 * script/style dropped, the common entities decoded. */
static bool html_text(const char *s, size_t len, struct buf *out) {
  const char *end = s + len;
  while (s < end) {
    if (*s == '<') {
      const char *q = s + 1;
      bool closing = *q == '/';
      if (closing) q++;
      const char *name = q;
      while (q < end && isalnum((unsigned char)*q)) q++;
      size_t nl = (size_t)(q - name);
      const char *gt = memchr(q, '>', (size_t)(end - q));
      if (gt == NULL) break;
      s = gt + 1;
      if (!closing && (tag_is(name, nl, "script") || tag_is(name, nl, "style"))) {
        const char *stop = tag_is(name, nl, "script") ? "</script" : "</style";
        while (s < end && strncasecmp(s, stop, strlen(stop)) != 0) s++;
        continue;
      }
      static const char *const blocks[] = {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4",
                                           "h5", "h6", "title", "table", "section", "article"};
      for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++)
        if (tag_is(name, nl, blocks[i]) && !buf_add(out, "\n", 1)) return false;
      continue;
    }
    if (*s == '&') {
      const char *semi = memchr(s, ';', (size_t)(end - s) < 12 ? (size_t)(end - s) : 12);
      if (semi) {
        const char *e = s + 1;
        size_t el = (size_t)(semi - e);
        unsigned long cp = 0;
        bool ok = true;
        if (el > 1 && e[0] == '#') {
          char *stop;
          cp = (e[1] == 'x' || e[1] == 'X') ? strtoul(e + 2, &stop, 16) : strtoul(e + 1, &stop, 10);
          ok = stop == semi;
        } else if (el == 4 && !strncmp(e, "nbsp", 4)) cp = ' ';
        else if (el == 2 && !strncmp(e, "lt", 2)) cp = '<';
        else if (el == 2 && !strncmp(e, "gt", 2)) cp = '>';
        else if (el == 3 && !strncmp(e, "amp", 3)) cp = '&';
        else if (el == 4 && !strncmp(e, "quot", 4)) cp = '"';
        else if (el == 4 && !strncmp(e, "apos", 4)) cp = '\'';
        else ok = false;
        if (ok) {
          if (!buf_cp(out, cp)) return false;
          s = semi + 1;
          continue;
        }
      }
    }
    if (!buf_add(out, s, 1)) return false;
    s++;
  }
  return true;
}

/* --- lines ----------------------------------------------------------------- */

static bool is_space_at(const char *s, size_t *len) {
  if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v') { *len = 1; return true; }
  if (starts(s, "\xE3\x80\x80")) { *len = 3; return true; } /* U+3000 */
  if (starts(s, "\xC2\xA0")) { *len = 2; return true; }     /* U+00A0 */
  return false;
}

/* Trim whitespace and Markdown decoration (#, >, **) off both ends, in place.
 * Returns the start; *n is the new length. */
static char *strip_line(char *s, size_t *n) {
  size_t l;
  for (;;) {
    char *b = s;
    while (*n && (is_space_at(s, &l) || *s == '#' || *s == '>')) {
      if (*s == '#' || *s == '>') l = 1;
      s += l;
      *n -= l;
    }
    while (*n >= 2 && s[0] == '*' && s[1] == '*') { s += 2; *n -= 2; }
    while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t' || s[*n - 1] == '\r')) (*n)--;
    while (*n >= 3 && ends(s, *n, "\xE3\x80\x80")) *n -= 3;
    while (*n >= 2 && ends(s, *n, "\xC2\xA0")) *n -= 2;
    while (*n >= 2 && s[*n - 1] == '*' && s[*n - 2] == '*') *n -= 2;
    if (s == b) break;
  }
  s[*n] = '\0';
  return s;
}

static unsigned long u8dec(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  if (u[0] < 0x80) return u[0];
  if (u[0] >= 0xE0 && u[0] < 0xF0 && u[1] && u[2])
    return ((unsigned long)(u[0] & 0x0F) << 12) | ((unsigned long)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
  return 0xFFFD;
}

static bool is_ideo(unsigned long cp) { return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF); }

/* Squeeze spaces; drop them where ASCII meets CJK text or CJK punctuation
 * (PDF extraction scatters them: "2023 年"), keep one between two words of
 * the same script ("弘扬沂蒙精神 建功乡村振兴" is how it was published). */
static char *squeeze(const char *s) {
  struct buf b = {0};
  size_t l;
  while (*s) {
    if (is_space_at(s, &l)) {
      const char *t = s;
      while (*t && is_space_at(t, &l)) t += l;
      if (*t && b.n) {
        size_t k = b.n - 1;
        while (k > 0 && ((unsigned char)b.p[k] & 0xC0) == 0x80) k--;
        unsigned long before = u8dec(b.p + k), after = u8dec(t);
        bool keep = (before < 0x80 && after < 0x80) || (is_ideo(before) && is_ideo(after));
        if (keep && !buf_add(&b, " ", 1)) goto oom;
      }
      s = t;
      continue;
    }
    if (!buf_add(&b, s, 1)) goto oom;
    s++;
  }
  if (b.p == NULL && !buf_add(&b, "", 0)) goto oom;
  return b.p;
oom:
  free(b.p);
  return NULL;
}

/* Page furniture: "3", "- 3 -", "— 3 —", "---". */
static bool is_noise(const char *s) {
  bool digit = false, other = false;
  for (const char *p = s; *p; p++) {
    if (isdigit((unsigned char)*p)) digit = true;
    else if (*p == '-' || *p == ' ') continue;
    else if (starts(p, "—")) p += 2;
    else other = true;
  }
  return !other && (digit || *s == '-');
}

/* Value of a Chinese numeral 一…九十九 at s; *len gets its byte length. */
static int cn_number(const char *s, size_t *len) {
  static const char *const digits[] = {"一", "二", "三", "四", "五", "六", "七", "八", "九"};
  int total = 0, cur = 0;
  const char *p = s;
  for (;;) {
    int d = 0;
    for (int i = 0; i < 9; i++)
      if (starts(p, digits[i])) d = i + 1;
    if (d) { cur = d; p += 3; continue; }
    if (starts(p, "十")) { total += (cur ? cur : 1) * 10; cur = 0; p += 3; continue; }
    break;
  }
  *len = (size_t)(p - s);
  return total + cur;
}

/* "一、title": the number (or 0) and the title. */
static int match_section(const char *s, const char **title, size_t *numlen) {
  int v = cn_number(s, numlen);
  if (v == 0 || !starts(s + *numlen, "、")) return 0;
  *title = s + *numlen + 3;
  return v;
}

/* "（一）title" / "(一) title". */
static int match_subsection(const char *s, const char **num, size_t *numlen, const char **title) {
  size_t l = open_paren(s);
  if (l == 0) return 0;
  s += l;
  int v = cn_number(s, numlen);
  if (v == 0) return 0;
  *num = s;
  s += *numlen;
  if ((l = close_paren(s)) == 0) return 0;
  *title = s + l;
  return v;
}

/* "12." / "12．" / "12、" followed by text. */
static int match_task(const char *s, const char **body) {
  if (!isdigit((unsigned char)*s)) return 0;
  char *e;
  long v = strtol(s, &e, 10);
  if (v < 1 || v > 999) return 0;
  if (*e == '.') e++;
  else if (starts(e, "．") || starts(e, "、")) e += 3;
  else return 0;
  if (isdigit((unsigned char)*e)) return 0; /* "2.5万" */
  *body = e;
  return (int)v;
}

/* "2023年6月29日" as the whole line: "2023-06-29" into out, else false. */
static bool match_date(const char *s, char out[11]) {
  int y, m, d, n = 0;
  if (sscanf(s, "%4d年%2d月%2d日%n", &y, &m, &d, &n) != 3 || s[n] != '\0') return false;
  if (y < 2000 || y > 2100 || m < 1 || m > 12 || d < 1 || d > 31) return false;
  snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
  return true;
}

/* A 文号 such as 济政办字〔2023〕28号 in s, as a new string, or NULL. */
static json_t *find_doc_number(const char *s) {
  for (const char *p = strstr(s, "〔"); p; p = strstr(p + 3, "〔")) {
    const char *b = p;
    while (b - 3 >= s && ((unsigned char)b[-3] & 0xF0) == 0xE0 && (unsigned char)b[-3] >= 0xE4 &&
           (unsigned char)b[-3] <= 0xE9)
      b -= 3;
    const char *q = p + 3;
    int k = 0;
    while (isdigit((unsigned char)*q)) { q++; k++; }
    if (b == p || k != 4 || !starts(q, "〕")) continue;
    q += 3;
    if (!isdigit((unsigned char)*q)) continue;
    while (isdigit((unsigned char)*q)) q++;
    if (!starts(q, "号")) continue;
    return json_stringn(b, (size_t)(q + 3 - b));
  }
  return NULL;
}

/* --- units ----------------------------------------------------------------- */

static const char *const jinan_parts[] = {"历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区",
                                          "济阳区", "莱芜区", "钢城区", "平阴县", "商河县", "济南高新区"};
static const char *const linyi_parts[] = {"兰山区", "罗庄区", "河东区", "沂南县", "郯城县", "沂水县", "兰陵县",
                                          "费县", "平邑县", "莒南县", "蒙阴县", "临沭县", "临沂高新区",
                                          "沂蒙干部学院"};
#define NELEM(a) (sizeof(a) / sizeof *(a))

static bool starts_any(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (starts(s, list[i])) return true;
  return false;
}

/* An item that already says whose it is: a group prefix does not apply. */
static bool owns_prefix(const char *s) {
  static const char *const own[] = {"济南", "临沂", "两市", "山东", "省", "中国"};
  return starts_any(s, own, NELEM(own)) || starts_any(s, jinan_parts, NELEM(jinan_parts)) ||
         starts_any(s, linyi_parts, NELEM(linyi_parts));
}

static const char *city_of(const char *name) {
  /* A central-bank branch counts where it sits: 山东省分行 → province. */
  if (starts(name, "中国人民银行")) name += strlen("中国人民银行");
  if (starts(name, "济南")) return "jinan";
  if (starts(name, "临沂")) return "linyi";
  if (starts(name, "山东省") || starts(name, "省")) return "province";
  if (starts_any(name, jinan_parts, NELEM(jinan_parts))) return "jinan";
  if (starts_any(name, linyi_parts, NELEM(linyi_parts))) return "linyi";
  return "other";
}

/* Append one unit {name, role} unless the name is already there. role NULL:
 * decided later from the count. */
static int add_unit(json_t *units, const char *prefix, const char *item, size_t n, const char *role) {
  struct buf b = {0};
  if ((prefix && !buf_adds(&b, prefix)) || !buf_add(&b, item, n)) {
    free(b.p);
    return DK_ENOMEM;
  }
  size_t i;
  json_t *u;
  json_array_foreach(units, i, u) {
    if (strcmp(json_string_value(json_object_get(u, "name")), b.p) == 0) {
      free(b.p);
      return 0;
    }
  }
  u = json_pack("{s:o, s:s, s:s?}", "name", jstrn_max(b.p, b.n, PT_MAX_UNIT), "city", city_of(b.p),
                "role", role);
  free(b.p);
  if (u == NULL || json_array_append_new(units, u) != 0) return DK_ENOMEM;
  return 0;
}

/* The next separator of s..end outside parentheses (end when none): 、 for
 * items, or a comma or semicolon (either width) for parts of a clause. */
static const char *next_sep(const char *q, const char *end, int parts) {
  int depth = 0;
  while (q < end) {
    size_t l;
    if ((l = open_paren(q))) depth++;
    else if ((l = close_paren(q))) depth--;
    else if (depth <= 0 && (parts ? (*q == ',' || *q == ';' || starts(q, "，") || starts(q, "；"))
                                  : starts(q, "、")))
      break;
    q += l ? l : 1;
  }
  return q;
}

/* Items of one group "两市A、B" / "济南市A、B、临沂市C" (no separators left).
 * A prefix (两市, 济南市, 临沂市) carries to the following items that do not
 * name their own owner. */
static int add_group(json_t *units, const char *s, size_t n, const char *role) {
  const char *prefix = NULL;
  const char *end = s + n;
  while (s < end) {
    const char *q = next_sep(s, end, 0);
    char item[512];
    size_t il = (size_t)(q - s);
    if (il >= sizeof item) il = sizeof item - 1;
    memcpy(item, s, il);
    item[il] = '\0';
    s = q < end ? q + 3 : end;
    if (il == 0) continue;
    const char *name = item;
    if (starts(item, "两市")) { prefix = "两市"; name += 6; il -= 6; }
    else if (starts(item, "济南市")) prefix = "济南市";
    else if (starts(item, "临沂市")) prefix = "临沂市";
    else if (owns_prefix(item)) prefix = NULL;
    else if (prefix && strcmp(prefix, "两市") != 0) {
      int rc = add_unit(units, prefix, name, il, role);
      if (rc) return rc;
      continue;
    }
    if (il == 0) continue;
    int rc = 0;
    if (prefix && strcmp(prefix, "两市") == 0 && !owns_prefix(name)) {
      if ((rc = add_unit(units, "济南市", name, il, role)) == 0) rc = add_unit(units, "临沂市", name, il, role);
    } else {
      rc = add_unit(units, NULL, name, il, role);
    }
    if (rc) return rc;
  }
  return 0;
}

/* One comma part: groups split at "及" when a new owner follows. */
static int add_part(json_t *units, const char *s, size_t n, const char *role) {
  const char *end = s + n;
  const char *g = s;
  for (const char *p = s; p < end; p += u8len((unsigned char)*p)) {
    if (starts(p, "及") && p + 3 < end && owns_prefix(p + 3)) {
      int rc = add_group(units, g, (size_t)(p - g), role);
      if (rc) return rc;
      g = p + 3;
    }
  }
  return add_group(units, g, (size_t)(end - g), role);
}

/* Units of a clause (its content, without the parentheses). */
static json_t *parse_units(const char *s, size_t n, bool listed) {
  json_t *units = json_array();
  if (units == NULL) return NULL;
  const char *end = s + n;
  size_t pending_from = 0;
  while (s < end) {
    const char *q = next_sep(s, end, 1);
    const char *next = q < end ? q + u8len((unsigned char)*q) : end;
    size_t pl = (size_t)(q - s);
    while (pl && s[pl - 1] == ' ') pl--;
    while (pl && *s == ' ') { s++; pl--; }
    static const struct { const char *suffix, *role; } roles[] = {
        {"按职责分工负责", "shared"}, {"分工负责", "shared"}, {"牵头", "lead"},
        {"配合", "support"},          {"负责", NULL},
    };
    const char *role = NULL;
    bool marked = false;
    if (!listed) {
      for (size_t i = 0; i < NELEM(roles); i++) {
        if (ends(s, pl, roles[i].suffix)) {
          pl -= strlen(roles[i].suffix);
          role = roles[i].role;
          marked = true;
          break;
        }
      }
    }
    if (add_part(units, s, pl, NULL) != 0) goto fail;
    if (marked) {
      /* Parts without a marker take the next marker's role; 负责 alone
       * is sole unless it names several units. */
      size_t total = json_array_size(units);
      const char *r = role ? role : (total - pending_from == 1 ? "sole" : "shared");
      for (size_t i = pending_from; i < total; i++)
        if (json_object_set_new(json_array_get(units, i), "role", json_string(r))) goto fail;
      pending_from = total;
    }
    s = next;
  }
  size_t total = json_array_size(units);
  const char *r = total == 1 ? "sole" : "shared";
  for (size_t i = pending_from; i < total; i++)
    if (json_object_set_new(json_array_get(units, i), "role", json_string(r))) goto fail;
  return units;
fail:
  json_decref(units);
  return NULL;
}

/* The unit clause closing a task body: [*start, end) of the whole clause and
 * its units, or NULL units when the body has none. */
static json_t *find_clause(const char *body, size_t n, size_t *cut) {
  size_t e = n;
  while (e && body[e - 1] == ' ') e--;
  if (ends(body, e, "。")) e -= 3;
  size_t cl = 0;
  if (e >= 1 && body[e - 1] == ')') cl = 1;
  else if (ends(body, e, "）")) cl = 3;
  if (cl == 0) return NULL;
  /* Walk back to the matching opening parenthesis. */
  int depth = 0;
  size_t i = e;
  size_t open = (size_t)-1;
  while (i > 0) {
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)body[k] & 0xC0) == 0x80) k--;
    if (close_paren(body + k)) depth++;
    else if (open_paren(body + k) && --depth == 0) { open = k; break; }
    i = k;
  }
  if (open == (size_t)-1) return NULL;
  const char *c = body + open + open_paren(body + open);
  size_t cn = (size_t)(body + e - cl - c);
  bool listed = false;
  if (starts(c, "责任单位")) {
    size_t skip = strlen("责任单位");
    if (c[skip] == ':') skip += 1;
    else if (starts(c + skip, "：")) skip += 3;
    else return NULL;
    c += skip;
    cn -= skip;
    listed = true;
  } else if (!ends(c, cn, "负责") && !ends(c, cn, "配合") && !ends(c, cn, "牵头")) {
    return NULL;
  }
  *cut = open;
  return parse_units(c, cn, listed);
}

/* --- document model ------------------------------------------------------- */

struct pt_task {
  int number;
  json_t *section, *subsection; /* owned references or NULL */
  struct buf body;
};

struct pt_plan {
  char *title;
  json_t *sections; /* numbered_title objects */
  json_t *section, *subsection; /* current, borrowed from sections / owned */
  int nsub;                     /* last subsection number */
  struct pt_task *tasks;
  size_t ntasks;
};

struct pt_doc {
  struct pt_plan *plans;
  size_t nplans;
  char published[11];
  json_t *issuers, *doc_number;
  char *last_heading; /* a plan title for a document that has no recognisable one */
};

static void doc_free(struct pt_doc *d) {
  for (size_t i = 0; i < d->nplans; i++) {
    struct pt_plan *p = &d->plans[i];
    for (size_t k = 0; k < p->ntasks; k++) {
      json_decref(p->tasks[k].section);
      json_decref(p->tasks[k].subsection);
      free(p->tasks[k].body.p);
    }
    free(p->tasks);
    free(p->title);
    json_decref(p->sections);
    json_decref(p->subsection);
  }
  free(d->plans);
  json_decref(d->issuers);
  json_decref(d->doc_number);
  free(d->last_heading);
}

static struct pt_plan *new_plan(struct pt_doc *d, const char *title) {
  struct pt_plan *ps = realloc(d->plans, (d->nplans + 1) * sizeof *ps);
  if (ps == NULL) return NULL;
  d->plans = ps;
  struct pt_plan *p = &ps[d->nplans];
  memset(p, 0, sizeof *p);
  p->title = strdup(title);
  p->sections = json_array();
  d->nplans++;
  if (p->title == NULL || p->sections == NULL) return NULL;
  return p;
}

static bool is_plan_title(const char *s, bool heading, bool in_task) {
  size_t n = strlen(s);
  if (in_task && !heading) return false;
  if (n == 0 || n > 180 || strstr(s, "。") || strstr(s, "，") || strstr(s, "通知") || starts(s, "关于"))
    return false;
  return ends(s, n, "工作要点") || ends(s, n, "方案") || ends(s, n, "计划");
}

static json_t *numbered(const char *num, size_t numlen, const char *title) {
  size_t tl = strlen(title);
  while (tl && title[0] == ' ') { title++; tl--; }
  if (ends(title, tl, "。")) tl -= 3;
  if (tl == 0) return NULL;
  return json_pack("{s:s%, s:o}", "number", num, numlen, "title", jstrn_max(title, tl, PT_MAX_TITLE));
}

/* Read the document into d. Returns 0 or a negative DK_E* code. */
static int read_doc(struct pt_doc *d, char *text) {
  char *prev_raw = NULL;
  struct pt_task *task = NULL; /* open task */
  int rc = 0;
  for (char *line = text; line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    size_t n = strlen(line);
    bool heading = line[0] == '#';
    char *raw = strip_line(line, &n);
    char *s = n && !is_noise(raw) ? squeeze(raw) : NULL;
    line = nl ? nl + 1 : NULL;
    if (n == 0 || is_noise(raw)) continue;
    if (s == NULL) return DK_ENOMEM;
    struct pt_plan *plan = d->nplans ? &d->plans[d->nplans - 1] : NULL;
    char date[11];
    const char *title, *num, *body;
    size_t numlen;
    int v;
    if (!d->published[0] && match_date(s, date)) {
      memcpy(d->published, date, sizeof date);
      if (prev_raw && d->issuers == NULL) {
        d->issuers = json_array();
        if (d->issuers == NULL) { rc = DK_ENOMEM; goto out; }
        /* Issuers stand side by side on the line above the date. */
        for (char *p = prev_raw; *p;) {
          size_t l;
          while (*p && is_space_at(p, &l)) p += l;
          char *q = p;
          while (*q && !is_space_at(q, &l)) q++;
          if (q > p) {
            json_t *name = json_stringn(p, (size_t)(q - p));
            size_t i;
            json_t *x;
            bool dup = false;
            json_array_foreach(d->issuers, i, x) dup |= json_equal(x, name);
            if (dup) json_decref(name);
            else if (json_array_append_new(d->issuers, name)) { rc = DK_ENOMEM; goto out; }
          }
          p = q;
        }
      }
      task = NULL;
    } else if (is_plan_title(s, heading, task != NULL)) {
      if (new_plan(d, s) == NULL) { rc = DK_ENOMEM; goto out; }
      task = NULL;
    } else if ((v = match_section(s, &title, &numlen)) &&
               v == (plan ? (int)json_array_size(plan->sections) : 0) + 1) {
      if (plan == NULL && (plan = new_plan(d, d->last_heading ? d->last_heading : "plan")) == NULL) {
        rc = DK_ENOMEM;
        goto out;
      }
      json_t *sec = numbered(s, numlen, title);
      if (sec == NULL || json_array_append_new(plan->sections, sec)) { rc = DK_ENOMEM; goto out; }
      plan->section = sec;
      json_decref(plan->subsection);
      plan->subsection = NULL;
      task = NULL;
    } else if (plan && (v = match_subsection(s, &num, &numlen, &title)) && v == plan->nsub + 1) {
      json_t *sub = numbered(num, numlen, title);
      if (sub == NULL) { rc = DK_ENOMEM; goto out; }
      json_decref(plan->subsection);
      plan->subsection = sub;
      plan->nsub = v;
      task = NULL;
    } else if (plan && (v = match_task(s, &body)) &&
               v == (plan->ntasks ? plan->tasks[plan->ntasks - 1].number : 0) + 1) {
      struct pt_task *ts = realloc(plan->tasks, (plan->ntasks + 1) * sizeof *ts);
      if (ts == NULL) { rc = DK_ENOMEM; goto out; }
      plan->tasks = ts;
      task = &ts[plan->ntasks++];
      memset(task, 0, sizeof *task);
      task->number = v;
      task->section = json_incref(plan->section);
      task->subsection = json_incref(plan->subsection);
      while (*body == ' ') body++;
      if (!buf_adds(&task->body, body)) { rc = DK_ENOMEM; goto out; }
    } else if (task) {
      /* A broken line: glue it back, with a space only between two ASCII words. */
      bool space = task->body.n && isalnum((unsigned char)task->body.p[task->body.n - 1]) &&
                   isalnum((unsigned char)s[0]);
      if ((space && !buf_add(&task->body, " ", 1)) || !buf_adds(&task->body, s)) { rc = DK_ENOMEM; goto out; }
    } else {
      if (d->nplans == 0 && d->doc_number == NULL) d->doc_number = find_doc_number(s);
      if (!strstr(s, "。") && strlen(s) <= 180) {
        free(d->last_heading);
        if ((d->last_heading = strdup(s)) == NULL) { rc = DK_ENOMEM; goto out; }
      }
    }
    prev_raw = raw;
  out:
    free(s);
    if (rc) return rc;
  }
  return 0;
}

/* Year of a title ("…2023年…"), or 0. */
static int title_year(const char *t) {
  for (const char *p = t; *p; p++) {
    if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
        isdigit((unsigned char)p[3]) && starts(p + 4, "年") && (p == t || !isdigit((unsigned char)p[-1]))) {
      int y = atoi(p);
      if (y >= 2000 && y <= 2100) return y;
    }
  }
  return 0;
}

static json_t *task_record(const char *plan_id, const struct pt_task *t) {
  char id[128];
  snprintf(id, sizeof id, "%s/%02d", plan_id, t->number);
  size_t cut = t->body.n;
  const char *b = t->body.p ? t->body.p : "";
  json_t *units = find_clause(b, t->body.n, &cut);
  while (cut && b[cut - 1] == ' ') cut--;
  const char *dot = NULL;
  for (const char *p = b; p < b + cut; p += u8len((unsigned char)*p))
    if (starts(p, "。")) { dot = p; break; }
  size_t tl = dot ? (size_t)(dot - b) : cut;
  const char *rest = dot ? dot + 3 : b + cut;
  while (rest < b + cut && *rest == ' ') rest++;
  json_t *title = tl ? jstrn_max(b, tl, PT_MAX_TITLE) : json_string("(untitled)");
  json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:o, s:s%}", "kind", "task", "id", id, "plan", plan_id,
                          "number", t->number, "title", title, "text", rest, (size_t)(b + cut - rest));
  if (rec == NULL) {
    json_decref(units);
    return NULL;
  }
  if ((t->section && json_object_set(rec, "section", t->section)) ||
      (t->subsection && json_object_set(rec, "subsection", t->subsection)) ||
      (units && json_object_set_new(rec, "units", units))) {
    json_decref(rec);
    return NULL;
  }
  return rec;
}

/* Id of plan i: options.plans[i], options.plan for the first, else
 * "<first>-<i+1>" with "jnly-<year>" as the default first. */
static void plan_id(const struct pt_state *st, size_t i, int year, char out[96]) {
  const char *given = st->plans ? json_string_value(json_array_get(st->plans, i)) : NULL;
  if (given) { snprintf(out, 96, "%s", given); return; }
  const char *first = st->plans ? json_string_value(json_array_get(st->plans, 0)) : st->plan;
  char base[64];
  if (first) snprintf(base, sizeof base, "%s", first);
  else snprintf(base, sizeof base, "jnly-%d", year);
  if (i == 0) snprintf(out, 96, "%s", base);
  else snprintf(out, 96, "%s-%u", base, (unsigned)(i + 1) % 1000u);
}

static int pt_init(void **state, const struct dk_source *src, char *err, size_t errlen) {
  struct pt_state *st = calloc(1, sizeof *st);
  if (st == NULL) {
    snprintf(err, errlen, "out of memory");
    return DK_ENOMEM;
  }
  const char *plan = src->options ? json_string_value(json_object_get(src->options, "plan")) : NULL;
  json_t *plans = src->options ? json_object_get(src->options, "plans") : NULL;
  if (plan && (st->plan = strdup(plan)) == NULL) {
    free(st);
    snprintf(err, errlen, "out of memory");
    return DK_ENOMEM;
  }
  if (json_is_array(plans)) st->plans = json_incref(plans);
  *state = st;
  return 0;
}

static enum dk_result pt_parse(void *state, const struct dk_response *resp, struct dk_emit *emit) {
  const struct pt_state *st = state;
  struct buf text = {0};
  bool ok = is_html(resp) ? html_text(resp->body, resp->body_len, &text)
                          : buf_add(&text, resp->body, resp->body_len);
  if (!ok) {
    free(text.p);
    emit->fail(emit, "out of memory");
    return DK_ERROR;
  }
  struct pt_doc d = {0};
  char *start = text.p && starts(text.p, "\xEF\xBB\xBF") ? text.p + 3 : text.p;
  int rc = start ? read_doc(&d, start) : 0;
  enum dk_result res = DK_OK;
  if (rc) {
    emit->fail(emit, "out of memory");
    res = DK_ERROR;
    goto done;
  }
  size_t ntasks = 0;
  for (size_t i = 0; i < d.nplans; i++) ntasks += d.plans[i].ntasks;
  if (d.nplans == 0 || ntasks == 0) {
    emit->fail(emit, "no plan with numbered tasks found in the document");
    res = DK_ERROR;
    goto done;
  }
  int first_year = 0;
  for (size_t i = 0; i < d.nplans; i++) {
    const struct pt_plan *p = &d.plans[i];
    int year = title_year(p->title);
    if (year == 0 && d.published[0]) year = atoi(d.published);
    if (year == 0) year = first_year;
    if (year == 0) {
      emit->fail(emit, "plan \"%s\": no year in its title and no publication date", p->title);
      res = DK_ERROR;
      goto done;
    }
    if (i == 0) first_year = year;
    char id[96];
    plan_id(st, i, first_year, id);
    json_t *rec = json_pack("{s:s, s:s, s:o, s:i, s:O}", "kind", "plan", "id", id, "title",
                            jstrn_max(p->title, strlen(p->title), PT_MAX_TITLE), "year", year, "sections",
                            p->sections);
    if (rec && d.published[0]) json_object_set_new(rec, "published", json_string(d.published));
    if (rec && d.issuers && json_array_size(d.issuers)) json_object_set(rec, "issuers", d.issuers);
    if (rec && d.doc_number) json_object_set(rec, "doc_number", d.doc_number);
    if (rec && resp->url && (starts(resp->url, "http://") || starts(resp->url, "https://")))
      json_object_set_new(rec, "url", json_string(resp->url));
    if (rec == NULL || emit->record(emit, rec) != 0) {
      res = DK_ERROR;
      goto done;
    }
    for (size_t k = 0; k < p->ntasks; k++) {
      json_t *t = task_record(id, &p->tasks[k]);
      if (t == NULL) {
        emit->fail(emit, "out of memory");
        res = DK_ERROR;
        goto done;
      }
      if (!json_object_get(t, "units"))
        emit->log(emit, DK_LOG_WARN, "%s: no responsible-unit clause", json_string_value(json_object_get(t, "id")));
      if (emit->record(emit, t) != 0) {
        res = DK_ERROR;
        goto done;
      }
    }
  }
done:
  doc_free(&d);
  free(text.p);
  return res;
}

static void pt_fini(void *state) {
  struct pt_state *st = state;
  free(st->plan);
  json_decref(st->plans);
  free(st);
}

__attribute__((visibility("default")))
const struct dk_plugin duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(struct dk_plugin),
  .name = "plan-text",
  .version = "0.1.0",
  .description = "Plan documents (text, HTML, PDF text): a plan record and its numbered tasks",
  .options_schema = options_schema,
  .init = pt_init,
  .prepare = NULL,
  .parse = pt_parse,
  .fini = pt_fini,
};

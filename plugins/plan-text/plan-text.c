/* plan-text: plan, task and unit records from a published plan document.
 *
 * The body is plain text, Markdown, HTML or a PDF (its text layer, through
 * poppler). Lines that carry a whole document (web pages that lost their
 * line breaks) are first split where the structure says. The text is then
 * read line by line: a plan title (…工作要点/方案/计划/规划/意见, or the 关于…通知
 * itself), then either sections "一、", subsections "（一）" and numbered
 * tasks "1." closed by a responsible-unit clause, or chapters "第一章",
 * sections "第一节" with topical paragraphs ("公路。…") and boxes ("专栏1").
 * Any other line continues the open task, which is how PDF page breaks
 * inside a sentence are undone. Numbers must come in order (next number
 * only), so a broken line that happens to start with "2." or "三、" stays
 * text. A document in traditional characters is matched through a folded
 * (simplified) copy with the same byte offsets; what is emitted is cut from
 * the text as published, unit names excepted (they are canonical). */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <duikou/plugin.h>
#ifdef PT_HAVE_POPPLER
#include <poppler.h>
#endif

#include "t2s-table.h"
#include "common/buf.h"
#include "units-table.h"

#define PT_MAX_TITLE 200 /* codepoints, as in the schemas */
#define PT_MAX_UNIT 100
#define NELEM(a) (sizeof(a) / sizeof *(a))

struct pt_state {
  char *plan;      /* options.plan, or NULL */
  json_t *plans;   /* options.plans, or NULL (owned reference) */
  json_t *aliases; /* alias -> canonical, built-in and options.aliases */
  bool units;      /* options.units: emit unit records */
};

static const char options_schema[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\", \"additionalProperties\": false,"
    " \"properties\": {"
    "  \"plan\": {\"type\": \"string\", \"pattern\": \"^[a-z0-9][a-z0-9._-]*$\", \"maxLength\": 60,"
    "            \"description\": \"id of the (first) plan; default from issuer and title, jnly-<year> for the two cities\"},"
    "  \"plans\": {\"type\": \"array\", \"minItems\": 1,"
    "             \"items\": {\"type\": \"string\", \"pattern\": \"^[a-z0-9][a-z0-9._-]*$\", \"maxLength\": 60},"
    "             \"description\": \"ids of the plans the document carries, in order\"},"
    "  \"units\": {\"type\": \"boolean\","
    "             \"description\": \"also emit a unit record (units/<city>/<name>) per responsible unit, with its aliases\"},"
    "  \"aliases\": {\"type\": \"object\","
    "               \"additionalProperties\": {\"type\": \"array\", \"minItems\": 1,"
    "                                        \"items\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 100}},"
    "               \"description\": \"more names of a unit: {canonical name: [other names]}, added to the built-in table\"}"
    " }}";

/* The growable buffer and UTF-8 encoder are the ones every plugin shares
 * (plugins/common/buf.h). */

/* --- UTF-8 helpers -------------------------------------------------------- */

/* s starts with prefix. */
static bool starts(const char *s, const char *prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return false;
  return true;
}

/* s..s+n ends with suffix. */
static bool ends(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* s starts with one of the n strings of list. */
static bool starts_any(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (starts(s, list[i])) return true;
  return false;
}

/* s..s+n contains needle. */
static bool has(const char *s, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(s + i, needle, k) == 0) return true;
  return false;
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

/* A JSON string of at most max codepoints of s..s+n. */
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

/* The codepoint at s (one to three bytes; U+FFFD for longer or broken ones). */
static unsigned long u8dec(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  if (u[0] < 0x80) return u[0];
  if (u[0] >= 0xE0 && u[0] < 0xF0 && u[1] && u[2])
    return ((unsigned long)(u[0] & 0x0F) << 12) | ((unsigned long)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
  return 0xFFFD;
}

/* cp is a CJK ideograph. */
static bool is_ideo(unsigned long cp) { return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF); }

/* --- traditional characters ---------------------------------------------- */

/* Simplified form of a traditional ideograph, else cp itself. */
static unsigned long t2s(unsigned long cp) {
  size_t lo = 0, hi = NELEM(t2s_table);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (t2s_table[mid][0] == cp) return t2s_table[mid][1];
    if (t2s_table[mid][0] < cp) lo = mid + 1;
    else hi = mid;
  }
  return cp;
}

/* Fold s (n bytes) to simplified characters in place. Every pair of the
 * table is three bytes on both sides, so offsets into s stay valid. */
static void fold(char *s, size_t n) {
  for (size_t i = 0; i + 2 < n; i += u8len((unsigned char)s[i])) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0xE4 || c > 0xE9) continue;
    unsigned long cp = u8dec(s + i), f = t2s(cp);
    if (f == cp) continue;
    s[i] = (char)(0xE0 | (f >> 12));
    s[i + 1] = (char)(0x80 | ((f >> 6) & 0x3F));
    s[i + 2] = (char)(0x80 | (f & 0x3F));
  }
}

/* A folded copy of s..s+n (NUL-terminated), or NULL. */
static char *folded(const char *s, size_t n) {
  char *k = malloc(n + 1);
  if (k == NULL) return NULL;
  memcpy(k, s, n);
  k[n] = '\0';
  fold(k, n);
  return k;
}

/* Traditional script: characters common in any plan (为 对 区 县 发 实 经 济 临
 * 两 负 责 项 业 产 会 这 与) more often in their traditional form than in
 * their simplified one, a few times at least. */
static bool is_traditional(const char *s) {
  static const char *const trad[] = {"為", "對", "區", "縣", "發", "實", "經", "濟", "臨",
                                     "兩", "負", "責", "項", "業", "產", "會", "這", "與"};
  static const char *const simp[] = {"为", "对", "区", "县", "发", "实", "经", "济", "临",
                                     "两", "负", "责", "项", "业", "产", "会", "这", "与"};
  size_t t = 0, k = 0;
  for (const char *p = s; *p; p += u8len((unsigned char)*p)) {
    if ((unsigned char)*p < 0xE4) continue;
    for (size_t i = 0; i < NELEM(trad); i++) {
      t += starts(p, trad[i]);
      k += starts(p, simp[i]);
    }
  }
  return t >= 3 && t > k;
}

/* --- HTML ------------------------------------------------------------------ */

/* An HTML body: by content type, or a body starting with <. */
static bool is_html(const struct dk_response *resp) {
  if (resp->content_type && strstr(resp->content_type, "text/html")) return true;
  const char *p = resp->body;
  if (starts(p, "\xEF\xBB\xBF")) p += 3;
  while (*p && isspace((unsigned char)*p)) p++;
  return *p == '<';
}

/* The tag name name..name+n is want (any case). */
static bool tag_is(const char *name, size_t n, const char *want) {
  return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Text of an HTML document: tags gone (block ones become line breaks),
 * script/style dropped, the common entities decoded. */
static bool html_text(const char *s, size_t len, struct dk_pbuf *out) {
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
        if (tag_is(name, nl, blocks[i]) && !dk_pbuf_add(out, "\n", 1)) return false;
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
          if (!dk_pbuf_cp(out, cp)) return false;
          s = semi + 1;
          continue;
        }
      }
    }
    if (!dk_pbuf_add(out, s, 1)) return false;
    s++;
  }
  return true;
}

/* --- PDF --------------------------------------------------------------------- */

/* A PDF body: by content type, or the %PDF- magic. */
static bool is_pdf(const struct dk_response *resp) {
  if (resp->content_type && strstr(resp->content_type, "application/pdf")) return true;
  return resp->body_len >= 5 && memcmp(resp->body, "%PDF-", 5) == 0;
}

/* The text layer of a PDF, pages one after the other, into out. false,
 * with the reason in why, when there is none to read. */
static bool pdf_text(const struct dk_response *resp, struct dk_pbuf *out, char *why, size_t whylen) {
#ifdef PT_HAVE_POPPLER
  GBytes *bytes = g_bytes_new_static(resp->body, resp->body_len);
  GError *error = NULL;
  PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &error);
  g_bytes_unref(bytes);
  if (doc == NULL) {
    snprintf(why, whylen, "not a readable PDF: %s", error ? error->message : "unknown error");
    if (error) g_error_free(error);
    return false;
  }
  bool ok = true;
  int pages = poppler_document_get_n_pages(doc);
  for (int i = 0; i < pages && ok; i++) {
    PopplerPage *page = poppler_document_get_page(doc, i);
    char *t = page ? poppler_page_get_text(page) : NULL;
    ok = (t == NULL || dk_pbuf_str(out, t)) && dk_pbuf_add(out, "\n", 1);
    g_free(t);
    if (page) g_object_unref(page);
  }
  g_object_unref(doc);
  if (!ok) {
    snprintf(why, whylen, "out of memory");
    return false;
  }
  bool text = false;
  for (size_t i = 0; i < out->len && !text; i++) text = !isspace((unsigned char)out->p[i]);
  if (!text)
    snprintf(why, whylen, "the PDF has no text layer (%d page%s without text: a scan?); configure the text or "
             "HTML version of the document instead", pages, pages == 1 ? "" : "s");
  return text;
#else
  (void)resp;
  (void)out;
  snprintf(why, whylen, "a PDF, and plan-text was built without poppler (PDF support)");
  return false;
#endif
}

/* --- lines ----------------------------------------------------------------- */

/* Whitespace at s (ASCII, U+3000, U+00A0): true, its byte length in *len. */
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

/* Squeeze spaces; drop them where ASCII meets CJK text or CJK punctuation
 * (PDF extraction scatters them: "2023 年"), keep one between two words of
 * the same script ("弘扬沂蒙精神 建功乡村振兴" is how it was published). */
static char *squeeze(const char *s) {
  struct dk_pbuf b = {0};
  size_t l;
  while (*s) {
    if (is_space_at(s, &l)) {
      const char *t = s;
      while (*t && is_space_at(t, &l)) t += l;
      if (*t && b.len) {
        size_t k = b.len - 1;
        while (k > 0 && ((unsigned char)b.p[k] & 0xC0) == 0x80) k--;
        unsigned long before = u8dec(b.p + k), after = u8dec(t);
        bool keep = (before < 0x80 && after < 0x80) || (is_ideo(before) && is_ideo(after));
        if (keep && !dk_pbuf_add(&b, " ", 1)) goto oom;
      }
      s = t;
      continue;
    }
    if (!dk_pbuf_add(&b, s, 1)) goto oom;
    s++;
  }
  if (b.p == NULL && !dk_pbuf_add(&b, "", 0)) goto oom;
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

/* "2023年6月29日" as the whole line: "2023-06-29" into out, else false. */
static bool match_date(const char *s, char out[11]) {
  int y, m, d, n = 0;
  if (sscanf(s, "%4d年%2d月%2d日%n", &y, &m, &d, &n) != 3 || s[n] != '\0') return false;
  if (y < 2000 || y > 2100 || m < 1 || m > 12 || d < 1 || d > 31) return false;
  snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
  return true;
}

/* A 文号 such as 济政办字〔2023〕28号 in line k (folded), as a new string cut
 * from s (the line as published), or NULL. */
static json_t *find_doc_number(const char *k, const char *orig) {
  const char *s = k;
  for (const char *p = strstr(s, "〔"); p; p = strstr(p + 3, "〔")) {
    const char *b = p;
    /* The issuer's short form: a few ideographs, not the office signing before it. */
    while (b - 3 >= s && p - b < 18 && ((unsigned char)b[-3] & 0xF0) == 0xE0 && (unsigned char)b[-3] >= 0xE4 &&
           (unsigned char)b[-3] <= 0xE9 && !starts(b - 3, "室") && !starts(b - 3, "厅") && !starts(b - 3, "府"))
      b -= 3;
    const char *q = p + 3;
    int k = 0;
    while (isdigit((unsigned char)*q)) { q++; k++; }
    if (b == p || k != 4 || !starts(q, "〕")) continue;
    q += 3;
    if (!isdigit((unsigned char)*q)) continue;
    while (isdigit((unsigned char)*q)) q++;
    if (!starts(q, "号")) continue;
    return json_stringn(orig + (b - s), (size_t)(q + 3 - b));
  }
  return NULL;
}

/* --- lines that lost their breaks ----------------------------------------- */

/* "12." / "12．" / "12、" not followed by a digit: its byte length, else 0. */
static size_t task_marker(const char *s) {
  size_t i = 0;
  while (i < 4 && isdigit((unsigned char)s[i])) i++;
  if (i == 0 || i == 4) return 0;
  if (s[i] == '.') i++;
  else if (starts(s + i, "．") || starts(s + i, "、")) i += 3;
  else return 0;
  return isdigit((unsigned char)s[i]) ? 0 : i;
}

/* "一、" at s: its byte length, else 0. */
static size_t section_marker(const char *s) {
  size_t l;
  return cn_number(s, &l) && starts(s + l, "、") ? l + 3 : 0;
}

/* "（一）" / "(一)" at s: its byte length, else 0. */
static size_t subsection_marker(const char *s) {
  size_t o = open_paren(s), l, c;
  if (o == 0 || cn_number(s + o, &l) == 0 || (c = close_paren(s + o + l)) == 0) return 0;
  return o + l + c;
}

/* "第三章" / "第一节" at s: its byte length, else 0. */
static size_t chapter_marker(const char *s, const char *which) {
  size_t l;
  if (!starts(s, "第") || cn_number(s + 3, &l) == 0 || !starts(s + 3 + l, which)) return 0;
  return 3 + l + strlen(which);
}

/* A number of at most `digits` digits at *p, spaces after it skipped. */
static int date_part(const char **p, int digits) {
  int v = 0, k = 0;
  while (k < digits && isdigit((unsigned char)**p)) v = v * 10 + (*(*p)++ - '0'), k++;
  while (**p == ' ') (*p)++;
  return k ? v : -1;
}

/* "2024年4月24日" (or "2023 年 6 月 29 日") at s: its byte length, else 0. */
static size_t date_marker(const char *s) {
  const char *p = s;
  int y = date_part(&p, 4);
  if (y < 2000 || y > 2100 || p - s < 4 || !starts(p, "年")) return 0;
  p += 3;
  while (*p == ' ') p++;
  int m = date_part(&p, 2);
  if (m < 1 || m > 12 || !starts(p, "月")) return 0;
  p += 3;
  while (*p == ' ') p++;
  int d = date_part(&p, 2);
  if (d < 1 || d > 31 || !starts(p, "日")) return 0;
  return (size_t)(p + 3 - s);
}

/* Characters after which a section number starts a heading. */
static bool ends_clause(unsigned long cp) {
  return cp == 0 || cp == 0x3002 || cp == 0xFF1B || cp == 0xFF09 || cp == ')' || cp == 0x201D || cp == ' ' ||
         cp == 0xFF1A || cp == ':' || cp == 0xFF01 || cp == 0xFF1F;
}

/* Should a line break before k[i]? prev is the codepoint before it (0 at the
 * start), depth the parenthesis depth there. */
static bool break_before(const char *k, size_t i, unsigned long prev, int depth) {
  const char *p = k + i;
  if (depth > 0) return false;
  if (task_marker(p)) return prev >= 0x80 || prev == ')' || prev == ' ';
  if (section_marker(p)) return ends_clause(prev);
  if (subsection_marker(p) || chapter_marker(p, "章") || chapter_marker(p, "节")) return true;
  if (starts(p, "专栏") && isdigit((unsigned char)p[6])) return true;
  if (starts(p, "（此件") || starts(p, "(此件")) return true;
  size_t t = date_marker(p);
  return t && !isdigit((unsigned char)prev) && (p[t] == '\0' || p[t] == '\n' || p[t] == ' ' || open_paren(p + t));
}

/* Title suffixes a plan title (or the notice carrying it) ends with. */
static const char *const title_suffixes[] = {"工作要点", "方案", "计划", "规划", "意见", "通知"};

/* "（2025—2027年）" at s: its byte length, else 0. */
static size_t span_paren(const char *s) {
  size_t o = open_paren(s);
  if (o == 0) return 0;
  const char *p = s + o;
  int a, b, n = 0;
  if (sscanf(p, "%4d", &a) != 1 || !isdigit((unsigned char)p[3])) return 0;
  p += 4;
  if (*p == '-') p++;
  else if (starts(p, "—") || starts(p, "－") || starts(p, "–")) p += 3;
  else return 0;
  if (sscanf(p, "%4d年%n", &b, &n) != 1 || n == 0 || b < a) return 0;
  p += n;
  size_t c = close_paren(p);
  return c ? (size_t)(p + c - s) : 0;
}

/* A title suffix ending at k[j..]: the byte length of the title up to its
 * end (with a year span after it), else 0. A notice (关于…) ends in 通知. */
static size_t title_end(const char *k, size_t n, size_t j, bool notice) {
  for (size_t t = 0; t < NELEM(title_suffixes); t++) {
    size_t sl = strlen(title_suffixes[t]);
    if (j + sl > n || memcmp(k + j, title_suffixes[t], sl) != 0) continue;
    if (notice != (t == NELEM(title_suffixes) - 1)) continue;
    size_t e = j + sl;
    e += span_paren(k + e);
    static const char *const goes_on[] = {"》", "”", "、", "，", "。", "和", "及", "与", "的", ","};
    if (e < n && !starts_any(k + e, goes_on, NELEM(goes_on)) && !close_paren(k + e)) return e;
  }
  return 0;
}

/* A plan title (or the 关于…通知 carrying it) at the head of k (n bytes)
 * that runs on into a sentence: the byte length of the title, else 0. */
static size_t title_head(const char *k, size_t n) {
  int books = 0;
  bool notice = starts(k, "关于") || (n > 40 && has(k, 120 < n ? 120 : n, "关于"));
  for (size_t j = 0, e; j < n && j < 300; j += u8len((unsigned char)k[j])) {
    if (strchr(",;:", k[j]) || starts(k + j, "，") || starts(k + j, "。") || starts(k + j, "；") ||
        starts(k + j, "：") || starts(k + j, "、") || starts(k + j, "“") || date_marker(k + j) ||
        starts(k + j, "（此件") || starts(k + j, "(此件"))
      return 0;
    if (starts(k + j, "《")) books++;
    if (starts(k + j, "》")) books--;
    if (books == 0 && (e = title_end(k, n, j, notice)) != 0) return e;
  }
  return 0;
}
/* Headings and tasks run together in a line: at least three of them after
 * the end of a sentence or clause. */
static bool is_run_on(const char *k, size_t n) {
  int found = 0;
  unsigned long prev = 0;
  for (size_t i = 0; i < n && found < 3; i += u8len((unsigned char)k[i])) {
    if ((prev == 0x3002 || prev == 0xFF09 || prev == ')') && (task_marker(k + i) || section_marker(k + i)))
      found++;
    prev = u8dec(k + i);
  }
  return found >= 3;
}

/* The piece of k (n bytes) at i that split_line takes in one step, and
 * whether a line ends after it: a standalone date, 此件公开发布）, a clause
 * closing before the next plan's title, the end of a sentence. */
static size_t piece_at(const char *k, size_t i, size_t n, int *depth, bool *after) {
  size_t t, l = u8len((unsigned char)k[i]);
  *after = true;
  if ((t = date_marker(k + i)) != 0 && (i + t == n || open_paren(k + i + t) || k[i + t] == ' ')) return t;
  if (starts(k + i, "此件公开发布")) {
    size_t c = close_paren(k + i + 18);
    if (c && *depth > 0) (*depth)--;
    return 18 + c;
  }
  if (open_paren(k + i)) {
    (*depth)++;
    *after = false;
  } else if (close_paren(k + i) && *depth > 0) {
    *after = --*depth == 0 && title_head(k + i + l, n - i - l) != 0;
  } else {
    *after = *depth == 0 && (starts(k + i, "。") || starts(k + i, "！") || starts(k + i, "？"));
  }
  return l;
}

/* Copy line s (n bytes, folded form k) into out, with the line breaks it
 * lost put back. */
static bool split_line(const char *s, const char *k, size_t n, struct dk_pbuf *out) {
  int depth = 0;
  unsigned long prev = 0;
  bool body = false, after; /* body: past the first section */
  size_t from = 0, l;
  for (size_t i = 0; i < n; i += l) {
    if (i > from && break_before(k, i, prev, depth)) {
      if (!dk_pbuf_add(out, s + from, i - from) || !dk_pbuf_add(out, "\n", 1)) return false;
      from = i;
      body |= section_marker(k + i) || chapter_marker(k + i, "章");
    }
    if (i == from && (!body || prev == ')' || prev == 0xFF09) && (l = title_head(k + i, n - i)) != 0) {
      /* The next plan's title after a task's clause: a heading, as a task
       * would otherwise take the line for its own text. */
      if (body && !dk_pbuf_add(out, "# ", 2)) return false;
      after = true;
    } else {
      l = piece_at(k, i, n, &depth, &after);
    }
    size_t j = i + l - 1;
    while (j > i && ((unsigned char)k[j] & 0xC0) == 0x80) j--;
    prev = u8dec(k + j);
    if (after && i + l < n) {
      if (!dk_pbuf_add(out, s + from, i + l - from) || !dk_pbuf_add(out, "\n", 1)) return false;
      from = i + l;
    }
  }
  return dk_pbuf_add(out, s + from, n - from);
}

/* The text with every run-on line split (trad: match on a folded copy). */
static bool unrun(const char *text, bool trad, struct dk_pbuf *out) {
  for (const char *line = text; *line;) {
    const char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    char *k = trad ? folded(line, n) : NULL;
    if (trad && k == NULL) return false;
    const char *key = trad ? k : line;
    bool ok = is_run_on(key, n) ? split_line(line, key, n, out) : dk_pbuf_add(out, line, n);
    free(k);
    if (!ok || (nl && !dk_pbuf_add(out, "\n", 1))) return false;
    line = nl ? nl + 1 : line + n;
  }
  return true;
}

/* --- units ----------------------------------------------------------------- */

/* The canonical name of a unit (name itself when it has no other). */
static const char *canonical(const json_t *aliases, const char *name) {
  const char *c = json_string_value(json_object_get(aliases, name));
  return c ? c : name;
}

/* Whose unit `name` (canonical) is. */
static const char *city_of(const char *name) {
  for (size_t i = 0; i < NELEM(agency_cities); i++)
    if (strcmp(name, agency_cities[i].name) == 0) return agency_cities[i].city;
  if (starts(name, "济南")) return "jinan";
  if (starts(name, "临沂")) return "linyi";
  if (starts(name, "山东") || starts(name, "省")) return "province";
  if (starts_any(name, jinan_places, NELEM(jinan_places))) return "jinan";
  if (starts_any(name, linyi_places, NELEM(linyi_places))) return "linyi";
  /* A central agency's office, by the place in its name. */
  if (strstr(name, "济南")) return "jinan";
  if (strstr(name, "临沂")) return "linyi";
  if (strstr(name, "山东")) return "province";
  return "other";
}

/* Whose units the items of a group are when they do not say it themselves. */
enum owner { OWN_NONE, OWN_BOTH, OWN_JINAN, OWN_LINYI, OWN_PROVINCE };

/* An item (n bytes) that already says whose it is: a group prefix does not apply. */
static bool owns_prefix(const char *s, size_t n) {
  static const char *const own[] = {"两市", "山东", "省", "中国", "国家", "民航", "各市", "有关市"};
  return starts_any(s, own, NELEM(own)) || has(s, n, "济南") || has(s, n, "临沂") ||
         starts_any(s, jinan_places, NELEM(jinan_places)) || starts_any(s, linyi_places, NELEM(linyi_places));
}

/* How a document's unit names are read. */
struct unit_rules {
  const json_t *aliases; /* alias -> canonical */
  const char *home;      /* "济南" / "临沂": the city of a city's own document (市X is its), or NULL */
};

struct unit_ctx {
  json_t *units;         /* unit_ref objects, role NULL until decided */
  const json_t *aliases; /* alias -> canonical */
  const char *home;      /* see unit_rules */
  enum owner owner;      /* prefix in force */
};

/* Append unit city+name (city may be "") unless it is already there. */
static int add_unit(struct unit_ctx *u, const char *city, const char *name, size_t n) {
  char full[512];
  /* 两市市委X is 济南市委X: the documents write the party bodies that way. */
  const char *mid = city[0] && !starts(name, "市委") && !starts(name, "市直") ? "市" : "";
  int len = snprintf(full, sizeof full, "%s%s%.*s", city, mid, (int)n, name);
  if (len < 0 || (size_t)len >= sizeof full) return 0;
  const char *c = canonical(u->aliases, full);
  size_t i;
  json_t *x;
  json_array_foreach(u->units, i, x)
    if (strcmp(json_string_value(json_object_get(x, "name")), c) == 0) return 0;
  x = json_pack("{s:o, s:s}", "name", jstrn_max(c, strlen(c), PT_MAX_UNIT), "city", city_of(c));
  if (x == NULL || json_array_append_new(u->units, x) != 0) return DK_ENOMEM;
  return 0;
}

/* Add one item under the owner in force. */
static int add_owned(struct unit_ctx *u, const char *s, size_t n) {
  int rc = 0;
  switch (u->owner) {
    case OWN_BOTH:
      if ((rc = add_unit(u, "济南", s, n)) == 0) rc = add_unit(u, "临沂", s, n);
      return rc;
    case OWN_JINAN: return add_unit(u, "济南", s, n);
    case OWN_LINYI: return add_unit(u, "临沂", s, n);
    case OWN_PROVINCE:
      if (starts(s, "各") || starts(s, "有关") || starts(s, "相关")) return add_unit(u, "", s, n);
      char name[512];
      snprintf(name, sizeof name, "省%.*s", (int)(n < 500 ? n : 500), s);
      return add_unit(u, "", name, strlen(name));
    case OWN_NONE: break;
  }
  /* 市发展改革委 in a city's own document is that city's. */
  if (u->home && starts(s, "市") && !starts(s, "市场"))
    return starts(s, "市委") || starts(s, "市直") ? add_unit(u, u->home, s, n) : add_unit(u, u->home, s + 3, n - 3);
  return add_unit(u, "", s, n);
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

/* A bare city ("济南市" in 济南市、临沂市政府): the byte length of its name. */
static size_t bare_city(const char *s, size_t n) {
  if (n == 9 && (starts(s, "济南市") || starts(s, "临沂市"))) return 9;
  if (n == 6 && (starts(s, "济南") || starts(s, "临沂"))) return 6;
  return 0;
}

/* Items of one group "两市A、B" / "济南市A、B、临沂市C" / "省A、B". */
static int add_group(struct unit_ctx *u, const char *s, size_t n) {
  const char *end = s + n;
  while (s < end) {
    const char *q = next_sep(s, end, 0);
    const char *item = s;
    size_t il = (size_t)(q - s);
    s = q < end ? q + 3 : end;
    int rc = 0;
    if (il == 0) continue;
    if (bare_city(item, il) && s < end) {
      /* 济南市、临沂市政府: the first takes the ending of the next. */
      const char *nq = next_sep(s, end, 0);
      size_t nl = (size_t)(nq - s), cl = starts(s, "济南市") || starts(s, "临沂市") ? 9 : 0;
      if (cl && nl > cl) {
        char city[8];
        snprintf(city, sizeof city, "%.6s", item);
        rc = add_unit(u, city, s + cl, nl - cl);
        u->owner = OWN_NONE;
        if (rc) return rc;
        continue;
      }
    }
    if (starts(item, "两市")) {
      u->owner = OWN_BOTH;
      item += 6;
      il -= 6;
      if (il == 0) continue;
    } else if (starts(item, "济南市")) {
      u->owner = OWN_JINAN;
      rc = add_unit(u, "", item, il);
      if (rc) return rc;
      continue;
    } else if (starts(item, "临沂市")) {
      u->owner = OWN_LINYI;
      rc = add_unit(u, "", item, il);
      if (rc) return rc;
      continue;
    } else if (starts(item, "省")) {
      u->owner = OWN_PROVINCE;
      if ((rc = add_unit(u, "", item, il))) return rc;
      continue;
    } else if (owns_prefix(item, il)) {
      u->owner = OWN_NONE;
    }
    if ((rc = add_owned(u, item, il))) return rc;
  }
  return 0;
}

/* One comma part: groups split at "及" when a new owner follows. */
static int add_part(struct unit_ctx *u, const char *s, size_t n) {
  const char *end = s + n;
  const char *g = s;
  for (const char *p = s; p < end; p += u8len((unsigned char)*p)) {
    if (starts(p, "及") && p + 3 < end && owns_prefix(p + 3, (size_t)(end - p - 3))) {
      int rc = add_group(u, g, (size_t)(p - g));
      if (rc) return rc;
      g = p + 3;
    }
  }
  return add_group(u, g, (size_t)(end - g));
}

/* Set the role of units[from..] (NULL role: sole if one unit, else shared). */
static bool set_roles(json_t *units, size_t from, const char *role) {
  size_t total = json_array_size(units);
  const char *r = role ? role : (total - from == 1 ? "sole" : "shared");
  for (size_t i = from; i < total; i++)
    if (json_object_set_new(json_array_get(units, i), "role", json_string(r))) return false;
  return true;
}

/* Units of a clause (its content, without the parentheses). listed: a
 * 责任单位 list or a bare list, whose parts carry no role words. */
static json_t *parse_units(const char *s, size_t n, bool listed, const struct unit_rules *r) {
  struct unit_ctx u = {json_array(), r->aliases, r->home, OWN_NONE};
  if (u.units == NULL) return NULL;
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
    for (size_t i = 0; i < NELEM(roles) && !listed; i++) {
      if (ends(s, pl, roles[i].suffix)) {
        pl -= strlen(roles[i].suffix);
        role = roles[i].role;
        marked = true;
        break;
      }
    }
    /* 两市 (and 省) carry over a comma: 两市乡村振兴局，有关区县政府… */
    if (u.owner != OWN_BOTH && u.owner != OWN_PROVINCE) u.owner = OWN_NONE;
    if (add_part(&u, s, pl) != 0) goto fail;
    /* Parts without a marker take the next marker's role. */
    if (marked) {
      if (!set_roles(u.units, pending_from, role)) goto fail;
      pending_from = json_array_size(u.units);
    }
    s = next;
  }
  if (!set_roles(u.units, pending_from, NULL)) goto fail;
  return u.units;
fail:
  json_decref(u.units);
  return NULL;
}

/* Length of g..g+l without a trailing parenthesis: 省委党校（山东行政学院）. */
static size_t before_paren(const char *g, size_t l) {
  if (!(l && g[l - 1] == ')') && !ends(g, l, "）")) return l;
  int depth = 0;
  for (size_t i = l; i > 0;) {
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)g[k] & 0xC0) == 0x80) k--;
    if (close_paren(g + k)) depth++;
    else if (open_paren(g + k) && --depth == 0) return k;
    i = k;
  }
  return l;
}

/* A parenthesis holding only unit names, no role word: （省教育厅、省科技厅）. */
static bool is_unit_list(const char *s, size_t n) {
  const char *end = s + n;
  if (n == 0) return false;
  while (s < end) {
    const char *q = next_sep(s, end, 1);
    for (const char *g = s; g < q;) {
      const char *e = next_sep(g, q, 0);
      size_t l = before_paren(g, (size_t)(e - g));
      bool ending = false;
      for (size_t i = 0; i < NELEM(unit_endings) && l > 0 && l <= 90; i++) ending |= ends(g, l, unit_endings[i]);
      if (!ending) return false;
      g = e < q ? e + 3 : q;
    }
    s = q < end ? q + u8len((unsigned char)*q) : end;
  }
  return true;
}

/* The unit clause closing a task body (folded form): its units, with *cut
 * the offset where the clause begins; NULL when the body has none. */
static json_t *find_clause(const char *body, size_t n, size_t *cut, const struct unit_rules *r) {
  size_t e = n;
  while (e && body[e - 1] == ' ') e--;
  if (ends(body, e, "。")) e -= 3;
  size_t cl = 0;
  if (e >= 1 && body[e - 1] == ')') cl = 1;
  else if (ends(body, e, "）")) cl = 3;
  if (cl == 0) return NULL;
  int depth = 0;
  size_t i = e, open = (size_t)-1;
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
    if (!is_unit_list(c, cn)) return NULL;
    listed = true;
  }
  *cut = open;
  return parse_units(c, cn, listed, r);
}

/* --- document model ------------------------------------------------------- */

struct pt_task {
  int number;
  json_t *section, *subsection; /* owned references or NULL */
  char *title;                  /* a box's own title; NULL: the body's first sentence */
  struct dk_pbuf body;              /* as published */
  size_t glued_at;              /* where the last line glued to the body starts */
};

enum pt_shape { SHAPE_NUMBERED, SHAPE_CHAPTERS };

struct pt_plan {
  char *title, *key;            /* as published / folded */
  enum pt_shape shape;
  json_t *sections;             /* numbered_title objects */
  json_t *section, *subsection; /* current, borrowed from sections / owned */
  int nsub;                     /* last （一） of the plan, or 第一节 of the chapter */
  bool sub_tasks;               /* its （一） items are its tasks (they close with a unit clause) */
  struct pt_task *tasks;
  size_t ntasks;
};

struct pt_doc {
  struct pt_plan *plans;
  size_t nplans;
  bool trad;
  char published[11];
  json_t *issuers, *doc_number;
  char *last_heading;   /* a plan title for a document that has no recognisable one */
  char *notice;         /* a 关于…通知 title: the plan's own when no other comes */
  struct pt_task *task; /* open task */
  char *prev_raw;       /* the line before, as published */
};

/* Release everything d holds. */
static void doc_free(struct pt_doc *d) {
  for (size_t i = 0; i < d->nplans; i++) {
    struct pt_plan *p = &d->plans[i];
    for (size_t k = 0; k < p->ntasks; k++) {
      json_decref(p->tasks[k].section);
      json_decref(p->tasks[k].subsection);
      free(p->tasks[k].title);
      free(p->tasks[k].body.p);
    }
    free(p->tasks);
    free(p->title);
    free(p->key);
    json_decref(p->sections);
    json_decref(p->subsection);
  }
  free(d->plans);
  json_decref(d->issuers);
  json_decref(d->doc_number);
  free(d->last_heading);
  free(d->notice);
}

/* Start a plan titled title (as published); closes the open task. NULL: out of memory. */
static struct pt_plan *new_plan(struct pt_doc *d, const char *title, enum pt_shape shape) {
  struct pt_plan *ps = realloc(d->plans, (d->nplans + 1) * sizeof *ps);
  if (ps == NULL) return NULL;
  d->plans = ps;
  struct pt_plan *p = &ps[d->nplans];
  memset(p, 0, sizeof *p);
  p->shape = shape;
  p->title = strdup(title);
  p->key = strdup(title);
  p->sections = json_array();
  d->nplans++;
  d->task = NULL;
  if (p->title == NULL || p->key == NULL || p->sections == NULL) return NULL;
  if (d->trad) fold(p->key, strlen(p->key));
  return p;
}

/* Byte length of k without a closing year span "（2025—2027年）". */
static size_t without_span(const char *k, size_t n) {
  for (size_t i = 0; i < n; i += u8len((unsigned char)k[i]))
    if (open_paren(k + i) && span_paren(k + i) == n - i) return i;
  return n;
}

/* k starts with a section, subsection, task, chapter or box marker. */
static bool starts_structure(const char *k) {
  return section_marker(k) || subsection_marker(k) || task_marker(k) || chapter_marker(k, "章") ||
         chapter_marker(k, "节") || starts(k, "专栏");
}

/* A plan title (folded line k): ends in 工作要点/方案/计划/规划/意见, perhaps
 * with a year span after it; no sentence, no notice, no numbered heading. */
static bool is_plan_title(const char *k, bool heading, bool in_task) {
  size_t n = strlen(k);
  if (in_task && !heading) return false;
  if (n == 0 || n > 180 || strstr(k, "。") || strstr(k, "，") || strchr(k, ',') || strstr(k, "；") ||
      starts(k, "关于") || starts_structure(k))
    return false;
  n = without_span(k, n);
  for (size_t i = 0; i < NELEM(title_suffixes) - 1; i++)
    if (ends(k, n, title_suffixes[i])) return true;
  return false;
}

/* The title of a notice (关于…的通知), which is the plan when it carries no other. */
static bool is_notice(const char *k) {
  size_t n = strlen(k);
  return n <= 240 && strstr(k, "关于") && ends(k, n, "通知") && !strstr(k, "。");
}

/* {number, title}: the title up to its first 。 (（一）工作目标。到2027年… is a heading and a sentence). */
static json_t *numbered(const char *num, size_t numlen, const char *title) {
  while (title[0] == ' ') title++;
  const char *dot = strstr(title, "。");
  size_t tl = dot ? (size_t)(dot - title) : strlen(title);
  if (tl == 0) return NULL;
  return json_pack("{s:s%, s:o}", "number", num, numlen, "title", jstrn_max(title, tl, PT_MAX_TITLE));
}

/* A task of plan p (number: the next one), its body starting with text. */
static struct pt_task *new_task(struct pt_doc *d, struct pt_plan *p, int number, const char *text) {
  struct pt_task *ts = realloc(p->tasks, (p->ntasks + 1) * sizeof *ts);
  if (ts == NULL) return NULL;
  p->tasks = ts;
  struct pt_task *t = &ts[p->ntasks++];
  memset(t, 0, sizeof *t);
  t->number = number;
  t->section = json_incref(p->section);
  t->subsection = json_incref(p->subsection);
  while (*text == ' ') text++;
  d->task = t;
  return dk_pbuf_str(&t->body, text) ? t : NULL;
}

/* The plan a heading belongs to: the last one, or one made for a document
 * whose title was not recognised (its notice, or the last heading line). */
static struct pt_plan *current_plan(struct pt_doc *d, enum pt_shape shape) {
  if (d->nplans) return &d->plans[d->nplans - 1];
  const char *t = d->notice ? d->notice : d->last_heading ? d->last_heading : "plan";
  return new_plan(d, t, shape);
}

/* 一、 / （一） / 1. lines of a plan in numbered shape. 1: taken, 0: not
 * this kind of line, negative: DK_ENOMEM. */
static int numbered_line(struct pt_doc *d, const char *s, const char *k) {
  struct pt_plan *p = d->nplans ? &d->plans[d->nplans - 1] : NULL;
  size_t l;
  int v;
  if (p && p->shape != SHAPE_NUMBERED) return 0;
  if ((l = section_marker(k)) && (v = cn_number(k, &l)) == (p ? (int)json_array_size(p->sections) : 0) + 1) {
    if ((p = current_plan(d, SHAPE_NUMBERED)) == NULL) return DK_ENOMEM;
    json_t *sec = numbered(s, l, s + l + 3);
    if (sec == NULL || json_array_append_new(p->sections, sec)) return DK_ENOMEM;
    p->section = sec;
    json_decref(p->subsection);
    p->subsection = NULL;
    d->task = NULL;
    return 1;
  }
  if (p == NULL) return 0;
  if ((l = subsection_marker(k)) && (v = cn_number(k + open_paren(k), &l)) == p->nsub + 1) {
    size_t o = open_paren(k), at = o + l + close_paren(k + o + l);
    if (p->ntasks == 0 && !p->sub_tasks) {
      /* （一）X。…（省X牵头，Y配合）: no numbered tasks, the items are the
       * tasks, from the first that closes with a unit clause on its line. */
      struct unit_rules none = {NULL, NULL};
      size_t cut;
      json_t *units = find_clause(k + at, strlen(k + at), &cut, &none);
      p->sub_tasks = units != NULL;
      json_decref(units);
    }
    if (p->sub_tasks) {
      p->nsub = v;
      return new_task(d, p, (int)p->ntasks + 1, s + at) ? 1 : DK_ENOMEM;
    }
    json_t *sub = numbered(s + o, l, s + at);
    if (sub == NULL) return DK_ENOMEM;
    json_decref(p->subsection);
    p->subsection = sub;
    p->nsub = v;
    d->task = NULL;
    return 1;
  }
  if (!p->sub_tasks && (l = task_marker(k)) && (v = atoi(k)) >= 1 && v <= 999 &&
      v == (p->ntasks ? p->tasks[p->ntasks - 1].number : 0) + 1)
    return new_task(d, p, v, s + l) ? 1 : DK_ENOMEM;
  return 0;
}

/* A topical paragraph "公路。…": the byte length of its topic, else 0. */
static size_t topic_head(const char *k) {
  const char *dot = strstr(k, "。");
  if (dot == NULL || dot == k || dot - k > 60 || dot[3] == '\0') return 0;
  for (const char *p = k; p < dot; p += u8len((unsigned char)*p))
    if (starts(p, "，") || starts(p, "、") || starts(p, "：") || starts(p, "；") || *p == ',' || *p == ':' ||
        starts(p, "“"))
      return 0;
  return (size_t)(dot - k);
}

/* 第一章 / 第一节 / 专栏1 / topical lines of a plan in chapter shape. */
static int chapter_line(struct pt_doc *d, const char *s, const char *k) {
  struct pt_plan *p = d->nplans ? &d->plans[d->nplans - 1] : NULL;
  size_t l, nl;
  if (p && (p->shape != SHAPE_CHAPTERS && (p->ntasks || json_array_size(p->sections)))) return 0;
  if ((l = chapter_marker(k, "章")) && cn_number(k + 3, &nl) == (p ? (int)json_array_size(p->sections) : 0) + 1) {
    if ((p = current_plan(d, SHAPE_CHAPTERS)) == NULL) return DK_ENOMEM;
    p->shape = SHAPE_CHAPTERS;
    json_t *sec = numbered(s + 3, nl, s + l);
    if (sec == NULL || json_array_append_new(p->sections, sec)) return DK_ENOMEM;
    p->section = sec;
    json_decref(p->subsection);
    p->subsection = NULL;
    p->nsub = 0;
    d->task = NULL;
    return 1;
  }
  if (p == NULL || p->shape != SHAPE_CHAPTERS || p->section == NULL) return 0;
  int v;
  if ((l = chapter_marker(k, "节")) && (v = cn_number(k + 3, &nl)) == p->nsub + 1) {
    json_t *sub = numbered(s + 3, nl, s + l);
    if (sub == NULL) return DK_ENOMEM;
    json_decref(p->subsection);
    p->subsection = sub;
    p->nsub = v;
    d->task = NULL;
    return 1;
  }
  if (starts(k, "专栏") && isdigit((unsigned char)k[6])) {
    struct pt_task *t = new_task(d, p, (int)p->ntasks + 1, "");
    if (t == NULL || (t->title = strdup(s)) == NULL) return DK_ENOMEM;
    return 1;
  }
  if (topic_head(k) && p->ntasks < 999) return new_task(d, p, (int)p->ntasks + 1, s) ? 1 : DK_ENOMEM;
  return 0;
}

/* The issuers named on line p, side by side. */
static int add_issuers(struct pt_doc *d, char *p) {
  if ((d->issuers = json_array()) == NULL) return DK_ENOMEM;
  while (*p) {
    size_t l;
    while (*p && is_space_at(p, &l)) p += l;
    char *q = p;
    while (*q && !is_space_at(q, &l)) q++;
    if (q > p) {
      json_t *name = json_stringn(p, (size_t)(q - p)), *x;
      size_t i;
      bool dup = false;
      json_array_foreach(d->issuers, i, x) dup |= json_equal(x, name);
      if (dup) json_decref(name);
      else if (json_array_append_new(d->issuers, name)) return DK_ENOMEM;
    }
    p = q;
  }
  return 0;
}

/* A line of issuers: names ending like a government office, side by side. */
static bool is_signature(const char *s) {
  static const char *const offices[] = {"办公厅", "办公室", "人民政府", "委员会", "政府"};
  size_t l, words = 0;
  while (*s) {
    while (*s && is_space_at(s, &l)) s += l;
    const char *q = s;
    while (*q && !is_space_at(q, &l)) q++;
    bool office = false;
    for (size_t i = 0; i < NELEM(offices) && q > s; i++) office |= ends(s, (size_t)(q - s), offices[i]);
    if (q > s && !office) return false;
    words += q > s;
    s = q;
  }
  return words > 0;
}

/* A date line: it closes the open task, taking back a signature glued to
 * it (a notice signs after its last task). The first one is the publication
 * date; the issuers stand side by side on the line above it. */
static int date_line(struct pt_doc *d, const char *date) {
  struct pt_task *t = d->task;
  char *sig = NULL;
  d->task = NULL;
  if (t && t->body.len > t->glued_at) {
    char *k = folded(t->body.p + t->glued_at, t->body.len - t->glued_at);
    if (k && is_signature(k)) {
      sig = strdup(t->body.p + t->glued_at);
      t->body.len = t->glued_at;
      t->body.p[t->body.len] = '\0';
    }
    free(k);
  }
  if (d->published[0]) {
    free(sig);
    return 0;
  }
  memcpy(d->published, date, 11);
  /* Below a plan title the line above is that title, not its issuers. */
  char *from = sig ? sig : d->nplans ? NULL : d->prev_raw;
  int rc = from && !d->issuers ? add_issuers(d, from) : 0;
  free(sig);
  return rc;
}


/* One line: s as published (squeezed), k its folded form. */
static int read_line(struct pt_doc *d, const char *s, const char *k, bool heading) {
  char date[11];
  int rc;
  if ((!d->published[0] || d->task) && match_date(k, date)) return date_line(d, date);
  if (is_plan_title(k, heading, d->task != NULL)) return new_plan(d, s, SHAPE_NUMBERED) ? 0 : DK_ENOMEM;
  if ((rc = numbered_line(d, s, k)) != 0) return rc < 0 ? rc : 0;
  if ((rc = chapter_line(d, s, k)) != 0) return rc < 0 ? rc : 0;
  if (d->task) {
    /* A broken line: glue it back, with a space only between two ASCII words. */
    struct dk_pbuf *b = &d->task->body;
    bool space = b->len && isalnum((unsigned char)b->p[b->len - 1]) && isalnum((unsigned char)s[0]);
    const char *sep = d->task->title && b->len ? "\n" : space ? " " : ""; /* a box lists its items */
    d->task->glued_at = b->len;
    return !dk_pbuf_str(b, sep) || !dk_pbuf_str(b, s) ? DK_ENOMEM : 0;
  }
  struct pt_plan *p = d->nplans ? &d->plans[d->nplans - 1] : NULL;
  if (d->doc_number == NULL && (p == NULL || (!p->ntasks && !json_array_size(p->sections))))
    d->doc_number = find_doc_number(k, s);
  if (d->nplans == 0 && d->notice == NULL && is_notice(k) && (d->notice = strdup(s)) == NULL) return DK_ENOMEM;
  if (!strstr(s, "。") && strlen(s) <= 180) {
    free(d->last_heading);
    if ((d->last_heading = strdup(s)) == NULL) return DK_ENOMEM;
  }
  return 0;
}

/* Read the document into d. Returns 0 or a negative DK_E* code. */
static int read_doc(struct pt_doc *d, char *text) {
  for (char *line = text; line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    size_t n = strlen(line);
    bool heading = line[0] == '#';
    char *raw = strip_line(line, &n);
    line = nl ? nl + 1 : NULL;
    if (n == 0 || is_noise(raw)) continue;
    char *s = squeeze(raw), *k = s && d->trad ? folded(s, strlen(s)) : s;
    int rc = s && k ? read_line(d, s, k, heading) : DK_ENOMEM;
    if (k != s) free(k);
    free(s);
    if (rc) return rc;
    d->prev_raw = raw;
  }
  return 0;
}

/* --- records --------------------------------------------------------------- */

/* Year of a title ("…2023年…"), or 0; *until the end of a span "2025-2027年". */
static int title_year(const char *t, int *until) {
  *until = 0;
  for (const char *p = t; *p; p++) {
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
        !isdigit((unsigned char)p[3]) || (p > t && isdigit((unsigned char)p[-1])))
      continue;
    int y = atoi(p);
    const char *q = p + 4;
    if (*q == '-') q++;
    else if (starts(q, "—") || starts(q, "－") || starts(q, "–")) q += 3;
    int b = q > p + 4 ? atoi(q) : 0;
    if (b > y && b <= 2100 && isdigit((unsigned char)q[3]) && starts(q + 4, "年")) *until = b;
    else if (!starts(p + 4, "年")) continue;
    if (y >= 2000 && y <= 2100) return y;
  }
  return 0;
}

/* The task record of t (its unit clause read on the folded body). */
static json_t *task_record(const char *plan_id, const struct pt_task *t, bool trad, const struct unit_rules *r) {
  char id[128];
  snprintf(id, sizeof id, "%s/%02d", plan_id, t->number);
  const char *b = t->body.p ? t->body.p : "";
  size_t n = t->body.len, cut = n;
  char *kb = trad ? folded(b, n) : NULL;
  if (trad && kb == NULL) return NULL;
  const char *k = trad ? kb : b;
  json_t *units = find_clause(k, n, &cut, r);
  while (cut && b[cut - 1] == ' ') cut--;
  size_t tl = 0;
  const char *rest = b;
  if (t->title == NULL) {
    const char *dot = NULL;
    for (const char *p = k; p < k + cut && !dot; p += u8len((unsigned char)*p))
      if (starts(p, "。")) dot = p;
    tl = dot ? (size_t)(dot - k) : cut;
    rest = dot ? b + (dot - k) + 3 : b + cut;
  }
  free(kb);
  while (rest < b + cut && (*rest == ' ' || *rest == '\n')) rest++;
  json_t *title = t->title ? jstrn_max(t->title, strlen(t->title), PT_MAX_TITLE)
                  : tl ? jstrn_max(b, tl, PT_MAX_TITLE) : json_string("(untitled)");
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

/* Who issued the document, as the first part of its plans' ids: "jnly" for
 * the two cities together (and for a document that does not say), "sd" for
 * the province, "jinan" or "linyi" for one city. */
static const char *issuer_code(const struct pt_doc *d) {
  bool jn = false, ly = false, sd = false;
  size_t i;
  json_t *x;
  json_array_foreach(d->issuers, i, x) {
    char *k = folded(json_string_value(x), json_string_length(x));
    if (k == NULL) continue;
    jn |= starts(k, "济南");
    ly |= starts(k, "临沂");
    sd |= starts(k, "山东");
    free(k);
  }
  if (jn && ly) return "jnly";
  const char *dn = json_string_value(d->doc_number);
  char *k = dn ? folded(dn, strlen(dn)) : NULL;
  if (k) {
    sd |= starts(k, "鲁");
    jn |= starts(k, "济");
    ly |= starts(k, "临");
    free(k);
  }
  return sd ? "sd" : jn && !ly ? "jinan" : ly && !jn ? "linyi" : "jnly";
}

/* What a plan is, from its folded title's ending. */
static const char *plan_kind(const char *key) {
  static const struct { const char *suffix, *kind; } kinds[] = {
      {"工作要点", "points"}, {"分工方案", "division"}, {"行动方案", "action"}, {"方案", "plan"},
      {"计划", "program"},    {"规划", "planning"},     {"意见", "opinions"},   {"通知", "notice"},
  };
  size_t n = without_span(key, strlen(key));
  for (size_t i = 0; i < NELEM(kinds); i++)
    if (ends(key, n, kinds[i].suffix)) return kinds[i].kind;
  return "plan";
}

/* "<issuer>[-jnly]-<year or span>-<kind>" of plan i: sd-jnly-2025-2027-action. */
static void derived_id(const struct pt_doc *d, size_t i, int year, char out[96]) {
  const struct pt_plan *p = &d->plans[i];
  const char *issuer = issuer_code(d);
  int until, y = title_year(p->key, &until);
  char span[16];
  if (y == 0) y = year;
  if (until) snprintf(span, sizeof span, "%d-%d", y, until);
  else snprintf(span, sizeof span, "%d", y);
  bool pair = strcmp(issuer, "jnly") != 0 && (strstr(p->key, "济南—临沂") || strstr(p->key, "济临") ||
                                              (strstr(p->key, "济南") && strstr(p->key, "临沂")));
  snprintf(out, 96, "%s%s-%s-%s", issuer, pair ? "-jnly" : "", span, plan_kind(p->key));
}

/* Id of plan i: options.plans[i], options.plan for the first, else
 * "<first>-<i+1>". The first is "jnly-<year>" for the two cities' work
 * points and division plans (the ids they have always had), else derived
 * from issuer and title. */
static void plan_id(const struct pt_state *st, const struct pt_doc *d, size_t i, int year, char out[96]) {
  const char *given = st->plans ? json_string_value(json_array_get(st->plans, i)) : NULL;
  if (given) { snprintf(out, 96, "%s", given); return; }
  const char *first = st->plans ? json_string_value(json_array_get(st->plans, 0)) : st->plan;
  const char *kind = plan_kind(d->plans[0].key);
  char base[96];
  if (first) snprintf(base, sizeof base, "%s", first);
  else if (strcmp(issuer_code(d), "jnly") == 0 && (!strcmp(kind, "points") || !strcmp(kind, "division")))
    snprintf(base, sizeof base, "jnly-%d", year);
  else {
    char first_id[96];
    derived_id(d, i, year, out);
    derived_id(d, 0, year, first_id);
    if (i > 0 && strcmp(out, first_id) == 0) snprintf(out + strlen(out), 96 - strlen(out), "-%u", (unsigned)(i + 1) % 1000u);
    return;
  }
  if (i == 0) snprintf(out, 96, "%.63s", base);
  else snprintf(out, 96, "%.63s-%u", base, (unsigned)(i + 1) % 1000u);
}

/* Add the units of task record t to units ({id: unit record}). */
static int collect_units(json_t *units, const json_t *t, const json_t *aliases) {
  size_t i;
  json_t *u;
  json_array_foreach(json_object_get(t, "units"), i, u) {
    const char *name = json_string_value(json_object_get(u, "name"));
    const char *city = json_string_value(json_object_get(u, "city"));
    char id[512];
    snprintf(id, sizeof id, "%s/%s", city, name);
    if (json_object_get(units, id)) continue;
    json_t *names = json_array();
    const char *alias;
    json_t *c;
    json_object_foreach((json_t *)aliases, alias, c)
      if (strcmp(json_string_value(c), name) == 0 && strcmp(alias, name) != 0)
        json_array_append_new(names, json_string(alias));
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "kind", "unit", "id", id, "name", name, "city", city);
    if (rec && json_array_size(names)) json_object_set(rec, "aliases", names);
    json_decref(names);
    if (rec == NULL || json_object_set_new(units, id, rec)) return DK_ENOMEM;
  }
  return 0;
}

/* The plan record of plan p. */
static json_t *plan_record(const struct pt_doc *d, const struct pt_plan *p, const char *id, int year,
                           const struct dk_response *resp) {
  int until;
  title_year(p->key, &until);
  json_t *rec = json_pack("{s:s, s:s, s:o, s:i, s:O}", "kind", "plan", "id", id, "title",
                          jstrn_max(p->title, strlen(p->title), PT_MAX_TITLE), "year", year, "sections",
                          p->sections);
  if (rec && until >= year) json_object_set_new(rec, "until", json_integer(until));
  if (rec && d->published[0]) json_object_set_new(rec, "published", json_string(d->published));
  if (rec && d->issuers && json_array_size(d->issuers)) json_object_set(rec, "issuers", d->issuers);
  if (rec && d->doc_number) json_object_set(rec, "doc_number", d->doc_number);
  if (rec && resp->url && (starts(resp->url, "http://") || starts(resp->url, "https://")))
    json_object_set_new(rec, "url", json_string(resp->url));
  return rec;
}

/* Emit every plan, its tasks, and (options.units) the units they name. */
static enum dk_result emit_doc(const struct pt_state *st, const struct pt_doc *d, const struct dk_response *resp,
                               struct dk_emit *emit) {
  json_t *units = json_object();
  const char *issuer = issuer_code(d);
  struct unit_rules rules = {st->aliases, !strcmp(issuer, "jinan") ? "济南" : !strcmp(issuer, "linyi") ? "临沂" : NULL};
  int first_year = 0;
  enum dk_result res = DK_ERROR;
  for (size_t i = 0; i < d->nplans && units; i++) {
    const struct pt_plan *p = &d->plans[i];
    int until, year = title_year(p->key, &until);
    if (year == 0 && d->published[0]) year = atoi(d->published);
    if (year == 0) year = first_year;
    if (year == 0) {
      emit->fail(emit, "plan \"%s\": no year in its title and no publication date", p->title);
      goto done;
    }
    if (i == 0) first_year = year;
    char id[96];
    plan_id(st, d, i, first_year, id);
    json_t *rec = plan_record(d, p, id, year, resp);
    if (rec == NULL || emit->record(emit, rec) != 0) goto done;
    for (size_t k = 0; k < p->ntasks; k++) {
      json_t *t = task_record(id, &p->tasks[k], d->trad, &rules);
      if (t == NULL || collect_units(units, t, st->aliases)) {
        json_decref(t);
        emit->fail(emit, "out of memory");
        goto done;
      }
      if (!json_object_get(t, "units") && p->shape == SHAPE_NUMBERED)
        emit->log(emit, DK_LOG_WARN, "%s: no responsible-unit clause", json_string_value(json_object_get(t, "id")));
      if (emit->record(emit, t) != 0) goto done;
    }
  }
  const char *key;
  json_t *u;
  json_object_foreach(units, key, u)
    if (st->units && emit->record(emit, json_incref(u)) != 0) goto done;
  res = units ? DK_OK : DK_ERROR;
done:
  json_decref(units);
  return res;
}

/* Built-in aliases, then options.aliases ({canonical: [alias, …]}). */
static json_t *load_aliases(const json_t *opt) {
  json_t *a = json_object();
  for (size_t i = 0; i < NELEM(unit_aliases) && a; i++)
    if (json_object_set_new(a, unit_aliases[i].alias, json_string(unit_aliases[i].canonical))) goto fail;
  const char *canon;
  json_t *list;
  json_object_foreach((json_t *)opt, canon, list) {
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
      if (json_is_string(x) && json_object_set_new(a, json_string_value(x), json_string(canon))) goto fail;
  }
  return a;
fail:
  json_decref(a);
  return NULL;
}

/* The source's options: plan ids, unit records, aliases. */
static int pt_init(void **state, const struct dk_source *src, char *err, size_t errlen) {
  struct pt_state *st = calloc(1, sizeof *st);
  if (st == NULL) goto oom;
  const char *plan = src->options ? json_string_value(json_object_get(src->options, "plan")) : NULL;
  json_t *plans = src->options ? json_object_get(src->options, "plans") : NULL;
  st->units = src->options && json_is_true(json_object_get(src->options, "units"));
  if (json_is_array(plans)) st->plans = json_incref(plans);
  if ((plan && (st->plan = strdup(plan)) == NULL) ||
      (st->aliases = load_aliases(src->options ? json_object_get(src->options, "aliases") : NULL)) == NULL) {
    free(st->plan);
    json_decref(st->plans);
    free(st);
    goto oom;
  }
  *state = st;
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
  return DK_ENOMEM;
}

/* The document's text: a PDF's text layer, an HTML page's text, or the body. */
static bool body_text(const struct dk_response *resp, struct dk_pbuf *text, char *why, size_t whylen) {
  if (is_pdf(resp)) return pdf_text(resp, text, why, whylen);
  bool ok = is_html(resp) ? html_text(resp->body, resp->body_len, text) : dk_pbuf_add(text, resp->body, resp->body_len);
  if (ok && text->p == NULL) ok = dk_pbuf_add(text, "", 0);
  if (!ok) snprintf(why, whylen, "out of memory");
  return ok;
}

/* One document: its plans, tasks and units, or a refusal saying why. */
static enum dk_result pt_parse(void *state, const struct dk_response *resp, struct dk_emit *emit) {
  const struct pt_state *st = state;
  struct dk_pbuf raw = {0}, text = {0};
  struct pt_doc d = {0};
  char why[256];
  enum dk_result res = DK_ERROR;
  if (!body_text(resp, &raw, why, sizeof why)) {
    emit->fail(emit, "%s", why);
    goto done;
  }
  const char *start = starts(raw.p, "\xEF\xBB\xBF") ? raw.p + 3 : raw.p;
  d.trad = is_traditional(start);
  if (!unrun(start, d.trad, &text) || (text.p == NULL && !dk_pbuf_add(&text, "", 0)) || read_doc(&d, text.p)) {
    emit->fail(emit, "out of memory");
    goto done;
  }
  size_t ntasks = 0;
  for (size_t i = 0; i < d.nplans; i++) ntasks += d.plans[i].ntasks;
  if (d.nplans == 0 || ntasks == 0) {
    emit->fail(emit, "not a plan document: looked for a title ending in 工作要点, 方案, 计划, 规划 or 意见 (or a "
               "关于…通知), with sections 一、 and numbered tasks 1. or chapters 第一章 with items, and found %s%s%s",
               d.nplans ? "the title \"" : "no such structure", d.nplans ? d.plans[0].title : "",
               d.nplans ? "\" but no task under it" : "");
    goto done;
  }
  res = emit_doc(st, &d, resp, emit);
done:
  doc_free(&d);
  free(raw.p);
  free(text.p);
  return res;
}

/* Free what pt_init made. */
static void pt_fini(void *state) {
  struct pt_state *st = state;
  free(st->plan);
  json_decref(st->plans);
  json_decref(st->aliases);
  free(st);
}

__attribute__((visibility("default")))
const struct dk_plugin duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(struct dk_plugin),
  .name = "plan-text",
  .version = "0.2.0",
  .description = "Plan documents (text, HTML, PDF): plan, task and unit records",
  .options_schema = options_schema,
  .init = pt_init,
  .prepare = NULL,
  .parse = pt_parse,
  .fini = pt_fini,
};

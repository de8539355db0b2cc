/* The escapes, character classes and group names of the ECMA-262 regex
 * translator (regex.c has the rest of the grammar, compiling and matching):
 * \d \w \s and their negations as explicit classes, \p{...} mapped to
 * PCRE2's property names, \u escapes, [...] with surrogates cut out of
 * ranges, and group names checked as ECMA-262 IdentifierNames. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../util.h"

/* --- code point tables ------------------------------------------------- */

struct range {
  uint32_t lo, hi;
};

static const struct range R_DIGIT[] = {{'0', '9'}};
static const struct range R_WORD[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const struct range R_SPACE[] = {
    {0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
#define NRANGES(a) (sizeof(a) / sizeof((a)[0]))

/* ECMA-262 General_Category values (long names, short names, aliases). */
static const struct {
  const char *ecma, *pcre;
} GC_NAMES[] = {
    {"Cased_Letter", "LC"}, {"LC", "LC"}, {"Close_Punctuation", "Pe"}, {"Pe", "Pe"},
    {"Connector_Punctuation", "Pc"}, {"Pc", "Pc"}, {"Control", "Cc"}, {"Cc", "Cc"},
    {"cntrl", "Cc"}, {"Currency_Symbol", "Sc"}, {"Sc", "Sc"}, {"Dash_Punctuation", "Pd"},
    {"Pd", "Pd"}, {"Decimal_Number", "Nd"}, {"Nd", "Nd"}, {"digit", "Nd"},
    {"Enclosing_Mark", "Me"}, {"Me", "Me"}, {"Final_Punctuation", "Pf"}, {"Pf", "Pf"},
    {"Format", "Cf"}, {"Cf", "Cf"}, {"Initial_Punctuation", "Pi"}, {"Pi", "Pi"},
    {"Letter", "L"}, {"L", "L"}, {"Letter_Number", "Nl"}, {"Nl", "Nl"},
    {"Line_Separator", "Zl"}, {"Zl", "Zl"}, {"Lowercase_Letter", "Ll"}, {"Ll", "Ll"},
    {"Mark", "M"}, {"M", "M"}, {"Combining_Mark", "M"}, {"Math_Symbol", "Sm"}, {"Sm", "Sm"},
    {"Modifier_Letter", "Lm"}, {"Lm", "Lm"}, {"Modifier_Symbol", "Sk"}, {"Sk", "Sk"},
    {"Nonspacing_Mark", "Mn"}, {"Mn", "Mn"}, {"Number", "N"}, {"N", "N"},
    {"Open_Punctuation", "Ps"}, {"Ps", "Ps"}, {"Other", "C"}, {"C", "C"},
    {"Other_Letter", "Lo"}, {"Lo", "Lo"}, {"Other_Number", "No"}, {"No", "No"},
    {"Other_Punctuation", "Po"}, {"Po", "Po"}, {"Other_Symbol", "So"}, {"So", "So"},
    {"Paragraph_Separator", "Zp"}, {"Zp", "Zp"}, {"Private_Use", "Co"}, {"Co", "Co"},
    {"Punctuation", "P"}, {"P", "P"}, {"punct", "P"}, {"Separator", "Z"}, {"Z", "Z"},
    {"Space_Separator", "Zs"}, {"Zs", "Zs"}, {"Spacing_Mark", "Mc"}, {"Mc", "Mc"},
    {"Surrogate", "Cs"}, {"Cs", "Cs"}, {"Symbol", "S"}, {"S", "S"},
    {"Titlecase_Letter", "Lt"}, {"Lt", "Lt"}, {"Unassigned", "Cn"}, {"Cn", "Cn"},
    {"Uppercase_Letter", "Lu"}, {"Lu", "Lu"},
};

/* ECMA-262 binary properties; PCRE2 knows them under the same names except
 * where a mapping is given ("" = not supported by PCRE2). */
static const struct {
  const char *ecma, *pcre;
} BIN_PROPS[] = {
    {"ASCII", NULL}, {"ASCII_Hex_Digit", NULL}, {"AHex", NULL}, {"Alphabetic", NULL},
    {"Alpha", NULL}, {"Any", NULL}, {"Assigned", "^Cn"}, {"Bidi_Control", NULL},
    {"Bidi_C", NULL}, {"Bidi_Mirrored", NULL}, {"Bidi_M", NULL}, {"Case_Ignorable", NULL},
    {"CI", NULL}, {"Cased", NULL}, {"Changes_When_Casefolded", NULL}, {"CWCF", NULL},
    {"Changes_When_Casemapped", NULL}, {"CWCM", NULL}, {"Changes_When_Lowercased", NULL},
    {"CWL", NULL}, {"Changes_When_NFKC_Casefolded", ""}, {"CWKCF", ""},
    {"Changes_When_Titlecased", NULL}, {"CWT", NULL}, {"Changes_When_Uppercased", NULL},
    {"CWU", NULL}, {"Dash", NULL}, {"Default_Ignorable_Code_Point", NULL}, {"DI", NULL},
    {"Deprecated", NULL}, {"Dep", NULL}, {"Diacritic", NULL}, {"Dia", NULL}, {"Emoji", NULL},
    {"Emoji_Component", NULL}, {"EComp", NULL}, {"Emoji_Modifier", NULL}, {"EMod", NULL},
    {"Emoji_Modifier_Base", NULL}, {"EBase", NULL}, {"Emoji_Presentation", NULL},
    {"EPres", NULL}, {"Extended_Pictographic", NULL}, {"ExtPict", NULL}, {"Extender", NULL},
    {"Ext", NULL}, {"Grapheme_Base", NULL}, {"Gr_Base", NULL}, {"Grapheme_Extend", NULL},
    {"Gr_Ext", NULL}, {"Hex_Digit", NULL}, {"Hex", NULL}, {"IDS_Binary_Operator", NULL},
    {"IDSB", NULL}, {"IDS_Trinary_Operator", NULL}, {"IDST", NULL}, {"ID_Continue", NULL},
    {"IDC", NULL}, {"ID_Start", NULL}, {"IDS", NULL}, {"Ideographic", NULL}, {"Ideo", NULL},
    {"Join_Control", NULL}, {"Join_C", NULL}, {"Logical_Order_Exception", NULL},
    {"LOE", NULL}, {"Lowercase", NULL}, {"Lower", NULL}, {"Math", NULL},
    {"Noncharacter_Code_Point", NULL}, {"NChar", NULL}, {"Pattern_Syntax", NULL},
    {"Pat_Syn", NULL}, {"Pattern_White_Space", NULL}, {"Pat_WS", NULL},
    {"Quotation_Mark", NULL}, {"QMark", NULL}, {"Radical", NULL},
    {"Regional_Indicator", NULL}, {"RI", NULL}, {"Sentence_Terminal", NULL}, {"STerm", NULL},
    {"Soft_Dotted", NULL}, {"SD", NULL}, {"Terminal_Punctuation", NULL}, {"Term", NULL},
    {"Unified_Ideograph", NULL}, {"UIdeo", NULL}, {"Uppercase", NULL}, {"Upper", NULL},
    {"Variation_Selector", NULL}, {"VS", NULL}, {"White_Space", NULL}, {"space", NULL},
    {"XID_Continue", NULL}, {"XIDC", NULL}, {"XID_Start", NULL}, {"XIDS", NULL},
};


static void put_utf8(struct dk_buf *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) { u[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
  else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
  }
  dk_buf_append(b, u, n);
}

/* A literal code point (never a surrogate) in PCRE2 syntax. */
void dk__re_emit_cp(struct dk_buf *b, uint32_t cp) {
  if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z'))
    dk_buf_append(b, (char[]){(char)cp}, 1);
  else if (cp < 0x80)
    dk_buf_printf(b, "\\x%02x", (unsigned)cp);
  else
    put_utf8(b, cp);
}

/* A class range; surrogates cannot occur in UTF-8 subjects and PCRE2 does
 * not take them as range ends, so they are cut out. */
static int emit_range(struct dk_buf *b, uint32_t lo, uint32_t hi) {
  if (lo <= 0xDFFF && hi >= 0xD800) {
    int n = 0;
    if (lo < 0xD800) n += emit_range(b, lo, 0xD7FF);
    if (hi > 0xDFFF) n += emit_range(b, 0xE000, hi);
    return n;
  }
  dk__re_emit_cp(b, lo);
  if (hi != lo) {
    dk_buf_puts(b, "-");
    dk__re_emit_cp(b, hi);
  }
  return 1;
}

static void emit_ranges(struct dk_buf *b, const struct range *r, size_t n, int negate) {
  if (!negate) {
    for (size_t i = 0; i < n; i++) emit_range(b, r[i].lo, r[i].hi);
    return;
  }
  uint32_t next = 0;
  for (size_t i = 0; i < n; i++) {
    if (r[i].lo > next) emit_range(b, next, r[i].lo - 1);
    next = r[i].hi + 1;
  }
  if (next <= 0x10FFFF) emit_range(b, next, 0x10FFFF);
}

static int is_syntax_char(int c) { return c && strchr("^$\\.*+?()[]{}|", c) != NULL; }

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int hex_n(const char *p, const char *end, int n, uint32_t *out) {
  uint32_t v = 0;
  if (end - p < n) return 0;
  for (int i = 0; i < n; i++) {
    int h = hexval((unsigned char)p[i]);
    if (h < 0) return 0;
    v = v * 16 + (uint32_t)h;
  }
  *out = v;
  return 1;
}

/* \u escape after the "\u" (u flag rules): \uXXXX, a surrogate pair
 * \uXXXX\uXXXX, or \u{X...}. Advances *pp; 0 when malformed. */
static int parse_u_escape(const char **pp, const char *end, uint32_t *cp) {
  const char *p = *pp;
  if (p < end && *p == '{') {
    uint32_t v = 0;
    const char *q = p + 1;
    while (q < end && hexval((unsigned char)*q) >= 0) {
      v = v * 16 + (uint32_t)hexval((unsigned char)*q);
      if (v > 0x10FFFF) return 0;
      q++;
    }
    if (q == p + 1 || q >= end || *q != '}') return 0;
    *cp = v;
    *pp = q + 1;
    return 1;
  }
  uint32_t v;
  if (!hex_n(p, end, 4, &v)) return 0;
  p += 4;
  uint32_t lo;
  if (v >= 0xD800 && v <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
      hex_n(p + 2, end, 4, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
    p += 6;
  }
  *cp = v;
  *pp = p;
  return 1;
}

static pthread_once_t ident_once = PTHREAD_ONCE_INIT;
static pcre2_code *ident_re;

static void ident_init(void) {
  int ec;
  PCRE2_SIZE eo;
  ident_re = pcre2_compile((PCRE2_SPTR) "\\A[\\p{ID_Start}$_][\\p{ID_Continue}$\\x{200c}\\x{200d}]*\\z",
                           PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
}

/* Is this UTF-8 text an ECMA-262 IdentifierName? */
static int is_identifier(const char *s, size_t len) {
  pthread_once(&ident_once, ident_init);
  if (ident_re == NULL) return 0;
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  int rc = pcre2_match(ident_re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
  pcre2_match_data_free(md);
  return rc > 0;
}

/* A group name after "(?<" or "\k<", up to and including ">". Returns the
 * name (UTF-8, caller frees) or NULL; *why says what is wrong. */
char *dk__re_group_name(const char **pp, const char *end, const char **why) {
  const char *p = *pp;
  struct dk_buf b = {0};
  while (p < end && *p != '>') {
    uint32_t cp;
    if (*p == '\\') {
      if (end - p < 2 || p[1] != 'u') { *why = "invalid escape in group name"; goto bad; }
      p += 2;
      if (!parse_u_escape(&p, end, &cp) || dk__re_is_surrogate(cp)) { *why = "invalid \\u escape in group name"; goto bad; }
    } else {
      cp = dk__re_next_cp(&p, end);
    }
    put_utf8(&b, cp);
  }
  if (p >= end) { *why = "unterminated group name"; goto bad; }
  if (b.len == 0) { *why = "empty group name"; goto bad; }
  if (!is_identifier(b.data, b.len)) { *why = "group name is not an identifier"; goto bad; }
  *pp = p + 1;
  return dk_buf_steal(&b);
bad:
  dk_buf_free(&b);
  return NULL;
}

/* \p{...} / \P{...} after the "p" or "P": writes the PCRE2 form. */
static int parse_property(struct dk__re_tr *t, struct dk_buf *b, int negated) {
  const char *start = t->p - 2;
  if (t->p >= t->end || *t->p != '{') return dk__re_fail(t, start, "\\p must be followed by {name}");
  const char *q = t->p + 1, *eq = NULL;
  while (q < t->end && *q != '}') {
    if (*q == '=' && eq == NULL) eq = q;
    else if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
      return dk__re_fail(t, start, "invalid character in a property name");
    q++;
  }
  if (q >= t->end) return dk__re_fail(t, start, "unterminated property escape");
  const char *name = t->p + 1;
  size_t nlen = (size_t)((eq ? eq : q) - name);
  const char *value = eq ? eq + 1 : NULL;
  size_t vlen = eq ? (size_t)(q - value) : 0;
  t->p = q + 1;
#define IS(s, str, l) (strlen(str) == (l) && memcmp((s), (str), (l)) == 0)
  const char *pcre = NULL;
  char buf[96];
  if (value != NULL) {
    if (nlen == 0 || vlen == 0 || vlen > 60) return dk__re_fail(t, start, "invalid property escape");
    if (IS(name, "General_Category", nlen) || IS(name, "gc", nlen)) {
      for (size_t i = 0; i < NRANGES(GC_NAMES) && !pcre; i++)
        if (IS(value, GC_NAMES[i].ecma, vlen)) pcre = GC_NAMES[i].pcre;
      if (!pcre) return dk__re_fail(t, start, "unknown General_Category value");
    } else if (IS(name, "Script", nlen) || IS(name, "sc", nlen) ||
               IS(name, "Script_Extensions", nlen) || IS(name, "scx", nlen)) {
      int scx = nlen == 3 || nlen == 17;
      /* Katakana_Or_Hiragana has no code points; \p{Cs} matches nothing in UTF-8. */
      if (IS(value, "Hrkt", vlen) || IS(value, "Katakana_Or_Hiragana", vlen))
        pcre = "Cs";
      else {
        snprintf(buf, sizeof buf, "%s:%.*s", scx ? "scx" : "sc", (int)vlen, value);
        pcre = buf;
      }
    } else {
      return dk__re_fail(t, start, "unknown property name");
    }
  } else {
    for (size_t i = 0; i < NRANGES(GC_NAMES) && !pcre; i++)
      if (IS(name, GC_NAMES[i].ecma, nlen)) pcre = GC_NAMES[i].pcre;
    for (size_t i = 0; i < NRANGES(BIN_PROPS) && !pcre; i++)
      if (IS(name, BIN_PROPS[i].ecma, nlen)) {
        pcre = BIN_PROPS[i].pcre ? BIN_PROPS[i].pcre : BIN_PROPS[i].ecma;
        if (!*pcre) return dk__re_fail(t, start, "property %s is not supported", BIN_PROPS[i].ecma);
      }
    if (!pcre) return dk__re_fail(t, start, "unknown property");
  }
#undef IS
  if (pcre[0] == '^') {
    negated = !negated;
    pcre++;
  }
  dk_buf_printf(b, "\\%c{%s}", negated ? 'P' : 'p', pcre);
  return 0;
}

/* An escape after the backslash (t->p points past it), in an atom or in a
 * class (ClassEscape adds \b = backspace and \-; no backreferences). */
int dk__re_escape(struct dk__re_tr *t, int in_class, struct dk__re_esc *e) {
  const char *start = t->p - 1;
  if (t->p >= t->end) return dk__re_fail(t, start, "\\ at end of pattern");
  char c = *t->p++;
  e->kind = DK__RE_CP;
  switch (c) {
  case 'd': case 'D':
    e->kind = DK__RE_SET;
    emit_ranges(&e->set, R_DIGIT, NRANGES(R_DIGIT), c == 'D');
    return 0;
  case 'w': case 'W':
    e->kind = DK__RE_SET;
    emit_ranges(&e->set, R_WORD, NRANGES(R_WORD), c == 'W');
    return 0;
  case 's': case 'S':
    e->kind = DK__RE_SET;
    emit_ranges(&e->set, R_SPACE, NRANGES(R_SPACE), c == 'S');
    return 0;
  case 'p': case 'P':
    e->kind = DK__RE_SET;
    return parse_property(t, &e->set, c == 'P');
  case 'f': e->cp = '\f'; return 0;
  case 'n': e->cp = '\n'; return 0;
  case 'r': e->cp = '\r'; return 0;
  case 't': e->cp = '\t'; return 0;
  case 'v': e->cp = '\v'; return 0;
  case 'c':
    if (t->p < t->end && ((*t->p >= 'a' && *t->p <= 'z') || (*t->p >= 'A' && *t->p <= 'Z'))) {
      e->cp = (uint32_t)(*t->p++ % 32);
      return 0;
    }
    return dk__re_fail(t, start, "\\c must be followed by a letter");
  case 'x':
    if (!hex_n(t->p, t->end, 2, &e->cp)) return dk__re_fail(t, start, "\\x must be followed by two hex digits");
    t->p += 2;
    return 0;
  case 'u':
    if (!parse_u_escape(&t->p, t->end, &e->cp)) return dk__re_fail(t, start, "invalid \\u escape");
    return 0;
  case '0':
    if (t->p < t->end && *t->p >= '0' && *t->p <= '9') return dk__re_fail(t, start, "octal escapes are not allowed");
    e->cp = 0;
    return 0;
  case 'b':
    if (in_class) { e->cp = 8; return 0; }
    break;
  case '-':
    if (in_class) { e->cp = '-'; return 0; }
    break;
  case 'k':
    if (in_class) break;
    if (t->p >= t->end || *t->p != '<') return dk__re_fail(t, start, "\\k must be followed by <name>");
    t->p++;
    const char *why;
    char *name = dk__re_group_name(&t->p, t->end, &why);
    if (!name) return dk__re_fail(t, start, "%s", why);
    for (size_t i = 0; i < t->nnames; i++)
      if (strcmp(t->names[i].name, name) == 0) {
        e->kind = DK__RE_REF;
        e->ref = t->names[i].group;
      }
    free(name);
    if (e->kind != DK__RE_REF) return dk__re_fail(t, start, "no group by that name");
    return 0;
  default:
    if (c >= '1' && c <= '9' && !in_class) {
      unsigned long n = (unsigned long)(c - '0');
      while (t->p < t->end && *t->p >= '0' && *t->p <= '9' && n <= 100000) n = n * 10 + (unsigned long)(*t->p++ - '0');
      if (n > t->ngroups) return dk__re_fail(t, start, "backreference to a group that does not exist");
      e->kind = DK__RE_REF;
      e->ref = (unsigned)n;
      return 0;
    }
    if (is_syntax_char(c) || c == '/') {
      e->cp = (uint32_t)(unsigned char)c;
      return 0;
    }
    break;
  }
  return dk__re_fail(t, start, "invalid escape \\%s", (unsigned char)c < 0x80 && c > 0x20 ? (char[]){c, 0} : "?");
}

/* [...] after the "[". */
int dk__re_class(struct dk__re_tr *t) {
  const char *start = t->p - 1;
  int negated = 0, items = 0;
  if (t->p < t->end && *t->p == '^') {
    negated = 1;
    t->p++;
  }
  struct dk_buf cls = {0};
  int rc = 0;
  for (;;) {
    if (t->p >= t->end) { rc = dk__re_fail(t, start, "unterminated character class"); break; }
    if (*t->p == ']') { t->p++; break; }
    /* one ClassAtom, perhaps the start of a range */
    struct dk__re_esc a = {0}, z = {0};
    const char *at = t->p;
    if (*t->p == '\\') {
      t->p++;
      if (dk__re_escape(t, 1, &a) < 0) { dk_buf_free(&a.set); rc = -1; break; }
    } else {
      a.kind = DK__RE_CP;
      a.cp = dk__re_next_cp(&t->p, t->end);
    }
    if (t->p + 1 < t->end && t->p[0] == '-' && t->p[1] != ']') {
      t->p++;
      if (*t->p == '\\') {
        t->p++;
        if (dk__re_escape(t, 1, &z) < 0) { dk_buf_free(&a.set); dk_buf_free(&z.set); rc = -1; break; }
      } else {
        z.kind = DK__RE_CP;
        z.cp = dk__re_next_cp(&t->p, t->end);
      }
      if (a.kind != DK__RE_CP || z.kind != DK__RE_CP) {
        dk_buf_free(&a.set);
        dk_buf_free(&z.set);
        rc = dk__re_fail(t, at, "a class escape cannot be a range end");
        break;
      }
      if (a.cp > z.cp) { rc = dk__re_fail(t, at, "range out of order in character class"); break; }
      items += emit_range(&cls, a.cp, z.cp);
    } else if (a.kind == DK__RE_CP) {
      if (!dk__re_is_surrogate(a.cp)) items += emit_range(&cls, a.cp, a.cp);
    } else {
      dk_buf_append(&cls, a.set.data, a.set.len);
      dk_buf_free(&a.set);
      items++;
    }
  }
  if (rc == 0) {
    if (items == 0)  /* [] matches nothing, [^] anything */
      dk_buf_puts(&t->out, negated ? "[\\x00-\xf4\x8f\xbf\xbf]" : "(?!)");
    else
      dk_buf_printf(&t->out, "[%s%s]", negated ? "^" : "", dk_buf_cstr(&cls));
  }
  dk_buf_free(&cls);
  return rc;
}

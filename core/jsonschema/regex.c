/* ECMA-262 regular expressions on PCRE2, by hand: no library rewrites ECMA-262 syntax into PCRE2's, which reads \d ^ $ . otherwise.
 *
 * Patterns are read with the ECMA-262 grammar of the "u" flag (what JSON
 * Schema asks for) and rewritten into PCRE2 syntax before compiling, so that
 * the two engines agree: \d \w \s and their negations become explicit
 * classes, ^ $ . follow ECMA's line terminators, property names are mapped,
 * named groups become numbered ones. Whatever ECMA refuses (\a, \Z, (?i),
 * possessive quantifiers, ...) is refused here even when PCRE2 would accept
 * it. Literals are written as raw UTF-8 or \xHH, so ALT_BSUX never changes
 * their meaning.
 *
 * PCRE2 before 10.43 has no variable-length lookbehind; when it refuses
 * one, the pattern is translated again with every lookbehind turned into a
 * callout that runs the body as a separate regex, which must end exactly at
 * the current position.
 *
 * Where this still differs from ECMA-262: groups captured inside such a
 * callout lookbehind are unset outside it (a backreference to one matches
 * empty), and backreferences from inside it to groups outside are refused;
 * a quantified group keeps its last capture instead of being reset on each
 * iteration; with (?i:...) \w and \b stay ASCII (ECMA adds U+017F and
 * U+212A) and \p{...} is not closed under case; script names are matched loosely by PCRE2 (\p{sc=greek} is
 * accepted); duplicate group names (ES2025), Changes_When_NFKC_Casefolded
 * and quantifier bounds above 65535 are refused. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "../util.h"

#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000
#define HEAP_LIMIT_KIB 65536
#define JIT_STACK_MAX (1024 * 1024)
#define MAX_NESTING 200
#define MAX_LOOKBEHINDS 253  /* callouts 254 and 255 start and end a lookbehind body */
#define LB_START_CALLOUT 254
#define LB_END_CALLOUT 255
#define LB_MAX_SUBMATCHES 10000
#define LB_MAX_SPAN 2000000  /* bytes scanned by lookbehind sub-matches, in all */

#define COMPILE_OPTIONS \
  (PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C)

struct dk__lookbehind {
  pcre2_code *code;
  int negative;
};

struct dk_regex {
  pcre2_code *code;
  pcre2_match_context *mctx;  /* limits; read-only while matching */
  struct dk__lookbehind *lb;  /* callout n runs lb[n - 1] */
  unsigned nlb;
};

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

/* --- the translator ---------------------------------------------------- */

enum { F_I = 1, F_M = 2, F_S = 4 };

struct gname {
  char *name;
  unsigned group;
};

struct tr {
  const char *pat, *p, *end;
  struct dk_buf out;
  char *err;
  int failed;
  unsigned ngroups;     /* capturing groups in the whole pattern (pre-pass) */
  unsigned group_no;    /* capturing groups opened so far */
  struct gname *names;
  size_t nnames;
  unsigned flags;
  int depth;
  int lb_callout;       /* lookbehinds as callouts (second attempt) */
  unsigned ref_min, ref_max; /* backreferences seen in the current lookbehind body */
  struct dk__lookbehind *lb;
  unsigned nlb;
};

static int fail(struct tr *t, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct tr *t, const char *at, const char *fmt, ...) {
  if (t->failed) return -1;
  t->failed = 1;
  char msg[DK_ERRBUF_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dk_failf(t->err, DK_ESCHEMA, "invalid regular expression at offset %zu: %s",
           (size_t)(at - t->pat), msg);
  return -1;
}

/* Decode one UTF-8 character (the pattern was validated beforehand). */
static uint32_t next_cp(const char **pp, const char *end) { return dk_utf8_next(pp, end); }

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

static int is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

/* A literal code point (never a surrogate) in PCRE2 syntax. */
static void emit_cp(struct dk_buf *b, uint32_t cp) {
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
  emit_cp(b, lo);
  if (hi != lo) {
    dk_buf_puts(b, "-");
    emit_cp(b, hi);
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
static char *parse_group_name(const char **pp, const char *end, const char **why) {
  const char *p = *pp;
  struct dk_buf b = {0};
  while (p < end && *p != '>') {
    uint32_t cp;
    if (*p == '\\') {
      if (end - p < 2 || p[1] != 'u') { *why = "invalid escape in group name"; goto bad; }
      p += 2;
      if (!parse_u_escape(&p, end, &cp) || is_surrogate(cp)) { *why = "invalid \\u escape in group name"; goto bad; }
    } else {
      cp = next_cp(&p, end);
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

/* Pre-pass: count capturing groups and record names so that forward
 * references (\2 before group 2, \k<n> before (?<n>...)) resolve. */
static void prescan(struct tr *t) {
  const char *p = t->pat;
  int in_class = 0;
  while (p < t->end) {
    char c = *p++;
    if (c == '\\') {
      if (p < t->end) p++;
    } else if (in_class) {
      if (c == ']') in_class = 0;
    } else if (c == '[') {
      in_class = 1;
    } else if (c == '(') {
      if (p >= t->end || *p != '?') {
        t->ngroups++;
      } else if (t->end - p >= 2 && p[1] == '<' && (t->end - p < 3 || (p[2] != '=' && p[2] != '!'))) {
        t->ngroups++;
        const char *q = p + 2, *why;
        char *name = parse_group_name(&q, t->end, &why);
        if (name) {
          t->names = dk_realloc(t->names, (t->nnames + 1) * sizeof *t->names);
          t->names[t->nnames].name = name;
          t->names[t->nnames].group = t->ngroups;
          t->nnames++;
        }
      }
    }
  }
}

static int parse_disjunction(struct tr *t);

static void note_ref(struct tr *t, unsigned n) {
  if (n < t->ref_min) t->ref_min = n;
  if (n > t->ref_max) t->ref_max = n;
}

/* \p{...} / \P{...} after the "p" or "P": writes the PCRE2 form. */
static int parse_property(struct tr *t, struct dk_buf *b, int negated) {
  const char *start = t->p - 2;
  if (t->p >= t->end || *t->p != '{') return fail(t, start, "\\p must be followed by {name}");
  const char *q = t->p + 1, *eq = NULL;
  while (q < t->end && *q != '}') {
    if (*q == '=' && eq == NULL) eq = q;
    else if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
      return fail(t, start, "invalid character in a property name");
    q++;
  }
  if (q >= t->end) return fail(t, start, "unterminated property escape");
  const char *name = t->p + 1;
  size_t nlen = (size_t)((eq ? eq : q) - name);
  const char *value = eq ? eq + 1 : NULL;
  size_t vlen = eq ? (size_t)(q - value) : 0;
  t->p = q + 1;
#define IS(s, str, l) (strlen(str) == (l) && memcmp((s), (str), (l)) == 0)
  const char *pcre = NULL;
  char buf[96];
  if (value != NULL) {
    if (nlen == 0 || vlen == 0 || vlen > 60) return fail(t, start, "invalid property escape");
    if (IS(name, "General_Category", nlen) || IS(name, "gc", nlen)) {
      for (size_t i = 0; i < NRANGES(GC_NAMES) && !pcre; i++)
        if (IS(value, GC_NAMES[i].ecma, vlen)) pcre = GC_NAMES[i].pcre;
      if (!pcre) return fail(t, start, "unknown General_Category value");
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
      return fail(t, start, "unknown property name");
    }
  } else {
    for (size_t i = 0; i < NRANGES(GC_NAMES) && !pcre; i++)
      if (IS(name, GC_NAMES[i].ecma, nlen)) pcre = GC_NAMES[i].pcre;
    for (size_t i = 0; i < NRANGES(BIN_PROPS) && !pcre; i++)
      if (IS(name, BIN_PROPS[i].ecma, nlen)) {
        pcre = BIN_PROPS[i].pcre ? BIN_PROPS[i].pcre : BIN_PROPS[i].ecma;
        if (!*pcre) return fail(t, start, "property %s is not supported", BIN_PROPS[i].ecma);
      }
    if (!pcre) return fail(t, start, "unknown property");
  }
#undef IS
  if (pcre[0] == '^') {
    negated = !negated;
    pcre++;
  }
  dk_buf_printf(b, "\\%c{%s}", negated ? 'P' : 'p', pcre);
  return 0;
}

/* What an escape stands for. */
enum { E_CP, E_SET, E_REF };

struct esc {
  int kind;
  uint32_t cp;       /* E_CP */
  struct dk_buf set; /* E_SET: class items in PCRE2 syntax */
  unsigned ref;      /* E_REF */
};

/* An escape after the backslash (t->p points past it), in an atom or in a
 * class (ClassEscape adds \b = backspace and \-; no backreferences). */
static int parse_escape(struct tr *t, int in_class, struct esc *e) {
  const char *start = t->p - 1;
  if (t->p >= t->end) return fail(t, start, "\\ at end of pattern");
  char c = *t->p++;
  e->kind = E_CP;
  switch (c) {
  case 'd': case 'D':
    e->kind = E_SET;
    emit_ranges(&e->set, R_DIGIT, NRANGES(R_DIGIT), c == 'D');
    return 0;
  case 'w': case 'W':
    e->kind = E_SET;
    emit_ranges(&e->set, R_WORD, NRANGES(R_WORD), c == 'W');
    return 0;
  case 's': case 'S':
    e->kind = E_SET;
    emit_ranges(&e->set, R_SPACE, NRANGES(R_SPACE), c == 'S');
    return 0;
  case 'p': case 'P':
    e->kind = E_SET;
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
    return fail(t, start, "\\c must be followed by a letter");
  case 'x':
    if (!hex_n(t->p, t->end, 2, &e->cp)) return fail(t, start, "\\x must be followed by two hex digits");
    t->p += 2;
    return 0;
  case 'u':
    if (!parse_u_escape(&t->p, t->end, &e->cp)) return fail(t, start, "invalid \\u escape");
    return 0;
  case '0':
    if (t->p < t->end && *t->p >= '0' && *t->p <= '9') return fail(t, start, "octal escapes are not allowed");
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
    if (t->p >= t->end || *t->p != '<') return fail(t, start, "\\k must be followed by <name>");
    t->p++;
    const char *why;
    char *name = parse_group_name(&t->p, t->end, &why);
    if (!name) return fail(t, start, "%s", why);
    for (size_t i = 0; i < t->nnames; i++)
      if (strcmp(t->names[i].name, name) == 0) {
        e->kind = E_REF;
        e->ref = t->names[i].group;
      }
    free(name);
    if (e->kind != E_REF) return fail(t, start, "no group by that name");
    return 0;
  default:
    if (c >= '1' && c <= '9' && !in_class) {
      unsigned long n = (unsigned long)(c - '0');
      while (t->p < t->end && *t->p >= '0' && *t->p <= '9' && n <= 100000) n = n * 10 + (unsigned long)(*t->p++ - '0');
      if (n > t->ngroups) return fail(t, start, "backreference to a group that does not exist");
      e->kind = E_REF;
      e->ref = (unsigned)n;
      return 0;
    }
    if (is_syntax_char(c) || c == '/') {
      e->cp = (uint32_t)(unsigned char)c;
      return 0;
    }
    break;
  }
  return fail(t, start, "invalid escape \\%s", (unsigned char)c < 0x80 && c > 0x20 ? (char[]){c, 0} : "?");
}

/* [...] after the "[". */
static int parse_class(struct tr *t) {
  const char *start = t->p - 1;
  int negated = 0, items = 0;
  if (t->p < t->end && *t->p == '^') {
    negated = 1;
    t->p++;
  }
  struct dk_buf cls = {0};
  int rc = 0;
  for (;;) {
    if (t->p >= t->end) { rc = fail(t, start, "unterminated character class"); break; }
    if (*t->p == ']') { t->p++; break; }
    /* one ClassAtom, perhaps the start of a range */
    struct esc a = {0}, z = {0};
    const char *at = t->p;
    if (*t->p == '\\') {
      t->p++;
      if (parse_escape(t, 1, &a) < 0) { dk_buf_free(&a.set); rc = -1; break; }
    } else {
      a.kind = E_CP;
      a.cp = next_cp(&t->p, t->end);
    }
    if (t->p + 1 < t->end && t->p[0] == '-' && t->p[1] != ']') {
      t->p++;
      if (*t->p == '\\') {
        t->p++;
        if (parse_escape(t, 1, &z) < 0) { dk_buf_free(&a.set); dk_buf_free(&z.set); rc = -1; break; }
      } else {
        z.kind = E_CP;
        z.cp = next_cp(&t->p, t->end);
      }
      if (a.kind != E_CP || z.kind != E_CP) {
        dk_buf_free(&a.set);
        dk_buf_free(&z.set);
        rc = fail(t, at, "a class escape cannot be a range end");
        break;
      }
      if (a.cp > z.cp) { rc = fail(t, at, "range out of order in character class"); break; }
      items += emit_range(&cls, a.cp, z.cp);
    } else if (a.kind == E_CP) {
      if (!is_surrogate(a.cp)) items += emit_range(&cls, a.cp, a.cp);
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

static int at_quantifier(struct tr *t) {
  return t->p < t->end && (*t->p == '*' || *t->p == '+' || *t->p == '?' || *t->p == '{');
}

/* Digits of a {n,m} bound; -1 when none. Values beyond PCRE2's limit are
 * kept large so that the caller can refuse them. */
static long read_bound(struct tr *t) {
  if (t->p >= t->end || *t->p < '0' || *t->p > '9') return -1;
  long v = 0;
  while (t->p < t->end && *t->p >= '0' && *t->p <= '9') {
    if (v < 1000000000L) v = v * 10 + (*t->p - '0');
    t->p++;
  }
  return v;
}

static int parse_quantifier(struct tr *t) {
  const char *start = t->p;
  char c = *t->p;
  if (c == '{') {
    t->p++;
    long lo = read_bound(t), hi = lo;
    if (lo < 0) return fail(t, start, "incomplete quantifier");
    if (t->p < t->end && *t->p == ',') {
      t->p++;
      hi = read_bound(t);  /* -1: unbounded */
    }
    if (t->p >= t->end || *t->p != '}') return fail(t, start, "incomplete quantifier");
    t->p++;
    if (hi >= 0 && hi < lo) return fail(t, start, "numbers out of order in quantifier");
    if (lo > 65535 || hi > 65535) return fail(t, start, "quantifier bound above 65535 is not supported");
    if (hi < 0) dk_buf_printf(&t->out, "{%ld,}", lo);
    else if (hi == lo) dk_buf_printf(&t->out, "{%ld}", lo);
    else dk_buf_printf(&t->out, "{%ld,%ld}", lo, hi);
  } else {
    dk_buf_append(&t->out, &c, 1);
    t->p++;
  }
  if (t->p < t->end && *t->p == '?') {
    dk_buf_puts(&t->out, "?");
    t->p++;
  }
  if (at_quantifier(t)) return fail(t, t->p, "nothing to repeat");
  return 0;
}

/* Callouts must see every backtracking position, hence NO_AUTO_POSSESS
 * when there are lookbehind callouts. */
static int compile_code(const char *pat, size_t len, int callouts, pcre2_code **out, int *ec,
                        char *msg, size_t msgsize) {
  PCRE2_SIZE eo;
  uint32_t opts = COMPILE_OPTIONS | (callouts ? PCRE2_NO_AUTO_POSSESS : 0);
  *out = pcre2_compile((PCRE2_SPTR)pat, len, opts, ec, &eo, NULL);
  if (*out == NULL) {
    pcre2_get_error_message(*ec, (PCRE2_UCHAR *)msg, msgsize);
    return -1;
  }
  /* JIT is an optimisation: when it is not there the interpreter runs. */
  (void)pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
  return 0;
}

/* A lookbehind turned into a callout: the body is compiled on its own as
 * "(?C254)(){0}...(?:BODY)(?C255)", with as many unset groups in front as
 * come before it so that group numbers inside stay the same. It is run
 * from the start of the subject; 254 stops the scan past the lookbehind's
 * position, 255 accepts only a match that ends there. */
static int lookbehind_callout(struct tr *t, const char *start, size_t mark, unsigned g0, int negative) {
  if (t->ref_min <= g0 || (t->ref_max > t->group_no && t->ref_max != 0))
    return fail(t, start, "a backreference out of a variable-length lookbehind is not supported");
  if (t->nlb >= MAX_LOOKBEHINDS) return fail(t, start, "too many variable-length lookbehinds");
  struct dk_buf sub = {0};
  if (t->flags & F_I) dk_buf_puts(&sub, "(?i)");
  dk_buf_printf(&sub, "(?C%d)", LB_START_CALLOUT);
  for (unsigned i = 0; i < g0; i++) dk_buf_puts(&sub, "(){0}");
  dk_buf_puts(&sub, "(?:");
  dk_buf_append(&sub, t->out.data + mark, t->out.len - mark);
  dk_buf_printf(&sub, ")(?C%d)", LB_END_CALLOUT);
  pcre2_code *code;
  int ec;
  char msg[256];
  int rc = compile_code(sub.data, sub.len, 1, &code, &ec, msg, sizeof msg);
  dk_buf_free(&sub);
  if (rc < 0) return fail(t, start, "%s", msg);
  t->lb = dk_realloc(t->lb, (t->nlb + 1) * sizeof *t->lb);
  t->lb[t->nlb].code = code;
  t->lb[t->nlb].negative = negative;
  t->nlb++;
  t->out.len = mark;
  dk_buf_printf(&t->out, "(?C%u)", t->nlb);
  for (unsigned i = g0; i < t->group_no; i++) dk_buf_puts(&t->out, "(){0}");
  return 0;
}

/* A named group's "name>" after "(?<", refused when t->names has it twice
 * (the name is freed here): 0, or -1 with the error. */
static int group_name(struct tr *t, const char *start) {
  const char *why;
  char *name = parse_group_name(&t->p, t->end, &why);
  if (!name) return fail(t, start, "%s", why);
  int dup = 0;
  for (size_t i = 0; i < t->nnames; i++) dup += strcmp(t->names[i].name, name) == 0;
  free(name);
  if (dup > 1) return fail(t, start, "duplicate group name");
  t->group_no++;
  dk_buf_puts(&t->out, "(");
  return 0;
}

/* The modifiers "ims-ims:" after "(?", which set t->flags for the group
 * (its caller restores them): 0, or -1 with the error. */
static int group_modifiers(struct tr *t, const char *start) {
  unsigned saved_flags = t->flags, add = 0, del = 0, *set = &add;
  while (t->p < t->end && *t->p != ':') {
    unsigned f = *t->p == 'i' ? F_I : *t->p == 'm' ? F_M : *t->p == 's' ? F_S : 0;
    if (*t->p == '-' && set == &add) {
      set = &del;
    } else if (f == 0 || ((add | del) & f)) {
      return fail(t, start, "invalid group modifiers");
    } else {
      *set |= f;
    }
    t->p++;
  }
  if (t->p >= t->end || (set == &del && del == 0)) return fail(t, start, "invalid group modifiers");
  t->p++;
  t->flags = (t->flags | add) & ~del;
  if ((t->flags & F_I) != (saved_flags & F_I))
    dk_buf_puts(&t->out, t->flags & F_I ? "(?i:" : "(?-i:");
  else
    dk_buf_puts(&t->out, "(?:");
  return 0;
}

/* What follows "(?": writes the group's opening, sets *lookbehind,
 * *negative and *quantifiable: 0, or -1 with the error. */
static int group_open(struct tr *t, const char *start, int *lookbehind, int *negative, int *quantifiable) {
  t->p++;
  char c = t->p < t->end ? *t->p : 0;
  if (c == ':') {
    t->p++;
    dk_buf_puts(&t->out, "(?:");
  } else if (c == '=' || c == '!') {
    t->p++;
    dk_buf_printf(&t->out, "(?%c", c);
    *quantifiable = 0;
  } else if (c == '<' && t->p + 1 < t->end && (t->p[1] == '=' || t->p[1] == '!')) {
    *negative = t->p[1] == '!';
    t->p += 2;
    *lookbehind = 1;
    *quantifiable = 0;
    if (t->lb_callout) {
      t->ref_min = UINT32_MAX;
      t->ref_max = 0;
      dk_buf_puts(&t->out, "(?:");
    } else {
      dk_buf_printf(&t->out, "(?<%c", *negative ? '!' : '=');
    }
  } else if (c == '<') {
    t->p++;
    return group_name(t, start);
  } else if (c == '-' || c == 'i' || c == 'm' || c == 's') {
    return group_modifiers(t, start);
  } else {
    return fail(t, start, "invalid group");
  }
  return 0;
}

/* A group after the "(". Sets *quantifiable. */
static int parse_group(struct tr *t, int *quantifiable) {
  const char *start = t->p - 1;
  unsigned saved_flags = t->flags;
  int lookbehind = 0, negative = 0;
  size_t mark = t->out.len;
  unsigned g0 = t->group_no, saved_min = t->ref_min, saved_max = t->ref_max;
  *quantifiable = 1;
  if (++t->depth > MAX_NESTING) return fail(t, start, "groups nested too deeply");
  if (t->p >= t->end || *t->p != '?') {
    t->group_no++;
    dk_buf_puts(&t->out, "(");
  } else if (group_open(t, start, &lookbehind, &negative, quantifiable) < 0) {
    return -1;
  }
  if (parse_disjunction(t) < 0) return -1;
  if (t->p >= t->end || *t->p != ')') return fail(t, start, "missing )");
  t->p++;
  dk_buf_puts(&t->out, ")");
  t->flags = saved_flags;
  t->depth--;
  if (lookbehind && t->lb_callout) {
    if (lookbehind_callout(t, start, mark, g0, negative) < 0) return -1;
    t->ref_min = saved_min;
    t->ref_max = saved_max;
  }
  return 0;
}

static int parse_term(struct tr *t) {
  const char *start = t->p;
  int quantifiable = 1;
  char c = *t->p;
  switch (c) {
  case '^':
    t->p++;
    dk_buf_puts(&t->out, t->flags & F_M ? "(?:\\A|(?<=[\\n\\r\xe2\x80\xa8\xe2\x80\xa9]))" : "\\A");
    quantifiable = 0;
    break;
  case '$':
    t->p++;
    dk_buf_puts(&t->out, t->flags & F_M ? "(?=[\\n\\r\xe2\x80\xa8\xe2\x80\xa9]|\\z)" : "\\z");
    quantifiable = 0;
    break;
  case '(':
    t->p++;
    if (parse_group(t, &quantifiable) < 0) return -1;
    break;
  case '*': case '+': case '?': case '{':
    return fail(t, start, "nothing to repeat");
  case '}': case ']':
    return fail(t, start, "lone %c", c);
  case '.':
    t->p++;
    dk_buf_puts(&t->out, t->flags & F_S ? "[\\x00-\xf4\x8f\xbf\xbf]" : "[^\\n\\r\xe2\x80\xa8\xe2\x80\xa9]");
    break;
  case '[':
    t->p++;
    if (parse_class(t) < 0) return -1;
    break;
  case '\\':
    if (t->p + 1 < t->end && (t->p[1] == 'b' || t->p[1] == 'B')) {
      /* without UCP PCRE2's \b uses ASCII word characters, as ECMA does */
      dk_buf_puts(&t->out, t->p[1] == 'b' ? "\\b" : "\\B");
      t->p += 2;
      quantifiable = 0;
      break;
    }
    t->p++;
    struct esc e = {0};
    if (parse_escape(t, 0, &e) < 0) {
      dk_buf_free(&e.set);
      return -1;
    }
    if (e.kind == E_REF) {
      note_ref(t, e.ref);
      dk_buf_printf(&t->out, "(?:\\g{%u})", e.ref);
    } else if (e.kind == E_SET) {
      dk_buf_printf(&t->out, "[%s]", dk_buf_cstr(&e.set));
    } else if (is_surrogate(e.cp)) {
      dk_buf_puts(&t->out, "(?:(?!))");  /* a lone surrogate never occurs in UTF-8 */
    } else {
      emit_cp(&t->out, e.cp);
    }
    dk_buf_free(&e.set);
    break;
  default:
    emit_cp(&t->out, next_cp(&t->p, t->end));
    break;
  }
  if (at_quantifier(t)) {
    if (!quantifiable) return fail(t, t->p, "nothing to repeat");
    return parse_quantifier(t);
  }
  return 0;
}

static int parse_disjunction(struct tr *t) {
  for (;;) {
    while (t->p < t->end && *t->p != '|' && *t->p != ')')
      if (parse_term(t) < 0) return -1;
    if (t->p < t->end && *t->p == '|') {
      t->p++;
      dk_buf_puts(&t->out, "|");
      continue;
    }
    return 0;
  }
}

static void tr_free(struct tr *t) {
  dk_buf_free(&t->out);
  for (size_t i = 0; i < t->nnames; i++) free(t->names[i].name);
  free(t->names);
  for (unsigned i = 0; i < t->nlb; i++) pcre2_code_free(t->lb[i].code);
  free(t->lb);
}

/* Translate the whole pattern; 0 or -1 with t->err set. */
static int translate(struct tr *t) {
  prescan(t);
  if (parse_disjunction(t) < 0) return -1;
  if (t->p < t->end) return fail(t, t->p, "unmatched )");
  dk_buf_cstr(&t->out);
  return 0;
}

/* JIT matching runs on a stack of its own; the default (32 KiB on the
 * machine stack) gives up on a repeated group after some 3000 characters.
 * Each thread gets one larger stack, made on first use. */
static pthread_once_t jit_once = PTHREAD_ONCE_INIT;
static pthread_key_t jit_key;

static void jit_stack_free(void *stack) { pcre2_jit_stack_free(stack); }
static void jit_key_init(void) { (void)pthread_key_create(&jit_key, jit_stack_free); }

static pcre2_jit_stack *thread_jit_stack(void *data) {
  pthread_once(&jit_once, jit_key_init);
  pcre2_jit_stack *stack = pthread_getspecific(jit_key);
  if (stack == NULL) {
    stack = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
    if (stack != NULL && pthread_setspecific(jit_key, stack) != 0) {
      pcre2_jit_stack_free(stack);
      stack = NULL;
    }
  }
  return stack;  /* NULL: PCRE2 uses its default */
}

/* Compile an ECMA-262 ("u" flag) pattern of len bytes (UTF-8, may hold
 * NULs). NULL with err (DK_ERRBUF_SIZE) when ECMA-262 refuses it or PCRE2
 * cannot take it. Free with dk_regex_free. */
struct dk_regex *dk_regex_compile(const char *pattern, size_t len, char *err) {
  if (!dk_utf8_valid(pattern, len)) {
    dk_failf(err, DK_ESCHEMA, "invalid regular expression: not valid UTF-8");
    return NULL;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    struct tr t = {.pat = pattern, .p = pattern, .end = pattern + len, .err = err,
                   .lb_callout = attempt, .ref_min = UINT32_MAX};
    if (translate(&t) < 0) {
      tr_free(&t);
      return NULL;
    }
    pcre2_code *code;
    int ec;
    char msg[256];
    if (compile_code(t.out.data, t.out.len, t.nlb > 0, &code, &ec, msg, sizeof msg) < 0) {
      tr_free(&t);
      int variable_lookbehind = ec == PCRE2_ERROR_LOOKBEHIND_NOT_FIXED_LENGTH;
#ifdef PCRE2_ERROR_LOOKBEHIND_TOO_LONG
      variable_lookbehind |= ec == PCRE2_ERROR_LOOKBEHIND_TOO_LONG;
#endif
      if (attempt == 0 && variable_lookbehind) continue;
      dk_failf(err, DK_ESCHEMA, "invalid regular expression: %s", msg);
      return NULL;
    }
    struct dk_regex *re = dk_calloc(1, sizeof *re);
    re->code = code;
    re->lb = t.lb;
    re->nlb = t.nlb;
    t.lb = NULL;
    t.nlb = 0;
    tr_free(&t);
    re->mctx = pcre2_match_context_create(NULL);
    if (re->mctx == NULL) abort();
    pcre2_set_match_limit(re->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, DEPTH_LIMIT);
    pcre2_set_heap_limit(re->mctx, HEAP_LIMIT_KIB);
    pcre2_jit_stack_assign(re->mctx, thread_jit_stack, NULL);
    return re;
  }
  return NULL;
}

/* Free a compiled regex; NULL is fine. */
void dk_regex_free(struct dk_regex *re) {
  if (re == NULL) return;
  pcre2_code_free(re->code);
  pcre2_match_context_free(re->mctx);
  for (unsigned i = 0; i < re->nlb; i++) pcre2_code_free(re->lb[i].code);
  free(re->lb);
  free(re);
}

/* --- matching ---------------------------------------------------------- */

struct budget {
  unsigned submatches;  /* lookbehind sub-matches run so far */
  size_t span;          /* and the bytes they scan */
};

struct mstate {
  const struct dk_regex *re;
  size_t target;  /* where a lookbehind body must end */
  struct budget *budget;
};

static int run(const struct dk_regex *re, const pcre2_code *code, const char *s, size_t len,
               size_t target, struct budget *budget);

static int lb_callout(pcre2_callout_block *cb, void *data) {
  struct mstate *ms = data;
  if (cb->callout_number == LB_START_CALLOUT)  /* a body starting later cannot end at target */
    return cb->current_position > ms->target ? PCRE2_ERROR_NOMATCH : 0;
  if (cb->callout_number == LB_END_CALLOUT) return cb->current_position == ms->target ? 0 : 1;
  if (cb->callout_number == 0 || cb->callout_number > ms->re->nlb) return PCRE2_ERROR_CALLOUT;
  const struct dk__lookbehind *lb = &ms->re->lb[cb->callout_number - 1];
  /* each sub-match scans the subject up to here: bound the total */
  ms->budget->span += cb->current_position + 1;
  if (++ms->budget->submatches > LB_MAX_SUBMATCHES || ms->budget->span > LB_MAX_SPAN)
    return PCRE2_ERROR_MATCHLIMIT;
  int rc = run(ms->re, lb->code, (const char *)cb->subject, cb->subject_length, cb->current_position,
               ms->budget);
  if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) return rc;
  return (rc >= 0) != lb->negative ? 0 : 1;  /* 0: matched, ovector too small */
}

/* One pcre2_match; with lookbehind callouts, a context of its own. Later
 * sub-matches get smaller match limits so that the total stays bounded. */
static int run(const struct dk_regex *re, const pcre2_code *code, const char *s, size_t len,
               size_t target, struct budget *budget) {
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  if (md == NULL) abort();
  pcre2_match_context *mctx = re->mctx;
  struct mstate ms = {re, target, budget};
  if (re->nlb > 0) {
    mctx = pcre2_match_context_copy(re->mctx);
    if (mctx == NULL) abort();
    pcre2_set_callout(mctx, lb_callout, &ms);
    if (code != re->code) {
      /* a lookbehind body runs while the outer match holds the thread's stack */
      pcre2_jit_stack_assign(mctx, NULL, NULL);
    }
    if (budget->submatches > 0) {
      uint32_t limit = MATCH_LIMIT / budget->submatches;
      pcre2_set_match_limit(mctx, limit < 1000 ? 1000 : limit);
    }
  }
  int rc = pcre2_match(code, (PCRE2_SPTR)s, len, 0, 0, md, mctx);
  if (mctx != re->mctx) pcre2_match_context_free(mctx);
  pcre2_match_data_free(md);
  return rc;
}

/* Search s (len bytes of UTF-8) anywhere. 1 match, 0 none, DK_ETOOBIG when
 * a match, depth, heap or JIT stack limit (or the lookbehind budget) was
 * reached, DK_EINVAL when s is not UTF-8. Thread-safe: all per-call state
 * is allocated here (the JIT stack is per thread). */
int dk_regex_search(const struct dk_regex *re, const char *s, size_t len) {
  struct budget budget = {0};
  int rc = run(re, re->code, s, len, 0, &budget);
  if (rc >= 0) return 1;
  switch (rc) {
  case PCRE2_ERROR_NOMATCH:
    return 0;
  case PCRE2_ERROR_MATCHLIMIT:
  case PCRE2_ERROR_DEPTHLIMIT:
  case PCRE2_ERROR_HEAPLIMIT:
  case PCRE2_ERROR_JIT_STACKLIMIT:
  case PCRE2_ERROR_NOMEMORY:
    return DK_ETOOBIG;
  default:
    return DK_EINVAL;  /* the subject is not valid UTF-8 */
  }
}

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

#include "internal.h"
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

/* --- the translator ---------------------------------------------------- */

enum { F_I = 1, F_M = 2, F_S = 4 };

int dk__re_fail(struct dk__re_tr *t, const char *at, const char *fmt, ...) {
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

/* Pre-pass: count capturing groups and record names so that forward
 * references (\2 before group 2, \k<n> before (?<n>...)) resolve. */
static void prescan(struct dk__re_tr *t) {
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
        char *name = dk__re_group_name(&q, t->end, &why);
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

static int parse_disjunction(struct dk__re_tr *t);

static void note_ref(struct dk__re_tr *t, unsigned n) {
  if (n < t->ref_min) t->ref_min = n;
  if (n > t->ref_max) t->ref_max = n;
}

static int at_quantifier(struct dk__re_tr *t) {
  return t->p < t->end && (*t->p == '*' || *t->p == '+' || *t->p == '?' || *t->p == '{');
}

/* Digits of a {n,m} bound; -1 when none. Values beyond PCRE2's limit are
 * kept large so that the caller can refuse them. */
static long read_bound(struct dk__re_tr *t) {
  if (t->p >= t->end || *t->p < '0' || *t->p > '9') return -1;
  long v = 0;
  while (t->p < t->end && *t->p >= '0' && *t->p <= '9') {
    if (v < 1000000000L) v = v * 10 + (*t->p - '0');
    t->p++;
  }
  return v;
}

static int parse_quantifier(struct dk__re_tr *t) {
  const char *start = t->p;
  char c = *t->p;
  if (c == '{') {
    t->p++;
    long lo = read_bound(t), hi = lo;
    if (lo < 0) return dk__re_fail(t, start, "incomplete quantifier");
    if (t->p < t->end && *t->p == ',') {
      t->p++;
      hi = read_bound(t);  /* -1: unbounded */
    }
    if (t->p >= t->end || *t->p != '}') return dk__re_fail(t, start, "incomplete quantifier");
    t->p++;
    if (hi >= 0 && hi < lo) return dk__re_fail(t, start, "numbers out of order in quantifier");
    if (lo > 65535 || hi > 65535) return dk__re_fail(t, start, "quantifier bound above 65535 is not supported");
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
  if (at_quantifier(t)) return dk__re_fail(t, t->p, "nothing to repeat");
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
static int lookbehind_callout(struct dk__re_tr *t, const char *start, size_t mark, unsigned g0, int negative) {
  if (t->ref_min <= g0 || (t->ref_max > t->group_no && t->ref_max != 0))
    return dk__re_fail(t, start, "a backreference out of a variable-length lookbehind is not supported");
  if (t->nlb >= MAX_LOOKBEHINDS) return dk__re_fail(t, start, "too many variable-length lookbehinds");
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
  if (rc < 0) return dk__re_fail(t, start, "%s", msg);
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
static int group_name(struct dk__re_tr *t, const char *start) {
  const char *why;
  char *name = dk__re_group_name(&t->p, t->end, &why);
  if (!name) return dk__re_fail(t, start, "%s", why);
  int dup = 0;
  for (size_t i = 0; i < t->nnames; i++) dup += strcmp(t->names[i].name, name) == 0;
  free(name);
  if (dup > 1) return dk__re_fail(t, start, "duplicate group name");
  t->group_no++;
  dk_buf_puts(&t->out, "(");
  return 0;
}

/* The modifiers "ims-ims:" after "(?", which set t->flags for the group
 * (its caller restores them): 0, or -1 with the error. */
static int group_modifiers(struct dk__re_tr *t, const char *start) {
  unsigned saved_flags = t->flags, add = 0, del = 0, *set = &add;
  while (t->p < t->end && *t->p != ':') {
    unsigned f = *t->p == 'i' ? F_I : *t->p == 'm' ? F_M : *t->p == 's' ? F_S : 0;
    if (*t->p == '-' && set == &add) {
      set = &del;
    } else if (f == 0 || ((add | del) & f)) {
      return dk__re_fail(t, start, "invalid group modifiers");
    } else {
      *set |= f;
    }
    t->p++;
  }
  if (t->p >= t->end || (set == &del && del == 0)) return dk__re_fail(t, start, "invalid group modifiers");
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
static int group_open(struct dk__re_tr *t, const char *start, int *lookbehind, int *negative, int *quantifiable) {
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
    return dk__re_fail(t, start, "invalid group");
  }
  return 0;
}

/* A group after the "(". Sets *quantifiable. */
static int parse_group(struct dk__re_tr *t, int *quantifiable) {
  const char *start = t->p - 1;
  unsigned saved_flags = t->flags;
  int lookbehind = 0, negative = 0;
  size_t mark = t->out.len;
  unsigned g0 = t->group_no, saved_min = t->ref_min, saved_max = t->ref_max;
  *quantifiable = 1;
  if (++t->depth > MAX_NESTING) return dk__re_fail(t, start, "groups nested too deeply");
  if (t->p >= t->end || *t->p != '?') {
    t->group_no++;
    dk_buf_puts(&t->out, "(");
  } else if (group_open(t, start, &lookbehind, &negative, quantifiable) < 0) {
    return -1;
  }
  if (parse_disjunction(t) < 0) return -1;
  if (t->p >= t->end || *t->p != ')') return dk__re_fail(t, start, "missing )");
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

static int parse_term(struct dk__re_tr *t) {
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
    return dk__re_fail(t, start, "nothing to repeat");
  case '}': case ']':
    return dk__re_fail(t, start, "lone %c", c);
  case '.':
    t->p++;
    dk_buf_puts(&t->out, t->flags & F_S ? "[\\x00-\xf4\x8f\xbf\xbf]" : "[^\\n\\r\xe2\x80\xa8\xe2\x80\xa9]");
    break;
  case '[':
    t->p++;
    if (dk__re_class(t) < 0) return -1;
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
    struct dk__re_esc e = {0};
    if (dk__re_escape(t, 0, &e) < 0) {
      dk_buf_free(&e.set);
      return -1;
    }
    if (e.kind == DK__RE_REF) {
      note_ref(t, e.ref);
      dk_buf_printf(&t->out, "(?:\\g{%u})", e.ref);
    } else if (e.kind == DK__RE_SET) {
      dk_buf_printf(&t->out, "[%s]", dk_buf_cstr(&e.set));
    } else if (dk__re_is_surrogate(e.cp)) {
      dk_buf_puts(&t->out, "(?:(?!))");  /* a lone surrogate never occurs in UTF-8 */
    } else {
      dk__re_emit_cp(&t->out, e.cp);
    }
    dk_buf_free(&e.set);
    break;
  default:
    dk__re_emit_cp(&t->out, dk__re_next_cp(&t->p, t->end));
    break;
  }
  if (at_quantifier(t)) {
    if (!quantifiable) return dk__re_fail(t, t->p, "nothing to repeat");
    return parse_quantifier(t);
  }
  return 0;
}

static int parse_disjunction(struct dk__re_tr *t) {
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

static void tr_free(struct dk__re_tr *t) {
  dk_buf_free(&t->out);
  for (size_t i = 0; i < t->nnames; i++) free(t->names[i].name);
  free(t->names);
  for (unsigned i = 0; i < t->nlb; i++) pcre2_code_free(t->lb[i].code);
  free(t->lb);
}

/* Translate the whole pattern; 0 or -1 with t->err set. */
static int translate(struct dk__re_tr *t) {
  prescan(t);
  if (parse_disjunction(t) < 0) return -1;
  if (t->p < t->end) return dk__re_fail(t, t->p, "unmatched )");
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
    struct dk__re_tr t = {.pat = pattern, .p = pattern, .end = pattern + len, .err = err,
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

/* Internals of the JSON Schema validator shared by registry.c, compile.c,
 * validate*.c, output.c, format*.c and regex*.c. Nothing here is public API. */
#ifndef DK_JSONSCHEMA_INTERNAL_H
#define DK_JSONSCHEMA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <jansson.h>
#include "jsonschema.h"
#include "../util.h"

/* --- a hash map from byte strings to pointers (keys are copied) ---------- */

struct dk__map_ent {
  char *key;   /* NULL: empty slot */
  size_t klen;
  size_t hash;
  void *val;
};

struct dk__map {
  struct dk__map_ent *ents;
  size_t cap, n;
};

void *dk__map_get(const struct dk__map *m, const void *key, size_t klen);
/* Insert or replace. */
void dk__map_put(struct dk__map *m, const void *key, size_t klen, void *val);
/* Free the keys (and the values with free_val when not NULL). */
void dk__map_free(struct dk__map *m, void (*free_val)(void *));
#define DK__PTRKEY(p) ((const void *)&(p)), sizeof(p)

/* --- URIs (RFC 3986) ----------------------------------------------------- */

/* `ref` resolved against `base` (either may be relative). Caller frees. */
char *dk__uri_resolve(const char *base, const char *ref);
/* Split off the fragment: returns a copy of the part before '#', and sets
 * *frag to the text after it inside `uri` (NULL when there is no '#'). */
char *dk__uri_strip_fragment(const char *uri, const char **frag);
/* Percent-decode (n bytes); caller frees; *outlen receives the length. */
char *dk__pct_decode(const char *s, size_t n, size_t *outlen);

/* --- dialects and vocabularies ------------------------------------------ */

#define DK__META_2020 "https://json-schema.org/draft/2020-12/schema"
#define DK__META_2019 "https://json-schema.org/draft/2019-09/schema"

enum {
  DK__V_APPLICATOR = 1u << 0,
  DK__V_UNEVALUATED = 1u << 1,
  DK__V_VALIDATION = 1u << 2,
  DK__V_FORMAT_ASSERT = 1u << 3,
  DK__V_2019 = 1u << 4,  /* draft 2019-09 keyword meanings (items array, additionalItems) */
  DK__V_ALL = DK__V_APPLICATOR | DK__V_UNEVALUATED | DK__V_VALIDATION,
};

/* --- the index of schema resources -------------------------------------- */

/* A schema resource: a document root or a subschema with its own $id. */
struct dk__resource {
  char *uri;              /* absolute, without fragment */
  json_t *schema;         /* its root (borrowed from the document) */
  char *metaschema;       /* $schema in effect (own or inherited) */
  struct dk__map anchors; /* name -> json_t* ($anchor and $dynamicAnchor) */
  struct dk__map dyn;     /* name -> json_t* ($dynamicAnchor only) */
};

/* Where a schema object sits: its resource and JSON Pointer inside it. */
struct dk__loc {
  struct dk__resource *res;
  char *ptr;              /* "" for the resource root, else "/a/b" (escaped) */
};

struct dk__index {
  struct dk__map uris;    /* uri -> struct dk__resource* (aliases allowed) */
  struct dk__map locs;    /* json_t* -> struct dk__loc* */
  struct dk__resource **res;
  size_t nres;
};

/* Index a document retrieved from `uri` (may be NULL: then its $id). */
int dk__index_doc(struct dk__index *idx, json_t *doc, const char *uri, char *err);
void dk__index_free(struct dk__index *idx);

struct dk_registry {
  struct dk__index idx;
  json_t **docs;          /* references kept */
  size_t ndocs;
  struct dk__map meta;    /* metaschema uri -> compiled struct dk_schema* */
};

/* Look a resource up: overlay first (may be NULL), then the registry. */
struct dk__resource *dk__lookup(const struct dk_registry *reg, const struct dk__index *ov,
                                const char *uri);
/* The location of a schema object (overlay first), or NULL. */
struct dk__loc *dk__loc_of(const struct dk_registry *reg, const struct dk__index *ov,
                           const json_t *node);
/* The compiled metaschema `uri` (cached per registry), or NULL with err. */
struct dk_schema *dk__metaschema(struct dk_registry *reg, const char *uri, char *err);

/* --- compiled schemas ---------------------------------------------------- */

enum {
  DK__T_NULL = 1u << 0,
  DK__T_BOOLEAN = 1u << 1,
  DK__T_OBJECT = 1u << 2,
  DK__T_ARRAY = 1u << 3,
  DK__T_NUMBER = 1u << 4,
  DK__T_STRING = 1u << 5,
  DK__T_INTEGER = 1u << 6,
};

/* Presence bits of the keywords that have no pointer of their own. */
enum {
  DK__K_TYPE = 1u << 0,
  DK__K_CONST = 1u << 1,
  DK__K_ENUM = 1u << 2,
  DK__K_MULTIPLEOF = 1u << 3,
  DK__K_MAXIMUM = 1u << 4,
  DK__K_EXMAXIMUM = 1u << 5,
  DK__K_MINIMUM = 1u << 6,
  DK__K_EXMINIMUM = 1u << 7,
  DK__K_MAXLENGTH = 1u << 8,
  DK__K_MINLENGTH = 1u << 9,
  DK__K_PATTERN = 1u << 10,
  DK__K_MAXITEMS = 1u << 11,
  DK__K_MINITEMS = 1u << 12,
  DK__K_UNIQUE = 1u << 13,
  DK__K_MAXCONTAINS = 1u << 14,
  DK__K_MINCONTAINS = 1u << 15,
  DK__K_MAXPROPS = 1u << 16,
  DK__K_MINPROPS = 1u << 17,
  DK__K_REQUIRED = 1u << 18,
  DK__K_DEPREQ = 1u << 19,
  DK__K_FORMAT = 1u << 20,
  /* groups, so validation can skip whole families with one test */
  DK__K_NUMERIC = DK__K_MULTIPLEOF | DK__K_MAXIMUM | DK__K_EXMAXIMUM | DK__K_MINIMUM | DK__K_EXMINIMUM,
  DK__K_STRING = DK__K_MAXLENGTH | DK__K_MINLENGTH | DK__K_PATTERN | DK__K_FORMAT,
};

struct dk__node;

/* A compiled schema resource: what $dynamicRef needs at validation time. */
struct dk__cres {
  const char *uri;
  size_t ndyn;
  char **dyn_names;
  struct dk__node **dyn_nodes;
  unsigned vocab;
};

struct dk__prop {
  const char *key;
  size_t klen;
  struct dk__node *node;
  unsigned char required; /* also listed in "required" */
};

/* Binary search in properties sorted by (length, bytes). */
static inline const struct dk__prop *dk__find_prop(const struct dk__prop *props, size_t n, const char *k,
                                                   size_t klen) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const struct dk__prop *p = &props[mid];
    int c = p->klen != klen ? (p->klen < klen ? -1 : 1) : memcmp(p->key, k, klen);
    if (c == 0)
      return p;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

struct dk__pat {
  struct dk_regex *re;
  const char *src;
  struct dk__node *node;
};

struct dk__strs {
  const char *key;        /* dependentRequired: the trigger property */
  size_t klen;
  const char **s;
  size_t *len;
  size_t n;
};

struct dk__node {
  char *abs;              /* absolute location: "uri#/ptr" */
  const struct dk__cres *cres;
  unsigned kw;            /* DK__K_* */
  unsigned char boolean;  /* 0: an object schema; 1: true; 2: false */
  unsigned char track;    /* has unevaluatedItems/unevaluatedProperties */
  unsigned char items_array_2019; /* keyword names for locations */
  unsigned types;

  struct dk__node *ref, *dynref;
  const char *dyn_name;   /* $dynamicRef's anchor when the static target has it */
  struct dk__node **allof, **anyof, **oneof;
  size_t nallof, nanyof, noneof;
  struct dk__node *not_, *if_, *then_, *else_;

  struct dk__prop *props; /* sorted by (klen, bytes) */
  size_t nprops;
  struct dk__pat *pats;
  size_t npats;
  struct dk__node *addl, *pnames, *uprops;
  struct dk__prop *depsch;
  size_t ndepsch;
  struct dk__strs *depreq;
  size_t ndepreq;
  struct dk__strs required;
  unsigned char req_in_props; /* every required name is in props, once */
  size_t minprops, maxprops;

  struct dk__node **prefix;
  size_t nprefix;
  struct dk__node *items, *contains, *uitems;
  size_t minitems, maxitems, mincontains, maxcontains;

  const json_t *minimum, *maximum, *exmin, *exmax, *multipleof;
  size_t minlen, maxlen;
  struct dk_regex *pattern;
  const char *pattern_src;
  const char *format;
  const json_t *const_, *enum_;
};

struct dk_schema {
  struct dk__node *root;
  struct dk__node **nodes;
  size_t nnodes;
  struct dk__cres **cres;
  size_t ncres;
  json_t *doc;            /* a reference to the compiled JSON */
  unsigned max_depth;
};

/* --- shared helpers (validate*.c, output.c) ------------------------------- */

/* JSON equality (1 == 1.0, objects unordered). 1 equal, 0 not, DK_ETOOBIG
 * when nesting exceeds `depth`. */
int dk__json_equal(const json_t *a, const json_t *b, unsigned depth);
/* Compare two JSON numbers exactly: <0, 0, >0. */
int dk__num_cmp(const json_t *a, const json_t *b);
/* Append a short, readable rendering of a JSON value (strings quoted unless
 * bare is set) to b, about `budget` bytes at most. */
struct dk_buf;
void dk__describe(struct dk_buf *b, const json_t *v, size_t budget, int bare);
/* Append a JSON Pointer token with ~0/~1 escaping. */
void dk__ptr_append(struct dk_buf *b, const char *tok, size_t len);
/* Append text percent-encoded for a URI fragment. */
void dk__frag_append(struct dk_buf *b, const char *s, size_t len);

/* --- the validation walk (validate.c, validate_container.c,
 * validate_error.c; their shared state is in validate.h) ------------------ */

struct dk__vctx;
struct dk__track;

/* Validate inst against n, marking what is evaluated into t (may be NULL;
 * unused for scalars): 1, 0 or a limit's error. */
int dk__v_node(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t);
/* The array keywords of n on the array inst, marking evaluated items in t
 * (may be NULL): 1, 0 or a limit's error. */
int dk__v_array(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t);
/* The object keywords of n on the object inst, marking evaluated members in
 * t (may be NULL): 1, 0 or a limit's error. */
int dk__v_object(struct dk__vctx *c, const struct dk__node *n, const json_t *inst, struct dk__track *t);
/* Record an error of n's keyword kw (NULL: of n itself) at the current
 * locations, with a printf-style message; only when c collects errors. */
void dk__v_error(struct dk__vctx *c, const struct dk__node *n, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Drop (and free) the errors recorded after the first `mark`. */
void dk__v_truncate_errors(struct dk__vctx *c, size_t mark);
/* A short rendering of v for a message, in b (reset first). */
const char *dk__v_show(struct dk_buf *b, const json_t *v);
/* The nesting limit was hit at n's kw: records that when collecting;
 * returns DK_ETOOBIG. */
int dk__v_too_deep(struct dk__vctx *c, const struct dk__node *n, const char *kw);
/* A subschema of n's kw evaluated without error collection hit a limit:
 * records that when collecting; returns DK_ETOOBIG. */
int dk__v_gave_up(struct dk__vctx *c, const struct dk__node *n, const char *kw);
/* Record n's "type" failure: the types it allows and the type of v. */
void dk__v_type_error(struct dk__vctx *c, const struct dk__node *n, const json_t *v);
/* Record the false schema n's failure; hint (HINT_* of validate.h) names
 * what it rejects: a property or name (key, klen), an item (index klen). */
void dk__v_false_error(struct dk__vctx *c, const struct dk__node *n, int hint, const char *key, size_t klen);

/* --- the ECMA-262 regex translator (regex.c, regex_class.c) -------------- */

struct dk__lookbehind;

struct dk__re_gname {
  char *name;
  unsigned group;
};

/* The state of one translation of a pattern into PCRE2 syntax. */
struct dk__re_tr {
  const char *pat, *p, *end;
  struct dk_buf out;
  char *err;
  int failed;
  unsigned ngroups;     /* capturing groups in the whole pattern (pre-pass) */
  unsigned group_no;    /* capturing groups opened so far */
  struct dk__re_gname *names;
  size_t nnames;
  unsigned flags;
  int depth;
  int lb_callout;       /* lookbehinds as callouts (second attempt) */
  unsigned ref_min, ref_max; /* backreferences seen in the current lookbehind body */
  struct dk__lookbehind *lb;
  unsigned nlb;
};

/* What an escape stands for. */
enum { DK__RE_CP, DK__RE_SET, DK__RE_REF };

struct dk__re_esc {
  int kind;
  uint32_t cp;       /* DK__RE_CP */
  struct dk_buf set; /* DK__RE_SET: class items in PCRE2 syntax */
  unsigned ref;      /* DK__RE_REF */
};

/* Decode one UTF-8 character (the pattern was validated beforehand). */
static inline uint32_t dk__re_next_cp(const char **pp, const char *end) { return dk_utf8_next(pp, end); }
static inline int dk__re_is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

/* Fail the translation (first failure only) with the offset of `at` and a
 * message in t->err: returns -1. */
int dk__re_fail(struct dk__re_tr *t, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Write a literal code point (never a surrogate) in PCRE2 syntax to b. */
void dk__re_emit_cp(struct dk_buf *b, uint32_t cp);
/* A group name after "(?<" or "\k<", up to and including ">", advancing *pp:
 * the name (UTF-8, caller frees), or NULL with *why saying what is wrong. */
char *dk__re_group_name(const char **pp, const char *end, const char **why);
/* An escape after the backslash (t->p past it), in an atom or, with
 * in_class, in a class, into *e (e->set to free): 0 or -1 (failed). */
int dk__re_escape(struct dk__re_tr *t, int in_class, struct dk__re_esc *e);
/* A class [...] after the "[", written to t->out: 0 or -1 (failed). */
int dk__re_class(struct dk__re_tr *t);

/* --- format checks (format.c, format_net.c) ----------------------------- */

static inline int dk__is_digit(int c) { return c >= '0' && c <= '9'; }
static inline int dk__is_hex(int c) { return dk__is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* The checks of format_net.c on len bytes of valid UTF-8 at s: 1 valid, 0 not. */
/* "ipv4": a dotted quad without leading zeros. */
int dk__format_ipv4(const char *s, size_t len);
/* "ipv6": RFC 4291 section 2.2 text, without zone ids. */
int dk__format_ipv6(const char *s, size_t len);
/* "hostname" (RFC 1123), or with idn "idn-hostname" (IDNA2008). */
int dk__format_hostname(const char *s, size_t len, int idn);
/* "email" (RFC 5321 Mailbox), or with idn "idn-email" (RFC 6531). */
int dk__format_email(const char *s, size_t len, int idn);
/* "uri" (RFC 3986), with ref "uri-reference", with iri the RFC 3987 forms. */
int dk__format_uri(const char *s, size_t len, int iri, int ref);
/* "uri-template": RFC 6570 level 4 syntax. */
int dk__format_uri_template(const char *s, size_t len);

#endif

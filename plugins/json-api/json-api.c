/* json-api: records from a JSON API.
 *
 * A payload that already is canonical records (an array, or an object with a
 * "records" array) is taken as it is. `options.records` (a JSON Pointer)
 * names where the array sits in another shape; `options.map` builds each
 * record from the source's own fields (canonical field -> JSON Pointer into
 * the item) plus `options.constants`. Pagination: `options.next` (a JSON
 * Pointer to the next page's URL in the body), `options.link_header` (follow
 * `Link: <…>; rel="next"`), or `options.page_param` (page=1, 2, … until a page
 * brings no items). An HTML page (a login form in front of the API) is
 * refused before parsing, see common/content_type.h.
 *
 * In a core that offers emit->held, items taken as served go through the
 * scanner of scan.h instead of one parse of the whole body: an item the core
 * already holds, byte for byte, is never parsed. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <duikou/plugin.h>

#include "common/content_type.h"
#include "common/json_numbers.h"
#include "scan.h"

struct jsonapi {
  char *records; /* JSON Pointer of the record array, or NULL */
  json_t *map;   /* canonical field -> JSON Pointer, or NULL */
  json_t *constants;
  char *next;    /* JSON Pointer of the next page's URL, or NULL */
  int link_header;
  char *page_param;
  json_t *content_types; /* allow-list, or NULL: all but HTML */
  char *deleted;        /* JSON Pointer into an item: a true value or a reason makes it a tombstone */
  char *deleted_reason; /* JSON Pointer of the reason, or NULL */
};

static const char options_schema[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\", \"additionalProperties\": false,"
    " \"$defs\": {\"pointer\": {\"type\": \"string\", \"pattern\": \"^(/.*)?$\"}},"
    " \"properties\": {"
    "  \"records\": {\"$ref\": \"#/$defs/pointer\","
    "               \"description\": \"JSON Pointer of the array of records in the response\"},"
    "  \"map\": {\"type\": \"object\", \"additionalProperties\": {\"$ref\": \"#/$defs/pointer\"},"
    "           \"description\": \"canonical field -> JSON Pointer into each item\"},"
    "  \"constants\": {\"type\": \"object\", \"description\": \"fields set on every record\"},"
    "  \"next\": {\"$ref\": \"#/$defs/pointer\", \"description\": \"JSON Pointer of the next page URL\"},"
    "  \"link_header\": {\"type\": \"boolean\", \"description\": \"follow Link: rel=next\"},"
    "  \"page_param\": {\"type\": \"string\", \"pattern\": \"^[A-Za-z0-9_.-]+$\","
    "                  \"description\": \"query parameter numbering the pages\"},"
    "  \"deleted\": {\"$ref\": \"#/$defs/pointer\","
    "               \"description\": \"an item whose value here is true or a non-empty string is a tombstone\"},"
    "  \"deleted_reason\": {\"$ref\": \"#/$defs/pointer\", \"description\": \"the tombstone's reason\"},"
    "  " DK_CT_OPTION_SCHEMA
    " }}";

/* RFC 6901: resolve a pointer in a document. Returns a borrowed value, or
 * NULL when nothing is there (or the pointer is malformed). */
static json_t *jsonapi_pointer(json_t *doc, const char *ptr) {
  if (ptr == NULL || *ptr == '\0') return doc;
  if (*ptr != '/') return NULL;
  /* a token is never longer than the pointer */
  char small[256], *tok = strlen(ptr) <= sizeof small ? small : malloc(strlen(ptr));
  if (tok == NULL) return NULL;
  json_t *cur = doc;
  const char *p = ptr + 1;
  for (;;) {
    size_t n = 0;
    while (*p && *p != '/') {
      if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
        tok[n++] = p[1] == '0' ? '~' : '/';
        p += 2;
      } else if (p[0] == '~') {
        cur = NULL; /* "~" must be followed by 0 or 1 */
        break;
      } else tok[n++] = *p++;
    }
    tok[n] = '\0';
    if (cur == NULL) break;
    if (json_is_object(cur)) cur = json_object_get(cur, tok);
    else if (json_is_array(cur)) {
      /* an index is "0" or digits without a leading zero */
      bool index = n > 0 && strspn(tok, "0123456789") == n && (n == 1 || tok[0] != '0');
      cur = index ? json_array_get(cur, strtoul(tok, NULL, 10)) : NULL;
    } else cur = NULL;
    if (cur == NULL || *p != '/') break;
    p++;
  }
  if (tok != small) free(tok);
  return cur;
}

static void jsonapi_fini(void *state) {
  struct jsonapi *j = state;
  json_decref(j->map);
  json_decref(j->constants);
  json_decref(j->content_types);
  free(j->next);
  free(j->page_param);
  free(j->records);
  free(j->deleted);
  free(j->deleted_reason);
  free(j);
}

static int jsonapi_init(void **state, const struct dk_source *src, char *err, size_t errlen) {
  struct jsonapi *j = calloc(1, sizeof *j);
  if (j == NULL) {
    snprintf(err, errlen, "out of memory");
    return DK_ENOMEM;
  }
  const char *rec = json_string_value(json_object_get(src->options, "records"));
  if (rec && *rec && *rec != '/') {
    snprintf(err, errlen, "options.records: \"%s\" is not a JSON Pointer (it must start with '/')", rec);
    free(j);
    return DK_ECONFIG;
  }
  const char *next = json_string_value(json_object_get(src->options, "next"));
  const char *pp = json_string_value(json_object_get(src->options, "page_param"));
  j->records = rec ? strdup(rec) : NULL;
  j->next = next ? strdup(next) : NULL;
  j->page_param = pp ? strdup(pp) : NULL;
  j->map = json_incref(json_object_get(src->options, "map"));
  j->constants = json_incref(json_object_get(src->options, "constants"));
  j->content_types = json_incref(json_object_get(src->options, "content_types"));
  j->link_header = json_is_true(json_object_get(src->options, "link_header"));
  const char *del = json_string_value(json_object_get(src->options, "deleted"));
  const char *delr = json_string_value(json_object_get(src->options, "deleted_reason"));
  j->deleted = del ? strdup(del) : NULL;
  j->deleted_reason = delr ? strdup(delr) : NULL;
  if ((rec && !j->records) || (next && !j->next) || (pp && !j->page_param) || (del && !j->deleted) ||
      (delr && !j->deleted_reason)) {
    snprintf(err, errlen, "out of memory");
    jsonapi_fini(j);
    return DK_ENOMEM;
  }
  *state = j;
  return 0;
}

/* Build a record from a source item through the map. New reference, or NULL
 * when out of memory. The constants are copied: records outlive the parse,
 * and must not share values with the source's options. */
static json_t *jsonapi_map(struct jsonapi *j, json_t *item) {
  json_t *rec = json_object();
  const char *field;
  json_t *ptr;
  json_object_foreach(j->map, field, ptr) {
    json_t *v = jsonapi_pointer(item, json_string_value(ptr));
    if (v && rec && json_object_set(rec, field, v) != 0) json_decref(rec), rec = NULL;
  }
  json_object_foreach(j->constants, field, ptr)
    if (rec && json_object_set_new(rec, field, json_deep_copy(ptr)) != 0) json_decref(rec), rec = NULL;
  return rec;
}

static bool jsonapi_is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* Does the rel value [v, v+n) list the relation type "next"? (A space
 * separated list; relation types are case-insensitive.) */
static bool jsonapi_rel_has_next(const char *v, size_t n) {
  for (size_t i = 0; i < n;) {
    while (i < n && jsonapi_is_blank(v[i])) i++;
    size_t w = i;
    while (i < n && !jsonapi_is_blank(v[i])) i++;
    if (i - w == 4 && (v[w] | 0x20) == 'n' && (v[w + 1] | 0x20) == 'e' && (v[w + 2] | 0x20) == 'x' &&
        (v[w + 3] | 0x20) == 't')
      return true;
  }
  return false;
}

/* The target of the first rel="next" link of a Link header value (RFC 8288:
 * `<url>; rel="next", <url>; rel=prev`), malloc'd, or NULL. */
static char *jsonapi_link_next(const char *p) {
  for (;;) {
    while (jsonapi_is_blank(*p) || *p == ',') p++;
    if (*p == '\0') return NULL;
    if (*p != '<') { /* not a link-value: skip to the next comma */
      p += strcspn(p, ",");
      continue;
    }
    const char *target = p + 1, *end = strchr(target, '>');
    if (end == NULL) return NULL;
    p = end + 1;
    bool next = false, seen_rel = false;
    /* link-params up to the comma ending this link-value */
    while (*p && *p != ',') {
      if (*p != ';') {
        p++;
        continue;
      }
      p++;
      while (jsonapi_is_blank(*p)) p++;
      const char *name = p;
      p += strcspn(p, "=;, \t");
      size_t nlen = (size_t)(p - name);
      while (jsonapi_is_blank(*p)) p++;
      const char *val = p;
      size_t vlen = 0;
      if (*p == '=') {
        p++;
        while (jsonapi_is_blank(*p)) p++;
        if (*p == '"') {
          val = ++p;
          while (*p && *p != '"') p += (p[0] == '\\' && p[1]) ? 2 : 1;
          vlen = (size_t)(p - val);
          if (*p == '"') p++;
        } else {
          val = p;
          p += strcspn(p, ";, \t");
          vlen = (size_t)(p - val);
        }
      }
      /* only the first rel of a link counts (RFC 8288 3.3) */
      if (nlen == 3 && (name[0] | 0x20) == 'r' && (name[1] | 0x20) == 'e' && (name[2] | 0x20) == 'l' && !seen_rel) {
        seen_rel = true;
        next = jsonapi_rel_has_next(val, vlen);
      }
    }
    if (next) {
      size_t n = (size_t)(end - target);
      while (n > 0 && jsonapi_is_blank(target[n - 1])) n--;
      while (n > 0 && jsonapi_is_blank(*target)) target++, n--;
      char *u = malloc(n + 1);
      if (u) {
        memcpy(u, target, n);
        u[n] = '\0';
      }
      return u;
    }
  }
}

/* The URL of page `page`: `url` with its fragment dropped and every `param`
 * of its query removed, then param=page appended. Malloc'd, or NULL. */
static char *jsonapi_page_url(const char *url, const char *param, unsigned page) {
  size_t n = strcspn(url, "#"), pl = strlen(param), cap = n + pl + 16;
  char *out = malloc(cap);
  if (out == NULL) return NULL;
  const char *q = memchr(url, '?', n);
  size_t o = q ? (size_t)(q - url) : n;
  memcpy(out, url, o);
  char sep = '?';
  for (const char *p = q ? q + 1 : url + n, *end = url + n; p < end;) {
    size_t len = strcspn(p, "&#"); /* stops at end: that is a '#' or the NUL */
    bool same = len >= pl && memcmp(p, param, pl) == 0 && (len == pl || p[pl] == '=');
    if (len > 0 && !same) {
      out[o++] = sep;
      memcpy(out + o, p, len);
      o += len;
      sep = '&';
    }
    p += len;
    if (p < end) p++; /* the '&' */
  }
  snprintf(out + o, cap - o, "%c%s=%u", sep, param, page);
  return out;
}

/* The length of the scheme of `url` (RFC 3986: a letter, then letters,
 * digits, "+", "-" or ".", then ':'), or 0 when it has none. */
static size_t jsonapi_scheme_len(const char *url) {
  size_t n = strspn(url, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.");
  return n > 0 && url[n] == ':' && ((url[0] | 0x20) >= 'a' && (url[0] | 0x20) <= 'z') ? n : 0;
}

static bool jsonapi_is_http(const char *url) {
  size_t n = jsonapi_scheme_len(url);
  return (n == 4 && strncasecmp(url, "http", 4) == 0) || (n == 5 && strncasecmp(url, "https", 5) == 0);
}

/* May a page from `base` send us on to `url`? Only to the same scheme, or
 * between http and https: the body is the server's to write, and a
 * "file:///..." in it must not make the core read local files. */
static bool jsonapi_same_scheme(const char *base, const char *url) {
  if (jsonapi_is_http(base) && jsonapi_is_http(url)) return true;
  size_t n = jsonapi_scheme_len(base);
  return n > 0 && n == jsonapi_scheme_len(url) && strncasecmp(base, url, n) == 0;
}

/* `ref` made absolute against `base` by the core (resolve_url), into *out
 * (malloc'd; NULL when it does not resolve, which is logged). A core without
 * resolve_url still takes an absolute ref as it is; a relative one is
 * refused then: a round cut short at page 1 would pass for the whole
 * listing. Returns false, with emit->fail called, when the next page must
 * not be followed. */
static bool jsonapi_resolve(struct dk_emit *emit, const char *base, const char *ref, char **out) {
  const char *next = ref;
  *out = NULL;
  if (DK_EMIT_HAS(emit, resolve_url) && emit->resolve_url) {
    next = emit->resolve_url(emit, base, ref);
    if (next == NULL) {
      emit->log(emit, DK_LOG_WARN, "cannot resolve the next page %s against \"%s\"", ref, base);
      return true;
    }
  } else if (jsonapi_scheme_len(ref) == 0) {
    emit->fail(emit, "the next page %s is relative, and this duikou cannot resolve URLs for plugins "
               "(no resolve_url): upgrade duikou", ref);
    return false;
  }
  if (!jsonapi_same_scheme(base, next)) {
    emit->fail(emit, "the next page %s would leave %s for another scheme; refused", ref, base);
    return false;
  }
  if ((*out = strdup(next)) == NULL) {
    emit->fail(emit, "out of memory");
    return false;
  }
  return true;
}

/* The URL of the page after this one, as the options say, into *out
 * (malloc'd; NULL when there is none). `v` is what options.next names in
 * the body (NULL: nothing), `items` how many items this page brought.
 * Returns false, with emit->fail called, when the page names a URL it must
 * not lead to. */
static bool jsonapi_next_url(struct jsonapi *j, json_t *v, size_t items, const struct dk_response *resp,
                             struct dk_emit *emit, char **out) {
  const char *ref = NULL;
  char *link = NULL;
  *out = NULL;
  if (j->next) {
    ref = json_string_value(v);
    if (v && !ref && !json_is_null(v))
      emit->log(emit, DK_LOG_WARN, "options.next: %s is not a string; no next page", j->next);
  } else if (j->link_header) {
    const char *h = resp->header ? resp->header(resp, "Link") : NULL;
    ref = link = h ? jsonapi_link_next(h) : NULL;
  } else if (j->page_param && items > 0 && resp->url) {
    *out = jsonapi_page_url(resp->url, j->page_param, resp->page + 1);
    return true;
  }
  bool ok = true;
  if (ref && *ref) ok = jsonapi_resolve(emit, resp->url ? resp->url : "", ref, out);
  free(link);
  return ok;
}

/* The body without a UTF-8 byte order mark (RFC 8259 8.1 allows one). */
static const char *jsonapi_body(const struct dk_response *resp, size_t *len) {
  *len = resp->body_len;
  if (*len >= 3 && memcmp(resp->body, "\xEF\xBB\xBF", 3) == 0) {
    *len -= 3;
    return resp->body + 3;
  }
  return resp->body;
}

/* The JSON text s (len bytes, any value) parsed, a number jansson cannot
 * hold marked for the core to refuse its record; or NULL with *jerr. */
static json_t *jsonapi_loadb(const char *s, size_t len, json_error_t *jerr) {
  json_t *v = json_loadb(s, len, JSON_DECODE_ANY, jerr);
  if (v == NULL && json_error_code(jerr) == json_error_numeric_overflow) {
    /* one number too large must fail its record, not the page */
    size_t mlen;
    char *marked = dk_json_mark_numbers(s, len, &mlen);
    if (marked) v = json_loadb(marked, mlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, jerr);
    free(marked);
  }
  return v;
}

/* The body as JSON, or NULL after emit->fail. */
static json_t *jsonapi_load(const struct dk_response *resp, struct dk_emit *emit) {
  size_t len;
  const char *body = jsonapi_body(resp, &len);
  json_error_t jerr;
  json_t *doc = jsonapi_loadb(body, len, &jerr);
  if (doc == NULL)
    emit->fail(emit, "response is not JSON: %s at line %d, column %d", jerr.text, jerr.line, jerr.column);
  return doc;
}

/* An item that says its record is gone: a tombstone, or a refusal when
 * this core takes none or the item has no valid kind and id. */
static void jsonapi_tombstone(struct jsonapi *j, json_t *item, json_t *rec, json_t *dv, const char *where,
                              struct dk_emit *emit) {
  json_t *rv = j->deleted_reason ? jsonapi_pointer(item, j->deleted_reason) : NULL;
  const char *reason = json_is_string(rv) ? json_string_value(rv) : json_is_string(dv) ? json_string_value(dv) : NULL;
  const char *kind = json_string_value(json_object_get(rec, "kind"));
  const char *id = json_string_value(json_object_get(rec, "id"));
  const char *why = NULL;
  if (!DK_EMIT_HAS(emit, tombstone) || emit->tombstone == NULL)
    why = "a deleted item cannot be passed on: this duikou takes no tombstones (upgrade duikou)";
  else if (kind == NULL || id == NULL || emit->tombstone(emit, kind, id, reason) != 0)
    why = "a deleted item needs a valid kind and id";
  if (why) {
    char *raw = json_dumps(item, JSON_COMPACT);
    emit->reject(emit, where, raw ? raw : "", "%s", why);
    free(raw);
  }
}

/* One item at `where`: a record, a tombstone, or a refusal. Returns 0, or
 * -1 after emit->fail (the page stops). */
static int jsonapi_item(struct jsonapi *j, json_t *item, const char *where, struct dk_emit *emit) {
  if (!json_is_object(item)) {
    char *raw = json_dumps(item, JSON_ENCODE_ANY | JSON_COMPACT);
    emit->reject(emit, where, raw ? raw : "", "a record must be a JSON object");
    free(raw);
    return 0;
  }
  json_t *rec = j->map ? jsonapi_map(j, item) : json_incref(item);
  if (rec == NULL) {
    emit->fail(emit, "%s: out of memory", where);
    return -1;
  }
  json_t *dv = j->deleted ? jsonapi_pointer(item, j->deleted) : NULL;
  if (json_is_true(dv) || (json_is_string(dv) && json_string_length(dv) > 0)) {
    jsonapi_tombstone(j, item, rec, dv, where, emit);
    json_decref(rec);
    return 0;
  }
  int rc = emit->record(emit, rec);
  if (rc != 0) {
    emit->fail(emit, "%s: the record was refused (%d); stopping", where, rc);
    return -1;
  }
  return 0;
}

/* Whether the item s[e] may be offered to emit->held: an object that
 * becomes its record as it is (no map), and not a deleted item (which is a
 * tombstone whatever the core holds). */
static bool jsonapi_holdable(struct jsonapi *j, const char *s, struct dk_jscan_span e) {
  if (j->map || s[e.off] != '{') return false;
  if (j->deleted == NULL) return true;
  struct dk_jscan_span dv;
  switch (dk_jscan_pointer(s + e.off, e.len, j->deleted, &dv)) {
  case DK_JSCAN_ABSENT:
    return true;
  case DK_JSCAN_FOUND: {
    /* jsonapi_item's test on the text: true, or a string that is not "" */
    char c = s[e.off + dv.off];
    return !(c == 't' || (c == '"' && dv.len > 2));
  }
  default:
    return false;
  }
}

/* The checked item body[e] (the i-th of the array at `at`): held, or
 * parsed and emitted (where: a buffer of wlen bytes for its place).
 * DK_OK or DK_ERROR. */
static enum dk_result jsonapi_take(struct jsonapi *j, const char *body, struct dk_jscan_span e, const char *at,
                                   size_t i, char *where, size_t wlen, struct dk_emit *emit) {
  if (jsonapi_holdable(j, body, e) && emit->held(emit, body + e.off, e.len) == 1) return DK_OK;
  snprintf(where, wlen, "%s/%zu", at, i);
  json_error_t jerr;
  enum dk_result res = DK_OK;
  json_t *item = jsonapi_loadb(body + e.off, e.len, &jerr);
  if (item == NULL) { /* the scanner took what jansson refuses: a bug, but no reason to guess */
    emit->fail(emit, "%s: cannot parse the item: %s", where, jerr.text);
    res = DK_ERROR;
  } else if (jsonapi_item(j, item, where, emit) != 0) res = DK_ERROR;
  json_decref(item);
  return res;
}

/* One item of a page walked against the previous one: its bytes, and the
 * previous item it is (or -1: scanned, to be parsed unless held). */
struct jsonapi_step {
  size_t off, len;
  long prev;
};

static bool jsonapi_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* How many previous items ahead an item is looked for: an item changed in
 * place, one inserted or one removed keeps the walk in step. Past two
 * items in a row found there, the rest are looked up in a table of the
 * previous items (a run of them removed, the order changed). */
#define JSONAPI_LOOKAHEAD 3

/* A cheap fingerprint of an item: its length and a few of its bytes (the
 * start, where ids are, the middle and the end); equal items have equal
 * ones, and a lookup compares the bytes. */
static uint64_t jsonapi_fp(const char *s, size_t n) {
  uint64_t h = 1469598103934665603u ^ n;
  size_t parts[3][2] = {{0, n < 64 ? n : 64}, {n / 2, n / 2 + 16 <= n ? 16 : 0}, {n >= 16 ? n - 16 : 0, n >= 16 ? 16 : 0}};
  for (int k = 0; k < 3; k++)
    for (size_t i = parts[k][0]; i < parts[k][0] + parts[k][1]; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
  return h;
}

struct jsonapi_ptab {
  size_t cap;  /* a power of two; 0 until made */
  size_t *slot; /* previous item + 1, 0 free */
};

/* The previous item equal to s (n bytes), or -1; the table is made on
 * first use. */
static long jsonapi_ptab_find(struct jsonapi_ptab *t, struct dk_emit *emit, const char *s, size_t n) {
  size_t tl;
  const char *tx;
  if (t->cap == 0) {
    size_t count = 0;
    while (emit->previous_item(emit, count, &tl)) count++;
    for (t->cap = 16; t->cap < 2 * count;) t->cap *= 2;
    if ((t->slot = calloc(t->cap, sizeof *t->slot)) == NULL) {
      t->cap = 0;
      return -1;
    }
    for (size_t c = 0; c < count; c++) {
      tx = emit->previous_item(emit, c, &tl);
      size_t i = jsonapi_fp(tx, tl) & (t->cap - 1);
      while (t->slot[i]) i = (i + 1) & (t->cap - 1);
      t->slot[i] = c + 1;
    }
  }
  for (size_t i = jsonapi_fp(s, n) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1)) {
    tx = emit->previous_item(emit, t->slot[i] - 1, &tl);
    if (tl == n && memcmp(tx, s, n) == 0) return (long)(t->slot[i] - 1);
  }
  return -1;
}

/* The page against the previous one at its URL (emit->previous): when the
 * text around the items is the same, each item equal to the previous
 * page's next few is that record again, without a scan; the others are
 * checked alone, then held or parsed. Returns DK_OK or DK_ERROR as
 * jsonapi_parse, or -1, having emitted nothing, when the page must be
 * walked whole (no previous page, other text around the items, an item
 * that is not JSON). Items taken as served only, and no `next` pointer
 * (its value would have to be found in the body). */
static int jsonapi_parse_delta(struct jsonapi *j, const struct dk_response *resp, struct dk_emit *emit) {
  if (!DK_EMIT_HAS(emit, held_previous) || !emit->previous || !emit->previous_item || !emit->held_previous ||
      !emit->region || j->next || j->map)
    return -1;
  size_t plen, pfirst, pend;
  const char *prev = emit->previous(emit, &plen, &pfirst, &pend);
  if (prev == NULL) return -1;
  const char *body = resp->body;
  size_t len = resp->body_len, suffix = plen - pend;
  if (len < pfirst + suffix || memcmp(body, prev, pfirst) != 0 || memcmp(body + len - suffix, prev + pend, suffix) != 0)
    return -1;
  size_t end = len - suffix, p = pfirst, n = 0, cap = 0, k = 0, misses = 0;
  struct jsonapi_step *steps = NULL;
  struct jsonapi_ptab tab = {0};
  while (p < end && jsonapi_ws(body[p])) p++;
  while (p < end) {
    long match = -1;
    size_t elen = 0;
    for (size_t c = k; c < k + JSONAPI_LOOKAHEAD && match < 0; c++) {
      size_t tl;
      const char *t = emit->previous_item(emit, c, &tl);
      if (t == NULL) break;
      if (tl == 0 || tl > end - p || memcmp(body + p, t, tl) != 0) continue;
      size_t q = p + tl;
      while (q < end && jsonapi_ws(body[q])) q++;
      if (q == end || body[q] == ',') match = (long)c, elen = tl; /* "1" is not where "12" is */
    }
    if (match < 0) {
      if ((elen = dk_jscan_value(body + p, end - p)) == 0) goto whole;
      if (++misses >= 2) match = jsonapi_ptab_find(&tab, emit, body + p, elen);
    }
    if (match >= 0) k = (size_t)match + 1, misses = 0;
    if (n == cap) {
      cap = cap ? 2 * cap : 1024;
      struct jsonapi_step *s = realloc(steps, cap * sizeof *s);
      if (s == NULL) goto whole;
      steps = s;
    }
    steps[n++] = (struct jsonapi_step){p, elen, match};
    p += elen;
    while (p < end && jsonapi_ws(body[p])) p++;
    if (p == end) break;
    if (body[p] != ',') goto whole;
    for (p++; p < end && jsonapi_ws(body[p]); p++) {}
    if (p == end) goto whole; /* a comma after the last item */
  }
  free(tab.slot);
  emit->region(emit, body + pfirst, body + end);
  /* as jsonapi_parse has it: the text before the items is the previous
   * page's, which the scanner took */
  size_t lead;
  const char *doc = jsonapi_body(resp, &lead);
  while (lead > 0 && jsonapi_ws(*doc)) doc++, lead--;
  const char *at = j->records ? j->records : *doc == '[' ? "" : "/records";
  size_t wlen = strlen(at) + 24;
  char *where = malloc(wlen), *next = NULL;
  enum dk_result res = where ? DK_OK : DK_ERROR;
  if (where == NULL) emit->fail(emit, "out of memory");
  for (size_t i = 0; res == DK_OK && i < n; i++) {
    struct dk_jscan_span e = {steps[i].off, steps[i].len};
    if (steps[i].prev >= 0) {
      if (emit->held_previous(emit, (size_t)steps[i].prev, body + e.off) == 0) continue;
      emit->fail(emit, "%s/%zu: the core refused the previous item %ld", at, i, steps[i].prev);
      res = DK_ERROR;
      break;
    }
    res = jsonapi_take(j, body, e, at, i, where, wlen, emit);
  }
  if (res == DK_OK && !jsonapi_next_url(j, NULL, n, resp, emit, &next)) res = DK_ERROR;
  if (res == DK_OK && next) emit->next_page(emit, next);
  free(next);
  free(where);
  free(steps);
  return res;
whole: /* nothing emitted yet */
  free(steps);
  free(tab.slot);
  return -1;
}

/* The page through the scanner (scan.h), asking emit->held before parsing
 * each item: DK_OK or DK_ERROR as jsonapi_parse, or -1, having emitted
 * nothing, when the scanner leaves the body to the full parse (not JSON as
 * it checks it, no array where the options say, a key it cannot compare). */
static int jsonapi_parse_fast(struct jsonapi *j, const struct dk_response *resp, struct dk_emit *emit) {
  size_t len;
  const char *body = jsonapi_body(resp, &len);
  if (!dk_jscan_check(body, len)) return -1;
  const char *at = j->records; /* as jsonapi_parse has it */
  struct dk_jscan_span arr;
  if (dk_jscan_pointer(body, len, j->records, &arr) != DK_JSCAN_FOUND) return -1;
  if (j->records == NULL) {
    at = "";
    if (body[arr.off] == '{') {
      if (dk_jscan_pointer(body, len, "/records", &arr) != DK_JSCAN_FOUND) return -1;
      at = "/records";
    }
  }
  if (body[arr.off] != '[') return -1;
  json_t *nextv = NULL;
  if (j->next) {
    struct dk_jscan_span nv;
    json_error_t jerr;
    enum dk_jscan_found f = dk_jscan_pointer(body, len, j->next, &nv);
    if (f == DK_JSCAN_UNSURE) return -1;
    if (f == DK_JSCAN_FOUND && (nextv = jsonapi_loadb(body + nv.off, nv.len, &jerr)) == NULL) return -1;
  }
  if (DK_EMIT_HAS(emit, region) && emit->region) emit->region(emit, body + arr.off + 1, body + arr.off + arr.len - 1);
  size_t wlen = strlen(at) + 24, i = 0;
  char *where = malloc(wlen), *next = NULL;
  enum dk_result res = where ? DK_OK : DK_ERROR;
  if (where == NULL) emit->fail(emit, "out of memory");
  struct dk_jscan_iter it;
  struct dk_jscan_span e;
  dk_jscan_array(&it, body, arr);
  for (; res == DK_OK && dk_jscan_next(&it, &e); i++) res = jsonapi_take(j, body, e, at, i, where, wlen, emit);
  if (res == DK_OK && !jsonapi_next_url(j, nextv, i, resp, emit, &next)) res = DK_ERROR;
  if (res == DK_OK && next) emit->next_page(emit, next);
  free(next);
  free(where);
  json_decref(nextv);
  return res;
}

static enum dk_result jsonapi_parse(void *state, const struct dk_response *resp, struct dk_emit *emit) {
  struct jsonapi *j = state;
  char msg[512];
  if (!dk_ct_accept(resp->content_type, j->content_types, "JSON", resp->body, resp->body_len, msg, sizeof msg)) {
    emit->fail(emit, "%s", msg);
    return DK_ERROR;
  }
  /* the scanner only pays where held() can spare parses: items as served */
  if (DK_EMIT_HAS(emit, held) && emit->held && j->map == NULL) {
    int fast = jsonapi_parse_delta(j, resp, emit);
    if (fast >= 0) return (enum dk_result)fast;
    fast = jsonapi_parse_fast(j, resp, emit);
    if (fast >= 0) return (enum dk_result)fast;
  }
  json_t *doc = jsonapi_load(resp, emit);
  if (doc == NULL) return DK_ERROR;
  const char *at = j->records; /* where the array sits, for messages */
  json_t *arr;
  if (j->records) arr = jsonapi_pointer(doc, j->records);
  else if (json_is_array(doc)) arr = doc, at = "";
  else arr = json_object_get(doc, "records"), at = "/records";
  if (!json_is_array(arr)) {
    emit->fail(emit, "no array of records at %s", j->records ? j->records : "the top level or /records");
    json_decref(doc);
    return DK_ERROR;
  }
  size_t wlen = strlen(at) + 24, i;
  char *where = malloc(wlen), *next = NULL;
  enum dk_result res = where ? DK_OK : DK_ERROR;
  if (where == NULL) emit->fail(emit, "out of memory");
  json_t *item;
  json_array_foreach(arr, i, item) {
    if (res != DK_OK) break;
    snprintf(where, wlen, "%s/%zu", at, i);
    if (jsonapi_item(j, item, where, emit) != 0) res = DK_ERROR;
  }
  json_t *nextv = j->next ? jsonapi_pointer(doc, j->next) : NULL;
  if (res == DK_OK && !jsonapi_next_url(j, nextv, json_array_size(arr), resp, emit, &next)) res = DK_ERROR;
  if (res == DK_OK && next) emit->next_page(emit, next);
  free(next);
  free(where);
  json_decref(doc);
  return res;
}

__attribute__((visibility("default")))
const struct dk_plugin duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(struct dk_plugin),
  .name = "json-api",
  .version = "0.1.0",
  .description = "JSON over HTTP: canonical records as served or mapped by JSON Pointers, with pagination",
  .options_schema = options_schema,
  .init = jsonapi_init,
  .prepare = NULL,
  .parse = jsonapi_parse,
  .fini = jsonapi_fini,
  .accept = "application/json, */*;q=0.1", /* prefers JSON, takes what content_types allows */
};

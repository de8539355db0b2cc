/* json-api: records from a JSON API.
 *
 * A payload that already is canonical records (an array, or an object with a
 * "records" array) is taken as it is. `options.records` (a JSON Pointer)
 * names where the array sits in another shape; `options.map` builds each
 * record from the source's own fields (canonical field -> JSON Pointer into
 * the item) plus `options.constants`. Pagination: `options.next` (a JSON
 * Pointer to the next page's URL in the body), `options.link_header` (follow
 * `Link: <…>; rel="next"`), or `options.page_param` (page=1, 2, … until a page
 * brings no records). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <duikou/plugin.h>

struct jsonapi {
  char *records; /* JSON Pointer of the record array, or NULL */
  json_t *map;   /* canonical field -> JSON Pointer, or NULL */
  json_t *constants;
  char *next;    /* JSON Pointer of the next page's URL, or NULL */
  int link_header;
  char *page_param;
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
    "                  \"description\": \"query parameter numbering the pages\"}"
    " }}";

/* RFC 6901: resolve a pointer in a document. Returns a borrowed value or NULL. */
static json_t *jsonapi_pointer(json_t *doc, const char *ptr) {
  if (ptr == NULL || *ptr == '\0') return doc;
  if (*ptr != '/') return NULL;
  json_t *cur = doc;
  const char *p = ptr + 1;
  char tok[512];
  for (;;) {
    size_t n = 0;
    while (*p && *p != '/' && n + 1 < sizeof tok) {
      if (p[0] == '~' && p[1] == '0') { tok[n++] = '~'; p += 2; }
      else if (p[0] == '~' && p[1] == '1') { tok[n++] = '/'; p += 2; }
      else tok[n++] = *p++;
    }
    tok[n] = '\0';
    if (json_is_object(cur)) cur = json_object_get(cur, tok);
    else if (json_is_array(cur)) {
      char *end;
      long i = strtol(tok, &end, 10);
      cur = (*end == '\0' && n > 0) ? json_array_get(cur, (size_t)i) : NULL;
    } else cur = NULL;
    if (cur == NULL) return NULL;
    if (*p != '/') return cur;
    p++;
  }
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
  j->records = rec ? strdup(rec) : NULL;
  j->map = json_incref(json_object_get(src->options, "map"));
  j->constants = json_incref(json_object_get(src->options, "constants"));
  const char *next = json_string_value(json_object_get(src->options, "next"));
  j->next = next ? strdup(next) : NULL;
  j->link_header = json_is_true(json_object_get(src->options, "link_header"));
  const char *pp = json_string_value(json_object_get(src->options, "page_param"));
  j->page_param = pp ? strdup(pp) : NULL;
  *state = j;
  return 0;
}

/* Build a record from a source item through the map. New reference. */
static json_t *jsonapi_map(struct jsonapi *j, json_t *item) {
  json_t *rec = json_object();
  const char *field;
  json_t *ptr;
  json_object_foreach(j->map, field, ptr) {
    json_t *v = jsonapi_pointer(item, json_string_value(ptr));
    if (v) json_object_set(rec, field, v);
  }
  json_object_foreach(j->constants, field, ptr) json_object_set(rec, field, ptr);
  return rec;
}

/* `url` made absolute against `base` (only "/path" and absolute URLs). */
static char *jsonapi_resolve(const char *base, const char *url) {
  if (strstr(url, "://")) return strdup(url);
  const char *scheme = strstr(base, "://");
  if (url[0] != '/' || scheme == NULL) return NULL;
  const char *host_end = strchr(scheme + 3, '/');
  size_t n = host_end ? (size_t)(host_end - base) : strlen(base);
  char *out = malloc(n + strlen(url) + 1);
  if (out) {
    memcpy(out, base, n);
    strcpy(out + n, url);
  }
  return out;
}

/* The rel="next" target of a Link header, or NULL (malloc'd). */
static char *jsonapi_link_next(const char *link) {
  for (const char *p = link; p && (p = strchr(p, '<')) != NULL;) {
    const char *end = strchr(p, '>');
    if (end == NULL) return NULL;
    const char *params = end + 1, *comma = strchr(params, ',');
    size_t plen = comma ? (size_t)(comma - params) : strlen(params);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)(plen < sizeof buf - 1 ? plen : sizeof buf - 1), params);
    if (strstr(buf, "rel=\"next\"") || strstr(buf, "rel=next")) {
      char *u = malloc((size_t)(end - p));
      if (u) {
        memcpy(u, p + 1, (size_t)(end - p - 1));
        u[end - p - 1] = '\0';
      }
      return u;
    }
    p = end;
  }
  return NULL;
}

/* The URL of page `page` with page_param set (replacing it when present). */
static char *jsonapi_page_url(const char *url, const char *param, unsigned page) {
  size_t n = strlen(url), pl = strlen(param);
  char *out = malloc(n + pl + 16);
  if (out == NULL) return NULL;
  const char *q = strchr(url, '?');
  size_t keep = n;
  if (q) {
    for (const char *p = q + 1; *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : p + strlen(p)) {
      if (strncmp(p, param, pl) == 0 && p[pl] == '=') {
        keep = (size_t)(p - url);
        const char *amp = strchr(p, '&');
        /* the parameter is moved to the end */
        snprintf(out, n + pl + 16, "%.*s%s%s%s=%u", (int)keep, url, amp ? amp + 1 : "", amp ? "&" : "", param, page);
        return out;
      }
      if (!strchr(p, '&')) break;
    }
  }
  snprintf(out, n + pl + 16, "%s%c%s=%u", url, q ? '&' : '?', param, page);
  return out;
}

static enum dk_result jsonapi_parse(void *state, const struct dk_response *resp, struct dk_emit *emit) {
  struct jsonapi *j = state;
  json_error_t jerr;
  json_t *doc = json_loadb(resp->body, resp->body_len, JSON_DECODE_ANY, &jerr);
  if (doc == NULL) {
    emit->fail(emit, "response is not JSON: %s at line %d, column %d", jerr.text, jerr.line, jerr.column);
    return DK_ERROR;
  }
  json_t *arr;
  if (j->records) arr = jsonapi_pointer(doc, j->records);
  else if (json_is_array(doc)) arr = doc;
  else arr = json_object_get(doc, "records");
  if (!json_is_array(arr)) {
    emit->fail(emit, "no array of records at %s", j->records ? j->records : "the top level or /records");
    json_decref(doc);
    return DK_ERROR;
  }
  size_t i, emitted = 0;
  json_t *rec;
  json_array_foreach(arr, i, rec) {
    if (!json_is_object(rec)) {
      char where[64], *raw = json_dumps(rec, JSON_ENCODE_ANY | JSON_COMPACT);
      snprintf(where, sizeof where, "%s/%zu", j->records ? j->records : "", i);
      emit->reject(emit, where, raw ? raw : "", "a record must be a JSON object");
      free(raw);
      continue;
    }
    if (emit->record(emit, j->map ? jsonapi_map(j, rec) : json_incref(rec)) != 0) {
      json_decref(doc);
      return DK_ERROR;
    }
    emitted++;
  }
  char *next = NULL;
  if (j->next) {
    const char *u = json_string_value(jsonapi_pointer(doc, j->next));
    if (u && *u) next = jsonapi_resolve(resp->url, u);
  } else if (j->link_header) {
    const char *link = resp->header(resp, "link");
    char *u = link ? jsonapi_link_next(link) : NULL;
    if (u) next = jsonapi_resolve(resp->url, u);
    free(u);
  } else if (j->page_param && emitted > 0) {
    next = jsonapi_page_url(resp->url, j->page_param, resp->page + 1);
  }
  if (next) emit->next_page(emit, next);
  free(next);
  json_decref(doc);
  return DK_OK;
}

static void jsonapi_fini(void *state) {
  struct jsonapi *j = state;
  json_decref(j->map);
  json_decref(j->constants);
  free(j->next);
  free(j->page_param);
  free(j->records);
  free(j);
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
};

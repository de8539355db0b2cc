/* json-api: records from a JSON API.
 *
 * A payload that already is canonical records (an array, or an object with a
 * "records" array) is taken as it is. `options.records` (a JSON Pointer)
 * names where the array sits in another shape. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <duikou/plugin.h>

struct jsonapi {
  char *records; /* JSON Pointer of the record array, or NULL */
};

static const char options_schema[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\", \"additionalProperties\": false,"
    " \"properties\": {"
    "  \"records\": {\"type\": \"string\", \"pattern\": \"^(/.*)?$\","
    "               \"description\": \"JSON Pointer of the array of records in the response\"}"
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
  *state = j;
  return 0;
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
  size_t i;
  json_t *rec;
  json_array_foreach(arr, i, rec) {
    if (!json_is_object(rec)) {
      char where[64], *raw = json_dumps(rec, JSON_ENCODE_ANY | JSON_COMPACT);
      snprintf(where, sizeof where, "%s/%zu", j->records ? j->records : "", i);
      emit->reject(emit, where, raw ? raw : "", "a record must be a JSON object");
      free(raw);
      continue;
    }
    if (emit->record(emit, json_incref(rec)) != 0) {
      json_decref(doc);
      return DK_ERROR;
    }
  }
  json_decref(doc);
  return DK_OK;
}

static void jsonapi_fini(void *state) {
  struct jsonapi *j = state;
  free(j->records);
  free(j);
}

__attribute__((visibility("default")))
const struct dk_plugin duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(struct dk_plugin),
  .name = "json-api",
  .version = "0.1.0",
  .description = "JSON over HTTP: canonical records as served, or found by a JSON Pointer",
  .options_schema = options_schema,
  .init = jsonapi_init,
  .prepare = NULL,
  .parse = jsonapi_parse,
  .fini = jsonapi_fini,
};

/* A duikou plugin built out of tree: copy this folder, rename, and fill in
 * parse(). It reads "key=value" lines ("id=jnly-2024/12", "title=…") into one
 * task record per blank-line-separated block, to show the whole contract:
 * options with a schema, init/parse/fini, records, rejects, failures, and a
 * member appended to the ABI (tombstone) used only once DK_EMIT_HAS says the
 * core has it. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <duikou/plugin.h>

struct template_state {
  char *plan;
};

static const char options_schema[] =
    "{\"type\": \"object\", \"additionalProperties\": false,"
    " \"properties\": {\"plan\": {\"type\": \"string\", \"pattern\": \"^[a-z0-9][a-z0-9._-]*$\"}}}";

static int template_init(void **state, const struct dk_source *src, char *err, size_t errlen) {
  struct template_state *t = calloc(1, sizeof *t);
  if (t == NULL) {
    snprintf(err, errlen, "out of memory");
    return DK_ENOMEM;
  }
  const char *plan = json_string_value(json_object_get(src->options, "plan"));
  t->plan = strdup(plan ? plan : "jnly-2024");
  *state = t;
  return 0;
}

/* A block with "deleted=REASON" says the task is gone. tombstone was
 * appended to struct dk_emit after its base: ask whether this duikou has it
 * (DK_EMIT_HAS), and refuse the block when it has not. */
static void tombstone(struct template_state *t, json_t *rec, struct dk_emit *emit, unsigned line) {
  const char *id = json_string_value(json_object_get(rec, "id"));
  const char *why = json_string_value(json_object_get(rec, "deleted"));
  char where[32];
  snprintf(where, sizeof where, "line %u", line);
  if (!DK_EMIT_HAS(emit, tombstone) || emit->tombstone == NULL)
    emit->reject(emit, where, id ? id : "", "this duikou takes no tombstones: upgrade it");
  else if (id == NULL || emit->tombstone(emit, "task", id, why) != 0)
    emit->reject(emit, where, id ? id : "", "a deleted block needs a valid id=");
  json_decref(rec);
}

static void flush(struct template_state *t, json_t **rec, struct dk_emit *emit, unsigned line) {
  if (*rec == NULL) return;
  if (json_object_get(*rec, "deleted") != NULL) {
    tombstone(t, *rec, emit, line);
  } else if (json_object_get(*rec, "id") == NULL || json_object_get(*rec, "title") == NULL) {
    char where[32], *raw = json_dumps(*rec, JSON_COMPACT);
    snprintf(where, sizeof where, "line %u", line);
    emit->reject(emit, where, raw ? raw : "", "a block needs id= and title=");
    free(raw);
    json_decref(*rec);
  } else {
    const char *id = json_string_value(json_object_get(*rec, "id"));
    const char *slash = strrchr(id, '/');
    json_object_set_new(*rec, "kind", json_string("task"));
    json_object_set_new(*rec, "plan", json_string(t->plan));
    json_object_set_new(*rec, "number", json_integer(slash ? atoi(slash + 1) : 0));
    emit->record(emit, *rec);
  }
  *rec = NULL;
}

static enum dk_result template_parse(void *state, const struct dk_response *resp, struct dk_emit *emit) {
  struct template_state *t = state;
  json_t *rec = NULL;
  unsigned line = 0, start = 0;
  const char *p = resp->body, *end = resp->body + resp->body_len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    line++;
    const char *eq = memchr(p, '=', len);
    if (len == 0) {
      flush(t, &rec, emit, start);
    } else if (eq == NULL) {
      json_decref(rec);
      emit->fail(emit, "line %u: expected key=value", line);
      return DK_ERROR;
    } else {
      if (rec == NULL) {
        rec = json_object();
        start = line;
      }
      char key[64];
      snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
      json_object_set_new(rec, key, json_stringn(eq + 1, len - (size_t)(eq - p) - 1));
    }
    p += len + 1;
  }
  flush(t, &rec, emit, start);
  return DK_OK;
}

static void template_fini(void *state) {
  struct template_state *t = state;
  free(t->plan);
  free(t);
}

__attribute__((visibility("default")))
const struct dk_plugin duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(struct dk_plugin),
  .name = "template",
  .version = "0.1.0",
  .description = "Example out-of-tree plugin: key=value blocks to task records",
  .options_schema = options_schema,
  .init = template_init,
  .parse = template_parse,
  .fini = template_fini,
  .accept = "text/plain", /* appended after the base: an older duikou never reads it */
};

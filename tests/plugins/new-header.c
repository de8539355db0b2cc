/* A plugin built as if against a header newer than this core's: its struct
 * dk_plugin and struct dk_emit each have a member this core has never heard
 * of. The core must take it (ignoring the tail of its struct); the plugin
 * asks DK_EMIT_HAS before it calls anything past the base, and emits one
 * record saying what it found: {"kind": "probe", "tombstone": bool,
 * "resolve_url": bool, "future": bool, "resolved": URL or null}. Items it
 * would have made tombstones are rejected when the core takes none. */
#include <string.h>
#include <duikou/plugin.h>

struct dk_emit_future; /* struct dk_emit as a later header would have it */
struct dk_emit_future {
  uint32_t size;
  int (*record)(struct dk_emit_future *emit, json_t *record);
  void (*reject)(struct dk_emit_future *emit, const char *where, const char *raw, const char *fmt, ...)
      __attribute__((format(printf, 4, 5)));
  void (*next_page)(struct dk_emit_future *emit, const char *url);
  void (*fail)(struct dk_emit_future *emit, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
  void (*log)(struct dk_emit_future *emit, enum dk_log_level level, const char *fmt, ...)
      __attribute__((format(printf, 3, 4)));
  int (*tombstone)(struct dk_emit_future *emit, const char *kind, const char *id, const char *reason);
  const char *(*resolve_url)(struct dk_emit_future *emit, const char *base, const char *ref);
  int (*held)(struct dk_emit_future *emit, const char *json, size_t len);
  void (*region)(struct dk_emit_future *emit, const char *first, const char *end);
  const char *(*previous)(struct dk_emit_future *emit, size_t *len, size_t *first, size_t *end);
  const char *(*previous_item)(struct dk_emit_future *emit, size_t k, size_t *len);
  int (*held_previous)(struct dk_emit_future *emit, size_t k, const char *json);
  int (*future)(struct dk_emit_future *emit); /* not in any core yet */
};

struct dk_plugin_future {
  uint32_t abi_version;
  uint32_t struct_size;
  const char *name, *version, *description, *options_schema;
  int (*init)(void **state, const struct dk_source *source, char *err, size_t errlen);
  int (*prepare)(void *state, struct dk_request *req);
  enum dk_result (*parse)(void *state, const struct dk_response *resp, struct dk_emit_future *emit);
  void (*fini)(void *state);
  const char *accept;
  const char *future; /* not in any core yet */
};

/* options.init_rc: what init returns (to see the core turn a code a
 * plugin may not return into DK_EPLUGIN). */
static int init(void **state, const struct dk_source *src, char *err, size_t errlen) {
  *state = NULL;
  return (int)json_integer_value(json_object_get(src->options, "init_rc"));
}

static enum dk_result parse(void *state, const struct dk_response *resp, struct dk_emit_future *emit) {
  int has_tomb = DK_EMIT_HAS(emit, tombstone) && emit->tombstone;
  int has_resolve = DK_EMIT_HAS(emit, resolve_url) && emit->resolve_url;
  const char *resolved = has_resolve ? emit->resolve_url(emit, resp->url, "../next?page=2") : NULL;
  json_t *rec = json_pack("{s:s, s:b, s:b, s:b, s:s?}", "kind", "probe", "tombstone", has_tomb, "resolve_url",
                          has_resolve, "future", DK_EMIT_HAS(emit, future), "resolved", resolved);
  if (emit->record(emit, rec) != 0) return DK_ERROR;
  if (has_tomb) {
    if (emit->tombstone(emit, "task", "jnly-2024/2", "gone") != 0) return DK_ERROR;
  } else {
    emit->reject(emit, "/0", "{\"deleted\": true}", "this duikou takes no tombstones");
  }
  return DK_OK;
}

__attribute__((visibility("default")))
const struct dk_plugin_future duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(struct dk_plugin_future),
  .name = "new-header",
  .version = "0",
  .init = init,
  .parse = parse,
  .accept = "application/x-probe",
  .future = "ignored by this core",
};

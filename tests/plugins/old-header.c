/* A plugin built as if against the first header of ABI 2: its struct
 * dk_plugin ends at `fini` (no `accept`). The core must take it, and never
 * read past its struct_size. */
#include <duikou/plugin.h>

struct dk_plugin_first { /* struct dk_plugin as that header had it */
  uint32_t abi_version;
  uint32_t struct_size;
  const char *name, *version, *description, *options_schema;
  int (*init)(void **state, const struct dk_source *source, char *err, size_t errlen);
  int (*prepare)(void *state, struct dk_request *req);
  enum dk_result (*parse)(void *state, const struct dk_response *resp, struct dk_emit *emit);
  void (*fini)(void *state);
};

static int init(void **state, const struct dk_source *src, char *err, size_t errlen) {
  *state = NULL;
  return 0;
}

static enum dk_result parse(void *state, const struct dk_response *resp, struct dk_emit *emit) {
  json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind", "task", "id", "jnly-2024/1", "plan", "jnly-2024",
                          "number", 1, "title", "old header");
  return emit->record(emit, rec) == 0 ? DK_OK : DK_ERROR;
}

__attribute__((visibility("default")))
const struct dk_plugin_first duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(struct dk_plugin_first),
  .name = "old-header",
  .version = "0",
  .init = init,
  .parse = parse,
};

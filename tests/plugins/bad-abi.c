/* A plugin built for an ABI this duikou does not speak: must be refused. */
#include <duikou/plugin.h>

static enum dk_result parse(void *state, const struct dk_response *resp, struct dk_emit *emit) { return DK_OK; }
static int init(void **state, const struct dk_source *src, char *err, size_t errlen) { return 0; }

__attribute__((visibility("default")))
const struct dk_plugin duikou_plugin = {
  .abi_version = 999,
  .struct_size = sizeof(struct dk_plugin),
  .name = "bad-abi",
  .init = init,
  .parse = parse,
};

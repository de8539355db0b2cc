/* A plugin whose struct_size is smaller than the base of its ABI version
 * (no parse, no fini): must be refused before anything past it is read. */
#include <duikou/plugin.h>

__attribute__((visibility("default")))
const struct dk_plugin duikou_plugin = {
  .abi_version = DK_PLUGIN_ABI_VERSION,
  .struct_size = (uint32_t)offsetof(struct dk_plugin, parse),
  .name = "too-small",
};

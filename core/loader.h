/* The plugin loader.
 *
 * A plugin folder holds `*.so` files, directly or one folder down (the build
 * tree keeps each plugin in plugins/<name>/). Each is opened with
 * RTLD_NOW | RTLD_LOCAL and must export `duikou_plugin`; its ABI version is
 * read before anything else. Nothing outside the folder is ever opened. */
#ifndef DK_LOADER_H
#define DK_LOADER_H

#include <stddef.h>
#include "duikou/plugin.h"
#include "error.h"

struct dk_plugin_entry {
  const struct dk_plugin *plugin; /* NULL when refused */
  char *path;                     /* the .so (owned) */
  char *error;                    /* why it was refused, or NULL (owned) */
  void *dl;
};

struct dk_loader {
  struct dk_plugin_entry *entries;
  size_t nentries;
  char *dir;
  char err[DK_ERRBUF_SIZE];
};

/* The folder to load from: the first of `flag` (--plugin-dir),
 * $DUIKOU_PLUGIN_DIR, `configured`, and the installed folder (as seen from
 * the binary's own folder when it is there, else the one built in).
 * Never NULL; the string is owned by its origin or static. */
const char *dk_loader_pick_dir(const char *flag, const char *configured);

/* Open every plugin of `dir`. Returns 0 (individual refusals are recorded in
 * their entries, with a message that says what to do), or DK_EIO when the
 * folder cannot be read (err says why). Free with dk_loader_free in any case. */
int dk_loader_scan(struct dk_loader *ld, const char *dir);
/* Open one plugin file (used by tests and the workbench). Returns 0 and the
 * entry, or a negative DK_E* code with ld->err saying why. */
int dk_loader_open(struct dk_loader *ld, const char *path, const struct dk_plugin_entry **out);
/* The plugin called `name`, or NULL with ld->err saying what is available. */
const struct dk_plugin *dk_loader_find(struct dk_loader *ld, const char *name);
/* dlclose everything. Plugin pointers are invalid after. */
void dk_loader_free(struct dk_loader *ld);

#endif

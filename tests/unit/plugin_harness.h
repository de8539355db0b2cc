/* What the plugin tests share: an emitter that collects what a plugin hands
 * over (records, rejected items, the failure message), and a file reader
 * that fails the test when the file is missing. */
#ifndef DK_TEST_PLUGIN_HARNESS_H
#define DK_TEST_PLUGIN_HARNESS_H

#include <stddef.h>
#include "duikou/plugin.h"

struct collect {
  struct dk_emit emit; /* first: the plugin gets &collect.emit */
  json_t *records;
  json_t *rejects;     /* [{"where", "raw", "why"}] */
  char failed[512];
};

/* A fresh collector; release with collect_free. */
void collect_init(struct collect *c);
void collect_free(struct collect *c);
/* The whole file, NUL-terminated (caller frees); fails the test if unreadable. */
char *slurp(const char *path, size_t *len);

#endif

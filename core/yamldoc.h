/* YAML (libyaml) to jansson, keeping where every node came from.
 *
 * Scalars follow the YAML 1.2 core schema: plain `null`/`~`/empty, `true`/
 * `false`, integers and floats become JSON null, booleans and numbers; every
 * quoted scalar, and every other plain scalar, is a string. Mapping keys must
 * be scalars and unique. Aliases are expanded (with a limit on the total
 * number of nodes, so "billion laughs" documents are refused). Only one
 * document per file. */
#ifndef DK_YAMLDOC_H
#define DK_YAMLDOC_H

#include <stddef.h>
#include <jansson.h>
#include "error.h"

struct dk_yamldoc {
  char *name;       /* file name as given, for messages (owned) */
  json_t *root;     /* the document (owned); NULL until loaded */
  json_t *marks;    /* object: JSON Pointer -> [line, column], 1-based (owned) */
  char err[DK_ERRBUF_SIZE]; /* "FILE:LINE:COLUMN: what is wrong" after a failure */
};

/* Load a YAML file. Returns 0, DK_EIO (cannot read; err says why) or
 * DK_EPARSE (syntax error, duplicate key, ...; err is "FILE:LINE:COLUMN: …").
 * On any return, call dk_yamldoc_free() to release what was allocated. */
int dk_yamldoc_load_file(struct dk_yamldoc *doc, const char *path);
/* The same from memory; `name` is used in messages. */
int dk_yamldoc_load_string(struct dk_yamldoc *doc, const char *name, const char *text, size_t len);
/* Release everything; the struct may be reused after. */
void dk_yamldoc_free(struct dk_yamldoc *doc);

/* Where the node at `pointer` ("/sources/1/url") starts. When that node does
 * not exist (a missing key), the position of its nearest existing ancestor is
 * given. Returns 0, or DK_ENOENT when even the root has no mark. */
int dk_yamldoc_mark(const struct dk_yamldoc *doc, const char *pointer, int *line, int *column);

#endif

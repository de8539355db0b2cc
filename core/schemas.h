/* duikou's own schemas (the files in schemas/), built into the binary and compiled
 * once: the four record kinds and the configuration. Formats are assertions
 * for these (a "published" that is not a date is an error, not a remark). */
#ifndef DK_SCHEMAS_H
#define DK_SCHEMAS_H

#include "error.h"
#include "jsonschema/jsonschema.h"
#include "record.h"
#include "duikou/plugin.h"

/* The compiled schema of a record kind, or of the configuration. Compiled on
 * first use (under a lock) and kept for the life of the process. NULL only
 * if a built-in schema does not compile (a build defect: err says why). */
const struct dk_schema *dk_schemas_kind(enum dk_kind kind, char *err);
const struct dk_schema *dk_schemas_config(char *err);
/* The registry holding duikou's schemas (to compile schemas that refer to
 * them, e.g. `duikou validate --schema`). Compiling against it is for one
 * thread only (the command line); dk_schemas_check_options locks. */
struct dk_registry *dk_schemas_registry(void);
/* Compile everything now. Returns 0 or DK_ESCHEMA with err. Call it on the
 * main thread before starting workers: after it returns 0, dk_schemas_kind,
 * dk_schemas_validate_record and dk_schemas_format_error are safe from any
 * number of threads at once and take no lock (a compiled schema is never
 * written again until dk_schemas_shutdown). */
int dk_schemas_init(char *err);
/* Hex SHA-256 of the record schemas built in: a record validated under
 * another digest is validated again. Thread-safe; static storage. */
const char *dk_schemas_digest(void);
/* Release everything (at exit, so that leak checkers stay quiet), once no
 * other thread uses a schema. */
void dk_schemas_shutdown(void);

/* Validate a record against the schema of its kind (the envelope — kind,
 * id, path — is checked first by dk_record_path). Returns 1 valid, 0 invalid
 * with res filled (free with dk_vresult_free), or a negative DK_E* code. */
int dk_schemas_validate_record(const json_t *record, struct dk_vresult *res, char *err);

/* Check a source's `options` against the schema its plugin declares.
 * `pointer` is where the source sits in the configuration ("/sources/0", or
 * NULL). Returns 0, or DK_ECONFIG / DK_EPLUGIN with err (DK_ERRBUF_SIZE)
 * naming each refused option and the rule. */
int dk_schemas_check_options(const struct dk_plugin *plugin, const json_t *options, const char *pointer,
                             char *err);

/* "/units/0/city: \"jinnan\" is not one of … (enum)": one error as a line. */
char *dk_schemas_format_error(const struct dk_verror *e);

#endif

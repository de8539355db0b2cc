/* JSON Schema draft 2020-12 on jansson: compile once, validate many.
 *
 * A registry holds schema documents by absolute URI (the 2020-12 metaschemas
 * are built in). Compiling resolves every $ref ahead of time into the
 * compiled form ($dynamicRef is resolved against the dynamic scope at
 * validation time, as the specification requires); nothing is ever fetched
 * from the network. Validation never re-reads the schema text.
 *
 * Errors follow the specification's "basic" output: each has an instance
 * location and a keyword location (JSON Pointers), the absolute keyword
 * location, and a message a person understands:
 *   /units/0/city: "jinnan" is not one of jinan, linyi, province, central, other
 */
#ifndef DK_JSONSCHEMA_H
#define DK_JSONSCHEMA_H

#include <stddef.h>
#include <jansson.h>
#include "../error.h"

struct dk_registry;
struct dk_schema;

/* A new registry holding the built-in 2020-12 metaschemas. Never fails
 * (aborts when memory runs out). Free with dk_registry_free. */
struct dk_registry *dk_registry_new(void);
void dk_registry_free(struct dk_registry *reg);

/* Register a schema document under `uri` (absolute, no fragment; NULL: the
 * document's own $id, which must then be absolute). Embedded $id and
 * $anchor resources are registered too. The registry keeps a reference to
 * doc. Returns 0, DK_EEXIST (the URI is taken by a different document) or
 * DK_ESCHEMA, with err (DK_ERRBUF_SIZE) saying why. */
int dk_registry_add(struct dk_registry *reg, const char *uri, json_t *doc, char *err);
/* Register every *.json file under `dir` (recursively) as base_uri +
 * relative path ("http://localhost:1234/" + "nested/foo.json"). Returns 0 or
 * a negative DK_E* code with err. */
int dk_registry_add_dir(struct dk_registry *reg, const char *dir, const char *base_uri, char *err);

struct dk_schema_opts {
  int assert_formats;    /* 1: "format" is an assertion; 0: annotation only (the default) */
  int check_metaschema;  /* 1: validate the schema against its metaschema first (default in duikou) */
  unsigned max_depth;    /* instance / reference depth limit; 0: 512 */
};

/* Compile `schema` (a boolean or an object). `uri` is its retrieval URI
 * (NULL: its $id, else "urn:duikou:anonymous"). The registry must outlive
 * the compiled schema. Returns 0, or DK_ESCHEMA with err saying what is
 * wrong and where (an unresolvable $ref, an invalid pattern, a schema that
 * does not match its metaschema, ...). */
int dk_schema_compile(struct dk_registry *reg, const json_t *schema, const char *uri,
                      const struct dk_schema_opts *opts, struct dk_schema **out, char *err);
void dk_schema_free(struct dk_schema *schema);

struct dk_verror {
  char *instance_location;          /* "/units/0/city" ("" for the root) */
  char *keyword_location;           /* "/properties/units/items/$ref/properties/city/enum" */
  char *absolute_keyword_location;  /* "https://…/task.schema.json#/$defs/unit_ref/properties/city/enum" */
  char *message;                    /* "\"jinnan\" is not one of jinan, linyi, …" */
};

struct dk_vresult {
  struct dk_verror *errors;
  size_t nerrors;
};

/* Validate. Returns 1 valid, 0 invalid, or a negative DK_E* code when
 * validation could not be carried out (DK_ETOOBIG: depth limit reached; the
 * instance counts as invalid). When res is not NULL it receives the errors
 * (the failing leaves, as in "basic" output); free with dk_vresult_free.
 * With res NULL, validation stops at the first failure (faster). A compiled
 * schema may be used from several threads at once. */
int dk_schema_validate(const struct dk_schema *schema, const json_t *instance, struct dk_vresult *res);
void dk_vresult_free(struct dk_vresult *res);

/* The specification's "basic" output unit for a result:
 * {"valid": false, "errors": [{"instanceLocation", "keywordLocation",
 *  "absoluteKeywordLocation", "error"}, …]}. New reference. */
json_t *dk_vresult_basic(const struct dk_vresult *res);

/* --- formats and patterns (format.c, regex.c) -------------------------- */

/* Check a string against a format. Returns 1 valid, 0 invalid, -1 for a
 * format this implementation does not know (which then always passes). */
int dk_format_check(const char *format, const char *s, size_t len);

/* An ECMA-262 regular expression compiled with PCRE2 (UTF, no UCP,
 * DOLLAR_ENDONLY, ALT_BSUX; \s and \S as ECMA-262 defines them; long
 * Unicode property names mapped), with match and depth limits. */
struct dk_regex;
/* Returns NULL with err (DK_ERRBUF_SIZE) saying why when the pattern is not
 * a valid ECMA-262 regex. */
struct dk_regex *dk_regex_compile(const char *pattern, size_t len, char *err);
/* 1 match (anywhere: patterns are not anchored), 0 no match, DK_ETOOBIG
 * when the match or depth limit was hit (callers treat it as a failure of
 * validation, never as a pass). Thread-safe. */
int dk_regex_search(const struct dk_regex *re, const char *s, size_t len);
void dk_regex_free(struct dk_regex *re);

#endif

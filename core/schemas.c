#include "schemas.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "schemas_embed.h"
#include "util.h"

#define DK__BASE "https://duikou.invalid/schemas/"

/* Compiling mutates the registry (its metaschema cache) and fills the
 * slots below, so it is done under dk__lock. A filled slot never changes
 * until dk_schemas_shutdown, so readers of a slot take no lock: they load it
 * with acquire ordering, paired with the release store that published it. */
static pthread_mutex_t dk__lock = PTHREAD_MUTEX_INITIALIZER;
static struct dk_registry *dk__reg;
static struct dk_schema *dk__kinds[DK_KIND_COUNT];
static struct dk_schema *dk__config;

/* Plugins' options schemas, compiled once each (a sync of 50 sources of one
 * plugin compiled it 50 times): found again by the plugin's name and the
 * schema's text, so that another plugin loaded under the same name does
 * not get the one before. Under dk__lock. */
struct dk__optschema {
  char *name, *text;
  struct dk_schema *cs;
  struct dk__optschema *next;
};
static struct dk__optschema *dk__optschemas;

static const struct {
  const char *name;
  const unsigned char *data;
  const size_t *len;
} dk__files[] = {
  {"defs.schema.json", dk_schema_defs, &dk_schema_defs_len},
  {"plan.schema.json", dk_schema_plan, &dk_schema_plan_len},
  {"task.schema.json", dk_schema_task, &dk_schema_task_len},
  {"progress.schema.json", dk_schema_progress, &dk_schema_progress_len},
  {"unit.schema.json", dk_schema_unit, &dk_schema_unit_len},
  {"config.schema.json", dk_schema_config, &dk_schema_config_len},
};

/* The registry, created on first use; the caller holds dk__lock. */
static struct dk_registry *dk__registry_locked(void) {
  if (dk__reg) return dk__reg;
  dk__reg = dk_registry_new();
  for (size_t i = 0; i < sizeof dk__files / sizeof dk__files[0]; i++) {
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)dk__files[i].data, *dk__files[i].len, 0, &jerr);
    char err[DK_ERRBUF_SIZE];
    char *uri = dk_asprintf(DK__BASE "%s", dk__files[i].name);
    if (doc == NULL || dk_registry_add(dk__reg, uri, doc, err) != 0) {
      /* A built-in schema that does not load is a build defect. */
      fprintf(stderr, "duikou: built-in schema %s: %s\n", dk__files[i].name, doc ? err : jerr.text);
      abort();
    }
    free(uri);
    json_decref(doc);
  }
  return dk__reg;
}

static pthread_once_t dk__digest_once = PTHREAD_ONCE_INIT;
static char dk__digest_hex[65];

/* SHA-256 over the record schemas' names and bytes (the config schema
 * judges no record). */
static void dk__digest_init(void) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned char md[32];
  unsigned int n = 0;
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  for (size_t i = 0; i < sizeof dk__files / sizeof dk__files[0]; i++) {
    if (strcmp(dk__files[i].name, "config.schema.json") == 0) continue;
    EVP_DigestUpdate(c, dk__files[i].name, strlen(dk__files[i].name) + 1);
    EVP_DigestUpdate(c, dk__files[i].data, *dk__files[i].len);
  }
  EVP_DigestFinal_ex(c, md, &n);
  EVP_MD_CTX_free(c);
  dk_hex(md, n < 32 ? n : 32, dk__digest_hex);
}

const char *dk_schemas_digest(void) {
  pthread_once(&dk__digest_once, dk__digest_init);
  return dk__digest_hex;
}

struct dk_registry *dk_schemas_registry(void) {
  pthread_mutex_lock(&dk__lock);
  struct dk_registry *reg = dk__registry_locked();
  pthread_mutex_unlock(&dk__lock);
  return reg;
}

/* Compile one of the built-in schemas; the caller holds dk__lock. */
static struct dk_schema *dk__compile(const char *name, char *err) {
  struct dk_registry *reg = dk__registry_locked();
  char *uri = dk_asprintf(DK__BASE "%s", name);
  json_t *ref = json_pack("{s:s}", "$ref", uri);
  struct dk_schema_opts opts = {.assert_formats = 1, .check_metaschema = 1};
  struct dk_schema *s = NULL;
  int rc = dk_schema_compile(reg, ref, NULL, &opts, &s, err);
  json_decref(ref);
  free(uri);
  return rc == 0 ? s : NULL;
}

/* *slot, compiling `name` into it first if it is empty (under the lock,
 * so that two threads never compile the same schema or race on the
 * registry). */
static const struct dk_schema *dk__cached(struct dk_schema **slot, const char *name, char *err) {
  struct dk_schema *s = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (s != NULL) return s;
  pthread_mutex_lock(&dk__lock);
  s = *slot;
  if (s == NULL) {
    s = dk__compile(name, err);
    __atomic_store_n(slot, s, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&dk__lock);
  return s;
}

const struct dk_schema *dk_schemas_kind(enum dk_kind kind, char *err) {
  if (kind < 0 || kind >= DK_KIND_COUNT) return NULL;
  char name[64];
  snprintf(name, sizeof name, "%s.schema.json", dk_kind_name(kind));
  return dk__cached(&dk__kinds[kind], name, err);
}

const struct dk_schema *dk_schemas_config(char *err) { return dk__cached(&dk__config, "config.schema.json", err); }

int dk_schemas_init(char *err) {
  for (int k = 0; k < DK_KIND_COUNT; k++)
    if (dk_schemas_kind((enum dk_kind)k, err) == NULL) return DK_ESCHEMA;
  return dk_schemas_config(err) ? 0 : DK_ESCHEMA;
}

void dk_schemas_shutdown(void) {
  for (int k = 0; k < DK_KIND_COUNT; k++) {
    dk_schema_free(dk__kinds[k]);
    dk__kinds[k] = NULL;
  }
  dk_schema_free(dk__config);
  dk__config = NULL;
  while (dk__optschemas) {
    struct dk__optschema *o = dk__optschemas;
    dk__optschemas = o->next;
    dk_schema_free(o->cs);
    free(o->name);
    free(o->text);
    free(o);
  }
  dk_registry_free(dk__reg);
  dk__reg = NULL;
}

int dk_schemas_validate_record(const json_t *record, struct dk_vresult *res, char *err) {
  enum dk_kind kind = dk_kind_from_name(json_string_value(json_object_get(record, "kind")));
  const struct dk_schema *s = dk_schemas_kind(kind, err);
  if (s == NULL) return DK_ESCHEMA;
  return dk_schema_validate(s, record, res);
}

char *dk_schemas_format_error(const struct dk_verror *e) {
  const char *kw = strrchr(e->keyword_location, '/');
  return dk_asprintf("%s: %s (%s)", e->instance_location[0] ? e->instance_location : "/", e->message,
                     kw ? kw + 1 : "schema");
}

int dk_schemas_check_options(const struct dk_plugin *plugin, const json_t *options, const char *pointer,
                             char *err) {
  if (plugin->options_schema == NULL) return 0;
  struct dk_schema *cs = NULL;
  int rc = 0;
  char why[DK_ERRBUF_SIZE];
  pthread_mutex_lock(&dk__lock); /* the loop thread compiles while workers may fill a slot */
  for (struct dk__optschema *o = dk__optschemas; o && cs == NULL; o = o->next)
    if (strcmp(o->name, plugin->name) == 0 && strcmp(o->text, plugin->options_schema) == 0) cs = o->cs;
  if (cs == NULL) {
    json_t *schema = json_loads(plugin->options_schema, 0, NULL);
    char *uri = dk_asprintf("urn:duikou:plugin:%s:options", plugin->name);
    struct dk_schema_opts so = {.assert_formats = 1, .check_metaschema = 1};
    rc = dk_schema_compile(dk__registry_locked(), schema, uri, &so, &cs, why);
    free(uri);
    json_decref(schema);
    if (rc == 0) {
      struct dk__optschema *o = dk_calloc(1, sizeof *o);
      *o = (struct dk__optschema){dk_strdup(plugin->name), dk_strdup(plugin->options_schema), cs, dk__optschemas};
      dk__optschemas = o;
    }
  }
  pthread_mutex_unlock(&dk__lock);
  if (rc != 0) return dk_failf(err, DK_EPLUGIN, "plugin %s: its options schema does not compile: %s", plugin->name, why);
  struct dk_vresult vr = {0};
  rc = dk_schema_validate(cs, options, &vr);
  if (rc != 1) {
    struct dk_buf b = {0};
    for (size_t e = 0; e < vr.nerrors; e++)
      dk_buf_printf(&b, "%s%s/options%s: %s", e ? "; " : "", pointer ? pointer : "", vr.errors[e].instance_location,
                    vr.errors[e].message);
    dk_failf(err, DK_ECONFIG, "plugin %s refuses the options: %s", plugin->name, b.len ? dk_buf_cstr(&b) : dk_strerror(rc));
    dk_buf_free(&b);
  }
  dk_vresult_free(&vr);
  return rc == 1 ? 0 : DK_ECONFIG;
}

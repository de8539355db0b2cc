/* `duikou validate [--schema FILE | --kind KIND] [--output basic] FILE…`
 *
 * A file holds one record, an array of records, or {"records": […]}. Each
 * record is checked against the schema of its kind (or the one given), and
 * each error printed as `FILE: /pointer: message`; with several records in a
 * file the record's index and id come first. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "log.h"
#include "record.h"
#include "schemas.h"
#include "util.h"

static void dk__usage(FILE *f) {
  fprintf(f,
          "usage: duikou validate [--schema FILE [--assert-formats] | --kind KIND] [--output text|basic] FILE...\n\n"
          "Check records (a record, an array of records, or {\"records\": [...]}) against duikou's\n"
          "schemas (the kind comes from each record's \"kind\") or against --schema FILE.\n"
          "Prints each error as FILE: /pointer: message; exit 1 when any record is invalid.\n\n"
          "      --schema FILE      validate against this JSON Schema (draft 2020-12)\n"
          "      --kind KIND        plan, task, progress, unit or config\n"
          "      --output FORMAT    text (default) or basic (the specification's JSON output)\n"
          "      --assert-formats   with --schema: \"format\" is an assertion (duikou's own\n"
          "                         schemas always assert; others annotate, as the specification says)\n"
          "  -h, --help             this help\n");
}

/* Validate one record; print its errors. Returns 1 valid, 0 invalid, <0 error. */
static int dk__one(const char *file, const char *label, const json_t *rec, const struct dk_schema *given,
                   enum dk_kind forced, int basic) {
  char err[DK_ERRBUF_SIZE];
  const struct dk_schema *s = given;
  if (s == NULL) {
    enum dk_kind k = forced != DK_KIND_NONE ? forced
                                            : dk_kind_from_name(json_string_value(json_object_get(rec, "kind")));
    if (k == DK_KIND_NONE) {
      if (basic) {
        json_t *out = json_pack("{s:s, s:s?, s:b, s:[{s:s, s:s, s:s}]}", "file", file, "record", label, "valid", 0,
                                "errors", "instanceLocation", "/kind", "keywordLocation", "", "error",
                                "no known \"kind\" (plan, task, progress, unit); give --kind or --schema");
        char *txt = json_dumps(out, JSON_COMPACT);
        puts(txt);
        free(txt);
        json_decref(out);
      } else {
        printf("%s: %s%s/kind: no known \"kind\" (plan, task, progress, unit); give --kind or --schema\n", file,
               label ? label : "", label ? ": " : "");
      }
      return 0;
    }
    s = dk_schemas_kind(k, err);
    if (s == NULL) {
      fprintf(stderr, "duikou validate: %s\n", err);
      return DK_ESCHEMA;
    }
  }
  struct dk_vresult res = {0};
  int rc = dk_schema_validate(s, rec, &res);
  if (basic) {
    json_t *out = dk_vresult_basic(&res);
    json_object_set_new(out, "file", json_string(file));
    if (label) json_object_set_new(out, "record", json_string(label));
    if (rc < 0) json_object_set_new(out, "valid", json_false());
    char *txt = json_dumps(out, JSON_COMPACT);
    puts(txt);
    free(txt);
    json_decref(out);
  } else if (rc < 0) {
    printf("%s: %s%scannot be validated: %s\n", file, label ? label : "", label ? ": " : "", dk_strerror(rc));
  } else {
    for (size_t i = 0; i < res.nerrors; i++) {
      const struct dk_verror *e = &res.errors[i];
      printf("%s: %s%s%s: %s\n", file, label ? label : "", label ? ": " : "",
             e->instance_location[0] ? e->instance_location : "/", e->message);
    }
  }
  dk_vresult_free(&res);
  return rc < 0 ? 0 : rc;
}

/* What the options of `duikou validate` say. */
struct dk__vargs {
  const char *schema_file, *kind, *output;
  int assert_formats, basic;
};

/* Parse the options into a; optind is then the first FILE. Returns 0, -1
 * after --help, or DK_EXIT_USAGE after saying why. */
static int dk__validate_args(int argc, char **argv, struct dk__vargs *a) {
  static const struct option longopts[] = {
    {"schema", required_argument, NULL, 's'},
    {"kind", required_argument, NULL, 'k'},
    {"output", required_argument, NULL, 'o'},
    {"assert-formats", no_argument, NULL, 'F'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  *a = (struct dk__vargs){.output = "text"};
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
    switch (ch) {
      case 's': a->schema_file = optarg; break;
      case 'k': a->kind = optarg; break;
      case 'o': a->output = optarg; break;
      case 'F': a->assert_formats = 1; break;
      case 'h': dk__usage(stdout); return -1;
      default:
        fprintf(stderr, "duikou validate: unknown option %s\n", argv[optind - 1]);
        dk__usage(stderr);
        return DK_EXIT_USAGE;
    }
  }
  a->basic = strcmp(a->output, "basic") == 0;
  if (!a->basic && strcmp(a->output, "text") != 0) {
    fprintf(stderr, "duikou validate: --output: \"%s\" is not text or basic\n", a->output);
    return DK_EXIT_USAGE;
  }
  if (optind >= argc || (a->schema_file && a->kind)) {
    fprintf(stderr, optind >= argc ? "duikou validate: no file to validate\n"
                                   : "duikou validate: --schema and --kind exclude each other\n");
    dk__usage(stderr);
    return DK_EXIT_USAGE;
  }
  return 0;
}

/* Compile the JSON Schema in schema_file into *own (the caller frees it).
 * Returns 0, or DK_EXIT_USAGE after saying why. */
static int dk__compile_file(const char *schema_file, int assert_formats, struct dk_schema **own) {
  char err[DK_ERRBUF_SIZE];
  json_error_t jerr;
  json_t *doc = json_load_file(schema_file, JSON_DECODE_ANY, &jerr);
  if (doc == NULL) {
    fprintf(stderr, "duikou validate: %s:%d:%d: %s\n", schema_file, jerr.line, jerr.column, jerr.text);
    return DK_EXIT_USAGE;
  }
  char *uri = dk_path_abs(NULL, schema_file);
  char *fileuri = dk_asprintf("file://%s", uri);
  struct dk_schema_opts opts = {.assert_formats = assert_formats, .check_metaschema = 1};
  int rc = dk_schema_compile(dk_schemas_registry(), doc, json_object_get(doc, "$id") ? NULL : fileuri, &opts,
                             own, err);
  free(uri);
  free(fileuri);
  json_decref(doc);
  if (rc != 0) {
    fprintf(stderr, "duikou validate: %s: %s\n", schema_file, err);
    return DK_EXIT_USAGE;
  }
  return 0;
}

/* What to validate against: *given (the configuration's schema, or *own,
 * which the caller frees), else *forced (--kind), else each record's own
 * kind. Returns 0, or DK_EXIT_USAGE after saying why. */
static int dk__validate_schema(const struct dk__vargs *a, struct dk_schema **own, const struct dk_schema **given,
                               enum dk_kind *forced) {
  char err[DK_ERRBUF_SIZE];
  *own = NULL;
  *given = NULL;
  *forced = DK_KIND_NONE;
  if (a->kind && strcmp(a->kind, "config") == 0) {
    *given = dk_schemas_config(err);
  } else if (a->kind) {
    *forced = dk_kind_from_name(a->kind);
    if (*forced == DK_KIND_NONE) {
      fprintf(stderr, "duikou validate: --kind: \"%s\" is not one of plan, task, progress, unit, config\n",
              a->kind);
      return DK_EXIT_USAGE;
    }
  } else if (a->schema_file) {
    int rc = dk__compile_file(a->schema_file, a->assert_formats, own);
    if (rc != 0) return rc;
    *given = *own;
  }
  return 0;
}

/* Validate the records of one file, printing the errors; clears *all_valid
 * when one is invalid and sets *trouble when one cannot be validated. */
static void dk__validate_file(const char *file, const struct dk_schema *given, enum dk_kind forced, int basic,
                              int *all_valid, int *trouble) {
  json_error_t jerr;
  json_t *doc = json_load_file(file, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) {
    printf("%s:%d:%d: not JSON: %s\n", file, jerr.line, jerr.column, jerr.text);
    *all_valid = 0;
    return;
  }
  json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "records");
  if (json_is_array(list) && given == NULL) {
    size_t j;
    json_t *rec;
    json_array_foreach(list, j, rec) {
      const char *id = json_string_value(json_object_get(rec, "id"));
      char *label = dk_asprintf("[%zu]%s%s", j, id ? " " : "", id ? id : "");
      int rc = dk__one(file, label, rec, NULL, forced, basic);
      free(label);
      if (rc < 0) *trouble = 1;
      if (rc != 1) *all_valid = 0;
    }
  } else {
    int rc = dk__one(file, NULL, doc, given, forced, basic);
    if (rc < 0) *trouble = 1;
    if (rc != 1) *all_valid = 0;
    else if (!basic) printf("%s: valid\n", file);
  }
  json_decref(doc);
}

int dk_cmd_validate(int argc, char **argv) {
  struct dk__vargs a;
  int status = dk__validate_args(argc, argv, &a);
  if (status != 0) return status < 0 ? DK_EXIT_OK : status;
  struct dk_schema *own = NULL;
  const struct dk_schema *given = NULL;
  enum dk_kind forced = DK_KIND_NONE;
  if ((status = dk__validate_schema(&a, &own, &given, &forced)) != 0) return status;
  int all_valid = 1, trouble = 0;
  for (int i = optind; i < argc; i++) dk__validate_file(argv[i], given, forced, a.basic, &all_valid, &trouble);
  dk_schema_free(own);
  if (trouble) return DK_EXIT_USAGE;
  return all_valid ? DK_EXIT_OK : DK_EXIT_FAILED;
}

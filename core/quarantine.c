#include "quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "canonical.h"
#include "util.h"

/* The entry name: SHA-256 of source NUL raw, first 16 hex digits. */
static void dk__qname(const char *source, const char *raw, size_t rawlen, char *name) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  EVP_DigestUpdate(c, source, strlen(source) + 1);
  EVP_DigestUpdate(c, raw, rawlen);
  EVP_DigestFinal_ex(c, md, &n);
  EVP_MD_CTX_free(c);
  for (int i = 0; i < DK_QUARANTINE_NAME_LEN / 2; i++) snprintf(name + 2 * i, 3, "%02x", md[i]);
}

static int dk__qsave(const char *path, const json_t *entry, char *err) {
  size_t len;
  char *data = dk_canonical_dump(entry, &len);
  int rc = dk_write_file_atomic(path, data, len, err);
  free(data);
  return rc;
}

int dk_quarantine_put(const char *statedir, const struct dk_quarantine_item *item, char *name, char *err) {
  char *raw = item->record ? dk_canonical_dump(item->record, NULL) : dk_strdup(item->raw ? item->raw : "");
  dk__qname(item->source, raw, strlen(raw), name);
  char *dir = dk_asprintf("%s/quarantine/%s", statedir, item->source);
  char *path = dk_asprintf("%s/%s.json", dir, name);
  char now[40];
  dk_time_iso(time(NULL), now, sizeof now);
  int rc = dk_mkdir_p(dir, 1, err);
  json_t *entry = NULL;
  int fresh = 1;
  if (rc == 0) {
    char *old = NULL;
    size_t oldlen;
    char rerr[DK_ERRBUF_SIZE];
    if (dk_read_file(path, &old, &oldlen, rerr) == 0) entry = json_loadb(old, oldlen, 0, NULL);
    free(old);
    if (json_is_object(entry)) {
      fresh = 0;
      json_object_set_new(entry, "last_seen", json_string(now));
      json_object_set_new(entry, "times", json_integer(json_integer_value(json_object_get(entry, "times")) + 1));
      /* the rules may have changed since: keep the latest errors */
      json_object_set(entry, "errors", (json_t *)item->errors);
    } else {
      json_decref(entry);
      entry = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:O, s:s, s:s, s:i}", "name", name, "source", item->source,
                        "city", item->city, "url", item->url, "where", item->where, "errors", item->errors,
                        "first_seen", now, "last_seen", now, "times", 1);
      if (item->record) json_object_set(entry, "record", (json_t *)item->record);
      else json_object_set_new(entry, "raw", json_string(item->raw ? item->raw : ""));
    }
    rc = dk__qsave(path, entry, err);
  }
  json_decref(entry);
  free(raw);
  free(path);
  free(dir);
  return rc < 0 ? rc : fresh;
}

static const char *dk__str(const json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

/* Call fn(path, entry, arg) for each entry of `source` (NULL: all). */
static int dk__qeach(const char *statedir, const char *source,
                     int (*fn)(const char *path, json_t *entry, void *arg), void *arg, char *err) {
  char *top = dk_asprintf("%s/quarantine", statedir);
  DIR *d = opendir(top);
  if (d == NULL) {
    int e = errno;
    free(top);
    return e == ENOENT ? 0 : dk_failf(err, DK_EIO, "cannot read the quarantine: %s", strerror(e));
  }
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || (source && strcmp(source, de->d_name) != 0)) continue;
    char *sdir = dk_asprintf("%s/%s", top, de->d_name);
    DIR *sd = opendir(sdir);
    struct dirent *fe;
    while (sd && rc == 0 && (fe = readdir(sd)) != NULL) {
      size_t n = strlen(fe->d_name);
      if (n < 6 || strcmp(fe->d_name + n - 5, ".json") != 0) continue;
      char *path = dk_asprintf("%s/%s", sdir, fe->d_name), *data = NULL, rerr[DK_ERRBUF_SIZE];
      size_t len;
      if (dk_read_file(path, &data, &len, rerr) == 0) {
        json_t *entry = json_loadb(data, len, 0, NULL);
        if (json_is_object(entry)) rc = fn(path, entry, arg);
        json_decref(entry);
      }
      free(data);
      free(path);
    }
    if (sd) closedir(sd);
    free(sdir);
  }
  closedir(d);
  free(top);
  return rc;
}

static int dk__qcollect(const char *path, json_t *entry, void *arg) {
  json_array_append(arg, entry);
  return 0;
}

static int dk__qcmp(const void *a, const void *b) {
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  int c = strcmp(dk__str(x, "first_seen"), dk__str(y, "first_seen"));
  return c ? c : strcmp(dk__str(x, "name"), dk__str(y, "name"));
}

int dk_quarantine_list(const char *statedir, const char *source, json_t **out, char *err) {
  json_t *all = json_array();
  int rc = dk__qeach(statedir, source, dk__qcollect, all, err);
  if (rc != 0) {
    json_decref(all);
    return rc;
  }
  size_t n = json_array_size(all);
  json_t **v = dk_malloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(all, i));
  qsort(v, n, sizeof *v, dk__qcmp);
  json_t *sorted = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(sorted, v[i]);
  free(v);
  json_decref(all);
  *out = sorted;
  return 0;
}

struct dk__qfind {
  const char *name;
  json_t *found;
  char *path;
};

static int dk__qmatch(const char *path, json_t *entry, void *arg) {
  struct dk__qfind *f = arg;
  if (strcmp(dk__str(entry, "name"), f->name) != 0) return 0;
  f->found = json_incref(entry);
  f->path = dk_strdup(path);
  return 1;
}

int dk_quarantine_get(const char *statedir, const char *name, json_t **out, char *err) {
  struct dk__qfind f = {.name = name};
  int rc = dk__qeach(statedir, NULL, dk__qmatch, &f, err);
  free(f.path);
  if (rc < 0) return rc;
  if (f.found == NULL) return dk_failf(err, DK_ENOENT, "no quarantine entry named %s", name);
  *out = f.found;
  return 0;
}

struct dk__qpurge {
  time_t before;
  size_t removed;
  char *err;
};

static int dk__qremove(const char *path, json_t *entry, void *arg) {
  struct dk__qpurge *p = arg;
  if (p->before > 0) {
    time_t seen = dk_time_parse_iso(json_string_value(json_object_get(entry, "last_seen")));
    if (seen == (time_t)-1 || seen >= p->before) return 0;
  }
  if (unlink(path) != 0) return dk_failf(p->err, DK_EIO, "cannot remove %s: %s", path, strerror(errno));
  p->removed++;
  return 0;
}

int dk_quarantine_purge(const char *statedir, const char *name, const char *source, time_t before,
                        size_t *removed, char *err) {
  *removed = 0;
  if (name) {
    struct dk__qfind f = {.name = name};
    int rc = dk__qeach(statedir, NULL, dk__qmatch, &f, err);
    if (rc < 0) return rc;
    if (f.found == NULL) return dk_failf(err, DK_ENOENT, "no quarantine entry named %s", name);
    struct dk__qpurge p = {.before = before, .err = err};
    rc = dk__qremove(f.path, f.found, &p);
    json_decref(f.found);
    free(f.path);
    *removed = p.removed;
    return rc;
  }
  struct dk__qpurge p = {.before = before, .err = err};
  int rc = dk__qeach(statedir, source, dk__qremove, &p, err);
  *removed = p.removed;
  return rc < 0 ? rc : 0;
}

#include "quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "canonical.h"
#include "fsafe.h"
#include "redact.h"
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
  dk_hex(md, DK_QUARANTINE_NAME_LEN / 2, name);
}

static int dk__qsave(const char *statedir, const char *rel, const json_t *entry, char *err) {
  size_t len;
  char *data = dk_canonical_dump(entry, &len);
  char *clean = dk_redact(data, len, &len);
  int rc = dk_fs_write_atomic(statedir, rel, clean ? clean : data, len, err);
  free(clean);
  free(data);
  return rc;
}

int dk_quarantine_put(const char *statedir, const struct dk_quarantine_item *item, char *name, char *err) {
  char *raw = item->record ? dk_canonical_dump(item->record, NULL) : dk_strdup(item->raw ? item->raw : "");
  dk__qname(item->source, raw, strlen(raw), name);
  char *rel = dk_asprintf("quarantine/%s/%s.json", item->source, name);
  char now[40];
  dk_time_iso(time(NULL), now, sizeof now);
  json_t *entry = NULL;
  int fresh = 1;
  char *old = NULL;
  size_t oldlen;
  int rc = dk_fs_read(statedir, rel, &old, &oldlen, err);
  if (rc == 0) entry = json_loadb(old, oldlen, 0, NULL);
  free(old);
  if (rc == 0 || rc == DK_ENOENT) {
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
    rc = dk__qsave(statedir, rel, entry, err);
  }
  json_decref(entry);
  free(raw);
  free(rel);
  return rc < 0 ? rc : fresh;
}

static const char *dk__str(const json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

/* Call fn(dirfd, file, entry, arg) for each entry of `source` (NULL: all);
 * a nonzero return stops the walk and is returned. A link planted in the
 * quarantine is an error naming it, never followed. */
static int dk__qeach(const char *statedir, const char *source,
                     int (*fn)(int dirfd, const char *file, json_t *entry, void *arg), void *arg, char *err) {
  int top, rc = dk_fs_dir(statedir, "quarantine", 0, &top, err);
  if (rc == DK_ENOENT) return 0;
  if (rc != 0) return rc;
  DIR *d = fdopendir(top);
  if (d == NULL) {
    close(top);
    return dk_failf(err, DK_EIO, "cannot read the quarantine: %s", strerror(errno));
  }
  struct dirent *de;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || (source && strcmp(source, de->d_name) != 0)) continue;
    char *srel = dk_asprintf("quarantine/%s", de->d_name);
    int sfd;
    rc = dk_fs_dir(statedir, srel, 0, &sfd, err);
    DIR *sd = rc == 0 ? fdopendir(sfd) : NULL;
    struct dirent *fe;
    while (sd && rc == 0 && (fe = readdir(sd)) != NULL) {
      size_t n = strlen(fe->d_name);
      if (n < 6 || fe->d_name[0] == '.' || strcmp(fe->d_name + n - 5, ".json") != 0) continue;
      char *rel = dk_asprintf("%s/%s", srel, fe->d_name), *data = NULL;
      size_t len;
      if ((rc = dk_fs_read(statedir, rel, &data, &len, err)) == 0) {
        json_t *entry = json_loadb(data, len, 0, NULL);
        if (json_is_object(entry)) rc = fn(dirfd(sd), fe->d_name, entry, arg);
        json_decref(entry);
      }
      free(data);
      free(rel);
    }
    if (sd) closedir(sd);
    free(srel);
  }
  closedir(d);
  return rc;
}

static int dk__qcollect(int dirfd, const char *file, json_t *entry, void *arg) {
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
};

static int dk__qmatch(int dirfd, const char *file, json_t *entry, void *arg) {
  struct dk__qfind *f = arg;
  if (strcmp(dk__str(entry, "name"), f->name) != 0) return 0;
  f->found = json_incref(entry);
  return 1;
}

int dk_quarantine_get(const char *statedir, const char *name, json_t **out, char *err) {
  struct dk__qfind f = {.name = name};
  int rc = dk__qeach(statedir, NULL, dk__qmatch, &f, err);
  if (rc < 0) return rc;
  if (f.found == NULL) return dk_failf(err, DK_ENOENT, "no quarantine entry named %s", name);
  *out = f.found;
  return 0;
}

struct dk__qpurge {
  const char *name; /* only this entry, or NULL */
  time_t before;
  size_t removed;
  char *err;
};

static int dk__qremove(int dirfd, const char *file, json_t *entry, void *arg) {
  struct dk__qpurge *p = arg;
  if (p->name && strcmp(dk__str(entry, "name"), p->name) != 0) return 0;
  if (p->before > 0) {
    time_t seen = dk_time_parse_iso(json_string_value(json_object_get(entry, "last_seen")));
    if (seen == (time_t)-1 || seen >= p->before) return p->name != NULL;
  }
  if (unlinkat(dirfd, file, 0) != 0)
    return dk_failf(p->err, DK_EIO, "cannot remove %s from the quarantine: %s", file, strerror(errno));
  p->removed++;
  return p->name != NULL; /* a name is unique: stop there */
}

int dk_quarantine_purge(const char *statedir, const char *name, const char *source, time_t before,
                        size_t *removed, char *err) {
  struct dk__qpurge p = {.name = name, .before = before, .err = err};
  int rc = dk__qeach(statedir, name ? NULL : source, dk__qremove, &p, err);
  *removed = p.removed;
  if (rc < 0) return rc;
  if (name && rc == 0) return dk_failf(err, DK_ENOENT, "no quarantine entry named %s", name);
  return 0;
}

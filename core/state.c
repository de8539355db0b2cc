#include "state.h"
#include "seen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canonical.h"
#include "fsafe.h"
#include "log.h"
#include "redact.h"
#include "util.h"

json_t *dk_state_load(const char *statedir, const char *name) {
  char err[DK_ERRBUF_SIZE], *rel = dk_asprintf("sources/%s.json", name), *data = NULL;
  size_t len = 0;
  json_t *st = NULL;
  int rc = dk_fs_read(statedir, rel, &data, &len, err);
  if (rc == 0) {
    st = json_loadb(data, len, 0, NULL);
    if (!json_is_object(st))
      dk_log(DK_LOG_WARN, "source", name, NULL, "state file %s/%s is not a JSON object; starting afresh", statedir,
             rel);
  } else if (rc != DK_ENOENT) {
    dk_log(DK_LOG_WARN, "source", name, NULL, "cannot read the state file: %s; starting afresh", err);
  }
  free(data);
  free(rel);
  if (!json_is_object(st)) {
    json_decref(st);
    st = json_object();
  }
  return st;
}

int dk_state_save(const char *statedir, const char *name, const json_t *state, char *err) {
  size_t len;
  char *data = dk_canonical_dump(state, &len), *rel = dk_asprintf("sources/%s.json", name);
  char *clean = dk_redact(data, len, &len);
  int rc = dk_fs_write_atomic(statedir, rel, clean ? clean : data, len, err);
  free(clean);
  free(data);
  free(rel);
  return rc;
}

struct dk_seen *dk_state_load_seen(const char *statedir, const char *name) {
  char err[DK_ERRBUF_SIZE], *rel = dk_asprintf("sources/%s.seen", name), *data = NULL;
  size_t len = 0;
  int rc = dk_fs_read(statedir, rel, &data, &len, err);
  if (rc != 0 && rc != DK_ENOENT) dk_log(DK_LOG_WARN, "source", name, NULL, "%s: ignored", err);
  struct dk_seen *s = dk_seen_parse((const unsigned char *)data, rc == 0 ? len : 0);
  free(data);
  free(rel);
  return s;
}

int dk_state_append_seen(const char *statedir, const char *name, const unsigned char *pairs, size_t n,
                         size_t *filed, char *err) {
  char *rel = dk_asprintf("sources/%s.seen", name);
  int fd, rc = dk_fs_open(statedir, rel, O_WRONLY | O_APPEND, &fd, err);
  free(rel);
  if (rc != 0) return rc;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size < sizeof "DKSEEN1\n" - 1 ||
      ((size_t)sb.st_size - (sizeof "DKSEEN1\n" - 1)) % DK_SEEN_PAIR != 0) {
    close(fd);
    return DK_ENOENT;
  }
  *filed = ((size_t)sb.st_size - (sizeof "DKSEEN1\n" - 1)) / DK_SEEN_PAIR + n;
  if (dk_fs_write_all(fd, pairs, n * DK_SEEN_PAIR) != 0)
    rc = dk_failf(err, DK_EIO, "cannot append to %s/sources/%s.seen: %s", statedir, name, strerror(errno));
  if (close(fd) != 0 && rc == 0)
    rc = dk_failf(err, DK_EIO, "cannot append to %s/sources/%s.seen: %s", statedir, name, strerror(errno));
  return rc;
}

int dk_state_save_seen(const char *statedir, const char *name, const struct dk_seen *seen, char *err) {
  size_t len;
  unsigned char *data = dk_seen_dump(seen, &len);
  char *rel = dk_asprintf("sources/%s.seen", name);
  int rc = dk_fs_write_atomic(statedir, rel, data, len, err);
  free(data);
  free(rel);
  return rc;
}

#include "redact.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static char **dk__secrets;
static size_t dk__nsecrets;

void dk_redact_add(const char *secret) {
  if (secret == NULL || secret[0] == '\0') return;
  for (size_t i = 0; i < dk__nsecrets; i++)
    if (strcmp(dk__secrets[i], secret) == 0) return;
  dk__secrets = dk_realloc(dk__secrets, (dk__nsecrets + 1) * sizeof *dk__secrets);
  dk__secrets[dk__nsecrets++] = dk_strdup(secret);
}

void dk_redact_reset(void) {
  for (size_t i = 0; i < dk__nsecrets; i++) {
    explicit_bzero(dk__secrets[i], strlen(dk__secrets[i]));
    free(dk__secrets[i]);
  }
  free(dk__secrets);
  dk__secrets = NULL;
  dk__nsecrets = 0;
}

/* The longest registered secret starting at p (bytes left: n), or 0. */
static size_t dk__match(const char *p, size_t n) {
  size_t best = 0;
  for (size_t i = 0; i < dk__nsecrets; i++) {
    size_t l = strlen(dk__secrets[i]);
    if (l <= n && l > best && memcmp(p, dk__secrets[i], l) == 0) best = l;
  }
  return best;
}

int dk_redact_found(const char *s, size_t len) {
  for (size_t i = 0; s && i < dk__nsecrets; i++)
    if (memmem(s, len, dk__secrets[i], strlen(dk__secrets[i])) != NULL) return 1;
  return 0;
}

char *dk_redact(const char *s, size_t len, size_t *outlen) {
  if (!dk_redact_found(s, len)) return NULL;
  struct dk_buf b = {0};
  size_t i = 0, from = 0;
  while (i < len) {
    size_t m = dk__match(s + i, len - i);
    if (m == 0) {
      i++;
      continue;
    }
    dk_buf_append(&b, s + from, i - from);
    dk_buf_puts(&b, DK_REDACTED);
    i += m;
    from = i;
  }
  dk_buf_append(&b, s + from, len - from);
  if (outlen) *outlen = b.len;
  return dk_buf_steal(&b);
}

void dk_redact_buf(char *buf, size_t cap) {
  if (buf == NULL || cap == 0) return;
  size_t n;
  char *r = dk_redact(buf, strlen(buf), &n);
  if (r == NULL) return;
  if (n >= cap) {
    n = cap - 1;
    while (n > 0 && ((unsigned char)r[n] & 0xC0) == 0x80) n--;
  }
  memcpy(buf, r, n);
  buf[n] = '\0';
  free(r);
}

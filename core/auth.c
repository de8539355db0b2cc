/* Secrets: the credentials a source's `auth` (or http.proxy_auth) names,
 * read from an environment variable or a file when a run needs them, never
 * kept longer, and every form of them registered for redaction. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "redact.h"
#include "util.h"

#define DK__SECRET_MAX (64 * 1024)

/* --- secrets -------------------------------------------------------------- */

void dk_secret_wipe(char *s) {
  if (s == NULL) return;
  explicit_bzero(s, strlen(s));
  free(s);
}

static int dk__read_secret(const char *env, const char *file, char **out, char *err) {
  char *s = NULL;
  const char *what = env ? "environment variable" : "file";
  const char *which = env ? env : file;
  *out = NULL;
  if (env != NULL) {
    const char *v = getenv(env);
    if (v == NULL) return dk_failf(err, DK_ECONFIG, "environment variable %s is not set", env);
    if ((s = strdup(v)) == NULL) return dk_failf(err, DK_ENOMEM, "out of memory");
  } else {
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return dk_failf(err, DK_ECONFIG, "cannot read secret file %s: %s", file, strerror(errno));
    if ((s = malloc(DK__SECRET_MAX + 1)) == NULL) {
      close(fd);
      return dk_failf(err, DK_ENOMEM, "out of memory");
    }
    size_t len = 0;
    ssize_t got = 0;
    while (len <= DK__SECRET_MAX && (got = read(fd, s + len, DK__SECRET_MAX + 1 - len)) > 0)
      len += (size_t)got;
    int e = errno;
    close(fd);
    if (got < 0 || len > DK__SECRET_MAX) {
      explicit_bzero(s, len);
      free(s);
      if (got < 0) return dk_failf(err, DK_ECONFIG, "cannot read secret file %s: %s", file, strerror(e));
      return dk_failf(err, DK_ECONFIG, "secret file %s is larger than %d bytes", file, DK__SECRET_MAX);
    }
    s[len] = '\0';
    if (strlen(s) != len) {
      explicit_bzero(s, len);
      free(s);
      return dk_failf(err, DK_ECONFIG, "secret file %s holds a NUL byte", file);
    }
  }
  size_t len = strlen(s);
  while (len > 0 && strchr(" \t\r\n\v\f", s[len - 1]) != NULL) s[--len] = '\0';
  if (len == 0) {
    dk_secret_wipe(s);
    return dk_failf(err, DK_ECONFIG, "the secret in %s %s is empty", what, which);
  }
  /* a newline inside would let the secret inject header lines */
  for (size_t i = 0; i < len; i++) {
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) {
      dk_secret_wipe(s);
      return dk_failf(err, DK_ECONFIG, "the secret in %s %s holds control characters", what, which);
    }
  }
  *out = s;
  return 0;
}

int dk_secret_read(const char *env, const char *file, char **out, char *err) {
  int rc = dk__read_secret(env, file, out, err);
  if (rc == 0) dk_redact_add(*out);
  return rc;
}

/* The base64 of s, for redaction only (libcurl encodes what it sends).
 * Malloc'd, or NULL when out of memory. */
static char *dk__base64(const char *s) {
  size_t len = strlen(s);
  unsigned char *out = malloc((len + 2) / 3 * 4 + 1);
  if (out != NULL) EVP_EncodeBlock(out, (const unsigned char *)s, (int)len);
  return (char *)out;
}

/* Register what a server could echo back of a basic-auth pair: the
 * password, "user:password", and that in base64 (what goes on the wire). */
static int dk__redact_basic(const char *user, const char *pass) {
  char *pair = NULL, *b64 = NULL;
  dk_redact_add(pass);
  if (asprintf(&pair, "%s:%s", user, pass) < 0) return DK_ENOMEM;
  dk_redact_add(pair);
  b64 = dk__base64(pair);
  dk_secret_wipe(pair);
  if (b64 == NULL) return DK_ENOMEM;
  dk_redact_add(b64);
  dk_secret_wipe(b64);
  return 0;
}

int dk_auth_read(const struct dk_auth *auth, struct dk_credentials *out, char *err) {
  char *secret = NULL;
  int rc;
  memset(out, 0, sizeof *out);
  if (auth == NULL) return 0;
  if (auth->bearer_env || auth->bearer_file) {
    if ((rc = dk__read_secret(auth->bearer_env, auth->bearer_file, &secret, err)) != 0) return rc;
    dk_redact_add(secret);
    if (asprintf(&out->bearer, "Bearer %s", secret) < 0) out->bearer = NULL;
    dk_secret_wipe(secret);
    if (out->bearer == NULL) return dk_failf(err, DK_ENOMEM, "out of memory");
  } else if (auth->basic_user) {
    if (!auth->basic_password_env && !auth->basic_password_file)
      return dk_failf(err, DK_ECONFIG, "basic_user %s has no password configured", auth->basic_user);
    if ((rc = dk__read_secret(auth->basic_password_env, auth->basic_password_file, &secret, err)) != 0)
      return rc;
    out->password = secret;
    out->user = strdup(auth->basic_user);
    if (dk__redact_basic(auth->basic_user, secret) != 0 || out->user == NULL) {
      dk_credentials_wipe(out);
      return dk_failf(err, DK_ENOMEM, "out of memory");
    }
  }
  return 0;
}

void dk_credentials_wipe(struct dk_credentials *c) {
  dk_secret_wipe(c->bearer);
  dk_secret_wipe(c->user);
  dk_secret_wipe(c->password);
  memset(c, 0, sizeof *c);
}

int dk_auth_header(const struct dk_auth *auth, char **out, char *err) {
  struct dk_credentials c;
  *out = NULL;
  int rc = dk_auth_read(auth, &c, err);
  if (rc != 0 || (c.bearer == NULL && c.user == NULL)) return rc;
  if (c.bearer) {
    *out = c.bearer;
    c.bearer = NULL;
  } else {
    char *pair = NULL, *b64 = NULL;
    if (asprintf(&pair, "%s:%s", c.user, c.password) >= 0 && (b64 = dk__base64(pair)) != NULL &&
        asprintf(out, "Basic %s", b64) < 0)
      *out = NULL;
    dk_secret_wipe(pair);
    dk_secret_wipe(b64);
  }
  dk_credentials_wipe(&c);
  return *out ? 0 : dk_failf(err, DK_ENOMEM, "out of memory");
}

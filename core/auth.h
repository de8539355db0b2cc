/* Reading the secrets a configuration names (auth.c). */
#ifndef DK_AUTH_H
#define DK_AUTH_H

#include "error.h"

/* What the configuration names, never the secrets themselves. */
struct dk_auth {
  char *bearer_env;     /* name of an environment variable holding a token */
  char *bearer_file;    /* path of a file holding a token */
  char *basic_user;     /* basic auth user name (not a secret) */
  char *basic_password_env;
  char *basic_password_file;
};

/* The credentials of one run, as dk_auth_read read them: a bearer token,
 * or a basic-auth pair that libcurl sends (CURLOPT_USERNAME/PASSWORD, or
 * the proxy's); all NULL when none is configured. Owned; wipe with
 * dk_credentials_wipe. */
struct dk_credentials {
  char *bearer;   /* Authorization value "Bearer …": a secret */
  char *user;     /* basic auth user name */
  char *password; /* basic auth password: a secret */
};

/* Read the secret a dk_auth names into *out, registering with dk_redact_add
 * every form of it a server could echo (the token; the password,
 * "user:password" and its base64). Returns 0, or DK_ECONFIG with err saying
 * which variable or file is missing (never the secret itself), or
 * DK_ENOMEM; *out is all NULL then. */
int dk_auth_read(const struct dk_auth *auth, struct dk_credentials *out, char *err);
/* Read a secret from the environment variable env, else the file `file`,
 * into a new string (trailing whitespace removed; empty, control
 * characters, NUL or over the size limit refused), registered with
 * dk_redact_add. Returns 0, or DK_ECONFIG / DK_ENOMEM with err naming the
 * variable or file only. Wipe it with dk_secret_wipe. */
int dk_secret_read(const char *env, const char *file, char **out, char *err);
/* Zero and free a secret; NULL is fine. */
void dk_secret_wipe(char *s);

/* Wipe and free what *c holds; c is all NULL after. */
void dk_credentials_wipe(struct dk_credentials *c);

/* The same as one Authorization header value ("Bearer …" or "Basic …").
 * *out is NULL when no auth is configured. Returns what dk_auth_read does.
 * The caller frees *out (and should wipe it). */
int dk_auth_header(const struct dk_auth *auth, char **out, char *err);

#endif

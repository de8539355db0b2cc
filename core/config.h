/* The configuration: one YAML file (see conf/duikou.example.yaml).
 *
 * Loading checks the structure and collects every problem found as
 * "FILE:LINE:COLUMN: what is wrong (at /sources/1/url)". Relative paths in the
 * file are resolved against the file's folder. Secrets are never read here:
 * the configuration only names the environment variable or file holding
 * them, and auth.c reads them when a request needs them. */
#ifndef DK_CONFIG_H
#define DK_CONFIG_H

#include <stddef.h>
#include <jansson.h>
#include "error.h"
#include "yamldoc.h"
#include "auth.h" /* struct dk_auth and the reading of the secrets it names */


struct dk_source_conf {
  char *name;      /* unique, [a-z0-9][a-z0-9._-]* */
  char *plugin;    /* plugin name */
  char *city;      /* jinan | linyi | province | central | other */
  char *url;
  char *every;     /* "30m" style interval, or NULL */
  char *cron;      /* five-field cron expression, or NULL */
  json_t *options; /* object, never NULL (empty when not given); owned */
  struct dk_auth auth;
  long timeout_ms; /* total transfer timeout; default 60000 */
  long max_body;   /* bytes; default 64 MiB */
  int retries;     /* retries of a failed request in one round; default 3 */
  long retry_base_ms; /* first retry waits up to this (full jitter, doubling, cap 30 s); default 1 s */
  int delete_after; /* absences in consecutive full listings before a record is removed; 0: never */
  char *proxy;     /* proxy URL, "" for none, NULL for libcurl's default (the *_proxy
                      environment); the source's own, else http.proxy */
  char *ca_file;   /* CA bundle (absolute), or NULL for the system's; the source's own, else http.ca_file */
  int max_depth;   /* limits.depth: nesting a record may have; default DK_RECORD_DEFAULT_DEPTH */
  long max_record; /* limits.record_size: canonical bytes a record may take; default DK_RECORD_DEFAULT_SIZE */
  int other_origin_without_auth; /* other_origin: a next page on another origin is fetched without
                                    credentials (1) or refused (0, the default) */
  char *pointer;   /* "/sources/N", for messages */
};

/* The `http` mapping: limits shared by every source. */
struct dk_http_conf {
  long max_connections;    /* default 16 */
  long max_per_host;       /* default 4 */
  long connect_timeout_ms; /* default 10 s */
  long low_speed_secs;     /* default 30 */
  struct dk_auth proxy_auth; /* names the proxy's credentials (all NULL: none) */
};

/* One shared git remote of the exchange between sites (`remotes:`). */
struct dk_remote_conf {
  char *name;          /* unique, [a-z0-9][a-z0-9._-]* */
  char *url;           /* file://, git://, http(s)://, ssh:// */
  int push;            /* push this site's refs (default 1) */
  int after_commit;    /* exchange after a commit that changed something (default 1) */
  long every_ms;       /* exchange this often (default 10 min) */
  long timeout_ms;     /* network timeout of one exchange (default 60 s) */
  struct dk_auth auth; /* HTTP basic: basic_user + basic_password_env/file (names only, never the secret) */
  char *ssh_user;      /* NULL: the URL's user, else "git" */
  char *ssh_key;       /* private key file (absolute), or NULL */
  char *ssh_passphrase_env, *ssh_passphrase_file; /* the key's passphrase, when it has one */
  char *pointer;       /* "/remotes/N", for messages */
};

/* The status listener (`status:`, status.h) and the thresholds of health.h. */
struct dk_status_conf {
  int listen;          /* 1: `status:` given and listen not off */
  char *host;          /* address to bind, without brackets (default "127.0.0.1") */
  int port;            /* default 8787; 0: any free port */
  int loopback;        /* host is 127.0.0.0/8, ::1 or localhost */
  char *token_env, *token_file; /* name the bearer token (never the secret); file absolute */
  long conflict_max_age_ms;  /* health.conflict_max_age, default 7 d */
  long conflict_max_open;    /* health.conflict_max_open, default 50 */
  long remote_down_after_ms; /* health.remote_down_after, default 1 h */
  double valid_share_drop;   /* health.valid_share_drop, default 0.2 */
};

struct dk_config {
  char *path;          /* the file loaded (NULL for a built-in config) */
  char *repository;    /* bare git repository path (absolute) */
  char *state;         /* state folder (absolute) */
  char *plugins;       /* plugin folder, or NULL (then the installed one) */
  char *log_level;     /* or NULL */
  char *timezone;      /* IANA name; default "Asia/Shanghai" (checked to exist) */
  struct dk_http_conf http;
  struct dk_source_conf *sources;
  size_t nsources;
  json_t *reconcile;   /* the `reconcile` mapping as given, or NULL (owned) */
  char *site;          /* this instance's site name, or NULL (no exchange) */
  long group_commits;  /* from this many rounds ready at once, one main commit for them; 0 never; default 8 */
  struct dk_remote_conf *remotes;
  size_t nremotes;
  struct dk_status_conf status;
  struct dk_yamldoc doc;
  json_t *errors;      /* array of message strings; empty when all is well (owned) */
};

/* Load and check a configuration file. Always sets *out to a new config
 * (free it with dk_config_free) unless memory runs out. Returns 0, DK_EIO
 * (cannot read), DK_EPARSE (YAML syntax) or DK_ECONFIG (structure); in every
 * failing case (*out)->errors holds one message per problem. */
int dk_config_load(const char *path, struct dk_config **out);
/* The same on an in-memory document (`name` used in messages, relative paths
 * resolved against `basedir`). */
int dk_config_load_string(const char *name, const char *text, size_t len,
                          const char *basedir, struct dk_config **out);
void dk_config_free(struct dk_config *cfg);

/* Make cfg->timezone the process's time zone (TZ and tzset), for cron
 * schedules and the times written. Call before any thread starts. */
void dk_config_apply_timezone(const struct dk_config *cfg);

/* "HOST:PORT" or "[HOST6]:PORT" (`status.listen`) into st->host (malloc'd,
 * the caller frees it), st->port (0 to 65535) and st->loopback (127.0.0.0/8,
 * ::1 or localhost). Returns NULL, or why not (nothing set then). */
const char *dk_config_parse_listen(const char *v, struct dk_status_conf *st);

/* The remote named `name`, or NULL. */
const struct dk_remote_conf *dk_config_remote(const struct dk_config *cfg, const char *name);
/* The source named `name`, or NULL. */
const struct dk_source_conf *dk_config_source(const struct dk_config *cfg, const char *name);

#endif

/* The publish stage: the exchange between sites through a shared git
 * remote (ARCHITECTURE.md, "Exchange between sites").
 *
 * A site pushes only the refs it alone writes, renamed under
 * refs/duikou/sites/<site>/ on the remote — its sources' branches
 * (sources/<name>), its people's resolutions (resolutions) and its view of
 * main (main) — fast-forward only, never forced; and fetches every site's
 * refs into a staging area (refs/duikou/incoming/<remote>/), from which a
 * ref of another site is accepted into refs/duikou/sites/<site>/… only as a
 * fast-forward of what was accepted before. The remote's copy of this
 * site's own refs is never taken: when it is not an ancestor of what this
 * site holds, another instance writes as the same site (or this repository
 * came back from an older copy) — an alarm, never a force. */
#ifndef DK_EXCHANGE_H
#define DK_EXCHANGE_H

#include <jansson.h>
#include "config.h"
#include "store.h"

#define DK_SITES_PREFIX "refs/duikou/sites/"
#define DK_INCOMING_PREFIX "refs/duikou/incoming/"
#define DK_RESOLUTIONS_REF "refs/duikou/resolutions"

/* One ref that moved: accepted from another site, or pushed. */
struct dk_exchange_ref {
  char *ref;     /* the local name (accepted) or the remote name (pushed) */
  git_oid old, neu;
  int had_old;
};

struct dk_exchange_report {
  char remote[128];
  int code;                     /* 0, or why the remote could not be used (DK_EREMOTE, DK_EAUTH, …) */
  char err[DK_ERRBUF_SIZE];     /* the reason when code != 0 (no secret in it) */
  struct dk_exchange_ref *in;   /* other sites' refs accepted now */
  size_t nin;
  struct dk_exchange_ref *out;  /* this site's refs pushed now */
  size_t nout;
  json_t *alarms;               /* array of strings: refs refused, rival writers, rewritten histories */
  int fetched;                  /* the fetch and what it brought went through (a later failure is the push's) */
};

/* A remote's secrets, as read from the variables or files its auth names
 * (registered with redact). */
struct dk_exchange_creds {
  char *user, *password; /* HTTP basic */
  char *ssh_passphrase;
};
/* Read them (on the loop thread: redact is not thread-safe). Returns 0 or
 * DK_ECONFIG with err naming the missing variable or file. Wipe with
 * dk_exchange_creds_wipe. */
int dk_exchange_creds_read(const struct dk_remote_conf *rc, struct dk_exchange_creds *out, char *err);
void dk_exchange_creds_wipe(struct dk_exchange_creds *c);

/* One exchange with remote `rc`: fetch, accept, push (when rc->push).
 * creds: as read by dk_exchange_creds_read, or NULL to read them here. It
 * may run on a worker thread with a store of its own (with creds given). 
 * Returns 0 when the remote was reached (alarms may still be set), or the
 * DK_E* code also in rep->code; either way rep is filled (free it with
 * dk_exchange_report_clear) and the remote's state file
 * (state/remotes/<name>.json: last attempt, last success, down since and
 * why, the last alarms) is updated. No credential reaches rep, a log or a
 * file. */
int dk_exchange(struct dk_store *st, const struct dk_config *cfg, const struct dk_remote_conf *rc,
                const struct dk_exchange_creds *creds, struct dk_exchange_report *rep);
void dk_exchange_report_clear(struct dk_exchange_report *rep);

/* The remote's state file as last written, or NULL (caller decrefs). */
json_t *dk_exchange_state(const struct dk_config *cfg, const char *remote);

/* The remote name under refs/duikou/sites/<site>/ of a ref this site
 * writes (refs/duikou/sources/x → sources/x, refs/duikou/resolutions →
 * resolutions, refs/heads/main → main), malloc'd; NULL for another ref. */
char *dk_exchange_own_name(const char *local_ref);

#endif
